/**
 * Layers: forward values against float64 references, gradients of composite layers against
 * finite differences, batch norm's running statistics, dropout in train and eval, parameter names
 * of sequential, functional and shared-layer models, the summary, and compile errors.
 */
import {
  add,
  batchNorm1d,
  batchNorm2d,
  CompileError,
  compileModel,
  concat,
  conv2d,
  crossEntropy,
  dropout,
  elu,
  embedding,
  flatten,
  gelu,
  identity,
  layerNorm,
  leakyRelu,
  linear,
  logSoftmax,
  maxPool2d,
  module,
  mul,
  relu,
  reshape,
  sequential,
  sgd,
  sigmoid,
  silu,
  softmax,
  tanh,
} from "../mod.ts";
import type { Layer } from "../src/dsl/layers.ts";
import { createLowerContext, type LowerContext, lowerLayer } from "../src/compile/lower_model.ts";
import { createGraphBuilder } from "../src/ir/builder.ts";
import type { Value } from "../src/ir/types.ts";
import { createSession } from "../src/runtime/session.ts";
import { createTrainer, dropoutMask } from "../src/train/trainer.ts";
import { deriveSeed } from "../src/util/random.ts";
import { checkGradients, runGraph, tensor, values } from "./_harness.ts";
import { assert, assertClose, assertThrowsMatch } from "./_assert.ts";

/** Runs `layer` (eval mode, no parameters) on `x` of `dims` and returns the output values. */
async function forward(layer: Layer, dims: number[], x: number[]): Promise<number[]> {
  const b = createGraphBuilder();
  const input = b.input("x", { dtype: "float32", shape: dims });
  const { ctx } = createLowerContext(b, "eval");
  b.output("y", lowerLayer(layer, input, ctx, "0"));
  const out = await runGraph(b.build("layer"), { x: tensor("float32", dims, x) });
  return values(out.y);
}

