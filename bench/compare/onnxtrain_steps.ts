/**
 * One onnxtrain run of `bench/compare/compare.ts`: trains a model through the public trainer path
 * (`pipeline.run`, as a user would, with its default K steps per onnxruntime run) on synthetic
 * in-memory batches and prints ONE JSON line with the step times.
 *
 * Models: `mlp`, `cnn`, `resnet` are `pipelines/fmnist.ts`, `fmnist_cnn.ts`, `fmnist_resnet.ts`
 * (their model, loss and optimizer; the data replaced by random `[N, 1, 28, 28]` float32 images
 * and random labels); `resnet18`, `mobilenet_v2`, `efficientnet_b0` are
 * `bench/zoo/<name>_dynamo.onnx` imported with `fromOnnx` and trained with SGD (lr 0.01,
 * momentum 0.9) on random `[N, 3, 64, 64]` images, as `bench/profile.ts --onnx` does.
 *
 * Timing: the run takes K optimizer steps per `session.run`, and `onBatch` fires K times right
 * after each. A run of K steps is timed from the previous run's last `onBatch` to its own last
 * one (so it includes building the K batches, the host → onnxruntime transfer, forward, backward,
 * the optimizer update and reading the losses back), and each of its steps is given 1/K of it.
 * The first `--warmup` steps (rounded up to whole runs, at least one) are not timed. The training set holds
 * about 64 MiB of batches (a whole number of runs); the run that follows an epoch's end also
 * holds the per-epoch test evaluation (one batch) and is left out of the figures (counted in
 * `excluded_runs`). Timing stops after the run in which `--seconds` have passed and at least
 * `--min-steps` steps were timed, or at `--max-steps`.
 *
 *     deno run -P bench/compare/onnxtrain_steps.ts --model mlp [--batch 64] [--warmup 8]
 *       [--seconds 4] [--min-steps 10] [--max-steps 20000] [--threads 2] [--steps-per-run K]
 *     deno run -P bench/compare/onnxtrain_steps.ts --peak [--threads 2]
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import {
  autoStepsPerRun,
  crossEntropy,
  fromOnnx,
  pipeline as tsPipeline,
  sgd,
  tensorDataset,
} from "../../mod.ts";
import { fmnist } from "../../pipelines/fmnist.ts";
import { fmnistCnn } from "../../pipelines/fmnist_cnn.ts";
import { fmnistResnet } from "../../pipelines/fmnist_resnet.ts";
import { createRng } from "../../src/util/random.ts";
import { UserRangeError } from "../../src/util/user_error.ts";
import { helpText, intArg, oneLineErrors } from "../_cli.ts";
import { trainFlopsPerStep } from "../epoch.ts";
import { peakGemmGflops } from "../_peak.ts";

/** The pipelines of the small models, by the name `compare.ts` uses. */
const PIPELINES = { mlp: fmnist, cnn: fmnistCnn, resnet: fmnistResnet } as const;
/** The torchvision models exported into bench/zoo/ by `bench/crosscheck/zoo/export_zoo.py`. */
const ZOO_MODELS = ["resnet18", "mobilenet_v2", "efficientnet_b0"] as const;
/** Bytes of training batches held in memory (the same budget as the Python peers'). */
const DATA_BYTES = 64 * 2 ** 20;
/** Most distinct training batches held in memory (the same cap as the Python peers'). */
const MOST_BATCHES = 512;

/** Median of a non-empty list. */
function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b), mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The ONNX file of a zoo model. */
function zooPath(dir: string, model: string): string {
  return `${dir}/${model}_dynamo.onnx`;
}

/** Stops the run from `onBatch` once enough steps are timed. */
class EnoughSteps extends Error {}

