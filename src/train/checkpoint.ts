/**
 * Checkpoints: one safetensors file per checkpoint holding a trainer's parameters and buffers
 * (under their PyTorch state_dict names, so `model.load_state_dict(load_file(path), strict=False)`
 * reads them), its optimizer state (prefixed `optimizer.`), and in `__metadata__` everything else
 * an exact resume needs: step and epoch counters, the position in the epoch, the schedule's
 * state, the hyperparameters, the run's seed (which fixes the data order and the dropout masks)
 * and a fingerprint of the compiled pipeline. Files are written atomically and the last K kept.
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { type CompiledModel, NAMES } from "../compile/compile.ts";
import { describeFsError, writeFileAtomic } from "../io/atomic_write.ts";
import {
  decodeSafetensors,
  decodeSafetensorsMetadata,
  encodeSafetensors,
  type SafeTensor,
  SafetensorsError,
} from "../io/safetensors.ts";
import type { HostTensor } from "../runtime/session.ts";
import type { SchedulerState } from "./schedule.ts";
import type { Trainer } from "./trainer.ts";
import { UserRangeError } from "../util/user_error.ts";

/** The `format` metadata value of a checkpoint file. */
export const CHECKPOINT_FORMAT = "onnxtrain.checkpoint.v1";
const STATE_PREFIX = "optimizer.";
const FILE = /^checkpoint-(\d+)\.safetensors$/;

/**
 * A checkpoint that cannot be used: malformed, of another pipeline, or missing.
 *
 * @example
 * ```ts
 * import { CheckpointError } from "./checkpoint.ts";
 * const e = new CheckpointError("Cannot read checkpoint a.safetensors: not a checkpoint");
 * if (e.name !== "CheckpointError") throw new Error();
 * ```
 */
export class CheckpointError extends Error {
  /**
   * Creates the error.
   *
   * @param message What failed, naming the file.
   * @param options The underlying error as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CheckpointError";
  }
}

/**
 * Where a run stands, besides the trainer's tensors.
 *
 * @example
 * ```ts
 * import {
 *   type CheckpointInfo,
 *   compileModel,
 *   createTrainer,
 *   crossEntropy,
 *   linear,
 *   pipelineFingerprint,
 *   readCheckpoint,
 *   saveCheckpoint,
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
 * await trainer.step(batch);
 * const dir = await Deno.makeTempDir();
 * const info: CheckpointInfo = {
 *   epoch: 1,
 *   batch: 1,
 *   epochLossSum: 0.7,
 *   epochLr: 0.5,
 *   seed: 1,
 *   batchSize: 2,
 * };
 * const path = await saveCheckpoint(dir, trainer, info, {
 *   fingerprint: pipelineFingerprint(compiled),
 * });
 * if ((await readCheckpoint(path)).info.epochLossSum !== 0.7) throw new Error();
 * await trainer.release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface CheckpointInfo {
  /** Completed epochs. */
  readonly epoch: number;
  /** Batches already trained in epoch `epoch + 1` (0 at an epoch boundary). */
  readonly batch: number;
  /** Sum of the batch losses of those batches (for the epoch's mean train loss). */
  readonly epochLossSum: number;
  /** The learning rate of the current epoch's first step (NaN at an epoch boundary). */
  readonly epochLr: number;
  /**
   * Correct training predictions of those batches (for the epoch's training accuracy; NaN for
   * losses without an accuracy; absent in checkpoints written before it was recorded).
   */
  readonly epochCorrect?: number;
  /**
   * What `epochCorrect` is out of when it is not the batches' samples: the non-ignored positions
   * of per-position class targets (sequence labels); absent otherwise.
   */
  readonly epochCounted?: number;
  /** The run's seed: initialisation, data order and dropout masks derive from it. */
  readonly seed: number;
  /** Samples per batch (the data order's position depends on it). */
  readonly batchSize: number;
  /** The held-out validation fraction (0 without a split); the split derives from it and the seed. */
  readonly validation?: number;
  /** The schedule's state, when the run has a schedule. */
  readonly schedule?: SchedulerState;
  /**
   * How batches are drawn besides `shuffle`, such as `"dropLast; sampler balanced"` (absent:
   * plain batches); a resumed run must draw them the same way.
   */
  readonly dataOrder?: string;
  /**
   * Training samples per epoch (after a validation split); a resumed run must see as many
   * (absent in checkpoints written before it was recorded).
   */
  readonly trainSamples?: number;
}