const xs = [-2, -1.5, -0.5, -1e-3, 0, 0.25, 1, 3];
const erf = (x: number) => {
  // Abramowitz–Stegun 7.1.26 is too coarse; integrate the series instead (|x| ≤ 3 here).
  let sum = 0, term = x;
  for (let n = 0; n < 200; n++) {
    sum += term / (2 * n + 1);
    term *= -x * x / (n + 1);
  }
  return 2 / Math.sqrt(Math.PI) * sum;
};
const REFERENCES: [string, Layer, (x: number) => number][] = [
  ["relu", relu(), (x) => Math.max(x, 0)],
  ["sigmoid", sigmoid(), (x) => 1 / (1 + Math.exp(-x))],
  ["tanh", tanh(), Math.tanh],
  ["silu", silu(), (x) => x / (1 + Math.exp(-x))],
  ["identity", identity(), (x) => x],
  ["gelu exact", gelu(), (x) => 0.5 * x * (1 + erf(x / Math.SQRT2))],
  [
    "gelu tanh",
    gelu({ approximate: "tanh" }),
    (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  ],
  ["leakyRelu 0.2", leakyRelu({ negativeSlope: 0.2 }), (x) => (x > 0 ? x : 0.2 * x)],
  ["elu 1.5", elu({ alpha: 1.5 }), (x) => (x > 0 ? x : 1.5 * (Math.exp(x) - 1))],
];
for (const [name, layer, ref] of REFERENCES) {
  Deno.test(`${name} forward matches its formula`, async () => {
    assertClose(await forward(layer, [2, 4], xs), xs.map(ref), 2e-6, name);
  });
}

Deno.test("softmax and logSoftmax along a dim match the formula", async () => {
  const x = [1, 2, 3, -1, 0, 1];
  const p = (row: number[]) => {
    const z = row.reduce((a, v) => a + Math.exp(v), 0);
    return row.map((v) => Math.exp(v) / z);
  };
  assertClose(await forward(softmax(1), [2, 3], x), [...p(x.slice(0, 3)), ...p(x.slice(3))], 1e-6);
  const lp = [...p(x.slice(0, 3)), ...p(x.slice(3))].map(Math.log);
  assertClose(await forward(logSoftmax(-1), [2, 3], x), lp, 1e-6);
  // dim 0: columns sum to one.
  const col = await forward(softmax(0), [2, 3], x);
  assertClose([col[0] + col[3], col[1] + col[4], col[2] + col[5]], [1, 1, 1], 1e-6);
});

Deno.test("flatten with start and end dims, and reshape, give PyTorch's shapes", () => {
  const shapeOf = (layer: Layer, shape: (number | string)[]) => {
    const b = createGraphBuilder();
    const { ctx } = createLowerContext(b, "eval");
    return lowerLayer(layer, b.input("x", { dtype: "float32", shape }), ctx, "0").type.shape;
  };
  assert.deepEqual(shapeOf(flatten(), ["N", 2, 3, 4]), ["N", 24]);
  assert.deepEqual(shapeOf(flatten({ startDim: 2 }), ["N", 2, 3, 4]), ["N", 2, 12]);
  assert.deepEqual(shapeOf(flatten({ startDim: 1, endDim: 2 }), ["N", 2, 3, 4]), ["N", 6, 4]);
  assert.deepEqual(shapeOf(flatten({ startDim: 0 }), ["N", 2, 3]), ["6*N"]);
  assert.deepEqual(shapeOf(reshape(4, -1), ["N", 2, 3, 4]), ["N", 4, 6]);
});

/** A context whose parameters are the check's own inputs (so gradients flow to them). */
function paramsFrom(x: Readonly<Record<string, Value>>, ctx: LowerContext): LowerContext {
  return { ...ctx, param: (name) => x[name] };
}

Deno.test("layerNorm gradient (input, weight, bias) against finite differences", async () => {
  await checkGradients({
    dtype: "float32",
    h: 1e-2,
    inputs: { x: { shape: [3, 2, 4] }, "0.weight": { shape: [2, 4] }, "0.bias": { shape: [2, 4] } },
    wrt: ["x", "0.weight", "0.bias"],
    build: (b, x) => {
      const { ctx } = createLowerContext(b, "train");
      return lowerLayer(layerNorm([2, 4]), x.x, paramsFrom(x, ctx), "0");
    },
  });
});

Deno.test("batchNorm2d train-mode gradient against finite differences", async () => {
  await checkGradients({
    dtype: "float32",
    h: 1e-2,
    rtol: 2e-2,
    atol: 2e-3,
    inputs: { x: { shape: [3, 2, 2, 2] }, "0.weight": { shape: [2] }, "0.bias": { shape: [2] } },
    wrt: ["x", "0.weight", "0.bias"],
    build: (b, x) => {
      const { ctx } = createLowerContext(b, "train");
      // Running statistics are not on the loss path; constants stand in for the buffer inputs.
      const c = {
        ...paramsFrom(x, ctx),
        buffer: (_: string, shape: readonly number[], _init: unknown, dtype = "float32") =>
          dtype === "int64"
            ? b.scalar(0, "int64")
            : b.constant({ dtype: "float32", shape, data: new Float32Array(shape[0]).fill(1) }),
        updateBuffer: () => {},
      } as LowerContext;
      return lowerLayer(batchNorm2d(2), x.x, c, "0");
    },
  });
});

Deno.test("gelu (tanh) and silu gradients against finite differences", async () => {
  for (const layer of [gelu({ approximate: "tanh" }), silu()]) {
    await checkGradients({
      inputs: { x: { shape: [2, 5] } },
      wrt: ["x"],
      build: (b, x) => {
        const { ctx } = createLowerContext(b, "train");
        return lowerLayer(layer, x.x, ctx, "0");
      },
    });
  }
});

// ---- batch norm's running statistics ----

Deno.test("batchNorm1d: running statistics after 3 train steps equal the formula; eval uses them", async () => {
  const compiled = compileModel({
    data: { sampleShape: [3], classes: 2 },
    model: sequential(batchNorm1d(3, { momentum: 0.2 }), linear(3, 2)),
    loss: crossEntropy(),
    optimizer: sgd({ lr: 0.1 }),
  });
  assert.deepEqual(compiled.buffers.map((b) => b.name), [
    "0.running_mean",
    "0.running_var",
    "0.num_batches_tracked",
  ]);
  const trainer = await createTrainer(compiled, { seed: 2 });
  const mean = [0, 0, 0], variance = [1, 1, 1];
  const batches = [4, 5, 3].map((n, s) => {
    const x = Float32Array.from({ length: n * 3 }, (_, i) => Math.sin(i * 1.3 + s) * (1 + s));
    return { x, y: BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 2)), size: n };
  });
  for (const batch of batches) {
    await trainer.step(batch);
    for (let c = 0; c < 3; c++) {
      const col = Array.from({ length: batch.size }, (_, i) => batch.x[i * 3 + c]);
      const m = col.reduce((a, v) => a + v, 0) / col.length;
      const unbiased = col.reduce((a, v) => a + (v - m) ** 2, 0) / (col.length - 1);
      mean[c] = 0.8 * mean[c] + 0.2 * m;
      variance[c] = 0.8 * variance[c] + 0.2 * unbiased;
    }
  }
  assertClose(trainer.buffers.get("0.running_mean")!.data as Float32Array, mean, 1e-5, "mean");
  assertClose(trainer.buffers.get("0.running_var")!.data as Float32Array, variance, 1e-5, "var");
  assert.equal(trainer.buffers.get("0.num_batches_tracked")!.data[0], 3n);

  // The exported model normalises with the running statistics.
  const session = await createSession(trainer.exportModel());
  const x = Float32Array.of(1, 2, 3);
  const out = await session.run({ input: { dtype: "float32", dims: [1, 3], data: x } });
  const w = trainer.params.get("1.weight")!.data as Float32Array;
  const bias = trainer.params.get("1.bias")!.data as Float32Array;
  const bnW = trainer.params.get("0.weight")!.data as Float32Array;
  const bnB = trainer.params.get("0.bias")!.data as Float32Array;
  const h = [0, 1, 2].map((c) =>
    (x[c] - mean[c]) / Math.sqrt(variance[c] + 1e-5) * bnW[c] + bnB[c]
  );
  const expected = [0, 1].map((o) => h.reduce((a, v, c) => a + v * w[o * 3 + c], bias[o]));
  assertClose(out.logits.data as Float32Array, expected, 1e-4, "inference logits");
  await session.release();
  await trainer.release();
});

