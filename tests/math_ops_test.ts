/**
 * Math, reduction and shape ops: forward values against hand numbers, gradients against float64
 * central finite differences, and the exact gradients at kinks and ties (PyTorch's conventions).
 */
import { differentiate } from "../src/autodiff/differentiate.ts";
import { createGraphBuilder, type GraphBuilder } from "../src/ir/builder.ts";
import { CompileError } from "../src/ir/errors.ts";
import type { Value } from "../src/ir/types.ts";
import { assert, assertClose, assertThrowsMatch } from "./_assert.ts";
import {
  awayFromZero,
  checkGradients,
  exactGradients as exact,
  type InputSpec,
  runGraph,
  tensor,
  values,
} from "./_harness.ts";

const input = (shape: InputSpec["shape"], extra: Partial<InputSpec> = {}): InputSpec => ({
  shape,
  ...extra,
});

const positive = (lo: number, hi: number) => (r: { nextFloat(): number }) =>
  lo + (hi - lo) * r.nextFloat();

// ---- unary math ----

const unaryCases: [string, (b: GraphBuilder, a: Value) => Value, InputSpec["sample"]][] = [
  ["Sqrt", (b, a) => b.op1("Sqrt", [a]), positive(0.2, 2)],
  ["Log", (b, a) => b.op1("Log", [a]), positive(0.2, 2)],
  ["Abs", (b, a) => b.op1("Abs", [a]), awayFromZero(0.1, 1)],
  ["Reciprocal", (b, a) => b.op1("Reciprocal", [a]), awayFromZero(0.5, 1.5)],
  ["Sigmoid", (b, a) => b.op1("Sigmoid", [a]), (r) => 6 * r.nextFloat() - 3],
  ["Tanh", (b, a) => b.op1("Tanh", [a]), (r) => 4 * r.nextFloat() - 2],
  // SiLU as exporters write it; the Mul rule takes both factors at once (siluGrad).
  [
    "SiLU x·Sigmoid(x)",
    (b, a) => b.op1("Mul", [a, b.op1("Sigmoid", [a])]),
    (r) => 8 * r.nextFloat() - 4,
  ],
  [
    "SiLU Sigmoid(x)·x",
    (b, a) => b.op1("Mul", [b.op1("Sigmoid", [a]), a]),
    (r) => 8 * r.nextFloat() - 4,
  ],
  // The Sigmoid read again elsewhere: its own gradient still reaches x.
  ["SiLU + 3·Sigmoid(x)", (b, a) => {
    const s = b.op1("Sigmoid", [a]);
    return b.op1("Add", [b.op1("Mul", [a, s]), b.op1("Mul", [s, b.scalar(3, "float64")])]);
  }, (r) => 8 * r.nextFloat() - 4],
  ["LeakyRelu (default alpha)", (b, a) => b.op1("LeakyRelu", [a]), awayFromZero(0.1, 1)],
  [
    "LeakyRelu (alpha 0.2)",
    (b, a) => b.op1("LeakyRelu", [a], { alpha: 0.2 }),
    awayFromZero(0.1, 1),
  ],
];

for (const [name, f, sample] of unaryCases) {
  Deno.test(`${name} gradient`, async () => {
    await checkGradients({
      inputs: { a: input([3, 4], { sample }) },
      wrt: ["a"],
      build: (b, x) => f(b, x.a),
    });
  });
}

// onnxruntime's CPU Erf and Elu have float32 kernels only, so these run in float32.
const float32Cases: [string, (b: GraphBuilder, a: Value) => Value, InputSpec["sample"]][] = [
  ["Erf", (b, a) => b.op1("Erf", [a]), (r) => 3 * r.nextFloat() - 1.5],
  ["Elu (default alpha)", (b, a) => b.op1("Elu", [a]), awayFromZero(0.1, 2)],
  ["Elu (alpha 0.7)", (b, a) => b.op1("Elu", [a], { alpha: 0.7 }), awayFromZero(0.1, 2)],
];

