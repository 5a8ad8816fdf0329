/**
 * The training loop: the PyTorch tutorial's `train_loop` and `test_loop`, with its exact log.
 * @module
 */
import { dirname, join } from "node:path";
import type { CompiledModel } from "../compile/compile.ts";
import { loadDataset } from "../data/datasets.ts";
import { type Batch, createLoader, describeAugmentation, holdOut } from "../data/loader.ts";
import { createWorkerLoader, shareSampleSet, type WorkerLoader } from "../data/worker_loader.ts";
import type { CompletePipelineProps } from "../dsl/pipeline.ts";
import { writeFileAtomic } from "../io/atomic_write.ts";
import { emitModel } from "../onnx/emit.ts";
import type { Backend, Device } from "../runtime/session.ts";
import {
  checkFingerprint,
  type CheckpointInfo,
  latestCheckpoint,
  pipelineFingerprint,
  readCheckpoint,
  restoreCheckpoint,
  saveCheckpoint,
} from "./checkpoint.ts";
import { epochHeader, testLines, trainLine, validationLines } from "./format.ts";
import { createScheduler } from "./schedule.ts";
import { compilePipeline } from "./compile_pipeline.ts";

export { compilePipeline };
import { createTrainer, type Trainer } from "./trainer.ts";
import { checkExportPath, warmStart } from "./warm_start.ts";

/** A complete pipeline description, as the DSL builds it. */
export type PipelineSpec = CompletePipelineProps;

/** Overrides and settings for one run (the CLI's flags). */
export interface RunOptions {
  readonly epochs?: number;
  readonly batchSize?: number;
  readonly lr?: number;
  /** Seeds initialisation and shuffling; a run is reproducible bit for bit with it. */
  readonly seed?: number;
  readonly device?: Device;
  readonly threads?: number;
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
  /** Saves a checkpoint here at the end of every epoch (see `checkpointEvery`, `keep`). */
  readonly checkpointDir?: string;
  /** Also saves a checkpoint every this many training steps. */
  readonly checkpointEvery?: number;
  /** How many checkpoints to keep (default 2). */
  readonly keep?: number;
  /**
   * Continues from the latest checkpoint in `checkpointDir` (its seed, position, schedule and
   * tensors); `epochs` stays the total. A resumed run matches an uninterrupted one bit for bit.
   */
  readonly resume?: boolean;
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

/** A run stopped by its abort signal (Ctrl-C in the CLI). */
export class TrainingInterrupted extends Error {
  /** The checkpoint saved on the way out, if any. */
  readonly checkpoint?: string;
  /**
   * @param message What happened.
   * @param checkpoint The checkpoint saved, if any.
   */
  constructor(message: string, checkpoint?: string) {
    super(message);
    this.name = "TrainingInterrupted";
    this.checkpoint = checkpoint;
  }
}

/** One training step, as `onBatch` receives it. */
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

/** One epoch's figures. */
export interface EpochResult {
  readonly epoch: number;
  /** Mean of the batch losses over the epoch. */
  readonly trainLoss: number;
  /** The tutorial's "Avg loss": mean over test batches of each batch's mean loss. */
  readonly testLoss: number;
  /** Fraction of test samples classified correctly (NaN for regression losses; element-wise for bceWithLogits). */
  readonly accuracy: number;
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

/** What a run returns. */
export interface RunResult {
  readonly epochs: readonly EpochResult[];
  readonly seed: number;
  /** The trained inference model as ONNX bytes (taking uint8 images when `exportRaw` is set). */
  exportModel(): Uint8Array;
}

function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

async function writeFile(path: string, bytes: Uint8Array): Promise<void> {
  await Deno.mkdir(dirname(path) || ".", { recursive: true });
  await Deno.writeFile(path, bytes);
}

/**
 * Loads data, compiles, trains for the given epochs and tests after each, logging as the PyTorch
 * tutorial does.
 *
 * @param spec The pipeline.
 * @param options Overrides and settings.
 * @returns Per-epoch results and the trained model.
 */
export async function runPipeline(
  spec: PipelineSpec,
  options: RunOptions = {},
): Promise<RunResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const epochs = options.epochs ?? spec.epochs;
  const batchSize = options.batchSize ?? spec.batchSize;
  const logEvery = options.logEvery ?? 100;
  if (
    options.stepsPerRun !== undefined &&
    !(Number.isSafeInteger(options.stepsPerRun) && options.stepsPerRun >= 1)
  ) {
    throw new RangeError(
      `Invalid stepsPerRun: expected an integer ≥ 1, got ${options.stepsPerRun}`,
    );
  }
  const { checkpointDir, checkpointEvery } = options;
  if (options.resume && !checkpointDir) {
    throw new RangeError("Cannot resume: no checkpoint folder given (--checkpoint DIR)");
  }
  if (
    checkpointEvery !== undefined && !(Number.isSafeInteger(checkpointEvery) && checkpointEvery > 0)
  ) {
    throw new RangeError(
      `Invalid checkpointEvery: expected a positive integer, got ${checkpointEvery}`,
    );
  }

