/**
 * Mini-batches of a sample set as model inputs, optionally reshuffled every epoch from a seed.
 * Image sets give pixels scaled to [0, 1] like PyTorch's `ToTensor` and int64 labels; in-memory
 * tensor sets give copies of their rows, int32 values widened to int64.
 * @module
 */

import { createRng, deriveSeed, shuffleInPlace } from "../util/random.ts";
import type { ImageSet } from "./idx.ts";
import { type TakeBatch, tensorBatches, type TensorSet } from "./tensor_dataset.ts";

/**
 * One mini-batch: the model input `x` (`[size, ...sampleShape]`, float32 or int64) and the target
 * `y` (int64 class indices `[size]` or float32 `[size, ...targetShape]`).
 */
export interface Batch<
  X extends Float32Array | BigInt64Array = Float32Array | BigInt64Array,
  Y extends BigInt64Array | Float32Array = BigInt64Array | Float32Array,
> {
  /** Inputs, sample after sample; for images each pixel is `Math.fround(pixel / 255)`. */
  readonly x: X;
  /** Targets, sample after sample. */
  readonly y: Y;
  /** Number of samples in this batch (the last one may be smaller). */
  readonly size: number;
}

/** A batch of images: float32 pixels `[size, 1, height, width]` and int64 class labels. */
export type ImageBatch = Batch<Float32Array, BigInt64Array>;

/** What a loader batches: images (FashionMNIST) or in-memory tensors. */
export type SampleSet = ImageSet | TensorSet;

/** An iterable of mini-batches; each new iteration is one epoch. */
export interface Loader<B extends Batch = Batch> {
  /** Number of samples per epoch. */
  readonly size: number;
  /** Number of batches per epoch, the last partial one included. */
  readonly batches: number;
  /** Starts an epoch. */
  [Symbol.iterator](): Iterator<B>;
}

/** Options of {@linkcode createLoader}. */
export interface LoaderOptions {
  /** Samples per batch; a positive integer. */
  readonly batchSize: number;
  /** Whether to visit samples in a fresh random order each epoch (default `false`). */
  readonly shuffle?: boolean;
  /** Seed of the shuffling generator (default 0); equal seeds give equal epoch sequences. */
  readonly seed?: number;
  /**
   * Where to resume a run's data order: the first iteration is the run's epoch `epoch + 1`
   * (`epoch` permutations are drawn and dropped) and starts at batch `batch` of it; later
   * iterations are whole epochs. Default `{ epoch: 0, batch: 0 }`.
   */
  readonly resumeAt?: { readonly epoch: number; readonly batch: number };
  /**
   * Visits only these samples of the set (indices below its count), in this order when not
   * shuffled: a subset such as a held-out validation split, without copying the data.
   */
  readonly indices?: Uint32Array;
}

/** The two parts of {@linkcode holdOut}: sample indices, each part in ascending order. */
export interface HoldOutSplit {
  /** The samples kept for training. */
  readonly train: Uint32Array;
  /** The samples held out (for validation or as a test split). */
  readonly heldOut: Uint32Array;
}

/**
 * Holds out a seeded fraction of a set's samples: `Math.round(fraction · count)` of them (halves
 * round up), drawn as the first samples of a permutation from a generator seeded with
 * `deriveSeed(seed, 0x686f6c64)`, so the draw is independent of the shuffling stream of the same
 * seed. Equal arguments give equal splits.
 *
 * @param count Number of samples.
 * @param fraction Fraction held out, in (0, 1).
 * @param seed Any safe integer (a run's seed).
 * @returns The kept and held-out indices, disjoint, together `0..count-1`, each sorted.
 * @throws {RangeError} When `fraction` is not in (0, 1) or leaves either part empty.
 * @example
 * ```ts
 * import { holdOut } from "./loader.ts";
 * const { train, heldOut } = holdOut(10, 0.25, 7);
 * if (heldOut.length !== 3 || train.length !== 7) throw new Error(); // round(2.5) = 3
 * ```
 */
export function holdOut(count: number, fraction: number, seed: number): HoldOutSplit {
  if (!(typeof fraction === "number" && fraction > 0 && fraction < 1)) {
    throw new RangeError(
      `Cannot hold out samples: the fraction must be a number in (0, 1), got ${fraction}`,
    );
  }
  const held = Math.round(fraction * count);
  if (held < 1 || held >= count) {
    throw new RangeError(
      `Cannot hold out ${fraction} of ${count} samples: that leaves ${held} held out and ` +
        `${count - held} for training; each part needs at least one sample`,
    );
  }
  const order = Uint32Array.from({ length: count }, (_, i) => i);
  shuffleInPlace(order, createRng(deriveSeed(seed, 0x686f6c64)));
  return Object.freeze({
    train: order.slice(held).sort(),
    heldOut: order.slice(0, held).sort(),
  });
}