for (const [name, f, sample] of float32Cases) {
  Deno.test(`${name} gradient (float32)`, async () => {
    await checkGradients({
      dtype: "float32",
      inputs: { a: input([3, 4], { sample }) },
      wrt: ["a"],
      build: (b, x) => f(b, x.a),
    });
  });
}

Deno.test("unary gradients: exact values at hand-picked points", async () => {
  const xs = [0.25, 1, 4];
  const dy = [1, -2, 0.5];
  const run = (op: "Sqrt" | "Log" | "Reciprocal") =>
    exact({ x: { dims: [3], data: xs } }, ["x"], (b, x) => b.op1(op, [x.x]), dy);
  // Sqrt: dy / (2√x); Log: dy / x; Reciprocal: −dy / x².
  assert.deepEqual((await run("Sqrt")).grads.x, [1, -1, 0.125]);
  assert.deepEqual((await run("Log")).grads.x, [4, -2, 0.125]);
  assert.deepEqual((await run("Reciprocal")).grads.x, [-16, 2, -0.5 / 16]);
  // Sigmoid at 0 is 1/2 with slope 1/4; Tanh at 0 has slope 1; Erf at 0 has slope 2/√π.
  const zero = { x: { dims: [1], data: [0] } };
  assert.deepEqual((await exact(zero, ["x"], (b, x) => b.op1("Sigmoid", [x.x]))).grads.x, [0.25]);
  assert.deepEqual((await exact(zero, ["x"], (b, x) => b.op1("Tanh", [x.x]))).grads.x, [1]);
  const erf = await exact(
    { x: { dims: [2], data: [0, 1], dtype: "float32" } },
    ["x"],
    (b, x) => b.op1("Erf", [x.x]),
  );
  assertClose(erf.grads.x, [2 / Math.sqrt(Math.PI), 2 / Math.sqrt(Math.PI) * Math.exp(-1)], 1e-6);
  assertClose(erf.y, [0, 0.8427007929497149], 1e-6);
});

Deno.test("Abs, LeakyRelu, Elu, Sign at 0 follow PyTorch: 0, alpha, alpha, 0", async () => {
  const x = { x: { dims: [5], data: [-2, -0.5, 0, 0.5, 2] } };
  const dy = [1, 2, 3, 4, 5];
  const abs = await exact(x, ["x"], (b, v) => b.op1("Abs", [v.x]), dy);
  assert.deepEqual(abs.y, [2, 0.5, 0, 0.5, 2]);
  assert.deepEqual(abs.grads.x, [-1, -2, 0, 4, 5]);
  const a = Math.fround(0.2);
  const leaky = await exact(x, ["x"], (b, v) => b.op1("LeakyRelu", [v.x], { alpha: 0.2 }), dy);
  assert.deepEqual(leaky.y, [-2 * a, -0.5 * a, 0, 0.5, 2]);
  assert.deepEqual(leaky.grads.x, [a, 2 * a, 3 * a, 4, 5]);
  const leakyDefault = await exact(x, ["x"], (b, v) => b.op1("LeakyRelu", [v.x]), dy);
  assert.deepEqual(leakyDefault.grads.x.slice(0, 3), [1, 2, 3].map((k) => k * Math.fround(0.01)));
  const e = Math.fround(0.7);
  const x32 = { x: { ...x.x, dtype: "float32" as const } };
  const elu = await exact(x32, ["x"], (b, v) => b.op1("Elu", [v.x], { alpha: 0.7 }), dy);
  assertClose(elu.y, [e * (Math.exp(-2) - 1), e * (Math.exp(-0.5) - 1), 0, 0.5, 2], 1e-6);
  assertClose(elu.grads.x, [e * Math.exp(-2), 2 * e * Math.exp(-0.5), 3 * e, 4, 5], 1e-6);
  // Sign's gradient is zeros (not "no gradient"), so a parameter behind it still gets one.
  const sign = await exact(x, ["x"], (b, v) => b.op1("Sign", [v.x]), dy);
  assert.deepEqual(sign.y, [-1, -1, 0, 1, 1]);
  assert.deepEqual(sign.grads.x, [0, 0, 0, 0, 0]);
});

