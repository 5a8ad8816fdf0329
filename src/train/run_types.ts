/**
 * The training loop's public types: what a run takes (`RunOptions`), reports per step and per
 * epoch, returns, and the errors that stop it; and the choice of optimizer steps per run.
 * @module
 */
import type { CompiledModel } from "../compile/compile.ts";
import type { CompletePipelineProps } from "../dsl/pipeline.ts";
import type { Backend, Device } from "../runtime/session.ts";
import type { Reducer } from "./data_parallel.ts";

/**
 * A complete pipeline description, as the DSL builds it.
 *
 * @example
 * ```ts
 * import {
 *   crossEntropy,
 *   linear,
 *   pipeline,
 *   type PipelineSpec,
 *   sgd,
 *   tensorDataset,
 * } from "../../mod.ts";
 * const xs = Float32Array.of(0, 1, 1, 0);
 * const data = tensorDataset({
 *   train: { x: xs, y: [0, 1] },
 *   test: { x: xs, y: [0, 1] },
 *   sampleShape: [2],
 * });
 * const p = pipeline().data(data).model(linear(2, 2)).loss(crossEntropy()).optimizer(
 *   sgd({ lr: 0.1 }),
 * );
 * const spec = p.props as PipelineSpec;
 * if (spec.loss.kind !== "cross-entropy") throw new Error();
 * ```
 */
export type PipelineSpec = CompletePipelineProps;

/**
 * Overrides and settings for one run (the CLI's flags).
 *
 * @example
 * ```ts
 * import {
 *   crossEntropy,
 *   linear,
 *   pipeline,
 *   type RunOptions,
 *   sgd,
 *   tensorDataset,
 * } from "../../mod.ts";
 * const xs = Float32Array.of(0, 0, 0, 1, 1, 0, 1, 1);
 * const data = tensorDataset({
 *   train: { x: xs, y: [0, 1, 1, 1] },
 *   test: { x: xs, y: [0, 1, 1, 1] },
 *   sampleShape: [2],
 * });
 * const p = pipeline().data(data, { batchSize: 2 }).model(linear(2, 2)).loss(crossEntropy())
 *   .optimizer(sgd({ lr: 0.5 }));
 * const options: RunOptions = { epochs: 2, seed: 3, quiet: true };
 * const result = await p.run(options);
 * if (result.epochs.length !== 2 || result.seed !== 3) throw new Error();
 * ```
 */
