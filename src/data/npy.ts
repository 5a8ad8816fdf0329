/**
 * NumPy's array files: `.npy` (one array) and `.npz` (a zip archive of `.npy` files, as written by
 * `numpy.savez` and `numpy.savez_compressed`).
 *
 * A `.npy` file is the magic string `\x93NUMPY`, a version (1.0, 2.0 or 3.0), the header's length
 * (little-endian uint16 in 1.0, uint32 otherwise), the header (a Python dict literal with keys
 * `'descr'`, `'fortran_order'` and `'shape'`, padded with spaces and a newline), then the elements.
 * @module
 */
import { unzipSync } from "fflate";
import { describeFsError } from "../io/atomic_write.ts";
import { listExcerpt, quoteExcerpt } from "../util/quote.ts";

/**
 * Element types read from `.npy` files (`"bool"` is NumPy's `|b1`, one byte of 0 or 1).
 *
 * @example
 * ```ts
 * import { type NpyDtype, parseNpy } from "./npy.ts";
 * const header = "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }";
 * const bytes = new Uint8Array([
 *   0x93, ..."NUMPY".split("").map((c) => c.charCodeAt(0)), 1, 0, header.length, 0,
 *   ...header.split("").map((c) => c.charCodeAt(0)),
 *   7, 8, 9,
 * ]);
 * const dtype: NpyDtype = parseNpy(bytes).dtype;
 * if (dtype !== "uint8") throw new Error();
 * ```
 */
export type NpyDtype =
  | "float32"
  | "float64"
  | "int8"
  | "uint8"
  | "int16"
  | "uint16"
  | "int32"
  | "uint32"
  | "int64"
  | "uint64"
  | "bool";

/**
 * The typed array holding the elements of each {@linkcode NpyDtype}.
 *
 * @example
 * ```ts
 * import { type NpyData, parseNpy } from "./npy.ts";
 * const header = "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }";
 * const bytes = new Uint8Array([
 *   0x93, ..."NUMPY".split("").map((c) => c.charCodeAt(0)), 1, 0, header.length, 0,
 *   ...header.split("").map((c) => c.charCodeAt(0)),
 *   7, 8, 9,
 * ]);
 * const data: NpyData = parseNpy(bytes).data;
 * if (!(data instanceof Uint8Array)) throw new Error();
 * ```
 */
export type NpyData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/**
 * An array read from a `.npy` file.
 *
 * @example
 * ```ts
 * import { type NpyArray, parseNpy } from "./npy.ts";
 * const header = "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }";
 * const bytes = new Uint8Array([
 *   0x93, ..."NUMPY".split("").map((c) => c.charCodeAt(0)), 1, 0, header.length, 0,
 *   ...header.split("").map((c) => c.charCodeAt(0)),
 *   7, 8, 9,
 * ]);
 * const a: NpyArray = parseNpy(bytes);
 * if (a.shape.join() !== "3" || a.data[2] !== 9) throw new Error();
 * ```
 */
export interface NpyArray {
  /** The element type. */
  readonly dtype: NpyDtype;
  /** Size of each dimension, outermost first (`[]` for a scalar). */
  readonly shape: readonly number[];
  /** The elements in C (row-major) order and the host's byte order, in a buffer of their own. */
  readonly data: NpyData;
}

/**
 * Raised when bytes are not a `.npy` file of a supported element type, or not a `.npz` file.
 *
 * @example
 * ```ts
 * import { NpyFormatError, parseNpy } from "./npy.ts";
 * let caught: unknown;
 * try {
 *   parseNpy(new Uint8Array(4), "bad.npy");
 * } catch (e) {
 *   caught = e;
 * }
 * if (!(caught instanceof NpyFormatError)) throw new Error();
 * ```
 */
export class NpyFormatError extends Error {
  /** The error's name. */
  override name = "NpyFormatError";
}

interface TypedArrayMaker {
  new (buffer: ArrayBuffer): NpyData;
}