// ---- Pow ----

Deno.test("Pow gradient: base and exponent, with broadcasting", async () => {
  for (
    const [sx, se] of [
      [[3, 4], [3, 4]],
      [[3, 4], [4]],
      [[4], [3, 1]],
      [[2, 3], []],
    ]
  ) {
    await checkGradients({
      inputs: {
        x: input(sx, { sample: positive(0.3, 2) }),
        e: input(se, { sample: (r) => 4 * r.nextFloat() - 2 }),
      },
      wrt: ["x", "e"],
      build: (b, v) => b.op1("Pow", [v.x, v.e]),
    });
  }
});

Deno.test("Pow gradient: a constant integer exponent on negative bases", async () => {
  for (const k of [2, 3]) {
    await checkGradients({
      inputs: { x: input([3, 4]) },
      wrt: ["x"],
      build: (b, v) => b.op1("Pow", [v.x, b.scalar(k, "float64")]),
    });
  }
  const { y, grads } = await exact(
    { x: { dims: [3], data: [-1.5, 0, 2] } },
    ["x"],
    (b, v) => b.op1("Pow", [v.x, b.scalar(3, "float64")]),
  );
  assert.deepEqual(y, [-3.375, 0, 8]);
  assert.deepEqual(grads.x, [6.75, 0, 12]);
});

Deno.test("Pow gradient at x = 0: 0 for exponent 0 and for the exponent when it is ≥ 0", async () => {
  const { y, grads } = await exact(
    { x: { dims: [4], data: [0, 0, 0, 2] }, e: { dims: [4], data: [0, 2, 0.5, 0] } },
    ["x", "e"],
    (b, v) => b.op1("Pow", [v.x, v.e]),
  );
  assert.deepEqual(y, [1, 0, 0, 1]);
  // d/dx: 0 where e = 0 (no 0·0⁻¹), 2·0 = 0, 0.5·0^-0.5 = +∞, 0 where e = 0.
  assert.deepEqual(grads.x, [0, 0, Infinity, 0]);
  // d/de: 0 at x = 0 with e ≥ 0 (no 0·log 0); y·log x = log 2 at x = 2, e = 0.
  assert.deepEqual(grads.e, [0, 0, 0, Math.log(2)]);
});

// ---- Max and Min ----

for (const op of ["Max", "Min"] as const) {
  Deno.test(`${op} gradient: two and three inputs, broadcasting`, async () => {
    await checkGradients({
      inputs: { a: input([3, 4]), b: input([3, 4]) },
      wrt: ["a", "b"],
      build: (b, x) => b.op1(op, [x.a, x.b]),
    });
    await checkGradients({
      inputs: { a: input([3, 4]), b: input([4]), c: input([3, 1]) },
      wrt: ["a", "b", "c"],
      build: (b, x) => b.op1(op, [x.a, x.b, x.c]),
    });
    await checkGradients({
      inputs: { a: input([2, 3]) },
      wrt: ["a"],
      build: (b, x) => b.op1(op, [x.a]),
    });
  });
}