export interface RunOptions {
  /** Replaces the pipeline's number of epochs. */
  readonly epochs?: number;
  /** Replaces the pipeline's batch size. */
  readonly batchSize?: number;
  /** Replaces the optimizer's learning rate (every parameter group's). */
  readonly lr?: number;
  /** Seeds initialisation and shuffling; a run is reproducible bit for bit with it. */
  readonly seed?: number;
  /** Execution device (default `"cpu"`). */
  readonly device?: Device;
  /** Intra-op threads of the sessions. */
  readonly threads?: number;
  /**
   * Whether onnxruntime's idle threads spin (node backend; default `false`, which keeps step
   * times steady when other processes share the cores; see `SessionOptions.spinning`).
   */
  readonly spinning?: boolean;
  /** Replaces the dataset's root folder. */
  readonly dataDir?: string;
  /**
   * Writes the trained inference model here, atomically; checked to be writable before training
   * starts.
   */
  readonly exportPath?: string;
  /**
   * Exports a model that takes raw uint8 images `[N, C, H, W]` (camera bytes) and applies
   * ToTensor (Cast, Div 255) and the data's normalisation itself, at `exportPath` and from
   * {@linkcode RunResult.exportModel}; its logits equal the float model's. Image datasets only.
   */
  readonly exportRaw?: boolean;
  /**
   * Initialises parameters and buffers from this file (warm start): an onnxtrain checkpoint, a
   * safetensors file or an ONNX model's initializers, matched by name; optimizer state is not
   * loaded (`resume` does that, and takes precedence). Strict unless `initPartial`.
   */
  readonly init?: string;
  /** With `init`: load the tensors that match and log the ones skipped. */
  readonly initPartial?: boolean;
  /** Writes train_step.onnx, eval_step.onnx and inference.onnx (initial weights) here. */
  readonly emitDir?: string;
  /** Receives each log line (default: console.log). */
  readonly log?: (line: string) => void;
  /** Log a training loss line every this many batches (default 100, as the tutorial). */
  readonly logEvery?: number;
  /** Called after each training step with its loss and the learning rate it used. */
  readonly onBatch?: (event: BatchEvent) => void;
  /** Called after each epoch's test with the epoch's figures. */
  readonly onEpoch?: (result: EpochResult) => void;
  /**
   * Saves a checkpoint here at the end of every epoch (see `checkpointEvery`, `keep`). The folder
   * belongs to one run: it is locked while the run lasts (a second run on it is refused), and a
   * fresh run into a folder holding checkpoints is refused unless `resume` or `overwrite`.
   */
  readonly checkpointDir?: string;
  /** Also saves a checkpoint every this many training steps. */
  readonly checkpointEvery?: number;
  /** How many checkpoints of this run to keep (default 2). */
  readonly keep?: number;
  /**
   * Continues from the latest checkpoint in `checkpointDir` (its seed, position, schedule,
   * learning rates and tensors); `epochs` stays the total. A resumed run matches an
   * uninterrupted one bit for bit.
   */
  readonly resume?: boolean;
  /** A fresh run deletes the checkpoints already in `checkpointDir` instead of refusing. */
  readonly overwrite?: boolean;
  /**
   * Data-parallel training across processes: `true` joins the MPI job this process was started in
   * (`mpirun -np N deno run …`), or give a communicator. Each process takes its rows of every
   * global batch (`batchSize` stays the global batch), gradients are summed every step, and the
   * run matches one process on the whole batch (batch norm synchronised when it sits at the top
   * level of a sequential model, else per process). Rank 0 logs and writes the metrics, plot, checkpoints and export.
   */
  readonly distributed?: boolean | Reducer;
  /**
   * With `distributed`: local SGD instead of gradient sums — each process takes whole optimizer
   * steps on its own rows and the parameters are averaged every this many steps (PyTorch's
   * PostLocalSGD). A different algorithm, for slow interconnects; its runs differ from one
   * process's.
   */
  readonly localSgd?: number;
  /**
   * Stops the run after the current run of steps (at most `stepsPerRun`) once aborted: it saves
   * a checkpoint (when `checkpointDir` is set) and rejects with {@linkcode TrainingInterrupted}.
   */
  readonly signal?: AbortSignal;
  /**
   * Where training batches are built. `true` (default): on the main thread, the next run's
   * batches right after the current run is handed to onnxruntime; `false`: after it returns.
   * onnxruntime-node 1.30 runs a session synchronously on the JavaScript thread (deferred by
   * `setImmediate`), so neither overlaps the kernels. `"worker"`: a worker thread builds them
   * (two batches ahead) while onnxruntime computes — real overlap, which pays only when building
   * a batch is costly and a core is free: with uint8 batches it is ≈ 2 % of a seed-MLP epoch on
   * the 2-core machine, and the worker was 0–10 % slower there (`bench/loader_overlap.ts`).
   * Results are identical in every mode.
   */
  readonly prefetch?: boolean | "worker";
  /**
   * Most optimizer steps taken in one onnxruntime run (the K-step graph: an ONNX `Loop` around
   * the train step, fed `[K, …]` slabs of batches). Default {@linkcode autoStepsPerRun}; 1
   * runs the one-step graph per batch. Results, logs and checkpoints are the same for every value.
   */
  readonly stepsPerRun?: number;
  /**
   * The onnxruntime build that runs the graphs: `"node"` (onnxruntime-node, native; the default)
   * or `"web"` (onnxruntime-web on WebAssembly: no native code, no `--allow-ffi`).
   */
  readonly backend?: Backend;
  /**
   * Writes JSON Lines here (atomically, rewritten as the run goes): one record per logged step
   * and one per epoch (see `src/train/report.ts`). Checked to be writable before training starts.
   */
  readonly metricsPath?: string;
  /** Writes an SVG plot of loss and accuracy per epoch here at the end of every epoch. */
  readonly plotPath?: string;
  /** Logs only the final test report (the CLI's `--quiet`). */
  readonly quiet?: boolean;
  /**
   * Shows a live progress line per epoch (batches, samples/s, running loss, ETA) on this writer,
   * such as a terminal's stdout, without changing the logged lines (the CLI sets it when stdout
   * is a terminal).
   */
  readonly progress?: { writeSync(bytes: Uint8Array): number };
}

/**
 * The most steps per run {@linkcode autoStepsPerRun} chooses on the CPU: 16 steps per run took
 * the seed MLP's epoch ≈ 20 % below one step per run on the 2-core machine, and larger K gained
 * little more (see the README's benchmark table).
 * @example
 * ```ts
 * import { DEFAULT_STEPS_PER_RUN } from "./run.ts";
 * if (DEFAULT_STEPS_PER_RUN !== 16) throw new Error();
 * ```
 */
