/**
 * The import's conversions to the IR's opset-17 forms, each against onnxruntime running the
 * original model: ops newer than opset 17 lowered as their function bodies (Gelu 20, Mish 18,
 * GroupNormalization 18 and 21), opset 18's Reduce axes inputs and Split num_outputs,
 * noop_with_empty_axes, CastLike, Shape start/end, local functions inlined, and the symbolic shape
 * chains exporters write (`expand(N, -1, -1)`, a Reshape to `[T, N*heads, d]`). Also the dimension
 * algebra those chains use.
 */
import onnxProto from "onnx-proto";
import { compileModel } from "../src/compile/compile.ts";
import { mse } from "../src/dsl/losses.ts";
import { fromOnnx } from "../src/dsl/onnx_model.ts";
import { sgd } from "../src/dsl/optimizers.ts";
import { dimArith } from "../src/ir/dims.ts";
import { createSession } from "../src/runtime/session.ts";
import { createTrainer } from "../src/train/trainer.ts";
import { assert, assertClose } from "./_assert.ts";

const { onnx } = onnxProto;
const T = onnx.TensorProto.DataType;
const A = onnx.AttributeProto.AttributeType;

type Attr = onnxProto.onnx.IAttributeProto;
interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Attr[];
  domain?: string;
}

const int = (name: string, i: number): Attr => ({ name, type: A.INT, i });
const float = (name: string, f: number): Attr => ({ name, type: A.FLOAT, f });
const str = (name: string, s: string): Attr => ({
  name,
  type: A.STRING,
  s: new TextEncoder().encode(s),
});
const ints = (name: string, values: number[]): Attr => ({ name, type: A.INTS, ints: values });

function tensor(name: string, dims: number[], values: number[], type = T.FLOAT) {
  const data = type === T.INT64
    ? new Uint8Array(BigInt64Array.from(values, BigInt).buffer)
    : new Uint8Array(Float32Array.from(values).buffer);
  return { name, dataType: type, dims, rawData: data };
}

/** A model with one float input `x` of shape [batch, ...sample] and one output `y`. */
function model(
  sample: number[],
  nodes: NodeSpec[],
  options: {
    opset: number;
    inits?: ReturnType<typeof tensor>[];
    functions?: onnxProto.onnx.IFunctionProto[];
  },
): Uint8Array {
  const dims = (ds: (number | string)[]) => ({
    tensorType: {
      elemType: T.FLOAT,
      shape: { dim: ds.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
    },
  });
  return onnx.ModelProto.encode({
    irVersion: 10,
    producerName: "test",
    opsetImport: [
      { domain: "", version: options.opset },
      ...(options.functions?.length ? [{ domain: "custom", version: 1 }] : []),
    ],
    functions: options.functions ?? [],
    graph: {
      name: "g",
      node: nodes.map((n, i) => ({
        name: `${n.op}_${i}`,
        opType: n.op,
        domain: n.domain ?? "",
        input: n.inputs,
        output: n.outputs,
        attribute: n.attrs ?? [],
      })),
      input: [{ name: "x", type: dims(["batch", ...sample]) }],
      output: [{ name: "y", type: { tensorType: { elemType: T.FLOAT } } }],
      initializer: options.inits ?? [],
    },
  }).finish();
}

/**
 * Runs `bytes` in onnxruntime as it is and as fromOnnx's exported inference model, on the same
 * random batch of `batch` samples; returns both outputs (and checks they have the same dims).
 */
async function bothWays(bytes: Uint8Array, sample: number[], out: number[], batch = 3) {
  const n = batch * sample.reduce((a, d) => a * d, 1);
  const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7) * 2);
  const input = { dtype: "float32" as const, dims: [batch, ...sample], data: x };
  const direct = await createSession(bytes);
  const theirs = (await direct.run({ x: input })).y;
  const compiled = compileModel({
    data: { sampleShape: sample, targetShape: out },
    model: fromOnnx(bytes),
    loss: mse(),
    optimizer: sgd({ lr: 0.1 }),
  });
  const trainer = await createTrainer(compiled, { seed: 0 });
  const exported = await createSession(trainer.exportModel());
  const ours = (await exported.run({ input })).logits;
  await Promise.all([direct.release(), exported.release(), trainer.release()]);
  assert.deepEqual(ours.dims, theirs.dims);
  return { ours: ours.data as Float32Array, theirs: Array.from(theirs.data as Float32Array) };
}

