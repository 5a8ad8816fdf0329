/**
 * `fromOnnx` on models exported by `torch.onnx.export` (fixtures and PyTorch's reference numbers
 * written by tests/fixtures/make_onnx_fixtures.py): outputs, fine-tuning losses step by step
 * against PyTorch fine-tuning the same exported graph, a new head, and the importer's errors.
 */
import onnxProto from "onnx-proto";
import { compileModel } from "../src/compile/compile.ts";
import { linear, relu, sequential } from "../src/dsl/layers.ts";
import { crossEntropy } from "../src/dsl/losses.ts";
import { fromOnnx } from "../src/dsl/onnx_model.ts";
import { adam, type Optimizer, sgd } from "../src/dsl/optimizers.ts";
import { CompileError } from "../src/ir/errors.ts";
import { emitModel } from "../src/onnx/emit.ts";
import { decodeOnnx, importOnnx, normalizeExporterQuirks } from "../src/onnx/import.ts";
import { createSession } from "../src/runtime/session.ts";
import { createTrainer } from "../src/train/trainer.ts";
import { assert, assertClose, assertThrowsMatch } from "./_assert.ts";
import { checkGradients } from "./_harness.ts";

const { onnx } = onnxProto;
const FIXTURES = new URL("./fixtures/", import.meta.url);

interface Reference {
  readonly file: string;
  readonly sampleShape: number[];
  readonly inputDtype: "float32" | "int64";
  readonly classes: number;
  /** The `shared` option: "untie" where the exporter deduplicated the source's tensors. */
  readonly shared: "error" | "untie";
  /** The tensors PyTorch's reference trains, by ONNX name. */
  readonly params: string[];
  readonly ops: string[];
  readonly initializers: string[];
  readonly x: number[];
  readonly y: number[];
  readonly output: number[];
  readonly sgd: number[];
  readonly adam: number[];
}
const REF: {
  steps: number;
  sgdLr: number;
  adamLr: number;
  models: Record<string, Reference>;
} = JSON.parse(Deno.readTextFileSync(new URL("onnx_reference.json", FIXTURES)));

const bytesOf = (r: Reference) => Deno.readFileSync(new URL(r.file, FIXTURES));
const batchOf = (r: Reference) => ({
  x: r.inputDtype === "int64" ? BigInt64Array.from(r.x.map(BigInt)) : Float32Array.from(r.x),
  y: BigInt64Array.from(r.y.map(BigInt)),
  size: r.y.length,
});

function compileFixture(r: Reference, optimizer: Optimizer) {
  return compileModel({
    data: { sampleShape: r.sampleShape, inputDtype: r.inputDtype, classes: r.classes },
    model: fromOnnx(bytesOf(r), { shared: r.shared }),
    loss: crossEntropy(),
    optimizer,
  });
}

