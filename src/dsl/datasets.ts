/** Datasets: immutable descriptions of where samples come from and what shape they have. @module */
import { UserRangeError, UserTypeError } from "../util/user_error.ts";

/**
 * FashionMNIST: 28×28 grayscale images in 10 classes, 60 000 for training and 10 000 for test.
 *
 * @example
 * ```ts
 * import { fashionMnist, type FashionMnistDataset } from "./datasets.ts";
 * const ds: FashionMnistDataset = fashionMnist({ root: "data" });
 * if (ds.sampleShape.join() !== "1,28,28" || ds.classes !== 10) throw new Error();
 * ```
 */
export interface FashionMnistDataset {
  /** Discriminates the dataset union. */
  readonly kind: "fashion-mnist";
  /** Root folder; files live in `ROOT/FashionMNIST/raw/` as torchvision keeps them. */
  readonly root: string;
  /** Whether missing files may be downloaded (default true). */
  readonly download: boolean;
  /** Shape of one sample after ToTensor: [channels, height, width]. */
  readonly sampleShape: readonly number[];
  /** Number of classes. */
  readonly classes: number;
  /** The classes' names, by class index (torchvision's `FashionMNIST.classes`). */
  readonly classNames?: readonly string[];
}

/**
 * What the built-in 28×28 grayscale image datasets other than FashionMNIST hold.
 *
 * @example
 * ```ts
 * import { type IdxImageDatasetBase, kmnist } from "./datasets.ts";
 * const ds: IdxImageDatasetBase = kmnist({ root: "data", download: false });
 * if (ds.download || ds.classNames.length !== 10) throw new Error();
 * ```
 */
export interface IdxImageDatasetBase {
  /** Root folder; files live in `ROOT/<Name>/raw/` as torchvision keeps them. */
  readonly root: string;
  /** Whether missing files may be downloaded (default true). */
  readonly download: boolean;
  /** Shape of one sample after ToTensor: [channels, height, width]. */
  readonly sampleShape: readonly number[];
  /** Number of classes. */
  readonly classes: number;
  /** The classes' names, by class index (torchvision's `classes`). */
  readonly classNames: readonly string[];
}

/**
 * MNIST: 28×28 handwritten digits in 10 classes, 60 000 for training and 10 000 for test.
 *
 * @example
 * ```ts
 * import { mnist, type MnistDataset } from "./datasets.ts";
 * const ds: MnistDataset = mnist();
 * if (ds.root !== "data" || ds.classNames[7] !== "7 - seven") throw new Error();
 * ```
 */
export interface MnistDataset extends IdxImageDatasetBase {
  /** Discriminates the dataset union. */
  readonly kind: "mnist";
}

/**
 * Kuzushiji-MNIST: 28×28 cursive Japanese characters in 10 classes, 60 000 + 10 000.
 *
 * @example
 * ```ts
 * import { kmnist, type KmnistDataset } from "./datasets.ts";
 * const ds: KmnistDataset = kmnist();
 * if (ds.kind !== "kmnist") throw new Error();
 * ```
 */
export interface KmnistDataset extends IdxImageDatasetBase {
  /** Discriminates the dataset union. */
  readonly kind: "kmnist";
}

/**
 * EMNIST's balanced split: 28×28 digits and letters in 47 classes, 112 800 + 18 800.
 *
 * @example
 * ```ts
 * import { emnist, type EmnistDataset } from "./datasets.ts";
 * const ds: EmnistDataset = emnist({ split: "balanced" });
 * if (ds.split !== "balanced" || ds.classes !== 47) throw new Error();
 * ```
 */
export interface EmnistDataset extends IdxImageDatasetBase {
  /** Discriminates the dataset union. */
  readonly kind: "emnist";
  /** The split; only `"balanced"` is supported. */
  readonly split: "balanced";
}

/**
 * CIFAR-10: 32×32 colour images (`[3, 32, 32]`, channels first) in 10 classes, 50 000 for
 * training and 10 000 for test, from the binary version of the dataset.
 * @example
 * ```ts
 * import { cifar10, type Cifar10Dataset } from "./datasets.ts";
 * const ds: Cifar10Dataset = cifar10();
 * if (ds.sampleShape.join() !== "3,32,32") throw new Error();
 * ```
 */
export interface Cifar10Dataset {
  /** Discriminates the dataset union. */
  readonly kind: "cifar10";
  /** Root folder; files live in `ROOT/cifar-10-batches-bin/`, the archive's own folder. */
  readonly root: string;
  /** Whether missing files may be downloaded (default true). */
  readonly download: boolean;
  /** Shape of one sample after ToTensor: `[3, 32, 32]`. */
  readonly sampleShape: readonly number[];
  /** Number of classes. */
  readonly classes: number;
  /** The classes' names, by class index (torchvision's `CIFAR10.classes`). */
  readonly classNames: readonly string[];
}

/**
 * Model inputs of an in-memory dataset: float features, or token ids (int32 or int64).
 *
 * @example
 * ```ts
 * import { tensorDataset, type TensorInputs } from "./datasets.ts";
 * const tokens: TensorInputs = Int32Array.of(3, 1, 4, 1);
 * const ds = tensorDataset({
 *   train: { x: tokens, y: [0, 1] },
 *   test: { x: tokens, y: [0, 1] },
 *   sampleShape: [2],
 * });
 * if (ds.inputDtype !== "int64") throw new Error();
 * ```
 */
export type TensorInputs = Float32Array | BigInt64Array | Int32Array;

/**
 * Class-index targets of an in-memory dataset, one per sample.
 *
 * @example
 * ```ts
 * import { type ClassIndices, tensorDataset } from "./datasets.ts";
 * const y: ClassIndices = Int32Array.of(0, 1);
 * const ds = tensorDataset({
 *   train: { x: Float32Array.of(0, 1, 1, 0), y },
 *   test: { x: Float32Array.of(0, 1, 1, 0), y },
 *   sampleShape: [2],
 * });
 * if (ds.classes !== 2) throw new Error();
 * ```
 */
