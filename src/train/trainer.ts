/**
 * A trainer: holds parameters and optimizer state in host memory and runs the compiled train and
 * eval graphs on onnxruntime, one batch per `session.run`.
 * @module
 */
import type { CompiledModel, InferenceOptions } from "../compile/compile.ts";
import { NAMES } from "../compile/compile.ts";
import { type DataParallelGraphs, gradName, LOSS_WEIGHT } from "../compile/data_parallel.ts";
import { SYNC } from "../compile/sync_batch_norm.ts";
import { type Init, nextName, type RandomSpec } from "../compile/params.ts";
import type { Batch } from "../data/loader.ts";
import type { ConstTensor, TensorType } from "../ir/types.ts";
import { emitModel } from "../onnx/emit.ts";
import { emitMultiStep } from "../onnx/multi_step.ts";
import {
  createSession,
  type HostTensor,
  type Session,
  type SessionOptions,
} from "../runtime/session.ts";
import { createRng, deriveSeed, hashedUint32s, type Rng } from "../util/random.ts";
import denoJson from "../../deno.json" with { type: "json" };
import { type Reducer, shardRows, takeRows } from "./data_parallel.ts";
import { UserRangeError } from "../util/user_error.ts";

/**
 * The version of onnxtrain (deno.json's), stored as exported models' producer version.
 *
 * @example
 * ```ts
 * import { VERSION } from "./trainer.ts";
 * if (!/^\d+\.\d+\.\d+/.test(VERSION)) throw new Error();
 * ```
 */
export const VERSION: string = denoJson.version;

/**
 * Options for {@linkcode createTrainer}.
 *
 * @example
 * ```ts
 * import {
 *   compileModel,
 *   createTrainer,
 *   crossEntropy,
 *   linear,
 *   sgd,
 *   type TrainerOptions,
 * } from "../../mod.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [2], classes: 2 },
 *   model: linear(2, 2),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.5 }),
 * });
 * const batch = { x: Float32Array.of(0, 1, 1, 0), y: BigInt64Array.of(1n, 0n), size: 2 };
 * const options: TrainerOptions = {
 *   seed: 7,
 *   initial: new Map([["bias", Float32Array.of(1, -1)]]),
 * };
 * const trainer = await createTrainer(compiled, options);
 * if (trainer.params.get("bias")!.data[0] !== 1) throw new Error();
 * await trainer.release();
 * ```
 */
export interface TrainerOptions extends SessionOptions {
  /**
   * Most optimizer steps {@linkcode Trainer.stepMany} takes in one `session.run` (default 1: only
   * the one-step graph is loaded). Above 1, the K-step graph (an ONNX `Loop` around the step) is
   * loaded on first use.
   */
  readonly stepsPerRun?: number;
  /** Seeds parameter initialisation. */
  readonly seed: number;
  /** Starting values for some parameters by name, instead of their init rule. */
  readonly initial?: ReadonlyMap<string, Float32Array>;
  /** Stored in exported models' metadata_props (such as `class_names`). */
  readonly metadata?: Readonly<Record<string, string>>;
  /**
   * Data-parallel training (see `data_parallel.ts`): the gradient and update graphs of
   * `compileDataParallel`, and the communicator whose processes train together. Each `step` then
   * takes this process's rows of the global batch, sums gradients across processes and applies
   * the update (one step per run); `evaluate` shares the batches out and sums the totals.
   */
  readonly dataParallel?: {
    readonly graphs: DataParallelGraphs;
    readonly reducer: Reducer;
    /**
     * Local SGD (PyTorch's PostLocalSGD without its DDP warm-up) instead of gradient sums: each
     * process takes the whole optimizer step on its own rows, and every `localSgd` steps the
     * parameters are averaged across processes. A different algorithm, for slow interconnects:
     * one all-reduce of the parameters every H steps instead of the gradients every step.
     */
    readonly localSgd?: number;
  };
}

/**
 * Totals of one pass over evaluation data.
 *
 * @example
 * ```ts
 * import {
 *   compileModel,
 *   createTrainer,
 *   crossEntropy,
 *   type EvalResult,
 *   linear,
 *   sgd,
 * } from "../../mod.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [2], classes: 2 },
 *   model: linear(2, 2),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.5 }),
 * });
 * const batch = { x: Float32Array.of(0, 1, 1, 0), y: BigInt64Array.of(1n, 0n), size: 2 };
 * const trainer = await createTrainer(compiled, { seed: 1 });
 * const result: EvalResult = await trainer.evaluate([batch, batch]);
 * if (result.batches !== 2 || result.samples !== 4) throw new Error();
 * await trainer.release();
 * ```
 */
export interface EvalResult {
  /** Sum over batches of each batch's mean loss (the tutorial's `test_loss` before division). */
  readonly batchLossSum: number;
  /** Summed per-sample loss. */
  readonly lossSum: number;
  /**
   * Correctly classified samples (for bceWithLogits, element hits over elements per sample; for
   * per-position class targets such as `[N, T]` sequence labels, the non-ignored positions
   * predicted right); NaN when the loss has no accuracy (regression losses), so accuracy is NaN.
   */
  readonly correct: number;
  /** Batches evaluated. */
  readonly batches: number;
  /** Samples evaluated. */
  readonly samples: number;
  /**
   * What `correct` is out of, so the accuracy is `correct / counted`: the samples, or for
   * per-position class targets the non-ignored positions (tokens).
   */
  readonly counted: number;
}