for (const [name, r] of Object.entries(REF.models)) {
  Deno.test(`${name}: the imported model's outputs equal the exported model's`, async () => {
    const compiled = compileFixture(r, sgd({ lr: REF.sgdLr }));
    // Parameters are the ONNX initializer names (untied aliases under the source's names);
    // running statistics are not parameters.
    assert.deepEqual(compiled.params.map((p) => p.name).toSorted(), r.params);
    const trainer = await createTrainer(compiled, { seed: 0 });
    const session = await createSession(emitModel(compiled.eval));
    const batch = batchOf(r);
    const feeds: Record<
      string,
      { dtype: "float32" | "int64"; dims: readonly number[]; data: Float32Array | BigInt64Array }
    > = {
      input: { dtype: r.inputDtype, dims: [batch.size, ...r.sampleShape], data: batch.x },
      target: { dtype: "int64", dims: [batch.size], data: batch.y },
    };
    for (const [n, t] of trainer.params) feeds[n] = t as typeof feeds[string];
    const out = await session.run(feeds, ["logits"]);
    assertClose(out.logits.data as Float32Array, r.output, 1e-5, `${name} logits`);
    // The exported inference model gives the same outputs too.
    const inference = await createSession(trainer.exportModel());
    const again = await inference.run({ input: feeds.input });
    assertClose(again.logits.data as Float32Array, r.output, 1e-5, `${name} exported logits`);
    await Promise.all([session.release(), inference.release(), trainer.release()]);
  });

  for (const opt of ["sgd", "adam"] as const) {
    Deno.test(`${name}: ${opt} fine-tuning tracks PyTorch's losses over ${REF.steps} steps`, async () => {
      const optimizer = opt === "sgd" ? sgd({ lr: REF.sgdLr }) : adam({ lr: REF.adamLr });
      const trainer = await createTrainer(compileFixture(r, optimizer), { seed: 0 });
      const batch = batchOf(r);
      const expected = r[opt];
      const rel: number[] = [];
      for (let t = 0; t < REF.steps; t++) {
        const loss = await trainer.step(batch);
        rel.push(Math.abs(loss - expected[t]) / Math.abs(expected[t]));
      }
      await trainer.release();
      const worst = Math.max(...rel);
      assert.ok(
        worst <= 1e-4,
        `${name} ${opt}: worst relative loss difference ${worst} at step ${rel.indexOf(worst) + 1}`,
      );
      assert.ok(expected[REF.steps - 1] < expected[0], "the reference loss falls");
    });
  }
}

Deno.test("a new head after an imported model trains; selected initializers only", async () => {
  const r = REF.models.mlp_opset17;
  const head = sequential(fromOnnx(bytesOf(r), { trainable: /^4\./ }), relu(), linear(4, 2));
  const compiled = compileModel({
    data: { sampleShape: r.sampleShape, classes: 2 },
    model: head,
    loss: crossEntropy(),
    optimizer: adam({ lr: 0.05 }),
  });
  // The import's parameters sit under its path (0), the head's under 2.
  assert.deepEqual(compiled.params.map((p) => p.name), [
    "0.4.weight",
    "0.4.bias",
    "2.weight",
    "2.bias",
  ]);
  const trainer = await createTrainer(compiled, { seed: 1 });
  const batch = { ...batchOf(r), y: BigInt64Array.from(r.y.map((v) => BigInt(v % 2))) };
  const first = await trainer.step(batch);
  let last = first;
  for (let t = 0; t < 30; t++) last = await trainer.step(batch);
  assert.ok(last < 0.5 * first, `loss ${first} → ${last}`);
  await trainer.release();
});

Deno.test("the CNN's folded Conv weights keep their exporter names; BatchNorm stats stay frozen", () => {
  const r = REF.models.cnn_opset13;
  const g = importOnnx(bytesOf(r));
  assert.equal(g.opset, 13);
  assert.ok([...g.initializers.keys()].some((n) => n.startsWith("onnx::Conv_")));
  const compiled = compileFixture(r, sgd({ lr: 0.1 }));
  assert.ok(!compiled.params.some((p) => /running/.test(p.name)));
  assert.equal(compiled.buffers.length, 0);
});

// Hand-built models: onnx-proto graphs with the quirks exporters write.

type NodeSpec = {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: onnxProto.onnx.IAttributeProto[];
  name?: string;
};

function floats(name: string, dims: number[], values: number[]): onnxProto.onnx.ITensorProto {
  return {
    name,
    dataType: onnx.TensorProto.DataType.FLOAT,
    dims,
    rawData: new Uint8Array(Float32Array.from(values).buffer),
  };
}

function model(nodes: NodeSpec[], inits: onnxProto.onnx.ITensorProto[], opset = 17, input = [2]) {
  const tensorType = (dims: (number | string)[]) => ({
    tensorType: {
      elemType: onnx.TensorProto.DataType.FLOAT,
      shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
    },
  });
  return onnx.ModelProto.encode({
    irVersion: 8,
    producerName: "test",
    opsetImport: [{ domain: "", version: opset }],
    graph: {
      name: "g",
      node: nodes.map((n, i) => ({
        name: n.name ?? `${n.op}_${i}`,
        opType: n.op,
        input: n.inputs,
        output: n.outputs,
        attribute: n.attrs ?? [],
      })),
      input: [{ name: "x", type: tensorType(["batch", ...input]) }],
      output: [{ name: nodes.at(-1)!.outputs[0], type: tensorType(["batch", 2]) }],
      initializer: inits,
    },
  }).finish();
}

