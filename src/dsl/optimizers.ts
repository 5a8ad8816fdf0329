/** Optimizers: immutable descriptions; the compiler turns them into graph updates. @module */

/** Stochastic gradient descent with optional momentum and weight decay (PyTorch's `optim.SGD`). */
export interface SgdOptimizer {
  readonly kind: "sgd";
  readonly lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
}

/** Any optimizer. */
export type Optimizer = SgdOptimizer;

/**
 * Stochastic gradient descent, as `torch.optim.SGD` (dampening 0, no Nesterov):
 * `g = grad + weightDecay·p; buf = momentum·buf + g; p = p − lr·(momentum ? buf : g)`.
 *
 * @param options `lr` (required), `momentum` and `weightDecay` (default 0).
 * @returns The optimizer description.
 * @example
 * ```ts
 * import { sgd } from "./optimizers.ts";
 * const o = sgd({ lr: 1e-3 });
 * if (o.lr !== 1e-3 || o.momentum !== 0) throw new Error();
 * ```
 */
export function sgd(
  options: { readonly lr: number; readonly momentum?: number; readonly weightDecay?: number },
): SgdOptimizer {
  const check = (what: string, v: number) => {
    if (!Number.isFinite(v) || v < 0) {
      throw new RangeError(`Cannot create SGD: ${what} must be a finite number ≥ 0, got ${v}`);
    }
    return v;
  };
  return Object.freeze({
    kind: "sgd",
    lr: check("lr", options.lr),
    momentum: check("momentum", options.momentum ?? 0),
    weightDecay: check("weightDecay", options.weightDecay ?? 0),
  });
}
