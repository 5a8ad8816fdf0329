/**
 * Benchmark: how long one all-reduce of the seed MLP's gradients takes (pipelines/fmnist.ts:
 * 784·512 + 512 + 512·512 + 512 + 512·10 + 10 = 669 706 floats, 2.7 MB) — the time data-parallel
 * training adds to each step. Every rank sums the same buffer `--iterations` times, each after a
 * barrier so that the ranks start together; rank 0 prints the median, the 10th and 90th
 * percentiles and the algorithm bandwidth (bytes / time) of the blocking `allreduceSum` and of
 * `allreduceSumAsync` (the same call on a worker thread, awaited at once: its extra cost), and
 * checks the sums.
 *
 *     mpirun --allow-run-as-root --oversubscribe -np 2 deno run \
 *       --allow-ffi=/usr/lib/x86_64-linux-gnu/libmpi.so.40 \
 *       --allow-env=OMPI_COMM_WORLD_RANK,OMPI_COMM_WORLD_SIZE,PMI_RANK,PMI_SIZE,PMIX_RANK,SLURM_NTASKS \
 *       bench/mpi_allreduce.ts [--floats N] [--iterations N]
 * @module
 */
import { parseArgs } from "node:util";
import { initMpi, installAbortOnError } from "../src/dist/mpi.ts";

const comm = initMpi();
installAbortOnError(comm);
const { values } = parseArgs({
  args: Deno.args,
  options: {
    floats: { type: "string", default: "669706" },
    iterations: { type: "string", default: "100" },
  },
});
const count = (name: string, text: string) => {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new RangeError(`--${name} must be an integer ≥ 1, got ${JSON.stringify(text)}`);
  }
  return n;
};
const floats = count("floats", values.floats), iterations = count("iterations", values.iterations);

const buffer = new Float32Array(floats);
/** Times `reduce` `iterations` times after a warm-up of 5; milliseconds, sorted. */
async function time(reduce: () => void | Promise<void>): Promise<number[]> {
  const ms: number[] = [];
  for (let i = -5; i < iterations; i++) {
    buffer.fill(comm.rank + 1);
    comm.barrier();
    const start = performance.now();
    await reduce();
    if (i >= 0) ms.push(performance.now() - start);
    const expected = comm.size * (comm.size + 1) / 2;
    if (buffer[0] !== expected || buffer[floats - 1] !== expected) {
      throw new Error(`Wrong sum: ${buffer[0]}, expected ${expected}`);
    }
  }
  return ms.sort((a, b) => a - b);
}

const blocking = await time(() => comm.allreduceSum(buffer));
const async = await time(() => comm.allreduceSumAsync(buffer));
if (comm.rank === 0) {
  const at = (ms: number[], q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))];
  const mb = (floats * 4) / 1e6;
  console.log(
    `all-reduce of ${floats} floats (${mb.toFixed(2)} MB) over ${comm.size} ranks, ` +
      `${iterations} times:`,
  );
  for (const [name, ms] of [["allreduceSum", blocking], ["allreduceSumAsync", async]] as const) {
    const median = at(ms, 0.5);
    console.log(
      `  ${name.padEnd(18)} median ${median.toFixed(3)} ms  (p10 ${at(ms, 0.1).toFixed(3)}, ` +
        `p90 ${at(ms, 0.9).toFixed(3)})  ${(mb / median).toFixed(2)} GB/s`,
    );
  }
}
comm.finalize();