const compileBytes = (bytes: Uint8Array, options: Parameters<typeof fromOnnx>[1] = {}) =>
  compileModel({
    data: { sampleShape: [2], classes: 2 },
    model: fromOnnx(bytes, options),
    loss: crossEntropy(),
    optimizer: sgd({ lr: 0.1 }),
  });

Deno.test("unsupported ops fail at compile time, all listed with their counts", () => {
  const bytes = model([
    { op: "Unique", inputs: ["x", "x", "x"], outputs: ["a"] },
    { op: "TopK", inputs: ["a", "k"], outputs: ["b", "c"] },
    { op: "Unique", inputs: ["b", "b", "b"], outputs: ["d"] },
    { op: "Relu", inputs: ["d"], outputs: ["e"] },
    { op: "NonZero", inputs: ["e"], outputs: ["f"] },
  ], []);
  assertThrowsMatch(
    () => compileBytes(bytes),
    CompileError,
    "Cannot compile model: layer 0 (onnx) Cannot import ONNX model: unsupported ops: Unique ×2, TopK ×1, NonZero ×1 (4 nodes; the model uses ai.onnx opset 17)",
  );
});

Deno.test("an opset below 13 is a clear error", () => {
  const bytes = model([{ op: "Relu", inputs: ["x"], outputs: ["y"] }], [], 11);
  assertThrowsMatch(
    () => compileBytes(bytes),
    CompileError,
    /uses ai\.onnx opset 11; supported are opsets 13 to 26, the range onnxruntime 1.30 runs \(re-export with opset_version=17 or newer\)/,
  );
});

Deno.test("a non-float initializer selected as trainable is a clear error", () => {
  const bytes = model([
    { op: "Reshape", inputs: ["x", "shape"], outputs: ["y"] },
  ], [{ name: "shape", dataType: onnx.TensorProto.DataType.INT64, dims: [2], int64Data: [-1, 2] }]);
  assertThrowsMatch(
    () => compileBytes(bytes, { trainable: /shape/ }),
    CompileError,
    /selects initializer shape \(int64\) as trainable; only float32 initializers train/,
  );
});

// Two Gemms fed by one deduplicated bias, once directly and once through an Identity chain, and
// a Dropout and a Constant as exporters write them.
const W1 = [0.5, -0.2, 0.3, 0.8], W2 = [1, 0.5, -0.5, 0.25], BIAS = [0.1, -0.1];
const sharedModel = () =>
  model([
    { op: "Identity", inputs: ["bias"], outputs: ["bias_id"], name: "id1" },
    { op: "Identity", inputs: ["bias_id"], outputs: ["bias_id2"], name: "id2" },
    {
      op: "Gemm",
      inputs: ["x", "w1", "bias"],
      outputs: ["h"],
      name: "gemm1",
      attrs: [{ name: "transB", type: 2, i: 1 }],
    },
    { op: "Dropout", inputs: ["h"], outputs: ["hd"], name: "drop" },
    {
      op: "Constant",
      inputs: [],
      outputs: ["two"],
      name: "c2",
      attrs: [{ name: "value", type: 4, t: floats("", [], [2]) }],
    },
    { op: "Mul", inputs: ["hd", "two"], outputs: ["h2"], name: "mul" },
    {
      op: "Gemm",
      inputs: ["h2", "w2", "bias_id2"],
      outputs: ["y"],
      name: "gemm2",
      attrs: [{ name: "transB", type: 2, i: 1 }],
    },
  ], [floats("w1", [2, 2], W1), floats("w2", [2, 2], W2), floats("bias", [2], BIAS)]);

