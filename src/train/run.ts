/**
 * The training loop: the PyTorch tutorial's `train_loop` and `test_loop`, with its exact log.
 * @module
 */
import { join } from "node:path";
import { loadDataset } from "../data/datasets.ts";
import { type Batch, createLoader, describeAugmentation, holdOut } from "../data/loader.ts";
import { createWorkerLoader, shareSampleSet, type WorkerLoader } from "../data/worker_loader.ts";
import { writeFileAtomic } from "../io/atomic_write.ts";
import { checkDistinctPaths, checkOutputDir, checkOutputFile } from "../io/output_paths.ts";
import { NAMES } from "../compile/names.ts";
import { emitModel } from "../onnx/emit.ts";
import { SafetensorsError } from "../io/safetensors.ts";
import {
  checkFingerprint,
  type Checkpoint,
  CheckpointError,
  type CheckpointInfo,
  latestCheckpoint,
  listCheckpoints,
  pipelineFingerprint,
  readCheckpoint,
  restoreCheckpoint,
  saveCheckpoint,
} from "./checkpoint.ts";
import { type CheckpointFolder, claimCheckpointFolder } from "./checkpoint_folder.ts";
import { epochHeader, testLines, trainLine, validationLines } from "./format.ts";
import { createScheduler } from "./schedule.ts";
import { createReporter, readMetrics, type Reporter } from "./report.ts";
import { compilePipeline, pipelineModelSpec } from "./compile_pipeline.ts";
import { compileDataParallel } from "../compile/data_parallel.ts";
import type { Reducer } from "./data_parallel.ts";
import { localRanks } from "../dist/launcher.ts";
import { describePipeline, scriptName } from "./describe.ts";

export { compilePipeline };
export * from "./run_types.ts";
import {
  autoStepsPerRun,
  type EpochResult,
  NonFiniteLossError,
  type PipelineSpec,
  type RunOptions,
  type RunResult,
  TrainingInterrupted,
} from "./run_types.ts";
import { createTrainer, type Trainer } from "./trainer.ts";
import { checkExportPath, warmStart } from "./warm_start.ts";
import { rethrowIfNotCapable } from "../util/permission_error.ts";
import { UserRangeError } from "../util/user_error.ts";

function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/** A learning rate for a message: 6 significant digits (196.83, not 196.83000000000004). */
const rate = (lr: number) => String(Number(lr.toPrecision(6)));

/** The first parameter holding a NaN or infinite value, or undefined. */
function nonFiniteParameter(trainer: Trainer): string | undefined {
  for (const [name, t] of trainer.params) {
    const data = t.data;
    if (!(data instanceof Float32Array || data instanceof Float64Array)) continue;
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return name;
  }
  return undefined;
}

/**
 * The newest checkpoint in a folder, read; a truncated one names the newest intact one instead.
 */
async function readLatestCheckpoint(dir: string): Promise<Checkpoint> {
  const all = await listCheckpoints(dir);
  const newest = all.at(-1);
  if (!newest) throw new UserRangeError(`Cannot resume: no checkpoint in ${dir}`);
  try {
    return await readCheckpoint(newest);
  } catch (e) {
    const truncated = e instanceof CheckpointError && e.cause instanceof SafetensorsError &&
      e.cause.truncated;
    if (!truncated) throw e;
    for (const older of all.slice(0, -1).reverse()) {
      if (await readCheckpoint(older).then(() => true, () => false)) {
        throw new CheckpointError(
          `${e.message}; the newest intact checkpoint is ${older}: delete ${newest} to resume ` +
            `from it`,
          { cause: e },
        );
      }
    }
    throw new CheckpointError(
      `${e.message}; no intact checkpoint is left in ${dir}: start afresh with --overwrite`,
      { cause: e },
    );
  }
}

/** The files and folders a dataset reads besides a data root, for the output collision check. */
function dataFiles(data: PipelineSpec["data"]): { path: string; what: string; folder?: boolean }[] {
  switch (data.kind) {
    case "tensor":
      return (data.sources ?? []).map((path) => ({ path, what: "a data file of the dataset" }));
    case "idx":
      return [data.train.images, data.train.labels, data.test.images, data.test.labels]
        .map((path) => ({ path, what: "an IDX file of the dataset (idxDataset)" }));
    case "image-folder":
      return [data.train, data.test]
        .map((path) => ({ path, what: "an image folder of the dataset", folder: true }));
    default:
      return [];
  }
}