/** Element types by NumPy kind letter and size in bytes. */
const DTYPES: Readonly<Record<string, readonly [NpyDtype, TypedArrayMaker]>> = {
  f4: ["float32", Float32Array],
  f8: ["float64", Float64Array],
  i1: ["int8", Int8Array],
  u1: ["uint8", Uint8Array],
  b1: ["bool", Uint8Array],
  i2: ["int16", Int16Array],
  u2: ["uint16", Uint16Array],
  i4: ["int32", Int32Array],
  u4: ["uint32", Uint32Array],
  i8: ["int64", BigInt64Array],
  u8: ["uint64", BigUint64Array],
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A value of the Python literal subset found in `.npy` headers. */
type PyValue = string | number | boolean | null | PyValue[] | Map<string, PyValue>;

/**
 * Parses a Python literal (dicts, tuples, lists, strings, integers, `True`, `False`, `None`),
 * failing with the byte offset of the problem.
 */
function parsePyLiteral(
  text: string,
  offsetOf: (i: number) => number,
  fail: (why: string) => never,
) {
  let i = 0;
  const at = (what: string): never => fail(`header at byte ${offsetOf(i)} ${what}`);
  const found = () => (i < text.length ? JSON.stringify(text[i]) : "the end of the header");
  const skip = () => {
    while (i < text.length && " \t\r\n".includes(text[i])) i++;
  };
  const sequence = (close: string, item: () => void) => {
    i++;
    for (skip(); text[i] !== close; skip()) {
      item();
      skip();
      if (text[i] === ",") i++;
      else if (text[i] !== close) at(`has ${found()} where "," or "${close}" should be`);
    }
    i++;
  };
  const value = (): PyValue => {
    skip();
    const c = text[i];
    if (c === "{") {
      const dict = new Map<string, PyValue>();
      sequence("}", () => {
        const keyAt = i;
        const key = value();
        if (typeof key !== "string") {
          i = keyAt;
          at("has a dict key that is not a string");
        }
        skip();
        if (text[i] !== ":") at(`has ${found()} where ":" should be`);
        i++;
        dict.set(key as string, value());
      });
      return dict;
    }
    if (c === "(" || c === "[") {
      const items: PyValue[] = [];
      sequence(c === "(" ? ")" : "]", () => items.push(value()));
      return items;
    }
    if (c === "'" || c === '"') {
      let s = "";
      for (i++; text[i] !== c; i++) {
        if (i >= text.length) at("has a string that is not closed");
        if (text[i] === "\\") i++;
        s += text[i];
      }
      i++;
      return s;
    }
    const word = /^(True|False|None|[+-]?\d+L?)/.exec(text.slice(i))?.[0];
    if (word === undefined) return at(`has ${found()} where a value should be`);
    i += word.length;
    if (word === "True" || word === "False") return word === "True";
    return word === "None" ? null : Number.parseInt(word, 10);
  };
  skip();
  if (text[i] !== "{") at("is not a Python dict literal");
  const dict = value() as Map<string, PyValue>;
  skip();
  if (i < text.length) at(`has ${found()} after the dict`);
  return dict;
}

/** Copies the elements of a Fortran-order array of `itemSize`-byte elements into C order. */
function fortranToC(
  src: Uint8Array,
  shape: readonly number[],
  itemSize: number,
): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(src.length);
  const nd = shape.length, count = src.length / itemSize;
  const stride: number[] = [];
  for (let k = 0, s = 1; k < nd; s *= shape[k], k++) stride.push(s);
  const index = new Array<number>(nd).fill(0);
  let from = 0;
  for (let e = 0; e < count; e++) {
    out.set(src.subarray(from * itemSize, (from + 1) * itemSize), e * itemSize);
    for (let k = nd - 1; k >= 0; k--) {
      from += stride[k];
      if (++index[k] < shape[k]) break;
      from -= stride[k] * shape[k];
      index[k] = 0;
    }
  }
  return out;
}

/**
 * Parses a `.npy` file (format version 1.0, 2.0 or 3.0) of numbers: float32/64, signed and
 * unsigned 8- to 64-bit integers and booleans, little- or big-endian (`<`, `>`, `=` or `|` in the
 * `descr`), in C or Fortran order. Fortran-order arrays are transposed into C order and
 * big-endian elements swapped into the host's order, so `data` is always a plain typed array.
 *
 * @param bytes The whole file.
 * @param source What is read, for error messages (default `".npy"`: `Cannot read .npy: ...`).
 * @returns The element type, the shape and the elements (copied out of `bytes`).
 * @throws {NpyFormatError} On a bad magic string, an unknown version, a header that is not a
 * dict literal with exactly the keys `descr`, `fortran_order` and `shape`, an unsupported element
 * type (structured, string, object, float16, complex), or a data section that is not exactly the
 * size the shape needs; messages give the byte offset of the problem.
 *
 * @example
 * ```ts
 * import { parseNpy } from "./npy.ts";
 * const header = "{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }";
 * const bytes = new Uint8Array([
 *   0x93, ..."NUMPY".split("").map((c) => c.charCodeAt(0)), 1, 0, header.length, 0,
 *   ...header.split("").map((c) => c.charCodeAt(0)),
 *   0, 0, 1, 0, 0xff, 0xff, 0xff, 0xfe,
 * ]);
 * const a = parseNpy(bytes);
 * if (a.dtype !== "int32" || a.shape[0] !== 2 || a.data[0] !== 256 || a.data[1] !== -2) {
 *   throw new Error();
 * }
 * ```
 */
