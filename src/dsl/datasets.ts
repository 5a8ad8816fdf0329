/** Datasets: immutable descriptions of where samples come from and what shape they have. @module */

/** FashionMNIST: 28×28 grayscale images in 10 classes, 60 000 for training and 10 000 for test. */
export interface FashionMnistDataset {
  readonly kind: "fashion-mnist";
  /** Root folder; files live in `ROOT/FashionMNIST/raw/` as torchvision keeps them. */
  readonly root: string;
  /** Whether missing files may be downloaded (default true). */
  readonly download: boolean;
  /** Shape of one sample after ToTensor: [channels, height, width]. */
  readonly sampleShape: readonly number[];
  /** Number of classes. */
  readonly classes: number;
}

/** Any dataset. */
export type Dataset = FashionMnistDataset;

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
  });
}