Deno.test("normalizeExporterQuirks: Identity chains, Dropout, Constant, deduplicated initializers", () => {
  const g = normalizeExporterQuirks(decodeOnnx(sharedModel()));
  assert.deepEqual(g.nodes.map((n) => n.op), ["Gemm", "Mul", "Gemm"]);
  assert.deepEqual(g.nodes[2].inputs, ["h2", "w2", "bias"]);
  assert.deepEqual(g.shared, [{ name: "bias", consumers: ["gemm1", "gemm2"] }]);
  assert.deepEqual([...g.constants.keys()], ["two"]);
  assert.deepEqual(g.notes, [
    "Identity nodes were bypassed (3)",
    "Dropout nodes (inference form) became Identity (1)",
    "Constant nodes became constants (1)",
  ]);
});

Deno.test("a deduplicated trainable initializer is detected; tie and untie train as asked", async () => {
  const bytes = sharedModel();
  assertThrowsMatch(
    () => compileBytes(bytes, { shared: "error" }),
    CompileError,
    /trainable initializers bias \(feeds gemm1, gemm2\) each feed several nodes: exporters deduplicate identical tensors.*shared: "untie"/,
  );
  // Frozen, sharing is harmless.
  assert.deepEqual(compileBytes(bytes, { trainable: /^w/ }).params.map((p) => p.name), [
    "w1",
    "w2",
  ]);
  const tied = compileBytes(bytes, { shared: "tie" });
  assert.deepEqual(tied.params.map((p) => p.name), ["w1", "bias", "w2"]);
  const untied = compileBytes(bytes, { shared: "untie" });
  assert.deepEqual(untied.params.map((p) => p.name), ["w1", "bias", "w2", "bias_id2"]);
  // Untie is the default, and the compile names what it untied.
  const byDefault = compileBytes(bytes);
  assert.deepEqual(byDefault.params.map((p) => p.name), ["w1", "bias", "w2", "bias_id2"]);
  assert.ok(
    byDefault.notes.some((n) => /untied bias \(feeds gemm1, gemm2\)/.test(n)),
    byDefault.notes.join("\n"),
  );

  // One SGD step by hand: y = 2·(x·W1ᵀ + b)·W2ᵀ + b, mean cross-entropy; the untied biases get
  // their own gradients, the tied one their sum.
  const x = [1, -1], label = 0, lr = 0.1;
  const h = [0, 1].map((o) => 2 * (x[0] * W1[o * 2] + x[1] * W1[o * 2 + 1] + BIAS[o]));
  const y = [0, 1].map((o) => h[0] * W2[o * 2] + h[1] * W2[o * 2 + 1] + BIAS[o]);
  const z = Math.exp(y[0]) + Math.exp(y[1]);
  const dy = y.map((v, o) => Math.exp(v) / z - (o === label ? 1 : 0));
  const dh = [0, 1].map((i) => 2 * (dy[0] * W2[i] + dy[1] * W2[2 + i]));
  const batch = { x: Float32Array.from(x), y: BigInt64Array.of(BigInt(label)), size: 1 };
  for (
    const [compiled, expected] of [
      [untied, {
        bias: BIAS.map((b, o) => b - lr * dh[o]),
        bias_id2: BIAS.map((b, o) => b - lr * dy[o]),
      }],
      [tied, { bias: BIAS.map((b, o) => b - lr * (dh[o] + dy[o])) }],
    ] as const
  ) {
    const trainer = await createTrainer(compiled, { seed: 0 });
    const loss = await trainer.step(batch);
    assertClose([loss], [Math.log(z) - y[label]], 1e-6, "loss");
    for (const [n, v] of Object.entries(expected)) {
      assertClose(trainer.params.get(n)!.data as Float32Array, v, 1e-6, n);
    }
    await trainer.release();
  }
});

