/**
 * Synchronised batch norm for data-parallel training (PyTorch's SyncBatchNorm): the batch
 * statistics of every batch norm are those of the global batch, summed across processes, in the
 * forward pass and in the backward pass, so a model with batch norm trains exactly as on one
 * process. The sequential model is cut at its top-level batch norms into segments; the trainer
 * runs the forward segments in turn (each ends at the next batch norm's input, whose statistics
 * the processes sum between segments), then the backward segments in reverse. A backward segment
 * recomputes its forward and differentiates Σ(out ⊙ upstream gradient) — a vector-Jacobian
 * product — with respect to its input, its parameters and the batch statistics it was given; the
 * processes sum the statistics' gradients, and the trainer folds them into the input's gradient
 * (μ = Σa / M, σ² = Σ(a − μ)² / M over all M values of a channel).
 * @module
 */
import { differentiate } from "../autodiff/differentiate.ts";
import type { BatchNormLayer } from "../dsl/norm_layers.ts";
import type { Layer } from "../dsl/layer_types.ts";
import { createGraphBuilder } from "../ir/builder.ts";
import { CompileError } from "../ir/errors.ts";
import type { Graph, Value } from "../ir/types.ts";
import { validateGraph } from "../ir/validate.ts";
import { lowerInput, type ModelSpec, NAMES, outputStepFigures } from "./compile.ts";
import { targetType } from "./data_signature.ts";
import { lossLowering } from "./lower_loss.ts";
import { createLowerContext, lowerLayer } from "./lower_model.ts";
import { join } from "./lowering.ts";

/** The names of the segment graphs' own inputs and outputs. */
export const SYNC = Object.freeze({
  /** A segment's input activation (segments after the first). */
  a: "sync.a",
  /** The global batch mean and (biased) variance of the batch norm a segment starts with. */
  mean: "sync.mean",
  var: "sync.var",
  /** A forward segment's output: the next batch norm's input. */
  out: "sync.out",
  /** A backward segment's upstream gradient (of `out`). */
  gradOut: "sync.grad_out",
  /** The gradients a backward segment gives of its input and of the statistics. */
  gradA: "sync.grad_a",
  gradMean: "sync.grad_mean",
  gradVar: "sync.grad_var",
});

/** One synchronised batch norm: where it is and its settings. */
export interface SyncNorm {
  /** Its state_dict prefix (`"1"`). */
  readonly path: string;
  /** Its channels (the second dimension of its input). */
  readonly channels: number;
  /** Added to the variance. */
  readonly eps: number;
  /** PyTorch's momentum: the weight of the batch statistics in the running ones. */
  readonly momentum: number;
}

/** The segment graphs of a model with synchronised batch norms (see the module doc). */
export interface SyncGraphs {
  /** K forward segments (K batch norms): segment k ends at batch norm k's input. */
  readonly forward: readonly Graph[];
  /**
   * K + 1 backward segments: segment K (the last) ends at the weighted loss and gives `loss`,
   * `correct`, `counted`; segment k < K takes `sync.grad_out`.
   */
  readonly backward: readonly Graph[];
  /** The batch norms, in order. */
  readonly norms: readonly SyncNorm[];
}

/** The top-level batch norms of a sequential model, or undefined when it has none. */
function topLevelNorms(model: Layer): number[] | undefined {
  if (model.kind !== "sequential") return undefined;
  const at = model.layers.flatMap((l, i) =>
    l.kind === "batch-norm-1d" || l.kind === "batch-norm-2d" ? [i] : []
  );
  return at.length ? at : undefined;
}

/** Whether a layer tree holds a batch norm anywhere. */
function hasBatchNorm(layer: Layer): boolean {
  const l = layer as Layer & { layers?: readonly Layer[]; children?: Record<string, Layer> };
  if (l.kind === "batch-norm-1d" || l.kind === "batch-norm-2d") return true;
  return [...(l.layers ?? []), ...Object.values(l.children ?? {})].some(hasBatchNorm);
}

/**
 * The segment graphs for synchronised batch norm, or undefined for a model without batch norm.
 *
 * @param spec The model, loss and optimizer.
 * @param lossWeight The name of the loss weight input (the process's share of the batch).
 * @returns The graphs.
 * @throws {CompileError} When batch norms lie elsewhere than at the top level of a sequential
 * model (only those can be synchronised).
 */
