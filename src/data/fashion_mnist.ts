/**
 * FashionMNIST: download, verify, cache and parse, sharing torchvision's on-disk layout
 * (`ROOT/FashionMNIST/raw/`) so that an existing PyTorch download is reused. One configuration
 * of the IDX-dataset machinery in `idx_download.ts`.
 * @module
 */

import { FASHION_MNIST_CLASSES } from "../dsl/datasets.ts";
import {
  type IdxDatasetConfig,
  IdxDatasetError,
  type IdxLoadOptions,
  idxRawDir,
  type IdxResource,
  type IdxSplits,
  loadIdxDataset,
  MNIST_FILES,
  writeIdxFiles,
} from "./idx_download.ts";
import type { ImageSet } from "./idx.ts";

export type { ImageSet } from "./idx.ts";

/**
 * A file of the dataset and the MD5 sum of its gzipped form.
 *
 * @example
 * ```ts
 * import type { FashionMnistResource } from "./fashion_mnist.ts";
 * const resource: FashionMnistResource = {
 *   file: "train-images-idx3-ubyte.gz",
 *   md5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
 * };
 * if (resource.md5.length !== 32) throw new Error();
 * ```
 */
export type FashionMnistResource = IdxResource;

/** The four files with torchvision's published MD5 sums (`FashionMNIST.resources`). */
export const FASHION_MNIST_RESOURCES: readonly FashionMnistResource[] = Object.freeze([
  Object.freeze({ file: "train-images-idx3-ubyte.gz", md5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d" }),
  Object.freeze({ file: "train-labels-idx1-ubyte.gz", md5: "25c81989df183df01b3e8a0aad5dffbe" }),
  Object.freeze({ file: "t10k-images-idx3-ubyte.gz", md5: "bef4ecab320f06d8554ea6380940ec79" }),
  Object.freeze({ file: "t10k-labels-idx1-ubyte.gz", md5: "bb300cfdad3c16e7a12a480ee83cd310" }),
]);

/** Download mirrors, tried in order (torchvision's first). */
export const FASHION_MNIST_MIRRORS: readonly string[] = Object.freeze([
  "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
  "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
]);

/**
 * Raised when the dataset cannot be found, downloaded, verified or parsed.
 *
 * @example
 * ```ts
 * import { FashionMnistError, loadFashionMnist } from "./fashion_mnist.ts";
 * const root = await Deno.makeTempDir();
 * const error = await loadFashionMnist({ root, download: false }).catch((e) => e);
 * if (!(error instanceof FashionMnistError)) throw new Error();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class FashionMnistError extends IdxDatasetError {
  /** The error's name. */
  override name = "FashionMnistError";
}

/** FashionMNIST as an IDX dataset: torchvision's files, sums and mirror, then GitHub's. */
export const FASHION_MNIST: IdxDatasetConfig = Object.freeze({
  name: "FashionMNIST",
  files: MNIST_FILES,
  resources: FASHION_MNIST_RESOURCES,
  mirrors: FASHION_MNIST_MIRRORS,
  classes: FASHION_MNIST_CLASSES.length,
  error: FashionMnistError,
});

/**
 * Options of {@linkcode loadFashionMnist}.
 *
 * @example
 * ```ts
 * import { loadFashionMnist, type LoadFashionMnistOptions } from "./fashion_mnist.ts";
 * import { writeSyntheticFashionMnist } from "./synthetic.ts";
 * const root = await Deno.makeTempDir();
 * const { resources } = await writeSyntheticFashionMnist(root, { train: 2, test: 2, seed: 1 });
 * const options: LoadFashionMnistOptions = { root, download: false, resources, progress: false };
 * if ((await loadFashionMnist(options)).train.count !== 2) throw new Error();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export interface LoadFashionMnistOptions extends IdxLoadOptions {
  /** Root directory; files live in `ROOT/FashionMNIST/raw/` as with torchvision. */
  readonly root: string;
  /** Files and MD5 sums (default {@linkcode FASHION_MNIST_RESOURCES}); for testing. */
  readonly resources?: readonly FashionMnistResource[];
  /** Mirror base URLs (default {@linkcode FASHION_MNIST_MIRRORS}); for testing. */
  readonly mirrors?: readonly string[];
}

/**
 * The train and test splits.
 *
 * @example
 * ```ts
 * import { type FashionMnist, loadFashionMnist } from "./fashion_mnist.ts";
 * import { writeSyntheticFashionMnist } from "./synthetic.ts";
 * const root = await Deno.makeTempDir();
 * const { resources } = await writeSyntheticFashionMnist(root, { train: 2, test: 2, seed: 1 });
 * const data: FashionMnist = await loadFashionMnist({ root, download: false, resources });
 * if (data.train.classes !== 10 || data.test.count !== 2) throw new Error();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export interface FashionMnist extends IdxSplits {
  /** 60 000 training images. */
  readonly train: ImageSet;
  /** 10 000 test images. */
  readonly test: ImageSet;
}

/**
 * Returns the directory holding the raw files, `ROOT/FashionMNIST/raw`.
 *
 * @param root The dataset root.
 * @returns The directory path.
 */
export function fashionMnistRawDir(root: string): string {
  return idxRawDir(FASHION_MNIST, root);
}

/**
 * Loads FashionMNIST from `ROOT/FashionMNIST/raw/`, downloading missing files when allowed.
 *
 * Per file: an extracted file is used as is (unverified, as torchvision does); otherwise a cached
 * `.gz` with the right MD5 is extracted; otherwise the `.gz` is downloaded from each mirror in
 * turn, verified, cached and extracted.
 *
 * @param options Where the data lives and how to get it.
 * @returns The train and test sets.
 * @throws {FashionMnistError} When a file is missing and cannot be downloaded, a checksum does
 * not match, or a file is malformed.
 * @example
 * ```ts
 * import { loadFashionMnist } from "./fashion_mnist.ts";
 * import { writeSyntheticFashionMnist } from "./synthetic.ts";
 * // Offline: synthetic files in torchvision's layout; with `download` (the default) missing
 * // files are fetched and checked against torchvision's MD5 sums.
 * const root = await Deno.makeTempDir();
 * const { resources } = await writeSyntheticFashionMnist(root, { train: 4, test: 2, seed: 1 });
 * const { train, test } = await loadFashionMnist({ root, download: false, resources });
 * if (train.count !== 4 || test.count !== 2 || train.width !== 28) throw new Error();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export function loadFashionMnist(options: LoadFashionMnistOptions): Promise<FashionMnist> {
  return loadIdxDataset(FASHION_MNIST, options);
}

/**
 * Writes train and test sets into `ROOT/FashionMNIST/raw/` in torchvision's layout, both
 * extracted and gzipped, so that {@linkcode loadFashionMnist} can read them.
 *
 * @param root The dataset root.
 * @param sets The sets to write.
 * @returns The directory written and the MD5 sums of the `.gz` files written.
 */
export function writeIdxDataset(
  root: string,
  sets: { readonly train: ImageSet; readonly test: ImageSet },
): Promise<{ readonly dir: string; readonly resources: readonly FashionMnistResource[] }> {
  return writeIdxFiles(FASHION_MNIST, root, sets);
}