Deno.test("Max and Min on ties: half to each of two inputs, a third to each of three", async () => {
  const a = { dims: [4], data: [1, 2, 3, 5] };
  const b2 = { dims: [4], data: [1, 3, 2, 5] };
  const dy = [2, 4, 6, 8];
  const max = await exact({ a, b: b2 }, ["a", "b"], (b, x) => b.op1("Max", [x.a, x.b]), dy);
  assert.deepEqual(max.y, [1, 3, 3, 5]);
  assert.deepEqual(max.grads.a, [1, 0, 6, 4]);
  assert.deepEqual(max.grads.b, [1, 4, 0, 4]);
  const min = await exact({ a, b: b2 }, ["a", "b"], (b, x) => b.op1("Min", [x.a, x.b]), dy);
  assert.deepEqual(min.y, [1, 2, 2, 5]);
  assert.deepEqual(min.grads.a, [1, 4, 0, 4]);
  assert.deepEqual(min.grads.b, [1, 0, 6, 4]);
  // Three inputs, the third broadcast: [1, 1, 1] ties three ways, [0, 3, 3] two ways.
  const three = await exact(
    { a: { dims: [2, 3], data: [1, 1, 1, 0, 3, 3] }, b: b2, c: { dims: [1], data: [1] } },
    ["a", "c"],
    (b, x) => b.op1("Max", [x.a, b.op1("Slice", [x.b, b.ints([0]), b.ints([3])]), x.c]),
    [3, 6, 9, 2, 4, 8],
  );
  // Column-wise: a = [1,1,1 | 0,3,3], b = [1,3,2], c = 1.
  // Row 0: col 0 ties a,b,c → 1 each; col 1: b wins; col 2: b wins. Row 1: col 0 ties b,c → 1
  // each; col 1 ties a,b → 2 each; col 2: a wins.
  assert.deepEqual(three.y, [1, 3, 2, 1, 3, 3]);
  assert.deepEqual(three.grads.a, [1, 0, 0, 0, 2, 8]);
  assert.deepEqual(three.grads.c, [2]);
});

// ---- reductions ----

for (const op of ["ReduceMean", "ReduceMax"] as const) {
  for (const keepdims of [0, 1]) {
    Deno.test(`${op} gradient: keepdims ${keepdims}, several axes`, async () => {
      for (const axes of [[0], [1], [-1], [0, 2], [2, 0], [0, 1, 2], undefined]) {
        await checkGradients({
          inputs: { a: input([2, 3, 4]) },
          wrt: ["a"],
          build: (b, x) => b.op1(op, [x.a], axes ? { axes, keepdims } : { keepdims }),
        });
      }
    });
  }
}

Deno.test("ReduceMean gradient with a symbolic batch: the count is taken at run time", async () => {
  for (const keepdims of [0, 1]) {
    for (const axes of [[0], [0, 2], [1]]) {
      await checkGradients({
        inputs: { a: input(["N", 3, 2]) },
        wrt: ["a"],
        build: (b, x) => b.op1("ReduceMean", [x.a], { axes, keepdims }),
        runs: [{ a: [2, 3, 2] }, { a: [5, 3, 2] }],
      });
    }
  }
});

