/**
 * Batch norm in train mode: the lowering's forward values against a float64 reference, the
 * analytic gradient of BatchNormalization in training mode against finite differences ([N, C],
 * [N, C, L] and [N, C, H, W] inputs, a symbolic batch run at two sizes), the inference form's
 * gradient with respect to its mean and variance inputs, and the full-size ops one batch norm costs
 * in a train graph.
 */
import {
  batchNorm1d,
  batchNorm2d,
  compileModel,
  conv2d,
  crossEntropy,
  flatten,
  linear,
  sequential,
  sgd,
} from "../mod.ts";
import { differentiate } from "../src/autodiff/differentiate.ts";
import { createLowerContext, type LowerContext, lowerLayer } from "../src/compile/lower_model.ts";
import type { BatchNormLayer } from "../src/dsl/norm_layers.ts";
import { createGraphBuilder, type GraphBuilder } from "../src/ir/builder.ts";
import type { Value } from "../src/ir/types.ts";
import type { Rng } from "../src/util/random.ts";
import { checkGradients, runGraph, tensor, uniform, values } from "./_harness.ts";
import { assert, assertClose } from "./_assert.ts";

/**
 * A train-mode context whose parameters are the check's own inputs; the running statistics are
 * constants (they are off the loss path).
 */
function trainContext(b: GraphBuilder, x: Readonly<Record<string, Value>>): LowerContext {
  const { ctx } = createLowerContext(b, "train");
  return {
    ...ctx,
    param: (name) => x[name],
    buffer: (_name, shape, _init, dtype = "float32") =>
      dtype === "int64"
        ? b.scalar(0, "int64")
        : b.constant({ dtype: "float32", shape, data: new Float32Array(shape[0]).fill(1) }),
    updateBuffer: () => {},
  } as LowerContext;
}

/** Inputs away from zero mean, so that centring matters: 1.5 + U(−1, 1). */
const shifted = (rng: Rng) => 1.5 + uniform(rng);

/** Per-channel batch norm in float64: (x − μ)/√(σ² + ε)·w + b over all axes but 1. */
function reference(
  x: ArrayLike<number>,
  dims: readonly number[],
  w: ArrayLike<number>,
  bias: ArrayLike<number>,
  eps: number,
): number[] {
  const [n, c] = dims, inner = dims.slice(2).reduce((a, d) => a * d, 1);
  const at = (i: number, ch: number, j: number) => (i * c + ch) * inner + j;
  const y = new Array<number>(x.length);
  for (let ch = 0; ch < c; ch++) {
    let sum = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < inner; j++) sum += x[at(i, ch, j)];
    const mean = sum / (n * inner);
    let sq = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < inner; j++) sq += (x[at(i, ch, j)] - mean) ** 2;
    const r = 1 / Math.sqrt(sq / (n * inner) + eps);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < inner; j++) {
        y[at(i, ch, j)] = (x[at(i, ch, j)] - mean) * r * w[ch] + bias[ch];
      }
    }
  }
  return y;
}

const CASES: {
  name: string;
  layer: BatchNormLayer;
  shape: (string | number)[];
  sizes: number[];
}[] = [
  { name: "batchNorm1d [N, C]", layer: batchNorm1d(3), shape: ["N", 3], sizes: [4, 7] },
  {
    name: "batchNorm1d [N, C, L]",
    layer: batchNorm1d(2, { eps: 1e-3 }),
    shape: ["N", 2, 5],
    sizes: [3, 2],
  },
  { name: "batchNorm2d", layer: batchNorm2d(2), shape: ["N", 2, 3, 3], sizes: [2, 3] },
];

for (const { name, layer, shape, sizes } of CASES) {
  const c = shape[1] as number;
  const runs = sizes.map((n) => ({ x: [n, ...shape.slice(1) as number[]] }));

  Deno.test(`${name}: train-mode forward equals the float64 formula at two batch sizes`, async () => {
    const b = createGraphBuilder();
    const x = {
      x: b.input("x", { dtype: "float32", shape }),
      "0.weight": b.input("w", { dtype: "float32", shape: [c] }),
      "0.bias": b.input("b", { dtype: "float32", shape: [c] }),
    };
    b.output("y", lowerLayer(layer, x.x, trainContext(b, x), "0"));
    const graph = b.build("bn");
    const w = Array.from({ length: c }, (_, i) => 0.5 + 0.75 * i);
    const bias = Array.from({ length: c }, (_, i) => 0.25 - 0.5 * i);
    for (const { x: dims } of runs) {
      const n = dims.reduce((a, d) => a * d, 1);
      const data = Array.from({ length: n }, (_, i) => 3 + Math.sin(1.7 * i) * (1 + (i % 3)));
      const out = await runGraph(graph, {
        x: tensor("float32", dims, data),
        w: tensor("float32", [c], w),
        b: tensor("float32", [c], bias),
      });
      assert.deepEqual([...out.y.dims], dims);
      // Inputs are float32: compare with the formula on the same (rounded) values.
      const expected = reference(Float32Array.from(data), dims, w, bias, layer.eps);
      assertClose(values(out.y), expected, 2e-6, `${name} N=${dims[0]}`);
    }
  });

  Deno.test(`${name}: train-mode gradient (x, weight, bias) against finite differences`, async () => {
    await checkGradients({
      dtype: "float32",
      h: 1e-2,
      rtol: 2e-2,
      atol: 2e-3,
      inputs: {
        x: { shape, sample: shifted },
        "0.weight": { shape: [c] },
        "0.bias": { shape: [c] },
      },
      wrt: ["x", "0.weight", "0.bias"],
      runs,
      build: (b, x) => lowerLayer(layer, x.x, trainContext(b, x), "0"),
    });
  });
}