/**
 * Runs training steps and evaluation for one compiled model.
 *
 * @example
 * ```ts
 * import {
 *   compileModel,
 *   createTrainer,
 *   crossEntropy,
 *   linear,
 *   sgd,
 *   type Trainer,
 * } from "../../mod.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [2], classes: 2 },
 *   model: linear(2, 2),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.5 }),
 * });
 * const batch = { x: Float32Array.of(0, 1, 1, 0), y: BigInt64Array.of(1n, 0n), size: 2 };
 * const trainer: Trainer = await createTrainer(compiled, { seed: 1 });
 * const losses = await trainer.stepMany([batch, batch]);
 * if (losses.length !== 2 || trainer.steps !== 2 || !trainer.params.has("bias")) throw new Error();
 * await trainer.release();
 * ```
 */
export interface Trainer {
  /** Current parameter values by name (PyTorch state_dict names). */
  readonly params: ReadonlyMap<string, HostTensor>;
  /** Current optimizer state by name (`0.weight.exp_avg`, `0.weight.step`, …). */
  readonly state: ReadonlyMap<string, HostTensor>;
  /** Current buffer values by name (batch norm running statistics). */
  readonly buffers: ReadonlyMap<string, HostTensor>;
  /**
   * The correct predictions of each batch of the latest `step` or `stepMany` call (empty when the
   * loss has no accuracy, such as a regression loss), for the training accuracy.
   */
  readonly lastCorrect: readonly number[];
  /**
   * What each of {@link lastCorrect} is out of: each batch's size, or for per-position class
   * targets its non-ignored positions (empty when the loss has no accuracy).
   */
  readonly lastCounted: readonly number[];
  /** Training steps taken; dropout masks are drawn from the seed and this number. */
  readonly steps: number;
  /** Current hyperparameter values by name (`lr`), fed each step. */
  readonly hyper: Map<string, number>;
  /** One optimizer step on a batch; returns the batch's mean loss. */
  step(batch: Batch): Promise<number>;
  /**
   * Consecutive optimizer steps on batches of equal size, up to `stepsPerRun` of them in one
   * `session.run` of the K-step graph; the same results, bit for bit, as `step` on each batch in
   * turn. `hyper[j]` gives step j's hyperparameters (default: the current ones for every step).
   * Returns each batch's mean loss.
   */
  stepMany(
    batches: readonly Batch[],
    hyper?: readonly ReadonlyMap<string, number>[],
  ): Promise<number[]>;
  /** Evaluates on batches without changing anything. */
  evaluate(batches: Iterable<Batch>): Promise<EvalResult>;
  /**
   * The inference model (input → logits) with the current parameters, as ONNX bytes; its
   * producer is `onnxtrain` {@linkcode VERSION} and its metadata_props the options' `metadata`.
   * With `raw`, it takes uint8 images and applies ToTensor (and any normalisation) itself.
   */
  exportModel(options?: InferenceOptions): Uint8Array;
  /**
   * Replaces current values (as when resuming from a checkpoint): each given tensor must name an
   * existing parameter, buffer or optimizer state and match its dtype and shape; values not given
   * are kept. `steps` sets the step counter that dropout masks derive from.
   */
  load(snapshot: TrainerSnapshot): void;
  /** Frees the sessions. */
  release(): Promise<void>;
}

/**
 * Values for {@linkcode Trainer.load}.
 *
 * @example
 * ```ts
 * import {
 *   compileModel,
 *   createTrainer,
 *   crossEntropy,
 *   linear,
 *   sgd,
 *   type TrainerSnapshot,
 * } from "../../mod.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [2], classes: 2 },
 *   model: linear(2, 2),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.5 }),
 * });
 * const batch = { x: Float32Array.of(0, 1, 1, 0), y: BigInt64Array.of(1n, 0n), size: 2 };
 * const trainer = await createTrainer(compiled, { seed: 1 });
 * const snapshot: TrainerSnapshot = {
 *   params: new Map([["bias", { dtype: "float32", dims: [2], data: Float32Array.of(5, 6) }]]),
 *   steps: 10,
 * };
 * trainer.load(snapshot);
 * if (trainer.steps !== 10 || trainer.params.get("bias")!.data[1] !== 6) throw new Error();
 * await trainer.release();
 * ```
 */
export interface TrainerSnapshot {
  /** Parameter values by name. */
  readonly params?: ReadonlyMap<string, HostTensor>;
  /** Buffer values by name (batch norm statistics). */
  readonly buffers?: ReadonlyMap<string, HostTensor>;
  /** Optimizer state by name (`0.weight.exp_avg`). */
  readonly state?: ReadonlyMap<string, HostTensor>;
  /** The step counter. */
  readonly steps?: number;
}