Deno.test("ReduceMean and ReduceMax: forward values and exact gradients", async () => {
  const x = { x: { dims: [2, 3], data: [1, 2, 6, -1, 4, 0] } };
  const mean0 = await exact(x, ["x"], (b, v) => b.op1("ReduceMean", [v.x], { axes: [0] }), [
    2,
    4,
    8,
  ]);
  assert.deepEqual(mean0.y, [0, 3, 3]);
  assert.deepEqual(mean0.grads.x, [1, 2, 4, 1, 2, 4]);
  const mean = await exact(x, ["x"], (b, v) => b.op1("ReduceMean", [v.x], { keepdims: 0 }), [3]);
  assert.deepEqual(mean.y, [2]);
  assert.deepEqual(mean.grads.x, [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
  const max = await exact(
    x,
    ["x"],
    (b, v) => b.op1("ReduceMax", [v.x], { axes: [1], keepdims: 0 }),
    [1, 2],
  );
  assert.deepEqual(max.y, [6, 4]);
  assert.deepEqual(max.grads.x, [0, 0, 1, 0, 2, 0]);
});

Deno.test("ReduceMax gradient splits ties evenly, as PyTorch's amax", async () => {
  const { y, grads } = await exact(
    { x: { dims: [2, 3], data: [1, 3, 3, 2, 2, 2] } },
    ["x"],
    (b, v) => b.op1("ReduceMax", [v.x], { axes: [-1] }),
    [2, 3],
  );
  assert.deepEqual(y, [3, 2]);
  assert.deepEqual(grads.x, [0, 1, 1, 1, 1, 1]);
});

Deno.test("ReduceMean and ReduceMax take axes as an attribute (opset 17)", () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float32", shape: ["N", 3, 4] });
  assert.deepEqual(b.op1("ReduceMean", [x], { axes: [0, 2], keepdims: 0 }).type.shape, [3]);
  assert.deepEqual(b.op1("ReduceMax", [x], { axes: [-1] }).type.shape, ["N", 3, 1]);
  assert.deepEqual(b.op1("ReduceMean", [x]).type.shape, [1, 1, 1]);
  assertThrowsMatch(
    () => b.op1("ReduceMean", [x, b.ints([1])]),
    CompileError,
    "ReduceMean takes axes as an attribute in opset 17, not as an input",
  );
  assertThrowsMatch(
    () => b.op1("ReduceMax", [x], { axes: [3] }),
    CompileError,
    "ReduceMax axis 3 is out of range for rank 3",
  );
});

// ---- Concat, Slice, Pad, Squeeze ----

Deno.test("Concat gradient: slices of dy for each input", async () => {
  for (const axis of [0, 1, -1]) {
    await checkGradients({
      inputs: {
        a: input(axis === 0 ? [1, 3] : [2, 1]),
        b: input(axis === 0 ? [2, 3] : [2, 3]),
        c: input(axis === 0 ? [3, 3] : [2, 2]),
      },
      wrt: ["a", "b", "c"],
      build: (b, x) => b.op1("Concat", [x.a, x.b, x.c], { axis }),
    });
  }
  // Only some inputs need a gradient; a symbolic batch on another axis is fine.
  await checkGradients({
    inputs: { a: input(["N", 2]), b: input(["N", 3]) },
    wrt: ["b"],
    build: (b, x) => b.op1("Concat", [x.a, x.b], { axis: 1 }),
    runs: [{ a: [2, 2], b: [2, 3] }, { a: [4, 2], b: [4, 3] }],
  });
});

Deno.test("Concat gradient needs static sizes along the axis", () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float64", shape: ["N", 2] });
  const y = b.input("y", { dtype: "float64", shape: [3, 2] });
  const loss = b.op1("ReduceSum", [b.op1("Concat", [x, y], { axis: 0 })], { keepdims: 0 });
  assertThrowsMatch(
    () => differentiate(b, loss, [x]),
    CompileError,
    "Concat gradient needs static sizes along axis 0, got [N, 2] and [3, 2]",
  );
});

Deno.test("Slice gradient: starts, ends, axes, negative and clamped bounds", async () => {
  const cases: [number[], number[], number[] | undefined][] = [
    [[1], [3], undefined],
    [[0, 1], [2, 4], [0, 1]],
    [[-3], [100], [2]],
    [[1, -100], [-1, 2], [2, 1]],
    [[2], [2], [1]],
  ];
  for (const [starts, ends, axes] of cases) {
    await checkGradients({
      inputs: { a: input([3, 4, 5]) },
      wrt: ["a"],
      build: (b, x) =>
        b.op1("Slice", [x.a, b.ints(starts), b.ints(ends), ...(axes ? [b.ints(axes)] : [])]),
    });
  }
  const { y, grads } = await exact(
    { x: { dims: [2, 3], data: [1, 2, 3, 4, 5, 6] } },
    ["x"],
    (b, v) => b.op1("Slice", [v.x, b.ints([1]), b.ints([3]), b.ints([1]), b.ints([1])]),
    [10, 20, 30, 40],
  );
  assert.deepEqual(y, [2, 3, 5, 6]);
  assert.deepEqual(grads.x, [0, 10, 20, 0, 30, 40]);
});

Deno.test("Slice gradient: a symbolic batch on an unsliced axis", async () => {
  await checkGradients({
    inputs: { a: input(["N", 4]) },
    wrt: ["a"],
    build: (b, x) => b.op1("Slice", [x.a, b.ints([1]), b.ints([3]), b.ints([1])]),
    runs: [{ a: [1, 4] }, { a: [3, 4] }],
  });
});

