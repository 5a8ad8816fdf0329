/**
 * Mini-batches of a sample set as model inputs, optionally reshuffled every epoch from a seed.
 * Image sets stay compact: batches hold their raw uint8 pixels and int64 labels, and the compiled
 * graphs apply ToTensor (and Normalize) themselves. Random crops and flips (torchvision's
 * `RandomCrop`, `RandomHorizontalFlip`) are drawn here but applied in the train graph: a batch
 * carries, per sample, the row and column indices of its window in the zero-padded image (a few
 * hundred integers instead of a float copy of every pixel). In-memory tensor sets give copies of
 * their rows, int32 values widened to int64.
 * @module
 */

import { createRng, deriveSeed, hashedUint32s, type Rng, shuffleInPlace } from "../util/random.ts";
import type { Augmentation } from "../dsl/pipeline.ts";
import { NAMES } from "../compile/names.ts";
import type { HostTensor } from "../runtime/session.ts";
import type { ImageSet } from "./idx.ts";
import type { Batch, TakeBatch } from "./batch.ts";
import { tensorBatches, type TensorSet } from "./tensor_dataset.ts";
import { UserRangeError } from "../util/user_error.ts";

export type { Batch } from "./batch.ts";

/**
 * A batch of images: uint8 pixels `[size, channels, height, width]` and int64 class labels.
 *
 * @example
 * ```ts
 * import { createLoader, type ImageBatch } from "./loader.ts";
 * const set = {
 *   images: Uint8Array.of(0, 255),
 *   labels: Uint8Array.of(1, 0),
 *   count: 2,
 *   height: 1,
 *   width: 1,
 *   classes: 2,
 * };
 * const [batch]: ImageBatch[] = [...createLoader(set, { batchSize: 2 })];
 * if (batch.x[1] !== 255 || batch.y[0] !== 1n) throw new Error();
 * ```
 */
export type ImageBatch = Batch<Uint8Array, BigInt64Array>;

/**
 * What a loader batches: images (FashionMNIST) or in-memory tensors.
 *
 * @example
 * ```ts
 * import { createLoader, type SampleSet } from "./loader.ts";
 * const set: SampleSet = { x: Float32Array.of(1, 2, 3), y: Int32Array.of(0, 1, 2), count: 3 };
 * if (createLoader(set, { batchSize: 2 }).batches !== 2) throw new Error();
 * ```
 */
export type SampleSet = ImageSet | TensorSet;

/**
 * An iterable of mini-batches; each new iteration is one epoch.
 *
 * @example
 * ```ts
 * import { createLoader, type Loader } from "./loader.ts";
 * const set = { x: Float32Array.of(1, 2, 3, 4, 5, 6), y: Int32Array.of(0, 1, 0), count: 3 };
 * const loader: Loader = createLoader(set, { batchSize: 2, dropLast: true });
 * if (loader.batches !== 1 || [...loader].length !== 1) throw new Error();
 * ```
 */
export interface Loader<B extends Batch = Batch> {
  /** Number of samples per epoch. */
  readonly size: number;
  /** Number of batches per epoch, the last partial one included unless `dropLast`. */
  readonly batches: number;
  /** Starts an epoch. */
  [Symbol.iterator](): Iterator<B>;
}

/**
 * Options of {@linkcode createLoader}.
 *
 * @example
 * ```ts
 * import { createLoader, type LoaderOptions } from "./loader.ts";
 * const set = { x: Float32Array.of(1, 2, 3, 4, 5, 6), y: Int32Array.of(0, 1, 0), count: 3 };
 * const options: LoaderOptions = { batchSize: 3, shuffle: true, seed: 1 };
 * const [batch] = createLoader(set, options);
 * if ([...batch.x].sort().join() !== "1,2,3,4,5,6") {
 *   throw new Error("a permutation of the samples");
 * }
 * ```
 */
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
  /**
   * Drops the last batch of an epoch when it would be smaller than `batchSize`, as PyTorch's
   * `DataLoader(drop_last=True)` (default `false`).
   */
  readonly dropLast?: boolean;
  /**
   * Class-weighted sampling, as PyTorch's `WeightedRandomSampler(weights, len, replacement=True)`:
   * each epoch draws as many samples as the set (or subset) holds, with replacement, sample `i`
   * with probability proportional to the weight of its class. `"balanced"` weighs each class by
   * the inverse of its sample count, so classes are drawn equally often; an array gives one
   * non-negative weight per class. The draws of epoch `e` come from a generator seeded with
   * `deriveSeed(seed, 0x77736d70, e)`, so they are reproducible and resume exactly. Replaces
   * `shuffle`; needs class-index targets.
   */
  readonly sampler?: "balanced" | { readonly weights: readonly number[] };
  /**
   * Random augmentation of image sets, drawn per sample from (`seed`, epoch, position in the
   * epoch), so it is fresh every epoch, reproducible and exact after `resumeAt`.
   */
  readonly augment?: Augmentation;
}

