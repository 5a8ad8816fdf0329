/**
 * Data-parallel training's collective operations on MPI: every rank of the job holds the same
 * model, computes gradients on its own part of the batch, and sums them with an all-reduce.
 *
 * {@linkcode initMpi} binds Open MPI's `libmpi` through Deno's FFI and calls `MPI_Init_thread`
 * once per process; {@linkcode singleCommunicator} stands in for a job of one process, with no
 * MPI at all. Start the ranks with Open MPI's launcher, one process per rank:
 *
 *     mpirun -np 4 deno run --allow-ffi=/usr/lib/x86_64-linux-gnu/libmpi.so.40 \
 *       --allow-env=OMPI_COMM_WORLD_RANK,OMPI_COMM_WORLD_SIZE,PMI_RANK,PMI_SIZE,PMIX_RANK,SLURM_NTASKS \
 *       train.ts
 *
 * (as root, in a container: `mpirun --allow-run-as-root …`). Every rank must make the same
 * collective calls in the same order, and call `finalize()` after the last one, on success only:
 * a rank that exits without it ends the whole job with status 1, and one that finalizes while
 * another waits in a collective hangs the job. When a rank fails (an uncaught error, a non-zero
 * exit, a kill), `mpirun` ends the other ranks within about two seconds and exits non-zero;
 * {@linkcode installAbortOnError} makes the failing rank say why in one line and end the job at
 * once with `MPI_Abort`.
 * @module
 */
import {
  defaultLibrary,
  errorText,
  type Libmpi,
  MPI_IN_PLACE,
  MPI_SUCCESS,
  MPI_THREAD_SERIALIZED,
  openLibmpi,
} from "./_libmpi.ts";
import { DistributedError } from "./distributed_error.ts";
import { type Environment, launchedByMpi, LAUNCHER_ENV } from "./launcher.ts";

export { DistributedError } from "./distributed_error.ts";
export { type Environment, launchedByMpi, LAUNCHER_ENV } from "./launcher.ts";

/** The ranks of a job and the collective operations among them (`MPI_COMM_WORLD`). */
export interface Communicator {
  /** This process's rank, 0 to `size - 1`. */
  readonly rank: number;
  /** The number of ranks. */
  readonly size: number;
  /**
   * Sums `buffer` element-wise over all ranks, in place: afterwards every rank holds the sums
   * (`MPI_Allreduce` with `MPI_IN_PLACE`, `MPI_FLOAT`, `MPI_SUM`). Every rank passes the same length.
   */
  allreduceSum(buffer: Float32Array): void;
  /** As {@linkcode Communicator.allreduceSum}, in float64 (`MPI_DOUBLE`): for sums of losses and counts. */
  allreduceSumF64(buffer: Float64Array): void;
  /**
   * As {@linkcode Communicator.allreduceSum}, on a worker thread: the main thread runs on until
   * the promise resolves, and `buffer` must not be touched before. Calls are queued, never run at
   * once; a blocking call while one is pending throws.
   */
  allreduceSumAsync(buffer: Float32Array): Promise<void>;
  /** Copies `root`'s bytes into `buffer` on every other rank (`MPI_Bcast`, `MPI_BYTE`). */
  broadcast(buffer: Uint8Array, root: number): void;
  /** Waits until every rank has called it (`MPI_Barrier`). */
  barrier(): void;
  /** Ends every rank of the job with `status` (`MPI_Abort` on `MPI_COMM_WORLD`). */
  abort(status: number): never;
  /**
   * Ends MPI in this process (`MPI_Finalize`) after its last collective call; idempotent. Call it
   * only when the rank succeeded, never on a failure path (a `finally`): it waits until every rank
   * has finalized, so while another rank waits in a collective it hangs the job. A failed rank
   * aborts (or exits non-zero) instead.
   */
  finalize(): void;
}

/**
 * The communicator of a job of one process: rank 0 of 1, with no MPI. Reductions and broadcasts
 * leave the buffer as it is; `abort` exits the process.
 *
 * @returns A communicator of size 1.
 * @example
 * ```ts
 * import { singleCommunicator } from "./mpi.ts";
 * const comm = singleCommunicator();
 * const grads = Float32Array.of(1.5, -2);
 * comm.allreduceSum(grads);
 * await comm.allreduceSumAsync(grads);
 * comm.broadcast(Uint8Array.of(7), 0);
 * comm.barrier();
 * comm.finalize();
 * if (comm.rank !== 0 || comm.size !== 1 || grads[0] !== 1.5 || grads[1] !== -2) throw new Error();
 * ```
 */
export function singleCommunicator(): Communicator {
  return Object.freeze({
    rank: 0,
    size: 1,
    allreduceSum(_buffer: Float32Array) {},
    allreduceSumF64(_buffer: Float64Array) {},
    allreduceSumAsync: (_buffer: Float32Array) => Promise.resolve(),
    broadcast(_buffer: Uint8Array, root: number) {
      checkRoot(root, 1);
    },
    barrier() {},
    abort(status: number): never {
      Deno.exit(status);
    },
    finalize() {},
  });
}

