/**
 * Weights in and out of a run: warm start (`--init PATH`) loads parameters and buffers from a
 * checkpoint, a safetensors file or an ONNX model's initializers, matched by name, strictly (every
 * missing, unexpected and mis-shaped tensor listed in one error, like PyTorch's
 * `load_state_dict`) or partially (what matches loads, the rest is reported); and before a run
 * starts, {@linkcode checkExportPath} makes sure the exported model can be written at the end.
 * @module
 */
import { decodeOnnx } from "../onnx/import.ts";
import { decodeSafetensors } from "../io/safetensors.ts";
import { outputFileProblem } from "../io/output_paths.ts";
import { describeFsError } from "../io/atomic_write.ts";
import { listExcerpt } from "../util/quote.ts";
import type { HostTensor } from "../runtime/session.ts";
import { CHECKPOINT_FORMAT } from "./checkpoint.ts";
import type { Trainer } from "./trainer.ts";

/**
 * A weights file that cannot be used: unreadable, of another format, or not matching the model.
 *
 * @example
 * ```ts
 * import { WeightsFileError } from "./warm_start.ts";
 * const e = new WeightsFileError("Cannot read weights from a.bin: neither safetensors nor ONNX");
 * if (e.name !== "WeightsFileError") throw new Error();
 * ```
 */