/** `ToTensor` scaling of every byte value, computed once. */
const SCALE = new Float32Array(256).map((_, v) => v / 255);
const LABELS = Array.from({ length: 256 }, (_, v) => BigInt(v));

/** Checks an image set and returns how to take batches from it. */
function imageBatches(set: ImageSet): TakeBatch<ImageBatch> {
  const { images, labels, count } = set, pixels = set.height * set.width;
  if (images.length !== count * pixels || labels.length !== count) {
    throw new RangeError(
      `Cannot create a data loader: image set of ${count} ${set.height}x${set.width} images ` +
        `needs ${count * pixels} pixels and ${count} labels, got ${images.length} and ` +
        `${labels.length}`,
    );
  }
  return (order, start, size) => {
    const x = new Float32Array(size * pixels), y = new BigInt64Array(size);
    for (let i = 0; i < size; i++) {
      const k = order ? order[start + i] : start + i;
      const src = k * pixels, dst = i * pixels;
      for (let p = 0; p < pixels; p++) x[dst + p] = SCALE[images[src + p]];
      y[i] = LABELS[labels[k]];
    }
    return Object.freeze({ x, y, size });
  };
}

/**
 * Creates a batch loader over an image set or an in-memory tensor set.
 *
 * @param set The samples: an image set, or a tensor set such as a `tensorDataset` split.
 * @param options Batch size and shuffling.
 * @returns The loader.
 * @throws {RangeError} When `batchSize` is not a positive integer or the set's arrays do not
 * match its count and sample size.
 * @example
 * ```ts
 * import { createLoader } from "./loader.ts";
 * const set = { x: Float32Array.of(1, 2, 3, 4, 5, 6), y: Int32Array.of(0, 1, 0), count: 3 };
 * const [first, last] = createLoader(set, { batchSize: 2 });
 * if (first.x.join() !== "1,2,3,4" || last.y[0] !== 0n || last.size !== 1) throw new Error();
 * ```
 */
export function createLoader(set: ImageSet, options: LoaderOptions): Loader<ImageBatch>;
export function createLoader(set: SampleSet, options: LoaderOptions): Loader;
export function createLoader(set: SampleSet, options: LoaderOptions): Loader {
  const { batchSize, shuffle = false, seed = 0 } = options;
  if (!Number.isSafeInteger(batchSize) || batchSize <= 0) {
    throw new RangeError(
      `Cannot create a data loader: batchSize must be a positive integer, got ${batchSize}`,
    );
  }
  const take: TakeBatch<Batch> = "images" in set ? imageBatches(set) : tensorBatches(set);
  const subset = options.indices ?? null;
  if (subset && !subset.every((i) => i < set.count)) {
    throw new RangeError(
      `Cannot create a data loader: indices must be below the set's ${set.count} samples, got ` +
        `${subset.find((i) => i >= set.count)}`,
    );
  }
  const count = subset ? subset.length : set.count;
  const rng = shuffle ? createRng(seed) : null;
  const batches = Math.ceil(count / batchSize);
  const { epoch: skipEpochs = 0, batch: skipBatches = 0 } = options.resumeAt ?? {};
  if (![skipEpochs, skipBatches].every((n) => Number.isSafeInteger(n) && n >= 0)) {
    throw new RangeError(
      `Cannot create a data loader: resumeAt needs epoch and batch integers ≥ 0, got ${skipEpochs} and ${skipBatches}`,
    );
  }
  // A permutation draws count − 1 floats (Fisher–Yates), so skipping epochs drops those draws.
  for (let e = 0; rng && e < skipEpochs; e++) for (let i = 1; i < count; i++) rng.nextUint32();
  let first = skipBatches;
  function* batchesOf(order: Uint32Array | null, from: number): Generator<Batch> {
    for (let start = from * batchSize; start < count; start += batchSize) {
      yield take(order, start, Math.min(batchSize, count - start));
    }
  }
  // The permutation is drawn when the epoch starts, so epochs follow the order of iteration.
  const epoch = () => {
    const from = first;
    first = 0;
    const order = rng
      ? shuffleInPlace(
        subset ? subset.slice() : Uint32Array.from({ length: count }, (_, i) => i),
        rng,
      )
      : subset;
    return batchesOf(order, from);
  };
  return Object.freeze({ size: count, batches, [Symbol.iterator]: epoch });
}