/**
 * A checkpoint read back: the trainer's tensors and counters, and the run's position.
 *
 * @example
 * ```ts
 * import {
 *   type Checkpoint,
 *   compileModel,
 *   createTrainer,
 *   crossEntropy,
 *   linear,
 *   pipelineFingerprint,
 *   readCheckpoint,
 *   saveCheckpoint,
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
 * await trainer.step(batch);
 * const dir = await Deno.makeTempDir();
 * const info = { epoch: 1, batch: 1, epochLossSum: 0, epochLr: 0.5, seed: 1, batchSize: 2 };
 * const path = await saveCheckpoint(dir, trainer, info, {
 *   fingerprint: pipelineFingerprint(compiled),
 * });
 * const checkpoint: Checkpoint = await readCheckpoint(path);
 * if (checkpoint.path !== path || checkpoint.hyper.get("lr") !== 0.5) throw new Error();
 * await trainer.release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface Checkpoint {
  /** The file it was read from. */
  readonly path: string;
  /** The run's position and settings. */
  readonly info: CheckpointInfo;
  /** {@linkcode pipelineFingerprint} of the pipeline that wrote it. */
  readonly fingerprint: string;
  /** The id of the run that wrote it ("" for checkpoints written before runs had ids). */
  readonly runId: string;
  /** Training steps taken (the trainer's `steps`). */
  readonly steps: number;
  /** Parameters by state_dict name. */
  readonly params: ReadonlyMap<string, HostTensor>;
  /** Buffers by state_dict name (batch norm statistics). */
  readonly buffers: ReadonlyMap<string, HostTensor>;
  /** Optimizer state by name, without the file's `optimizer.` prefix. */
  readonly state: ReadonlyMap<string, HostTensor>;
  /** Hyperparameter values (`lr`, …) to feed the next step. */
  readonly hyper: ReadonlyMap<string, number>;
}

/**
 * A fingerprint of a compiled pipeline: the SHA-256 of the train graph's inputs (names, dtypes,
 * shapes: parameters, buffers, optimizer state, masks, hyperparameters), the layer list and the
 * input normalisation where set, so a checkpoint of another model or optimizer is refused.
 *
 * @param compiled The compiled pipeline.
 * @returns A hex digest.
 * @example
 * ```ts
 * import { compileModel, crossEntropy, linear, sgd } from "../../mod.ts";
 * import { pipelineFingerprint } from "./checkpoint.ts";
 * const spec = {
 *   data: { sampleShape: [2], classes: 2 },
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.1 }),
 * };
 * const a = pipelineFingerprint(compileModel({ ...spec, model: linear(2, 2) }));
 * const b = pipelineFingerprint(compileModel({ ...spec, model: linear(2, 2, { bias: false }) }));
 * if (a.length !== 64 || a === b) throw new Error();
 * ```
 */
export function pipelineFingerprint(compiled: CompiledModel): string {
  // The augmentation's window indices are data order, which checkpoints record apart.
  const augmentation = new Set<string>([NAMES.augmentRows, NAMES.augmentCols]);
  const inputs = compiled.train.inputs.filter((p) => !augmentation.has(p.name))
    .map((p) => [p.name, p.value.type.dtype, p.value.type.shape]);
  const layers = compiled.layers.map((l) => [l.path, l.layer]);
  // The input normalisation is constants in the graphs, not inputs; hash it where set.
  const normalize = compiled.normalize;
  return createHash("sha256").update(JSON.stringify({ inputs, layers, normalize })).digest("hex");
}

/**
 * The file of the checkpoint taken after `steps` training steps.
 *
 * @param dir The checkpoint folder.
 * @param steps Training steps taken.
 * @returns `dir/checkpoint-<steps, 10 digits>.safetensors`.
 */
export function checkpointPath(dir: string, steps: number): string {
  return join(dir, `checkpoint-${String(steps).padStart(10, "0")}.safetensors`);
}

