/**
 * In-memory tensor sets (the splits of a `tensorDataset`): copying chosen samples into batches,
 * widening int32 token ids and class indices to int64.
 * @module
 */
import type { TensorSplit } from "../dsl/datasets.ts";
import type { Batch, TakeBatch } from "./batch.ts";
import { UserRangeError } from "../util/user_error.ts";

/**
 * A split held in memory: `count` samples of `x` (float32 features or int32/int64 token ids) and
 * `y` (int32/int64 class indices, one per sample or the same number per sample such as a label
 * per token, or float32 targets), sample after sample. The splits of a `tensorDataset`
 * description are tensor sets.
 * @example
 * ```ts
 * import { createLoader } from "./loader.ts";
 * import type { TensorSet } from "./tensor_dataset.ts";
 * const set: TensorSet = { x: Float32Array.of(0.5, 1.5), y: Float32Array.of(1, 3), count: 2 };
 * if (createLoader(set, { batchSize: 1 }).size !== 2) throw new Error();
 * ```
 */
export type TensorSet = TensorSplit;

type Rows<T> = (order: Uint32Array | null, start: number, size: number) => T;

/** Rows of `width` values taken from `src` into a new array of the same type. */
function copyRows<T extends Float32Array | BigInt64Array>(
  src: T,
  width: number,
  make: (length: number) => T,
): Rows<T> {
  return (order, start, size) => {
    if (!order) return src.slice(start * width, (start + size) * width) as T;
    const out = make(size * width);
    for (let i = 0; i < size; i++) {
      const from = order[start + i] * width, to = i * width;
      for (let j = 0; j < width; j++) out[to + j] = src[from + j];
    }
    return out;
  };
}

/** Rows of `width` int32 values taken from `src`, widened to int64. */
function widenRows(src: Int32Array, width: number): Rows<BigInt64Array> {
  return (order, start, size) => {
    const out = new BigInt64Array(size * width);
    for (let i = 0; i < size; i++) {
      const from = (order ? order[start + i] : start + i) * width, to = i * width;
      for (let j = 0; j < width; j++) out[to + j] = BigInt(src[from + j]);
    }
    return out;
  };
}

function rowsOf(
  src: Float32Array | BigInt64Array | Int32Array,
  width: number,
): Rows<Float32Array | BigInt64Array> {
  if (src instanceof Int32Array) return widenRows(src, width);
  if (src instanceof BigInt64Array) return copyRows(src, width, (n) => new BigInt64Array(n));
  return copyRows(src, width, (n) => new Float32Array(n));
}

/**
 * Checks a tensor set's arrays against its count and returns how to take batches from it.
 *
 * @param set The samples.
 * @returns A function copying chosen samples into a batch (int32 arrays become int64).
 * @throws {RangeError} When the count is not a non-negative integer, or `x` or `y` does not hold
 * a whole number of values per sample (at least one class index per sample).
 */
export function tensorBatches(set: TensorSet): TakeBatch<Batch> {
  const { x, y, count } = set;
  const fail = (why: string): never => {
    throw new UserRangeError(`Cannot create a data loader: tensor set of ${count} samples ${why}`);
  };
  if (!Number.isSafeInteger(count) || count < 0) fail("needs a non-negative integer count");
  const perSample = (n: number) => (count === 0 ? 0 : n / count);
  const xWidth = perSample(x.length), yWidth = perSample(y.length);
  if (!Number.isInteger(xWidth) || (count === 0 && x.length)) {
    fail(`has ${x.length} input values, not a multiple of ${count}`);
  }
  if (y instanceof Float32Array) {
    if (!Number.isInteger(yWidth) || (count === 0 && y.length)) {
      fail(`has ${y.length} float targets, not a multiple of ${count}`);
    }
  } else if (
    (count > 0 && (!Number.isInteger(yWidth) || yWidth < 1)) || (count === 0 && y.length)
  ) {
    // Class indices: one per sample, or the same number per sample (sequence labels).
    fail(
      y.length < count
        ? `has ${y.length} class indices, expected one per sample`
        : `has ${y.length} class indices, not a multiple of ${count}`,
    );
  }
  const takeX = rowsOf(x, xWidth), takeY = rowsOf(y, yWidth);
  return (order, start, size) =>
    Object.freeze({ x: takeX(order, start, size), y: takeY(order, start, size), size });
}