export type ClassIndices = BigInt64Array | Int32Array;

/**
 * What a dataset's targets are: class indices or float tensors.
 *
 * @example
 * ```ts
 * import type { TargetKind, TensorDataset } from "./datasets.ts";
 * const kind: TargetKind = "float";
 * const describe = (ds: TensorDataset) => ds.targets;
 * if (kind !== "float" || typeof describe !== "function") throw new Error();
 * ```
 */
export type TargetKind = "classes" | "float";

/**
 * One split of an in-memory dataset: `count` samples, row-major, sample after sample.
 *
 * @example
 * ```ts
 * import { tensorDataset, type TensorSplit } from "./datasets.ts";
 * const ds = tensorDataset({
 *   train: { x: Float32Array.of(0, 1, 1, 0), y: [0, 1] },
 *   test: { x: Float32Array.of(0, 1, 1, 0), y: [0, 1] },
 *   sampleShape: [2],
 * });
 * const train: TensorSplit = ds.train;
 * if (train.count !== 2 || train.y[1] !== 1n) throw new Error();
 * ```
 */
export interface TensorSplit<Y extends ClassIndices | Float32Array = ClassIndices | Float32Array> {
  /** `count · ∏sampleShape` input values. */
  readonly x: TensorInputs;
  /** `count` class indices, or `count · ∏targetShape` float targets. */
  readonly y: Y;
  /** Number of samples. */
  readonly count: number;
}

/**
 * What every in-memory dataset holds.
 *
 * @example
 * ```ts
 * import { tensorDataset, type TensorDatasetBase } from "./datasets.ts";
 * const ds: TensorDatasetBase = tensorDataset({
 *   train: { x: Float32Array.of(0, 1, 1, 0), y: [0, 1] },
 *   test: { x: Float32Array.of(0, 1, 1, 0), y: [0, 1] },
 *   sampleShape: [2],
 * });
 * if (ds.kind !== "tensor" || ds.sampleShape.join() !== "2") throw new Error();
 * ```
 */
export interface TensorDatasetBase {
  /** Discriminates the dataset union. */
  readonly kind: "tensor";
  /** Shape of one sample: the model input is `[N, ...sampleShape]`. */
  readonly sampleShape: readonly number[];
  /** Element type of the model input: float32 features or int64 token ids. */
  readonly inputDtype: "float32" | "int64";
  /**
   * The files the samples were read from (`csvDataset`, `npyDataset`), so that a run refuses an
   * output onto one of them; absent for data built in memory.
   */
  readonly sources?: readonly string[];
}

/**
 * An in-memory dataset with class-index targets (for classifiers, `crossEntropy()`).
 *
 * @example
 * ```ts
 * import { type ClassTensorDataset, tensorDataset } from "./datasets.ts";
 * const ds: ClassTensorDataset = tensorDataset({
 *   train: { x: Float32Array.of(0, 1, 1, 0), y: [0, 1] },
 *   test: { x: Float32Array.of(0, 1, 1, 0), y: [0, 1] },
 *   sampleShape: [2],
 *   classNames: ["no", "yes"],
 * });
 * if (ds.targets !== "classes" || ds.classes !== 2) throw new Error();
 * ```
 */
export interface ClassTensorDataset extends TensorDatasetBase {
  /** Targets are class indices. */
  readonly targets: "classes";
  /** The training split. */
  readonly train: TensorSplit<ClassIndices>;
  /** The test split. */
  readonly test: TensorSplit<ClassIndices>;
  /** Number of classes; every class index is below it. */
  readonly classes: number;
  /** The classes' names, by class index, when given (stored in exported models). */
  readonly classNames?: readonly string[];
  /**
   * Shape of one sample's class indices, e.g. `[T]` for sequence labels (the target is
   * `[N, ...labelShape]`); absent: one class index per sample.
   */
  readonly labelShape?: readonly number[];
  /** The index marking positions without a label (allowed besides `[0, classes)`), when given. */
  readonly ignoreIndex?: number;
}

/**
 * An in-memory dataset with float targets (for regression-style losses).
 *
 * @example
 * ```ts
 * import { type FloatTensorDataset, tensorDataset } from "./datasets.ts";
 * const y = Float32Array.of(0.5, 1.5);
 * const ds: FloatTensorDataset = tensorDataset({
 *   train: { x: Float32Array.of(0, 1, 1, 0), y },
 *   test: { x: Float32Array.of(0, 1, 1, 0), y },
 *   sampleShape: [2],
 *   targetShape: [1],
 * });
 * if (ds.targets !== "float" || ds.targetShape.join() !== "1") throw new Error();
 * ```
 */
export interface FloatTensorDataset extends TensorDatasetBase {
  /** Targets are float tensors. */
  readonly targets: "float";
  /** The training split. */
  readonly train: TensorSplit<Float32Array>;
  /** The test split. */
  readonly test: TensorSplit<Float32Array>;
  /** Shape of one sample's target: the target is `[N, ...targetShape]`. */
  readonly targetShape: readonly number[];
}

/**
 * An in-memory dataset; `T` says whether its targets are class indices or float tensors.
 *
 * @example
 * ```ts
 * import { type TensorDataset, tensorDataset } from "./datasets.ts";
 * const ds: TensorDataset<"classes"> = tensorDataset({
 *   train: { x: Float32Array.of(0, 1, 1, 0), y: [1, 0] },
 *   test: { x: Float32Array.of(0, 1, 1, 0), y: [1, 0] },
 *   sampleShape: [2],
 * });
 * if (ds.classes !== 2) throw new Error();
 * ```
 */