Deno.test("Split gradient: pieces concatenated, zeros for an unused piece", async () => {
  await checkGradients({
    inputs: { x: { shape: [2, 7] } },
    wrt: ["x"],
    build: (b, v) => {
      const [p, , r] = b.op("Split", [v.x, b.ints([2, 4, 1])], { axis: 1 }, { outputs: 3 });
      return b.op1("Concat", [b.op1("Mul", [p, p]), r], { axis: 1 });
    },
  });
});

Deno.test("LayerNormalization gradient: input, scale and bias, one and two normalised axes", async () => {
  for (const axis of [-1, 1]) {
    const tail = axis === -1 ? [4] : [3, 4];
    await checkGradients({
      inputs: { x: { shape: [2, 3, 4] }, s: { shape: tail }, c: { shape: tail } },
      wrt: ["x", "s", "c"],
      build: (b, v) => b.op1("LayerNormalization", [v.x, v.s, v.c], { axis, epsilon: 1e-5 }),
    });
  }
});

Deno.test("older forms (axes attributes), Range and Cast import and compute the right values", async () => {
  const int = (name: string, v: number): onnxProto.onnx.ITensorProto => ({
    name,
    dataType: onnx.TensorProto.DataType.INT64,
    dims: [],
    int64Data: [v],
  });
  const constant = (out: string, t: onnxProto.onnx.ITensorProto): NodeSpec => ({
    op: "Constant",
    inputs: [],
    outputs: [out],
    attrs: [{ name: "value", type: 4, t }],
  });
  const bytes = model(
    [
      constant("start", int("", 0)),
      constant("limit", int("", 3)),
      constant("delta", int("", 1)),
      { op: "Range", inputs: ["start", "limit", "delta"], outputs: ["pos"] },
      { op: "Cast", inputs: ["pos"], outputs: ["posf"], attrs: [{ name: "to", type: 2, i: 1 }] },
      { op: "Add", inputs: ["x", "posf"], outputs: ["h"] },
      {
        op: "Unsqueeze",
        inputs: ["h"],
        outputs: ["u"],
        attrs: [{ name: "axes", type: 7, ints: [1] }],
      },
      {
        op: "ReduceMean",
        inputs: ["u"],
        outputs: ["m"],
        attrs: [{ name: "axes", type: 7, ints: [2] }],
      },
      {
        op: "Squeeze",
        inputs: ["m"],
        outputs: ["s"],
        attrs: [{ name: "axes", type: 7, ints: [1] }],
      },
      { op: "Sub", inputs: ["s", "w"], outputs: ["d"] },
      {
        op: "Concat",
        inputs: ["s", "d"],
        outputs: ["y"],
        attrs: [{ name: "axis", type: 2, i: 1 }],
      },
    ],
    [floats("w", [1], [0.25])],
    13,
    [3],
  );
  const g = importOnnx(bytes);
  assert.deepEqual(g.notes, [
    "Constant nodes became constants (3)",
    "Unsqueeze axes moved from attribute to input (1)",
    "Squeeze axes moved from attribute to input (1)",
  ]);
  const compiled = compileModel({
    data: { sampleShape: [3], classes: 2 },
    model: fromOnnx(bytes),
    loss: crossEntropy(),
    optimizer: sgd({ lr: 0.1 }),
  });
  assert.deepEqual(compiled.params.map((p) => p.name), ["w"]);
  const trainer = await createTrainer(compiled, { seed: 0 });
  const session = await createSession(trainer.exportModel());
  const x = [1, 2, 3, -1, 0.5, 0];
  const out = await session.run({
    input: { dtype: "float32", dims: [2, 3], data: Float32Array.from(x) },
  });
  // mean(x + [0, 1, 2]) = mean(x) + 1, then w subtracted.
  assertClose(out.logits.data as Float32Array, [3, 2.75, 0.8333333, 0.5833333], 1e-6, "outputs");
  await Promise.all([session.release(), trainer.release()]);
});