// ---- dropout ----

Deno.test("dropout: masks are seeded by (seed, step, index), keep 1 − p, scale by 1/(1 − p)", () => {
  const spec = { name: "1.dropout_mask", shape: ["N", 1000] as (number | string)[], p: 0.3 };
  const a = dropoutMask(spec, 20, deriveSeed(5, 0, 0));
  const again = dropoutMask(spec, 20, deriveSeed(5, 0, 0));
  const next = dropoutMask(spec, 20, deriveSeed(5, 1, 0));
  assert.deepEqual([...a.dims], [20, 1000]);
  assert.deepEqual(a.data, again.data);
  assert.notDeepEqual(a.data, next.data);
  const kept = Array.from(a.data as Float32Array).filter((v) => v !== 0);
  assert.ok(kept.every((v) => v === Math.fround(1 / 0.7)));
  const rate = kept.length / 20000;
  assert.ok(Math.abs(rate - 0.7) < 0.015, `keep rate ${rate}`);
});

Deno.test("dropout: identity in eval; the train step applies the fed mask", async () => {
  const model = sequential(linear(4, 6), dropout(0.5), linear(6, 2));
  const compiled = compileModel({
    data: { sampleShape: [4], classes: 2 },
    model,
    loss: crossEntropy(),
    optimizer: sgd({ lr: 0 }),
  });
  assert.deepEqual(compiled.random.map((r) => [r.name, r.shape]), [["1.dropout_mask", ["N", 6]]]);
  assert.ok(!compiled.eval.nodes.some((n) => n.inputs.some((v) => v?.name === "1.dropout_mask")));
  const plain = compileModel({
    data: { sampleShape: [4], classes: 2 },
    model: sequential(linear(4, 6), identity(), linear(6, 2)),
    loss: crossEntropy(),
    optimizer: sgd({ lr: 0 }),
  });
  const t1 = await createTrainer(compiled, { seed: 9 });
  const t2 = await createTrainer(plain, { seed: 9 });
  const batch = {
    x: Float32Array.from({ length: 12 }, (_, i) => i / 7 - 0.8),
    y: BigInt64Array.of(0n, 1n, 1n),
    size: 3,
  };
  const e1 = await t1.evaluate([batch]), e2 = await t2.evaluate([batch]);
  assert.equal(e1.lossSum, e2.lossSum, "eval ignores dropout");
  // Two train steps at lr 0 see different masks, so different losses; a fresh trainer with the
  // same seed sees the same ones.
  const l1 = [await t1.step(batch), await t1.step(batch)];
  const t3 = await createTrainer(compiled, { seed: 9 });
  const l3 = [await t3.step(batch), await t3.step(batch)];
  assert.deepEqual(l1, l3);
  assert.notEqual(l1[0], l1[1]);
  for (const t of [t1, t2, t3]) await t.release();
});