/**
 * The checkpoint files in a folder, oldest (fewest steps) first; unfinished writes (`.tmp`) and
 * other files are ignored, and a missing folder has none.
 *
 * @param dir The checkpoint folder.
 * @returns Their paths.
 * @throws {CheckpointError} When `dir` is a file or cannot be read, naming it.
 * @example
 * ```ts
 * import { compileModel, createTrainer, crossEntropy, linear, sgd } from "../../mod.ts";
 * import { listCheckpoints, pipelineFingerprint, saveCheckpoint } from "./checkpoint.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [2], classes: 2 },
 *   model: linear(2, 2),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.5 }),
 * });
 * const trainer = await createTrainer(compiled, { seed: 1 });
 * const batch = { x: Float32Array.of(0, 1, 1, 0), y: BigInt64Array.of(1n, 0n), size: 2 };
 * await trainer.step(batch);
 * const dir = await Deno.makeTempDir();
 * const fingerprint = pipelineFingerprint(compiled);
 * const info = { epoch: 1, batch: 1, epochLossSum: 0, epochLr: 0.5, seed: 1, batchSize: 2 };
 * await saveCheckpoint(dir, trainer, info, { fingerprint });
 * await trainer.step(batch);
 * await saveCheckpoint(dir, trainer, info, { fingerprint });
 * if ((await listCheckpoints(dir)).length !== 2) throw new Error();
 * await trainer.release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function listCheckpoints(dir: string): Promise<string[]> {
  const found: [number, string][] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = e.isFile ? FILE.exec(e.name) : null;
      if (m) found.push([Number(m[1]), join(dir, e.name)]);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    const why = e instanceof Deno.errors.NotADirectory
      ? "it is a file, not a folder"
      : describeFsError(e);
    throw new CheckpointError(`Cannot read the checkpoint folder ${dir}: ${why}`, { cause: e });
  }
  return found.sort((a, b) => a[0] - b[0]).map(([, path]) => path);
}

/**
 * The newest checkpoint in a folder.
 *
 * @param dir The checkpoint folder.
 * @returns Its path, or undefined when there is none.
 * @example
 * ```ts
 * import { compileModel, createTrainer, crossEntropy, linear, sgd } from "../../mod.ts";
 * import { latestCheckpoint, pipelineFingerprint, saveCheckpoint } from "./checkpoint.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [2], classes: 2 },
 *   model: linear(2, 2),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.5 }),
 * });
 * const trainer = await createTrainer(compiled, { seed: 1 });
 * const batch = { x: Float32Array.of(0, 1, 1, 0), y: BigInt64Array.of(1n, 0n), size: 2 };
 * await trainer.step(batch);
 * const dir = await Deno.makeTempDir();
 * const fingerprint = pipelineFingerprint(compiled);
 * const info = { epoch: 1, batch: 1, epochLossSum: 0, epochLr: 0.5, seed: 1, batchSize: 2 };
 * if (await latestCheckpoint(dir) !== undefined) throw new Error("empty folder");
 * const path = await saveCheckpoint(dir, trainer, info, { fingerprint });
 * if (await latestCheckpoint(dir) !== path) throw new Error();
 * await trainer.release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function latestCheckpoint(dir: string): Promise<string | undefined> {
  return (await listCheckpoints(dir)).at(-1);
}

const toSafe = (t: HostTensor): SafeTensor => ({ dtype: t.dtype, shape: t.dims, data: t.data });
const toHost = (t: SafeTensor): HostTensor => ({ dtype: t.dtype, dims: t.shape, data: t.data });

/**
 * Options of {@linkcode saveCheckpoint}.
 *
 * @example
 * ```ts
 * import {
 *   compileModel,
 *   createTrainer,
 *   crossEntropy,
 *   linear,
 *   pipelineFingerprint,
 *   readCheckpoint,
 *   saveCheckpoint,
 *   type SaveOptions,
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
 * await trainer.step(batch);
 * const dir = await Deno.makeTempDir();
 * const info = { epoch: 1, batch: 1, epochLossSum: 0, epochLr: 0.5, seed: 1, batchSize: 2 };
 * const options: SaveOptions = { fingerprint: pipelineFingerprint(compiled), keep: 1 };
 * await saveCheckpoint(dir, trainer, info, options);
 * await trainer.step(batch);
 * await saveCheckpoint(dir, trainer, info, options);
 * if ([...Deno.readDirSync(dir)].length !== 1) throw new Error("keep: 1 removes older ones");
 * await trainer.release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface SaveOptions {
  /** {@linkcode pipelineFingerprint} of the trainer's pipeline. */
  readonly fingerprint: string;
  /** How many checkpoints of this run to keep in the folder, newest first (default 2). */
  readonly keep?: number;
  /**
   * The run's id, recorded in the file; pruning deletes only checkpoints of this id (default "":
   * files without an id).
   */
  readonly runId?: string;
}