export class WeightsFileError extends Error {
  /**
   * Creates the error.
   *
   * @param message What failed, naming the file.
   * @param options The underlying error as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WeightsFileError";
  }
}

/**
 * The kinds of file {@linkcode readWeights} reads.
 *
 * @example
 * ```ts
 * import { decodeWeights, encodeSafetensors, type WeightsFormat } from "../../mod.ts";
 * const bytes = encodeSafetensors(
 *   new Map([["weight", { dtype: "float32", shape: [2], data: Float32Array.of(1, 2) }]]),
 * );
 * const format: WeightsFormat = decodeWeights(bytes, "w.safetensors").format;
 * if (format !== "safetensors") throw new Error();
 * ```
 */
export type WeightsFormat = "checkpoint" | "safetensors" | "onnx";

/**
 * Named tensors read from a weights file.
 *
 * @example
 * ```ts
 * import { decodeWeights, encodeSafetensors, type Weights } from "../../mod.ts";
 * const bytes = encodeSafetensors(
 *   new Map([["weight", { dtype: "float32", shape: [2], data: Float32Array.of(1, 2) }]]),
 * );
 * const w: Weights = decodeWeights(bytes, "w.safetensors");
 * if (w.path !== "w.safetensors" || w.tensors.get("weight")!.data[0] !== 1) throw new Error();
 * ```
 */
export interface Weights {
  /** The file they were read from. */
  readonly path: string;
  /** What the file is: an onnxtrain checkpoint, another safetensors file or an ONNX model. */
  readonly format: WeightsFormat;
  /** Tensors by name (a checkpoint's optimizer state is left out: that is `--resume`'s job). */
  readonly tensors: ReadonlyMap<string, HostTensor>;
}

/**
 * Tells a safetensors file from an ONNX model by content: safetensors starts with an 8-byte
 * little-endian header length followed by a JSON object (`{`) that fits in the file; an ONNX
 * ModelProto is a protobuf message, whose first byte is a field tag.
 *
 * @param bytes The file's contents.
 * @returns `"safetensors"` or `"onnx"`.
 * @example
 * ```ts
 * import { encodeSafetensors } from "../io/safetensors.ts";
 * const bytes = encodeSafetensors(
 *   new Map([["weight", { dtype: "float32", shape: [2], data: Float32Array.of(1, 2) }]]),
 * );
 * import { detectWeightsFormat } from "./warm_start.ts";
 * if (detectWeightsFormat(bytes) !== "safetensors") throw new Error();
 * ```
 */
export function detectWeightsFormat(bytes: Uint8Array): "safetensors" | "onnx" {
  if (bytes.length >= 9) {
    const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (n >= 2n && n <= BigInt(bytes.length - 8) && bytes[8] === 0x7b) return "safetensors";
  }
  return "onnx";
}

const CHECKPOINT_STATE = "optimizer.";

/**
 * Decodes a weights file: safetensors (an onnxtrain checkpoint, whose `optimizer.` tensors are
 * left out, or any other safetensors file, such as `safetensors.torch.save_file(model.state_dict())`)
 * or an ONNX model (its initializers).
 *
 * @param bytes The file's contents.
 * @param path The file's name, for messages.
 * @returns The tensors by name and the format found.
 * @throws {WeightsFileError} When the file is neither, naming it and what failed.
 * @example
 * ```ts
 * import { encodeSafetensors } from "../io/safetensors.ts";
 * const bytes = encodeSafetensors(
 *   new Map([["weight", { dtype: "float32", shape: [2], data: Float32Array.of(1, 2) }]]),
 * );
 * import { decodeWeights } from "./warm_start.ts";
 * const w = decodeWeights(bytes, "w.safetensors");
 * if (w.format !== "safetensors" || w.tensors.get("weight")!.dims.join() !== "2") {
 *   throw new Error();
 * }
 * ```
 */
export function decodeWeights(bytes: Uint8Array, path: string): Weights {
  if (detectWeightsFormat(bytes) === "safetensors") {
    let decoded;
    try {
      decoded = decodeSafetensors(bytes, path);
    } catch (e) {
      throw new WeightsFileError(`Cannot initialise from ${path}: ${(e as Error).message}`);
    }
    const checkpoint = decoded.metadata.format === CHECKPOINT_FORMAT;
    const tensors = new Map<string, HostTensor>();
    for (const [name, t] of decoded.tensors) {
      if (checkpoint && name.startsWith(CHECKPOINT_STATE)) continue;
      tensors.set(name, { dtype: t.dtype, dims: t.shape, data: t.data });
    }
    return { path, format: checkpoint ? "checkpoint" : "safetensors", tensors };
  }
  let graph;
  try {
    graph = decodeOnnx(bytes);
  } catch (e) {
    throw new WeightsFileError(
      `Cannot initialise from ${path}: it is neither a safetensors file nor an ONNX model ` +
        `this reader accepts (${(e as Error).message})`,
    );
  }
  const tensors = new Map<string, HostTensor>();
  for (const [name, t] of graph.initializers) {
    tensors.set(name, { dtype: t.dtype, dims: t.shape, data: t.data });
  }
  return { path, format: "onnx", tensors };
}

/**
 * Reads a weights file (see {@linkcode decodeWeights}).
 *
 * @param path The file.
 * @returns Its tensors by name and its format.
 * @throws {WeightsFileError} When the file cannot be read or is of no known format.
 * @example
 * ```ts
 * import { encodeSafetensors } from "../io/safetensors.ts";
 * const bytes = encodeSafetensors(
 *   new Map([["weight", { dtype: "float32", shape: [2], data: Float32Array.of(1, 2) }]]),
 * );
 * import { readWeights } from "./warm_start.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await Deno.writeFile(path, bytes);
 * const w = await readWeights(path);
 * if (w.path !== path || w.tensors.size !== 1) throw new Error();
 * await Deno.remove(path);
 * ```
 */
export async function readWeights(path: string): Promise<Weights> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new WeightsFileError(`Cannot initialise from ${path}: ${describeFsError(e)}`, {
      cause: e,
    });
  }
  return decodeWeights(bytes, path);
}

/**
 * A tensor whose dtype or shape differs between the file and the model.
 *
 * @example
 * ```ts
 * import { matchWeights, type MismatchedTensor } from "./warm_start.ts";
 * const t = (...dims: number[]) => ({
 *   dtype: "float32" as const,
 *   dims,
 *   data: new Float32Array(dims.reduce((a, b) => a * b, 1)),
 * });
 * const model = { params: new Map([["weight", t(2, 2)], ["bias", t(2)]]), buffers: new Map() };
 * const [bad]: readonly MismatchedTensor[] =
 *   matchWeights(model, new Map([["bias", t(3)]])).mismatched;
 * if (bad.name !== "bias" || bad.file !== "float32 [3]" || bad.model !== "float32 [2]") {
 *   throw new Error();
 * }
 * ```
 */