/** The paths of the ONNX files the model imports (`fromOnnx(path)`), anywhere in its tree. */
function onnxSources(layer: unknown): string[] {
  const l = layer as {
    kind?: string;
    source?: string;
    layers?: unknown[];
    children?: Record<string, unknown> | unknown[];
  };
  if (l?.kind === "onnx") return l.source && l.source !== "ONNX bytes" ? [l.source] : [];
  const children = l?.layers ?? Object.values(l?.children ?? {});
  return children.flatMap(onnxSources);
}

/** The longest a run goes without letting the event loop deliver a signal, in milliseconds. */
const YIELD_MS = 50;

function checkRunNumber(
  what: string,
  v: number | undefined,
  kind: "count" | "count0" | "rate",
): void {
  if (v === undefined) return;
  const ok = kind === "rate"
    ? typeof v === "number" && Number.isFinite(v) && v >= 0
    : Number.isSafeInteger(v) && v >= (kind === "count" ? 1 : 0);
  if (!ok) {
    const expected = kind === "rate"
      ? "a finite number ≥ 0"
      : `an integer ≥ ${kind === "count" ? 1 : 0}`;
    throw new UserRangeError(`Invalid ${what}: expected ${expected}, got ${v}`);
  }
}

/**
 * Loads data, compiles, trains for the given epochs and tests after each, logging as the PyTorch
 * tutorial does.
 *
 * @param spec The pipeline.
 * @param options Overrides and settings.
 * @returns Per-epoch results and the trained model.
 * @example
 * ```ts
 * import { crossEntropy, linear, pipeline, sgd, tensorDataset } from "../../mod.ts";
 * import { runPipeline } from "./run.ts";
 * const xs = Float32Array.of(0, 0, 0, 1, 1, 0, 1, 1);
 * const data = tensorDataset({
 *   train: { x: xs, y: [0, 1, 1, 1] },
 *   test: { x: xs, y: [0, 1, 1, 1] },
 *   sampleShape: [2],
 * });
 * const p = pipeline().data(data, { batchSize: 4 }).model(linear(2, 2)).loss(crossEntropy())
 *   .optimizer(sgd({ lr: 0.5 })).epochs(3);
 * const result = await runPipeline(p.props as Parameters<typeof runPipeline>[0], {
 *   seed: 1,
 *   quiet: true,
 * });
 * if (result.epochs.length !== 3 || result.seed !== 1) throw new Error();
 * if (result.exportModel().length === 0) throw new Error();
 * ```
 */
export async function runPipeline(
  spec: PipelineSpec,
  options: RunOptions = {},
): Promise<RunResult> {
  if (!options.distributed) return await runOn(spec, options, undefined);
  const comm = await openCommunicator(options.distributed);
  // Rank 0 logs and writes (metrics, plot, checkpoints, export); the others train in silence.
  const follower: RunOptions = {
    ...options,
    quiet: true,
    log: () => {},
    progress: undefined,
    metricsPath: undefined,
    plotPath: undefined,
    exportPath: undefined,
    emitDir: undefined,
  };
  try {
    return await runOn(spec, comm.rank === 0 ? options : follower, comm);
  } catch (e) {
    // A failed rank must not finalize at exit: the others may wait in a collective.
    failed = true;
    throw e;
  }
}

/** Whether a distributed run of this process failed (then MPI is not finalized at exit). */
let failed = false;

/**
 * onnxruntime threads of a rank by default: the machine's cores shared by its ranks (all of them
 * each would oversubscribe the cores, and MPI spins while it waits: 2 ranks × 2 threads on 2 cores
 * took 4× as long as 2 × 1).
 */
function sharedThreads(comm: Reducer): number {
  const cores = navigator.hardwareConcurrency || 1;
  return Math.max(1, Math.floor(cores / (localRanks() ?? comm.size)));
}

/** The communicator of `distributed`: MPI's world (`true`), or the one given. */
async function openCommunicator(distributed: true | Reducer): Promise<Reducer> {
  if (distributed !== true) return distributed;
  const { initMpi, installAbortOnError } = await import("../dist/mpi.ts");
  const comm = initMpi();
  // One process failing ends the whole job, each process naming the failed rank.
  installAbortOnError(comm);
  // MPI wants every process to finalize before it exits (else mpirun reports a failure).
  globalThis.addEventListener("unload", () => {
    if (!failed) comm.finalize();
  });
  return comm;
}

