/**
 * A synthetic, FashionMNIST-shaped dataset (28×28 uint8 images, 10 classes) for tests and offline
 * runs: each class is a smooth random prototype; each sample is a shifted, rescaled prototype
 * blended with another class's and covered in pixel noise, so a model learns it gradually (plain
 * softmax regression on seed 1: about 78 % test accuracy after one epoch, 83 % after two).
 * @module
 */

import { createRng, type Rng, shuffleInPlace } from "../util/random.ts";
import { type FashionMnistResource, writeIdxDataset } from "./fashion_mnist.ts";
import type { ImageSet } from "./idx.ts";
import { UserRangeError } from "../util/user_error.ts";

/**
 * Options of {@linkcode syntheticFashionMnist}.
 *
 * @example
 * ```ts
 * import { syntheticFashionMnist, type SyntheticOptions } from "./synthetic.ts";
 * const options: SyntheticOptions = { train: 10, test: 0, seed: 42 };
 * const a = syntheticFashionMnist(options), b = syntheticFashionMnist(options);
 * if (a.train.images.join() !== b.train.images.join() || a.test.count !== 0) {
 *   throw new Error("same seed, same data");
 * }
 * ```
 */
export interface SyntheticOptions {
  /** Number of training images. */
  readonly train: number;
  /** Number of test images. */
  readonly test: number;
  /** Seed; equal seeds give identical data. */
  readonly seed: number;
}

const SIDE = 28, PIXELS = SIDE * SIDE, CLASSES = 10, BLOBS = 4;
const MAX_SHIFT = 3, NOISE_SCALE = 2 * 255 * 0.5, MAX_BLEND = 0.45;

/** Builds one smooth prototype in [0, 1] as a sum of Gaussian blobs. */
function prototype(rng: Rng): Float32Array {
  const out = new Float32Array(PIXELS);
  for (let b = 0; b < BLOBS; b++) {
    const cx = 5 + 18 * rng.nextFloat(), cy = 5 + 18 * rng.nextFloat();
    const sx = 2 + 5 * rng.nextFloat(), sy = 2 + 5 * rng.nextFloat();
    const amp = 0.4 + 0.6 * rng.nextFloat();
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) {
        const dx = (x - cx) / sx, dy = (y - cy) / sy;
        out[y * SIDE + x] += amp * Math.exp(-0.5 * (dx * dx + dy * dy));
      }
    }
  }
  let max = 0;
  for (const v of out) max = Math.max(max, v);
  for (let i = 0; i < PIXELS; i++) out[i] /= max;
  return out;
}

function generate(count: number, protos: readonly Float32Array[], rng: Rng): ImageSet {
  const labels = new Uint8Array(count).map((_, i) => i % CLASSES);
  shuffleInPlace(labels, rng);
  const images = new Uint8Array(count * PIXELS);
  let s = rng.nextUint32() || 1; // xorshift32 state for the per-pixel noise
  for (let n = 0; n < count; n++) {
    const own = protos[labels[n]];
    const other = protos[(labels[n] + 1 + (rng.nextUint32() % (CLASSES - 1))) % CLASSES];
    const blend = MAX_BLEND * rng.nextFloat(), bright = 0.6 + 0.6 * rng.nextFloat();
    const wa = 255 * bright * (1 - blend), wb = 255 * bright * blend;
    const span = 2 * MAX_SHIFT + 1;
    const sx = (rng.nextUint32() % span) - MAX_SHIFT, sy = (rng.nextUint32() % span) - MAX_SHIFT;
    const base = n * PIXELS;
    for (let y = 0; y < SIDE; y++) {
      const py = y - sy, rowOk = py >= 0 && py < SIDE;
      for (let x = 0; x < SIDE; x++) {
        const px = x - sx, i = py * SIDE + px;
        const v = rowOk && px >= 0 && px < SIDE ? wa * own[i] + wb * other[i] : 0;
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        const p = v + ((s >>> 0) / 4294967296 - 0.5) * NOISE_SCALE;
        images[base + y * SIDE + x] = p < 0 ? 0 : p > 255 ? 255 : p + 0.5;
      }
    }
  }
  return Object.freeze({ images, labels, count, height: SIDE, width: SIDE, classes: CLASSES });
}

/**
 * Generates a FashionMNIST-shaped dataset: 28×28 uint8 images, 10 balanced, shuffled classes.
 *
 * @param options Split sizes and seed.
 * @returns The train and test sets (same prototypes, independent samples).
 * @throws {RangeError} When a split size is not a non-negative integer or the seed is invalid.
 * @example
 * ```ts
 * import { syntheticFashionMnist } from "./synthetic.ts";
 * const { train, test } = syntheticFashionMnist({ train: 20, test: 10, seed: 1 });
 * if (train.count !== 20 || train.images.length !== 20 * 28 * 28 || test.labels.length !== 10) {
 *   throw new Error();
 * }
 * if (Math.max(...train.labels) !== 9) throw new Error("10 balanced classes");
 * ```
 */
export function syntheticFashionMnist(
  options: SyntheticOptions,
): { readonly train: ImageSet; readonly test: ImageSet } {
  for (const split of ["train", "test"] as const) {
    const n = options[split];
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new UserRangeError(
        `Cannot generate synthetic FashionMNIST: ${split} size must be a non-negative integer, ` +
          `got ${n}`,
      );
    }
  }
  const rng = createRng(options.seed);
  const protos = Array.from({ length: CLASSES }, () => prototype(rng));
  const train = generate(options.train, protos, rng);
  return Object.freeze({ train, test: generate(options.test, protos, rng) });
}

/**
 * Generates a synthetic dataset and writes it to `ROOT/FashionMNIST/raw/` in torchvision's layout.
 *
 * @param root The dataset root.
 * @param options Split sizes and seed.
 * @returns The directory written and the MD5 sums of the `.gz` files written.
 * @example
 * ```ts
 * import { loadFashionMnist } from "./fashion_mnist.ts";
 * import { writeSyntheticFashionMnist } from "./synthetic.ts";
 * const root = await Deno.makeTempDir();
 * const { resources } = await writeSyntheticFashionMnist(root, { train: 10, test: 10, seed: 1 });
 * const data = await loadFashionMnist({ root, download: false, resources });
 * if (data.train.count !== 10 || data.test.height !== 28) throw new Error();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export function writeSyntheticFashionMnist(
  root: string,
  options: SyntheticOptions,
): Promise<{ readonly dir: string; readonly resources: readonly FashionMnistResource[] }> {
  return writeIdxDataset(root, syntheticFashionMnist(options));
}
