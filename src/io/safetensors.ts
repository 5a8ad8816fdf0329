/**
 * The safetensors format (huggingface/safetensors), read and written by hand: the format is an
 * 8-byte little-endian header length, a JSON header `{name: {dtype, shape, data_offsets}}` with an
 * optional `"__metadata__"` map of strings, padded with spaces to a multiple of 8 bytes, then the
 * tensors' raw little-endian bytes. It is small enough that no package is needed, and every
 * PyTorch user can read the files (`safetensors.torch.load_file`).
 * @module
 */
import type { DType, TensorData } from "../ir/types.ts";

/**
 * One tensor of a safetensors file.
 *
 * @example
 * ```ts
 * import { encodeSafetensors, type SafeTensor } from "./safetensors.ts";
 * const t: SafeTensor = { dtype: "float32", shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) };
 * if (encodeSafetensors(new Map([["w", t]])).length <= 16) throw new Error();
 * ```
 */
export interface SafeTensor {
  /** Element type (the file's F32, F64, I64, I32, U8 or BOOL). */
  readonly dtype: DType;
  /** Dimensions; `[]` is a scalar. */
  readonly shape: readonly number[];
  /** Elements in row-major order; bool tensors hold one byte (0 or 1) per element. */
  readonly data: TensorData;
}

/**
 * The contents of a safetensors file.
 *
 * @example
 * ```ts
 * import {
 *   decodeSafetensors,
 *   encodeSafetensors,
 *   type SafetensorsContents,
 * } from "./safetensors.ts";
 * const t = { dtype: "uint8" as const, shape: [3], data: Uint8Array.of(1, 2, 3) };
 * const contents: SafetensorsContents = decodeSafetensors(encodeSafetensors(new Map([["u", t]])));
 * if (contents.tensors.get("u")!.data[2] !== 3 || Object.keys(contents.metadata).length !== 0) {
 *   throw new Error();
 * }
 * ```
 */
export interface SafetensorsContents {
  /** Tensors by name, in the order of their bytes in the file. */
  readonly tensors: ReadonlyMap<string, SafeTensor>;
  /** The `__metadata__` map (empty when absent). */
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * A malformed safetensors file, or a tensor the format cannot hold.
 *
 * @example
 * ```ts
 * import { decodeSafetensors, SafetensorsError } from "./safetensors.ts";
 * let caught: unknown;
 * try {
 *   decodeSafetensors(new Uint8Array(3));
 * } catch (e) {
 *   caught = e;
 * }
 * if (!(caught instanceof SafetensorsError)) throw new Error();
 * ```
 */
export class SafetensorsError extends Error {
  /** Whether the file ends before its header or its tensors do (a cut-short copy or write). */
  readonly truncated: boolean;
  /**
   * Creates the error.
   *
   * @param message What failed, naming the file and the problem.
   * @param truncated Whether the file is shorter than its header says.
   */
  constructor(message: string, truncated = false) {
    super(message);
    this.name = "SafetensorsError";
    this.truncated = truncated;
  }
}

/** The format's dtype codes for the element types a tensor here may hold, with their sizes. */
const CODES: Readonly<Record<DType, { code: string; bytes: number }>> = {
  float32: { code: "F32", bytes: 4 },
  float64: { code: "F64", bytes: 8 },
  int64: { code: "I64", bytes: 8 },
  int32: { code: "I32", bytes: 4 },
  uint8: { code: "U8", bytes: 1 },
  bool: { code: "BOOL", bytes: 1 },
};
const DTYPES = new Map(Object.entries(CODES).map(([d, { code }]) => [code, d as DType]));
const ARRAYS: Readonly<Record<DType, (b: ArrayBuffer) => TensorData>> = {
  float32: (b) => new Float32Array(b),
  float64: (b) => new Float64Array(b),
  int64: (b) => new BigInt64Array(b),
  int32: (b) => new Int32Array(b),
  uint8: (b) => new Uint8Array(b),
  bool: (b) => new Uint8Array(b),
};
/** The largest header the reference implementation accepts (100 MB). */
const MAX_HEADER = 100_000_000;
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function checkHost(what: string): void {
  if (!LITTLE_ENDIAN) {
    throw new SafetensorsError(
      `Cannot ${what}: this host is big-endian; safetensors is little-endian`,
    );
  }
}

const numel = (shape: readonly number[]) => shape.reduce((a, d) => a * d, 1);

/**
 * Encodes tensors and metadata as a safetensors file. As the reference writer does, tensors are
 * laid out by decreasing element size, then by name, and `__metadata__` comes first in the
 * header.
 *
 * @param tensors Tensors by name (names must not be `__metadata__`).
 * @param metadata String values stored under `__metadata__` (omitted when empty).
 * @returns The file's bytes.
 * @throws {SafetensorsError} When a tensor's data does not match its shape, or a name is reserved.
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 * const bytes = encodeSafetensors(
 *   new Map([["w", { dtype: "float32", shape: [2], data: Float32Array.of(1, 2) }]]),
 * );
 * const { tensors } = decodeSafetensors(bytes);
 * if (tensors.get("w")!.data[1] !== 2) throw new Error();
 * ```
 */
export function encodeSafetensors(
  tensors: ReadonlyMap<string, SafeTensor>,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  checkHost("encode safetensors");
  const entries = [...tensors].sort(([a, x], [b, y]) =>
    CODES[y.dtype].bytes - CODES[x.dtype].bytes || (a < b ? -1 : a > b ? 1 : 0)
  );
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") {
        throw new SafetensorsError(
          `Cannot encode safetensors: metadata value of ${k} must be a string, got ${typeof v}`,
        );
      }
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === "__metadata__") {
      throw new SafetensorsError("Cannot encode safetensors: the name __metadata__ is reserved");
    }
    const { code, bytes } = CODES[t.dtype];
    const count = numel(t.shape);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || t.data.length !== count) {
      throw new SafetensorsError(
        `Cannot encode safetensors: tensor ${name} of shape [${t.shape}] needs ${count} values, got ${t.data.length}`,
      );
    }
    header[name] = {
      dtype: code,
      shape: [...t.shape],
      data_offsets: [offset, offset + count * bytes],
    };
    offset += count * bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  let at = 8 + padded;
  for (const [, t] of entries) {
    const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(raw, at);
    at += raw.length;
  }
  return out;
}

