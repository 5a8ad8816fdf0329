/**
 * Benchmark of data-parallel training on MPI: the seed MLP (784-512-512-10, SGD, batch 64 global)
 * as R ranks × T onnxruntime threads, each configuration under `mpirun -np R`, the configurations
 * interleaved over `--rounds`. Prints ONE JSON object: per configuration the median ms per step,
 * samples per second, and the all-reduce's share of the step (the time inside `MPI_Allreduce` of
 * the flat gradient buffer, 2.7 MB, over the step time).
 *
 *     deno run -P=distributed bench/distributed.ts [--steps 200] [--rounds 3] [--configs 1x2,2x1,1x1]
 *
 * A rank runs this same script with `--rank-worker`; one rank alone takes the fused single-process
 * step (no gradient split), as `run()` does.
 * @module
 */
import { parseArgs } from "node:util";
import {
  compileDataParallel,
  compileModel,
  createTrainer,
  crossEntropy,
  flatten,
  linear,
  relu,
  sequential,
  sgd,
} from "../mod.ts";
import type { Batch } from "../src/data/batch.ts";
import type { Reducer } from "../src/train/data_parallel.ts";
import { createRng } from "../src/util/random.ts";
import { oneLineErrors } from "./_cli.ts";

oneLineErrors("distributed");
const { values } = parseArgs({
  args: Deno.args,
  options: {
    steps: { type: "string", default: "200" },
    rounds: { type: "string", default: "3" },
    configs: { type: "string", default: "1x2,2x1,1x1" },
    threads: { type: "string", default: "1" },
    "rank-worker": { type: "boolean", default: false },
  },
});
const steps = Number(values.steps);
if (!(Number.isSafeInteger(steps) && steps > 0)) {
  throw new RangeError(`--steps must be an integer ≥ 1, got "${values.steps}"`);
}

/** One rank: times `steps` training steps after 20 warm-up steps; rank 0 prints the figures. */
async function worker(): Promise<void> {
  const { initMpi, installAbortOnError } = await import("../src/dist/mpi.ts");
  const comm = initMpi();
  installAbortOnError(comm);
  let reduceMs = 0;
  const timed: Reducer = {
    rank: comm.rank,
    size: comm.size,
    allreduceSum(buffer) {
      const t = performance.now();
      comm.allreduceSum(buffer);
      reduceMs += performance.now() - t;
    },
    allreduceSumF64: (buffer) => comm.allreduceSumF64(buffer),
  };
  const spec = {
    data: { sampleShape: [1, 28, 28], classes: 10 },
    model: sequential(
      flatten(),
      linear(784, 512),
      relu(),
      linear(512, 512),
      relu(),
      linear(512, 10),
    ),
    loss: crossEntropy(),
    optimizer: sgd({ lr: 1e-3 }),
  };
  const threads = Number(values.threads);
  const trainer = await createTrainer(compileModel(spec), {
    seed: 1,
    threads,
    ...(comm.size > 1
      ? { dataParallel: { graphs: compileDataParallel(spec), reducer: timed } }
      : {}),
  });
  const rng = createRng(2);
  const batches: Batch[] = Array.from({ length: 8 }, () => ({
    size: 64,
    x: Float32Array.from({ length: 64 * 784 }, () => rng.nextFloat()),
    y: BigInt64Array.from({ length: 64 }, () => BigInt(Math.floor(rng.nextFloat() * 10))),
  }));
  for (let i = 0; i < 20; i++) await trainer.step(batches[i % 8]);
  reduceMs = 0;
  const start = performance.now();
  for (let i = 0; i < steps; i++) await trainer.step(batches[i % 8]);
  const ms = (performance.now() - start) / steps;
  await trainer.release();
  if (comm.rank === 0) {
    console.log(JSON.stringify({ ms, reduceMs: reduceMs / steps }));
  }
  comm.finalize();
}

/** Runs one configuration under mpirun; rank 0's figures. */
async function measure(ranks: number, threads: number) {
  const script = new URL(import.meta.url).pathname;
  const out = await new Deno.Command("mpirun", {
    args: [
      "--allow-run-as-root",
      "--oversubscribe",
      "--bind-to",
      "none",
      "-np",
      String(ranks),
      Deno.execPath(),
      "run",
      "-q",
      "-P",
      script,
      "--rank-worker",
      "--steps",
      String(steps),
      "--threads",
      String(threads),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(
      `mpirun -np ${ranks} failed: ${new TextDecoder().decode(out.stderr).slice(-2000)}`,
    );
  }
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!) as {
    ms: number;
    reduceMs: number;
  };
}

if (values["rank-worker"]) {
  await worker();
} else {
  const configs = values.configs.split(",").map((c) =>
    c.split("x").map(Number) as [number, number]
  );
  const results = new Map(
    configs.map((c) => [c.join("x"), [] as { ms: number; reduceMs: number }[]]),
  );
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [ranks, threads] of configs) {
      results.get(`${ranks}x${threads}`)!.push(await measure(ranks, threads));
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const report = Object.fromEntries([...results].map(([name, rs]) => {
    const ms = median(rs.map((r) => r.ms)), reduce = median(rs.map((r) => r.reduceMs));
    return [name, {
      ms_per_step: Number(ms.toFixed(3)),
      samples_per_s: Math.round(64_000 / ms),
      allreduce_ms_per_step: Number(reduce.toFixed(3)),
      allreduce_share: Number((reduce / ms).toFixed(3)),
      ms_per_step_rounds: rs.map((r) => Number(r.ms.toFixed(3))),
    }];
  }));
  console.log(JSON.stringify({
    model: "mlp 784-512-512-10",
    batch: 64,
    steps,
    cores: navigator.hardwareConcurrency,
    configs: report,
  }));
}
