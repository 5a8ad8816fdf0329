import onnxProto from "onnx-proto";
import {
  CompileError,
  compileModel,
  crossEntropy,
  emitModel,
  flatten,
  linear,
  relu,
  sequential,
  sgd,
} from "../mod.ts";
import type { Layer } from "../src/dsl/layers.ts";
import { createGraphBuilder } from "../src/ir/builder.ts";
import { validateGraph } from "../src/ir/validate.ts";
import { assert, assertThrowsMatch } from "./_assert.ts";

const fmnistData = { sampleShape: [1, 28, 28], classes: 10 };
const compile = (model: Layer, data = fmnistData) =>
  compileModel({ data, model, loss: crossEntropy(), optimizer: sgd({ lr: 1e-3 }) });
const tutorialModel = sequential(
  flatten(),
  linear(784, 512),
  relu(),
  linear(512, 512),
  relu(),
  linear(512, 10),
);

Deno.test("a feature mismatch names the layer path and both shapes", () => {
  assertThrowsMatch(
    () => compile(sequential(flatten(), linear(784, 512), relu(), linear(784, 10))),
    CompileError,
    "Cannot compile model: layer 3 (linear 784→10) expects 784 input features, got 512 (input shape [N, 512])",
  );
  assertThrowsMatch(
    () => compile(sequential(linear(784, 10))),
    CompileError,
    "Cannot compile model: layer 0 (linear 784→10) expects input of shape [N, 784], got [N, 1, 28, 28] (add flatten() before it?)",
  );
  assertThrowsMatch(
    () => compile(sequential(flatten(), linear(784, 12))),
    CompileError,
    "Cannot compile model: cross-entropy expects model output of shape [N, 10] for 10 classes, got [N, 12]",
  );
});

Deno.test("nested sequentials name parameters and layers by path, as PyTorch does", () => {
  const compiled = compile(
    sequential(flatten(), sequential(linear(784, 8), relu()), linear(8, 10)),
  );
  assert.deepEqual(compiled.params.map((p) => [p.name, p.shape]), [
    ["1.0.weight", [8, 784]],
    ["1.0.bias", [8]],
    ["2.weight", [10, 8]],
    ["2.bias", [10]],
  ]);
  assertThrowsMatch(
    () => compile(sequential(flatten(), sequential(linear(784, 8), linear(9, 10)))),
    CompileError,
    /^Cannot compile model: layer 1\.1 \(linear 9→10\) expects 9 input features, got 8/,
  );
});

Deno.test("the train step graph: passes, inputs, outputs, only standard ai.onnx ops", () => {
  const c = compile(tutorialModel);
  assert.deepEqual([...c.passes], [
    "lower model",
    "attach loss",
    "validate forward",
    "differentiate",
    "apply optimizer",
    "validate train step",
    "fuse updates into gradient Gemms",
  ]);
  const names = ["1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias"];
  assert.deepEqual(c.train.inputs.map((p) => p.name), ["input", "target", ...names, "lr"]);
  assert.deepEqual(c.train.outputs.map((p) => p.name), [
    "loss",
    "correct",
    ...names.map((n) => `${n}.next`),
  ]);
  assert.deepEqual(c.train.inputs[0].value.type.shape, ["N", 1, 28, 28]);
  assert.deepEqual(c.eval.outputs.map((p) => p.name), ["loss_sum", "correct", "logits"]);

  const model = onnxProto.onnx.ModelProto.decode(emitModel(c.train));
  assert.deepEqual(model.opsetImport.map((o) => [o.domain ?? "", Number(o.version)]), [["", 17]]);
  const ops = new Set(model.graph!.node!.map((n) => n.opType!));
  for (const op of ops) assert.ok(!/Grad|SGD|Adam/.test(op), `non-standard op ${op}`);
  assert.ok(model.graph!.node!.every((n) => !n.domain), "every node is in the ai.onnx domain");
  // Backward of the three Gemms: dW for each layer, dX only where a parameter needs it (2 of 3),
  // and each bias gradient as a Gemm of a [1, N] row of ones with dY (onnxruntime's ReduceSum
  // over the batch axis is ≈ 40× slower).
  const gemms = model.graph!.node!.filter((n) => n.opType === "Gemm");
  assert.equal(gemms.length, 3 + 3 + 2 + 3);
  const ones = model.graph!.node!.filter((n) =>
    n.opType === "Unsqueeze" && n.input![0].startsWith("ConstantOfShape")
  );
  assert.equal(ones.length, 1, "one row of ones, shared by the three bias gradients");
  assert.equal(gemms.filter((n) => n.input![0] === ones[0].output![0]).length, 3);
  // Each weight's SGD update is its gradient Gemm accumulating onto the weight (C, beta 1).
  const updates = gemms.filter((n) => n.input!.length === 3 && n.input![2].endsWith(".weight"));
  assert.deepEqual(updates.map((n) => n.input![2]), ["1.weight", "3.weight", "5.weight"]);
  assert.ok(!model.graph!.node!.some((n) => n.opType === "Sub" && n.input![0].endsWith(".weight")));
  // The updated weights are their nodes' outputs, named as the ports: no Identity copies them.
  assert.ok(!model.graph!.node!.some((n) => n.opType === "Identity"));
  assert.deepEqual(
    updates.map((n) => n.output![0]),
    ["1.weight.next", "3.weight.next", "5.weight.next"],
  );
});