export type TensorDataset<T extends TargetKind = TargetKind> = T extends "classes"
  ? ClassTensorDataset
  : FloatTensorDataset;

/**
 * IDX files at any path (the MNIST file format): grayscale images and labels, train and test.
 *
 * @example
 * ```ts
 * import { idxDataset, type IdxFilesDataset } from "./datasets.ts";
 * const ds: IdxFilesDataset = idxDataset({
 *   train: { images: "train-images.gz", labels: "train-labels.gz" },
 *   test: { images: "test-images.gz", labels: "test-labels.gz" },
 *   imageSize: [20, 20],
 *   classes: 4,
 * });
 * if (ds.sampleShape.join() !== "1,20,20" || ds.test.labels !== "test-labels.gz") {
 *   throw new Error();
 * }
 * ```
 */
export interface IdxFilesDataset {
  /** Discriminates the dataset union. */
  readonly kind: "idx";
  /** The images (`[n, height, width]` uint8) and labels (`[n]` uint8) files of each split. */
  readonly train: IdxFilePair;
  /** The test split's files. */
  readonly test: IdxFilePair;
  /** `[1, height, width]`, as declared; the files are checked against it when loaded. */
  readonly sampleShape: readonly number[];
  /** Number of classes; every label is below it. */
  readonly classes: number;
  /** The classes' names, by class index, when given. */
  readonly classNames?: readonly string[];
}

/**
 * An images file and a labels file, plain or gzipped (`.gz`).
 *
 * @example
 * ```ts
 * import { idxDataset, type IdxFilePair } from "./datasets.ts";
 * const files: IdxFilePair = { images: "images.idx3-ubyte", labels: "labels.idx1-ubyte" };
 * if (
 *   idxDataset({ train: files, test: files, imageSize: [8, 8], classes: 2 }).train.images !==
 *     files.images
 * ) throw new Error();
 * ```
 */
export interface IdxFilePair {
  /** Path of the images file. */
  readonly images: string;
  /** Path of the labels file. */
  readonly labels: string;
}

/**
 * Any dataset.
 *
 * @example
 * ```ts
 * import { cifar10, type Dataset, fashionMnist } from "./datasets.ts";
 * const choices: Dataset[] = [fashionMnist(), cifar10()];
 * if (choices.map((d) => d.kind).join() !== "fashion-mnist,cifar10") throw new Error();
 * ```
 */
export type Dataset =
  | FashionMnistDataset
  | MnistDataset
  | KmnistDataset
  | EmnistDataset
  | Cifar10Dataset
  | IdxFilesDataset
  | ImageFolderDataset
  | TensorDataset;

/**
 * IDX files at any path (MNIST's file format, plain or gzipped), with ToTensor applied. The image
 * size and class count are declared, so the model's shapes are known before the files are read;
 * loading checks the files against them (an error names the file and both shapes).
 *
 * @param options `train` and `test` file pairs, `imageSize` `[height, width]`, `classes`, and
 * optional `classNames`.
 * @returns The dataset description.
 * @example
 * ```ts
 * import { idxDataset } from "./datasets.ts";
 * const ds = idxDataset({
 *   train: { images: "train-images.idx3-ubyte", labels: "train-labels.idx1-ubyte.gz" },
 *   test: { images: "test-images.idx3-ubyte", labels: "test-labels.idx1-ubyte" },
 *   imageSize: [28, 28],
 *   classes: 10,
 * });
 * if (ds.sampleShape.join() !== "1,28,28") throw new Error();
 * ```
 */
export function idxDataset(options: {
  readonly train: IdxFilePair;
  readonly test: IdxFilePair;
  readonly imageSize: readonly [number, number];
  readonly classes: number;
  readonly classNames?: readonly string[];
}): IdxFilesDataset {
  const fail = (why: string): never => {
    throw new UserRangeError(`Cannot create IDX dataset: ${why}`);
  };
  const [h, w] = options.imageSize ?? [];
  if (![h, w].every((d) => Number.isInteger(d) && d > 0)) {
    fail(`imageSize must be two positive integers, got ${JSON.stringify(options.imageSize)}`);
  }
  if (!Number.isInteger(options.classes) || options.classes < 1 || options.classes > 256) {
    fail(`classes must be an integer in 1..256 (labels are bytes), got ${options.classes}`);
  }
  for (const split of ["train", "test"] as const) {
    const pair = options[split];
    if (typeof pair?.images !== "string" || typeof pair?.labels !== "string") {
      fail(`${split} needs the paths of an images file and a labels file`);
    }
  }
  if (options.classNames && options.classNames.length !== options.classes) {
    fail(`${options.classNames.length} class names for ${options.classes} classes`);
  }
  return Object.freeze({
    kind: "idx",
    train: Object.freeze({ ...options.train }),
    test: Object.freeze({ ...options.test }),
    sampleShape: Object.freeze([1, h, w]),
    classes: options.classes,
    ...(options.classNames ? { classNames: Object.freeze([...options.classNames]) } : {}),
  });
}

/**
 * PNG images in one sub-folder per class (torchvision's `ImageFolder`), train and test; see
 * {@linkcode imageFolder}.
 * @example
 * ```ts
 * import { imageFolder, type ImageFolderDataset } from "./datasets.ts";
 * const ds: ImageFolderDataset = imageFolder({
 *   train: "a/train",
 *   test: "a/test",
 *   imageSize: [32, 32],
 *   channels: 1,
 *   classes: 2,
 * });
 * if (ds.sampleShape.join() !== "1,32,32") throw new Error();
 * ```
 */