async function runOn(
  spec: PipelineSpec,
  options: RunOptions,
  comm: Reducer | undefined,
): Promise<RunResult> {
  const lead = !comm || comm.rank === 0;
  const baseLog = options.log ?? ((line: string) => console.log(line));
  // Lines go through the reporter (progress line, --quiet) once the loader exists.
  let reporter: Reporter | undefined;
  const log = (line: string) => {
    if (reporter) reporter.log(line);
    else if (!options.quiet) baseLog(line);
  };
  const epochs = options.epochs ?? spec.epochs;
  const batchSize = options.batchSize ?? spec.batchSize;
  const logEvery = options.logEvery ?? 100;
  // epochs 0 trains nothing and exports the initial (or --init) weights.
  checkRunNumber("epochs", epochs, "count0");
  checkRunNumber("batchSize", batchSize, "count");
  checkRunNumber("lr", options.lr, "rate");
  checkRunNumber("logEvery", logEvery, "count");
  checkRunNumber("keep", options.keep, "count");
  checkRunNumber("stepsPerRun", options.stepsPerRun, "count");
  const { checkpointDir, checkpointEvery } = options;
  if (options.resume && !checkpointDir) {
    throw new UserRangeError("Cannot resume: no checkpoint folder given (--checkpoint DIR)");
  }
  if (
    checkpointEvery !== undefined && !(Number.isSafeInteger(checkpointEvery) && checkpointEvery > 0)
  ) {
    throw new UserRangeError(
      `Invalid checkpointEvery: expected a positive integer, got ${checkpointEvery}`,
    );
  }

  if (options.initPartial && options.init === undefined) {
    throw new UserRangeError("Cannot load partially: no weights file given (--init PATH)");
  }
  if (options.exportPath !== undefined) await checkExportPath(options.exportPath);
  // Every output is checked before the first epoch, naming its path and option.
  if (options.emitDir !== undefined) {
    await checkOutputDir(options.emitDir, "the graphs (emitDir, --emit)");
  }
  if (options.metricsPath !== undefined) {
    await checkOutputFile(options.metricsPath, "the metrics (metricsPath, --metrics)");
  }
  if (options.plotPath !== undefined) {
    await checkOutputFile(options.plotPath, "the plot (plotPath, --plot)");
  }
  if (checkpointDir !== undefined) {
    await checkOutputDir(checkpointDir, "checkpoints (checkpointDir, --checkpoint)");
  }
  // No output may destroy an input or another output.
  await checkDistinctPaths(
    [
      [options.exportPath, "the exported model (exportPath, --export)"],
      [options.metricsPath, "the metrics (metricsPath, --metrics)"],
      [options.plotPath, "the plot (plotPath, --plot)"],
      [options.emitDir, "the graphs (emitDir, --emit)", true],
      [checkpointDir, "checkpoints (checkpointDir, --checkpoint)", true],
    ].flatMap(([path, what, folder]) =>
      path === undefined ? [] : [{ path: path as string, what: what as string, folder: !!folder }]
    ),
    [
      ...(options.init !== undefined
        ? [{ path: options.init, what: "the initial weights (init, --init)" }]
        : []),
      ...[options.dataDir ?? ("root" in spec.data ? spec.data.root : undefined)].flatMap((
        path,
      ) =>
        path !== undefined && spec.data.kind !== "tensor"
          ? [{ path, what: "the data folder (dataDir, --data-dir)", folder: true }]
          : []
      ),
      ...dataFiles(spec.data),
      ...onnxSources(spec.model).map((path) => ({ path, what: "the imported model (fromOnnx)" })),
    ],
  );
  if (options.exportRaw && spec.data.kind === "tensor") {
    throw new UserRangeError(
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
  // How the compile read imported models (frozen exporter constants, training forms), once.
  for (const line of compiled.notes) log(`note: ${line}`);
  const stepsPerRun = options.stepsPerRun ?? autoStepsPerRun(compiled, batchSize, options.device);
  const fingerprint = pipelineFingerprint(compiled);
  // Per-position class targets (sequence labels): accuracies are over non-ignored positions.
  const perPosition = compiled.train.outputs.some((o) => o.name === NAMES.counted);
  // From here on the folder belongs to this run: locked, leftovers removed, runs never mixed.
  const folder = checkpointDir === undefined || !lead
    ? undefined
    : await claimCheckpointFolder(checkpointDir, {
      resume: options.resume,
      overwrite: options.overwrite,
    });
  try {
    return await trainIn(folder);
  } finally {
    folder?.release();
  }

  async function trainIn(folder: CheckpointFolder | undefined): Promise<RunResult> {
    for (const line of folder?.notes ?? []) log(line);
    let resumed: Checkpoint | undefined;
    if (options.resume) {
      resumed = await readLatestCheckpoint(checkpointDir!);
      const path = resumed.path;
      checkFingerprint(resumed, fingerprint);
      const { seed: saved, batchSize: savedBatch } = resumed.info;
      if (options.seed !== undefined && options.seed !== saved) {
        throw new UserRangeError(
          `Cannot resume from ${path} with seed ${options.seed}: it was saved with seed ${saved}`,
        );
      }
      if (batchSize !== savedBatch) {
        throw new UserRangeError(
          `Cannot resume from ${path} with batch size ${batchSize}: it was saved with ${savedBatch}`,
        );
      }
      const savedOrder = resumed.info.dataOrder ?? "";
      if (savedOrder !== dataOrder) {
        throw new UserRangeError(
          `Cannot resume from ${path} with data order "${dataOrder || "plain"}": it was saved ` +
            `with "${savedOrder || "plain"}"`,
        );
      }
      const savedValidation = resumed.info.validation ?? 0;
      if ((spec.validation ?? 0) !== savedValidation) {
        throw new UserRangeError(
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
      throw new UserRangeError(
        "Cannot run: reduceLROnPlateau watches validationLoss, but the data has no validation " +
          "split (data(dataset, { validation: 0.1 }))",
      );
    }
    if (options.dataDir !== undefined && spec.data.kind !== "tensor") {
      // An explicit data folder must exist (a typo would otherwise start a download elsewhere).
      const info = await Deno.stat(options.dataDir).catch((e) => {
        rethrowIfNotCapable(e);
        return undefined;
      });
      if (!info?.isDirectory) {
        throw new UserRangeError(
          `Cannot load data: the data folder ${options.dataDir} (dataDir, --data-dir) ${
            info ? "is a file, not a folder" : "does not exist"
          }`,
        );
      }
    }
    const splits = await loadDataset(spec.data, { root: options.dataDir });
    for (const split of ["train", "test"] as const) {
      if (splits[split].count === 0) {
        throw new UserRangeError(
          `Cannot run: the ${split === "train" ? "training" : "test"} set is empty (0 samples)`,
        );
      }
    }
    // The held-out samples derive from the seed only, so a resumed run holds out the same ones.
    const held = spec.validation === undefined
      ? undefined
      : holdOut(splits.train.count, spec.validation, seed);
    const classNames = "classNames" in spec.data ? spec.data.classNames : undefined;
    let worker: WorkerLoader | undefined;
    const parallel = comm && comm.size > 1
      ? compileDataParallel(pipelineModelSpec(spec, options.lr))
      : undefined;
    if (options.localSgd === undefined) {
      for (const line of parallel?.notes ?? []) log(`note: ${line}`);
    }
    const trainer: Trainer = await createTrainer(compiled, {
      seed,
      device: options.device,
      threads: options.threads ?? (comm && comm.size > 1 ? sharedThreads(comm) : undefined),
      backend: options.backend,
      spinning: options.spinning,
      stepsPerRun,
      metadata: classNames ? { class_names: JSON.stringify(classNames) } : {},
      // Several processes: the step in two parts, gradients summed between them.
      ...(parallel
        ? { dataParallel: { graphs: parallel, reducer: comm!, localSgd: options.localSgd } }
        : {}),
    });
    /** Whether any process was asked to stop (all stop at the same step). */
    const stopRequested = async () => {
      const local = options.signal?.aborted ?? false;
      if (!comm || comm.size === 1) return local;
      const flag = Float32Array.of(local ? 1 : 0);
      await comm.allreduceSum(flag);
      return flag[0] > 0;
    };
    try {
      if (options.init !== undefined && resumed) {
        log(`Not initialising from ${options.init}: resuming from ${resumed.path} instead`);
      } else if (options.init !== undefined) {
        await warmStart(trainer, options.init, { partial: options.initPartial, log });
      }
      if (options.emitDir) {
        await writeFileAtomic(join(options.emitDir, "train_step.onnx"), emitModel(compiled.train));
        await writeFileAtomic(join(options.emitDir, "eval_step.onnx"), emitModel(compiled.eval));
        await writeFileAtomic(join(options.emitDir, "inference.onnx"), trainer.exportModel());
      }
      const start: Pick<
        CheckpointInfo,
        | "epoch"
        | "batch"
        | "epochLossSum"
        | "epochLr"
        | "epochCorrect"
        | "epochCounted"
        | "schedule"
      > = resumed?.info ?? { epoch: 0, batch: 0, epochLossSum: 0, epochLr: NaN, epochCorrect: 0 };
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
      if (train.batches === 0) {
        throw new UserRangeError(
          `Cannot run: ${train.size} training samples make no batch of ${batchSize} with dropLast`,
        );
      }
      const savedSamples = resumed?.info.trainSamples;
      if (resumed && savedSamples !== undefined && savedSamples !== train.size) {
        throw new UserRangeError(
          `Cannot resume from ${resumed.path} with ${train.size} training samples: it was saved ` +
            `with ${savedSamples} (the data order and each epoch's batches depend on the count); ` +
            `resume with the same data, or start afresh (--overwrite or another folder)`,
        );
      }
      reporter = createReporter({
        log: baseLog,
        epochs,
        batchesPerEpoch: train.batches,
        batchSize,
        samplesPerEpoch: train.size,
        logEvery,
        metricsPath: options.metricsPath,
        plotPath: options.plotPath,
        // The plot names the script and the run's key settings.
        title: scriptName(),
        subtitle: `${describePipeline(spec, { lr: options.lr, epochs, batchSize })} · seed ${seed}`,
        quiet: options.quiet,
        progress: options.progress,
        initialRecords: resumed && options.metricsPath
          ? await readMetrics(options.metricsPath)
          : undefined,
        resumeAt: resumed?.info,
      });
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
          `Resumed from ${resumed.path} (epoch ${
            epoch + 1
          }, batch ${batch}, step ${trainer.steps})`,
        );
        const savedLr = resumed.hyper.get("lr");
        if (options.lr !== undefined && savedLr !== undefined && options.lr !== savedLr) {
          log(
            `note: --lr ${options.lr} is not used: a resumed run continues with its checkpoint's ` +
              `learning rate ${rate(savedLr)}${
                scheduler ? " (set by its schedule)" : ""
              }; start afresh to train with another`,
          );
        }
        if (epoch >= epochs) {
          log(
            `Nothing left to train: ${resumed.path} was saved after epoch ${epoch} of ${epochs}; ` +
              `pass --epochs N with N > ${epoch} to train further`,
          );
        }
      }
      let where = { epoch: start.epoch + 1, batch: start.batch }, lastLoss = NaN;
      let lastYield = performance.now();
      // Weights that turned NaN or infinite after a finite loss are never saved nor exported.
      const checkWeights = async () => {
        const name = nonFiniteParameter(trainer);
        if (name === undefined) return;
        const step = trainer.steps;
        throw new NonFiniteLossError(
          `Training stopped: the parameter ${name} is NaN or infinite after epoch ${where.epoch}, ` +
            `step ${step} (batch ${where.batch - 1}); the learning rate ${
              rate(currentLr())
            } may be ` +
            `too high` + await keptNote(),
          { epoch: where.epoch, step, batch: where.batch - 1, loss: lastLoss },
        );
      };
      const keptNote = async () => {
        const kept = checkpointDir ? await latestCheckpoint(checkpointDir) : undefined;
        return kept ? `; the last good checkpoint is ${kept}` : "";
      };
      const save = async (
        position: Pick<
          CheckpointInfo,
          "epoch" | "batch" | "epochLossSum" | "epochLr" | "epochCorrect" | "epochCounted"
        >,
      ) => {
        await checkWeights();
        // Rank 0 alone writes checkpoints (the parameters are the same on every rank).
        if (!lead) return undefined;
        // The metrics first: whatever the checkpoint a resume starts from, they cover its steps.
        await reporter!.flush();
        return await saveCheckpoint(checkpointDir!, trainer, {
          ...position,
          seed,
          batchSize,
          validation: spec.validation ?? 0,
          trainSamples: train.size,
          ...(dataOrder ? { dataOrder } : {}),
          ...(scheduler ? { schedule: scheduler.exportState() } : {}),
        }, { fingerprint, keep: options.keep, runId: resumed?.runId ?? folder?.runId });
      };
      const currentLr = () => scheduler?.lr ?? trainer.hyper.get("lr") ?? NaN;
      const results: EpochResult[] = [];
      for (let epoch = start.epoch + 1; epoch <= epochs; epoch++) {
        for (const line of epochHeader(epoch)) log(line);
        const startTime = performance.now();
        const midEpoch = epoch === start.epoch + 1 && start.batch > 0;
        let index = midEpoch ? start.batch : 0, lossTotal = midEpoch ? start.epochLossSum : 0;
        // Correct training predictions and what they are out of so far: samples (mid-epoch batches
        // are all full), or non-ignored positions of per-position class targets.
        let correctTotal = midEpoch ? start.epochCorrect ?? NaN : 0;
        let countedTotal = midEpoch ? start.epochCounted ?? index * batchSize : 0;
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
            if (!Number.isFinite(loss)) {
              // The run's later steps already used the broken weights: stop, save and export nothing.
              const step = trainer.steps - losses.length + j + 1;
              throw new NonFiniteLossError(
                `Training stopped: the loss is ${loss} at epoch ${epoch}, step ${step} ` +
                  `(batch ${index}); the learning rate ${rate(rates[j].lr)} may be too high` +
                  await keptNote(),
                { epoch, step, batch: index, loss },
              );
            }
            lossTotal += loss;
            correctTotal += trainer.lastCorrect[j] ?? NaN;
            countedTotal += trainer.lastCounted[j] ?? group[j].size;
            lastLoss = loss;
            const event = { epoch, batch: index, loss, lr: rates[j].lr };
            reporter.onBatch(event);
            options.onBatch?.(event);
            if (index % logEvery === 0) {
              log(trainLine(loss, index * batchSize + group[j].size, train.size));
            }
            index++;
          }
          where = { epoch, batch: index };
          // Each step runs synchronously on this thread: give the event loop a turn now and then,
          // so that Ctrl-C or SIGTERM is seen within one run of steps.
          if (options.signal && performance.now() - lastYield > YIELD_MS) {
            await new Promise((resolve) => setTimeout(resolve, 0));
            lastYield = performance.now();
          }
          const position = {
            epoch: epoch - 1,
            batch: index,
            epochLossSum: lossTotal,
            epochLr: lr,
            epochCorrect: correctTotal,
            ...(perPosition ? { epochCounted: countedTotal } : {}),
          };
          const atCheckpoint = checkpointEvery !== undefined &&
            trainer.steps % checkpointEvery === 0;
          const stopping = await stopRequested();
          const saved = checkpointDir && (atCheckpoint || stopping)
            ? await save(position)
            : undefined;
          if (stopping) {
            throw new TrainingInterrupted(
              `Training interrupted at epoch ${epoch}, batch ${index}` +
                (saved ? `; saved checkpoint ${saved}` : ""),
              saved,
            );
          }
        }
        const trainSeconds = (performance.now() - startTime) / 1000;
        await checkWeights();
        let validated = {};
        if (validation) {
          const v = await trainer.evaluate(validation);
          const validationLoss = v.batchLossSum / v.batches;
          const validationAccuracy = v.correct / v.counted;
          for (const line of validationLines(validationAccuracy, validationLoss)) log(line);
          validated = { validationLoss, validationAccuracy };
        }
        const r = await trainer.evaluate(test);
        const testLoss = r.batchLossSum / r.batches;
        const accuracy = r.correct / r.counted;
        for (const line of testLines(accuracy, testLoss)) log(line);
        const result: EpochResult = {
          epoch,
          trainLoss: lossTotal / index,
          trainAccuracy: correctTotal / countedTotal,
          testLoss,
          accuracy,
          ...validated,
          trainSeconds,
          dataSeconds: dataMs / 1000,
          lr,
        };
        results.push(result);
        scheduler?.afterEpoch(result);
        // The epoch's record is written before its checkpoint (see `save`).
        await reporter.onEpoch(result);
        const saved = checkpointDir
          ? await save({ epoch, batch: 0, epochLossSum: 0, epochLr: NaN, epochCorrect: 0 })
          : undefined;
        options.onEpoch?.(result);
        if (await stopRequested() && epoch < epochs) {
          throw new TrainingInterrupted(
            `Training interrupted after epoch ${epoch}` +
              (saved ? `; saved checkpoint ${saved}` : ""),
            saved,
          );
        }
      }
      log("Done!");
      await checkWeights();
      const exported = trainer.exportModel({ raw: options.exportRaw ?? false });
      if (options.exportPath) await writeFileAtomic(options.exportPath, exported);
      return { epochs: results, seed, exportModel: () => exported };
    } finally {
      worker?.close();
      await reporter?.close();
      await trainer.release();
    }
  }
}