/** Checks `given` against `current`; returns how to copy it in (see {@linkcode Trainer.load}). */
function loadInto(
  kind: string,
  current: Map<string, HostTensor>,
  given: ReadonlyMap<string, HostTensor> | undefined,
): () => void {
  for (const [name, t] of given ?? []) {
    const now = current.get(name);
    if (!now) {
      throw new UserRangeError(
        `Cannot load ${kind} ${name}: the model has no such ${kind} (it has ${
          [...current.keys()].join(", ") || "none"
        })`,
      );
    }
    if (now.dtype !== t.dtype || now.dims.join() !== t.dims.join()) {
      throw new UserRangeError(
        `Cannot load ${kind} ${name}: expected ${now.dtype} [${now.dims}], got ${t.dtype} [${t.dims}]`,
      );
    }
  }
  return () => {
    for (const [name, t] of given ?? []) {
      current.set(name, { dtype: t.dtype, dims: t.dims, data: t.data });
    }
  };
}

/**
 * Fills a tensor as its init rule says: uniform draws are `U(−bound, bound)` from `rng`, normal
 * draws `N(0, std²)` by Box–Muller.
 *
 * @param shape Tensor shape.
 * @param init Init rule.
 * @param rng Generator.
 * @returns The float32 data.
 */
export function initTensor(shape: readonly number[], init: Init, rng: Rng): Float32Array {
  const data = new Float32Array(shape.reduce((a, d) => a * d, 1));
  switch (init.kind) {
    case "uniform": {
      const { bound } = init;
      for (let i = 0; i < data.length; i++) data[i] = -bound + 2 * bound * rng.nextFloat();
      break;
    }
    case "normal":
      // Box–Muller, two draws per value, so the stream position depends only on the size.
      for (let i = 0; i < data.length; i++) {
        const u = 1 - rng.nextFloat(), v = rng.nextFloat();
        data[i] = init.std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
      }
      if (init.zeroRow !== undefined) {
        const row = data.length / shape[0];
        data.fill(0, init.zeroRow * row, (init.zeroRow + 1) * row);
      }
      break;
    case "constant":
      data.fill(init.value);
      break;
    case "zeros":
      break;
    case "tensor":
      if (init.data.length !== data.length) {
        throw new UserRangeError(
          `Cannot initialise a tensor of shape [${shape}] from ${init.data.length} values`,
        );
      }
      data.set(init.data);
      break;
  }
  return data;
}

/**
 * A dropout mask for one step: each element is 1/(1 − p) with probability 1 − p, else 0 (as
 * `nn.Dropout`'s `bernoulli_(1 − p).div_(1 − p)`), drawn from a seed derived from the run's seed,
 * the step and the mask's index.
 *
 * @param spec The mask.
 * @param batchSize The value of the symbolic batch dimension `N`.
 * @param seed The derived seed.
 * @returns The mask tensor.
 */
export function dropoutMask(spec: RandomSpec, batchSize: number, seed: number): HostTensor {
  const dims = spec.shape.map((d) => (typeof d === "number" ? d : batchSize));
  const data = new Float32Array(dims.reduce((a, d) => a * d, 1));
  // Keep where a uniform 32-bit draw is below (1 − p)·2³²; the draws are a counter-based hash of
  // (seed, index), so any mask is recreated from its coordinates alone.
  const threshold = Math.floor((1 - spec.p) * 2 ** 32), scale = Math.fround(1 / (1 - spec.p));
  const draws = hashedUint32s(seed, new Uint32Array(data.length));
  for (let i = 0; i < data.length; i++) data[i] = draws[i] < threshold ? scale : 0;
  return { dtype: "float32", dims, data };
}

/** Feeds of a batch (input and target) plus the given named tensors. */
function batchFeeds(
  batch: Batch,
  compiled: CompiledModel,
  ...named: ReadonlyMap<string, HostTensor>[]
): Record<string, HostTensor> {
  const dims = (t: TensorType) => [batch.size, ...(t.shape.slice(1) as number[])];
  const { inputType: x, targetType: y } = compiled;
  const feeds: Record<string, HostTensor> = {
    [NAMES.input]: { dtype: x.dtype, dims: dims(x), data: batch.x },
    [NAMES.target]: { dtype: y.dtype, dims: dims(y), data: batch.y },
  };
  for (const tensors of named) for (const [name, t] of tensors) feeds[name] = t;
  return feeds;
}

/**
 * Most evaluation batches in one `session.run` of the K-step eval graph (a `Loop` with per-batch
 * loss sums and correct counts as scan outputs; nothing is carried, so K costs only input memory).
 * @example
 * ```ts
 * import { EVAL_STEPS_PER_RUN } from "./trainer.ts";
 * if (EVAL_STEPS_PER_RUN !== 64) throw new Error();
 * ```
 */
export const EVAL_STEPS_PER_RUN = 64;

/** Stacks tensors of one dtype and shape into a `[K, …]` slab. */
function stack(tensors: readonly HostTensor[]): HostTensor {
  const [first] = tensors, n = first.data.length;
  const Ctor = first.data.constructor as { new (length: number): HostTensor["data"] };
  const data = new Ctor(n * tensors.length);
  tensors.forEach((t, j) => (data as Float32Array).set(t.data as Float32Array, j * n));
  return { dtype: first.dtype, dims: [tensors.length, ...first.dims], data };
}

