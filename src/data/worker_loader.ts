/**
 * A data loader whose batches are built on a worker thread, so they are ready while the main
 * thread is busy (onnxruntime's `session.run` computes on the main thread). The worker runs
 * `createLoader` itself, so the batches are exactly those of {@linkcode createLoader} with the
 * same set and options: same order, epochs, resumption, subsets, sampling and augmentation.
 *
 * Flow control is by credit: an epoch starts with `depth` credits, the worker posts one batch per
 * credit (transferring its buffers, so nothing is copied back), and the main thread grants one
 * more credit for each batch it takes. So at most `depth` batches wait built, and an epoch that is
 * left midway costs at most `depth` batches of wasted work.
 * @module
 */
import type { Batch, LoaderOptions, SampleSet } from "./loader.ts";
import { UserRangeError, UserTypeError } from "../util/user_error.ts";

/** Messages to the worker (`loader_worker.ts`). */
export type ToWorker =
  | { readonly type: "init"; readonly set: SampleSet; readonly options: LoaderOptions }
  | { readonly type: "epoch"; readonly id: number; readonly credit: number }
  | { readonly type: "credit"; readonly id: number; readonly credit: number }
  | { readonly type: "stop"; readonly id: number };

/** Messages from the worker; `id` 0 is the `init` message's. */
type FromWorker =
  | { readonly type: "ready"; readonly size: number; readonly batches: number }
  | { readonly type: "batch"; readonly id: number; readonly batch: Batch }
  | { readonly type: "done"; readonly id: number }
  | {
    readonly type: "error";
    /** Whether the worker's error was one of onnxtrain's user errors. */
    readonly user?: boolean;
    readonly id: number;
    readonly name: string;
    readonly message: string;
  };

/** What the main thread holds of one epoch. */
interface EpochState {
  readonly id: number;
  /** Batches received and not yet taken. */
  readonly queue: Batch[];
  /** Whether the worker reported the end, or the epoch was left or replaced. */
  done: boolean;
  /** The worker's error while building this epoch's batches. */
  error: Error | null;
  /** Wakes the consumer waiting in `next()`. */
  wake: (() => void) | null;
}

/** Options of {@linkcode createWorkerLoader}'s worker. */
export interface WorkerLoaderOptions {
  /** How many batches the worker may build ahead of the consumer; a positive integer (default 2). */
  readonly depth?: number;
}

/** Mini-batches built on a worker thread; each {@linkcode WorkerLoader.epoch} call is one epoch. */
export interface WorkerLoader<B extends Batch = Batch> extends AsyncIterable<B> {
  /** Number of samples per epoch. */
  readonly size: number;
  /** Number of batches per epoch, the last partial one included unless `dropLast`. */
  readonly batches: number;
  /**
   * Starts the next epoch, as one iteration of a `createLoader` loader: an epoch left midway is
   * dropped, and the next call starts the one after it. Starting an epoch ends the previous
   * epoch's iterator (it reports done). `[Symbol.asyncIterator]` is the same.
   */
  epoch(): AsyncIterableIterator<B>;
  /** Stops the worker; pending and later `next()` calls reject. Idempotent. */
  close(): void;
}

/**
 * An error with the worker error's class (for the built-in ones) and message; onnxtrain's user
 * errors stay marked as such (see `src/util/user_error.ts`).
 */
function rebuildError(name: string, message: string, user = false): Error {
  if (user && name === "RangeError") return new UserRangeError(message);
  if (user && name === "TypeError") return new UserTypeError(message);
  const classes: Record<string, ErrorConstructor> = {
    RangeError,
    TypeError,
    SyntaxError,
    ReferenceError,
    EvalError,
    URIError,
  };
  const error = new (classes[name] ?? Error)(message);
  if (!(name in classes) && name !== "Error") error.name = name;
  return error;
}

/** Freezes a received batch's objects and arrays (typed arrays stay writable, as createLoader's). */
function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== "object" || ArrayBuffer.isView(value)) return value;
  for (const v of Object.values(value)) deepFreeze(v);
  return Object.freeze(value);
}

/**
 * Creates a loader whose batches a worker thread builds ahead with `createLoader(set, options)`.
 * The set is sent to the worker once by structured clone (a copy of its arrays; arrays backed by
 * a `SharedArrayBuffer`, see {@linkcode shareSampleSet}, are shared instead). The worker lives
 * until {@linkcode WorkerLoader.close}, which the caller must call (in a `finally`); a live worker
 * keeps the process running.
 *
 * @param set The samples: an image set, or a tensor set such as a `tensorDataset` split.
 * @param options Batch size, shuffling or weighted sampling, dropping the last partial batch, as
 * for `createLoader`.
 * @param workerOptions How many batches to build ahead.
 * @returns The loader, once the worker has created its `createLoader` loader.
 * @throws {RangeError} When `depth` is not a positive integer, or (as a rejection, with
 * `createLoader`'s message and class) when `createLoader` rejects the set or the options; then the
 * worker is already stopped.
 * @example
 * ```ts
 * import { createWorkerLoader } from "./worker_loader.ts";
 * const set = { x: Float32Array.of(1, 2, 3, 4, 5, 6), y: Int32Array.of(0, 1, 0), count: 3 };
 * const loader = await createWorkerLoader(set, { batchSize: 2 });
 * try {
 *   const sizes = [];
 *   for await (const batch of loader.epoch()) sizes.push(batch.size);
 *   if (sizes.join() !== "2,1" || loader.batches !== 2) throw new Error();
 * } finally {
 *   loader.close();
 * }
 * ```
 */
