/**
 * Optimizers as graph transforms: each appends its update to the train graph. Hyperparameters are
 * graph inputs and state tensors are carried as inputs and `.next` outputs, so nothing recompiles.
 * @module
 */
import type { Optimizer } from "../dsl/optimizers.ts";
import type { ParamSpec } from "../compile/params.ts";
import type { HyperSpec, StateSpec } from "../compile/params.ts";
import type { GraphBuilder } from "../ir/builder.ts";
import type { Value } from "../ir/types.ts";
import { lowerSgd } from "./sgd.ts";

/** One parameter as the optimizer sees it. */
export interface OptimizerParam {
  readonly spec: ParamSpec;
  readonly value: Value;
  /** Null when the parameter does not affect the loss; it is then left as it is. */
  readonly grad: Value | null;
}

/** What an optimizer lowering can use. */
export interface OptimizerContext {
  readonly b: GraphBuilder;
  readonly params: readonly OptimizerParam[];
  /** Declares a scalar float32 hyperparameter input with its default value. */
  hyper(name: string, value: number): Value;
  /**
   * Declares a state tensor (zeros at the start) and its update: `next(previous)` returns the
   * new value, which the step uses and outputs.
   */
  state(name: string, shape: readonly number[], next: (previous: Value) => Value): Value;
}

/** An optimizer lowering: returns each parameter's updated value. */
export type OptimizerLowering<O extends Optimizer> = (
  optimizer: O,
  ctx: OptimizerContext,
) => Value[];

const OPTIMIZERS: {
  readonly [K in Optimizer["kind"]]: OptimizerLowering<Extract<Optimizer, { kind: K }>>;
} = {
  sgd: lowerSgd,
};

/** What applying an optimizer adds to the train graph. */
export interface OptimizerStep {
  readonly updated: readonly Value[];
  readonly hyper: readonly HyperSpec[];
  readonly state: readonly { readonly spec: StateSpec; readonly next: Value }[];
}

/**
 * Appends an optimizer's update to the train graph.
 *
 * @param b The train graph builder, holding forward and gradient nodes.
 * @param optimizer The optimizer description.
 * @param params Parameters with their gradients.
 * @returns Updated parameter values, the hyperparameter inputs and the state tensors.
 */
export function applyOptimizer(
  b: GraphBuilder,
  optimizer: Optimizer,
  params: readonly OptimizerParam[],
): OptimizerStep {
  const hyper: HyperSpec[] = [];
  const state: { spec: StateSpec; next: Value }[] = [];
  const ctx: OptimizerContext = {
    b,
    params,
    hyper(name, value) {
      hyper.push(Object.freeze({ name, value }));
      return b.input(name, { dtype: "float32", shape: [] });
    },
    state(name, shape, next) {
      const prev = b.input(name, { dtype: "float32", shape });
      const value = next(prev);
      state.push({
        spec: Object.freeze({ name, shape, init: { kind: "zeros" as const } }),
        next: value,
      });
      return value;
    },
  };
  const lower = OPTIMIZERS[optimizer.kind] as OptimizerLowering<Optimizer>;
  return { updated: lower(optimizer, ctx), hyper, state };
}