// ---- model graphs ----

const act = relu();

Deno.test("functional models: residual add, concat, mul; nested names as PyTorch's state_dict", () => {
  const block = module(
    { conv1: conv2d(4, 4, 3, { padding: 1 }), bn1: batchNorm2d(4) },
    (x, m) => act(add(m.bn1(m.conv1(x)), x)),
  );
  const net = module(
    {
      stem: sequential(conv2d(1, 4, 3, { padding: 1 }), batchNorm2d(4)),
      block,
      gate: conv2d(4, 4, 1),
      head: linear(8 * 14 * 14, 3),
    },
    (x, m) => {
      const h = m.block(act(m.stem(x)));
      const g = mul(h, m.gate(h));
      return m.head(flatten()(maxPool2d(2)(concat([h, g], 1))));
    },
  );
  const compiled = compileModel({
    data: { sampleShape: [1, 28, 28], classes: 3 },
    model: net,
    loss: crossEntropy(),
    optimizer: sgd({ lr: 0.1 }),
  });
  assert.deepEqual(compiled.params.map((p) => p.name), [
    "stem.0.weight",
    "stem.0.bias",
    "stem.1.weight",
    "stem.1.bias",
    "block.conv1.weight",
    "block.conv1.bias",
    "block.bn1.weight",
    "block.bn1.bias",
    "gate.weight",
    "gate.bias",
    "head.weight",
    "head.bias",
  ]);
  assert.deepEqual(compiled.buffers.map((b) => b.name), [
    "stem.1.running_mean",
    "stem.1.running_var",
    "stem.1.num_batches_tracked",
    "block.bn1.running_mean",
    "block.bn1.running_var",
    "block.bn1.num_batches_tracked",
  ]);
  const summary = compiled.summary();
  assert.match(summary, /^block\.conv1\s+conv2d 4→4 k3×3\s+\[N, 4, 28, 28\]\s+148$/m);
  assert.match(summary, /^head\s+linear 1568→3\s+\[N, 3\]\s+4,707$/m);
  const total = compiled.params.reduce((n, p) => n + p.shape.reduce((a, d) => a * d, 1), 0);
  assert.match(summary, new RegExp(`^Total params: ${total.toLocaleString("en-US")}$`, "m"));
  assert.match(summary, /^Non-trainable buffers: 18$/m);
});

Deno.test("a layer applied twice shares its parameters, and its gradient sums both uses", async () => {
  const fc = linear(3, 3);
  const model = module({ fc, out: linear(3, 2) }, (x, m) => m.out(act(m.fc(act(m.fc(x))))));
  const compiled = compileModel({
    data: { sampleShape: [3], classes: 2 },
    model,
    loss: crossEntropy(),
    optimizer: sgd({ lr: 0.5 }),
  });
  assert.deepEqual(compiled.params.map((p) => p.name), [
    "fc.weight",
    "fc.bias",
    "out.weight",
    "out.bias",
  ]);
  const trainer = await createTrainer(compiled, { seed: 4 });
  const batch = {
    x: Float32Array.from({ length: 24 }, (_, i) => Math.cos(i)),
    y: BigInt64Array.from({ length: 8 }, (_, i) => BigInt((i * 5) % 2)),
    size: 8,
  };
  const losses = [];
  for (let i = 0; i < 30; i++) losses.push(await trainer.step(batch));
  assert.ok(losses[29] < 0.8 * losses[0], `loss falls: ${losses[0]} → ${losses[29]}`);
  await trainer.release();
});