  if (options.initPartial && options.init === undefined) {
    throw new RangeError("Cannot load partially: no weights file given (--init PATH)");
  }
  if (options.exportPath !== undefined) await checkExportPath(options.exportPath);
  if (options.exportRaw && spec.data.kind === "tensor") {
    throw new RangeError(
      "Cannot export a raw model: exportRaw needs an image dataset (uint8 pixels), got a " +
        "tensorDataset",
    );
  }

  const sampler = spec.sampler;
  const dataOrder = [
    spec.dropLast ? "dropLast" : "",
    sampler === undefined
      ? ""
      : `sampler ${sampler === "balanced" ? sampler : `weights [${sampler.weights}]`}`,
    spec.augment ? `augment ${describeAugmentation(spec.augment)}` : "",
  ].filter((part) => part).join("; ");
  const compiled = compilePipeline(spec, options.lr);
  const stepsPerRun = options.stepsPerRun ?? autoStepsPerRun(compiled, batchSize, options.device);
  const fingerprint = pipelineFingerprint(compiled);
  let resumed;
  if (options.resume) {
    const path = await latestCheckpoint(checkpointDir!);
    if (!path) throw new RangeError(`Cannot resume: no checkpoint in ${checkpointDir}`);
    resumed = await readCheckpoint(path);
    checkFingerprint(resumed, fingerprint);
    const { seed: saved, batchSize: savedBatch } = resumed.info;
    if (options.seed !== undefined && options.seed !== saved) {
      throw new RangeError(
        `Cannot resume from ${path} with seed ${options.seed}: it was saved with seed ${saved}`,
      );
    }
    if (batchSize !== savedBatch) {
      throw new RangeError(
        `Cannot resume from ${path} with batch size ${batchSize}: it was saved with ${savedBatch}`,
      );
    }
    const savedOrder = resumed.info.dataOrder ?? "";
    if (savedOrder !== dataOrder) {
      throw new RangeError(
        `Cannot resume from ${path} with data order "${dataOrder || "plain"}": it was saved ` +
          `with "${savedOrder || "plain"}"`,
      );
    }
    const savedValidation = resumed.info.validation ?? 0;
    if ((spec.validation ?? 0) !== savedValidation) {
      throw new RangeError(
        `Cannot resume from ${path} with validation ${
          spec.validation ?? 0
        }: it was saved with ${savedValidation}, which holds out other samples`,
      );
    }
  }
  const seed = resumed?.info.seed ?? options.seed ?? spec.seed ?? randomSeed();
  const schedule = spec.schedule;
  if (
    schedule?.kind === "reduceLROnPlateau" && schedule.metric === "validationLoss" &&
    spec.validation === undefined
  ) {
    throw new RangeError(
      "Cannot run: reduceLROnPlateau watches validationLoss, but the data has no validation " +
        "split (data(dataset, { validation: 0.1 }))",
    );
  }
  const splits = await loadDataset(spec.data, { root: options.dataDir });
  // The held-out samples derive from the seed only, so a resumed run holds out the same ones.
  const held = spec.validation === undefined
    ? undefined
    : holdOut(splits.train.count, spec.validation, seed);
  const classNames = "classNames" in spec.data ? spec.data.classNames : undefined;
  let worker: WorkerLoader | undefined;
  const trainer: Trainer = await createTrainer(compiled, {
    seed,
    device: options.device,
    threads: options.threads,
    backend: options.backend,
    stepsPerRun,
    metadata: classNames ? { class_names: JSON.stringify(classNames) } : {},
  });
  try {
    if (options.init !== undefined && resumed) {
      log(`Not initialising from ${options.init}: resuming from ${resumed.path} instead`);
    } else if (options.init !== undefined) {
      await warmStart(trainer, options.init, { partial: options.initPartial, log });
    }
    if (options.emitDir) {
      await writeFile(join(options.emitDir, "train_step.onnx"), emitModel(compiled.train));
      await writeFile(join(options.emitDir, "eval_step.onnx"), emitModel(compiled.eval));
      await writeFile(join(options.emitDir, "inference.onnx"), trainer.exportModel());
    }
    const start = resumed?.info ?? { epoch: 0, batch: 0, epochLossSum: 0, epochLr: NaN };
    const trainOptions = {
      batchSize,
      shuffle: spec.shuffle,
      seed,
      resumeAt: start,
      indices: held?.train,
      dropLast: spec.dropLast,
      sampler: spec.sampler,
      augment: spec.augment,
    };
    const prefetch = options.prefetch ?? true;
    // In shared memory, the worker and this thread read one copy of the training samples.
    const trainSet = prefetch === "worker" ? shareSampleSet(splits.train) : splits.train;
    const train = createLoader(trainSet, trainOptions);
    // The worker builds the very batches of `train` (it runs createLoader on the same options).
    worker = prefetch === "worker" ? await createWorkerLoader(trainSet, trainOptions) : undefined;
    const validation = held && createLoader(trainSet, { batchSize, indices: held.heldOut });
    const test = createLoader(splits.test, { batchSize });
    const scheduler = spec.schedule && createScheduler(spec.schedule, trainer.hyper, {
      optimizer: spec.optimizer,
      epochs,
      batchesPerEpoch: train.batches,
    });
    if (resumed) {
      // The schedule replays its steps from the fresh rates, then the saved tensors and rates load.
      scheduler?.importState(resumed.info.schedule ?? { steps: 0 });
      restoreCheckpoint(trainer, resumed, fingerprint);
      const { epoch, batch } = resumed.info;
      log(
        `Resumed from ${resumed.path} (epoch ${epoch + 1}, batch ${batch}, step ${trainer.steps})`,
      );
    }
    const save = (position: Pick<CheckpointInfo, "epoch" | "batch" | "epochLossSum" | "epochLr">) =>
      saveCheckpoint(checkpointDir!, trainer, {
        ...position,
        seed,
        batchSize,
        validation: spec.validation ?? 0,
        ...(dataOrder ? { dataOrder } : {}),
        ...(scheduler ? { schedule: scheduler.exportState() } : {}),
      }, { fingerprint, keep: options.keep });
    const currentLr = () => scheduler?.lr ?? trainer.hyper.get("lr") ?? NaN;
    const results: EpochResult[] = [];
    for (let epoch = start.epoch + 1; epoch <= epochs; epoch++) {
      for (const line of epochHeader(epoch)) log(line);
      const startTime = performance.now();
      const midEpoch = epoch === start.epoch + 1 && start.batch > 0;
      let index = midEpoch ? start.batch : 0, lossTotal = midEpoch ? start.epochLossSum : 0;
      const lr = midEpoch ? start.epochLr : currentLr();
      let dataMs = 0;
      const batches: Iterator<Batch> | AsyncIterator<Batch> = worker
        ? worker.epoch()
        : train[Symbol.iterator]();
      const nextBatch = async () => {
        const t = performance.now(), next = await batches.next();
        dataMs += performance.now() - t;
        return next;
      };
      for (let next = await nextBatch(); !next.done;) {
        // A group of equal-size batches, ending at the next checkpoint step: one run of K steps.
        const due = checkpointEvery === undefined
          ? Infinity
          : checkpointEvery - (trainer.steps % checkpointEvery);
        const limit = Math.min(stepsPerRun, due), group = [next.value];
        if (prefetch || limit > 1) next = await nextBatch();
        while (group.length < limit && !next.done && next.value.size === group[0].size) {
          group.push(next.value);
          next = await nextBatch();
        }
        // The schedule sets each step's rates before it runs, as with one step per run.
        const rates = group.map(() => {
          const step = { lr: currentLr(), hyper: new Map(trainer.hyper) };
          scheduler?.afterBatch();
          return step;
        });
        const losses = await trainer.stepMany(group, rates.map((r) => r.hyper));
        if (!prefetch && limit === 1) next = await nextBatch();
        for (const [j, loss] of losses.entries()) {
          lossTotal += loss;
          options.onBatch?.({ epoch, batch: index, loss, lr: rates[j].lr });
          if (index % logEvery === 0) {
            log(trainLine(loss, index * batchSize + group[j].size, train.size));
          }
          index++;
        }
        const position = { epoch: epoch - 1, batch: index, epochLossSum: lossTotal, epochLr: lr };
        const atCheckpoint = checkpointEvery !== undefined &&
          trainer.steps % checkpointEvery === 0;
        const saved = checkpointDir && (atCheckpoint || options.signal?.aborted)
          ? await save(position)
          : undefined;
        if (options.signal?.aborted) {
          throw new TrainingInterrupted(
            `Training interrupted at epoch ${epoch}, batch ${index}` +
              (saved ? `; saved checkpoint ${saved}` : ""),
            saved,
          );
        }
      }
      const trainSeconds = (performance.now() - startTime) / 1000;
      let validated = {};
      if (validation) {
        const v = await trainer.evaluate(validation);
        const validationLoss = v.batchLossSum / v.batches;
        const validationAccuracy = v.correct / v.samples;
        for (const line of validationLines(validationAccuracy, validationLoss)) log(line);
        validated = { validationLoss, validationAccuracy };
      }
      const r = await trainer.evaluate(test);
      const testLoss = r.batchLossSum / r.batches;
      const accuracy = r.correct / r.samples;
      for (const line of testLines(accuracy, testLoss)) log(line);
      const result: EpochResult = {
        epoch,
        trainLoss: lossTotal / index,
        testLoss,
        accuracy,
        ...validated,
        trainSeconds,
        dataSeconds: dataMs / 1000,
        lr,
      };
      results.push(result);
      scheduler?.afterEpoch(result);
      const saved = checkpointDir
        ? await save({ epoch, batch: 0, epochLossSum: 0, epochLr: NaN })
        : undefined;
      options.onEpoch?.(result);
      if (options.signal?.aborted && epoch < epochs) {
        throw new TrainingInterrupted(
          `Training interrupted after epoch ${epoch}` +
            (saved ? `; saved checkpoint ${saved}` : ""),
          saved,
        );
      }
    }
    log("Done!");
    const exported = trainer.exportModel({ raw: options.exportRaw ?? false });
    if (options.exportPath) await writeFileAtomic(options.exportPath, exported);
    return { epochs: results, seed, exportModel: () => exported };
  } finally {
    worker?.close();
    await trainer.release();
  }
}