Deno.test("Slice gradient with steps: 2 and 3, negative steps, a symbolic batch (swin's ::2)", async () => {
  // By hand: x[1:6:2] of 7 elements picks 1, 3, 5.
  const { y, grads } = await exact(
    { x: { dims: [7], data: [0, 1, 2, 3, 4, 5, 6] } },
    ["x"],
    (b, v) => b.op1("Slice", [v.x, b.ints([1]), b.ints([6]), b.ints([0]), b.ints([2])]),
    [10, 20, 30],
  );
  assert.deepEqual(y, [1, 3, 5]);
  assert.deepEqual(grads.x, [0, 10, 0, 20, 0, 30, 0]);
  // x[5:0:-2] picks 5, 3, 1.
  const back = await exact(
    { x: { dims: [7], data: [0, 1, 2, 3, 4, 5, 6] } },
    ["x"],
    (b, v) => b.op1("Slice", [v.x, b.ints([5]), b.ints([0]), b.ints([0]), b.ints([-2])]),
    [10, 20, 30],
  );
  assert.deepEqual(back.y, [5, 3, 1]);
  assert.deepEqual(back.grads.x, [0, 30, 0, 20, 0, 10, 0]);
  const cases: [number[], number[], number[], number[]][] = [
    [[0, 1], [8, 7], [1, 2], [2, 3]], // x[:, 0::2, 1::3]
    [[1], [8], [1], [2]], // swin's x[:, 1::2]
    [[7, 6], [-9, 0], [1, 2], [-1, -2]], // both reversed
    [[6], [0], [2], [-3]],
  ];
  for (const [starts, ends, axes, steps] of cases) {
    await checkGradients({
      inputs: { a: input(["N", 8, 7]) },
      wrt: ["a"],
      build: (b, x) =>
        b.op1("Slice", [x.a, b.ints(starts), b.ints(ends), b.ints(axes), b.ints(steps)]),
      runs: [{ a: [1, 8, 7] }, { a: [3, 8, 7] }],
    });
  }
});

Deno.test("Pad: forward values, and gradients of the data and the constant value", async () => {
  const { y, grads } = await exact(
    { x: { dims: [2, 2], data: [1, 2, 3, 4] }, c: { dims: [], data: [9] } },
    ["x", "c"],
    (b, v) => b.op1("Pad", [v.x, b.ints([0, 1, 1, 0]), v.c], { mode: "constant" }),
    [1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  assert.deepEqual(y, [9, 1, 2, 9, 3, 4, 9, 9, 9]);
  assert.deepEqual(grads.x, [2, 3, 5, 6]);
  assert.deepEqual(grads.c, [1 + 4 + 7 + 8 + 9]);
  for (const pads of [[1, 0, 2, 3], [0, 0, 0, 0], [2, 1, 0, 1]]) {
    await checkGradients({
      inputs: { a: input([2, 3]), c: input([]) },
      wrt: ["a", "c"],
      build: (b, x) => b.op1("Pad", [x.a, b.ints(pads), x.c]),
    });
  }
  // No constant_value (zeros), symbolic batch left unpadded.
  await checkGradients({
    inputs: { a: input(["N", 3]) },
    wrt: ["a"],
    build: (b, x) => b.op1("Pad", [x.a, b.ints([0, 2, 0, 1])]),
    runs: [{ a: [1, 3] }, { a: [2, 3] }],
  });
});

Deno.test("Pad shape rule: symbolic dims, and reflect mode has no gradient", () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float64", shape: ["N", 3] });
  assert.deepEqual(b.op1("Pad", [x, b.ints([1, 0, 2, 1])]).type.shape, ["N+3", 4]);
  assertThrowsMatch(
    () => b.op1("Pad", [x, b.ints([1, 1])]),
    CompileError,
    "Pad expects 4 pads for shape [N, 3], got 2",
  );
  const r = b.input("r", { dtype: "float64", shape: [4, 3] });
  const loss = b.op1("ReduceSum", [b.op1("Pad", [r, b.ints([1, 0, 1, 0])], { mode: "reflect" })], {
    keepdims: 0,
  });
  assertThrowsMatch(
    () => differentiate(b, loss, [r]),
    CompileError,
    /Pad gradient supports constant mode with non-negative pads only, got mode 'reflect'/,
  );
});

Deno.test("Squeeze: shape rule and gradient", async () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float64", shape: ["N", 1, 3, 1] });
  assert.deepEqual(b.op1("Squeeze", [x, b.ints([1, -1])]).type.shape, ["N", 3]);
  assertThrowsMatch(
    () => b.op1("Squeeze", [x, b.ints([2])]),
    CompileError,
    "Squeeze axis 2 has size 3, not 1, in shape [N, 1, 3, 1]",
  );
  assertThrowsMatch(
    () => b.op1("Squeeze", [x]),
    CompileError,
    "Squeeze without axes needs a static shape, got [N, 1, 3, 1]",
  );
  for (const axes of [[1], [1, 3], [-1], undefined]) {
    await checkGradients({
      inputs: { a: input([2, 1, 3, 1]) },
      wrt: ["a"],
      build: (b, v) => b.op1("Squeeze", axes ? [v.a, b.ints(axes)] : [v.a]),
    });
  }
  await checkGradients({
    inputs: { a: input(["N", 1, 3]) },
    wrt: ["a"],
    build: (b, v) => b.op1("Squeeze", [v.a, b.ints([1])]),
    runs: [{ a: [2, 1, 3] }, { a: [4, 1, 3] }],
  });
});