/** Options of {@linkcode initMpi}. */
export interface InitMpiOptions {
  /**
   * The path of Open MPI's `libmpi` (default: the usual place for the platform, Debian's
   * `/usr/lib/x86_64-linux-gnu/libmpi.so.40` on x86-64 Linux). The process needs
   * `--allow-ffi=<this path>`.
   */
  readonly library?: string;
  /** The environment the launcher is detected in (default: the process's). */
  readonly env?: Environment;
}

/** The communicator of this process once MPI is initialised, and whether it was finalized. */
let world: Communicator | undefined;
let finalized = false;

/**
 * Starts MPI in this process (`MPI_Init_thread`, `MPI_THREAD_SERIALIZED`) and returns the
 * communicator of all ranks; a second call returns the same communicator. The process must have
 * been started by an MPI launcher ({@linkcode launchedByMpi}); a job of one process uses
 * {@linkcode singleCommunicator} instead.
 *
 * @param options `library`: the path of `libmpi`; `env`: the environment to detect the launcher in.
 * @returns The communicator of `MPI_COMM_WORLD`.
 * @throws {DistributedError} Not started by a launcher, a missing ffi or env permission, no
 *   Open MPI at the path, or MPI already finalized — one line naming the fix.
 * @example
 * ```ts
 * import { DistributedError, initMpi } from "./mpi.ts";
 * try {
 *   initMpi({ env: {} });
 *   throw new Error("expected a DistributedError");
 * } catch (e) {
 *   if (!(e instanceof DistributedError) || !e.message.includes("mpirun -np N")) throw e;
 * }
 * ```
 */
export function initMpi(options: InitMpiOptions = {}): Communicator {
  if (world) return world;
  if (finalized) {
    throw new DistributedError(
      "Cannot start MPI: it was finalized in this process, and MPI cannot start twice in one process",
    );
  }
  if (!launchedByMpi(options.env)) {
    throw new DistributedError(
      `Cannot start MPI: this process was not started by an MPI launcher (none of ` +
        `${LAUNCHER_ENV.filter((name) => name.endsWith("RANK")).join(", ")} is set); start ` +
        "every rank with `mpirun -np N deno run … <script>` (as root in a container: " +
        "`mpirun --allow-run-as-root -np N …`), or train in one process without MPI",
    );
  }
  const mpi = openLibmpi(options.library ?? defaultLibrary());
  const flag = new Int32Array(1);
  check(mpi, mpi.symbols.MPI_Initialized(flag), "MPI_Initialized");
  let threads = MPI_THREAD_SERIALIZED;
  if (!flag[0]) {
    const provided = new Int32Array(1);
    check(
      mpi,
      mpi.symbols.MPI_Init_thread(null, null, MPI_THREAD_SERIALIZED, provided),
      "MPI_Init_thread",
    );
    threads = provided[0];
  }
  const rank = new Int32Array(1), size = new Int32Array(1);
  check(mpi, mpi.symbols.MPI_Comm_rank(mpi.handles.world, rank), "MPI_Comm_rank");
  check(mpi, mpi.symbols.MPI_Comm_size(mpi.handles.world, size), "MPI_Comm_size");
  world = mpiCommunicator(mpi, rank[0], size[0], threads >= MPI_THREAD_SERIALIZED);
  return world;
}

/** Throws when an MPI call did not return `MPI_SUCCESS`. */
function check(mpi: Libmpi, code: number, call: string): void {
  if (code !== MPI_SUCCESS) {
    throw new DistributedError(`${call} failed: ${errorText(mpi, code)} (error code ${code})`);
  }
}

/** Throws unless `root` is a rank of a job of `size`. */
function checkRoot(root: number, size: number): void {
  if (!Number.isInteger(root) || root < 0 || root >= size) {
    throw new RangeError(`Invalid broadcast root ${root}: expected a rank in [0, ${size})`);
  }
}

/** The largest count of one MPI call (its `int count`). */
const MAX_COUNT = 2 ** 31 - 1;

/** Throws unless a buffer of `length` elements fits one MPI call. */
function checkCount(length: number, what: string): void {
  if (length > MAX_COUNT) {
    throw new RangeError(
      `Cannot ${what} ${length} elements in one MPI call: at most ${MAX_COUNT}; split the buffer`,
    );
  }
}

