/**
 * Data-parallel training: every process builds the same global batch (the loader is
 * deterministic from the seed), takes its share of the rows — rank r of N takes rows r, r+N, …,
 * as PyTorch's DistributedSampler deals positions, here within each global batch — and runs the
 * gradient graph on them with the loss weighted by its share (n_r / B). The weighted gradients,
 * losses and counts are summed across processes in one flat buffer (one all-reduce a step), then
 * every process applies the same optimizer update, so N processes train exactly as one process on
 * the whole batch (float summation order aside). Dropout masks are drawn for the global batch and
 * sliced the same way, so they match the single-process run's too. Batch norms at the top level of
 * a sequential model are synchronised (`compile/sync_batch_norm.ts`); nested ones keep per-process
 * statistics (PyTorch DDP's default).
 * @module
 */
import type { HostTensor } from "../runtime/session.ts";

/**
 * What data-parallel training needs of a communicator: its place and in-place sums across all
 * processes (`src/dist/mpi.ts`'s `Communicator` is one).
 *
 * @example
 * ```ts
 * import type { Reducer } from "./data_parallel.ts";
 * const alone: Reducer = {
 *   rank: 0,
 *   size: 1,
 *   allreduceSum: () => {},
 *   allreduceSumF64: () => {},
 * };
 * if (alone.size !== 1) throw new Error();
 * ```
 */
export interface Reducer {
  /** This process's index, from 0. */
  readonly rank: number;
  /** How many processes train together. */
  readonly size: number;
  /** Sums `buffer` element-wise across all processes, in place (may complete asynchronously). */
  allreduceSum(buffer: Float32Array): void | Promise<void>;
  /** The same for float64 (evaluation totals). */
  allreduceSumF64(buffer: Float64Array): void | Promise<void>;
}

/**
 * The rows of a global batch that a process takes: rank r of N takes r, r+N, r+2N, …
 *
 * @param batchSize The global batch's size.
 * @param rank The process's rank.
 * @param size The number of processes.
 * @returns The row indices (empty when the batch has fewer rows than `rank + 1`).
 * @example
 * ```ts
 * import { shardRows } from "./data_parallel.ts";
 * if (shardRows(7, 1, 3).join() !== "1,4") throw new Error();
 * ```
 */
export function shardRows(batchSize: number, rank: number, size: number): number[] {
  const rows: number[] = [];
  for (let i = rank; i < batchSize; i += size) rows.push(i);
  return rows;
}

/**
 * The given rows of a tensor whose first dimension is the batch.
 *
 * @param t The tensor (`[B, …]`).
 * @param rows The rows to take, in order.
 * @returns A tensor `[rows.length, …]`.
 * @example
 * ```ts
 * import { takeRows } from "./data_parallel.ts";
 * const t = { dtype: "float32" as const, dims: [3, 2], data: Float32Array.of(0, 1, 2, 3, 4, 5) };
 * if ([...takeRows(t, [0, 2]).data].join() !== "0,1,4,5") throw new Error();
 * ```
 */
export function takeRows(t: HostTensor, rows: readonly number[]): HostTensor {
  const batch = t.dims[0], width = batch > 0 ? t.data.length / batch : 0;
  const Ctor = t.data.constructor as { new (length: number): HostTensor["data"] };
  const data = new Ctor(rows.length * width);
  const into = data as Float32Array, from = t.data as Float32Array;
  rows.forEach((r, k) => into.set(from.subarray(r * width, (r + 1) * width), k * width));
  return { dtype: t.dtype, dims: [rows.length, ...t.dims.slice(1)], data };
}