// ---- Gather (embeddings) ----

Deno.test("Gather gradient: repeated indices accumulate (an embedding)", async () => {
  // W [4, 2]; rows 1 and 3 are gathered twice, row 2 never.
  const w = { dims: [4, 2], data: [1, 2, 3, 4, 5, 6, 7, 8] };
  for (const dtype of ["int64", "int32"] as const) {
    const { y, grads } = await exact(
      { w, i: { dims: [2, 2], data: [1, 3, 3, 1], dtype } },
      ["w"],
      (b, v) => b.op1("Gather", [v.w, v.i], { axis: 0 }),
      [1, 2, 10, 20, 100, 200, 1000, 2000],
    );
    assert.deepEqual(y, [3, 4, 7, 8, 7, 8, 3, 4]);
    assert.deepEqual(grads.w, [0, 0, 1001, 2002, 0, 0, 110, 220]);
  }
  // A negative index counts from the end, in the gradient as in the gather.
  const neg = await exact(
    { w, i: { dims: [3], data: [-1, 0, 3], dtype: "int64" } },
    ["w"],
    (b, v) => b.op1("Gather", [v.w, v.i]),
    [1, 2, 3, 4, 5, 6],
  );
  assert.deepEqual(neg.y, [7, 8, 1, 2, 7, 8]);
  assert.deepEqual(neg.grads.w, [3, 4, 0, 0, 0, 0, 6, 8]);
  await checkGradients({
    inputs: {
      w: input([5, 3]),
      i: input(["N", 3], { dtype: "int64", data: [0, 4, 4, 2, 0, 4] }),
    },
    wrt: ["w"],
    build: (b, x) => b.op1("Gather", [x.w, x.i]),
    runs: [{ i: [2, 3] }],
  });
});

Deno.test("Gather gradient: other axes, and a scalar index", async () => {
  for (const axis of [1, 2, -1]) {
    await checkGradients({
      inputs: {
        w: input([2, 3, 4]),
        i: input([2, 2], { dtype: "int64", data: [1, 0, 1, 1] }),
      },
      wrt: ["w"],
      build: (b, x) => b.op1("Gather", [x.w, x.i], { axis }),
    });
  }
  await checkGradients({
    inputs: { w: input([3, 4]), i: input([], { dtype: "int64", data: [2] }) },
    wrt: ["w"],
    build: (b, x) => b.op1("Gather", [x.w, x.i], { axis: 1 }),
  });
});

