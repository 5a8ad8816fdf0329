/**
 * Optimizers as graph transforms: each appends its update to the train graph. Hyperparameters are
 * graph inputs and state tensors are carried as inputs and `.next` outputs, so nothing recompiles.
 *
 * Parameters are split into groups (PyTorch's param_groups): group 0 holds the parameters no
 * `groups` entry selects, group k the parameters the k-th entry selects first. Each group's
 * hyperparameter inputs carry its suffix: `lr` for group 0, `lr.group1`, `lr.group2`, … Groups
 * that select no parameter declare no input. Gradient clipping (`clipGradNorm`) runs first, over
 * the gradients of all parameters together.
 * @module
 */
import {
  type Optimizer,
  type OptimizerSettings,
  type ParamGroup,
  selects,
} from "../dsl/optimizers.ts";
import type { HyperSpec, StateSpec } from "../compile/params.ts";
import type { GraphBuilder } from "../ir/builder.ts";
import { CompileError } from "../ir/errors.ts";
import type { Value } from "../ir/types.ts";
import type {
  OptimizerContext,
  OptimizerLowering,
  OptimizerParam,
  TrainedParam,
} from "./_common.ts";
import { lowerAdagrad } from "./adagrad.ts";
import { lowerAdam, lowerAdamW } from "./adam.ts";
import { clipGradNorm } from "./clip.ts";
import { lowerRmsprop } from "./rmsprop.ts";
import { lowerSgd } from "./sgd.ts";

export type {
  OptimizerContext,
  OptimizerLowering,
  OptimizerParam,
  TrainedParam,
} from "./_common.ts";

const OPTIMIZERS: {
  readonly [K in Optimizer["kind"]]: OptimizerLowering<Extract<Optimizer, { kind: K }>>;
} = {
  sgd: lowerSgd,
  adam: lowerAdam,
  adamW: lowerAdamW,
  rmsprop: lowerRmsprop,
  adagrad: lowerAdagrad,
};

/** What applying an optimizer adds to the train graph. */
export interface OptimizerStep {
  readonly updated: readonly Value[];
  readonly hyper: readonly HyperSpec[];
  readonly state: readonly { readonly spec: StateSpec; readonly next: Value }[];
}

/**
 * The graph input name of a group's hyperparameter: `name` for group 0, `name.group<k>` after.
 *
 * @param name The hyperparameter (`lr`, `momentum`, `beta1`).
 * @param group The group index (0: parameters no group selects).
 * @returns The input name.
 */
export function hyperName(name: string, group: number): string {
  return group === 0 ? name : `${name}.group${group}`;
}

/**
 * Each parameter's group index: the first group whose selector picks it (1-based), else 0.
 *
 * @param groups The optimizer's groups.
 * @param names Parameter names.
 * @returns One group index per name.
 * @throws {CompileError} When a group lists a name that is not a parameter.
 */
export function assignGroups(
  groups: readonly ParamGroup<unknown>[],
  names: readonly string[],
): number[] {
  groups.forEach((g, i) => {
    if (!Array.isArray(g.params)) return;
    const missing = (g.params as readonly string[]).find((n) => !names.includes(n));
    if (missing !== undefined) {
      throw new CompileError(
        `Cannot apply optimizer: parameter group ${
          i + 1
        } names ${missing}, which is not a parameter (parameters: ${names.join(", ")})`,
      );
    }
  });
  return names.map((name) => groups.findIndex((g) => selects(g.params, name)) + 1);
}

/**
 * Appends an optimizer's update to the train graph: clips gradients if asked, then lowers each
 * parameter group with its settings.
 *
 * @param b The train graph builder, holding forward and gradient nodes.
 * @param optimizer The optimizer description.
 * @param params Parameters with their gradients.
 * @returns Updated parameter values, the hyperparameter inputs and the state tensors.
 * @throws {CompileError} When a group names a parameter the model does not have.
 */
export function applyOptimizer(
  b: GraphBuilder,
  optimizer: Optimizer,
  params: readonly OptimizerParam[],
): OptimizerStep {
  const hyper: HyperSpec[] = [];
  const state: { spec: StateSpec; next: Value }[] = [];
  const grads = optimizer.clipGradNorm
    ? b.scope(
      "clip_grad_norm",
      () => clipGradNorm(b, params.map((p) => p.grad), optimizer.clipGradNorm!),
    )
    : params.map((p) => p.grad);
  const clipped = params.map((p, i) => ({ ...p, grad: grads[i] }));
  const assigned = assignGroups(optimizer.groups, params.map((p) => p.spec.name));
  const updated = params.map((p) => p.value);
  const { kind: _kind, groups, clipGradNorm: _clip, ...top } = optimizer;
  const lower = OPTIMIZERS[optimizer.kind] as OptimizerLowering<Optimizer>;

  for (let g = 0; g <= groups.length; g++) {
    const members = assigned.flatMap((a, i) => (a === g && clipped[i].grad ? [i] : []));
    if (members.length === 0) continue;
    let settings = top as OptimizerSettings<Optimizer>;
    if (g > 0) {
      const { params: _selector, ...overrides } = groups[g - 1];
      settings = { ...settings, ...overrides } as OptimizerSettings<Optimizer>;
    }
    const ctx: OptimizerContext = {
      b,
      params: members.map((i) => clipped[i] as TrainedParam),
      hyper(name, value) {
        const full = hyperName(name, g);
        hyper.push(Object.freeze({ name: full, value }));
        return b.input(full, { dtype: "float32", shape: [] });
      },
      state(name, shape, next, init = { kind: "zeros" }) {
        const prev = b.input(name, { dtype: "float32", shape });
        const value = next(prev);
        state.push({ spec: Object.freeze({ name, shape, init }), next: value });
        return value;
      },
    };
    const out = b.scope(`optimizer ${optimizer.kind}`, () => lower(settings, ctx));
    members.forEach((i, k) => (updated[i] = out[k]));
  }
  return { updated, hyper, state };
}