export function compileSyncSegments(spec: ModelSpec, lossWeight: string): SyncGraphs | undefined {
  if (!hasBatchNorm(spec.model)) return undefined;
  const at = topLevelNorms(spec.model);
  const layers = (spec.model as { layers?: readonly Layer[] }).layers ?? [];
  if (!at || layers.some((l, i) => !at.includes(i) && hasBatchNorm(l))) {
    throw new CompileError(
      "Cannot compile data-parallel training: synchronised batch norm needs the batch norms at " +
        "the top level of a sequential model (this model nests them in blocks)",
    );
  }
  if (spec.data.oneHot) {
    throw new CompileError(
      "Cannot compile data-parallel training: synchronised batch norm does not take oneHot targets",
    );
  }
  const loss = lossLowering(spec.loss);
  const norms = at.map((i) => {
    const l = layers[i] as BatchNormLayer;
    return { path: String(i), channels: l.numFeatures, eps: l.eps, momentum: l.momentum };
  });
  const bounds = [0, ...at, layers.length];
  const entering = activationShapes(spec, at);
  const build = (k: number, backward: boolean): Graph => {
    const b = createGraphBuilder();
    const { ctx, registry } = createLowerContext(b, "train");
    let x: Value, a: Value | undefined, mean: Value | undefined, variance: Value | undefined;
    let first = bounds[k];
    if (k === 0) {
      x = lowerInput(b, spec.data, "train", "data").x;
    } else {
      // The segment starts with batch norm k − 1, normalising with the given global statistics.
      const norm = layers[first] as BatchNormLayer, c = norm.numFeatures;
      const shape = entering[k - 1];
      a = b.input(SYNC.a, { dtype: "float32", shape });
      mean = b.input(SYNC.mean, { dtype: "float32", shape: [c] });
      variance = b.input(SYNC.var, { dtype: "float32", shape: [c] });
      const per = [1, c, ...shape.slice(2).map(() => 1)];
      const r = (v: Value) => b.op1("Reshape", [v, b.ints(per)]);
      const scale = b.op1("Sqrt", [b.op1("Add", [variance, b.scalar(norm.eps)])]);
      let y = b.op1("Div", [b.op1("Sub", [a, r(mean)]), r(scale)]);
      if (norm.affine) {
        const path = String(first);
        const w = ctx.param(join(path, "weight"), [c], { kind: "constant", value: 1 });
        const bias = ctx.param(join(path, "bias"), [c], { kind: "zeros" });
        y = b.op1("Add", [b.op1("Mul", [y, r(w)]), r(bias)]);
      }
      x = y;
      first++;
    }
    const end = k < at.length ? bounds[k + 1] : layers.length;
    for (let i = first; i < end; i++) x = lowerLayer(layers[i], x, ctx, String(i));
    if (!backward) {
      b.output(SYNC.out, x);
      return validateGraph(b.build(`sync_forward_${k}`));
    }
    let surrogate: Value;
    if (k === at.length) {
      const target = b.input(NAMES.target, targetType(spec.data));
      const weight = b.input(lossWeight, { dtype: "float32", shape: [] });
      surrogate = b.op1("Mul", [loss.train(b, x, target), weight]);
      outputStepFigures(b, loss, surrogate, x, target);
    } else {
      const up = b.input(SYNC.gradOut, { dtype: "float32", shape: x.type.shape });
      surrogate = b.op1("ReduceSum", [b.op1("Mul", [x, up])], { keepdims: 0 });
    }
    const wrt = [...(a ? [a, mean!, variance!] : []), ...registry.params.map((p) => p.value)];
    const grads = differentiate(b, surrogate, wrt);
    if (a) {
      const zero = (v: Value, g: Value | null) => g ?? b.op1("Mul", [v, b.scalar(0)]);
      b.output(SYNC.gradA, zero(a, grads[0]));
      b.output(SYNC.gradMean, zero(mean!, grads[1]));
      b.output(SYNC.gradVar, zero(variance!, grads[2]));
    }
    const offset = a ? 3 : 0;
    registry.params.forEach((p, i) => {
      if (grads[offset + i]) b.output(`${p.spec.name}.grad`, grads[offset + i]!);
    });
    return validateGraph(b.build(`sync_backward_${k}`));
  };
  const forward = at.map((_, k) => build(k, false));
  const backward = [...at.keys(), at.length].map((k) => build(k, true));
  return Object.freeze({ forward, backward, norms: Object.freeze(norms) });
}

/** The shapes of the activations entering the layers `at` of the sequential model (batch `N`). */
function activationShapes(
  spec: ModelSpec,
  at: readonly number[],
): (readonly (number | string)[])[] {
  const b = createGraphBuilder();
  const { ctx } = createLowerContext(b, "train");
  let x = lowerInput(b, spec.data, "train", "data").x;
  const layers = (spec.model as { layers: readonly Layer[] }).layers;
  const shapes: (readonly (number | string)[])[] = [];
  for (let i = 0; i <= at[at.length - 1]; i++) {
    if (at.includes(i)) shapes.push(x.type.shape);
    if (i < at[at.length - 1]) x = lowerLayer(layers[i], x, ctx, String(i));
  }
  return shapes;
}