Deno.test("emit: an output port names its computed value; graph inputs and shared values get an Identity", () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float32", shape: [2] });
  const y = b.op1("Relu", [x]);
  const z = b.op1("Neg", [y], {}, "z");
  b.output("relu", y); // renamed: the Relu writes "relu", Neg reads it
  b.output("also_relu", y); // a second port on it: Identity
  b.output("echo", x); // a graph input: Identity
  b.output("z", z); // already named so
  const model = onnxProto.onnx.ModelProto.decode(emitModel(validateGraph(b.build("ports"))));
  const nodes = model.graph!.node!.map((n) => `${n.opType}(${n.input}) -> ${n.output}`);
  assert.deepEqual(nodes.slice(0, 2), ["Relu(x) -> relu", "Neg(relu) -> z"]);
  assert.deepEqual(nodes.slice(2).sort(), [
    "Identity(relu) -> also_relu",
    "Identity(x) -> echo",
  ]);
});

Deno.test("the validator rejects a use before definition and a wrong output type", () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float32", shape: [2, 3] });
  const y = b.op1("Relu", [x]);
  b.output("y", y);
  const g = b.build("g");
  assert.equal(validateGraph(g), g);
  assertThrowsMatch(
    () => validateGraph({ ...g, nodes: [...g.nodes].reverse(), inputs: [] }),
    CompileError,
    /^Invalid graph g: node 0 \(Relu\) uses value x before it is defined$/,
  );
  const bad = {
    ...g.nodes[0],
    outputs: [{ ...y, type: { dtype: "float32" as const, shape: [3, 2] } }],
  };
  assertThrowsMatch(
    () => validateGraph({ ...g, nodes: [bad] }),
    CompileError,
    /output Relu_\d+ is float32\[3, 2\], its rule says float32\[2, 3\]/,
  );
});

Deno.test("shape rules reject mismatches with both shapes named", () => {
  const b = createGraphBuilder();
  const a = b.input("a", { dtype: "float32", shape: ["N", 3] });
  const w = b.input("w", { dtype: "float32", shape: [4, 5] });
  assertThrowsMatch(
    () => b.op1("MatMul", [a, w]),
    CompileError,
    "MatMul expects inner dimensions to agree, got [N, 3] and [4, 5]",
  );
  assertThrowsMatch(
    () => b.op1("Add", [a, w]),
    CompileError,
    "Add cannot broadcast shapes [N, 3] and [4, 5]",
  );
  assertThrowsMatch(
    () => b.scope("layer 2 (linear 3→5)", () => b.op1("Gemm", [a, w], { transB: 1 })),
    CompileError,
    "layer 2 (linear 3→5): Gemm expects inner dimensions to agree, got [N, 3] and [4, 5]",
  );
});