export interface MismatchedTensor {
  /** The tensor's state_dict name. */
  readonly name: string;
  /** The file's dtype and shape, as `float32 [8, 4]`. */
  readonly file: string;
  /** The model's dtype and shape. */
  readonly model: string;
}

/**
 * How a weights file matches a model: what loads and what does not.
 *
 * @example
 * ```ts
 * import { matchWeights, type WeightsMatch } from "./warm_start.ts";
 * const t = (...dims: number[]) => ({
 *   dtype: "float32" as const,
 *   dims,
 *   data: new Float32Array(dims.reduce((a, b) => a * b, 1)),
 * });
 * const model = { params: new Map([["weight", t(2, 2)], ["bias", t(2)]]), buffers: new Map() };
 * const match: WeightsMatch = matchWeights(model, new Map([["weight", t(2, 2)]]));
 * if (match.missing.join() !== "bias" || match.params.size !== 1) throw new Error();
 * ```
 */
export interface WeightsMatch {
  /** Parameters to load, by name. */
  readonly params: ReadonlyMap<string, HostTensor>;
  /** Buffers to load, by name. */
  readonly buffers: ReadonlyMap<string, HostTensor>;
  /** Model parameters and buffers that the file lacks, in model order. */
  readonly missing: readonly string[];
  /** File tensors that name no parameter or buffer of the model, in file order. */
  readonly unexpected: readonly string[];
  /** Tensors of both whose dtype or shape differ. */
  readonly mismatched: readonly MismatchedTensor[];
}

const describe = (t: HostTensor) => `${t.dtype} [${t.dims.join(", ")}]`;

/** Whether a buffer is a batch norm's step counter, which a file may lack (see below). */
const isBatchCounter = (name: string) =>
  name === "num_batches_tracked" || name.endsWith(".num_batches_tracked");

/**
 * Matches a file's tensors to a model's parameters and buffers by name. A tensor matches when
 * its dtype and shape are the model's; a float64 tensor for a float32 parameter is converted
 * (as PyTorch's `load_state_dict` copies), other dtype differences do not match. A batch norm's
 * `num_batches_tracked` counter that the file lacks is not missing: it keeps its value, as in
 * PyTorch's batch norm loading (an exported inference model does not carry the counter, which no
 * inference computation uses).
 *
 * @param model The model's current parameters and buffers (a {@linkcode Trainer}).
 * @param tensors The file's tensors by name.
 * @returns What loads, and what is missing, unexpected or mis-shaped.
 * @example
 * ```ts
 * import { matchWeights } from "./warm_start.ts";
 * const t = (...dims: number[]) => ({
 *   dtype: "float32" as const,
 *   dims,
 *   data: new Float32Array(dims.reduce((a, b) => a * b, 1)),
 * });
 * const model = { params: new Map([["0.weight", t(2, 3)], ["0.bias", t(2)]]), buffers: new Map() };
 * const match = matchWeights(
 *   model,
 *   new Map([["0.weight", t(2, 3)], ["0.bias", t(3)], ["extra", t(1)]]),
 * );
 * if (match.params.size !== 1 || match.unexpected.join() !== "extra") throw new Error();
 * if (match.mismatched[0].name !== "0.bias" || match.missing.length !== 0) throw new Error();
 * ```
 */
export function matchWeights(
  model: Pick<Trainer, "params" | "buffers">,
  tensors: ReadonlyMap<string, HostTensor>,
): WeightsMatch {
  const out = { params: new Map<string, HostTensor>(), buffers: new Map<string, HostTensor>() };
  const missing: string[] = [], mismatched: MismatchedTensor[] = [];
  for (const kind of ["params", "buffers"] as const) {
    for (const [name, now] of model[kind]) {
      const t = tensors.get(name);
      if (!t) {
        if (!(kind === "buffers" && isBatchCounter(name))) missing.push(name);
        continue;
      }
      const sameShape = t.dims.join() === now.dims.join();
      if (sameShape && t.dtype === now.dtype) {
        out[kind].set(name, t);
      } else if (sameShape && t.dtype === "float64" && now.dtype === "float32") {
        out[kind].set(name, { ...now, data: Float32Array.from(t.data as Float64Array) });
      } else {
        mismatched.push({ name, file: describe(t), model: describe(now) });
      }
    }
  }
  const unexpected = [...tensors.keys()].filter((n) =>
    !model.params.has(n) && !model.buffers.has(n)
  );
  return { ...out, missing, unexpected, mismatched };
}