/**
 * Saves a trainer's state atomically (a temporary file unique to the process, fsync, rename; see
 * {@linkcode writeFileAtomic}) as
 * `dir/checkpoint-<steps>.safetensors`, then deletes all but the newest `keep` checkpoints of the
 * same run (`runId`); another run's files are never deleted.
 *
 * @param dir The checkpoint folder (created when missing).
 * @param trainer The trainer.
 * @param info The run's position.
 * @param options Fingerprint and how many to keep.
 * @returns The file written.
 * @example
 * ```ts
 * import { compileModel, createTrainer, crossEntropy, linear, sgd } from "../../mod.ts";
 * import { pipelineFingerprint, readCheckpoint, saveCheckpoint } from "./checkpoint.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [2], classes: 2 },
 *   model: linear(2, 2),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.5 }),
 * });
 * const trainer = await createTrainer(compiled, { seed: 1 });
 * const batch = { x: Float32Array.of(0, 1, 1, 0), y: BigInt64Array.of(1n, 0n), size: 2 };
 * await trainer.step(batch);
 * const dir = await Deno.makeTempDir();
 * const fingerprint = pipelineFingerprint(compiled);
 * const info = { epoch: 1, batch: 1, epochLossSum: 0, epochLr: 0.5, seed: 1, batchSize: 2 };
 * const path = await saveCheckpoint(dir, trainer, info, { fingerprint });
 * const checkpoint = await readCheckpoint(path);
 * if (checkpoint.steps !== 1 || checkpoint.fingerprint !== fingerprint) throw new Error();
 * await trainer.release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saveCheckpoint(
  dir: string,
  trainer: Trainer,
  info: CheckpointInfo,
  options: SaveOptions,
): Promise<string> {
  const keep = options.keep ?? 2;
  if (!Number.isSafeInteger(keep) || keep < 1) {
    throw new UserRangeError(
      `Cannot save a checkpoint: keep must be a positive integer, got ${keep}`,
    );
  }
  const tensors = new Map<string, SafeTensor>();
  for (const [name, t] of [...trainer.params, ...trainer.buffers]) tensors.set(name, toSafe(t));
  for (const [name, t] of trainer.state) tensors.set(STATE_PREFIX + name, toSafe(t));
  const json = JSON.stringify;
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    fingerprint: options.fingerprint,
    ...(options.runId ? { run_id: options.runId } : {}),
    steps: json(trainer.steps),
    epoch: json(info.epoch),
    batch: json(info.batch),
    epoch_loss_sum: json(info.epochLossSum),
    epoch_lr: json(info.epochLr),
    ...(info.epochCorrect === undefined ? {} : { epoch_correct: json(info.epochCorrect) }),
    ...(info.epochCounted === undefined ? {} : { epoch_counted: json(info.epochCounted) }),
    seed: json(info.seed),
    batch_size: json(info.batchSize),
    validation: json(info.validation ?? 0),
    hyper: json(Object.fromEntries(trainer.hyper)),
    buffers: json([...trainer.buffers.keys()]),
  };
  if (info.schedule) metadata.schedule = json(info.schedule);
  if (info.dataOrder) metadata.data_order = info.dataOrder;
  if (info.trainSamples !== undefined) metadata.train_samples = json(info.trainSamples);
  const path = checkpointPath(dir, trainer.steps);
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
  const runId = options.runId ?? "";
  const own: string[] = [];
  for (const file of await listCheckpoints(dir)) {
    const m = file === path ? metadata : await readCheckpointMetadata(file).catch(() => undefined);
    if (m && (m.run_id ?? "") === runId) own.push(file);
  }
  for (const old of own.slice(0, Math.max(0, own.length - keep))) {
    // Gone already (removed by hand): nothing to prune.
    await Deno.remove(old).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
  return path;
}

/**
 * Reads only the metadata of a checkpoint (or any safetensors file): its header, not its tensors.
 *
 * @param path The file.
 * @returns The `__metadata__` strings (empty when it has none).
 * @throws {SafetensorsError} When the header is malformed; Deno's errors when it cannot be read.
 * @example
 * ```ts
 * import { encodeSafetensors } from "../io/safetensors.ts";
 * import { readCheckpointMetadata } from "./checkpoint.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, encodeSafetensors(new Map(), { run_id: "abc" }));
 * if ((await readCheckpointMetadata(path)).run_id !== "abc") throw new Error();
 * await Deno.remove(path);
 * ```
 */
