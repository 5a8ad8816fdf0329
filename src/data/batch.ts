/**
 * What a loader yields: one mini-batch, and how a sample set copies chosen samples into one.
 * @module
 */
import type { HostTensor } from "../runtime/session.ts";

/**
 * One mini-batch: the model input `x` (`[size, ...sampleShape]`: raw uint8 pixels for images,
 * float32 or int64 for tensor sets) and the target `y` (int64 class indices `[size]`, or
 * `[size, ...labelShape]` for labels per position, or float32 `[size, ...targetShape]`).
 * @example
 * ```ts
 * import { type Batch, createLoader } from "./loader.ts";
 * const set = { x: Float32Array.of(1, 2, 3, 4, 5, 6), y: Int32Array.of(0, 1, 0), count: 3 };
 * const [first]: Batch[] = [...createLoader(set, { batchSize: 2 })];
 * if (first.size !== 2 || first.x.join() !== "1,2,3,4" || first.y.join() !== "0,1") {
 *   throw new Error();
 * }
 * ```
 */
export interface Batch<
  X extends Float32Array | BigInt64Array | Uint8Array = Float32Array | BigInt64Array | Uint8Array,
  Y extends BigInt64Array | Float32Array = BigInt64Array | Float32Array,
> {
  /** Inputs, sample after sample (images: their bytes, unscaled and unaugmented). */
  readonly x: X;
  /** Targets, sample after sample. */
  readonly y: Y;
  /** Number of samples in this batch (the last one may be smaller). */
  readonly size: number;
  /**
   * Further train-graph inputs of this batch by name: with augmentation, `augment_rows` (int64
   * `[size, 1, height, 1]`) and `augment_cols` (int64 `[size, 1, 1, width]`), the flat indices of
   * each sample's window in the zero-padded batch (see {@linkcode augmentIndices}).
   */
  readonly feeds?: Readonly<Record<string, HostTensor>>;
}

/** Copies the samples at `order[start..start + size)` (or `start..` in order) into a new batch. */
export type TakeBatch<B> = (order: Uint32Array | null, start: number, size: number) => B;
