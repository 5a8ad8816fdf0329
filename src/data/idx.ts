/**
 * The IDX file format of MNIST and FashionMNIST (unsigned-byte variant), and the labelled image
 * set built from an images file and a labels file.
 *
 * An IDX file is a magic number `00 00 TT NN` (TT the element type, NN the number of dimensions),
 * NN big-endian uint32 sizes, then the elements in row-major order.
 * @module
 */
import { UserRangeError } from "../util/user_error.ts";

/** The parsed contents of an unsigned-byte IDX file. */
export interface IdxArray {
  /** Size of each dimension, outermost first. */
  readonly dims: readonly number[];
  /** The elements in row-major order (a view into the parsed bytes). */
  readonly data: Uint8Array;
}

/**
 * A labelled set of images: single-channel as in FashionMNIST, or with `channels` (CIFAR-10).
 *
 * @example
 * ```ts
 * import type { ImageSet } from "./idx.ts";
 * const set: ImageSet = {
 *   images: new Uint8Array(2 * 4),
 *   labels: Uint8Array.of(0, 1),
 *   count: 2,
 *   height: 2,
 *   width: 2,
 *   classes: 2,
 * };
 * if (set.images.length !== set.count * set.height * set.width) throw new Error();
 * ```
 */
export interface ImageSet {
  /**
   * Pixels of all images, `count * channels * height * width` bytes in row-major order (each
   * image channel after channel, CHW).
   */
  readonly images: Uint8Array;
  /** One class index per image, each below `classes`. */
  readonly labels: Uint8Array;
  /** Number of images. */
  readonly count: number;
  /** Channels per image (default 1): 3 for RGB. */
  readonly channels?: number;
  /** Image height in pixels. */
  readonly height: number;
  /** Image width in pixels. */
  readonly width: number;
  /** Number of classes. */
  readonly classes: number;
}

/** Raised when bytes are not a valid unsigned-byte IDX file or have an unexpected shape. */
export class IdxFormatError extends Error {
  override name = "IdxFormatError";
}

const UBYTE = 0x08;
const TYPE_NAMES: Readonly<Record<number, string>> = {
  0x08: "unsigned byte",
  0x09: "signed byte",
  0x0b: "int16",
  0x0c: "int32",
  0x0d: "float32",
  0x0e: "float64",
};

const hex = (v: number, digits: number) => `0x${v.toString(16).padStart(digits, "0")}`;
const shapeText = (dims: readonly (number | null)[]) => `[${dims.map((d) => d ?? "n").join(", ")}]`;
const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/**
 * Parses an unsigned-byte IDX file.
 *
 * @param bytes The whole file.
 * @param name The file name, used in error messages.
 * @returns The dimensions and a view of the elements.
 * @throws {IdxFormatError} On a bad magic number, a type other than unsigned byte, an incomplete
 * header, or a data section that is not exactly the size the header announces.
 */
export function parseIdx(bytes: Uint8Array, name: string): IdxArray {
  const fail = (why: string): never => {
    throw new IdxFormatError(`Cannot parse IDX file ${name}: ${why}`);
  };
  if (bytes.length < 4) fail(`expected at least 4 bytes of magic number, got ${bytes.length}`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
    fail(`bad magic number ${hex(magic, 8)} (the first two bytes must be zero)`);
  }
  const type = bytes[2], ndims = bytes[3];
  if (type !== UBYTE) {
    const known = TYPE_NAMES[type] ? ` (${TYPE_NAMES[type]})` : "";
    fail(`unsupported data type ${hex(type, 2)}${known}; only 0x08 (unsigned byte) is supported`);
  }
  const headerLength = 4 + 4 * ndims;
  if (bytes.length < headerLength) {
    fail(
      `incomplete header: expected ${headerLength} bytes for ${ndims} dimensions, ` +
        `got ${bytes.length}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i, false));
  const expected = product(dims), got = bytes.length - headerLength;
  if (got !== expected) {
    const why = got < expected ? "file is truncated" : "trailing bytes after the data";
    fail(
      `expected ${expected} data bytes for shape ${shapeText(dims)}, got ${got} (${why})`,
    );
  }
  return Object.freeze({ dims: Object.freeze(dims), data: bytes.subarray(headerLength) });
}

/**
 * Encodes elements as an unsigned-byte IDX file.
 *
 * @param dims Size of each dimension, outermost first (at most 255 dimensions).
 * @param data The elements in row-major order; exactly the product of `dims` bytes.
 * @returns The file bytes.
 * @throws {RangeError} When a size is not a uint32 or `data` has the wrong length.
 */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  if (dims.length > 255) {
    throw new UserRangeError(
      `Cannot encode IDX: at most 255 dimensions allowed, got ${dims.length}`,
    );
  }
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) {
      throw new UserRangeError(
        `Cannot encode IDX: dimension sizes must be uint32, got ${d} in ${shapeText(dims)}`,
      );
    }
  }
  if (data.length !== product(dims)) {
    throw new UserRangeError(
      `Cannot encode IDX: shape ${shapeText(dims)} needs ${product(dims)} bytes, ` +
        `got ${data.length}`,
    );
  }
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = UBYTE;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/**
 * Checks that an IDX array has the expected shape.
 *
 * @param arr The parsed file.
 * @param name The file name, used in error messages.
 * @param pattern Expected sizes; `null` accepts any size.
 * @returns `arr`, for chaining.
 * @throws {IdxFormatError} When the number of dimensions or a fixed size differs.
 */
export function expectIdx(
  arr: IdxArray,
  name: string,
  pattern: readonly (number | null)[],
): IdxArray {
  const ok = arr.dims.length === pattern.length &&
    pattern.every((p, i) => p === null || p === arr.dims[i]);
  if (!ok) {
    throw new IdxFormatError(
      `Cannot use IDX file ${name}: expected shape ${shapeText(pattern)}, ` +
        `got ${shapeText(arr.dims)}`,
    );
  }
  return arr;
}

/**
 * Combines an images file (`[n, h, w]`) and a labels file (`[n]`) into an image set.
 *
 * @param images The parsed images file.
 * @param labels The parsed labels file.
 * @param names File names of the two, used in error messages.
 * @param size Required image size (`[height, width]`), or `null` for any.
 * @param classes Number of classes; every label must be below it.
 * @returns The image set, sharing memory with the inputs.
 * @throws {IdxFormatError} On a wrong shape, mismatched counts, or an out-of-range label.
 */
export function idxToImageSet(
  images: IdxArray,
  labels: IdxArray,
  names: { readonly images: string; readonly labels: string },
  size: readonly [number, number] | null,
  classes: number,
): ImageSet {
  expectIdx(images, names.images, [null, size?.[0] ?? null, size?.[1] ?? null]);
  expectIdx(labels, names.labels, [null]);
  const [count, height, width] = images.dims;
  if (labels.dims[0] !== count) {
    throw new IdxFormatError(
      `Cannot pair ${names.images} with ${names.labels}: image count differs from label count ` +
        `(shapes ${shapeText(images.dims)} and ${shapeText(labels.dims)})`,
    );
  }
  const bad = labels.data.findIndex((l) => l >= classes);
  if (bad >= 0) {
    throw new IdxFormatError(
      `Cannot use IDX file ${names.labels}: label ${labels.data[bad]} at index ${bad} ` +
        `is not below the class count ${classes}`,
    );
  }
  return Object.freeze({
    images: images.data,
    labels: labels.data,
    count,
    height,
    width,
    classes,
  });
}
