/**
 * Benchmark: trains a FashionMNIST pipeline on a generated FashionMNIST-shaped set of 60 000 +
 * 10 000 images (written to `--data-dir` when missing) and prints ONE JSON object:
 *
 * - `train_s_per_epoch`: median of the measured epochs' training seconds (one warm-up epoch runs
 *   first and is not counted), with every epoch's figure, warm-up first, in `train_s_epochs`
 *   (the 2-core machine is shared: look there for outliers);
 * - `eval_s`: median seconds of one evaluation of the 10 000 test images. The run tests after every
 *   epoch but reports no time for it, so it is measured around the run's callbacks: from the
 *   epoch's last `onBatch` (called right after its last training step) to its `onEpoch` (called
 *   right after the test). Nothing else runs in between here (no checkpoints, no validation split,
 *   a no-op log). Every epoch's figure, warm-up first, is in `eval_s_epochs`.
 * - `gflops`: achieved training GFLOP/s, the training FLOPs of one epoch / `train_s_per_epoch`.
 *   FLOPs are counted over the compiled train graph's nodes ({@linkcode trainFlopsPerStep}): every
 *   Gemm, MatMul, Conv and ConvTranspose, at 2 FLOPs per multiply-add, from the shapes of their
 *   inputs with the batch dimension `N` set to each batch's size (the forward pass and exactly the
 *   backward GEMMs/convolutions autodiff emitted; element-wise ops and the optimizer update are not
 *   counted). For the MLP this is 2·B·Σ(in·out) forward + 2·B·Σ(in·out) for dW + 2·B·(512·512 +
 *   512·10) for dX (no dX for the first layer), not the rough 6·B·Σ(in·out).
 * - `compile_ms` (one cold `pipeline.compile()`, before the run), `peak_rss_mb` (VmHWM of the
 *   whole process from /proc/self/status; `Deno.memoryUsage().rss` at the end elsewhere),
 *   `data_share` (seconds spent producing training batches / training seconds, over the measured
 *   epochs), the settings, the onnxruntime package and version, and the machine's cores.
 *
 * `--peak-gemm` also times a 1024×1024×1024 float32 MatMul in a session of the same backend and
 * threads and adds `peak_gemm_gflops` and `arith_limit_s_per_epoch` (the epoch's FLOPs at that
 * rate). `bench/crosscheck/torch_epoch.py` times the same models in PyTorch.
 *
 *     deno run -P bench/epoch.ts [--model mlp|cnn|resnet] [--batch-size N] [--epochs N]
 *       [--backend node|web] [--steps-per-run K] [--threads N] [--device cpu|cuda]
 *       [--data-dir ROOT] [--peak-gemm] [--spin on|off]
 *
 * Without `--steps-per-run` the run picks K itself (`autoStepsPerRun`: 16 on the CPU, 64 on CUDA,
 * fewer for large batches); `steps_per_run` reports the K used.
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fmnist } from "../pipelines/fmnist.ts";
import { fmnistCnn } from "../pipelines/fmnist_cnn.ts";
import { fmnistResnet } from "../pipelines/fmnist_resnet.ts";
import type { CompiledModel } from "../src/compile/compile.ts";
import { writeSyntheticFashionMnist } from "../src/data/synthetic.ts";
import type { Dim, Node } from "../src/ir/types.ts";
import type { Backend, Device } from "../src/runtime/session.ts";
import { autoStepsPerRun, type EpochResult } from "../src/train/run.ts";
import { helpText, oneLineErrors } from "./_cli.ts";
import { peakGemmGflops } from "./_peak.ts";
import { UserRangeError } from "../src/util/user_error.ts";

/**
 * Evaluates a dimension: a number, or a symbolic expression such as `N` or `196*N` (integers,
 * `N`, `+ - * /` and parentheses) with `N` set to the batch size.
 *
 * @param dim The dimension.
 * @param batch The value of `N`.
 * @returns Its value.
 * @throws {RangeError} On any other symbol or syntax.
 */
