/** Loads the samples a dataset description names; one loader per dataset kind. @module */
import type { Dataset } from "../dsl/datasets.ts";
import { loadFashionMnist } from "./fashion_mnist.ts";
import type { ImageSet } from "./idx.ts";

/** A dataset's train and test splits. */
export interface Splits {
  readonly train: ImageSet;
  readonly test: ImageSet;
}

/** Overrides applied when loading. */
export interface LoadOptions {
  /** Replaces the dataset's root folder (the CLI's `--data-dir`). */
  readonly root?: string;
}

const LOADERS: {
  readonly [K in Dataset["kind"]]: (
    ds: Extract<Dataset, { kind: K }>,
    o: LoadOptions,
  ) => Promise<Splits>;
} = {
  "fashion-mnist": (ds, o) => loadFashionMnist({ root: o.root ?? ds.root, download: ds.download }),
};

/**
 * Loads a dataset's splits, downloading and caching where its description allows.
 *
 * @param dataset The dataset description.
 * @param options Overrides such as the root folder.
 * @returns The train and test splits.
 */
export function loadDataset(dataset: Dataset, options: LoadOptions = {}): Promise<Splits> {
  return LOADERS[dataset.kind](dataset, options);
}
