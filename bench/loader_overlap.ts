/**
 * Benchmark: does building batches on a worker thread (`createWorkerLoader`) shorten a training
 * epoch? onnxruntime-node's `session.run` computes on the main thread, so batches built there
 * (`createLoader`, even one batch ahead) add to the step time, while a worker can build them during
 * the step. Times one epoch of `trainer.step` (batch 64, shuffled, 938 steps on the generated
 * 60 000-image FashionMNIST set) for the tutorial's MLP (`--pipeline mlp`, default) or the CNN of
 * `pipelines/fmnist_cnn.ts` (`cnn`), three ways:
 *
 * - `compute`: one prebuilt batch stepped 938 times — the floor, no data work at all;
 * - `main`: `createLoader` batches, the next one built before awaiting the step (as `run.ts`);
 * - `worker`: `createWorkerLoader` batches, up to `--depth` built ahead on the worker.
 *
 * The three take turns every `--chunk` steps (default 50), each with its own trainer, so that a
 * background load on the machine slows all three alike. Prints seconds per epoch (best and median,
 * then every epoch's) and the main thread's time spent building (`main`) or waiting for (`worker`)
 * batches. `--threads` sets onnxruntime's intra-op threads; `--augment` adds a random crop
 * (padding 2) and flip.
 *
 *     deno run -P bench/loader_overlap.ts [--pipeline mlp|cnn] [--epochs N] [--threads N]
 *       [--depth N] [--chunk N] [--augment] [--data-dir ROOT]
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { intArg, oneLineErrors } from "./_cli.ts";
import { fmnist } from "../pipelines/fmnist.ts";
import { fmnistCnn } from "../pipelines/fmnist_cnn.ts";
import { loadDataset } from "../src/data/datasets.ts";
import { type Batch, createLoader, type LoaderOptions } from "../src/data/loader.ts";
import { writeSyntheticFashionMnist } from "../src/data/synthetic.ts";
import { createWorkerLoader } from "../src/data/worker_loader.ts";
import { compilePipeline, type PipelineSpec } from "../src/train/run.ts";
import { createTrainer, type Trainer } from "../src/train/trainer.ts";
import { UserRangeError } from "../src/util/user_error.ts";

oneLineErrors("loader_overlap");
const { values } = parseArgs({
  args: Deno.args,
  options: {
    epochs: { type: "string", default: "3" },
    pipeline: { type: "string", default: "mlp" },
    threads: { type: "string" },
    depth: { type: "string", default: "2" },
    chunk: { type: "string", default: "50" },
    augment: { type: "boolean", default: false },
    "data-dir": { type: "string", default: "bench/data" },
  },
});
const root = values["data-dir"];
if (!existsSync(join(root, "FashionMNIST", "raw", "t10k-labels-idx1-ubyte"))) {
  await writeSyntheticFashionMnist(root, { train: 60000, test: 10000, seed: 1 });
}
const pipelines = { mlp: fmnist, cnn: fmnistCnn } as const;
const name = values.pipeline as keyof typeof pipelines;
if (!(name in pipelines)) throw new UserRangeError(`Unknown --pipeline ${name}: use mlp or cnn`);
const augment = values.augment
  ? { randomCrop: { size: 28, padding: 2 }, horizontalFlip: true }
  : undefined;
const spec = { ...pipelines[name].props, ...(augment ? { augment } : {}) } as PipelineSpec;
const threads = values.threads ? intArg("--threads", values.threads) : undefined;
const depth = intArg("--depth", values.depth), epochs = intArg("--epochs", values.epochs);
const chunk = intArg("--chunk", values.chunk);

const { train } = await loadDataset(spec.data, { root });
const compiled = compilePipeline(spec);
const options: LoaderOptions = { batchSize: spec.batchSize, shuffle: true, seed: 1, augment };

/** One epoch's wall time and the main thread's data time, in seconds. */
interface Timing {
  seconds: number;
  dataSeconds: number;
}

type Next = () => Promise<IteratorResult<Batch>> | IteratorResult<Batch>;