export function evalDim(dim: Dim, batch: number): number {
  if (typeof dim === "number") return dim;
  const tokens = dim.match(/\d+|[A-Za-z_]\w*|[-+*/()]|\S/g) ?? [];
  let i = 0;
  const fail = (): never => {
    throw new RangeError(`Cannot evaluate dimension '${dim}' (only N and + - * / ( ) are known)`);
  };
  const atom = (): number => {
    const t = tokens[i++];
    if (t === "(") {
      const v = sum();
      if (tokens[i++] !== ")") fail();
      return v;
    }
    if (t === "-") return -atom();
    if (t === "N") return batch;
    if (t !== undefined && /^\d+$/.test(t)) return Number(t);
    return fail();
  };
  const product = (): number => {
    let v = atom();
    while (tokens[i] === "*" || tokens[i] === "/") {
      v = tokens[i++] === "*" ? v * atom() : v / atom();
    }
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (tokens[i] === "+" || tokens[i] === "-") {
      v = tokens[i++] === "+" ? v + product() : v - product();
    }
    return v;
  };
  const value = sum();
  if (i !== tokens.length) fail();
  return value;
}

/**
 * FLOPs of one node at batch size `batch` (2 per multiply-add): Gemm, MatMul, Conv and
 * ConvTranspose; 0 for every other op.
 *
 * @param node The node.
 * @param batch The value of the symbolic batch dimension `N`.
 * @returns Its FLOPs.
 */
export function nodeFlops(node: Node, batch: number): number {
  const shape = (k: number) => (node.inputs[k]?.type.shape ?? []).map((d) => evalDim(d, batch));
  const product = (dims: readonly number[]) => dims.reduce((p, d) => p * d, 1);
  const out = () => node.outputs[0].type.shape.map((d) => evalDim(d, batch));
  switch (node.op) {
    case "Gemm": {
      const [a0, a1] = shape(0), [b0, b1] = shape(1);
      const [m, k] = node.attrs.transA ? [a1, a0] : [a0, a1];
      const n = node.attrs.transB ? b0 : b1;
      return 2 * m * n * k;
    }
    case "MatMul": {
      const a = shape(0);
      return 2 * product(out()) * a[a.length - 1];
    }
    case "Conv": // W: [C_out, C_in / group, k...]; each output element takes C_in / group · k MACs.
      return 2 * product(out()) * product(shape(1).slice(1));
    case "ConvTranspose": // W: [C_in, C_out / group, k...]; each input element scatters to those.
      return 2 * product(shape(0)) * product(shape(1).slice(1));
    default:
      return 0;
  }
}

/**
 * Training FLOPs of one optimizer step on a batch of `batch` samples: the sum of
 * {@linkcode nodeFlops} over the train graph (forward, the backward GEMMs and convolutions, and
 * nothing element-wise).
 *
 * @param compiled The compiled pipeline.
 * @param batch The batch size.
 * @returns The step's FLOPs.
 */
export function trainFlopsPerStep(compiled: Pick<CompiledModel, "train">, batch: number): number {
  return compiled.train.nodes.reduce((sum, node) => sum + nodeFlops(node, batch), 0);
}

/** Median of a non-empty list. */
function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b), mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Peak resident set of this process in MiB: VmHWM on Linux, else the current RSS. */
function peakRssMb(): number {
  try {
    const m = Deno.readTextFileSync("/proc/self/status").match(/^VmHWM:\s+(\d+)\s+kB/m);
    if (m) return Number(m[1]) / 1024;
  } catch { /* not Linux */ }
  return Deno.memoryUsage().rss / 2 ** 20;
}

