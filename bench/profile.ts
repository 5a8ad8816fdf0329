/**
 * Where a training step's time goes: runs onnxruntime's profiler over the one-step train graph of
 * a pipeline's model and prints the time per op type and the top nodes, each node marked forward,
 * backward (the ops autodiff added, named `∂ <the forward layer they differentiate>`) or
 * optimizer, or "onnxruntime" for nodes its graph optimizer fused or added. Times are per step,
 * averaged over the measured steps (the warm-up steps are left out).
 *
 *     deno run -P bench/profile.ts [--model mlp|cnn|resnet] [--batch-size 64] [--steps 20]
 *       [--warmup 3] [--threads N] [--top 15] [--json] [--flush-denormals] [--peak-gemm]
 *     deno run -P bench/profile.ts --onnx MODEL.onnx [--input-shape 3,32,32] [--classes 10] …
 *
 * With `--onnx`, the model is an ONNX classifier imported with `fromOnnx` (a torchvision export,
 * say), trained with SGD on float32 inputs of `--input-shape` (one sample's shape) and
 * cross-entropy over `--classes` logits.
 *
 * It also prints the arithmetic rate of the GEMM-like ops (Conv, ConvTranspose, MatMul, Gemm and
 * what onnxruntime fused into them): their FLOPs (`nodeFlops`, 2 a multiply-add) over their kernel
 * time, per op type and part; `--peak-gemm` times a 1024³ float32 MatMul in a session of the same
 * threads and gives each rate as a share of it, so a profile says which kernel caps a step and how
 * far it is from the machine's MatMul rate.
 *
 * The profile's JSON file is written under `out/` (`out/profile-<model>-<batch>_<date>.json`) and
 * kept, for chrome://tracing or Perfetto.
 * @module
 */
import { parseArgs } from "node:util";
import { crossEntropy, fromOnnx, pipeline as tsPipeline, sgd, tensorDataset } from "../mod.ts";
import { fmnist } from "../pipelines/fmnist.ts";
import { fmnistCnn } from "../pipelines/fmnist_cnn.ts";
import { fmnistResnet } from "../pipelines/fmnist_resnet.ts";
import { NAMES } from "../src/compile/names.ts";
import { emitModel } from "../src/onnx/emit.ts";
import { createSession, type HostTensor } from "../src/runtime/session.ts";
import type { Node } from "../src/ir/types.ts";
import { compilePipeline } from "../src/train/compile_pipeline.ts";
import { dropoutMask, initTensor } from "../src/train/trainer.ts";
import { createRng } from "../src/util/random.ts";
import { oneLineErrors } from "./_cli.ts";
import { nodeFlops } from "./epoch.ts";
import { peakGemmGflops } from "./_peak.ts";

oneLineErrors("profile", { help: true });
const { values } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string", default: "cnn" },
    "batch-size": { type: "string", default: "64" },
    steps: { type: "string", default: "20" },
    warmup: { type: "string", default: "3" },
    threads: { type: "string" },
    top: { type: "string", default: "15" },
    json: { type: "boolean", default: false },
    "flush-denormals": { type: "boolean", default: false },
    "peak-gemm": { type: "boolean", default: false },
    onnx: { type: "string" },
    "input-shape": { type: "string", default: "1,28,28" },
    classes: { type: "string", default: "10" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(
    "Usage: deno run -P bench/profile.ts [--model mlp|cnn|resnet] [--batch-size N] [--steps N]\n" +
      "  [--warmup N] [--threads N] [--top N] [--json] [--flush-denormals] [--peak-gemm]\n" +
      "       deno run -P bench/profile.ts --onnx MODEL.onnx [--input-shape C,H,W] [--classes N] …\n\n" +
      "Profiles one training step of the pipeline's model in onnxruntime and prints the time per\n" +
      "op type and the top nodes (forward, backward ∂ of a layer, optimizer, onnxruntime-fused),\n" +
      "and the GFLOP/s of the GEMM-like ops (--peak-gemm: against a 1024³ MatMul's).",
  );
  Deno.exit(0);
}
const count = (name: string, text: string | undefined) => {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new RangeError(`--${name} must be an integer ≥ 1, got "${text}"`);
  }
  return n;
};
const pipelines = { mlp: fmnist, cnn: fmnistCnn, resnet: fmnistResnet } as const;
const pipeline = values.onnx !== undefined
  ? onnxPipeline(values.onnx)
  : pipelines[values.model as keyof typeof pipelines];