/** A thrower of {@linkcode SafetensorsError}s naming `source`. */
const failure = (source: string) => (why: string, truncated = false): never => {
  throw new SafetensorsError(`Cannot read ${source}: ${why}`, truncated);
};

/**
 * The header of a safetensors file: its tensor entries (unchecked), its `__metadata__` strings,
 * and where the data buffer starts. `bytes` need hold only the 8-byte length and the header.
 */
function readHeader(bytes: Uint8Array, source: string) {
  const fail = failure(source);
  if (bytes.length < 8) {
    fail(`the file is truncated: ${bytes.length} bytes, fewer than the 8-byte header length`, true);
  }
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER)) fail(`the header length ${n} exceeds 100 MB`);
  if (n > BigInt(bytes.length - 8)) {
    fail(
      `the file is truncated: its header length ${n} exceeds the ${
        bytes.length - 8
      } bytes after it`,
      true,
    );
  }
  const headerEnd = 8 + Number(n);
  let header: unknown;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, headerEnd)),
    );
  } catch (e) {
    fail(`the header is not UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail("the header is not a JSON object");
  }
  const metadata: Record<string, string> = {};
  const entries: [string, unknown][] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name !== "__metadata__") {
      entries.push([name, entry]);
      continue;
    }
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      fail("__metadata__ is not an object of strings");
    }
    for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
      if (typeof v !== "string") fail(`__metadata__ value of ${k} is not a string`);
      metadata[k] = v as string;
    }
  }
  return { entries, metadata, headerEnd };
}

/**
 * The `__metadata__` of a safetensors file from its first bytes alone (the 8-byte header length
 * and the header; the tensors need not be there), checked as {@linkcode decodeSafetensors} checks
 * a header.
 *
 * @param bytes The file's leading bytes.
 * @param source The file's name, for error messages.
 * @returns The metadata strings.
 * @throws {SafetensorsError} Naming `source` and the problem.
 * @example
 * ```ts
 * import { decodeSafetensorsMetadata, encodeSafetensors } from "./safetensors.ts";
 * const bytes = encodeSafetensors(
 *   new Map([["b", { dtype: "float32", shape: [1024], data: new Float32Array(1024) }]]),
 *   { format: "pt" },
 * );
 * const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
 * if (decodeSafetensorsMetadata(bytes.subarray(0, 8 + n)).format !== "pt") throw new Error();
 * ```
 */
export function decodeSafetensorsMetadata(
  bytes: Uint8Array,
  source = "safetensors data",
): Record<string, string> {
  return readHeader(bytes, source).metadata;
}

/**
 * Decodes a safetensors file, checking it as the reference reader does: the header length, the
 * JSON, each entry's dtype, shape and offsets, and that the tensors cover the byte buffer without
 * holes or overlaps. Tensor data is copied, so it does not alias `bytes`.
 *
 * @param bytes The file's bytes.
 * @param source The file's name, for error messages.
 * @returns The tensors and metadata.
 * @throws {SafetensorsError} Naming `source` and the problem.
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 * const bytes = encodeSafetensors(
 *   new Map([["b", { dtype: "int64", shape: [1], data: BigInt64Array.of(7n) }]]),
 *   { format: "pt" },
 * );
 * const { tensors, metadata } = decodeSafetensors(bytes);
 * if (tensors.get("b")!.data[0] !== 7n || metadata.format !== "pt") throw new Error();
 * ```
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  source = "safetensors data",
): SafetensorsContents {
  checkHost(`read ${source}`);
  const fail = failure(source);
  const { entries, metadata, headerEnd } = readHeader(bytes, source);
  const buffer = bytes.subarray(headerEnd);
  const found: [string, SafeTensor, number, number][] = [];
  for (const [name, entry] of entries) {
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = DTYPES.get(e?.dtype as string);
    if (!dtype) {
      fail(
        `tensor ${name} has dtype ${JSON.stringify(e?.dtype)}, not one of ${
          [...DTYPES.keys()].join(", ")
        }`,
      );
    }
    const shape = e.shape as number[];
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor ${name} has shape ${JSON.stringify(e.shape)}, not a list of sizes`);
    }
    const offsets = e.data_offsets as number[];
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((d) => Number.isSafeInteger(d) && d >= 0) || offsets[0] > offsets[1]
    ) {
      fail(`tensor ${name} has data_offsets ${JSON.stringify(e.data_offsets)}, not [begin, end]`);
    }
    const [begin, end] = offsets;
    const size = numel(shape) * CODES[dtype!].bytes;
    if (end - begin !== size) {
      fail(
        `tensor ${name} (${e.dtype} [${shape}]) needs ${size} bytes, its data_offsets [${begin}, ${end}] span ${
          end - begin
        }`,
      );
    }
    if (end > buffer.length) {
      fail(
        `the file is truncated: tensor ${name} ends at byte ${end} of a ${buffer.length}-byte data buffer`,
        true,
      );
    }
    const data = ARRAYS[dtype!](buffer.slice(begin, end).buffer);
    found.push([name, { dtype: dtype!, shape: Object.freeze([...shape]), data }, begin, end]);
  }
  found.sort((a, b) => a[2] - b[2] || a[3] - b[3]);
  let covered = 0;
  for (const [name, , begin, end] of found) {
    if (begin !== covered) {
      fail(
        begin < covered
          ? `tensor ${name} overlaps the tensor before it at byte ${begin}`
          : `bytes ${covered}..${begin} of the data buffer belong to no tensor`,
      );
    }
    covered = end;
  }
  if (covered !== buffer.length) {
    fail(`bytes ${covered}..${buffer.length} of the data buffer belong to no tensor`);
  }
  return Object.freeze({
    tensors: new Map(found.map(([name, t]) => [name, Object.freeze(t)])),
    metadata: Object.freeze(metadata),
  });
}

/**
 * Reads a safetensors file.
 *
 * @param path The file.
 * @returns Its tensors and metadata.
 * @throws {SafetensorsError} When the file is malformed (Deno's errors when it cannot be read).
 * @example
 * ```ts
 * import { encodeSafetensors, readSafetensors } from "./safetensors.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await Deno.writeFile(
 *   path,
 *   encodeSafetensors(new Map([["w", { dtype: "float32", shape: [], data: Float32Array.of(3) }]])),
 * );
 * const { tensors } = await readSafetensors(path);
 * if (tensors.get("w")!.shape.length !== 0) throw new Error();
 * await Deno.remove(path);
 * ```
 */
export async function readSafetensors(path: string): Promise<SafetensorsContents> {
  return decodeSafetensors(await Deno.readFile(path), path);
}
