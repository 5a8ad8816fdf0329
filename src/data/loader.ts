/**
 * Mini-batches of an image set as model inputs: pixels scaled to [0, 1] like PyTorch's
 * `ToTensor`, labels as int64, optionally reshuffled every epoch from a seed.
 * @module
 */

import { createRng, shuffleInPlace } from "../util/random.ts";
import type { ImageSet } from "./idx.ts";

/** One mini-batch. */
export interface Batch {
  /** Pixels as an `[size, 1, height, width]` tensor, each `Math.fround(pixel / 255)`. */
  readonly x: Float32Array;
  /** Class labels, one per sample. */
  readonly y: BigInt64Array;
  /** Number of samples in this batch (the last one may be smaller). */
  readonly size: number;
}

/** An iterable of mini-batches; each new iteration is one epoch. */
export interface Loader {
  /** Number of samples per epoch. */
  readonly size: number;
  /** Number of batches per epoch, the last partial one included. */
  readonly batches: number;
  /** Starts an epoch. */
  [Symbol.iterator](): Iterator<Batch>;
}

/** Options of {@linkcode createLoader}. */
export interface LoaderOptions {
  /** Samples per batch; a positive integer. */
  readonly batchSize: number;
  /** Whether to visit samples in a fresh random order each epoch (default `false`). */
  readonly shuffle?: boolean;
  /** Seed of the shuffling generator (default 0); equal seeds give equal epoch sequences. */
  readonly seed?: number;
}

/** `ToTensor` scaling of every byte value, computed once. */
const SCALE = new Float32Array(256).map((_, v) => v / 255);
const LABELS = Array.from({ length: 256 }, (_, v) => BigInt(v));

/**
 * Creates a batch loader over an image set.
 *
 * @param set The images and labels.
 * @param options Batch size and shuffling.
 * @returns The loader.
 * @throws {RangeError} When `batchSize` is not a positive integer or the set's arrays do not
 * match its count and image size.
 */
export function createLoader(set: ImageSet, options: LoaderOptions): Loader {
  const { batchSize, shuffle = false, seed = 0 } = options;
  if (!Number.isSafeInteger(batchSize) || batchSize <= 0) {
    throw new RangeError(
      `Cannot create a data loader: batchSize must be a positive integer, got ${batchSize}`,
    );
  }
  const { images, labels, count } = set, pixels = set.height * set.width;
  if (images.length !== count * pixels || labels.length !== count) {
    throw new RangeError(
      `Cannot create a data loader: image set of ${count} ${set.height}x${set.width} images ` +
        `needs ${count * pixels} pixels and ${count} labels, got ${images.length} and ` +
        `${labels.length}`,
    );
  }
  const rng = shuffle ? createRng(seed) : null;
  const batches = Math.ceil(count / batchSize);
  function* batchesOf(order: Uint32Array | null): Generator<Batch> {
    for (let start = 0; start < count; start += batchSize) {
      const size = Math.min(batchSize, count - start);
      const x = new Float32Array(size * pixels), y = new BigInt64Array(size);
      for (let i = 0; i < size; i++) {
        const k = order ? order[start + i] : start + i;
        const src = k * pixels, dst = i * pixels;
        for (let p = 0; p < pixels; p++) x[dst + p] = SCALE[images[src + p]];
        y[i] = LABELS[labels[k]];
      }
      yield Object.freeze({ x, y, size });
    }
  }
  // The permutation is drawn when the epoch starts, so epochs follow the order of iteration.
  const epoch = () =>
    batchesOf(rng ? shuffleInPlace(Uint32Array.from({ length: count }, (_, i) => i), rng) : null);
  return Object.freeze({ size: count, batches, [Symbol.iterator]: epoch });
}
