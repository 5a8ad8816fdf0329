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
import { writeFileAtomic } from "../io/atomic_write.ts";
import { encodeSafetensors, readSafetensors, type SafeTensor } from "../io/safetensors.ts";
import type { HostTensor } from "../runtime/session.ts";
import type { SchedulerState } from "./schedule.ts";
import type { Trainer } from "./trainer.ts";

/** The `format` metadata value of a checkpoint file. */
export const CHECKPOINT_FORMAT = "onnxtrain.checkpoint.v1";
const STATE_PREFIX = "optimizer.";
const FILE = /^checkpoint-(\d+)\.safetensors$/;

/** A checkpoint that cannot be used: malformed, of another pipeline, or missing. */
export class CheckpointError extends Error {
  /** @param message What failed, naming the file. */
  constructor(message: string) {
    super(message);
    this.name = "CheckpointError";
  }
}

/** Where a run stands, besides the trainer's tensors. */
export interface CheckpointInfo {
  /** Completed epochs. */
  readonly epoch: number;
  /** Batches already trained in epoch `epoch + 1` (0 at an epoch boundary). */
  readonly batch: number;
  /** Sum of the batch losses of those batches (for the epoch's mean train loss). */
  readonly epochLossSum: number;
  /** The learning rate of the current epoch's first step (NaN at an epoch boundary). */
  readonly epochLr: number;
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
}

/** A checkpoint read back: the trainer's tensors and counters, and the run's position. */
export interface Checkpoint {
  /** The file it was read from. */
  readonly path: string;
  /** The run's position and settings. */
  readonly info: CheckpointInfo;
  /** {@linkcode pipelineFingerprint} of the pipeline that wrote it. */
  readonly fingerprint: string;
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
    throw e;
  }
  return found.sort((a, b) => a[0] - b[0]).map(([, path]) => path);
}

/**
 * The newest checkpoint in a folder.
 *
 * @param dir The checkpoint folder.
 * @returns Its path, or undefined when there is none.
 */
export async function latestCheckpoint(dir: string): Promise<string | undefined> {
  return (await listCheckpoints(dir)).at(-1);
}

const toSafe = (t: HostTensor): SafeTensor => ({ dtype: t.dtype, shape: t.dims, data: t.data });
const toHost = (t: SafeTensor): HostTensor => ({ dtype: t.dtype, dims: t.shape, data: t.data });

/** Options of {@linkcode saveCheckpoint}. */
export interface SaveOptions {
  /** {@linkcode pipelineFingerprint} of the trainer's pipeline. */
  readonly fingerprint: string;
  /** How many checkpoints to keep in the folder, newest first (default 2). */
  readonly keep?: number;
}

/**
 * Saves a trainer's state atomically (`<file>.tmp`, fsync, rename) as
 * `dir/checkpoint-<steps>.safetensors`, then deletes all but the newest `keep` checkpoints.
 *
 * @param dir The checkpoint folder (created when missing).
 * @param trainer The trainer.
 * @param info The run's position.
 * @param options Fingerprint and how many to keep.
 * @returns The file written.
 */
export async function saveCheckpoint(
  dir: string,
  trainer: Trainer,
  info: CheckpointInfo,
  options: SaveOptions,
): Promise<string> {
  const keep = options.keep ?? 2;
  if (!Number.isSafeInteger(keep) || keep < 1) {
    throw new RangeError(`Cannot save a checkpoint: keep must be a positive integer, got ${keep}`);
  }
  const tensors = new Map<string, SafeTensor>();
  for (const [name, t] of [...trainer.params, ...trainer.buffers]) tensors.set(name, toSafe(t));
  for (const [name, t] of trainer.state) tensors.set(STATE_PREFIX + name, toSafe(t));
  const json = JSON.stringify;
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    fingerprint: options.fingerprint,
    steps: json(trainer.steps),
    epoch: json(info.epoch),
    batch: json(info.batch),
    epoch_loss_sum: json(info.epochLossSum),
    epoch_lr: json(info.epochLr),
    seed: json(info.seed),
    batch_size: json(info.batchSize),
    validation: json(info.validation ?? 0),
    hyper: json(Object.fromEntries(trainer.hyper)),
    buffers: json([...trainer.buffers.keys()]),
  };
  if (info.schedule) metadata.schedule = json(info.schedule);
  if (info.dataOrder) metadata.data_order = info.dataOrder;
  const path = checkpointPath(dir, trainer.steps);
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
  const all = await listCheckpoints(dir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) await Deno.remove(old);
  return path;
}

/**
 * Reads a checkpoint file.
 *
 * @param path The file.
 * @returns Its tensors, counters and position.
 * @throws {CheckpointError} When the file is not an onnxtrain checkpoint or its metadata is
 * malformed ({@linkcode SafetensorsError} when it is not safetensors).
 */
export async function readCheckpoint(path: string): Promise<Checkpoint> {
  const { tensors, metadata: m } = await readSafetensors(path);
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
    seed,
    batchSize: int("batch_size"),
    validation: m.validation === undefined ? 0 : float("validation"),
    ...(m.schedule === undefined ? {} : { schedule: field("schedule") }),
    ...(m.data_order === undefined ? {} : { dataOrder: m.data_order }),
  };
  return Object.freeze({
    path,
    info: Object.freeze(info),
    fingerprint: m.fingerprint,
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