Deno.test("fromOnnx reads a path; untied direct consumers get numbered names", () => {
  const r = REF.models.mlp_opset13;
  const fromPath = compileModel({
    data: { sampleShape: r.sampleShape, classes: r.classes },
    model: fromOnnx(new URL(r.file, FIXTURES).pathname),
    loss: crossEntropy(),
    optimizer: sgd({ lr: 0.1 }),
  });
  assert.deepEqual(fromPath.params.map((p) => p.name).toSorted(), r.params);
  // One bias feeding two Gemms directly.
  const bytes = model([
    {
      op: "Gemm",
      inputs: ["x", "w", "b"],
      outputs: ["h"],
      name: "g1",
      attrs: [{ name: "transB", type: 2, i: 1 }],
    },
    {
      op: "Gemm",
      inputs: ["h", "w", "b"],
      outputs: ["y"],
      name: "g2",
      attrs: [{ name: "transB", type: 2, i: 1 }],
    },
  ], [floats("w", [2, 2], W1), floats("b", [2], BIAS)]);
  const g = importOnnx(bytes);
  assert.deepEqual(g.shared.map((s) => [s.name, s.consumers]), [["w", ["g1", "g2"]], ["b", [
    "g1",
    "g2",
  ]]]);
  assert.deepEqual(
    compileBytes(bytes, { shared: "untie" }).params.map((p) => p.name),
    ["w", "b", "w.untied1", "b.untied1"],
  );
});

Deno.test("the exported encoder's deduplicated LayerNorm tensors are reported", () => {
  const r = REF.models.encoder_opset13;
  assertThrowsMatch(
    () =>
      compileModel({
        data: { sampleShape: r.sampleShape, inputDtype: "int64", classes: r.classes },
        model: fromOnnx(bytesOf(r), { shared: "error" }),
        loss: crossEntropy(),
        optimizer: sgd({ lr: 0.1 }),
      }),
    CompileError,
    /^Cannot compile model: layer 0 \(onnx\) imports ONNX bytes, whose trainable initializers ln1\.weight \(feeds \/ln1\/Mul, \/ln2\/Mul\); ln1\.bias \(feeds \/ln1\/Add_1, \/ln2\/Add_1\) each feed several nodes/,
  );
});

Deno.test("a model input that does not fit, or a fixed batch size, is a clear error", () => {
  const r = REF.models.mlp_opset17;
  assertThrowsMatch(
    () =>
      compileModel({
        data: { sampleShape: [12], classes: 4 },
        model: fromOnnx(bytesOf(r)),
        loss: crossEntropy(),
        optimizer: sgd({ lr: 0.1 }),
      }),
    CompileError,
    "Cannot compile model: layer 0 (onnx) expects input float32[N, 12] to fit the ONNX model's input input float32[batch, 3, 4]",
  );
  const fixed = onnx.ModelProto.decode(bytesOf(r));
  fixed.graph!.input![0].type!.tensorType!.shape!.dim![0] = { dimValue: 2 };
  assertThrowsMatch(
    () =>
      compileModel({
        data: { sampleShape: [3, 4], classes: 4 },
        model: fromOnnx(onnx.ModelProto.encode(fixed).finish()),
        loss: crossEntropy(),
        optimizer: sgd({ lr: 0.1 }),
      }),
    CompileError,
    /float32\[2, 3, 4\] \(the model was exported with a fixed batch size 2, which its Reshape targets may bake in too: re-export it with a dynamic batch axis, torch\.onnx\.export\(model, args, f, dynamic_shapes=\(\{0: torch\.export\.Dim\("batch"\)\},\)\) with the dynamo exporter, or dynamic_axes=\{"\w+": \{0: "batch"\}\} with dynamo=False\)$/,
  );
});