if (!pipeline) throw new RangeError(`--model must be mlp, cnn or resnet, got "${values.model}"`);
const modelName = values.onnx !== undefined
  ? values.onnx.replace(/^.*\//, "").replace(/\.onnx$/, "")
  : values.model;

/** An imported ONNX classifier on random float32 samples of `--input-shape`. */
function onnxPipeline(path: string) {
  const shape = (values["input-shape"] ?? "").split(",").map((d) => count("input-shape", d));
  const classes = count("classes", values.classes);
  const one = shape.reduce((a, d) => a * d, 1);
  const x = new Float32Array(2 * one), y = [0, 1 % classes];
  const data = tensorDataset({ train: { x, y }, test: { x, y }, sampleShape: shape, classes });
  return tsPipeline().data(data).model(fromOnnx(path)).loss(crossEntropy())
    .optimizer(sgd({ lr: 0.01, momentum: 0.9 }));
}
const batch = count("batch-size", values["batch-size"]);
const steps = count("steps", values.steps), warmup = count("warmup", values.warmup);
const top = count("top", values.top);
const threads = values.threads === undefined ? undefined : count("threads", values.threads);

const compiled = compilePipeline(pipeline.props as Parameters<typeof compilePipeline>[0]);
const graph = compiled.train;
await Deno.mkdir("out", { recursive: true });
const prefix = `out/profile-${modelName}-${batch}`;
const session = await createSession(emitModel(graph), {
  threads,
  profile: prefix,
  flushDenormals: values["flush-denormals"],
});

// One step's feeds: random images and labels, the initial tensors, the hyperparameters, masks.
const rng = createRng(1);
const labels = values.onnx !== undefined ? count("classes", values.classes) : 10;
const feeds: Record<string, HostTensor> = {};
const sample = compiled.sampleShape.reduce((a, d) => a * d, 1);
feeds[NAMES.input] = {
  dtype: compiled.inputType.dtype,
  dims: [batch, ...compiled.sampleShape],
  data: compiled.inputType.dtype === "uint8"
    ? Uint8Array.from({ length: batch * sample }, () => Math.floor(rng.nextFloat() * 256))
    : Float32Array.from({ length: batch * sample }, () => rng.nextFloat()),
};
feeds[NAMES.target] = {
  dtype: "int64",
  dims: [batch],
  data: BigInt64Array.from({ length: batch }, () => BigInt(Math.floor(rng.nextFloat() * labels))),
};
for (const p of [...compiled.params, ...compiled.state]) {
  feeds[p.name] = { dtype: "float32", dims: p.shape, data: initTensor(p.shape, p.init, rng) };
}
for (const b of compiled.buffers) {
  const v = initTensor(b.shape, b.init, rng);
  feeds[b.name] = b.dtype === "int64"
    ? { dtype: "int64", dims: b.shape, data: BigInt64Array.from(v, (x) => BigInt(x)) }
    : { dtype: "float32", dims: b.shape, data: v };
}
for (const h of compiled.hyper) {
  feeds[h.name] = { dtype: "float32", dims: [], data: Float32Array.of(h.value) };
}
compiled.random.forEach((spec, i) => feeds[spec.name] = dropoutMask(spec, batch, i + 1));
const started: number[] = [];
for (let i = 0; i < warmup + steps; i++) {
  started.push(performance.now());
  await session.run(feeds);
}
const wall = (performance.now() - started[warmup]) / steps;
session.endProfiling();
await session.release();
const peak = values["peak-gemm"] ? await peakGemmGflops({ threads }) : undefined;

// The newest profile file of this prefix.
const base = prefix.slice("out/".length);
const files = [...Deno.readDirSync("out")].filter((e) => e.name.startsWith(`${base}_`));
const file = `out/${files.map((e) => e.name).sort().at(-1)}`;
interface TraceEvent {
  readonly cat: string;
  readonly name: string;
  readonly ts: number;
  readonly dur: number;
  readonly args?: { readonly op_name?: string };
}
const events: TraceEvent[] = JSON.parse(Deno.readTextFileSync(file));
const runs = events.filter((e) => e.cat === "Session" && e.name === "model_run")
  .sort((a, b) => a.ts - b.ts);
const from = runs[warmup]?.ts ?? 0;
// Our node names are `<op>_<index>`; the index gives the node and its origin.
const byName = new Map(graph.nodes.map((n, i) => [`${n.op}_${i}`, n]));
/** Our node a profiled name is, also when onnxruntime fused others into it ("fused Gemm_4"). */
const ourNode = (name: string) => byName.get(name.replace(/^fused /, ""));
/** The part a node belongs to, by its origin; nodes onnxruntime added are not ours. */
const kind = (node: Node | undefined) => {
  if (node === undefined) return "onnxruntime";
  const origin = node.origin ?? "";
  if (origin.startsWith("∂ ")) return "backward";
  if (/^optimizer|clip_grad_norm/.test(origin)) return "optimizer";
  return "forward";
};
interface NodeTime {
  readonly op: string;
  us: number;
  readonly kind: string;
  readonly origin: string;
  /** FLOPs a step (GEMM-like ops; 0 for the rest and for nodes onnxruntime added). */
  readonly flops: number;
}
const perNode = new Map<string, NodeTime>();
for (const e of events) {
  if (e.cat !== "Node" || !e.name.endsWith("_kernel_time") || e.ts < from) continue;
  const name = e.name.slice(0, -"_kernel_time".length);
  const node = ourNode(name);
  const entry = perNode.get(name) ?? {
    op: e.args?.op_name ?? "?",
    us: 0,
    kind: kind(node),
    origin: node?.origin ?? "",
    flops: node === undefined ? 0 : nodeFlops(node, batch),
  };
  entry.us += e.dur;
  perNode.set(name, entry);
}
const ms = (us: number) => us / steps / 1000;
const total = [...perNode.values()].reduce((a, n) => a + n.us, 0);
const sumBy = (key: (n: { op: string; kind: string }) => string) => {
  const m = new Map<string, number>();
  for (const n of perNode.values()) m.set(key(n), (m.get(key(n)) ?? 0) + n.us);
  return [...m].sort((a, b) => b[1] - a[1]);
};
const byOp = sumBy((n) => n.op), byKind = sumBy((n) => n.kind);
const byOpKind = sumBy((n) => `${n.op} ${n.kind}`);
const nodes = [...perNode].sort((a, b) => b[1].us - a[1].us).slice(0, top);
const pct = (us: number) => `${(100 * us / total).toFixed(1)}%`;
// The GEMM-like ops' rate per op type and part: FLOPs a step over kernel ms a step.
const arithmetic = new Map<string, { flops: number; us: number }>();
for (const n of perNode.values()) {
  if (n.flops === 0) continue;
  const key = `${n.op} ${n.kind}`, a = arithmetic.get(key) ?? { flops: 0, us: 0 };
  a.flops += n.flops;
  a.us += n.us;
  arithmetic.set(key, a);
}
const rates = [...arithmetic].sort((a, b) => b[1].us - a[1].us).map(([key, a]) => {
  const gflops = a.flops / (ms(a.us) / 1000) / 1e9;
  return {
    ops: key,
    gflop: Number((a.flops / 1e9).toFixed(6)),
    ms: Number(ms(a.us).toFixed(3)),
    gflops: Number(gflops.toFixed(1)),
    ...(peak === undefined ? {} : { of_peak: Number((gflops / peak).toFixed(3)) }),
  };
});
const report = {
  model: modelName,
  batch,
  steps,
  threads: threads ?? "default",
  wall_ms_per_step: Number(wall.toFixed(3)),
  kernel_ms_per_step: Number(ms(total).toFixed(3)),
  by_kind: Object.fromEntries(byKind.map(([k, us]) => [k, Number(ms(us).toFixed(3))])),
  by_op: Object.fromEntries(byOp.map(([k, us]) => [k, Number(ms(us).toFixed(3))])),
  top_nodes: nodes.map(([name, n]) => ({
    node: name,
    op: n.op,
    kind: n.kind,
    origin: n.origin,
    ms: Number(ms(n.us).toFixed(3)),
  })),
  arithmetic: rates,
  ...(peak === undefined ? {} : { peak_gemm_gflops: Number(peak.toFixed(1)) }),
  profile: file,
};
if (values.json) {
  console.log(JSON.stringify(report));
} else {
  console.log(
    `${modelName}, batch ${batch}: ${wall.toFixed(2)} ms a step (wall), ` +
      `${ms(total).toFixed(2)} ms in kernels; profile ${file}`,
  );
  console.log("\nBy part:");
  for (const [k, us] of byKind) {
    console.log(`  ${k.padEnd(12)} ${ms(us).toFixed(3).padStart(8)} ms  ${pct(us)}`);
  }
  console.log("\nBy op type (forward / backward / optimizer / onnxruntime):");
  for (const [k, us] of byOpKind.slice(0, 20)) {
    console.log(`  ${k.padEnd(36)} ${ms(us).toFixed(3).padStart(8)} ms  ${pct(us)}`);
  }
  console.log(
    "\nGEMM-like ops (FLOPs over kernel time" +
      (peak === undefined ? "):" : `; 1024³ MatMul here: ${peak.toFixed(1)} GFLOP/s):`),
  );
  for (const r of rates) {
    console.log(
      `  ${r.ops.padEnd(36)} ${r.gflop.toFixed(3).padStart(8)} GFLOP ${
        r.ms.toFixed(3).padStart(8)
      } ms` +
        ` ${r.gflops.toFixed(1).padStart(7)} GFLOP/s` +
        (r.of_peak === undefined ? "" : ` ${(100 * r.of_peak).toFixed(0).padStart(4)} % of peak`),
    );
  }
  console.log(`\nTop ${top} nodes:`);
  for (const [name, n] of nodes) {
    console.log(
      `  ${ms(n.us).toFixed(3).padStart(8)} ms  ${pct(n.us).padStart(6)}  ${n.op.padEnd(22)} ` +
        `${name.padEnd(28)} ${n.kind === "onnxruntime" ? "(onnxruntime)" : n.origin}`,
    );
  }
}
