// bench/profile.ts: onnxruntime's profile of one training step, attributed to forward layers,
// their backward (∂) and the optimizer; of a pipeline's model or of an imported classifier.
import { fileURLToPath } from "node:url";
import {
  compileModel,
  createTrainer,
  crossEntropy,
  linear,
  relu,
  sequential,
  sgd,
} from "../mod.ts";
import { assert } from "./_assert.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

interface Report {
  model: string;
  batch: number;
  steps: number;
  kernel_ms_per_step: number;
  by_kind: Record<string, number>;
  top_nodes: { op: string; kind: string; origin: string }[];
  arithmetic: { ops: string; gflop: number; ms: number; gflops: number }[];
  profile: string;
}

/** Profiles 2 steps at batch 8 on 1 thread with `args`; removes the trace it leaves. */
async function profile(args: string[]): Promise<Report> {
  const common = ["--batch-size", "8", "--steps", "2", "--warmup", "1", "--threads", "1"];
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "-P", "bench/profile.ts", ...common, ...args, "--json"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const report: Report = JSON.parse(new TextDecoder().decode(out.stdout));
  await Deno.remove(`${ROOT}/${report.profile}`).catch(() => {});
  for (const part of ["forward", "backward", "optimizer"]) {
    assert.ok(report.by_kind[part] > 0, `${part}: ${JSON.stringify(report.by_kind)}`);
  }
  return report;
}

Deno.test("bench/profile.ts attributes kernel time to forward, backward (∂ layer) and optimizer", async () => {
  const report = await profile(["--model", "mlp", "--top", "40"]);
  assert.deepEqual([report.model, report.batch, report.steps], ["mlp", 8, 2]);
  // The MLP's Gemms: forward ones name their layer, backward ones its ∂.
  const gemms = report.top_nodes.filter((n) => /Gemm$/.test(n.op));
  assert.ok(
    gemms.some((n) => n.kind === "forward" && /^layer \d+ \(linear 784→512\)$/.test(n.origin)),
    JSON.stringify(gemms),
  );
  const backward = report.top_nodes.filter((n) => n.kind === "backward");
  assert.ok(backward.length > 0);
  for (const n of backward) assert.match(n.origin, /^∂ /);
  assert.ok(backward.some((n) => /^∂ layer 1 \(linear 784→512\)/.test(n.origin)));
  const sum = Object.values(report.by_kind).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - report.kernel_ms_per_step) < 0.01 + 1e-3 * sum);
  // Every Gemm's FLOPs are attributed: at batch 8, the forward and weight-gradient products
  // (2·8·Σ in·out each), the input gradients of layers 2 and 3, and the bias gradients
  // (ones[1, 8]·dY).
  const layers = 784 * 512 + 512 * 512 + 512 * 10;
  const flops = 2 * 8 * (2 * layers + (512 * 512 + 512 * 10) + (512 + 512 + 10));
  const gflop = report.arithmetic.reduce((a, r) => a + r.gflop, 0);
  assert.ok(Math.abs(gflop - flops / 1e9) < 4e-6, `${gflop} GFLOP, expected ${flops / 1e9}`);
  // The forward products (Gemm, and FusedGemm where onnxruntime fused the ReLU into it).
  const forward = report.arithmetic.filter((r) => r.ops.endsWith(" forward"));
  const forwardGflop = forward.reduce((a, r) => a + r.gflop, 0);
  assert.ok(Math.abs(forwardGflop - 2 * 8 * layers / 1e9) < 2e-6, JSON.stringify(forward));
  for (const r of report.arithmetic) {
    // The rate is the FLOPs over the kernel time (ms rounded to 3 decimals).
    assert.ok(r.gflops > 0 && Math.abs(r.gflops - r.gflop / r.ms * 1e3) < 0.1 + 5e-2 * r.gflops);
  }
});

Deno.test("bench/profile.ts --onnx profiles an imported classifier", async () => {
  const compiled = compileModel({
    data: { sampleShape: [4], classes: 3 },
    model: sequential(linear(4, 8), relu(), linear(8, 3)),
    loss: crossEntropy(),
    optimizer: sgd({ lr: 0.1 }),
  });
  const trainer = await createTrainer(compiled, { seed: 1 });
  await Deno.mkdir(`${ROOT}/out`, { recursive: true });
  const path = await Deno.makeTempFile({ dir: `${ROOT}/out`, prefix: "profile-", suffix: ".onnx" });
  try {
    await Deno.writeFile(path, trainer.exportModel());
    const report = await profile(["--onnx", path, "--input-shape", "4", "--classes", "3"]);
    assert.equal(report.model, path.replace(/^.*\//, "").replace(/\.onnx$/, ""));
  } finally {
    await trainer.release();
    await Deno.remove(path);
  }
});