Deno.test("a new head can replace the imported model's own: cut at a node's output", async () => {
  const r = REF.models.mlp_opset17;
  const model = sequential(fromOnnx(bytesOf(r), { output: "/2/Relu_output_0" }), linear(16, 3));
  const compiled = compileModel({
    data: { sampleShape: r.sampleShape, classes: 3 },
    model,
    loss: crossEntropy(),
    optimizer: adam({ lr: 0.05 }),
  });
  // The old head (4.weight, 4.bias) is cut off: neither a parameter nor a node of the graph.
  assert.deepEqual(compiled.params.map((p) => p.name), [
    "0.1.weight",
    "0.1.bias",
    "1.weight",
    "1.bias",
  ]);
  const oldHead = (g: typeof compiled.train) =>
    g.nodes.filter((n) => n.origin?.includes("ONNX node /4/Gemm")).length;
  assert.equal(oldHead(compiled.train), 0);
  const uncut = compileModel({
    data: { sampleShape: r.sampleShape, classes: 4 },
    model: fromOnnx(bytesOf(r)),
    loss: crossEntropy(),
    optimizer: adam({ lr: 0.05 }),
  });
  assert.ok(oldHead(uncut.train) > 0);
  assert.deepEqual(compiled.layers.map((l) => l.outputShape), [["N", 16], ["N", 3]]);
  const trainer = await createTrainer(compiled, { seed: 1 });
  const batch = { ...batchOf(r), y: BigInt64Array.from(r.y.map((v) => BigInt(v % 3))) };
  const losses = [];
  for (let i = 0; i < 30; i++) losses.push(await trainer.step(batch));
  assert.ok(losses[29] < 0.5 * losses[0], `loss falls: ${losses[0]} → ${losses[29]}`);
  await trainer.release();
  assertThrowsMatch(
    () =>
      compileModel({
        data: { sampleShape: r.sampleShape, classes: 3 },
        model: sequential(fromOnnx(bytesOf(r), { output: "nope" }), linear(16, 3)),
        loss: crossEntropy(),
        optimizer: adam({ lr: 0.05 }),
      }),
    CompileError,
    /has no ONNX value nope; the model's outputs are output/,
  );
});

Deno.test("trainBatchNorm: an exported BatchNormalization trains its running statistics as PyTorch's train()", async () => {
  const MEAN = [0.5, -1], VAR = [2, 0.5], SCALE = [1.5, 0.5], SHIFT = [0.1, -0.2];
  const bn = model([{
    op: "BatchNormalization",
    inputs: ["x", "scale", "shift", "mean", "var"],
    outputs: ["y"],
    attrs: [{ name: "epsilon", type: 1, f: 1e-3 }, { name: "momentum", type: 1, f: 0.75 }],
  }], [
    floats("scale", [2], SCALE),
    floats("shift", [2], SHIFT),
    floats("mean", [2], MEAN),
    floats("var", [2], VAR),
  ]);
  const frozen = compileBytes(bn);
  assert.deepEqual(frozen.buffers.map((b) => b.name), []);
  const compiled = compileBytes(bn, { trainBatchNorm: true });
  assert.deepEqual(compiled.buffers.map((b) => b.name), ["mean", "var"]);
  assert.deepEqual(compiled.params.map((p) => p.name), ["scale", "shift"]);
  const trainer = await createTrainer(compiled, { seed: 1 });
  assert.deepEqual([...trainer.buffers.get("mean")!.data], MEAN);
  const x = [1, 2, 3, -1, -2, 0.5], n = 3;
  const batch = { x: Float32Array.from(x), y: BigInt64Array.of(0n, 1n, 1n), size: n };
  // The train step normalises with the batch's statistics (biased variance) ...
  let expectedLoss = 0;
  const stats = [0, 1].map((c) => {
    const col = [0, 1, 2].map((i) => x[i * 2 + c]);
    const m = col.reduce((a, v) => a + v, 0) / n;
    const v = col.reduce((a, u) => a + (u - m) ** 2, 0) / n;
    return { col, m, v };
  });
  for (let i = 0; i < n; i++) {
    const y = [0, 1].map((c) =>
      (stats[c].col[i] - stats[c].m) / Math.sqrt(stats[c].v + 1e-3) * SCALE[c] + SHIFT[c]
    );
    const z = Math.log(Math.exp(y[0]) + Math.exp(y[1]));
    expectedLoss += (z - y[Number(batch.y[i])]) / n;
  }
  assertClose([await trainer.step(batch)], [expectedLoss], 1e-5, "loss");
  // ... and blends them into the running statistics with PyTorch's momentum 1 − 0.75.
  assertClose(
    trainer.buffers.get("mean")!.data as Float32Array,
    [0, 1].map((c) => 0.75 * MEAN[c] + 0.25 * stats[c].m),
    1e-6,
    "running mean",
  );
  assertClose(
    trainer.buffers.get("var")!.data as Float32Array,
    [0, 1].map((c) => 0.75 * VAR[c] + 0.25 * stats[c].v * n / (n - 1)),
    1e-6,
    "running var",
  );
  // The exported model normalises with the updated running statistics.
  const session = await createSession(trainer.exportModel());
  const out = await session.run({
    input: { dtype: "float32", dims: [1, 2], data: Float32Array.of(1, 1) },
  });
  const mean = trainer.buffers.get("mean")!.data as Float32Array;
  const variance = trainer.buffers.get("var")!.data as Float32Array;
  const scale = trainer.params.get("scale")!.data as Float32Array;
  const shift = trainer.params.get("shift")!.data as Float32Array;
  assertClose(
    out.logits.data as Float32Array,
    [0, 1].map((c) => (1 - mean[c]) / Math.sqrt(variance[c] + 1e-3) * scale[c] + shift[c]),
    1e-5,
    "inference",
  );
  await session.release();
  await trainer.release();
});