/** The flags (node:util parseArgs options). */
const OPTIONS = {
  model: { type: "string", default: "mlp" },
  batch: { type: "string", default: "64" },
  warmup: { type: "string", default: "8" },
  seconds: { type: "string", default: "4" },
  "min-steps": { type: "string", default: "10" },
  "max-steps": { type: "string", default: "20000" },
  threads: { type: "string", default: "2" },
  "steps-per-run": { type: "string" },
  "zoo-dir": { type: "string", default: "bench/zoo" },
  "image-size": { type: "string", default: "64" },
  peak: { type: "boolean", default: false },
} as const;

const FLAG_HELP: Record<keyof typeof OPTIONS, { value?: string; help: string }> = {
  model: { value: "NAME", help: `mlp, cnn, resnet or ${ZOO_MODELS.join(", ")}` },
  batch: { value: "N", help: "samples per batch" },
  warmup: { value: "N", help: "untimed steps first (rounded up to whole runs of K, ≥ 1 run)" },
  seconds: { value: "S", help: "time steps for at least this long" },
  "min-steps": { value: "N", help: "time at least this many steps" },
  "max-steps": { value: "N", help: "time at most this many steps (rounded up to whole runs)" },
  threads: { value: "N", help: "onnxruntime intra-op threads" },
  "steps-per-run": { value: "K", help: "optimizer steps per onnxruntime run (default: auto)" },
  "zoo-dir": { value: "DIR", help: "where <model>_dynamo.onnx files are" },
  "image-size": { value: "SIDE", help: "the zoo models' image side (their export's)" },
  peak: { help: "time a 1024³ float32 MatMul instead (GFLOP/s)" },
};

/** The text `--help` prints. */
export const USAGE: string = helpText(
  "deno run -P bench/compare/onnxtrain_steps.ts [flags]",
  "Times onnxtrain training steps (pipeline.run on synthetic batches); prints one JSON line.",
  Object.fromEntries(
    Object.entries(FLAG_HELP).map(([name, f]) => [
      name,
      { ...f, default: (OPTIONS[name as keyof typeof OPTIONS] as { default?: unknown }).default },
    ]),
  ),
);

