/** Loads the samples a dataset description names; one loader per dataset kind. @module */
import type {
  Cifar10Dataset,
  Dataset,
  EmnistDataset,
  FashionMnistDataset,
  IdxFilePair,
  IdxFilesDataset,
  ImageFolderDataset,
  KmnistDataset,
  MnistDataset,
  TensorDataset,
} from "../dsl/datasets.ts";
import { loadCifar10 } from "./cifar10.ts";
import { loadFashionMnist } from "./fashion_mnist.ts";
import { loadImageFolderDataset } from "./image_folder.ts";
import { loadEmnist, loadKmnist, loadMnist } from "./mnist.ts";
import { gunzipSync } from "fflate";
import { describeFsError } from "../io/atomic_write.ts";
import { IdxFormatError, idxToImageSet, type ImageSet, parseIdx } from "./idx.ts";
import type { SampleSet } from "./loader.ts";
import type { TensorSet } from "./tensor_dataset.ts";

/**
 * A dataset's train and test splits: image sets (the MNIST family, CIFAR-10) or in-memory tensor
 * sets.
 */
export interface Splits<S extends SampleSet = SampleSet> {
  readonly train: S;
  readonly test: S;
}

/** Overrides applied when loading. */
export interface LoadOptions {
  /** Replaces the dataset's root folder (the CLI's `--data-dir`); in-memory sets ignore it. */
  readonly root?: string;
}

const LOADERS: {
  readonly [K in Dataset["kind"]]: (
    ds: Extract<Dataset, { kind: K }>,
    o: LoadOptions,
  ) => Promise<Splits>;
} = {
  "fashion-mnist": (ds, o) => loadFashionMnist({ root: o.root ?? ds.root, download: ds.download }),
  mnist: (ds, o) => loadMnist({ root: o.root ?? ds.root, download: ds.download }),
  kmnist: (ds, o) => loadKmnist({ root: o.root ?? ds.root, download: ds.download }),
  emnist: (ds, o) => loadEmnist({ root: o.root ?? ds.root, download: ds.download }),
  cifar10: (ds, o) => loadCifar10({ root: o.root ?? ds.root, download: ds.download }),
  idx: (ds) => loadIdxFiles(ds),
  "image-folder": (ds) => loadImageFolderDataset(ds),
  tensor: (ds) => Promise.resolve(Object.freeze({ train: ds.train, test: ds.test })),
};

/**
 * Loads a dataset's splits, downloading and caching where its description allows. An in-memory
 * dataset's splits are its own arrays, not copies.
 *
 * @param dataset The dataset description.
 * @param options Overrides such as the root folder.
 * @returns The train and test splits.
 * @example
 * ```ts
 * import { tensorDataset } from "../dsl/datasets.ts";
 * import { loadDataset } from "./datasets.ts";
 * const x = Float32Array.of(1, 2, 3);
 * const ds = tensorDataset({
 *   train: { x, y: [0, 1, 0] },
 *   test: { x, y: [1, 1, 0] },
 *   sampleShape: [1],
 * });
 * const { train, test } = await loadDataset(ds);
 * if (train.x !== x || test.count !== 3) throw new Error();
 * ```
 */
export function loadDataset(
  dataset:
    | FashionMnistDataset
    | MnistDataset
    | KmnistDataset
    | EmnistDataset
    | Cifar10Dataset
    | IdxFilesDataset
    | ImageFolderDataset,
  options?: LoadOptions,
): Promise<Splits<ImageSet>>;
export function loadDataset(
  dataset: TensorDataset,
  options?: LoadOptions,
): Promise<Splits<TensorSet>>;
export function loadDataset(dataset: Dataset, options?: LoadOptions): Promise<Splits>;
export function loadDataset(dataset: Dataset, options: LoadOptions = {}): Promise<Splits> {
  return (LOADERS[dataset.kind] as (ds: Dataset, o: LoadOptions) => Promise<Splits>)(
    dataset,
    options,
  );
}

/** Reads an IDX file, gunzipping it when it is gzipped (by content, not by name). */
async function readIdxFile(path: string) {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new IdxFormatError(`Cannot read IDX file ${path}: ${describeFsError(e)}`, { cause: e });
  }
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new IdxFormatError(`Cannot gunzip IDX file ${path}: ${(e as Error).message}`);
    }
  }
  return parseIdx(bytes, path);
}

/** Loads an IDX-files dataset, checking the files against its declared image size and classes. */
async function loadIdxFiles(ds: IdxFilesDataset): Promise<Splits<ImageSet>> {
  const [, h, w] = ds.sampleShape;
  const load = async (pair: IdxFilePair) =>
    idxToImageSet(
      await readIdxFile(pair.images),
      await readIdxFile(pair.labels),
      pair,
      [h, w],
      ds.classes,
    );
  return Object.freeze({ train: await load(ds.train), test: await load(ds.test) });
}