export async function readCheckpointMetadata(path: string): Promise<Record<string, string>> {
  using file = await Deno.open(path);
  const readExactly = async (n: number) => {
    const out = new Uint8Array(n);
    for (let at = 0; at < n;) {
      const got = await file.read(out.subarray(at));
      if (got === null) return out.subarray(0, at);
      at += got;
    }
    return out;
  };
  const head = await readExactly(8);
  const n = head.length === 8 ? new DataView(head.buffer).getBigUint64(0, true) : 0n;
  // The length and the header only (a huge length is the decoder's to refuse, unread).
  const header = n > 0n && n <= 100_000_000n ? await readExactly(Number(n)) : new Uint8Array();
  const bytes = new Uint8Array(head.length + header.length);
  bytes.set(head);
  bytes.set(header, head.length);
  return decodeSafetensorsMetadata(bytes, path);
}

/**
 * Reads a checkpoint file.
 *
 * @param path The file.
 * @returns Its tensors, counters and position.
 * @throws {CheckpointError} When the file is not an onnxtrain checkpoint or its metadata is
 * malformed or cannot be read ({@linkcode SafetensorsError} when it is not safetensors).
 * @example
 * ```ts
 * import { compileModel, createTrainer, crossEntropy, linear, sgd } from "../../mod.ts";
 * import { pipelineFingerprint, readCheckpoint, saveCheckpoint } from "./checkpoint.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [2], classes: 2 },
 *   model: linear(2, 2),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.5 }),
 * });
 * const trainer = await createTrainer(compiled, { seed: 1 });
 * const batch = { x: Float32Array.of(0, 1, 1, 0), y: BigInt64Array.of(1n, 0n), size: 2 };
 * await trainer.step(batch);
 * const dir = await Deno.makeTempDir();
 * const fingerprint = pipelineFingerprint(compiled);
 * const info = { epoch: 1, batch: 1, epochLossSum: 0, epochLr: 0.5, seed: 1, batchSize: 2 };
 * const checkpoint = await readCheckpoint(
 *   await saveCheckpoint(dir, trainer, info, { fingerprint }),
 * );
 * if (checkpoint.info.epoch !== 1 || !checkpoint.params.has("weight")) throw new Error();
 * await trainer.release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readCheckpoint(path: string): Promise<Checkpoint> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new CheckpointError(`Cannot read checkpoint ${path}: ${describeFsError(e)}`, {
      cause: e,
    });
  }
  let decoded;
  try {
    decoded = decodeSafetensors(bytes, path);
  } catch (e) {
    if (e instanceof SafetensorsError && e.truncated) {
      throw new CheckpointError(
        `Cannot read checkpoint ${path}: the file is truncated (${bytes.length} bytes; a copy or ` +
          `write was cut short)`,
        { cause: e },
      );
    }
    throw e;
  }
  const { tensors, metadata: m } = decoded;
  const fail = (why: string): never => {
    throw new CheckpointError(`Cannot read checkpoint ${path}: ${why}`);
  };
  if (m.format !== CHECKPOINT_FORMAT) {
    fail(`its format is ${JSON.stringify(m.format)}, expected ${CHECKPOINT_FORMAT}`);
  }
  const field = (key: string) => {
    if (m[key] === undefined) fail(`its metadata has no ${key}`);
    try {
      return JSON.parse(m[key]);
    } catch {
      return fail(`its metadata ${key} is not JSON: ${m[key]}`);
    }
  };
  const int = (key: string): number => {
    const v = field(key);
    return Number.isSafeInteger(v) && v >= 0 ? v : fail(`its metadata ${key} is not a count: ${v}`);
  };
  const float = (key: string): number => field(key) ?? NaN;
  const bufferNames = new Set<string>(field("buffers"));
  const params = new Map<string, HostTensor>();
  const buffers = new Map<string, HostTensor>();
  const state = new Map<string, HostTensor>();
  for (const [name, t] of tensors) {
    if (name.startsWith(STATE_PREFIX)) state.set(name.slice(STATE_PREFIX.length), toHost(t));
    else (bufferNames.has(name) ? buffers : params).set(name, toHost(t));
  }
  const seed = field("seed");
  if (!Number.isSafeInteger(seed)) fail(`its metadata seed is not an integer: ${seed}`);
  const info: CheckpointInfo = {
    epoch: int("epoch"),
    batch: int("batch"),
    epochLossSum: float("epoch_loss_sum"),
    epochLr: float("epoch_lr"),
    ...(m.epoch_correct === undefined ? {} : { epochCorrect: float("epoch_correct") }),
    ...(m.epoch_counted === undefined ? {} : { epochCounted: float("epoch_counted") }),
    seed,
    batchSize: int("batch_size"),
    validation: m.validation === undefined ? 0 : float("validation"),
    ...(m.schedule === undefined ? {} : { schedule: field("schedule") }),
    ...(m.data_order === undefined ? {} : { dataOrder: m.data_order }),
    ...(m.train_samples === undefined ? {} : { trainSamples: int("train_samples") }),
  };
  return Object.freeze({
    path,
    info: Object.freeze(info),
    fingerprint: m.fingerprint,
    runId: m.run_id ?? "",
    steps: int("steps"),
    params,
    buffers,
    state,
    hyper: new Map(Object.entries(field("hyper") as Record<string, number>)),
  });
}

/**
 * Refuses a checkpoint of another pipeline.
 *
 * @param checkpoint The checkpoint.
 * @param fingerprint {@linkcode pipelineFingerprint} of the pipeline to resume.
 * @throws {CheckpointError} When the fingerprints differ, listing the checkpoint's parameters.
 */