/** The installed version of an onnxruntime package, read from its package.json. */
function packageVersion(name: string): string {
  const candidates: string[] = [];
  try {
    // With a node_modules folder this resolves to the package's file; npm: specifiers are skipped.
    const main = import.meta.resolve(name);
    if (main.startsWith("file:")) {
      const path = new URL(main).pathname;
      const at = path.lastIndexOf(`/node_modules/${name}/`);
      if (at >= 0) candidates.push(path.slice(0, at) + `/node_modules/${name}/package.json`);
    }
  } catch { /* not resolvable */ }
  candidates.push(new URL(`../node_modules/${name}/package.json`, import.meta.url).pathname);
  for (const path of candidates) {
    try {
      return JSON.parse(Deno.readTextFileSync(path)).version;
    } catch { /* next */ }
  }
  return "unknown";
}

/** The train-set size from the IDX labels header (falls back to FashionMNIST's 60 000). */
function trainCount(root: string): number {
  try {
    const path = join(root, "FashionMNIST", "raw", "train-labels-idx1-ubyte");
    const file = Deno.openSync(path);
    const head = new Uint8Array(8);
    file.readSync(head);
    file.close();
    return new DataView(head.buffer).getUint32(4);
  } catch {
    return 60000;
  }
}

const PIPELINES = { mlp: fmnist, cnn: fmnistCnn, resnet: fmnistResnet } as const;

function positive(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new UserRangeError(`Invalid --${flag} '${text}': expected a positive integer`);
  }
  return n;
}

/** The flags (node:util parseArgs options). */
const OPTIONS = {
  model: { type: "string", default: "mlp" },
  "batch-size": { type: "string", default: "64" },
  epochs: { type: "string", default: "3" },
  backend: { type: "string", default: "node" },
  "steps-per-run": { type: "string" },
  threads: { type: "string" },
  device: { type: "string", default: "cpu" },
  "data-dir": { type: "string", default: "bench/data" },
  "peak-gemm": { type: "boolean", default: false },
  spin: { type: "string" },
} as const;

/** Each flag's value placeholder and help (a `Record` over the flags: none is left out). */
const FLAG_HELP: Record<keyof typeof OPTIONS, { value?: string; help: string }> = {
  model: { value: "mlp|cnn|resnet", help: "the pipeline: fmnist, fmnist_cnn or fmnist_resnet" },
  "batch-size": { value: "N", help: "samples per batch" },
  epochs: { value: "N", help: "measured epochs, after one warm-up epoch that is not counted" },
  backend: { value: "node|web", help: "onnxruntime-node (native) or -web (WebAssembly)" },
  "steps-per-run": {
    value: "K",
    help: "optimizer steps per onnxruntime run (default: the run's own choice, reported)",
  },
  threads: { value: "N", help: "onnxruntime threads (default: onnxruntime's)" },
  device: { value: "cpu|cuda", help: "execution device" },
  "data-dir": {
    value: "ROOT",
    help: "dataset root; a generated 60 000 + 10 000 set is written there when missing",
  },
  "peak-gemm": { help: "also time a 1024×1024×1024 MatMul: peak_gemm_gflops" },
  spin: { value: "on|off", help: "onnxruntime's idle threads spin (default off)" },
};