export interface ImageFolderDataset {
  /** Discriminates the dataset union. */
  readonly kind: "image-folder";
  /** Folder of the training images: `TRAIN/<class>/<image>.png`. */
  readonly train: string;
  /** Folder of the test images, with the same class sub-folders. */
  readonly test: string;
  /** `[channels, height, width]`, as declared; the images are checked against it when loaded. */
  readonly sampleShape: readonly number[];
  /** Number of classes (class sub-folders). */
  readonly classes: number;
  /** The class sub-folders' names, sorted, when declared; loading checks them. */
  readonly classNames?: readonly string[];
}

/**
 * Folders of PNG images, one sub-folder per class, as torchvision's `ImageFolder` reads them: the
 * class of an image is its sub-folder's name, and class indices follow the names sorted by code
 * unit (Python's `sorted`). Train and test must hold the same class sub-folders. ToTensor is
 * applied (pixels as float32 in [0, 1], channels first).
 *
 * The image size, channels and class count are declared, so the model's shapes are known before
 * any file is read; loading checks the images against them. Images are not resized: each must
 * already be `height × width`. Gray, gray+alpha, RGB, RGBA and palette PNGs (8- or 16-bit; 16-bit
 * keeps the high byte) are converted to the declared channels as PIL's `convert("L")` /
 * `convert("RGB")` do: alpha is dropped, gray is repeated into RGB, and RGB becomes gray as
 * `L = (19595 R + 38470 G + 7471 B + 32768) >> 16` (ITU-R 601-2 luma, 0.299 R + 0.587 G +
 * 0.114 B, rounded as Pillow does).
 *
 * @param options `train` and `test` folders, `imageSize` `[height, width]`, `channels` (1 or 3),
 * and `classes` (the class count) or `classNames` (the class sub-folders, sorted) or both.
 * @returns The dataset description.
 * @throws {RangeError} On an invalid size, channel count or class declaration.
 * @example
 * ```ts
 * import { imageFolder } from "./datasets.ts";
 * const ds = imageFolder({
 *   train: "pets/train",
 *   test: "pets/test",
 *   imageSize: [64, 64],
 *   channels: 3,
 *   classNames: ["cat", "dog"],
 * });
 * if (ds.sampleShape.join() !== "3,64,64" || ds.classes !== 2) throw new Error();
 * ```
 */
export function imageFolder(options: {
  readonly train: string;
  readonly test: string;
  readonly imageSize: readonly [number, number];
  readonly channels: 1 | 3;
  readonly classes?: number;
  readonly classNames?: readonly string[];
}): ImageFolderDataset {
  const fail = (why: string): never => {
    throw new UserRangeError(`Cannot create image-folder dataset: ${why}`);
  };
  for (const split of ["train", "test"] as const) {
    if (typeof options[split] !== "string" || options[split] === "") {
      fail(`${split} must be the path of a folder, got ${JSON.stringify(options[split])}`);
    }
  }
  const [h, w] = options.imageSize ?? [];
  if (![h, w].every((d) => Number.isInteger(d) && d > 0)) {
    fail(`imageSize must be two positive integers, got ${JSON.stringify(options.imageSize)}`);
  }
  if (options.channels !== 1 && options.channels !== 3) {
    fail(`channels must be 1 or 3, got ${JSON.stringify(options.channels)}`);
  }
  const names = options.classNames;
  if (names !== undefined) {
    if (!Array.isArray(names) || !names.every((n) => typeof n === "string" && n !== "")) {
      fail("classNames must be non-empty strings (the class sub-folders' names)");
    }
    const sorted = [...names].sort();
    if (sorted.some((n, i) => n !== names[i] || n === sorted[i - 1])) {
      fail(
        `classNames must be distinct and sorted, as the class indices are, got ${
          JSON.stringify(names)
        }`,
      );
    }
  }
  const classes = options.classes ?? names?.length;
  if (classes === undefined) fail("declare classes (the class count) or classNames");
  if (!Number.isInteger(classes) || classes! < 1 || classes! > 256) {
    fail(`classes must be an integer in 1..256 (labels are bytes), got ${classes}`);
  }
  if (names && names.length !== classes) fail(`${names.length} class names for ${classes} classes`);
  return Object.freeze({
    kind: "image-folder",
    train: options.train,
    test: options.test,
    sampleShape: Object.freeze([options.channels, h, w]),
    classes: classes!,
    ...(names ? { classNames: Object.freeze([...names]) } : {}),
  });
}

/**
 * torchvision's `FashionMNIST.classes`: the names of the 10 classes, by class index.
 *
 * @example
 * ```ts
 * import { FASHION_MNIST_CLASSES } from "./datasets.ts";
 * if (FASHION_MNIST_CLASSES[0] !== "T-shirt/top" || FASHION_MNIST_CLASSES.length !== 10) {
 *   throw new Error();
 * }
 * ```
 */
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
]);

/**
 * The FashionMNIST dataset, with ToTensor applied (pixels as float32 in [0, 1]).
 *
 * @param options `root` (default `"data"`) and `download` (default true).
 * @returns The dataset description.
 * @example
 * ```ts
 * import { fashionMnist } from "./datasets.ts";
 * const ds = fashionMnist({ root: "data" });
 * if (ds.sampleShape.join() !== "1,28,28" || ds.classes !== 10) throw new Error();
 * ```
 */
export function fashionMnist(
  options: { readonly root?: string; readonly download?: boolean } = {},
): FashionMnistDataset {
  return Object.freeze({
    kind: "fashion-mnist",
    root: options.root ?? "data",
    download: options.download ?? true,
    sampleShape: Object.freeze([1, 28, 28]),
    classes: 10,
    classNames: FASHION_MNIST_CLASSES,
  });
}

