/**
 * Pieces the optimizer lowerings share: the gradient's sign and L2 term, the step counter and
 * scalar math in float64 (PyTorch computes bias corrections and step sizes as Python floats).
 * @module
 */
import type { GraphBuilder } from "../ir/builder.ts";
import type { Value } from "../ir/types.ts";
import type { OptimizerContext, TrainedParam } from "./optimizer.ts";

/** `x · k` with `k` a constant of `x`'s dtype. */
export function scale(b: GraphBuilder, x: Value, k: number): Value {
  return b.op1("Mul", [x, b.scalar(k, x.type.dtype)]);
}

/**
 * The gradient as PyTorch's single-tensor updates start: negated when maximizing, then
 * `grad.add(param, alpha=weightDecay)` when the weight decay is not 0.
 */
export function directedGrad(
  b: GraphBuilder,
  { value, grad }: TrainedParam,
  opts: { readonly maximize: boolean; readonly weightDecay?: number },
): Value {
  let g = opts.maximize ? b.op1("Neg", [grad]) : grad;
  if (opts.weightDecay) g = b.op1("Add", [g, scale(b, value, opts.weightDecay)]);
  return g;
}

/**
 * The parameter's step counter, PyTorch's `state['step']`: a float32 scalar state
 * `<param>.step`, starting at 0 and incremented before use. Returns the incremented count.
 */
export function stepCount(ctx: OptimizerContext, p: TrainedParam): Value {
  const { b } = ctx;
  return ctx.state(`${p.spec.name}.step`, [], (prev) => b.op1("Add", [prev, b.scalar(1)]));
}

/** `x` cast to float64, for scalar math done in Python floats by PyTorch. */
export function f64(b: GraphBuilder, x: Value): Value {
  return b.op1("Cast", [x], { to: "float64" });
}

/** `x` cast to float32, as PyTorch's kernels convert a Python-float scalar. */
export function f32(b: GraphBuilder, x: Value): Value {
  return b.op1("Cast", [x], { to: "float32" });
}

/** `1 − x` for a float64 scalar `x`. */
export function oneMinus(b: GraphBuilder, x: Value): Value {
  return b.op1("Sub", [b.scalar(1, x.type.dtype), x]);
}