Deno.test("embedding: int64 ids, padding row stays zero and trains nothing", async () => {
  const model = sequential(embedding(5, 3, { paddingIdx: 0 }), flatten(), linear(6, 2));
  const compiled = compileModel({
    data: { sampleShape: [2], inputDtype: "int64", classes: 2 },
    model,
    loss: crossEntropy(),
    optimizer: sgd({ lr: 0.5 }),
  });
  const trainer = await createTrainer(compiled, { seed: 1 });
  const w0 = Float32Array.from(trainer.params.get("0.weight")!.data as Float32Array);
  assert.deepEqual([...w0.slice(0, 3)], [0, 0, 0]);
  const batch = {
    x: BigInt64Array.of(0n, 1n, 2n, 0n, 4n, 4n),
    y: BigInt64Array.of(0n, 1n, 1n),
    size: 3,
  };
  for (let i = 0; i < 3; i++) await trainer.step(batch);
  const w = trainer.params.get("0.weight")!.data as Float32Array;
  assert.deepEqual([...w.slice(0, 3)], [0, 0, 0], "padding row");
  assert.deepEqual([...w.slice(9, 12)], [...w0.slice(9, 12)], "unused row 3 unchanged");
  assert.notDeepEqual([...w.slice(3, 6)], [...w0.slice(3, 6)], "row 1 trained");
  await trainer.release();
});

// ---- errors ----

Deno.test("compile errors name the layer path and both shapes", () => {
  const compile = (model: Layer, sampleShape = [1, 28, 28]) =>
    compileModel({
      data: { sampleShape, classes: 10 },
      model,
      loss: crossEntropy(),
      optimizer: sgd({ lr: 0.1 }),
    });
  assertThrowsMatch(
    () => compile(sequential(conv2d(3, 8, 3), flatten(), linear(8 * 26 * 26, 10))),
    CompileError,
    /layer 0 \(conv2d 3→8 k3×3\) expects 3 input channels, got 1 \(input shape \[N, 1, 28, 28\]\)/,
  );
  assertThrowsMatch(
    () => compile(module({ c: conv2d(1, 2, 3) }, (x, m) => add(m.c(x), x))),
    CompileError,
    /add.*cannot broadcast shapes \[N, 2, 26, 26\] and \[N, 1, 28, 28\]/,
  );
  const stray = linear(4, 4);
  assertThrowsMatch(
    () => compile(module({ a: linear(4, 4) }, (x, m) => stray(m.a(x))), [4]),
    CompileError,
    /applies linear 4→4, which has parameters or buffers, but it is not one of the module's children \(a\)/,
  );
  assertThrowsMatch(
    () => compile(sequential(batchNorm2d(4), flatten(), linear(4, 10)), [4]),
    CompileError,
    /layer 0 \(batchNorm2d 4\) expects input of shape \[N, 4, H, W\], got \[N, 4\]/,
  );
});

Deno.test("a regression model trains end to end on a tensor dataset with mse; the log has no accuracy", async () => {
  const { mse, pipeline, tensorDataset, adam } = await import("../mod.ts");
  // y = [x0 + 2·x1, x0 − x1] + noise-free; 64 samples.
  const n = 64, x = new Float32Array(n * 2), y = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    x[2 * i] = Math.sin(i), x[2 * i + 1] = Math.cos(3 * i);
    y[2 * i] = x[2 * i] + 2 * x[2 * i + 1], y[2 * i + 1] = x[2 * i] - x[2 * i + 1];
  }
  const data = tensorDataset({
    train: { x, y },
    test: { x, y },
    sampleShape: [2],
    targetShape: [2],
  });
  const lines: string[] = [];
  const result = await pipeline()
    .data(data, { batchSize: 16 })
    .model(sequential(linear(2, 16), tanh(), linear(16, 2)))
    .loss(mse())
    .optimizer(adam({ lr: 0.02 }))
    .epochs(20)
    .run({ seed: 3, log: (l) => lines.push(l) });
  const first = result.epochs[0].testLoss, last = result.epochs[19].testLoss;
  assert.ok(last < 0.05 * first, `test loss ${first} → ${last}`);
  assert.ok(Number.isNaN(result.epochs[0].accuracy));
  assert.ok(
    lines.includes(` Avg loss: ${last.toFixed(6).padStart(8)} `),
    lines.slice(-4).join("|"),
  );
  assert.ok(!lines.some((l) => l.includes("Accuracy")));
});

