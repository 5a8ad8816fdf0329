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
import type { HyperSpec, Init, StateSpec } from "../compile/params.ts";
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
    const trained = members.map((i) => clipped[i] as TrainedParam);
    const plainSgd = optimizer.kind === "sgd" &&
      (settings as OptimizerSettings<Extract<Optimizer, { kind: "sgd" }>>).momentum === 0;
    const small = plainSgd ? [] : trained.filter((p) => size(p.spec.shape) <= FLAT_LIMIT);
    const flat = small.length > 1
      ? b.scope(`optimizer ${optimizer.kind}`, () => join(b, small))
      : null;
    // The group's state, in the order the lowering declares it; with joined tensors, reordered
    // to each tensor's state in turn, as the per-tensor updates declare it.
    const grouped: { spec: StateSpec; next: Value }[] = [];
    const declare = (name: string, shape: readonly number[], init: Init) => ({
      prev: b.input(name, { dtype: "float32", shape }),
      record: (next: Value) => grouped.push({ spec: Object.freeze({ name, shape, init }), next }),
    });
    const ctx: OptimizerContext = {
      b,
      params: flat ? [...trained.filter((p) => !small.includes(p)), flat.param] : trained,
      hyper(name, value) {
        const full = hyperName(name, g);
        hyper.push(Object.freeze({ name: full, value }));
        return b.input(full, { dtype: "float32", shape: [] });
      },
      state(name, shape, next, init = { kind: "zeros" }) {
        if (flat && name.startsWith(FLAT)) {
          return flat.state(name.slice(FLAT.length), shape, next, init, declare);
        }
        const { prev, record } = declare(name, shape, init);
        const value = next(prev);
        record(value);
        return value;
      },
    };
    const out = b.scope(`optimizer ${optimizer.kind}`, () => {
      const out = lower(settings, ctx);
      return flat ? [...out.slice(0, -1), ...flat.split(out[out.length - 1])] : out;
    });
    const owner = (name: string) =>
      trained.reduce(
        (best, p, i) =>
          name.startsWith(`${p.spec.name}.`) &&
            (best < 0 || p.spec.name.length > trained[best].spec.name.length)
            ? i
            : best,
        -1,
      );
    const ranked = grouped.map((entry, i) => ({
      entry,
      rank: flat ? owner(entry.spec.name) : 0,
      i,
    }));
    ranked.sort((p, q) => p.rank - q.rank || p.i - q.i);
    state.push(...ranked.map((r) => r.entry));
    const order = flat ? [...trained.filter((p) => !small.includes(p)), ...small] : trained;
    order.forEach((p, k) => (updated[members[trained.indexOf(p)]] = out[k]));
  }
  return { updated, hyper, state };
}

/**
 * Parameters of up to this many elements are updated as one: concatenated into one flat vector,
 * updated by one set of element-wise ops, split back (the multi-tensor update of PyTorch's
 * foreach optimizers). Each element gets the same float operations as in its own update, so the
 * results are bit-identical; what goes is the per-op cost, ≈ 10–25 µs an op in onnxruntime, which
 * the 20 ops of an Adam update pay per tensor (the ResNet pipeline's 60 small tensors: ≈ 11 of
 * its 230 ms a step). Larger tensors keep their own update, where Concat and Split would copy
 * more than they save; plain SGD keeps per-tensor updates, which `fuseGemmUpdates` folds into
 * the weight gradient's Gemm.
 */
const FLAT_LIMIT = 1 << 16;

/** The name prefix of the joined parameter's state, which `join` splits into per-tensor state. */
const FLAT = "\u0000joined";

/** `v` as a vector: itself when it is one (a Reshape costs onnxruntime a copy here). */
function flat1d(b: GraphBuilder, v: Value): Value {
  return v.type.shape.length === 1 ? v : b.op1("Reshape", [v, b.ints([-1])]);
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, d) => a * d, 1);
}

/**
 * The small parameters of a group joined into one flat parameter for the optimizer lowering. Its
 * state is each tensor's own state (the same names, shapes and initial values as without joining):
 * a state shaped like the flat vector is concatenated before and split after its update; a scalar
 * state (the step count) is updated per tensor, and the flat update uses the first tensor's (every
 * tensor of a group steps together).
 */
function join(b: GraphBuilder, params: readonly TrainedParam[]) {
  const sizes = params.map((p) => size(p.spec.shape));
  const total = sizes.reduce((a, d) => a + d, 0);
  const concat = (values: readonly Value[]) =>
    b.op1("Concat", values.map((v) => flat1d(b, v)), { axis: 0 });
  const split = (v: Value) =>
    b.op(
      "Split",
      [v, b.ints(sizes)],
      { axis: 0 },
      { outputs: sizes.length },
    ).map((piece, i) => {
      const shape = params[i].spec.shape;
      return shape.length === 1 ? piece : b.op1("Reshape", [piece, b.ints(shape)]);
    });
  const param: TrainedParam = {
    spec: Object.freeze({ name: FLAT, shape: [total], init: params[0].spec.init }),
    value: concat(params.map((p) => p.value)),
    grad: concat(params.map((p) => p.grad)),
  };
  return {
    param,
    split,
    state(
      suffix: string,
      shape: readonly number[],
      next: (previous: Value) => Value,
      init: Init,
      declare: (name: string, shape: readonly number[], init: Init) => {
        prev: Value;
        record: (next: Value) => void;
      },
    ): Value {
      if (shape.length === 0) {
        const values = params.map((p) => {
          const { prev, record } = declare(`${p.spec.name}${suffix}`, [], init);
          const value = next(prev);
          record(value);
          return value;
        });
        return values[0];
      }
      if (shape.length !== 1 || shape[0] !== total) {
        throw new CompileError(
          `Cannot apply optimizer: state ${suffix} of shape [${
            shape.join(", ")
          }] is neither scalar nor per element`,
        );
      }
      const declared = params.map((p) => declare(`${p.spec.name}${suffix}`, p.spec.shape, init));
      const value = next(concat(declared.map((d) => d.prev)));
      split(value).forEach((piece, i) => declared[i].record(piece));
      return value;
    },
  };
}