Deno.test("Gelu (opset 20), exact and tanh, equals onnxruntime's own", async () => {
  for (const approximate of ["none", "tanh"]) {
    const bytes = model([4], [
      { op: "Gelu", inputs: ["x"], outputs: ["y"], attrs: [str("approximate", approximate)] },
    ], { opset: 20 });
    const { ours, theirs } = await bothWays(bytes, [4], [4]);
    assertClose(ours, theirs, 1e-6, `Gelu ${approximate}`);
  }
});

Deno.test("Mish (opset 18) equals onnxruntime's own", async () => {
  const bytes = model([5], [{ op: "Mish", inputs: ["x"], outputs: ["y"] }], { opset: 18 });
  const { ours, theirs } = await bothWays(bytes, [5], [5]);
  assertClose(ours, theirs, 1e-6, "Mish");
});

Deno.test("GroupNormalization: scale per group (opset 18) and per channel (opset 21)", async () => {
  for (const [opset, count] of [[18, 2], [21, 4]]) {
    const bytes = model([4, 3], [
      {
        op: "GroupNormalization",
        inputs: ["x", "s", "b"],
        outputs: ["y"],
        attrs: [int("num_groups", 2), float("epsilon", 1e-5)],
      },
    ], {
      opset,
      inits: [
        tensor("s", [count], Array.from({ length: count }, (_, i) => 0.5 + i)),
        tensor("b", [count], Array.from({ length: count }, (_, i) => 0.1 * i - 0.2)),
      ],
    });
    const { ours, theirs } = await bothWays(bytes, [4, 3], [4, 3]);
    assertClose(ours, theirs, 1e-5, `GroupNormalization opset ${opset}`);
  }
});

Deno.test("opset 18 reductions: axes as an input, and noop_with_empty_axes", async () => {
  const bytes = model([2, 3], [
    { op: "ReduceMean", inputs: ["x", "axes"], outputs: ["m"], attrs: [int("keepdims", 1)] },
    // Empty axes with noop: the identity.
    {
      op: "ReduceMax",
      inputs: ["m", "none"],
      outputs: ["k"],
      attrs: [int("noop_with_empty_axes", 1)],
    },
    { op: "ReduceSum", inputs: ["x", "axes"], outputs: ["s"], attrs: [int("keepdims", 1)] },
    { op: "Add", inputs: ["k", "s"], outputs: ["y"] },
  ], {
    opset: 18,
    inits: [tensor("axes", [1], [2], T.INT64), tensor("none", [0], [], T.INT64)],
  });
  const { ours, theirs } = await bothWays(bytes, [2, 3], [2, 1]);
  assertClose(ours, theirs, 1e-6, "reductions");
});

Deno.test("Split with num_outputs (opset 18), uneven: pieces of ⌈7/3⌉", async () => {
  const bytes = model([7], [
    {
      op: "Split",
      inputs: ["x"],
      outputs: ["a", "b", "c"],
      attrs: [int("axis", 1), int("num_outputs", 3)],
    },
    { op: "Concat", inputs: ["c", "a", "b"], outputs: ["y"], attrs: [int("axis", 1)] },
  ], { opset: 18 });
  const { ours, theirs } = await bothWays(bytes, [7], [7]);
  assertClose(ours, theirs, 0, "Split");
});

Deno.test("CastLike and Shape with start/end", async () => {
  const bytes = model([2, 3], [
    { op: "Shape", inputs: ["x"], outputs: ["s"], attrs: [int("start", -1)] },
    { op: "CastLike", inputs: ["s", "x"], outputs: ["f"] },
    { op: "Mul", inputs: ["x", "f"], outputs: ["y"] },
  ], { opset: 19 });
  const { ours, theirs } = await bothWays(bytes, [2, 3], [2, 3]);
  assertClose(ours, theirs, 0, "CastLike");
});