/** Tag of the augmentation stream in {@linkcode deriveSeed} ("augm"). */
const AUGMENT_TAG = 0x6175676d;

/**
 * The random draws of an epoch's augmentation: three uniform 32-bit numbers per position in the
 * epoch (crop top, crop left, flip), from `hashedUint32s(deriveSeed(seed, 0x6175676d, epoch))`.
 *
 * @param seed The loader's seed (a run's seed).
 * @param epoch The run's epoch, from 0.
 * @param positions Number of samples in the epoch.
 * @returns `3 · positions` draws: position p's are at 3p, 3p + 1, 3p + 2.
 * @example
 * ```ts
 * import { augmentDraws } from "./loader.ts";
 * const a = augmentDraws(7, 0, 4), b = augmentDraws(7, 1, 4);
 * if (a.length !== 12 || a.join() === b.join()) throw new Error("fresh draws every epoch");
 * ```
 */
export function augmentDraws(seed: number, epoch: number, positions: number): Uint32Array {
  return hashedUint32s(deriveSeed(seed, AUGMENT_TAG, epoch), new Uint32Array(3 * positions));
}

/**
 * Describes an augmentation as a checkpoint's data order records it, such as
 * `"randomCrop 32 padding 4, horizontalFlip"` (empty when it does nothing).
 *
 * @param augment The augmentation.
 * @returns The description.
 */
export function describeAugmentation(augment: Augmentation | undefined): string {
  const crop = augment?.randomCrop;
  return [
    crop ? `randomCrop ${crop.size} padding ${crop.padding ?? 0}` : "",
    augment?.horizontalFlip ? "horizontalFlip" : "",
  ].filter((part) => part).join(", ");
}