/**
 * One way of training an epoch: steps once per batch, the next batch requested before awaiting the
 * step (as `run.ts`), timing the main thread's data work: the `next()` calls (which build a
 * `createLoader` batch) and the waits for their results after each step (a worker's batch not
 * there yet). `run(k)` takes up to `k` more steps, so that the ways can take turns in short
 * chunks and share the machine's background load fairly (this machine is shared).
 */
function epochRunner(trainer: Trainer, next: Next) {
  const timing: Timing = { seconds: 0, dataSeconds: 0 };
  const request = () => {
    const t = performance.now(), result = next();
    timing.dataSeconds += (performance.now() - t) / 1000;
    return result;
  };
  let current: IteratorResult<Batch> | null = null;
  return {
    timing,
    get done() {
      return current?.done === true;
    },
    async run(steps: number) {
      const start = performance.now();
      current ??= await request();
      for (let i = 0; i < steps && !current.done; i++) {
        const pending = trainer.step(current.value);
        const ahead = request();
        await pending;
        const t = performance.now();
        current = await ahead;
        timing.dataSeconds += (performance.now() - t) / 1000;
      }
      timing.seconds += (performance.now() - start) / 1000;
    },
  };
}

const trainers = {
  compute: await createTrainer(compiled, { seed: 1, threads }),
  main: await createTrainer(compiled, { seed: 1, threads }),
  worker: await createTrainer(compiled, { seed: 1, threads }),
};
const mainLoader = createLoader(train, options);
const startTime = performance.now();
const workerLoader = await createWorkerLoader(train, options, { depth });
const startMs = performance.now() - startTime;
const [fixed] = createLoader(train, options);
const timings: Record<keyof typeof trainers, Timing[]> = { compute: [], main: [], worker: [] };
try {
  for (const trainer of Object.values(trainers)) await trainer.step(fixed); // warm up
  for (let e = 0; e < epochs; e++) {
    let left = mainLoader.batches;
    const batches = mainLoader[Symbol.iterator](), epoch = workerLoader.epoch();
    const runners = {
      compute: epochRunner(trainers.compute, () => ({ done: left-- <= 0, value: fixed }) as never),
      main: epochRunner(trainers.main, () => batches.next()),
      worker: epochRunner(trainers.worker, () => epoch.next()),
    };
    while (!Object.values(runners).every((r) => r.done)) {
      for (const runner of Object.values(runners)) await runner.run(chunk);
    }
    for (const [mode, runner] of Object.entries(runners)) {
      timings[mode as keyof typeof timings].push(runner.timing);
    }
  }
} finally {
  workerLoader.close();
  for (const trainer of Object.values(trainers)) await trainer.release();
}

console.log(
  `${name}${augment ? " + augment" : ""}: threads ${threads ?? "default"}, depth ${depth}, ` +
    `cores ${navigator.hardwareConcurrency}, ${mainLoader.batches} steps per epoch`,
);
console.log(
  `worker start (clone of ${train.count} samples, worker, createLoader): ${startMs.toFixed(0)} ms`,
);
const labels = {
  compute: "compute only (one batch reused)",
  main: "main thread (createLoader)     ",
  worker: "worker (createWorkerLoader)    ",
};
for (const [mode, list] of Object.entries(timings) as [keyof typeof timings, Timing[]][]) {
  const seconds = list.map((t) => t.seconds);
  const sorted = seconds.toSorted((a, b) => a - b);
  const best = sorted[0], median = sorted[Math.floor((sorted.length - 1) / 2)];
  const data = list.reduce((a, t) => a + t.dataSeconds, 0) / list.length;
  const what = mode === "main" ? "building" : mode === "worker" ? "waiting" : "data";
  console.log(
    `${labels[mode]}: best ${best.toFixed(3)} s, median ${median.toFixed(3)} s per epoch; ` +
      `main thread ${what} ${(1000 * data).toFixed(0)} ms per epoch (epochs: ${
        seconds.map((x) => x.toFixed(2)).join(", ")
      } s)`,
  );
}