export function createWorkerLoader(
  set: SampleSet,
  options: LoaderOptions,
  workerOptions: WorkerLoaderOptions = {},
): Promise<WorkerLoader> {
  const { depth = 2 } = workerOptions;
  if (!Number.isSafeInteger(depth) || depth <= 0) {
    return Promise.reject(
      new UserRangeError(
        `Cannot create a worker data loader: depth must be a positive integer, got ${depth}`,
      ),
    );
  }
  const worker = new Worker(new URL("./loader_worker.ts", import.meta.url).href, {
    type: "module",
  });
  const post = (message: ToWorker) => worker.postMessage(message);

  /** The current epoch: its received batches and the consumer waiting for one. */
  let current: EpochState = { id: 0, queue: [], done: true, error: null, wake: null };
  let nextId = 1;
  let closed: Error | null = null;
  let ready: { resolve(v: WorkerLoader): void; reject(e: Error): void } | null = null;

  const close = () => {
    if (closed) return;
    closed = new Error("Cannot take a batch: the worker data loader is closed");
    worker.terminate();
    current.wake?.();
  };
  /** A failure of the worker itself: everything waiting rejects, and the worker stops. */
  const fail = (error: Error) => {
    if (ready) {
      ready.reject(error);
      ready = null;
    } else {
      current.error ??= error;
    }
    close();
    closed = error;
  };
  worker.onerror = (event) => {
    event.preventDefault();
    fail(new Error(`Worker data loader failed: ${event.message}`));
  };
  worker.onmessageerror = () => fail(new Error("Worker data loader received an unreadable batch"));
  worker.onmessage = ({ data: message }: MessageEvent<FromWorker>) => {
    if (message.type === "ready") {
      const { size, batches } = message;
      ready?.resolve(Object.freeze({ size, batches, epoch, close, [Symbol.asyncIterator]: epoch }));
      ready = null;
      return;
    }
    if (message.type === "error" && message.id === 0) {
      return fail(rebuildError(message.name, message.message, message.user));
    }
    if (message.id !== current.id) return; // a batch of an abandoned epoch
    if (message.type === "batch") current.queue.push(deepFreeze(message.batch));
    else if (message.type === "done") current.done = true;
    else current.error = rebuildError(message.name, message.message, message.user);
    current.wake?.();
  };

  const epoch = (): AsyncIterableIterator<Batch> => {
    if (closed) throw closed;
    if (!current.done) post({ type: "stop", id: current.id });
    current.done = true;
    current.queue.length = 0; // the replaced epoch's iterator reports done, as documented
    current.error = null;
    current.wake?.();
    const state: EpochState = { id: nextId++, queue: [], done: false, error: null, wake: null };
    current = state;
    post({ type: "epoch", id: state.id, credit: depth });
    const finish = (): IteratorResult<Batch> => ({ done: true, value: undefined });
    const iterator: AsyncIterableIterator<Batch> = {
      async next() {
        while (true) {
          if (closed) throw closed;
          if (state.queue.length) {
            const value = state.queue.shift()!;
            if (!closed && current === state) post({ type: "credit", id: state.id, credit: 1 });
            return { done: false, value };
          }
          if (state.error) {
            const error = state.error;
            state.done = true; // an epoch that failed is over
            state.error = null;
            throw error;
          }
          if (state.done || current !== state) return finish();
          await new Promise<void>((resolve) => state.wake = resolve);
          state.wake = null;
        }
      },
      return() {
        if (current === state && !state.done && !closed) post({ type: "stop", id: state.id });
        state.done = true;
        state.queue.length = 0;
        return Promise.resolve(finish());
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  };

  return new Promise<WorkerLoader>((resolve, reject) => {
    ready = { resolve: (v) => resolve(v), reject };
    try {
      post({ type: "init", set, options });
    } catch (e) {
      fail(e as Error);
    }
  });
}

/**
 * A copy of a sample set whose typed arrays live in `SharedArrayBuffer`s, so that sending it to a
 * worker loader shares the memory instead of copying it: use the copy everywhere (also for the
 * main thread's loaders) and drop the original to hold the samples once.
 *
 * @param set An image set or tensor set.
 * @returns The same fields, each typed array copied into shared memory.
 * @example
 * ```ts
 * import { shareSampleSet } from "./worker_loader.ts";
 * const shared = shareSampleSet({ x: Float32Array.of(1, 2), y: Int32Array.of(0, 1), count: 2 });
 * if (!(shared.x.buffer instanceof SharedArrayBuffer) || shared.x[1] !== 2) throw new Error();
 * ```
 */
export function shareSampleSet<S extends SampleSet>(set: S): S {
  const share = (v: unknown) => {
    if (!ArrayBuffer.isView(v) || v instanceof DataView) return v;
    const typed = v as unknown as Uint8Array;
    const Ctor = typed.constructor as new (b: SharedArrayBuffer) => Uint8Array;
    const out = new Ctor(new SharedArrayBuffer(typed.byteLength));
    out.set(typed);
    return out;
  };
  return Object.freeze(
    Object.fromEntries(Object.entries(set).map(([k, v]) => [k, share(v)])),
  ) as unknown as S;
}