/**
 * Creates a trainer: initialises parameters from the seed and loads the train and eval graphs.
 *
 * @param compiled The compiled model.
 * @param options Seed, device, threads.
 * @returns The trainer.
 * @example
 * ```ts
 * import { compileModel, createTrainer, crossEntropy, linear, sgd } from "../../mod.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [2], classes: 2 },
 *   model: linear(2, 2),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.5 }),
 * });
 * const trainer = await createTrainer(compiled, { seed: 1 });
 * const batch = { x: Float32Array.of(0, 1, 1, 0), y: BigInt64Array.of(1n, 0n), size: 2 };
 * const first = await trainer.step(batch);
 * for (let i = 0; i < 20; i++) await trainer.step(batch);
 * const { lossSum, correct, samples } = await trainer.evaluate([batch]);
 * if (!(lossSum / samples < first) || correct !== 2 || trainer.steps !== 21) throw new Error();
 * await trainer.release();
 * ```
 */
export async function createTrainer(
  compiled: CompiledModel,
  options: TrainerOptions,
): Promise<Trainer> {
  const rng = createRng(options.seed);
  const params = new Map<string, HostTensor>();
  for (const p of compiled.params) {
    const data = initTensor(p.shape, p.init, rng);
    const given = options.initial?.get(p.name);
    if (given) {
      if (given.length !== data.length) {
        throw new UserRangeError(
          `Cannot set parameter ${p.name}: expected ${data.length} values for shape [${p.shape}], got ${given.length}`,
        );
      }
      data.set(given);
    }
    params.set(p.name, { dtype: "float32", dims: p.shape, data });
  }
  const state = new Map<string, HostTensor>();
  for (const s of compiled.state) {
    state.set(s.name, { dtype: "float32", dims: s.shape, data: initTensor(s.shape, s.init, rng) });
  }
  const hyper = new Map(compiled.hyper.map((h) => [h.name, h.value]));
  const buffers = new Map<string, HostTensor>();
  for (const s of compiled.buffers) {
    const values = initTensor(s.shape, s.init, rng);
    const data = s.dtype === "int64" ? BigInt64Array.from(values, (v) => BigInt(v)) : values;
    buffers.set(s.name, { dtype: s.dtype, dims: s.shape, data });
  }
  let steps = 0, lastCorrect: number[] = [], lastCounted: number[] = [];
  const augmentInputs = compiled.train.inputs.map((p) => p.name)
    .filter((name) => name === NAMES.augmentRows || name === NAMES.augmentCols);

  const dp = options.dataParallel;
  // Data-parallel training runs the gradient and update graphs instead of the fused step.
  const localSgd = dp?.localSgd;
  if (localSgd !== undefined && !(Number.isSafeInteger(localSgd) && localSgd >= 1)) {
    throw new UserRangeError(`Invalid localSgd: expected an integer ≥ 1, got ${localSgd}`);
  }
  // Data-parallel training runs the gradient and update graphs instead of the fused step (local
  // SGD runs the fused step on each process's rows).
  const train = dp && localSgd === undefined
    ? undefined
    : await createSession(emitModel(compiled.train), options);
  const gradientSession = dp && !dp.graphs.sync
    ? await createSession(emitModel(dp.graphs.gradients), options)
    : undefined;
  const updateSession = dp && await createSession(emitModel(dp.graphs.update), options);
  const evaluator = await createSession(emitModel(compiled.eval), options);
  const stepsPerRun = options.stepsPerRun ?? 1;
  if (!Number.isSafeInteger(stepsPerRun) || stepsPerRun < 1) {
    throw new UserRangeError(`Invalid stepsPerRun: expected an integer ≥ 1, got ${stepsPerRun}`);
  }
  const trainOutputs = new Set(compiled.train.outputs.map((p) => p.name));
  const carried = [...params.keys(), ...state.keys(), ...buffers.keys()]
    .filter((name) => trainOutputs.has(nextName(name)));
  const sliced = [
    NAMES.input,
    NAMES.target,
    ...augmentInputs,
    ...compiled.random.map((r) => r.name),
    ...compiled.hyper.map((h) => h.name),
  ];
  let multi: Promise<Session> | undefined, multiEvalSession: Promise<Session> | undefined;
  const multiEval = () =>
    multiEvalSession ??= createSession(
      emitMultiStep(compiled.eval, {
        sliced: [NAMES.input, NAMES.target],
        carried: [],
        scanned: compiled.eval.outputs.map((o) => o.name).filter((n) => n !== NAMES.logits),
        dropped: [NAMES.logits],
      }),
      options,
    );
  const multiStep = () =>
    multi ??= createSession(
      emitMultiStep(compiled.train, {
        sliced,
        carried: carried.map((name) => ({ input: name, output: nextName(name) })),
        scanned: [NAMES.loss, NAMES.correct, NAMES.counted].filter((n) => trainOutputs.has(n)),
      }),
      options,
    );

  /**
   * The per-step feeds of the batch taken `ahead` steps from now: the batch (and its own feeds,
   * such as augmentation windows), its dropout masks and its hyperparameters.
   */
  const stepFeeds = (batch: Batch, ahead: number, stepHyper: ReadonlyMap<string, number>) => {
    const feeds: Record<string, HostTensor> = { ...batchFeeds(batch, compiled), ...batch.feeds };
    compiled.random.forEach((spec, i) => {
      feeds[spec.name] = dropoutMask(spec, batch.size, deriveSeed(options.seed, steps + ahead, i));
    });
    for (const [name, v] of stepHyper) {
      feeds[name] = { dtype: "float32", dims: [], data: Float32Array.of(v) };
    }
    return feeds;
  };

  /** Feeds of one step: its per-step feeds and the current tensors. */
  const oneStepFeeds = (batch: Batch, stepHyper: ReadonlyMap<string, number>) => {
    const feeds = stepFeeds(batch, 0, stepHyper);
    for (const [name, t] of [...params, ...buffers, ...state]) feeds[name] = t;
    return feeds;
  };

  /** Feeds of K steps: each per-step tensor stacked into a `[K, …]` slab. */
  const slabFeeds = (
    batches: readonly Batch[],
    stepHyper: (j: number) => ReadonlyMap<string, number>,
  ) => {
    const perStep = batches.map((batch, j) => stepFeeds(batch, j, stepHyper(j)));
    const feeds: Record<string, HostTensor> = {};
    for (const name of sliced) {
      if (!perStep[0][name]) continue;
      feeds[name] = stack(perStep.map((f) => f[name]));
    }
    for (const [name, t] of [...params, ...buffers, ...state]) feeds[name] = t;
    return feeds;
  };

  const scalar = (v: number): HostTensor => ({
    dtype: "float32",
    dims: [],
    data: Float32Array.of(v),
  });
  /** The feeds of `graph`'s inputs, by name, from `lookup`. */
  const feedsOf = (
    graph: { readonly inputs: readonly { readonly name: string }[] },
    lookup: (name: string) => HostTensor | undefined,
  ) => {
    const feeds: Record<string, HostTensor> = {};
    for (const { name } of graph.inputs) {
      const t = lookup(name);
      if (!t) throw new Error(`data-parallel step: no value for the graph input ${name}`);
      feeds[name] = t;
    }
    return feeds;
  };
  /**
   * A data-parallel run's figures into `figures[0..2]`, to be summed across processes: its loss
   * (times `weight`, where the graph's loss is not weighted already), correct count, and what
   * that is out of (the rows, or the non-ignored positions).
   */
  const putFigures = (
    figures: Float32Array,
    out: Record<string, HostTensor>,
    rows: number,
    weight = 1,
  ) => {
    figures[0] = (out[NAMES.loss].data[0] as number) * weight;
    figures[1] = out[NAMES.correct] ? Number(out[NAMES.correct].data[0]) : 0;
    figures[2] = out[NAMES.counted] ? Number(out[NAMES.counted].data[0]) : rows;
  };
  /** Records a summed step's counts, when the graph that made them counts correct predictions. */
  const recordCounts = (
    figures: Float32Array,
    batch: Batch,
    outputs: readonly { readonly name: string }[],
  ) => {
    if (!outputs.some((o) => o.name === NAMES.correct)) return;
    lastCorrect.push(figures[1]);
    lastCounted.push(outputs.some((o) => o.name === NAMES.counted) ? figures[2] : batch.size);
  };
  const sync = dp?.graphs.sync;
  const syncSessions = sync && {
    forward: await Promise.all(sync.forward.map((g) => createSession(emitModel(g), options))),
    backward: await Promise.all(sync.backward.map((g) => createSession(emitModel(g), options))),
  };
  /**
   * Synchronised batch norm (see `compile/sync_batch_norm.ts`): the forward segments with the
   * global statistics summed between them, then the backward segments in reverse with the
   * statistics' gradients summed and folded into each segment's input gradient. Fills `flat`'s
   * loss, counts and gradients (this process's weighted share) and updates the running statistics
   * with the global ones.
   */
  const syncedGradients = async (
    batch: Batch,
    rows: readonly number[],
    full: Record<string, HostTensor>,
    flat: Float32Array,
    lengths: readonly number[],
  ) => {
    const { reducer } = dp!;
    const norms = sync!.norms, K = norms.length;
    const acts: HostTensor[] = [];
    const stats: { mean: Float32Array; variance: Float32Array; mean64: Float64Array; M: number }[] =
      [];
    const local = (name: string) =>
      full[name] ? takeRows(full[name], rows) : params.get(name) ?? buffers.get(name);
    const segmentValue = (k: number, up?: HostTensor) => (name: string) =>
      name === SYNC.a
        ? acts[k]
        : name === SYNC.mean
        ? { dtype: "float32" as const, dims: [norms[k - 1].channels], data: stats[k - 1].mean }
        : name === SYNC.var
        ? { dtype: "float32" as const, dims: [norms[k - 1].channels], data: stats[k - 1].variance }
        : name === SYNC.gradOut
        ? up
        : name === LOSS_WEIGHT
        ? scalar(rows.length / batch.size)
        : local(name);
    /** The channel of each element of a `[n, c, …]` tensor. */
    const channelOf = (t: HostTensor, c: number) => {
      const per = (t.dims.slice(2) as number[]).reduce((a, d) => a * d, 1);
      return (i: number) => Math.floor(i / per) % c;
    };
    for (let k = 0; k < K; k++) {
      const c = norms[k].channels;
      let a: HostTensor | undefined;
      if (rows.length > 0) {
        const out = await syncSessions!.forward[k].run(feedsOf(sync!.forward[k], segmentValue(k)));
        a = out[SYNC.out];
      }
      acts[k + 1] = a!;
      // Σa and the count, then Σ(a − μ)²: the global mean and (biased) variance, in float64.
      const sums = new Float64Array(c + 1);
      if (a) {
        const at = channelOf(a, c), data = a.data as Float32Array;
        for (let i = 0; i < data.length; i++) sums[at(i)] += data[i];
        sums[c] = data.length / c;
      }
      await reducer.allreduceSumF64(sums);
      const M = sums[c], mean64 = sums.subarray(0, c).map((v) => v / M);
      const squares = new Float64Array(c);
      if (a) {
        const at = channelOf(a, c), data = a.data as Float32Array;
        for (let i = 0; i < data.length; i++) {
          const d = data[i] - mean64[at(i)];
          squares[at(i)] += d * d;
        }
      }
      await reducer.allreduceSumF64(squares);
      stats[k] = {
        mean: Float32Array.from(mean64),
        variance: Float32Array.from(squares, (v) => v / M),
        mean64,
        M,
      };
    }
    const grads = new Map<string, Float32Array>();
    let up: HostTensor | undefined;
    for (let k = K; k >= 0; k--) {
      let out: Record<string, HostTensor> | undefined;
      if (rows.length > 0) {
        out = await syncSessions!.backward[k].run(
          feedsOf(sync!.backward[k], segmentValue(k, up)),
        );
        for (const [name, t] of Object.entries(out)) {
          if (name.endsWith(".grad")) grads.set(name, t.data as Float32Array);
        }
        if (k === K) putFigures(flat, out, rows.length);
      }
      if (k === 0) break;
      // The statistics' gradients, summed, folded into the segment input's gradient:
      // ∂μ/∂a = 1/M and ∂σ²/∂a = 2(a − μ)/M for every value a of the channel.
      const c = norms[k - 1].channels, { M, mean64 } = stats[k - 1];
      const g = new Float32Array(2 * c);
      if (out) {
        g.set(out[SYNC.gradMean].data as Float32Array, 0);
        g.set(out[SYNC.gradVar].data as Float32Array, c);
      }
      await reducer.allreduceSum(g);
      if (out) {
        const a = acts[k], gradA = out[SYNC.gradA], data = a.data as Float32Array;
        const at = channelOf(a, c), from = gradA.data as Float32Array;
        const folded = new Float32Array(from.length);
        for (let i = 0; i < from.length; i++) {
          const ch = at(i);
          folded[i] = from[i] + g[ch] / M + g[c + ch] * 2 * (data[i] - mean64[ch]) / M;
        }
        up = { dtype: "float32", dims: gradA.dims, data: folded };
      }
    }
    let at = 3;
    dp!.graphs.trained.forEach((name, i) => {
      const g = grads.get(gradName(name));
      if (g) flat.set(g, at);
      at += lengths[i];
    });
    // The running statistics from the global ones, blended as BatchNormalization's training
    // mode does in float32 (the variance unbiased by M/(M − 1)).
    norms.forEach((norm, k) => {
      const { mean, variance, M } = stats[k];
      const m = Math.fround(norm.momentum), keep = Math.fround(1 - norm.momentum);
      const unbias = Math.fround(M / (M - 1));
      const blend = (name: string, stat: Float32Array, scale: number) => {
        const old = buffers.get(name)!;
        const next = (old.data as Float32Array).map((r, i) =>
          Math.fround(Math.fround(r * keep) + Math.fround(Math.fround(stat[i] * scale) * m))
        );
        buffers.set(name, { dtype: "float32", dims: old.dims, data: next });
      };
      blend(`${norm.path}.running_mean`, mean, 1);
      blend(`${norm.path}.running_var`, variance, unbias);
      const tracked = `${norm.path}.num_batches_tracked`, count = buffers.get(tracked);
      if (count) {
        const data = BigInt64Array.of((count.data as BigInt64Array)[0] + 1n);
        buffers.set(tracked, { dtype: "int64", dims: count.dims, data });
      }
    });
  };

  /**
   * One local-SGD step: the fused step on this process's rows; the loss and counts summed across
   * processes for the log; every `localSgd` steps the parameters averaged.
   */
  const localSgdStep = async (batch: Batch, stepHyper: ReadonlyMap<string, number>) => {
    const { reducer } = dp!;
    const rows = shardRows(batch.size, reducer.rank, reducer.size);
    const summary = new Float32Array(3);
    if (rows.length > 0) {
      const full = stepFeeds(batch, 0, stepHyper);
      const feeds: Record<string, HostTensor> = {};
      for (const { name } of compiled.train.inputs) {
        const t = full[name] && !stepHyper.has(name)
          ? takeRows(full[name], rows)
          : full[name] ?? params.get(name) ?? buffers.get(name) ?? state.get(name);
        if (t) feeds[name] = t;
      }
      const out = await train!.run(feeds);
      for (const name of params.keys()) params.set(name, out[nextName(name)]);
      for (const name of state.keys()) state.set(name, out[nextName(name)]);
      for (const name of buffers.keys()) {
        if (out[nextName(name)]) buffers.set(name, out[nextName(name)]);
      }
      putFigures(summary, out, rows.length, rows.length / batch.size);
    }
    await reducer.allreduceSum(summary);
    steps++;
    if (steps % localSgd! === 0) {
      // Every process's parameters, averaged: one all-reduce of one flat buffer.
      const names = [...params.keys()];
      const flat = new Float32Array(
        names.reduce((n, name) => n + params.get(name)!.data.length, 0),
      );
      let at = 0;
      for (const name of names) {
        flat.set(params.get(name)!.data as Float32Array, at);
        at += params.get(name)!.data.length;
      }
      await reducer.allreduceSum(flat);
      at = 0;
      for (const name of names) {
        const t = params.get(name)!, n = t.data.length;
        const data = flat.slice(at, at + n).map((v) => v / reducer.size);
        params.set(name, { dtype: "float32", dims: t.dims, data });
        at += n;
      }
    }
    recordCounts(summary, batch, compiled.train.outputs);
    return summary[0];
  };

  /** One data-parallel step: this process's rows, gradients summed across processes, update. */
  const dataParallelStep = async (batch: Batch, stepHyper: ReadonlyMap<string, number>) => {
    const { graphs, reducer } = dp!;
    const rows = shardRows(batch.size, reducer.rank, reducer.size);
    const full = stepFeeds(batch, 0, new Map());
    const lengths = graphs.trained.map((name) => params.get(name)!.data.length);
    // One flat buffer, one all-reduce: loss, correct, counted, then every gradient.
    const flat = new Float32Array(3 + lengths.reduce((a, n) => a + n, 0));
    const gradOutputs = new Set(graphs.gradients.outputs.map((o) => o.name));
    if (graphs.sync) {
      await syncedGradients(batch, rows, full, flat, lengths);
    } else if (rows.length > 0) {
      const out = await gradientSession!.run(
        feedsOf(
          graphs.gradients,
          (name) =>
            name === LOSS_WEIGHT
              ? scalar(rows.length / batch.size)
              : full[name]
              ? takeRows(full[name], rows)
              : params.get(name) ?? buffers.get(name),
        ),
      );
      putFigures(flat, out, rows.length);
      let at = 3;
      graphs.trained.forEach((name, i) => {
        flat.set(out[gradName(name)].data as Float32Array, at);
        at += lengths[i];
      });
      // Batch-norm statistics stay this process's own (PyTorch DDP's default).
      for (const name of buffers.keys()) {
        if (gradOutputs.has(nextName(name))) buffers.set(name, out[nextName(name)]);
      }
    }
    await reducer.allreduceSum(flat);
    const grads = new Map<string, HostTensor>();
    let at = 3;
    graphs.trained.forEach((name, i) => {
      const dims = params.get(name)!.dims;
      grads.set(gradName(name), {
        dtype: "float32",
        dims,
        data: flat.subarray(at, at + lengths[i]),
      });
      at += lengths[i];
    });
    const next = await updateSession!.run(
      feedsOf(graphs.update, (name) =>
        params.get(name) ?? grads.get(name) ?? state.get(name) ??
          (stepHyper.has(name) ? scalar(stepHyper.get(name)!) : undefined)),
    );
    for (const name of graphs.trained) params.set(name, next[nextName(name)]);
    for (const name of state.keys()) {
      if (next[nextName(name)]) state.set(name, next[nextName(name)]);
    }
    steps++;
    recordCounts(flat, batch, graphs.gradients.outputs);
    return flat[0];
  };

  const evaluateLocal = async (batches: Iterable<Batch>): Promise<EvalResult> => {
    let batchLossSum = 0, lossSum = 0, correct = 0, count = 0, samples = 0, counted = 0;
    const evalOutputs = new Set(compiled.eval.outputs.map((o) => o.name));
    const hasCorrect = evalOutputs.has(NAMES.correct);
    const fetch = [NAMES.lossSum, NAMES.correct, NAMES.counted].filter((n) => evalOutputs.has(n));
    const add = (size: number, out: Record<string, HostTensor>, j: number) => {
      const sum = out[NAMES.lossSum].data[j] as number;
      // PyTorch's loop adds each batch's mean loss as a Python float (double).
      batchLossSum += Math.fround(sum / size);
      lossSum += sum;
      correct += hasCorrect ? Number(out[NAMES.correct].data[j]) : NaN;
      counted += out[NAMES.counted] ? Number(out[NAMES.counted].data[j]) : size;
      count++;
      samples += size;
    };
    // Runs of equal-size batches go through the K-step eval graph, EVAL_STEPS_PER_RUN at most.
    let group: Batch[] = [];
    const flush = async () => {
      if (group.length === 1) {
        const out = await evaluator.run(batchFeeds(group[0], compiled, params, buffers), fetch);
        add(group[0].size, out, 0);
      } else if (group.length > 1) {
        const feeds: Record<string, HostTensor> = {};
        const each = group.map((b) => batchFeeds(b, compiled));
        for (const name of [NAMES.input, NAMES.target]) {
          feeds[name] = stack(each.map((f) => f[name]));
        }
        for (const [name, t] of [...params, ...buffers]) feeds[name] = t;
        const out = await (await multiEval()).run(feeds);
        group.forEach((b, j) => add(b.size, out, j));
      }
      group = [];
    };
    for (const batch of batches) {
      if (group.length && (group[0].size !== batch.size || group.length === EVAL_STEPS_PER_RUN)) {
        await flush();
      }
      group.push(batch);
    }
    await flush();
    return { batchLossSum, lossSum, correct, batches: count, samples, counted };
  };

  const trainer: Trainer = {
    params,
    state,
    buffers,
    get steps() {
      return steps;
    },
    get lastCorrect() {
      return lastCorrect;
    },
    get lastCounted() {
      return lastCounted;
    },
    hyper,
    async step(batch) {
      return (await trainer.stepMany([batch]))[0];
    },
    async stepMany(batches, hyperPerStep) {
      const k = batches.length, size = batches[0]?.size;
      if (k === 0) return [];
      if (!batches.every((b) => b.size === size)) {
        throw new UserRangeError(
          `Cannot take several steps in one run: batches must have equal sizes, got ${
            batches.map((b) => b.size).join(", ")
          }`,
        );
      }
      if (hyperPerStep && hyperPerStep.length !== k) {
        throw new UserRangeError(
          `Cannot take ${k} steps: got hyperparameters for ${hyperPerStep.length} steps`,
        );
      }
      const hyperAt = (j: number) => hyperPerStep?.[j] ?? hyper;
      const results: number[] = [];
      lastCorrect = [];
      lastCounted = [];
      if (dp) {
        for (const [j, batch] of batches.entries()) {
          const step = localSgd === undefined ? dataParallelStep : localSgdStep;
          results.push(await step(batch, hyperAt(j)));
        }
        return results;
      }
      for (let done = 0; done < k;) {
        const n = Math.min(stepsPerRun, k - done);
        const part = batches.slice(done, done + n);
        const feeds = n === 1
          ? oneStepFeeds(part[0], hyperAt(done))
          : slabFeeds(part, (j) => hyperAt(done + j));
        for (const name of augmentInputs) {
          if (!feeds[name]) {
            throw new UserRangeError(
              `Cannot run a training step: the train graph augments its images and needs the ` +
                `batch's ${name} (batches from createLoader with the pipeline's augment option)`,
            );
          }
        }
        const session = n === 1 ? train! : await multiStep();
        const out = await session.run(feeds);
        for (const name of params.keys()) params.set(name, out[nextName(name)]);
        for (const name of state.keys()) state.set(name, out[nextName(name)]);
        for (const name of buffers.keys()) {
          const next = out[nextName(name)];
          if (next) buffers.set(name, next);
        }
        steps += n;
        done += n;
        results.push(...(out[NAMES.loss].data as Float32Array));
        const hits = out[NAMES.correct]?.data, counted = out[NAMES.counted]?.data;
        if (hits) {
          for (const h of hits) lastCorrect.push(Number(h));
          part.forEach((b, j) => lastCounted.push(counted ? Number(counted[j]) : b.size));
        }
      }
      return results;
    },
    async evaluate(batches) {
      if (dp && dp.reducer.size > 1) {
        // Batch k is evaluated by process k mod N; the totals are summed.
        const { rank, size } = dp.reducer;
        const mine = [...batches].filter((_, k) => k % size === rank);
        const r = await evaluateLocal(mine);
        const t = Float64Array.of(
          r.batchLossSum,
          r.lossSum,
          r.correct,
          r.batches,
          r.samples,
          r.counted,
        );
        await dp.reducer.allreduceSumF64(t);
        const [batchLossSum, lossSum, correct, count, samples, counted] = t;
        return { batchLossSum, lossSum, correct, batches: count, samples, counted };
      }
      return await evaluateLocal(batches);
    },
    exportModel(exportOptions?: InferenceOptions) {
      const values = new Map<string, ConstTensor>();
      for (const [name, t] of [...params, ...buffers]) {
        values.set(name, { dtype: t.dtype, shape: t.dims, data: t.data });
      }
      return emitModel(compiled.inference(values, exportOptions), {
        docString: "Exported by onnxtrain",
        producerVersion: VERSION,
        metadata: options.metadata,
      });
    },
    load(snapshot) {
      const { steps: at = steps } = snapshot;
      if (!Number.isSafeInteger(at) || at < 0) {
        throw new UserRangeError(`Cannot load steps: expected an integer ≥ 0, got ${at}`);
      }
      const commits = [
        loadInto("parameter", params, snapshot.params),
        loadInto("buffer", buffers, snapshot.buffers),
        loadInto("optimizer state", state, snapshot.state),
      ];
      for (const commit of commits) commit();
      steps = at;
    },
    async release() {
      await train?.release();
      await gradientSession?.release();
      for (const session of [...syncSessions?.forward ?? [], ...syncSessions?.backward ?? []]) {
        await session.release();
      }
      await updateSession?.release();
      await evaluator.release();
      if (multi) await (await multi).release();
      if (multiEvalSession) await (await multiEvalSession).release();
    },
  };
  return Object.freeze(trainer);
}