/**
 * torchvision's `MNIST.classes`: the names of the 10 digits, by class index.
 *
 * @example
 * ```ts
 * import { MNIST_CLASSES } from "./datasets.ts";
 * if (MNIST_CLASSES.length !== 10 || MNIST_CLASSES[0] !== "0 - zero") throw new Error();
 * ```
 */
export const MNIST_CLASSES: readonly string[] = Object.freeze([
  "0 - zero",
  "1 - one",
  "2 - two",
  "3 - three",
  "4 - four",
  "5 - five",
  "6 - six",
  "7 - seven",
  "8 - eight",
  "9 - nine",
]);

/**
 * torchvision's `KMNIST.classes`: the romanised names of the 10 characters, by class index.
 *
 * @example
 * ```ts
 * import { KMNIST_CLASSES } from "./datasets.ts";
 * if (KMNIST_CLASSES.length !== 10) throw new Error();
 * ```
 */
export const KMNIST_CLASSES: readonly string[] = Object.freeze(
  ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
);

/**
 * torchvision's `EMNIST.classes_split_dict["balanced"]`: the 47 classes, by class index — the
 * digits, the capital letters, then the lower-case letters not merged with their capitals.
 * @example
 * ```ts
 * import { EMNIST_BALANCED_CLASSES } from "./datasets.ts";
 * if (EMNIST_BALANCED_CLASSES.length !== 47 || EMNIST_BALANCED_CLASSES[10] !== "A") {
 *   throw new Error();
 * }
 * ```
 */
export const EMNIST_BALANCED_CLASSES: readonly string[] = Object.freeze([
  ..."0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
  ..."abdefghnqrt",
]);

/**
 * Options of the built-in image datasets.
 *
 * @example
 * ```ts
 * import { type ImageDatasetOptions, mnist } from "./datasets.ts";
 * const options: ImageDatasetOptions = { root: "/tmp/datasets", download: false };
 * if (mnist(options).root !== "/tmp/datasets") throw new Error();
 * ```
 */
export interface ImageDatasetOptions {
  /** Root folder (default `"data"`). */
  readonly root?: string;
  /** Whether missing files may be downloaded (default true). */
  readonly download?: boolean;
}

const idxImageDataset = (options: ImageDatasetOptions, classNames: readonly string[]) => ({
  root: options.root ?? "data",
  download: options.download ?? true,
  sampleShape: Object.freeze([1, 28, 28]),
  classes: classNames.length,
  classNames,
});

/**
 * The MNIST dataset (torchvision's `MNIST`, in `ROOT/MNIST/raw/`), with ToTensor applied.
 *
 * @param options `root` (default `"data"`) and `download` (default true).
 * @returns The dataset description.
 * @example
 * ```ts
 * import { mnist } from "./datasets.ts";
 * const ds = mnist({ root: "data", download: false });
 * if (ds.sampleShape.join() !== "1,28,28" || ds.classes !== 10) throw new Error();
 * if (ds.classNames[7] !== "7 - seven") throw new Error();
 * ```
 */
export function mnist(options: ImageDatasetOptions = {}): MnistDataset {
  return Object.freeze({ kind: "mnist", ...idxImageDataset(options, MNIST_CLASSES) });
}

/**
 * The Kuzushiji-MNIST dataset (torchvision's `KMNIST`, in `ROOT/KMNIST/raw/`), with ToTensor
 * applied.
 *
 * @param options `root` (default `"data"`) and `download` (default true).
 * @returns The dataset description.
 * @example
 * ```ts
 * import { kmnist } from "./datasets.ts";
 * const ds = kmnist();
 * if (ds.classes !== 10 || ds.classNames[0] !== "o") throw new Error();
 * ```
 */
export function kmnist(options: ImageDatasetOptions = {}): KmnistDataset {
  return Object.freeze({ kind: "kmnist", ...idxImageDataset(options, KMNIST_CLASSES) });
}

/**
 * The EMNIST dataset's balanced split (torchvision's `EMNIST(split="balanced")`, in
 * `ROOT/EMNIST/raw/`), with ToTensor applied. Downloading fetches NIST's `gzip.zip` (about
 * 560 MB) once; the images are transposed, as torchvision returns them.
 *
 * @param options `split` (only `"balanced"`), `root` (default `"data"`) and `download` (default
 * true).
 * @returns The dataset description.
 * @throws {RangeError} When the split is not `"balanced"`.
 * @example
 * ```ts
 * import { emnist } from "./datasets.ts";
 * const ds = emnist({ split: "balanced" });
 * if (ds.classes !== 47 || ds.classNames[46] !== "t") throw new Error();
 * ```
 */
export function emnist(
  options: ImageDatasetOptions & { readonly split: "balanced" },
): EmnistDataset {
  if (options.split !== "balanced") {
    throw new UserRangeError(
      `Cannot create EMNIST dataset: split must be "balanced" (the only split supported), got ` +
        `${JSON.stringify(options.split)}`,
    );
  }
  return Object.freeze({
    kind: "emnist",
    split: "balanced",
    ...idxImageDataset(options, EMNIST_BALANCED_CLASSES),
  });
}

/**
 * torchvision's `CIFAR10.classes`: the names of the 10 classes, by class index.
 *
 * @example
 * ```ts
 * import { CIFAR10_CLASSES } from "./datasets.ts";
 * if (CIFAR10_CLASSES[0] !== "airplane" || CIFAR10_CLASSES.length !== 10) throw new Error();
 * ```
 */
export const CIFAR10_CLASSES: readonly string[] = Object.freeze([
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
]);