export function checkFingerprint(checkpoint: Checkpoint, fingerprint: string): void {
  if (checkpoint.fingerprint !== fingerprint) {
    const have = [...checkpoint.params].map(([n, t]) => `${n} [${t.dims}]`).join(", ");
    throw new CheckpointError(
      `Cannot resume from ${checkpoint.path}: it was saved by another pipeline (model, loss or ` +
        `optimizer differ; its parameters: ${have})`,
    );
  }
}

/**
 * Loads a checkpoint into a trainer: every parameter, buffer and optimizer state, the step
 * counter and the hyperparameters. A scheduler reads the rates it starts from when created, so
 * with a schedule create it and `importState(info.schedule)` first, then restore.
 *
 * @param trainer The trainer (of the same pipeline).
 * @param checkpoint The checkpoint.
 * @param fingerprint {@linkcode pipelineFingerprint} of the trainer's pipeline.
 * @throws {CheckpointError} When the checkpoint belongs to another pipeline or lacks a tensor.
 * @example
 * ```ts
 * import { compileModel, createTrainer, crossEntropy, linear, sgd } from "../../mod.ts";
 * import {
 *   pipelineFingerprint,
 *   readCheckpoint,
 *   restoreCheckpoint,
 *   saveCheckpoint,
 * } from "./checkpoint.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [2], classes: 2 },
 *   model: linear(2, 2),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.5 }),
 * });
 * const trainer = await createTrainer(compiled, { seed: 1 });
 * const batch = { x: Float32Array.of(0, 1, 1, 0), y: BigInt64Array.of(1n, 0n), size: 2 };
 * await trainer.step(batch);
 * const dir = await Deno.makeTempDir();
 * const fingerprint = pipelineFingerprint(compiled);
 * const info = { epoch: 1, batch: 1, epochLossSum: 0, epochLr: 0.5, seed: 1, batchSize: 2 };
 * const checkpoint = await readCheckpoint(
 *   await saveCheckpoint(dir, trainer, info, { fingerprint }),
 * );
 * const saved = trainer.params.get("weight")!.data.slice();
 * await trainer.step(batch);
 * restoreCheckpoint(trainer, checkpoint, fingerprint);
 * if (trainer.steps !== 1 || trainer.params.get("weight")!.data.join() !== saved.join()) {
 *   throw new Error();
 * }
 * await trainer.release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function restoreCheckpoint(
  trainer: Trainer,
  checkpoint: Checkpoint,
  fingerprint: string,
): void {
  checkFingerprint(checkpoint, fingerprint);
  const fail = (why: string): never => {
    throw new CheckpointError(`Cannot resume from ${checkpoint.path}: ${why}`);
  };
  const missing = [
    ...[...trainer.params.keys()].filter((n) => !checkpoint.params.has(n)),
    ...[...trainer.buffers.keys()].filter((n) => !checkpoint.buffers.has(n)),
    ...[...trainer.state.keys()].filter((n) => !checkpoint.state.has(n)).map((n) =>
      STATE_PREFIX + n
    ),
  ];
  if (missing.length > 0) fail(`it lacks ${missing.join(", ")}`);
  trainer.load(checkpoint);
  for (const [name, v] of checkpoint.hyper) {
    if (trainer.hyper.has(name)) trainer.hyper.set(name, v);
  }
}