Deno.test("the exported CNN gives the eval graph's logits (batch norm's running statistics, no dropout)", async () => {
  const { cnn } = await import("../pipelines/fmnist_cnn.ts");
  const { adam } = await import("../mod.ts");
  const compiled = compileModel({
    data: { sampleShape: [1, 28, 28], classes: 10 },
    model: cnn,
    loss: crossEntropy(),
    optimizer: adam({ lr: 1e-2 }),
  });
  const trainer = await createTrainer(compiled, { seed: 5 });
  const n = 6;
  const batch = {
    x: Float32Array.from({ length: n * 784 }, (_, i) => (Math.sin(i * 0.37) + 1) / 2),
    y: BigInt64Array.from({ length: n }, (_, i) => BigInt((i * 3) % 10)),
    size: n,
  };
  for (let i = 0; i < 3; i++) await trainer.step(batch);
  const evalSession = await createSession((await import("../mod.ts")).emitModel(compiled.eval));
  const feeds: Record<string, import("../src/runtime/session.ts").HostTensor> = {
    input: { dtype: "float32", dims: [n, 1, 28, 28], data: batch.x },
    target: { dtype: "int64", dims: [n], data: batch.y },
  };
  for (const [k, v] of [...trainer.params, ...trainer.buffers]) feeds[k] = v;
  const expected = (await evalSession.run(feeds, ["logits"])).logits;
  const inference = await createSession(trainer.exportModel());
  const got = (await inference.run({ input: feeds.input })).logits;
  assert.deepEqual([...got.dims], [n, 10]);
  // onnxruntime folds batch norm into the convolution when weights are initializers: float32
  // rounding differs by a few ulps.
  assertClose(got.data as Float32Array, expected.data as Float32Array, 1e-5, "logits");
  // Batch statistics moved the running mean away from its initial zeros.
  assert.ok((trainer.buffers.get("1.running_mean")!.data as Float32Array).some((v) => v !== 0));
  for (const s of [evalSession, inference]) await s.release();
  await trainer.release();
});

Deno.test("a residual model (conv, batch norm, projection shortcut, global pooling) trains", async () => {
  const { adaptiveAvgPool2d, adam } = await import("../mod.ts");
  const res = module(
    {
      conv1: conv2d(1, 4, 3, { padding: 1, bias: false }),
      bn1: batchNorm2d(4),
      conv2: conv2d(4, 8, 3, { stride: 2, padding: 1, bias: false }),
      bn2: batchNorm2d(8),
      down: sequential(conv2d(4, 8, 1, { stride: 2, bias: false }), batchNorm2d(8)),
      fc: linear(8, 3),
    },
    (x, m) => {
      const h = act(m.bn1(m.conv1(x)));
      const r = act(add(m.bn2(m.conv2(h)), m.down(h)));
      return m.fc(flatten()(adaptiveAvgPool2d(1)(r)));
    },
  );
  const compiled = compileModel({
    data: { sampleShape: [1, 8, 8], classes: 3 },
    model: res,
    loss: crossEntropy(),
    optimizer: adam({ lr: 0.02 }),
  });
  assert.deepEqual(
    compiled.params.map((p) => p.name).filter((n) => n.startsWith("down")),
    ["down.0.weight", "down.1.weight", "down.1.bias"],
  );
  const trainer = await createTrainer(compiled, { seed: 11 });
  // Three classes: bright top half, bright bottom half, dark.
  const n = 12, x = new Float32Array(n * 64), y = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    y[i] = BigInt(c);
    for (let p = 0; p < 64; p++) {
      const top = p < 32;
      x[i * 64 + p] = (c === 0 && top) || (c === 1 && !top) ? 0.9 : 0.1 + 0.05 * Math.sin(i + p);
    }
  }
  const losses = [];
  for (let i = 0; i < 40; i++) losses.push(await trainer.step({ x, y, size: n }));
  assert.ok(losses[39] < 0.3 * losses[0], `loss falls: ${losses[0]} → ${losses[39]}`);
  const r = await trainer.evaluate([{ x, y, size: n }]);
  assert.equal(r.correct, n);
  await trainer.release();
});