Deno.test("BatchNormalization training_mode 1 on its own: gradient, and running outputs as ONNX defines them", async () => {
  // No forward statistics to reuse: the rule computes them. input_mean and input_var only feed
  // the running outputs, so Y has no gradient with respect to them.
  const build = (b: GraphBuilder, x: Readonly<Record<string, Value>>) =>
    b.op("BatchNormalization", [x.x, x.scale, x.bias, x.mean, x.variance], {
      epsilon: 1e-3,
      momentum: 0.7,
      training_mode: 1,
    }, { outputs: 3 });
  const stats = { mean: { shape: [3] }, variance: { shape: [3], data: [0.5, 1, 2] } };
  await checkGradients({
    dtype: "float32",
    h: 1e-2,
    rtol: 2e-2,
    atol: 2e-3,
    inputs: {
      x: { shape: ["N", 3, 4], sample: shifted },
      scale: { shape: [3] },
      bias: { shape: [3] },
      ...stats,
    },
    wrt: ["x", "scale", "bias"],
    runs: [{ x: [2, 3, 4] }, { x: [5, 3, 4] }],
    build: (b, x) => build(b, x)[0],
  });

  const b = createGraphBuilder();
  const x = {
    x: b.input("x", { dtype: "float32", shape: ["N", 3, 4] }),
    scale: b.input("scale", { dtype: "float32", shape: [3] }),
    bias: b.input("bias", { dtype: "float32", shape: [3] }),
    mean: b.input("mean", { dtype: "float32", shape: [3] }),
    variance: b.input("variance", { dtype: "float32", shape: [3] }),
  };
  const [y, runningMean, runningVar] = build(b, x);
  const loss = b.op1("ReduceSum", [y], { keepdims: 0 });
  assert.deepEqual(differentiate(b, loss, [x.mean, x.variance]), [null, null]);
  b.output("y", y);
  b.output("running_mean", runningMean);
  b.output("running_var", runningVar);
  const dims = [2, 3, 4];
  const data = Array.from({ length: 24 }, (_, i) => Math.fround(Math.cos(0.9 * i) * (2 + i % 4)));
  const scale = [1, -0.5, 2], bias = [0, 1, -1], mean = [0.1, 0.2, 0.3], variance = [1, 2, 3];
  const out = await runGraph(b.build("bn"), {
    x: tensor("float32", dims, data),
    scale: tensor("float32", [3], scale),
    bias: tensor("float32", [3], bias),
    mean: tensor("float32", [3], mean),
    variance: tensor("float32", [3], variance),
  });
  assertClose(values(out.y), reference(data, dims, scale, bias, Math.fround(1e-3)), 2e-6, "y");
  const batchMean = [0, 1, 2].map((ch) => {
    const v = data.filter((_, i) => Math.floor(i / 4) % 3 === ch);
    return v.reduce((a, u) => a + u, 0) / v.length;
  });
  const batchVar = [0, 1, 2].map((ch) => {
    const v = data.filter((_, i) => Math.floor(i / 4) % 3 === ch);
    return v.reduce((a, u) => a + (u - batchMean[ch]) ** 2, 0) / v.length;
  });
  const m = Math.fround(0.7);
  assertClose(values(out.running_mean), mean.map((v, i) => v * m + batchMean[i] * (1 - m)), 1e-5);
  assertClose(values(out.running_var), variance.map((v, i) => v * m + batchVar[i] * (1 - m)), 1e-5);
});

Deno.test("BatchNormalization inference form: gradient with respect to all five inputs", async () => {
  await checkGradients({
    dtype: "float32",
    h: 1e-2,
    rtol: 2e-2,
    atol: 2e-3,
    inputs: {
      x: { shape: [3, 2, 2, 2] },
      scale: { shape: [2] },
      bias: { shape: [2] },
      mean: { shape: [2] },
      variance: { shape: [2], data: [0.5, 1.5] },
    },
    wrt: ["x", "scale", "bias", "mean", "variance"],
    build: (b, x) =>
      b.op1("BatchNormalization", [x.x, x.scale, x.bias, x.mean, x.variance], { epsilon: 1e-3 }),
  });
});

Deno.test("a train-mode batch norm costs 7 full-size ops in the train graph (18 before the analytic rule)", () => {
  // conv → batch norm, so the train graph needs the gradient with respect to the batch norm's
  // input. Counted: nodes whose output has the batch norm's full shape [N, 3, 4, 4].
  const compiled = compileModel({
    data: { sampleShape: [3, 4, 4], classes: 2 },
    model: sequential(conv2d(3, 3, 1), batchNorm2d(3), flatten(), linear(48, 2)),
    loss: crossEntropy(),
    optimizer: sgd({ lr: 0.1 }),
  });
  const full = JSON.stringify(["N", 3, 4, 4]);
  const counts: Record<string, number> = {};
  for (const node of compiled.train.nodes) {
    if (node.outputs.some((v) => JSON.stringify(v.type.shape) === full)) {
      counts[node.op] = (counts[node.op] ?? 0) + 1;
    }
  }
  // Forward: x − mean, (x − mean)², BatchNormalization (training mode). Backward: dy·(x − mean),
  // dy·scale·r, the per-channel affine x̂·s + k0 (an inference-form BatchNormalization) and the
  // sum. Plus the conv's output and flatten's gradient reshaped back.
  assert.deepEqual(counts, { Conv: 1, Sub: 1, Mul: 3, BatchNormalization: 2, Add: 1, Reshape: 1 });
});