/** The communicator of `MPI_COMM_WORLD` through `mpi`. */
function mpiCommunicator(mpi: Libmpi, rank: number, size: number, async: boolean): Communicator {
  const { symbols, handles } = mpi;
  let done = false;
  let pending = 0;
  let tail: Promise<void> = Promise.resolve();
  const ready = (call: string) => {
    if (done) throw new Error(`Cannot call ${call}: MPI was finalized in this process`);
    if (pending > 0) {
      throw new Error(
        `Cannot call ${call} while allreduceSumAsync is still running: await its promise first ` +
          "(MPI calls of one process may not overlap)",
      );
    }
  };
  /** `MPI_Allreduce` of `buffer` in place, summing, with the given element type. */
  const sumInPlace = (
    call: string,
    buffer: Float32Array | Float64Array,
    type: typeof handles.float,
  ) => {
    ready(call);
    checkCount(buffer.length, "all-reduce");
    const code = symbols.MPI_Allreduce(
      MPI_IN_PLACE,
      buffer,
      buffer.length,
      type,
      handles.sum,
      handles.world,
    );
    check(mpi, code, "MPI_Allreduce");
  };
  return Object.freeze({
    rank,
    size,
    allreduceSum: (buffer: Float32Array) => sumInPlace("allreduceSum", buffer, handles.float),
    allreduceSumF64: (buffer: Float64Array) =>
      sumInPlace("allreduceSumF64", buffer, handles.double),
    allreduceSumAsync(buffer: Float32Array): Promise<void> {
      if (done) {
        return Promise.reject(
          new Error("Cannot call allreduceSumAsync: MPI was finalized in this process"),
        );
      }
      if (!async) {
        return Promise.reject(
          new DistributedError(
            "Cannot call allreduceSumAsync: this Open MPI does not provide MPI_THREAD_SERIALIZED",
          ),
        );
      }
      checkCount(buffer.length, "all-reduce");
      const run = async () => {
        const code = await symbols.MPI_Allreduce_async(
          MPI_IN_PLACE,
          buffer,
          buffer.length,
          handles.float,
          handles.sum,
          handles.world,
        );
        check(mpi, code, "MPI_Allreduce");
      };
      pending++;
      const result = tail.then(run);
      tail = result.then(() => {
        pending--;
      }, () => {
        pending--;
      });
      return result;
    },
    broadcast(buffer: Uint8Array, root: number) {
      ready("broadcast");
      checkRoot(root, size);
      checkCount(buffer.length, "broadcast");
      check(
        mpi,
        symbols.MPI_Bcast(buffer, buffer.length, handles.byte, root, handles.world),
        "MPI_Bcast",
      );
    },
    barrier() {
      ready("barrier");
      check(mpi, symbols.MPI_Barrier(handles.world), "MPI_Barrier");
    },
    abort(status: number): never {
      symbols.MPI_Abort(handles.world, status);
      Deno.exit(status); // MPI_Abort does not return; in case it does.
    },
    finalize() {
      if (done) return;
      ready("finalize");
      done = true;
      finalized = true;
      check(mpi, symbols.MPI_Finalize(), "MPI_Finalize");
    },
  });
}

/**
 * The line a failed rank prints: `rank R of N failed: <message>`, the message on one line.
 *
 * @param comm The failed rank's communicator.
 * @param error What was thrown.
 * @returns The line.
 * @example
 * ```ts
 * import { rankFailureLine, singleCommunicator } from "./mpi.ts";
 * const line = rankFailureLine(singleCommunicator(), new RangeError("Invalid --lr:\n-1"));
 * if (line !== "rank 0 of 1 failed: Invalid --lr: -1") throw new Error(line);
 * ```
 */
export function rankFailureLine(comm: Communicator, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const oneLine = message.split("\n").map((line) => line.trim()).filter((line) => line).join(" ");
  return `rank ${comm.rank} of ${comm.size} failed: ${oneLine}`;
}

/** Options of {@linkcode installAbortOnError}. */
export interface AbortOnErrorOptions {
  /** The line printed for an error (default {@linkcode rankFailureLine}). */
  readonly describe?: (comm: Communicator, error: unknown) => string;
  /** The status every rank exits with (default 1). */
  readonly status?: number;
}

/**
 * Makes an uncaught error or unhandled rejection in this rank print one line on stderr,
 * `rank R of N failed: <message>`, and end every rank of the job at once (`comm.abort`). Without
 * it `mpirun` still ends the job when a rank exits non-zero, about two seconds later, with its own
 * banner but no word of the error from the other ranks.
 *
 * @param comm The job's communicator.
 * @param options The line's format and the exit status.
 * @returns A function that removes the handler.
 * @example
 * ```ts
 * import { installAbortOnError, singleCommunicator } from "./mpi.ts";
 * const remove = installAbortOnError(singleCommunicator());
 * remove();
 * ```
 */
export function installAbortOnError(
  comm: Communicator,
  options: AbortOnErrorOptions = {},
): () => void {
  const describe = options.describe ?? rankFailureLine;
  const status = options.status ?? 1;
  const fail = (event: Event, error: unknown) => {
    event.preventDefault();
    console.error(describe(comm, error));
    comm.abort(status);
  };
  const onError = (e: ErrorEvent) => fail(e, e.error ?? e.message);
  const onRejection = (e: PromiseRejectionEvent) => fail(e, e.reason);
  globalThis.addEventListener("error", onError);
  globalThis.addEventListener("unhandledrejection", onRejection);
  return () => {
    globalThis.removeEventListener("error", onError);
    globalThis.removeEventListener("unhandledrejection", onRejection);
  };
}