/**
 * The CIFAR-10 dataset, binary version (`cifar-10-binary.tar.gz`, about 162 MB, downloaded once,
 * MD5-checked and extracted into `ROOT/cifar-10-batches-bin/`), with ToTensor applied: pixels as
 * float32 in [0, 1], `[3, 32, 32]` per image (red, green, blue planes).
 *
 * @param options `root` (default `"data"`) and `download` (default true).
 * @returns The dataset description.
 * @example
 * ```ts
 * import { cifar10 } from "./datasets.ts";
 * const ds = cifar10({ root: "data", download: false });
 * if (ds.sampleShape.join() !== "3,32,32" || ds.classes !== 10) throw new Error();
 * if (ds.classNames[9] !== "truck") throw new Error();
 * ```
 */
export function cifar10(options: ImageDatasetOptions = {}): Cifar10Dataset {
  return Object.freeze({
    kind: "cifar10",
    root: options.root ?? "data",
    download: options.download ?? true,
    sampleShape: Object.freeze([3, 32, 32]),
    classes: CIFAR10_CLASSES.length,
    classNames: CIFAR10_CLASSES,
  });
}

/**
 * A split as given to {@linkcode tensorDataset}.
 *
 * @example
 * ```ts
 * import { tensorDataset, type TensorSplitInput } from "./datasets.ts";
 * const split: TensorSplitInput<readonly number[]> = { x: Float32Array.of(0, 1, 1, 0), y: [0, 1] };
 * if (tensorDataset({ train: split, test: split, sampleShape: [2] }).test.count !== 2) {
 *   throw new Error();
 * }
 * ```
 */
export interface TensorSplitInput<Y> {
  /** Input values, sample after sample. */
  readonly x: TensorInputs;
  /** Targets, sample after sample. */
  readonly y: Y;
}

/**
 * Options of {@linkcode tensorDataset} shared by both target kinds.
 *
 * @example
 * ```ts
 * import type { TensorDatasetOptions } from "./datasets.ts";
 * const options: TensorDatasetOptions<Float32Array> = {
 *   train: { x: Float32Array.of(0, 1, 1, 0), y: Float32Array.of(1, 2) },
 *   test: { x: Float32Array.of(0, 1, 1, 0), y: Float32Array.of(1, 2) },
 *   sampleShape: [2],
 * };
 * if (options.train.y.length !== 2) throw new Error();
 * ```
 */
export interface TensorDatasetOptions<Y> {
  /** The training split. */
  readonly train: TensorSplitInput<Y>;
  /** The test split (may hold the same arrays as `train`). */
  readonly test: TensorSplitInput<Y>;
  /** Shape of one sample, e.g. `[3]` for three features or `[8]` for eight token ids. */
  readonly sampleShape: readonly number[];
}

/**
 * Options of {@linkcode tensorDataset} with class-index targets.
 *
 * @example
 * ```ts
 * import { type ClassTensorDatasetOptions, tensorDataset } from "./datasets.ts";
 * const options: ClassTensorDatasetOptions = {
 *   train: { x: Float32Array.of(0, 1, 1, 0), y: [0, 1] },
 *   test: { x: Float32Array.of(0, 1, 1, 0), y: [0, 1] },
 *   sampleShape: [2],
 *   classes: 3,
 * };
 * if (tensorDataset(options).classes !== 3) throw new Error();
 * ```
 */
export interface ClassTensorDatasetOptions
  extends TensorDatasetOptions<ClassIndices | readonly number[]> {
  /**
   * Number of classes; by default the length of `classNames`, else the largest class index in
   * either split plus one.
   */
  readonly classes?: number;
  /** The classes' names, by class index (stored in exported models' metadata). */
  readonly classNames?: readonly string[];
  /**
   * Shape of one sample's class indices, e.g. `[T]` for a label per token of `T`-token
   * sequences: `y` then holds `count · ∏labelShape` indices and the target is
   * `[N, ...labelShape]`, for `crossEntropy`/`nllLoss` on per-position logits. Default `[]`: one
   * class index per sample.
   */
  readonly labelShape?: readonly number[];
  /**
   * An index that marks a position without a label (PyTorch's −100 for padding), allowed in `y`
   * besides `[0, classes)`; give the loss the same `ignoreIndex`. Default: none allowed.
   */
  readonly ignoreIndex?: number;
  /** Absent: class targets have no target shape. */
  readonly targetShape?: undefined;
}

/**
 * Options of {@linkcode tensorDataset} with float targets.
 *
 * @example
 * ```ts
 * import { type FloatTensorDatasetOptions, tensorDataset } from "./datasets.ts";
 * const y = Float32Array.of(1, 2);
 * const options: FloatTensorDatasetOptions = {
 *   train: { x: Float32Array.of(0, 1, 1, 0), y },
 *   test: { x: Float32Array.of(0, 1, 1, 0), y },
 *   sampleShape: [2],
 *   targetShape: [],
 * };
 * if (tensorDataset(options).targetShape.length !== 0) throw new Error();
 * ```
 */
export interface FloatTensorDatasetOptions extends TensorDatasetOptions<Float32Array> {
  /** Shape of one sample's target, e.g. `[2]`; `[]` for one scalar per sample. */
  readonly targetShape: readonly number[];
  /** Absent: float targets have no classes. */
  readonly classes?: undefined;
  /** Absent: float targets have no class names. */
  readonly classNames?: undefined;
  /** Absent: float targets have no label shape (`targetShape` is theirs). */
  readonly labelShape?: undefined;
  /** Absent: float targets have no ignored index. */
  readonly ignoreIndex?: undefined;
}

const CREATE = "Cannot create tensor dataset";
const shapeText = (shape: readonly number[]) => `[${shape.join(", ")}]`;
const typeName = (a: unknown) =>
  ArrayBuffer.isView(a) || Array.isArray(a) ? a.constructor.name : typeof a;

function checkShape(what: string, shape: readonly number[]): readonly number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d > 0)) {
    throw new UserRangeError(
      `${CREATE}: ${what} must be a list of positive integers, got ${
        Array.isArray(shape) ? shapeText(shape) : String(shape)
      }`,
    );
  }
  return Object.freeze([...shape]);
}