/**
 * Describes what of a match does not load.
 *
 * @param match A match from {@linkcode matchWeights}.
 * @returns The "missing …", "unexpected …" and "mis-shaped …" parts, empty ones left out.
 * @example
 * ```ts
 * import { describeMismatch, matchWeights } from "./warm_start.ts";
 * const t = (...dims: number[]) => ({
 *   dtype: "float32" as const,
 *   dims,
 *   data: new Float32Array(dims.reduce((a, b) => a * b, 1)),
 * });
 * const model = { params: new Map([["0.weight", t(2, 3)], ["0.bias", t(2)]]), buffers: new Map() };
 * const match = matchWeights(
 *   model,
 *   new Map([["0.weight", t(2, 3)], ["0.bias", t(3)], ["extra", t(1)]]),
 * );
 * const lines = describeMismatch(match);
 * if (!lines.some((l) => l.includes("extra")) || !lines.some((l) => l.includes("0.bias"))) {
 *   throw new Error();
 * }
 * ```
 */
export function describeMismatch(match: WeightsMatch): string[] {
  const list = (names: readonly string[]) => names.join(", ");
  const parts: string[] = [];
  if (match.missing.length) {
    parts.push(`missing from the file (${match.missing.length}): ${list(match.missing)}`);
  }
  if (match.unexpected.length) {
    parts.push(`unexpected in the file (${match.unexpected.length}): ${list(match.unexpected)}`);
  }
  if (match.mismatched.length) {
    const items = match.mismatched.map((m) => `${m.name} (file ${m.file}, model ${m.model})`);
    parts.push(`mis-shaped (${match.mismatched.length}): ${list(items)}`);
  }
  return parts;
}

/**
 * Options of {@linkcode warmStart}.
 *
 * @example
 * ```ts
 * import type { WarmStartOptions } from "./warm_start.ts";
 * const lines: string[] = [];
 * const options: WarmStartOptions = { partial: true, log: (line) => lines.push(line) };
 * options.log?.("loaded 2 of 4 tensors");
 * if (!options.partial || lines.length !== 1) throw new Error();
 * ```
 */
export interface WarmStartOptions {
  /** Load what matches and report the rest, instead of refusing any difference (default false). */
  readonly partial?: boolean;
  /** Receives the summary line (default: console.log). */
  readonly log?: (line: string) => void;
}

/**
 * Loads a model's parameters and buffers from a weights file (see {@linkcode decodeWeights}),
 * matched by name. Strict by default: any missing, unexpected or mis-shaped tensor refuses the
 * file, and the error lists them all. With `partial`, what matches loads and one log line lists
 * what was skipped; a file of which nothing matches is refused (naming a few tensors of each).
 * A tensor holding NaN or infinite values refuses the file, naming it and the counts (training
 * from it could only give NaN losses). Optimizer state and step counters are never loaded
 * (`--resume` does that).
 *
 * @param trainer The trainer to load into.
 * @param path The weights file.
 * @param options `partial` and `log`.
 * @returns The match (what loaded and what did not).
 * @throws {WeightsFileError} When the file cannot be read, does not match the model (strict) or
 * matches none of it (partial), or holds non-finite values.
 * @example
 * ```ts
 * import {
 *   compileModel,
 *   createTrainer,
 *   crossEntropy,
 *   encodeSafetensors,
 *   linear,
 *   sgd,
 * } from "../../mod.ts";
 * import { warmStart } from "./warm_start.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [2], classes: 2 },
 *   model: linear(2, 2),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.1 }),
 * });
 * const trainer = await createTrainer(compiled, { seed: 1 });
 * const weight = { dtype: "float32" as const, shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) };
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await Deno.writeFile(path, encodeSafetensors(new Map([["weight", weight]])));
 * const match = await warmStart(trainer, path, { partial: true, log: () => {} });
 * if (match.missing.join() !== "bias" || trainer.params.get("weight")!.data[3] !== 4) {
 *   throw new Error();
 * }
 * await trainer.release();
 * await Deno.remove(path);
 * ```
 */