export const DEFAULT_STEPS_PER_RUN = 16;

/** The slab memory (inputs, targets, masks for K steps) {@linkcode autoStepsPerRun} allows. */
const SLAB_BYTES = 32 * 2 ** 20;

/**
 * The default {@linkcode RunOptions.stepsPerRun}: {@linkcode DEFAULT_STEPS_PER_RUN} on the CPU,
 * 64 on CUDA (where every run otherwise copies all parameters between host and device), fewer
 * when K steps' per-step inputs (batch, targets, dropout masks) would exceed 32 MiB.
 *
 * @param compiled The compiled model.
 * @param batchSize Samples per batch.
 * @param device The execution device.
 * @returns K, at least 1.
 * @example
 * ```ts
 * import { compileModel, crossEntropy, linear, sgd } from "../../mod.ts";
 * import { autoStepsPerRun, DEFAULT_STEPS_PER_RUN } from "./run.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [4], classes: 3 },
 *   model: linear(4, 3),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.1 }),
 * });
 * if (autoStepsPerRun(compiled, 64) !== DEFAULT_STEPS_PER_RUN) throw new Error();
 * if (autoStepsPerRun(compiled, 64, "cuda") !== 64) throw new Error();
 * ```
 */
export function autoStepsPerRun(
  compiled: CompiledModel,
  batchSize: number,
  device: Device = "cpu",
): number {
  const bytes = { float32: 4, float64: 8, int64: 8, int32: 4, uint8: 1, bool: 1 } as const;
  const stepInputs = compiled.train.inputs.filter((p) => p.value.type.shape[0] === "N");
  const perStep = stepInputs.reduce(
    (sum, p) =>
      sum +
      bytes[p.value.type.dtype] *
        p.value.type.shape.reduce<number>((n, d) => n * (typeof d === "number" ? d : batchSize), 1),
    0,
  );
  const most = device === "cuda" ? 64 : DEFAULT_STEPS_PER_RUN;
  return Math.max(1, Math.min(most, Math.floor(SLAB_BYTES / Math.max(perStep, 1))));
}

/**
 * A run stopped by its abort signal (Ctrl-C in the CLI).
 *
 * @example
 * ```ts
 * import { TrainingInterrupted } from "./run.ts";
 * const e = new TrainingInterrupted(
 *   "Training interrupted in epoch 2",
 *   "ckpt/step-00000100.safetensors",
 * );
 * if (e.name !== "TrainingInterrupted" || !e.checkpoint?.endsWith(".safetensors")) {
 *   throw new Error();
 * }
 * ```
 */
export class TrainingInterrupted extends Error {
  /** The checkpoint saved on the way out, if any. */
  readonly checkpoint?: string;
  /**
   * Creates the error.
   *
   * @param message What happened.
   * @param checkpoint The checkpoint saved, if any.
   */
  constructor(message: string, checkpoint?: string) {
    super(message);
    this.name = "TrainingInterrupted";
    this.checkpoint = checkpoint;
  }
}

/**
 * One training step, as `onBatch` receives it.
 *
 * @example
 * ```ts
 * import {
 *   type BatchEvent,
 *   crossEntropy,
 *   linear,
 *   pipeline,
 *   sgd,
 *   tensorDataset,
 * } from "../../mod.ts";
 * const xs = Float32Array.of(0, 0, 0, 1, 1, 0, 1, 1);
 * const data = tensorDataset({
 *   train: { x: xs, y: [0, 1, 1, 1] },
 *   test: { x: xs, y: [0, 1, 1, 1] },
 *   sampleShape: [2],
 * });
 * const p = pipeline().data(data, { batchSize: 2 }).model(linear(2, 2)).loss(crossEntropy())
 *   .optimizer(sgd({ lr: 0.5 }));
 * const events: BatchEvent[] = [];
 * await p.run({ epochs: 1, seed: 1, quiet: true, onBatch: (e) => events.push(e) });
 * if (events.length !== 2 || events[1].batch !== 1 || events[0].lr !== 0.5) throw new Error();
 * ```
 */
export interface BatchEvent {
  /** The epoch, from 1. */
  readonly epoch: number;
  /** The batch's index within the epoch, from 0 (the tutorial's `batch`). */
  readonly batch: number;
  /** The batch's mean loss. */
  readonly loss: number;
  /** The learning rate of the step (parameter group 0's). */
  readonly lr: number;
}