function inputDtypeOf(split: string, x: unknown): "float32" | "int64" {
  if (x instanceof Float32Array) return "float32";
  if (x instanceof BigInt64Array || x instanceof Int32Array) return "int64";
  throw new UserTypeError(
    `${CREATE}: ${split} x must be a Float32Array (features) or a BigInt64Array or Int32Array ` +
      `(token ids), got ${typeName(x)}`,
  );
}

function targetKindOf(split: string, y: unknown): TargetKind {
  if (y instanceof Float32Array) return "float";
  if (y instanceof BigInt64Array || y instanceof Int32Array || Array.isArray(y)) return "classes";
  throw new UserTypeError(
    `${CREATE}: ${split} y must be a Float32Array (float targets) or a BigInt64Array, ` +
      `Int32Array or number array (class indices), got ${typeName(y)}`,
  );
}

/** Counts a split's samples from its inputs, checking that they fill whole samples. */
function countOf(split: string, x: TensorInputs, sampleShape: readonly number[]): number {
  const size = sampleShape.reduce((a, d) => a * d, 1);
  if (x.length === 0 || x.length % size !== 0) {
    throw new UserRangeError(
      `${CREATE}: ${split} x has ${x.length} values, which is not a positive multiple of ` +
        `${size}, the size of sampleShape ${shapeText(sampleShape)}`,
    );
  }
  return x.length / size;
}

/**
 * Class indices as a typed array, `∏labelShape` per sample, each checked to be an integer in
 * [0, classes) or the ignore index.
 */
function classIndices(
  split: string,
  y: ClassIndices | readonly number[],
  count: number,
  classes: number | undefined,
  labels: { readonly labelShape?: readonly number[]; readonly ignoreIndex?: number },
): ClassIndices {
  const shape = labels.labelShape ?? [], size = shape.reduce((a, d) => a * d, 1);
  if (y.length !== count * size) {
    throw new UserRangeError(
      `${CREATE}: ${split} y has ${y.length} class indices for ${count} samples ` +
        (shape.length
          ? `of labelShape ${shapeText(shape)} (${size} per sample)`
          : "(one per sample)"),
    );
  }
  const limit = classes ?? Infinity, ignore = labels.ignoreIndex;
  for (let i = 0; i < y.length; i++) {
    const v = Number(y[i]);
    if (v === ignore) continue;
    const why = !Number.isInteger(v)
      ? "is not an integer"
      : v < 0
      ? "is negative"
      : v >= limit
      ? `is not below the class count ${classes}`
      : "";
    if (why) throw new UserRangeError(`${CREATE}: class index ${y[i]} at ${split} y[${i}] ${why}`);
  }
  return Array.isArray(y) ? BigInt64Array.from(y, BigInt) : y as ClassIndices;
}

function maxIndex(y: ClassIndices, ignore: number | undefined): number {
  let max = -1;
  for (let i = 0; i < y.length; i++) {
    const v = Number(y[i]);
    if (v !== ignore) max = Math.max(max, v);
  }
  return max;
}

/**
 * An in-memory dataset: train and test splits of typed arrays, for models that are not image
 * classifiers (regression, token models) as well as for small classification problems.
 *
 * Inputs `x` hold `count · ∏sampleShape` values sample after sample: a `Float32Array` of
 * features (model input float32) or an `Int32Array`/`BigInt64Array` of token ids (model input
 * int64; int32 ids are widened batch by batch). Targets `y` are either
 * - class indices, one per sample (`BigInt64Array`, `Int32Array` or `number[]`), each an integer
 *   in `[0, classes)`; `classes` defaults to the largest index in either split plus one. With
 *   `labelShape` (e.g. `[T]`: a label per token, for sequence models) each sample has
 *   `∏labelShape` of them and the target is `[N, ...labelShape]`; with `ignoreIndex` (e.g. −100)
 *   that index may mark unlabelled positions (give the loss the same `ignoreIndex`), or
 * - float targets (`Float32Array`) of `count · ∏targetShape` values; `targetShape` is required.
 *
 * The description keeps the given typed arrays (a `number[]` is copied into a `BigInt64Array`);
 * change them after creating the dataset and the batches change too.
 *
 * @param options The splits, `sampleShape`, and `classes` (with `classNames`, `labelShape`,
 * `ignoreIndex`) or `targetShape`.
 * @returns The frozen dataset description.
 * @throws {RangeError} When a shape is not a list of positive integers, an array's length does not
 * match the shapes, or a class index is out of range (the messages name the numbers).
 * @throws {TypeError} When an array has an unsupported type, the splits disagree in type, or
 * `targetShape`/`classes` do not fit the kind of targets.
 * @example
 * ```ts
 * import { tensorDataset } from "./datasets.ts";
 * const xor = tensorDataset({
 *   train: { x: Float32Array.of(0, 0, 0, 1, 1, 0, 1, 1), y: [0, 1, 1, 0] },
 *   test: { x: Float32Array.of(0, 1), y: [1] },
 *   sampleShape: [2],
 * });
 * if (xor.classes !== 2 || xor.train.count !== 4) throw new Error();
 * if (xor.inputDtype !== "float32") throw new Error();
 * const sums = tensorDataset({
 *   train: { x: Int32Array.of(1, 2, 3, 4), y: Float32Array.of(3, 7) },
 *   test: { x: Int32Array.of(5, 6), y: Float32Array.of(11) },
 *   sampleShape: [2],
 *   targetShape: [1],
 * });
 * if (sums.inputDtype !== "int64" || sums.targetShape.join() !== "1") throw new Error();
 * // A label per token of 2-token sequences; −100 marks an unlabelled position.
 * const tagged = tensorDataset({
 *   train: { x: Int32Array.of(1, 2, 3, 4), y: Int32Array.of(0, 1, 1, -100) },
 *   test: { x: Int32Array.of(5, 6), y: Int32Array.of(1, 0) },
 *   sampleShape: [2],
 *   labelShape: [2],
 *   ignoreIndex: -100,
 * });
 * if (tagged.classes !== 2 || tagged.labelShape?.join() !== "2") throw new Error();
 * ```
 */