Deno.test("Dropout in training form: ratio 0 folds away; ratio > 0 trains with masks under trainDropout", async () => {
  const scalar = (name: string, dataType: number, raw: ArrayBufferView) => ({
    name,
    dataType,
    dims: [],
    rawData: new Uint8Array(raw.buffer),
  });
  const bytes = (ratio: number) =>
    model([
      { op: "Dropout", inputs: ["x", "ratio", "training"], outputs: ["d", "mask"] },
      {
        op: "Gemm",
        inputs: ["d", "w"],
        outputs: ["y"],
        attrs: [{ name: "transB", type: 2, i: 1 }],
      },
    ], [
      floats("w", [2, 2], [1, 0, 0, 1]),
      scalar("ratio", onnx.TensorProto.DataType.FLOAT, Float32Array.of(ratio)),
      scalar("training", onnx.TensorProto.DataType.BOOL, Uint8Array.of(1)),
    ]);
  assert.deepEqual(
    importOnnx(bytes(0)).notes.filter((n) => n.startsWith("Dropout")),
    ["Dropout nodes in training form with ratio 0 became Identity (1)"],
  );
  // Ratio 0.5, read as inference by default (and the compile says so) …
  const plain = compileBytes(bytes(0.5));
  assert.equal(plain.random.length, 0);
  assert.match(plain.notes.join(), /Dropout nodes exported in training form are read as inference/);
  // … or trained with a host-drawn mask: x·mask/(1 − p) in the train graph, identity in eval.
  const dropped = compileBytes(bytes(0.5), { trainDropout: true });
  assert.equal(dropped.random.length, 1);
  assert.equal(dropped.random[0].p, 0.5);
  const trainer = await createTrainer(dropped, { seed: 0 });
  const batch = {
    x: Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8),
    y: BigInt64Array.of(0n, 1n, 0n, 1n),
    size: 4,
  };
  const losses = [await trainer.step(batch), await trainer.step(batch)];
  assert.ok(losses.every(Number.isFinite));
  const session = await createSession(trainer.exportModel());
  const out = await session.run({
    input: { dtype: "float32", dims: [1, 2], data: Float32Array.of(1, 2) },
  });
  // The inference model has no dropout: logits = W·x with the trained W.
  const w = trainer.params.get("w")!.data as Float32Array;
  assertClose(out.logits.data as Float32Array, [w[0] + 2 * w[1], w[2] + 2 * w[3]], 1e-6, "logits");
  await Promise.all([session.release(), trainer.release()]);
});