Deno.test("Size and ConstantOfShape: shape rules and values", async () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float32", shape: ["N", 3] });
  const n = b.op1("Size", [x]);
  assert.deepEqual(n.type, { dtype: "int64", shape: [], known: ["3*N"] });
  const z = b.op1("ConstantOfShape", [b.op1("Shape", [x])], {
    value: { dtype: "float64", shape: [1], data: Float64Array.of(2.5) },
  });
  assert.deepEqual(z.type.shape, ["N", 3]);
  assert.equal(z.type.dtype, "float64");
  b.output("n", n);
  b.output("z", z);
  const out = await runGraph(b.build("size"), { x: tensor("float32", [2, 3], [1, 2, 3, 4, 5, 6]) });
  assert.deepEqual(values(out.n), [6]);
  assert.deepEqual(values(out.z), [2.5, 2.5, 2.5, 2.5, 2.5, 2.5]);
  assert.deepEqual([...out.z.dims], [2, 3]);
});

Deno.test("Cast gradient: back in the input's float type; none through an integer type", async () => {
  const { y, grads } = await exact(
    { x: { dims: [3], data: [1.5, -2, 3], dtype: "float32" } },
    ["x"],
    (b, v) =>
      b.op1("Mul", [
        b.op1("Cast", [v.x], { to: "float64" }),
        b.constant({ dtype: "float64", shape: [3], data: Float64Array.of(2, 3, 4) }),
      ]),
    [1, 10, 100],
  );
  assert.deepEqual(y, [3, -6, 12]);
  assert.deepEqual(grads.x, [2, 30, 400]);
  // x + float(int(x)): the integer path carries no gradient (PyTorch's .long() detaches).
  const truncated = await exact(
    { x: { dims: [2], data: [1.5, -2.5] } },
    ["x"],
    (b, v) =>
      b.op1("Add", [
        v.x,
        b.op1("Cast", [b.op1("Cast", [v.x], { to: "int64" })], { to: "float64" }),
      ]),
  );
  assert.deepEqual(truncated.y, [2.5, -4.5]);
  assert.deepEqual(truncated.grads.x, [1, 1]);
});

Deno.test("ScatterND gradient (reduction none): data where not written, updates gathered", async () => {
  await checkGradients({
    inputs: { d: input([4, 3]), u: input([2, 3]) },
    wrt: ["d", "u"],
    build: (b, x) =>
      b.op1("ScatterND", [
        x.d,
        b.constant({ dtype: "int64", shape: [2, 1], data: BigInt64Array.of(3n, 1n) }),
        x.u,
      ]),
  });
});

Deno.test("SiLU gradient: one rule for x·Sigmoid(x), PyTorch's values, four passes", async () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float32", shape: [5] });
  const loss = b.op1("ReduceSum", [b.op1("Mul", [x, b.op1("Sigmoid", [x])])], { keepdims: 0 });
  const before = b.nodes.length;
  const [dx] = differentiate(b, loss, [x]);
  const added = b.nodes.slice(before).map((n) => n.op).filter((op) => op !== "Constant");
  // ReduceSum's rule (Unsqueeze, Shape, Expand), then Sub, Mul, Add, Mul: no Sigmoid rule and no
  // product rule.
  const reduceSum = ["Unsqueeze", "Shape", "Expand"];
  assert.deepEqual(added.filter((op) => !reduceSum.includes(op)), [
    "Sub",
    "Mul",
    "Add",
    "Mul",
  ]);
  b.output("dx", dx!);
  const xs = [-6, -1.5, 0, 0.75, 3];
  const got = values((await runGraph(b.build("silu"), { x: tensor("float32", [5], xs) })).dx);
  // torch.ops.aten.silu_backward(ones, x): s·(1 + x·(1 − s)).
  const want = xs.map((v) => {
    const s = 1 / (1 + Math.exp(-v));
    return s * (1 + v * (1 - s));
  });
  assertClose(got, want, 1e-6);
});
