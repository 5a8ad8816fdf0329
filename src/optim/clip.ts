/** Gradient clipping by global norm, as `torch.nn.utils.clip_grad_norm_`, in the graph. @module */
import type { ClipGradNorm } from "../dsl/optimizers.ts";
import type { GraphBuilder } from "../ir/builder.ts";
import type { Value } from "../ir/types.ts";

/** The p-norm of all elements of `x` as a scalar (p = ∞: the largest magnitude). */
function vectorNorm(b: GraphBuilder, x: Value, p: number): Value {
  const dtype = x.type.dtype;
  if (p === Infinity) return b.op1("ReduceMax", [b.op1("Abs", [x])], { keepdims: 0 });
  if (p === 1) return b.op1("ReduceSum", [b.op1("Abs", [x])], { keepdims: 0 });
  if (p === 2) return b.op1("Sqrt", [b.op1("ReduceSum", [b.op1("Mul", [x, x])], { keepdims: 0 })]);
  const powered = b.op1("Pow", [b.op1("Abs", [x]), b.scalar(p, dtype)]);
  return b.op1("Pow", [
    b.op1("ReduceSum", [powered], { keepdims: 0 }),
    b.scalar(1 / p, dtype),
  ]);
}

/**
 * Scales gradients as `clip_grad_norm_` does: `total` is the p-norm of the per-parameter p-norms
 * (the norm of all gradients as one vector), `coef = maxNorm / (total + 1e-6)`, and every gradient
 * is multiplied by `min(coef, 1)`, so gradients under the norm keep their values.
 *
 * @param b The train graph builder.
 * @param grads Gradients; null ones (parameters that do not reach the loss) are skipped.
 * @param clip The max norm and norm type.
 * @returns The clipped gradients, in order.
 */
export function clipGradNorm(
  b: GraphBuilder,
  grads: readonly (Value | null)[],
  clip: ClipGradNorm,
): (Value | null)[] {
  const present = grads.filter((g): g is Value => g !== null);
  if (present.length === 0) return [...grads];
  const dtype = present[0].type.dtype;
  const p = clip.normType;
  const norms = present.map((g) => vectorNorm(b, g, p));
  let total: Value;
  if (p === Infinity) {
    total = norms.length === 1 ? norms[0] : b.op1("Max", norms);
  } else {
    const stacked = b.op1("Concat", norms.map((n) => b.op1("Unsqueeze", [n, b.ints([0])])), {
      axis: 0,
    });
    total = vectorNorm(b, stacked, p);
  }
  const coef = b.op1("Div", [
    b.scalar(clip.maxNorm, dtype),
    b.op1("Add", [total, b.scalar(1e-6, dtype)]),
  ]);
  const clamped = b.op1("Min", [coef, b.scalar(1, dtype)]);
  return grads.map((g) => (g ? b.op1("Mul", [g, clamped]) : null));
}