Deno.test("local functions are inlined (called twice, with an attribute reference)", async () => {
  const scaleAdd: onnxProto.onnx.IFunctionProto = {
    name: "ScaleAdd",
    domain: "custom",
    input: ["a"],
    output: ["z"],
    attribute: ["alpha"],
    opsetImport: [{ domain: "", version: 18 }],
    node: [
      {
        opType: "LeakyRelu",
        input: ["a"],
        output: ["t"],
        attribute: [{ name: "alpha", type: A.FLOAT, refAttrName: "alpha" }],
      },
      { opType: "Add", input: ["t", "a"], output: ["z"] },
    ],
  };
  const bytes = model([4], [
    {
      op: "ScaleAdd",
      domain: "custom",
      inputs: ["x"],
      outputs: ["h"],
      attrs: [float("alpha", 0.25)],
    },
    {
      op: "ScaleAdd",
      domain: "custom",
      inputs: ["h"],
      outputs: ["y"],
      attrs: [float("alpha", 0.5)],
    },
  ], { opset: 18, functions: [scaleAdd] });
  const { ours, theirs } = await bothWays(bytes, [4], [4]);
  assertClose(ours, theirs, 0, "inlined functions");
});

Deno.test("expand(N, -1, -1): the class token's Shape/Equal/Where chain gets a symbolic shape", async () => {
  // cls [1, 1, 4] expanded to [N, 1, 4], then added to x [N, 1, 4] (ViT's class token).
  const bytes = model([1, 4], [
    { op: "Shape", inputs: ["x"], outputs: ["shape"] },
    { op: "Gather", inputs: ["shape", "zero"], outputs: ["n"], attrs: [int("axis", 0)] },
    { op: "Unsqueeze", inputs: ["n", "zero1"], outputs: ["n1"] },
    {
      op: "Concat",
      inputs: ["n1", "minus", "minus"],
      outputs: ["target"],
      attrs: [int("axis", 0)],
    },
    { op: "Equal", inputs: ["target", "minus"], outputs: ["eq"] },
    {
      op: "ConstantOfShape",
      inputs: ["three"],
      outputs: ["ones"],
      attrs: [{ name: "value", type: A.TENSOR, t: tensor("v", [1], [1], T.INT64) }],
    },
    { op: "Where", inputs: ["eq", "ones", "target"], outputs: ["fixed"] },
    { op: "Expand", inputs: ["cls", "fixed"], outputs: ["e"] },
    { op: "Add", inputs: ["e", "x"], outputs: ["y"] },
  ], {
    opset: 17,
    inits: [
      tensor("zero", [], [0], T.INT64),
      tensor("zero1", [1], [0], T.INT64),
      tensor("minus", [1], [-1], T.INT64),
      tensor("three", [1], [3], T.INT64),
      tensor("cls", [1, 1, 4], [0.1, 0.2, 0.3, 0.4]),
    ],
  });
  const { ours, theirs } = await bothWays(bytes, [1, 4], [1, 4], 5);
  assertClose(ours, theirs, 0, "expand");
});

Deno.test("Reshape to [T, N*heads, d] from Mul(batch, heads), and back", async () => {
  // x [N, T=2, 6] → transpose [T, N, 6] → reshape [T, N*3, 2] → reshape [T, N, 6] → transpose.
  const bytes = model([2, 6], [
    { op: "Transpose", inputs: ["x"], outputs: ["t"], attrs: [ints("perm", [1, 0, 2])] },
    { op: "Shape", inputs: ["t"], outputs: ["s"] },
    { op: "Gather", inputs: ["s", "one"], outputs: ["n"], attrs: [int("axis", 0)] },
    { op: "Mul", inputs: ["n", "heads"], outputs: ["nh"] },
    { op: "Unsqueeze", inputs: ["nh", "zero1"], outputs: ["nh1"] },
    { op: "Concat", inputs: ["two", "nh1", "two"], outputs: ["target"], attrs: [int("axis", 0)] },
    { op: "Reshape", inputs: ["t", "target"], outputs: ["r"] },
    { op: "Softmax", inputs: ["r"], outputs: ["p"], attrs: [int("axis", -1)] },
    { op: "Reshape", inputs: ["p", "back"], outputs: ["b"] },
    { op: "Transpose", inputs: ["b"], outputs: ["y"], attrs: [ints("perm", [1, 0, 2])] },
  ], {
    opset: 17,
    inits: [
      tensor("one", [], [1], T.INT64),
      tensor("heads", [], [3], T.INT64),
      tensor("zero1", [1], [0], T.INT64),
      tensor("two", [1], [2], T.INT64),
      tensor("back", [3], [2, -1, 6], T.INT64),
    ],
  });
  const { ours, theirs } = await bothWays(bytes, [2, 6], [2, 6], 4);
  assertClose(ours, theirs, 1e-7, "reshape");
});