/**
 * The two parts of {@linkcode holdOut}: sample indices, each part in ascending order.
 *
 * @example
 * ```ts
 * import { holdOut, type HoldOutSplit } from "./loader.ts";
 * const split: HoldOutSplit = holdOut(100, 0.1, 1);
 * if (split.heldOut.length !== 10 || split.train.length + split.heldOut.length !== 100) {
 *   throw new Error();
 * }
 * ```
 */
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
    throw new UserRangeError(
      `Cannot hold out samples: the fraction must be a number in (0, 1), got ${fraction}`,
    );
  }
  const held = Math.round(fraction * count);
  if (held < 1 || held >= count) {
    throw new UserRangeError(
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

/** The class index of each sample of a set, for weighted sampling. */
function labelsOf(set: SampleSet): ArrayLike<number | bigint> {
  if ("images" in set) return set.labels;
  if (set.y instanceof Float32Array) {
    throw new UserRangeError(
      "Cannot create a data loader: a class-weighted sampler needs class-index targets, got " +
        "float targets",
    );
  }
  if (set.y.length !== set.count) {
    throw new UserRangeError(
      `Cannot create a data loader: a class-weighted sampler needs one class index per sample, ` +
        `got ${set.y.length} for ${set.count} samples (labels per position)`,
    );
  }
  return set.y;
}

/**
 * Cumulative per-sample weights (float64) of the visited samples for a weighted sampler.
 * @throws {RangeError} When weights are not one finite non-negative number per class or sum to 0.
 */
function samplerCdf(
  set: SampleSet,
  subset: Uint32Array | null,
  count: number,
  sampler: NonNullable<LoaderOptions["sampler"]>,
): Float64Array {
  const labels = labelsOf(set);
  const label = (i: number) => Number(labels[subset ? subset[i] : i]);
  let weights: readonly number[];
  if (sampler === "balanced") {
    const counts: number[] = [];
    for (let i = 0; i < count; i++) counts[label(i)] = (counts[label(i)] ?? 0) + 1;
    weights = Array.from(counts, (n) => (n ? 1 / n : 0));
  } else {
    weights = sampler.weights;
    if (!weights.every((w) => typeof w === "number" && Number.isFinite(w) && w >= 0)) {
      throw new UserRangeError(
        `Cannot create a data loader: sampler weights must be finite numbers ≥ 0, got [${weights}]`,
      );
    }
  }
  const cdf = new Float64Array(count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const w = weights[label(i)];
    if (w === undefined) {
      throw new UserRangeError(
        `Cannot create a data loader: sampler has ${weights.length} class weights, but sample ` +
          `${subset ? subset[i] : i} has class ${label(i)}`,
      );
    }
    cdf[i] = total += w;
  }
  if (count > 0 && !(total > 0)) {
    throw new UserRangeError(
      "Cannot create a data loader: the sampler's weights of the samples sum to 0",
    );
  }
  return cdf;
}

/** Draws `cdf.length` sample positions with replacement, each by its weight (binary search). */
function weightedDraws(cdf: Float64Array, rng: Rng, map: Uint32Array | null): Uint32Array {
  const n = cdf.length, total = n ? cdf[n - 1] : 0, out = new Uint32Array(n);
  for (let k = 0; k < n; k++) {
    const u = rng.nextFloat() * total;
    let lo = 0, hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    out[k] = map ? map[lo] : lo;
  }
  return out;
}

const LABELS = Array.from({ length: 256 }, (_, v) => BigInt(v));

/** Checks an image set and returns how to take batches of its raw bytes from it. */
function imageBatches(set: ImageSet): TakeBatch<ImageBatch> {
  const { images, labels, count, channels = 1 } = set, pixels = channels * set.height * set.width;
  if (images.length !== count * pixels || labels.length !== count) {
    const size = `${channels === 1 ? "" : `${channels}x`}${set.height}x${set.width}`;
    throw new UserRangeError(
      `Cannot create a data loader: image set of ${count} ${size} images ` +
        `needs ${count * pixels} pixels and ${count} labels, got ${images.length} and ` +
        `${labels.length}`,
    );
  }
  return (order, start, size) => {
    const y = new BigInt64Array(size);
    let x: Uint8Array;
    if (order) {
      x = new Uint8Array(size * pixels);
      for (let i = 0; i < size; i++) {
        const k = order[start + i];
        x.set(images.subarray(k * pixels, (k + 1) * pixels), i * pixels);
        y[i] = LABELS[labels[k]];
      }
    } else {
      x = images.slice(start * pixels, (start + size) * pixels);
      for (let i = 0; i < size; i++) y[i] = LABELS[labels[start + i]];
    }
    return Object.freeze({ x, y, size });
  };
}

/** The geometry of an augmentation on images of one size (see {@linkcode augmentIndices}). */
export interface AugmentGeometry {
  readonly channels: number;
  /** Zero padding on each side. */
  readonly padding: number;
  /** Height and width of the padded image. */
  readonly paddedHeight: number;
  readonly paddedWidth: number;
  /** Height and width of the window (the crop size, or the image size without a crop). */
  readonly height: number;
  readonly width: number;
  /** Whether a window is mirrored left to right with probability 0.5. */
  readonly flip: boolean;
  /** Whether the window's position is random. */
  readonly crop: boolean;
}

/**
 * Checks an augmentation against an image size and returns its geometry.
 *
 * @param augment The augmentation.
 * @param image Channels, height and width of the images.
 * @returns The geometry.
 * @throws {RangeError} When the crop size or padding is invalid or the window does not fit the
 * padded image.
 */
export function augmentGeometry(
  augment: Augmentation,
  image: { readonly channels: number; readonly height: number; readonly width: number },
): AugmentGeometry {
  const { channels, height, width } = image;
  const crop = augment.randomCrop, size = crop?.size, padding = crop?.padding ?? 0;
  if (crop) {
    if (!Number.isSafeInteger(size) || size! <= 0) {
      throw new UserRangeError(
        `Cannot create a data loader: randomCrop size must be a positive integer, got ${size}`,
      );
    }
    if (!Number.isSafeInteger(padding) || padding < 0) {
      throw new UserRangeError(
        `Cannot create a data loader: randomCrop padding must be an integer ≥ 0, got ${padding}`,
      );
    }
    if (size! > height + 2 * padding || size! > width + 2 * padding) {
      throw new UserRangeError(
        `Cannot create a data loader: randomCrop size ${size} exceeds the ${height}x${width} ` +
          `images padded by ${padding} (${height + 2 * padding}x${width + 2 * padding})`,
      );
    }
  }
  return Object.freeze({
    channels,
    padding,
    paddedHeight: height + 2 * padding,
    paddedWidth: width + 2 * padding,
    height: size ?? height,
    width: size ?? width,
    flip: augment.horizontalFlip === true,
    crop: crop !== undefined,
  });
}

/**
 * The gather indices of a batch's augmentation windows, from an epoch's draws (see
 * {@linkcode augmentDraws}): sample i's window starts at row `top` and column `left` of its
 * zero-padded image (uniform over the positions where it fits, as `torch.randint`), mirrored
 * when its flip draw is below 2³¹. Output pixel (i, c, r, q) is element
 * `rows[i, r] + c·paddedHeight·paddedWidth + cols[i, q]` of the flattened padded batch, where
 * `rows[i, r] = (i·channels·paddedHeight + top + r)·paddedWidth` and
 * `cols[i, q] = left + (mirrored ? width − 1 − q : q)`.
 *
 * @param g The geometry.
 * @param u The epoch's draws.
 * @param first The batch's first position in the epoch.
 * @param size The batch's sample count.
 * @returns The `augment_rows` and `augment_cols` feeds.
 */
export function augmentIndices(
  g: AugmentGeometry,
  u: Uint32Array,
  first: number,
  size: number,
): Record<string, HostTensor> {
  const rows = new BigInt64Array(size * g.height), cols = new BigInt64Array(size * g.width);
  // Every index is below 2³¹, so the int64s are written as (low, 0) pairs of 32-bit words.
  const r32 = new Int32Array(rows.buffer), c32 = new Int32Array(cols.buffer);
  const rangeH = g.paddedHeight - g.height + 1, rangeW = g.paddedWidth - g.width + 1;
  for (let i = 0; i < size; i++) {
    const at = 3 * (first + i);
    const top = g.crop ? Math.floor((u[at] * rangeH) / 2 ** 32) : 0;
    const left = g.crop ? Math.floor((u[at + 1] * rangeW) / 2 ** 32) : 0;
    const mirrored = g.flip && u[at + 2] < 2 ** 31;
    const base = i * g.channels * g.paddedHeight + top;
    for (let r = 0; r < g.height; r++) r32[2 * (i * g.height + r)] = (base + r) * g.paddedWidth;
    for (let q = 0; q < g.width; q++) {
      c32[2 * (i * g.width + q)] = left + (mirrored ? g.width - 1 - q : q);
    }
  }
  return {
    [NAMES.augmentRows]: { dtype: "int64", dims: [size, 1, g.height, 1], data: rows },
    [NAMES.augmentCols]: { dtype: "int64", dims: [size, 1, 1, g.width], data: cols },
  };
}

/**
 * Checks an augmentation against an image set and returns how to take batches of raw images with
 * their augmentation windows from an epoch's draws (see {@linkcode augmentDraws}).
 */
function augmentedImageBatches(
  set: ImageSet,
  augment: Augmentation,
): (u: Uint32Array) => TakeBatch<ImageBatch> {
  const { channels = 1, height, width } = set;
  const g = augmentGeometry(augment, { channels, height, width });
  const plain = imageBatches(set);
  return (u) => (order, start, count) =>
    Object.freeze({ ...plain(order, start, count), feeds: augmentIndices(g, u, start, count) });
}

/**
 * Creates a batch loader over an image set or an in-memory tensor set.
 *
 * @param set The samples: an image set, or a tensor set such as a `tensorDataset` split.
 * @param options Batch size, shuffling or weighted sampling, dropping the last partial batch.
 * @returns The loader.
 * @throws {RangeError} When `batchSize` is not a positive integer, the set's arrays do not
 * match its count and sample size, a sampler's weights do not fit the set's classes, or an
 * augmentation is given for a tensor set or crops more than its padded images hold.
 * @example
 * ```ts
 * import { createLoader } from "./loader.ts";
 * const set = { x: Float32Array.of(1, 2, 3, 4, 5, 6), y: Int32Array.of(0, 1, 0), count: 3 };
 * const [first, last] = createLoader(set, { batchSize: 2 });
 * if (first.x.join() !== "1,2,3,4" || last.y[0] !== 0n || last.size !== 1) throw new Error();
 * ```
 */
export function createLoader(set: ImageSet, options: LoaderOptions): Loader<ImageBatch>;
/**
 * Creates a batch loader over a tensor set or any sample set; see the first overload.
 *
 * @param set The samples.
 * @param options Batch size, shuffling or weighted sampling, dropping the last partial batch.
 * @returns The loader.
 */
export function createLoader(set: SampleSet, options: LoaderOptions): Loader;
export function createLoader(set: SampleSet, options: LoaderOptions): Loader {
  const { batchSize, shuffle = false, seed = 0, dropLast = false, sampler } = options;
  if (!Number.isSafeInteger(batchSize) || batchSize <= 0) {
    throw new UserRangeError(
      `Cannot create a data loader: batchSize must be a positive integer, got ${batchSize}`,
    );
  }
  const augment = options.augment;
  const augmenting = augment !== undefined && describeAugmentation(augment) !== "";
  if (augmenting && !("images" in set)) {
    throw new UserRangeError(
      `Cannot create a data loader: augmentation (${
        describeAugmentation(augment)
      }) needs an image set, got a tensor set`,
    );
  }
  const plain: TakeBatch<Batch> = "images" in set ? imageBatches(set) : tensorBatches(set);
  const augmented = augmenting && "images" in set ? augmentedImageBatches(set, augment) : null;
  const subset = options.indices ?? null;
  if (subset && !subset.every((i) => i < set.count)) {
    throw new UserRangeError(
      `Cannot create a data loader: indices must be below the set's ${set.count} samples, got ` +
        `${subset.find((i) => i >= set.count)}`,
    );
  }
  const count = subset ? subset.length : set.count;
  const cdf = sampler ? samplerCdf(set, subset, count, sampler) : null;
  const rng = shuffle && !cdf ? createRng(seed) : null;
  const batches = dropLast ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
  const end = dropLast ? batches * batchSize : count;
  const { epoch: skipEpochs = 0, batch: skipBatches = 0 } = options.resumeAt ?? {};
  if (![skipEpochs, skipBatches].every((n) => Number.isSafeInteger(n) && n >= 0)) {
    throw new UserRangeError(
      `Cannot create a data loader: resumeAt needs epoch and batch integers ≥ 0, got ${skipEpochs} and ${skipBatches}`,
    );
  }
  // A permutation draws count − 1 floats (Fisher–Yates), so skipping epochs drops those draws.
  for (let e = 0; rng && e < skipEpochs; e++) for (let i = 1; i < count; i++) rng.nextUint32();
  let first = skipBatches, epochIndex = skipEpochs;
  function* batchesOf(
    order: Uint32Array | null,
    from: number,
    take: TakeBatch<Batch>,
  ): Generator<Batch> {
    for (let start = from * batchSize; start < end; start += batchSize) {
      yield take(order, start, Math.min(batchSize, end - start));
    }
  }
  // The permutation is drawn when the epoch starts, so epochs follow the order of iteration.
  const epoch = () => {
    const from = first;
    first = 0;
    const drawn = cdf &&
      weightedDraws(cdf, createRng(deriveSeed(seed, 0x77736d70, epochIndex)), subset);
    const take = augmented ? augmented(augmentDraws(seed, epochIndex, end)) : plain;
    epochIndex++;
    const order = drawn ?? (rng
      ? shuffleInPlace(
        subset ? subset.slice() : Uint32Array.from({ length: count }, (_, i) => i),
        rng,
      )
      : subset);
    return batchesOf(order, from, take);
  };
  return Object.freeze({ size: count, batches, [Symbol.iterator]: epoch });
}