/**
 * One epoch's figures.
 *
 * @example
 * ```ts
 * import {
 *   crossEntropy,
 *   type EpochResult,
 *   linear,
 *   pipeline,
 *   sgd,
 *   tensorDataset,
 * } from "../../mod.ts";
 * const xs = Float32Array.of(0, 0, 0, 1, 1, 0, 1, 1);
 * const data = tensorDataset({
 *   train: { x: xs, y: [0, 1, 1, 1] },
 *   test: { x: xs, y: [0, 1, 1, 1] },
 *   sampleShape: [2],
 * });
 * const p = pipeline().data(data, { batchSize: 2 }).model(linear(2, 2)).loss(crossEntropy())
 *   .optimizer(sgd({ lr: 0.5 }));
 * const seen: EpochResult[] = [];
 * await p.run({ epochs: 2, seed: 1, quiet: true, onEpoch: (r) => seen.push(r) });
 * if (seen.length !== 2 || !(seen[1].accuracy >= 0 && seen[1].accuracy <= 1)) throw new Error();
 * ```
 */
export interface EpochResult {
  /** The epoch, from 1. */
  readonly epoch: number;
  /** Mean of the batch losses over the epoch. */
  readonly trainLoss: number;
  /** The tutorial's "Avg loss": mean over test batches of each batch's mean loss. */
  readonly testLoss: number;
  /**
   * Fraction of test samples classified correctly (NaN for regression losses; element-wise for
   * bceWithLogits; for per-position class targets such as `[N, T]` sequence labels, the token
   * accuracy: positions predicted right over non-ignored positions).
   */
  readonly accuracy: number;
  /**
   * Fraction of the epoch's training samples classified correctly at their step (before the
   * step's update, as a PyTorch loop that counts `pred.argmax(1) == y` during training); NaN for
   * regression losses; token accuracy over non-ignored positions for per-position class targets.
   */
  readonly trainAccuracy: number;
  /** The validation split's "Avg loss", as `testLoss` (undefined without a validation split). */
  readonly validationLoss?: number;
  /** The validation split's accuracy, as `accuracy` (undefined without a validation split). */
  readonly validationAccuracy?: number;
  /** Wall-clock seconds of the training part of the epoch. */
  readonly trainSeconds: number;
  /** Wall-clock seconds of `trainSeconds` spent producing training batches (the data pipeline). */
  readonly dataSeconds: number;
  /** The learning rate of the epoch's first step (parameter group 0's). */
  readonly lr: number;
}

/**
 * What a run returns.
 *
 * @example
 * ```ts
 * import {
 *   crossEntropy,
 *   linear,
 *   pipeline,
 *   type RunResult,
 *   sgd,
 *   tensorDataset,
 * } from "../../mod.ts";
 * const xs = Float32Array.of(0, 0, 0, 1, 1, 0, 1, 1);
 * const data = tensorDataset({
 *   train: { x: xs, y: [0, 1, 1, 1] },
 *   test: { x: xs, y: [0, 1, 1, 1] },
 *   sampleShape: [2],
 * });
 * const p = pipeline().data(data, { batchSize: 2 }).model(linear(2, 2)).loss(crossEntropy())
 *   .optimizer(sgd({ lr: 0.5 }));
 * const result: RunResult = await p.run({ epochs: 1, seed: 1, quiet: true });
 * if (result.epochs[0].epoch !== 1 || result.exportModel().length === 0) throw new Error();
 * ```
 */
export interface RunResult {
  /** One result per epoch trained. */
  readonly epochs: readonly EpochResult[];
  /** The seed the run used. */
  readonly seed: number;
  /** The trained inference model as ONNX bytes (taking uint8 images when `exportRaw` is set). */
  exportModel(): Uint8Array;
}

/**
 * Training stopped because a step's loss (or, at a checkpoint or the export, a parameter) is NaN
 * or infinite: nothing is exported and no checkpoint of the broken weights is saved, so the
 * previous export file and the last good checkpoint stay as they were.
 */
export class NonFiniteLossError extends Error {
  /** The epoch, from 1. */
  readonly epoch: number;
  /** The optimizer step, from 1, counted over the whole run. */
  readonly step: number;
  /** The batch's index within the epoch, from 0 (as in the log lines). */
  readonly batch: number;
  /** The offending loss (NaN, Infinity or -Infinity; a finite loss when a parameter was not). */
  readonly loss: number;
  /**
   * Creates the error.
   *
   * @param message What happened, naming the epoch and step.
   * @param at Where: epoch, step, batch and loss.
   */
  constructor(
    message: string,
    at: { epoch: number; step: number; batch: number; loss: number },
  ) {
    super(message);
    this.name = "NonFiniteLossError";
    this.epoch = at.epoch;
    this.step = at.step;
    this.batch = at.batch;
    this.loss = at.loss;
  }
}
