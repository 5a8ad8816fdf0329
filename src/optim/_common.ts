/**
 * Pieces the optimizer lowerings share: their contract (the context a lowering gets, and the
 * lowering's type), the gradient's sign and L2 term, the step counter and scalar math in float64
 * (PyTorch computes bias corrections and step sizes as Python floats). `optimizer.ts` dispatches
 * to the lowerings; they take their contract from here, never from `optimizer.ts`.
 * @module
 */
import type { Optimizer, OptimizerSettings } from "../dsl/optimizers.ts";
import type { Init, ParamSpec } from "../compile/params.ts";
import type { GraphBuilder } from "../ir/builder.ts";
import type { Value } from "../ir/types.ts";

/** One parameter as the optimizer sees it. */
export interface OptimizerParam {
  readonly spec: ParamSpec;
  readonly value: Value;
  /** Null when the parameter does not affect the loss; it is then left as it is. */
  readonly grad: Value | null;
}

/** A parameter that has a gradient. */
export type TrainedParam = OptimizerParam & { readonly grad: Value };

/** What an optimizer lowering can use; one context per parameter group. */
export interface OptimizerContext {
  readonly b: GraphBuilder;
  /**
   * The group's parameters that have a gradient, with their (clipped) gradients; parameters
   * without one are left as they are and have no state.
   */
  readonly params: readonly TrainedParam[];
  /**
   * Declares a scalar float32 hyperparameter input with its default value; the group's suffix is
   * added to the name (`lr`, `lr.group1`, …).
   */
  hyper(name: string, value: number): Value;
  /**
   * Declares a float32 state tensor (zeros at the start, or as `init` says) and its update:
   * `next(previous)` returns the new value, which the step uses and outputs.
   */
  state(
    name: string,
    shape: readonly number[],
    next: (previous: Value) => Value,
    init?: Init,
  ): Value;
}

/** An optimizer lowering: given one group's settings, returns each parameter's updated value. */
export type OptimizerLowering<O extends Optimizer> = (
  settings: OptimizerSettings<O>,
  ctx: OptimizerContext,
) => Value[];

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
