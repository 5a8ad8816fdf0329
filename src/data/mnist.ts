/**
 * MNIST, KMNIST and EMNIST ("balanced" split) as IDX datasets, with torchvision's files, MD5 sums,
 * mirrors and folder names (`ROOT/MNIST/raw/`, `ROOT/KMNIST/raw/`, `ROOT/EMNIST/raw/`).
 * @module
 */

import { EMNIST_BALANCED_CLASSES, KMNIST_CLASSES, MNIST_CLASSES } from "../dsl/datasets.ts";
import {
  type IdxDatasetConfig,
  type IdxLoadOptions,
  type IdxSplits,
  loadIdxDataset,
  MNIST_FILES,
} from "./idx_download.ts";

const resources = (sums: readonly [string, string, string, string]) =>
  Object.freeze(
    [
      MNIST_FILES.train.images,
      MNIST_FILES.train.labels,
      MNIST_FILES.test.images,
      MNIST_FILES.test.labels,
    ].map((f, i) => Object.freeze({ file: `${f}.gz`, md5: sums[i] })),
  );

/**
 * MNIST: torchvision's `MNIST.resources` and `MNIST.mirrors`, with the S3 mirror tried first
 * (torchvision lists yann.lecun.com first, which often refuses downloads nowadays).
 * @example
 * ```ts
 * import { MNIST } from "./mnist.ts";
 * if (MNIST.name !== "MNIST" || MNIST.resources.length !== 4) throw new Error();
 * ```
 */
export const MNIST: IdxDatasetConfig = Object.freeze({
  name: "MNIST",
  files: MNIST_FILES,
  resources: resources([
    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "d53e105ee54ea40749a09fcbcd1e9432",
    "9fb629c4189551a2d022fa330f9573f3",
    "ec29112dd5afa0611ce80d1b7f02629c",
  ]),
  mirrors: Object.freeze([
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
  ]),
  classes: MNIST_CLASSES.length,
});

/**
 * Kuzushiji-MNIST: torchvision's `KMNIST.resources` and `KMNIST.mirrors`.
 *
 * @example
 * ```ts
 * import { KMNIST } from "./mnist.ts";
 * if (KMNIST.name !== "KMNIST" || KMNIST.resources.length !== 4) throw new Error();
 * ```
 */
export const KMNIST: IdxDatasetConfig = Object.freeze({
  name: "KMNIST",
  files: MNIST_FILES,
  resources: resources([
    "bdb82020997e1d708af4cf47b453dcf7",
    "e144d726b3acfaa3e44228e80efcd344",
    "5c965bf0a639b31b8f53240b1b52f4d7",
    "7320c461ea6c1c855c0b718fb2a4b134",
  ]),
  mirrors: Object.freeze(["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"]),
  classes: KMNIST_CLASSES.length,
});

/**
 * EMNIST's "balanced" split (47 classes): torchvision's `EMNIST.url` and `EMNIST.md5`. The
 * download is one ZIP archive, `gzip.zip` (about 560 MB, all six splits), cached in
 * `ROOT/EMNIST/raw/`; only the four balanced files are extracted from it. As with torchvision, the
 * images are stored transposed (as NIST published them) and are not flipped back.
 * @example
 * ```ts
 * import { EMNIST_BALANCED } from "./mnist.ts";
 * if (EMNIST_BALANCED.name !== "EMNIST") throw new Error();
 * ```
 */
export const EMNIST_BALANCED: IdxDatasetConfig = Object.freeze({
  name: "EMNIST",
  files: Object.freeze({
    train: Object.freeze({
      images: "emnist-balanced-train-images-idx3-ubyte",
      labels: "emnist-balanced-train-labels-idx1-ubyte",
    }),
    test: Object.freeze({
      images: "emnist-balanced-test-images-idx3-ubyte",
      labels: "emnist-balanced-test-labels-idx1-ubyte",
    }),
  }),
  resources: Object.freeze([
    Object.freeze({ file: "gzip.zip", md5: "58c8d27c78d21e728a6bc7b3cc06412e" }),
  ]),
  mirrors: Object.freeze(["https://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/"]),
  classes: EMNIST_BALANCED_CLASSES.length,
  archive: Object.freeze({ file: "gzip.zip", folder: "gzip/" }),
});

/**
 * Loads MNIST from `ROOT/MNIST/raw/`, downloading missing files when allowed (see
 * {@linkcode loadIdxDataset} for the order: extracted file, verified cached `.gz`, download).
 *
 * @param options Where the data lives and how to get it.
 * @returns 60 000 training and 10 000 test images.
 * @throws {IdxDatasetError} When a file is missing and cannot be downloaded, a checksum does not
 * match, or a file is malformed.
 * @example
 * ```ts
 * import { writeIdxFiles } from "./idx_download.ts";
 * import { MNIST, loadMnist } from "./mnist.ts";
 * import { syntheticFashionMnist } from "./synthetic.ts";
 * const root = await Deno.makeTempDir();
 * const sets = syntheticFashionMnist({ train: 3, test: 2, seed: 1 });
 * const { dir, resources } = await writeIdxFiles(MNIST, root, sets);
 * if (!dir.endsWith("MNIST/raw")) throw new Error();
 * const { train } = await loadMnist({ root, download: false, resources });
 * if (train.count !== 3) throw new Error();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export function loadMnist(options: IdxLoadOptions): Promise<IdxSplits> {
  return loadIdxDataset(MNIST, options);
}

/**
 * Loads Kuzushiji-MNIST from `ROOT/KMNIST/raw/`, downloading missing files when allowed.
 *
 * @param options Where the data lives and how to get it.
 * @returns 60 000 training and 10 000 test images.
 * @throws {IdxDatasetError} When a file is missing and cannot be downloaded, a checksum does not
 * match, or a file is malformed.
 * @example
 * ```ts
 * import { writeIdxFiles } from "./idx_download.ts";
 * import { KMNIST, loadKmnist } from "./mnist.ts";
 * import { syntheticFashionMnist } from "./synthetic.ts";
 * const root = await Deno.makeTempDir();
 * const sets = syntheticFashionMnist({ train: 3, test: 2, seed: 1 });
 * const { dir, resources } = await writeIdxFiles(KMNIST, root, sets);
 * if (!dir.endsWith("KMNIST/raw")) throw new Error();
 * const { train } = await loadKmnist({ root, download: false, resources });
 * if (train.count !== 3) throw new Error();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export function loadKmnist(options: IdxLoadOptions): Promise<IdxSplits> {
  return loadIdxDataset(KMNIST, options);
}

/**
 * Loads EMNIST's balanced split from `ROOT/EMNIST/raw/`, downloading and unzipping `gzip.zip`
 * when allowed and the extracted files are missing.
 *
 * @param options Where the data lives and how to get it.
 * @returns 112 800 training and 18 800 test images in 47 classes.
 * @throws {IdxDatasetError} When a file is missing and cannot be downloaded, a checksum does not
 * match, the archive lacks a file, or a file is malformed.
 * @example
 * ```ts
 * import { loadEmnist } from "./mnist.ts";
 * // Missing files are not downloaded when `download` is false: the error says where they belong.
 * const root = await Deno.makeTempDir();
 * const error = await loadEmnist({ root, download: false }).catch((e) => e);
 * if (!(error instanceof Error) || !error.message.includes("EMNIST")) throw new Error();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export function loadEmnist(options: IdxLoadOptions): Promise<IdxSplits> {
  return loadIdxDataset(EMNIST_BALANCED, options);
}