Deno.test("legacy F.pad: pads from Concat → Reshape [-1, 2] → reversed Slice → Transpose fold", async () => {
  // torch's legacy exporter writes F.pad(x, (0, 0, 0, (8 - W % 8) % 8)) as this chain.
  const bytes = model([5, 3], [
    { op: "Shape", inputs: ["x"], outputs: ["s"] },
    { op: "Gather", inputs: ["s", "one"], outputs: ["w"], attrs: [int("axis", 0)] },
    { op: "Mod", inputs: ["w", "eight"], outputs: ["m"] },
    { op: "Sub", inputs: ["eight", "m"], outputs: ["r"] },
    { op: "Mod", inputs: ["r", "eight"], outputs: ["p"] },
    { op: "Unsqueeze", inputs: ["p", "zero1"], outputs: ["p1"] },
    {
      op: "Concat",
      inputs: ["zeros3", "p1", "zeros2"],
      outputs: ["flat"],
      attrs: [int("axis", 0)],
    },
    { op: "Reshape", inputs: ["flat", "pairs"], outputs: ["m2"] },
    { op: "Slice", inputs: ["m2", "minus1", "big", "zero1", "minus1"], outputs: ["rev"] },
    { op: "Transpose", inputs: ["rev"], outputs: ["t"], attrs: [ints("perm", [1, 0])] },
    { op: "Reshape", inputs: ["t", "minus1"], outputs: ["pads"] },
    { op: "Pad", inputs: ["x", "pads"], outputs: ["y"] },
  ], {
    opset: 17,
    inits: [
      tensor("one", [], [1], T.INT64),
      tensor("eight", [], [8], T.INT64),
      tensor("zero1", [1], [0], T.INT64),
      tensor("zeros3", [3], [0, 0, 0], T.INT64),
      tensor("zeros2", [2], [0, 0], T.INT64),
      tensor("pairs", [2], [-1, 2], T.INT64),
      tensor("minus1", [1], [-1], T.INT64),
      tensor("big", [1], [-1e15], T.INT64),
    ],
  });
  // [N, 5, 3] padded at the end of axis 1 to 8: pads [0, 0, 0, 0, 3, 0].
  const { ours, theirs } = await bothWays(bytes, [5, 3], [8, 3]);
  assertClose(ours, theirs, 0, "pad");
});

Deno.test("dimension algebra: products, sums, exact division, canonical forms", () => {
  assert.equal(dimArith("Mul", "N", 4), "4*N");
  assert.equal(dimArith("Mul", 4, "N"), "4*N");
  assert.equal(dimArith("Div", "4*N", 2), "2*N");
  assert.equal(dimArith("Div", "4*N", 4), "N");
  assert.equal(dimArith("Div", "N", 2), undefined);
  assert.equal(dimArith("Div", "N*T", "T"), "N");
  assert.equal(dimArith("Add", "N", 1), "N+1");
  assert.equal(dimArith("Sub", "N+1", 1), "N");
  assert.equal(dimArith("Sub", "N", "N"), 0);
  assert.equal(dimArith("Mul", "N+1", 2), "2*N+2");
  assert.equal(dimArith("Mul", "N", "T"), "N*T");
  assert.equal(dimArith("Sub", 3, "N"), "-N+3");
  assert.equal(dimArith("Div", 7, 2), 3);
  assert.equal(dimArith("Div", -7, 2), -4);
});