export async function warmStart(
  trainer: Trainer,
  path: string,
  options: WarmStartOptions = {},
): Promise<WeightsMatch> {
  const log = options.log ?? ((line: string) => console.log(line));
  const weights = await readWeights(path);
  const match = matchWeights(trainer, weights.tensors);
  const problems = describeMismatch(match);
  if (problems.length > 0 && !options.partial) {
    throw new WeightsFileError(
      `Cannot initialise from ${path} (${weights.format}): ${problems.join("; ")} ` +
        `(--init-partial loads only the tensors that match)`,
    );
  }
  const loaded = match.params.size + match.buffers.size;
  if (loaded === 0) {
    throw new WeightsFileError(
      `Cannot initialise from ${path} (${weights.format}): ${noMatch(trainer, weights, match)}`,
    );
  }
  const bad = nonFinite([...match.params, ...match.buffers]);
  if (bad.length > 0) {
    throw new WeightsFileError(
      `Cannot initialise from ${path} (${weights.format}): ${bad.length} ` +
        `${bad.length === 1 ? "tensor holds" : "tensors hold"} non-finite values (NaN or ` +
        `infinite): ${
          listExcerpt(bad, 5)
        }; the run that wrote the file diverged — initialise from an ` +
        "earlier checkpoint of it",
    );
  }
  trainer.load({ params: match.params, buffers: match.buffers });
  log(
    `Initialised ${loaded} tensor${loaded === 1 ? "" : "s"} from ${path} (${weights.format})` +
      (problems.length ? `; skipped: ${problems.join("; ")}` : ""),
  );
  return match;
}

/** Why a partial load matched nothing: a few names of the file and of the model. */
function noMatch(trainer: Trainer, weights: Weights, match: WeightsMatch): string {
  const file = [...weights.tensors.keys()];
  const model = [...trainer.params.keys(), ...trainer.buffers.keys()];
  const held = file.length ? `holds ${listExcerpt(file, 5)}` : "holds no tensors";
  const shapes = match.mismatched.length
    ? `; ${match.mismatched.length} share a name with the model but not its shape (` +
      `${
        listExcerpt(match.mismatched.map((m) => `${m.name}: file ${m.file}, model ${m.model}`), 3)
      })`
    : "";
  return `no tensor of the file matches the model, so --init-partial would load nothing; the ` +
    `file ${held}, the model has ${listExcerpt(model, 5)}${shapes}`;
}

/** `name (3 NaN, 1 infinite of 32 values)` for each floating-point tensor with such values. */
function nonFinite(tensors: readonly (readonly [string, HostTensor])[]): string[] {
  const found: string[] = [];
  for (const [name, t] of tensors) {
    if (t.dtype !== "float32" && t.dtype !== "float64") continue;
    const data = t.data as Float32Array | Float64Array;
    let nan = 0, inf = 0;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v !== v) nan++;
      else if (v === Infinity || v === -Infinity) inf++;
    }
    if (nan + inf > 0) {
      const counts = [nan ? `${nan} NaN` : "", inf ? `${inf} infinite` : ""].filter((c) => c);
      found.push(`${name} (${counts.join(", ")} of ${data.length} values)`);
    }
  }
  return found;
}

/**
 * Checks, before training starts, that a model can be written to `path` at the end (see
 * {@linkcode outputFileProblem}): creates its folder, refuses a path that is a folder or whose
 * folder is a file or cannot be written; an existing file is left as it is.
 *
 * @param path Where the model will be written.
 * @returns Resolves when the path is writable.
 * @throws {WeightsFileError} Naming the path and why it cannot be written.
 * @example
 * ```ts
 * import { checkExportPath } from "./warm_start.ts";
 * const dir = await Deno.makeTempDir();
 * await checkExportPath(`${dir}/model.onnx`);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function checkExportPath(path: string): Promise<void> {
  const why = await outputFileProblem(path);
  if (why !== undefined) {
    throw new WeightsFileError(
      `Cannot export the model to ${path}: ${why} (checked before training)`,
    );
  }
}