Deno.test("conv2d padding 'same' pads as PyTorch (total d·(k − 1), the extra on the end side)", async () => {
  const b = createGraphBuilder();
  const input = b.input("x", { dtype: "float32", shape: [1, 1, 3, 4] });
  const { ctx, registry } = createLowerContext(b, "eval");
  const layer = conv2d(1, 1, [2, 3], { padding: "same", dilation: [1, 2], bias: false });
  b.output("y", lowerLayer(layer, input, ctx, "0"));
  assert.deepEqual(registry.params.map((p) => p.spec.shape), [[1, 1, 2, 3]]);
  const x = Array.from({ length: 12 }, (_, i) => i + 1);
  const w = [1, 2, 3, -1, 0.5, 2];
  const out = await runGraph(b.build("same"), {
    x: tensor("float32", [1, 1, 3, 4], x),
    "0.weight": tensor("float32", [1, 1, 2, 3], w),
  });
  assert.deepEqual([...out.y.dims], [1, 1, 3, 4]);
  // Pads: rows 0 before, 1 after; columns 2 before, 2 after (dilation 2, kernel 3).
  const at = (r: number, c: number) => (r >= 0 && r < 3 && c >= 0 && c < 4 ? x[r * 4 + c] : 0);
  const expected: number[] = [];
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 4; c++) {
      let v = 0;
      for (let i = 0; i < 2; i++) {
        for (let j = 0; j < 3; j++) v += w[i * 3 + j] * at(r + i, c - 2 + 2 * j);
      }
      expected.push(v);
    }
  }
  assertClose(out.y.data as Float32Array, expected, 1e-6);
});

Deno.test("BatchNormalization (eval form) gradient against finite differences", async () => {
  await checkGradients({
    dtype: "float32",
    h: 1e-2,
    inputs: {
      x: { shape: [2, 3, 2, 2] },
      scale: { shape: [3] },
      bias: { shape: [3] },
      mean: { shape: [3] },
      variance: { shape: [3], data: [0.5, 1.5, 2] },
    },
    wrt: ["x", "scale", "bias"],
    build: (b, x) =>
      b.op1("BatchNormalization", [x.x, x.scale, x.bias, x.mean, x.variance], { epsilon: 1e-3 }),
  });
});

Deno.test("conv1d with batchNorm1d over [N, C, L], and a 2-D model with avgPool2d, adaptiveAvgPool2d(2), layerNorm, gelu and dropout, train", async () => {
  const { adam, adaptiveAvgPool2d, avgPool2d, conv1d } = await import("../mod.ts");
  const fit = async (model: Layer, sampleShape: number[]) => {
    const compiled = compileModel({
      data: { sampleShape, classes: 2 },
      model,
      loss: crossEntropy(),
      optimizer: adam({ lr: 0.01 }),
    });
    const trainer = await createTrainer(compiled, { seed: 21 });
    const size = sampleShape.reduce((a, d) => a * d, 1), n = 16;
    const x = new Float32Array(n * size), y = new BigInt64Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = BigInt(i % 2);
      for (let p = 0; p < size; p++) x[i * size + p] = Math.sin(p * (i % 2 ? 0.9 : 0.2) + i * 0.1);
    }
    const losses = [];
    for (let i = 0; i < 40; i++) losses.push(await trainer.step({ x, y, size: n }));
    await trainer.release();
    return { compiled, losses };
  };
  const oneD = await fit(
    sequential(
      conv1d(2, 4, 3, { padding: 1 }),
      batchNorm1d(4),
      relu(),
      flatten(),
      linear(4 * 6, 2),
    ),
    [2, 6],
  );
  assert.deepEqual(oneD.compiled.layers.map((l) => l.outputShape), [
    ["N", 4, 6],
    ["N", 4, 6],
    ["N", 4, 6],
    ["N", 24],
    ["N", 2],
  ]);
  assert.ok(oneD.losses[39] < 0.3 * oneD.losses[0], `1-D: ${oneD.losses[0]} → ${oneD.losses[39]}`);
  const twoD = await fit(
    sequential(
      conv2d(1, 4, 3, { padding: "same" }),
      avgPool2d(2),
      adaptiveAvgPool2d(2),
      flatten(),
      layerNorm(16),
      gelu(),
      dropout(0.1),
      linear(16, 2),
    ),
    [1, 8, 8],
  );
  assert.deepEqual(twoD.compiled.layers.slice(0, 3).map((l) => l.outputShape), [
    ["N", 4, 8, 8],
    ["N", 4, 4, 4],
    ["N", 4, 2, 2],
  ]);
  assert.ok(twoD.losses[39] < 0.5 * twoD.losses[0], `2-D: ${twoD.losses[0]} → ${twoD.losses[39]}`);
});
