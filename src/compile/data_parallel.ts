/**
 * The train step in two parts for data-parallel training: gradients, then the update from summed
 * gradients; with batch norm, the synchronised segments of `sync_batch_norm.ts`.
 * @module
 */
import { differentiate } from "../autodiff/differentiate.ts";
import { createGraphBuilder } from "../ir/builder.ts";
import type { Graph } from "../ir/types.ts";
import { validateGraph } from "../ir/validate.ts";
import { applyOptimizer } from "../optim/optimizer.ts";
import { lowerForward, type ModelSpec, outputStepFigures, pass } from "./compile.ts";
import { CompileError } from "../ir/errors.ts";
import { lossLowering } from "./lower_loss.ts";
import { nextName } from "./params.ts";
import { compileSyncSegments, type SyncGraphs } from "./sync_batch_norm.ts";

/** The train step in two parts, for data-parallel training (see {@linkcode compileDataParallel}). */
export interface DataParallelGraphs {
  /**
   * Forward and backward. Inputs: the train graph's, without optimizer state and
   * hyperparameters, plus `loss_weight` (a float32 scalar: this process's share of the global
   * batch, n_r / B). Outputs: `loss` (the batch loss times the weight), `correct` and `counted`
   * where the train graph has them, `<param>.grad` (the weighted gradient, for each parameter the
   * loss depends on) and the buffers' `<buffer>.next`. Summed over the processes, loss and
   * gradients are exactly those of one process on the whole batch.
   */
  readonly gradients: Graph;
  /**
   * The optimizer update from reduced gradients. Inputs: the parameters, their `<param>.grad`,
   * the optimizer state and the hyperparameters; outputs: `<param>.next` and the state's `.next`
   * (gradient clipping, when set, acts on the reduced gradients).
   */
  readonly update: Graph;
  /** The parameters that have a gradient, in the order of the gradient outputs. */
  readonly trained: readonly string[];
  /**
   * With batch norm at the top level of a sequential model: the segments that synchronise its
   * statistics across processes (SyncBatchNorm), used instead of `gradients`.
   */
  readonly sync?: SyncGraphs;
  /** What the compile wants the user told once (batch norm left per process, …). */
  readonly notes: readonly string[];
}

/** The weight input of the data-parallel gradient graph. */
export const LOSS_WEIGHT = "loss_weight";

/**
 * The name of a parameter's gradient in the data-parallel graphs.
 *
 * @param param The parameter's name.
 * @returns `<param>.grad`.
 */
export const gradName = (param: string): string => `${param}.grad`;

/**
 * Compiles the train step as two graphs, gradients then update, so that processes can sum their
 * gradients between them (data-parallel training); the single-process path keeps its fused graph.
 *
 * @param spec The model, loss and optimizer.
 * @returns The two graphs.
 * @example
 * ```ts
 * import { compileDataParallel, crossEntropy, linear, sgd } from "../../mod.ts";
 * const { gradients, update, trained } = compileDataParallel({
 *   data: { sampleShape: [4], classes: 3 },
 *   model: linear(4, 3),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.1, momentum: 0.9 }),
 * });
 * if (trained.join() !== "weight,bias") throw new Error();
 * if (!gradients.outputs.some((o) => o.name === "weight.grad")) throw new Error();
 * if (!update.outputs.some((o) => o.name === "weight.next")) throw new Error();
 * ```
 */
export function compileDataParallel(spec: ModelSpec): DataParallelGraphs {
  const loss = lossLowering(spec.loss);
  const passes: string[] = [];
  const fwd = pass(passes, "lower model", () => lowerForward(spec, "train", true));
  const { b } = fwd;
  const weight = b.input(LOSS_WEIGHT, { dtype: "float32", shape: [] });
  const weighted = b.op1("Mul", [loss.train(b, fwd.logits, fwd.target), weight]);
  const grads = pass(
    passes,
    "differentiate",
    () => differentiate(b, weighted, fwd.registry.params.map((p) => p.value)),
  );
  const trained = fwd.registry.params.flatMap((p, i) => grads[i] ? [p.spec] : []);
  const gradients = pass(passes, "validate gradient step", () => {
    outputStepFigures(b, loss, weighted, fwd.logits, fwd.target);
    fwd.registry.params.forEach((p, i) => {
      if (grads[i]) b.output(gradName(p.spec.name), grads[i]!);
    });
    for (const buf of fwd.registry.buffers) {
      if (buf.next) b.output(nextName(buf.spec.name), buf.next);
    }
    return validateGraph(b.build("gradient_step"));
  });
  const update = pass(passes, "apply optimizer", () => {
    const u = createGraphBuilder();
    const params = trained.map((p) => {
      const type = { dtype: "float32" as const, shape: p.shape };
      return { spec: p, value: u.input(p.name, type), grad: u.input(gradName(p.name), type) };
    });
    const step = applyOptimizer(u, spec.optimizer, params);
    params.forEach((p, i) => u.output(nextName(p.spec.name), step.updated[i]));
    for (const s of step.state) u.output(nextName(s.spec.name), s.next);
    return validateGraph(u.build("update_step"));
  });
  const notes: string[] = [];
  let sync: SyncGraphs | undefined;
  try {
    sync = pass(passes, "synchronise batch norm", () => compileSyncSegments(spec, LOSS_WEIGHT));
  } catch (e) {
    if (!(e instanceof CompileError)) throw e;
    notes.push(
      "batch norm statistics stay per process (as PyTorch DDP without SyncBatchNorm): " +
        "synchronised batch norm needs the batch norms at the top level of a sequential model",
    );
  }
  return Object.freeze({
    gradients,
    update,
    trained: Object.freeze(trained.map((p) => p.name)),
    ...(sync ? { sync } : {}),
    notes: Object.freeze(notes),
  });
}