export function parseNpy(bytes: Uint8Array, source = ".npy"): NpyArray {
  const fail = (why: string): never => {
    throw new NpyFormatError(`Cannot read ${source}: ${why}`);
  };
  if (bytes.length < 10) fail(`the file has ${bytes.length} bytes, too few for a .npy header`);
  if (MAGIC.some((b, i) => bytes[i] !== b)) {
    const got = Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join(" ");
    fail(`bad magic string at byte 0 (expected 93 4e 55 4d 50 59, "\\x93NUMPY"; got ${got})`);
  }
  const major = bytes[6], minor = bytes[7];
  if (![1, 2, 3].includes(major) || minor !== 0) {
    fail(`format version ${major}.${minor} at byte 6 is not supported (1.0, 2.0 and 3.0 are)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (major > 1 && bytes.length < 12) {
    fail(`the file has ${bytes.length} bytes, too few for a version ${major}.0 header`);
  }
  const headerStart = major === 1 ? 10 : 12;
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) {
    fail(
      `header at byte ${headerStart} is ${headerLength} bytes long, but the file has only ` +
        `${bytes.length - headerStart} bytes after byte ${headerStart}`,
    );
  }
  const headerBytes = bytes.subarray(headerStart, dataStart);
  let text: string, offsetOf: (i: number) => number;
  if (major === 3) {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
    } catch {
      return fail(`header at byte ${headerStart} is not valid UTF-8`);
    }
    const encoder = new TextEncoder();
    offsetOf = (i) => headerStart + encoder.encode(text.slice(0, i)).length;
  } else {
    text = new TextDecoder("latin1").decode(headerBytes); // one character per byte
    offsetOf = (i) => headerStart + i;
  }
  const header = parsePyLiteral(text, offsetOf, fail);
  const keys = [...header.keys()].sort();
  if (keys.join(", ") !== "descr, fortran_order, shape") {
    const shown = keys.map((k) => (k.length > 60 ? quoteExcerpt(k) : k));
    fail(
      `header at byte ${headerStart} has keys ${listExcerpt(shown) || "(none)"}; ` +
        `expected descr, fortran_order, shape`,
    );
  }
  const where = `header at byte ${headerStart}`;
  const descr = header.get("descr"), fortran = header.get("fortran_order");
  const shape = header.get("shape");
  if (typeof descr !== "string") {
    return fail(
      `${where}: descr is not a string but a ${
        Array.isArray(descr) ? "list (structured dtypes are not supported)" : typeof descr
      }`,
    );
  }
  const parts = /^([<>|=]?)([a-zA-Z])(\d+)$/.exec(descr);
  const known = parts && DTYPES[parts[2] + parts[3]];
  if (!parts || !known) {
    return fail(
      `${where}: dtype ${quoteExcerpt(descr)} is not supported (supported: float32/64, ` +
        `int8/16/32/64, uint8/16/32/64 and bool, e.g. '<f4', '>f8', '<i8', '|u1')`,
    );
  }
  const [dtype, Typed] = known;
  const itemSize = Number(parts[3]);
  if (parts[1] === "|" && itemSize > 1) {
    fail(`${where}: dtype ${JSON.stringify(descr)} has no byte order ("<" or ">" is needed)`);
  }
  const littleEndian = parts[1] === "<" || (parts[1] !== ">" && HOST_LITTLE_ENDIAN);
  if (typeof fortran !== "boolean") fail(`${where}: fortran_order is not True or False`);
  const dims = Array.isArray(shape) ? shape : [];
  if (!Array.isArray(shape) || !dims.every((d) => Number.isSafeInteger(d) && Number(d) >= 0)) {
    fail(`${where}: shape is not a tuple of non-negative integers`);
  }
  const count = (dims as number[]).reduce((a, b) => a * b, 1);
  const needed = count * itemSize, have = bytes.length - dataStart;
  if (have !== needed) {
    fail(
      `data at byte ${dataStart} has ${have} bytes, but shape (${dims.join(", ")}) of ${dtype} ` +
        `needs ${needed}`,
    );
  }
  let raw = new Uint8Array(needed); // its own buffer, even when `bytes` is a pooled Node Buffer
  raw.set(bytes.subarray(dataStart));
  if (fortran && dims.length > 1) raw = fortranToC(raw, dims as number[], itemSize);
  if (itemSize > 1 && littleEndian !== HOST_LITTLE_ENDIAN) {
    for (let at = 0; at < raw.length; at += itemSize) raw.subarray(at, at + itemSize).reverse();
  }
  return { dtype, shape: dims as number[], data: new Typed(raw.buffer) };
}

/**
 * Parses a `.npz` file: a zip archive (stored or deflated entries) of `.npy` files.
 *
 * @param bytes The whole file.
 * @param source What is read, for error messages (default `".npz"`).
 * @returns Each array by its entry's name without the `.npy` suffix (`arr_0` for `numpy.savez`'s
 * unnamed arrays), in archive order.
 * @throws {NpyFormatError} When the bytes are not a zip archive, or an entry is not a valid
 * `.npy` file (the message names the entry).
 *
 * @example
 * ```ts
 * import { zipSync } from "fflate";
 * import { parseNpy, parseNpz } from "./npy.ts";
 * const header = "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }";
 * const npy = new Uint8Array([
 *   0x93, ..."NUMPY".split("").map((c) => c.charCodeAt(0)), 1, 0, header.length, 0,
 *   ...header.split("").map((c) => c.charCodeAt(0)), 7, 8, 9,
 * ]);
 * const arrays = parseNpz(zipSync({ "pixels.npy": npy }));
 * if (arrays.get("pixels")?.data[2] !== 9) throw new Error();
 * ```
 */
export function parseNpz(bytes: Uint8Array, source = ".npz"): Map<string, NpyArray> {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes);
  } catch (e) {
    throw new NpyFormatError(
      `Cannot read ${source}: not a readable zip archive (${(e as Error).message})`,
    );
  }
  const arrays = new Map<string, NpyArray>();
  for (const [name, data] of Object.entries(entries)) {
    if (name.endsWith("/")) continue;
    const key = name.endsWith(".npy") ? name.slice(0, -4) : name;
    arrays.set(key, parseNpy(data, `${source} entry ${quoteExcerpt(name)}`));
  }
  return arrays;
}

/** A file's bytes; a failure to read it is an {@linkcode NpyFormatError} naming the file. */
async function readOrFail(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw new NpyFormatError(`Cannot read ${path}: ${describeFsError(e)}`, { cause: e });
  }
}

/**
 * Reads a `.npy` file; see {@linkcode parseNpy}. Error messages name the file.
 *
 * @param path The file's path.
 * @returns The array.
 * @throws {NpyFormatError} On malformed contents, or when the file cannot be read.
 * @example
 * ```ts
 * import { loadNpy } from "./npy.ts";
 * const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
 * const npy = new Uint8Array([
 *   0x93, ..."NUMPY".split("").map((c) => c.charCodeAt(0)), 1, 0, header.length, 0,
 *   ...header.split("").map((c) => c.charCodeAt(0)),
 *   ...new Uint8Array(Float32Array.of(1.5, -2).buffer),
 * ]);
 * const path = await Deno.makeTempFile({ suffix: ".npy" });
 * await Deno.writeFile(path, npy);
 * const a = await loadNpy(path);
 * if (a.dtype !== "float32" || a.data[0] !== 1.5 || a.shape.join() !== "2") throw new Error();
 * await Deno.remove(path);
 * ```
 */
export async function loadNpy(path: string): Promise<NpyArray> {
  return parseNpy(await readOrFail(path), path);
}

/**
 * Reads a `.npz` file; see {@linkcode parseNpz}. Error messages name the file.
 *
 * @param path The file's path.
 * @returns The arrays by name.
 * @throws {NpyFormatError} On malformed contents, or when the file cannot be read.
 * @example
 * ```ts
 * import { zipSync } from "fflate";
 * import { loadNpz } from "./npy.ts";
 * const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
 * const npy = new Uint8Array([
 *   0x93, ..."NUMPY".split("").map((c) => c.charCodeAt(0)), 1, 0, header.length, 0,
 *   ...header.split("").map((c) => c.charCodeAt(0)),
 *   ...new Uint8Array(Float32Array.of(1.5, -2).buffer),
 * ]);
 * const path = await Deno.makeTempFile({ suffix: ".npz" });
 * await Deno.writeFile(path, zipSync({ "x_train.npy": npy }));
 * const arrays = await loadNpz(path);
 * if (arrays.get("x_train")?.data[1] !== -2) throw new Error();
 * await Deno.remove(path);
 * ```
 */
export async function loadNpz(path: string): Promise<Map<string, NpyArray>> {
  return parseNpz(await readOrFail(path), path);
}