export function tensorDataset(options: ClassTensorDatasetOptions): ClassTensorDataset;
/**
 * An in-memory dataset with float targets; see the first overload for details.
 *
 * @param options The splits, `sampleShape` and `targetShape`.
 * @returns The frozen dataset description.
 */
export function tensorDataset(options: FloatTensorDatasetOptions): FloatTensorDataset;
export function tensorDataset(
  options: ClassTensorDatasetOptions | FloatTensorDatasetOptions,
): TensorDataset {
  const sampleShape = checkShape("sampleShape", options.sampleShape);
  const { train, test } = options;
  const inputDtype = inputDtypeOf("train", train.x);
  if (inputDtypeOf("test", test.x) !== inputDtype) {
    throw new UserTypeError(
      `${CREATE}: train x is ${typeName(train.x)} (${inputDtype}) but test x is ` +
        `${typeName(test.x)} (${inputDtypeOf("test", test.x)}); both splits need one input type`,
    );
  }
  const targets = targetKindOf("train", train.y);
  if (targetKindOf("test", test.y) !== targets) {
    throw new UserTypeError(
      `${CREATE}: train y is ${typeName(train.y)} but test y is ${typeName(test.y)}; ` +
        `both splits need class indices or both float targets`,
    );
  }
  const counts = {
    train: countOf("train", train.x, sampleShape),
    test: countOf("test", test.x, sampleShape),
  };
  const common = { kind: "tensor" as const, sampleShape, inputDtype };

  if (targets === "float") {
    for (const key of ["labelShape", "ignoreIndex"] as const) {
      if (options[key] !== undefined) {
        throw new UserTypeError(
          `${CREATE}: ${key} was given but y is a Float32Array of float targets; give class ` +
            `indices as a BigInt64Array, Int32Array or number array (float targets take ` +
            `targetShape)`,
        );
      }
    }
    if (options.classes !== undefined || options.classNames !== undefined) {
      throw new UserTypeError(
        `${CREATE}: ${
          options.classes !== undefined ? "classes" : "classNames"
        } was given but y is a Float32Array of float targets; give class ` +
          `indices as a BigInt64Array, Int32Array or number array`,
      );
    }
    if (options.targetShape === undefined) {
      throw new UserTypeError(
        `${CREATE}: y is a Float32Array of float targets, so targetShape is required`,
      );
    }
    const targetShape = checkShape("targetShape", options.targetShape);
    const size = targetShape.reduce((a, d) => a * d, 1);
    const split = (name: "train" | "test"): TensorSplit<Float32Array> => {
      const { x, y } = options[name] as TensorSplitInput<Float32Array>, count = counts[name];
      if (y.length !== count * size) {
        throw new UserRangeError(
          `${CREATE}: ${name} y has ${y.length} values, expected ${count * size} for ${count} ` +
            `samples of targetShape ${shapeText(targetShape)}`,
        );
      }
      return Object.freeze({ x, y, count });
    };
    return Object.freeze({
      ...common,
      targets,
      train: split("train"),
      test: split("test"),
      targetShape,
    });
  }

  if (options.targetShape !== undefined) {
    throw new UserTypeError(
      `${CREATE}: targetShape was given but y holds class indices (${typeName(train.y)}); give ` +
        `float targets as a Float32Array`,
    );
  }
  const names = options.classNames;
  if (
    names !== undefined && (!Array.isArray(names) || !names.every((n) => typeof n === "string"))
  ) {
    throw new UserTypeError(`${CREATE}: classNames must be a list of strings`);
  }
  const given = options.classes ?? (names?.length || undefined);
  if (given !== undefined && (!Number.isSafeInteger(given) || given <= 0)) {
    throw new UserRangeError(`${CREATE}: classes must be a positive integer, got ${given}`);
  }
  if (names !== undefined && names.length !== given) {
    throw new UserRangeError(
      `${CREATE}: classNames has ${names.length} names for ${given} classes (one per class)`,
    );
  }
  const { ignoreIndex } = options;
  if (ignoreIndex !== undefined && !Number.isSafeInteger(ignoreIndex)) {
    throw new UserRangeError(`${CREATE}: ignoreIndex must be an integer, got ${ignoreIndex}`);
  }
  const labelShape = options.labelShape === undefined
    ? undefined
    : checkShape("labelShape", options.labelShape);
  const labels = { labelShape, ignoreIndex };
  const ys = {
    train: classIndices(
      "train",
      (options as ClassTensorDatasetOptions).train.y,
      counts.train,
      given,
      labels,
    ),
    test: classIndices(
      "test",
      (options as ClassTensorDatasetOptions).test.y,
      counts.test,
      given,
      labels,
    ),
  };
  const classes = given ??
    Math.max(maxIndex(ys.train, ignoreIndex), maxIndex(ys.test, ignoreIndex)) + 1;
  const split = (name: "train" | "test"): TensorSplit<ClassIndices> =>
    Object.freeze({ x: options[name].x, y: ys[name], count: counts[name] });
  return Object.freeze({
    ...common,
    targets,
    train: split("train"),
    test: split("test"),
    classes,
    ...(names ? { classNames: Object.freeze([...names]) } : {}),
    ...(labelShape?.length ? { labelShape } : {}),
    ...(ignoreIndex !== undefined ? { ignoreIndex } : {}),
  });
}