/** The pipeline of a model, its data not yet set, and one sample's shape. */
function modelPipeline(model: string, zooDir: string, side: number) {
  if (Object.hasOwn(PIPELINES, model)) {
    return { base: PIPELINES[model as keyof typeof PIPELINES], sample: [1, 28, 28] };
  }
  if ((ZOO_MODELS as readonly string[]).includes(model)) {
    const base = tsPipeline().model(fromOnnx(zooPath(zooDir, model))).loss(crossEntropy())
      .optimizer(sgd({ lr: 0.01, momentum: 0.9 }));
    return { base, sample: [3, side, side] };
  }
  throw new UserRangeError(
    `Unknown --model ${model}: use mlp, cnn, resnet or ${ZOO_MODELS.join(", ")}`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { ...OPTIONS, help: { type: "boolean", short: "h", default: false } },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const threads = intArg("--threads", values.threads);
  if (values.peak) {
    const gflops = await peakGemmGflops({ threads });
    console.log(JSON.stringify({ framework: "onnxtrain", peak_gflops: Number(gflops.toFixed(1)) }));
    return;
  }
  const model = values.model, batch = intArg("--batch", values.batch);
  const warmup = intArg("--warmup", values.warmup, 0);
  const minSteps = intArg("--min-steps", values["min-steps"]);
  const maxSteps = intArg("--max-steps", values["max-steps"]);
  const seconds = Number(values.seconds);
  if (!(seconds >= 0)) throw new UserRangeError(`--seconds must be ≥ 0, got "${values.seconds}"`);
  const side = intArg("--image-size", values["image-size"]);
  const { base, sample } = modelPipeline(model, values["zoo-dir"], side);

  // Synthetic data: uniform [0, 1) images and uniform labels, D batches (a whole number of runs).
  const sampleSize = sample.reduce((a, d) => a * d, 1);
  const rng = createRng(1);
  const tiny = (count: number) => ({
    x: Float32Array.from({ length: count * sampleSize }, () => rng.nextFloat()),
    y: Int32Array.from({ length: count }, () => Math.floor(rng.nextFloat() * 10)),
  });
  // K is the run's own choice unless given; it needs the compiled model (compiled again by run).
  const probe = base.data(
    tensorDataset({ train: tiny(1), test: tiny(1), sampleShape: sample, classes: 10 }),
    { batchSize: batch },
  );
  const compileStart = performance.now();
  const compiled = probe.compile();
  const compileMs = performance.now() - compileStart;
  const k = values["steps-per-run"] === undefined
    ? autoStepsPerRun(compiled, batch)
    : intArg("--steps-per-run", values["steps-per-run"]);
  const fit = Math.min(MOST_BATCHES, Math.floor(DATA_BYTES / (batch * sampleSize * 4)));
  const batches = Math.max(2 * k, Math.floor(fit / k) * k);
  const train = tiny(batches * batch);
  const p = base.data(
    tensorDataset({ train, test: tiny(batch), sampleShape: sample, classes: 10 }),
    { batchSize: batch },
  );
  // At least one run: a run's start is only seen as the previous run's last onBatch.
  const warmupSteps = Math.max(1, Math.ceil(warmup / k)) * k;
  const epochs = Math.ceil((warmupSteps + maxSteps + k) / batches) + 1;

  let steps = 0, timed = 0, last = 0, afterEpoch = false, firstLoss = NaN, lastLoss = NaN;
  let timedStart = 0;
  const runs: number[] = [], excluded: number[] = [];
  const onBatch = ({ loss }: { loss: number }) => {
    steps++;
    if (steps === 1) firstLoss = loss;
    lastLoss = loss;
    if (steps % k !== 0) return;
    const now = performance.now();
    if (steps === warmupSteps) {
      last = timedStart = now;
      afterEpoch = false;
      return;
    }
    if (steps < warmupSteps) return;
    (afterEpoch ? excluded : runs).push((now - last) / k);
    afterEpoch = false;
    last = now;
    timed += k;
    const enough = timed >= maxSteps ||
      (timed >= minSteps && runs.length > 0 && now - timedStart >= seconds * 1000);
    if (enough) throw new EnoughSteps();
  };
  const started = performance.now();
  try {
    await p.run({
      epochs,
      seed: 1,
      quiet: true,
      log: () => {},
      threads,
      stepsPerRun: k,
      onBatch,
      onEpoch: () => afterEpoch = true,
    });
  } catch (e) {
    if (!(e instanceof EnoughSteps)) throw e;
  }
  const wallS = (performance.now() - started) / 1000;
  if (runs.length === 0) {
    throw new UserRangeError(`No run was timed (${steps} steps, K ${k}): raise --max-steps`);
  }
  const params = compiled.params.reduce((a, s) => a + s.shape.reduce((n, d) => n * d, 1), 0);
  const round = (x: number, digits = 4) => Number(x.toFixed(digits));
  const cpu = process.cpuUsage();
  console.log(JSON.stringify({
    framework: "onnxtrain",
    model,
    batch,
    threads,
    steps_per_run: k,
    median_ms: round(median(runs)),
    mean_ms: round(runs.reduce((a, x) => a + x, 0) / runs.length),
    mean_all_ms: round([...runs, ...excluded].reduce((a, x) => a + x * k, 0) / timed),
    timed_steps: runs.length * k,
    excluded_runs: excluded.length,
    warmup_steps: warmupSteps,
    distinct_batches: batches,
    samples_ms: runs.map((x) => round(x, 3)),
    params,
    gflop_per_step: round(trainFlopsPerStep(compiled, batch) / 1e9, 4),
    compile_ms: round(compileMs, 1),
    wall_s: round(wallS, 2),
    cpu_s: round((cpu.user + cpu.system) / 1e6, 3),
    first_loss: round(firstLoss),
    last_loss: round(lastLoss),
  }));
}

if (import.meta.main) {
  oneLineErrors("onnxtrain_steps", { help: true });
  await main();
}
