/** Loss functions: immutable descriptions. @module */

/** Cross-entropy between logits and class indices, averaged over the batch (`nn.CrossEntropyLoss`). */
export interface CrossEntropyLoss {
  readonly kind: "cross-entropy";
}

/** Any loss. */
export type Loss = CrossEntropyLoss;

/**
 * Cross-entropy loss over class logits, mean over the batch, as PyTorch's `nn.CrossEntropyLoss()`.
 *
 * @returns The loss description.
 * @example
 * ```ts
 * import { crossEntropy } from "./losses.ts";
 * if (crossEntropy().kind !== "cross-entropy") throw new Error();
 * ```
 */
export function crossEntropy(): CrossEntropyLoss {
  return Object.freeze({ kind: "cross-entropy" });
}