/** The text `--help` prints. */
export const USAGE: string = helpText(
  "deno run -P bench/epoch.ts [flags]",
  "Trains a FashionMNIST pipeline on a generated FashionMNIST-shaped set and prints one JSON\n" +
    "object: seconds per training epoch and per evaluation, GFLOP/s, compile time, peak memory.",
  Object.fromEntries(
    Object.entries(FLAG_HELP).map(([name, f]) => [
      name,
      { ...f, default: (OPTIONS[name as keyof typeof OPTIONS] as { default?: unknown }).default },
    ]),
  ),
);

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { ...OPTIONS, help: { type: "boolean", short: "h", default: false } },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const model = values.model as keyof typeof PIPELINES;
  if (!Object.hasOwn(PIPELINES, model)) {
    throw new UserRangeError(`Unknown --model ${model}: use mlp, cnn or resnet`);
  }
  if (values.backend !== "node" && values.backend !== "web") {
    throw new UserRangeError(`Unknown --backend ${values.backend}: use node or web`);
  }
  if (values.device !== "cpu" && values.device !== "cuda") {
    throw new UserRangeError(`Unknown --device ${values.device}: use cpu or cuda`);
  }
  const backend: Backend = values.backend, device: Device = values.device;
  const batchSize = positive("batch-size", values["batch-size"])!;
  const measured = positive("epochs", values.epochs)!;
  const stepsPerRun = positive("steps-per-run", values["steps-per-run"]);
  const threads = positive("threads", values.threads);
  if (values.spin !== undefined && values.spin !== "on" && values.spin !== "off") {
    throw new UserRangeError(`--spin takes on or off, got "${values.spin}"`);
  }
  const spinning = values.spin === undefined ? undefined : values.spin === "on";
  const root = values["data-dir"];
  if (!existsSync(join(root, "FashionMNIST", "raw", "t10k-labels-idx1-ubyte"))) {
    await writeSyntheticFashionMnist(root, { train: 60000, test: 10000, seed: 1 });
  }

  const pipeline = PIPELINES[model];
  const compileStart = performance.now();
  const compiled = pipeline.compile();
  const compileMs = performance.now() - compileStart;
  const count = trainCount(root), full = Math.floor(count / batchSize), rest = count % batchSize;
  // Without --steps-per-run the run chooses K itself (autoStepsPerRun); report that K.
  const steps = stepsPerRun ?? autoStepsPerRun(compiled, batchSize, device);
  const epochFlops = full * trainFlopsPerStep(compiled, batchSize) +
    (rest ? trainFlopsPerStep(compiled, rest) : 0);

  let lastBatchAt = 0;
  const evalSeconds: number[] = [];
  const start = performance.now();
  const result = await pipeline.run({
    dataDir: root,
    epochs: measured + 1,
    batchSize,
    seed: 1,
    log: () => {},
    stepsPerRun,
    backend,
    threads,
    spinning,
    device,
    onBatch: () => lastBatchAt = performance.now(),
    onEpoch: () => evalSeconds.push((performance.now() - lastBatchAt) / 1000),
  });
  const totalSeconds = (performance.now() - start) / 1000;
  const epochs: readonly EpochResult[] = result.epochs.slice(1);
  const trainSPerEpoch = median(epochs.map((e) => e.trainSeconds));
  const sum = (f: (e: EpochResult) => number) => epochs.reduce((a, e) => a + f(e), 0);
  const peakRss = peakRssMb();
  const peak = values["peak-gemm"] ? await peakGemmGflops({ backend, threads, device }) : undefined;
  const last = epochs[epochs.length - 1];
  const round = (x: number, digits = 3) => Number(x.toFixed(digits));
  const ortPackage = `onnxruntime-${backend}`;
  console.log(JSON.stringify({
    model,
    backend,
    device,
    batch_size: batchSize,
    steps_per_run: steps,
    threads: threads ?? "default",
    spinning: spinning ?? false,
    cores: navigator.hardwareConcurrency,
    onnxruntime: `${ortPackage}@${packageVersion(ortPackage)}`,
    train_s_per_epoch: round(trainSPerEpoch),
    train_s_epochs: result.epochs.map((e) => round(e.trainSeconds)),
    eval_s: round(median(evalSeconds.slice(1))),
    eval_s_epochs: evalSeconds.map((s) => round(s)),
    gflops: round(epochFlops / trainSPerEpoch / 1e9, 2),
    train_gflop_per_epoch: round(epochFlops / 1e9, 2),
    ...(peak === undefined ? {} : {
      peak_gemm_gflops: round(peak, 1),
      arith_limit_s_per_epoch: round(epochFlops / (peak * 1e9)),
    }),
    compile_ms: round(compileMs, 1),
    peak_rss_mb: round(peakRss, 1),
    data_share: round(sum((e) => e.dataSeconds) / sum((e) => e.trainSeconds), 4),
    total_s: round(totalSeconds, 2),
    accuracy: round(last.accuracy, 4),
  }));
}

if (import.meta.main) {
  oneLineErrors("bench", { help: true });
  await main();
}
