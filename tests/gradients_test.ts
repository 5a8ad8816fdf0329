/**
 * Gradient rules and the reverse walk, checked against central finite differences in float64
 * (onnxruntime's CPU provider has double kernels for every op used here, SoftmaxCrossEntropyLoss
 * included; the float32 SoftmaxCrossEntropyLoss test uses h = 1e-2 and looser tolerances).
 */
import assert from "node:assert/strict";
import { differentiate } from "../src/autodiff/differentiate.ts";
import { createGraphBuilder } from "../src/ir/builder.ts";
import { CompileError } from "../src/ir/errors.ts";
import {
  awayFromZero,
  checkGradients,
  countOps,
  type GradCheckSpec,
  type InputSpec,
  runGraph,
  tensor,
  values,
} from "./_harness.ts";

const input = (shape: InputSpec["shape"], extra: Partial<InputSpec> = {}): InputSpec => ({
  shape,
  ...extra,
});

/** A fixed pseudo-random 0/1 pattern with both values present. */
const mask = (n: number): number[] =>
  Array.from({ length: n }, (_, i) => (i * 7 + 3) % 5 < 2 ? 1 : 0);

// ---- elementwise ----

for (const op of ["Add", "Sub", "Mul"] as const) {
  Deno.test(`${op} gradient: both inputs`, async () => {
    await checkGradients({
      inputs: { a: input([3, 4]), b: input([3, 4]) },
      wrt: ["a", "b"],
      build: (b, x) => b.op1(op, [x.a, x.b]),
    });
  });
}

Deno.test("Div gradient: numerator and denominator", async () => {
  await checkGradients({
    inputs: { a: input([3, 4]), b: input([3, 4], { sample: awayFromZero(0.5, 1.5) }) },
    wrt: ["a", "b"],
    build: (b, x) => b.op1("Div", [x.a, x.b]),
  });
});

Deno.test("Div gradient: denominator only, and a broadcast denominator", async () => {
  await checkGradients({
    inputs: { a: input([3, 4]), b: input([3, 4], { sample: awayFromZero(0.5, 1.5) }) },
    wrt: ["b"],
    build: (b, x) => b.op1("Div", [x.a, x.b]),
  });
  await checkGradients({
    inputs: { a: input([3, 4]), b: input([4], { sample: awayFromZero(0.5, 1.5) }) },
    wrt: ["a", "b"],
    build: (b, x) => b.op1("Div", [x.a, x.b]),
  });
});

for (const op of ["Neg", "Identity", "Exp"] as const) {
  Deno.test(`${op} gradient`, async () => {
    await checkGradients({
      inputs: { a: input([2, 3]) },
      wrt: ["a"],
      build: (b, x) => b.op1(op, [x.a]),
    });
  });
}

Deno.test("Relu gradient away from 0", async () => {
  const { grads, feeds } = await checkGradients({
    inputs: { a: input([3, 4], { sample: awayFromZero(0.1, 1) }) },
    wrt: ["a"],
    build: (b, x) => b.op1("Relu", [x.a]),
  });
  // Both sides of the kink were sampled, and the gradient is exactly 0 on the negative side (±0:
  // it is dy · 0, so -0 where dy < 0).
  const a = values(feeds.a), g = values(grads.a);
  assert.ok(a.some((v) => v < 0) && a.some((v) => v > 0));
  a.forEach((v, i) => v < 0 && assert.ok(g[i] === 0, `gradient ${g[i]} at ${v}`));
});

Deno.test("Where gradient: both branches with a random mask", async () => {
  await checkGradients({
    inputs: {
      c: input([3, 4], { dtype: "bool", data: mask(12) }),
      a: input([3, 4]),
      b: input([3, 4]),
    },
    wrt: ["a", "b"],
    build: (b, x) => b.op1("Where", [x.c, x.a, x.b]),
  });
});

Deno.test("Where gradient: broadcast branches", async () => {
  await checkGradients({
    inputs: {
      c: input([3, 4], { dtype: "bool", data: mask(12) }),
      a: input([4]),
      b: input([3, 1]),
    },
    wrt: ["a", "b"],
    build: (b, x) => b.op1("Where", [x.c, x.a, x.b]),
  });
});

// ---- linear algebra ----

Deno.test("MatMul gradient: 2-D", async () => {
  await checkGradients({
    inputs: { a: input([2, 3]), w: input([3, 4]) },
    wrt: ["a", "w"],
    build: (b, x) => b.op1("MatMul", [x.a, x.w]),
  });
});

Deno.test("MatMul gradient: batched, with a broadcast right-hand side", async () => {
  await checkGradients({
    inputs: { a: input([2, 2, 3]), w: input([3, 4]) },
    wrt: ["a", "w"],
    build: (b, x) => b.op1("MatMul", [x.a, x.w]),
  });
  await checkGradients({
    inputs: { a: input([2, 3]), w: input([2, 3, 2]) },
    wrt: ["a", "w"],
    build: (b, x) => b.op1("MatMul", [x.a, x.w]),
  });
});

for (const transA of [0, 1]) {
  for (const transB of [0, 1]) {
    Deno.test(`Gemm gradient: transA ${transA}, transB ${transB}, alpha 0.7, beta 1.3`, async () => {
      // Y = 0.7 · A'·B' + 1.3 · C with A' [2, 3], B' [3, 4].
      await checkGradients({
        inputs: {
          a: input(transA ? [3, 2] : [2, 3]),
          w: input(transB ? [4, 3] : [3, 4]),
          c: input([2, 4]),
        },
        wrt: ["a", "w", "c"],
        build: (b, x) => b.op1("Gemm", [x.a, x.w, x.c], { transA, transB, alpha: 0.7, beta: 1.3 }),
      });
    });
  }
}

Deno.test("Gemm gradient: broadcast C of shapes [4], [1, 4], [2, 1], [] and no C", async () => {
  for (const shape of [[4], [1, 4], [2, 1], []]) {
    await checkGradients({
      inputs: { a: input([2, 3]), w: input([4, 3]), c: input(shape) },
      wrt: ["a", "w", "c"],
      build: (b, x) => b.op1("Gemm", [x.a, x.w, x.c], { transB: 1, beta: 0.5 }),
    });
  }
  await checkGradients({
    inputs: { a: input([3, 2]), w: input([3, 4]) },
    wrt: ["a", "w"],
    build: (b, x) => b.op1("Gemm", [x.a, x.w], { transA: 1, alpha: 2.5 }),
  });
});

Deno.test("Transpose gradient: explicit and default perm", async () => {
  for (const perm of [[2, 0, 1], [1, 2, 0], [0, 2, 1], undefined]) {
    await checkGradients({
      inputs: { a: input([2, 3, 4]) },
      wrt: ["a"],
      build: (b, x) => b.op1("Transpose", [x.a], perm ? { perm } : {}),
    });
  }
});

Deno.test("Gemm gradient: dC is beta·dY with beta rounded to float32, as the forward uses it", async () => {
  // In float64 the finite differences cannot resolve a 1e-8 relative error, so check exactly.
  const b = createGraphBuilder();
  const a = b.input("a", { dtype: "float64", shape: [2, 3] });
  const w = b.input("w", { dtype: "float64", shape: [3, 4] });
  const c = b.input("c", { dtype: "float64", shape: [2, 4] });
  const dy = b.input("dy", { dtype: "float64", shape: [2, 4] });
  const y = b.op1("Gemm", [a, w, c], { beta: 1.3 });
  const [gc] = differentiate(b, b.op1("ReduceSum", [b.op1("Mul", [y, dy])], { keepdims: 0 }), [c]);
  b.output("gc", gc!);
  const dys = [0.5, -1, 2, 0.25, 3, -0.75, 1, -2];
  const zeros = (dims: number[]) => tensor("float64", dims, new Array(dims[0] * dims[1]).fill(0));
  const out = await runGraph(b.build("beta"), {
    a: zeros([2, 3]),
    w: zeros([3, 4]),
    c: zeros([2, 4]),
    dy: tensor("float64", [2, 4], dys),
  });
  assert.deepEqual(values(out.gc), dys.map((v) => v * Math.fround(1.3)));
});

// ---- shape ops ----

Deno.test("Flatten gradient: axis 0, 1, 2, -1", async () => {
  for (const axis of [0, 1, 2, -1]) {
    await checkGradients({
      inputs: { a: input([2, 3, 2]) },
      wrt: ["a"],
      build: (b, x) => b.op1("Flatten", [x.a], { axis }),
    });
  }
});

Deno.test("Reshape gradient: explicit, -1 and 0 dims", async () => {
  for (const shape of [[3, 4], [3, -1, 2], [0, 2, 3], [12]]) {
    await checkGradients({
      inputs: { a: input([2, 6]) },
      wrt: ["a"],
      build: (b, x) => b.op1("Reshape", [x.a, b.ints(shape)]),
    });
  }
});

Deno.test("Unsqueeze gradient", async () => {
  for (const axes of [[0], [1, 3], [-1]]) {
    await checkGradients({
      inputs: { a: input([2, 3]) },
      wrt: ["a"],
      build: (b, x) => b.op1("Unsqueeze", [x.a, b.ints(axes)]),
    });
  }
});

Deno.test("Expand gradient: size-1 dims and new leading dims", async () => {
  for (
    const [from, to] of [
      [[3, 1], [2, 3, 4]],
      [[4], [3, 4]],
      [[1, 1], [2, 3]],
      [[2, 3], [2, 3]],
      [[], [2, 2]],
    ]
  ) {
    await checkGradients({
      inputs: { a: input(from) },
      wrt: ["a"],
      build: (b, x) => b.op1("Expand", [x.a, b.ints(to)]),
    });
  }
});

// ---- reductions ----

for (const keepdims of [0, 1]) {
  Deno.test(`ReduceSum gradient: keepdims ${keepdims}, several axes`, async () => {
    // [] and no axes input both reduce every axis (noop_with_empty_axes = 0).
    for (const axes of [[0], [1], [2], [-1], [0, 2], [2, 0], [0, 1, 2], [], undefined]) {
      await checkGradients({
        inputs: { a: input([2, 3, 4]) },
        wrt: ["a"],
        build: (b, x) =>
          b.op1("ReduceSum", axes ? [x.a, b.ints(axes)] : [x.a], { keepdims: keepdims }),
      });
    }
  });
}

// ---- softmax family ----

for (const op of ["Softmax", "LogSoftmax"] as const) {
  for (const axis of [1, -1]) {
    Deno.test(`${op} gradient: axis ${axis}`, async () => {
      for (const shape of [[3, 4], [2, 3, 4]]) {
        await checkGradients({
          inputs: { a: input(shape) },
          wrt: ["a"],
          build: (b, x) => b.op1(op, [x.a], { axis }),
        });
      }
    });
  }
}

for (const reduction of ["mean", "sum", "none"] as const) {
  Deno.test(`SoftmaxCrossEntropyLoss gradient: reduction ${reduction}`, async () => {
    const spec: GradCheckSpec = {
      inputs: {
        s: input([4, 3], { sample: (r) => 4 * r.nextFloat() - 2 }),
        l: input([4], { dtype: "int64", data: [2, 0, 1, 2] }),
      },
      wrt: ["s"],
      build: (b, x) =>
        b.op("SoftmaxCrossEntropyLoss", [x.s, x.l], { reduction }, { outputs: 2 })[0],
    };
    await checkGradients(spec);
    // The same rule in float32, with a step and tolerances float32 can resolve.
    await checkGradients({ ...spec, dtype: "float32" });
  });
}

Deno.test("SoftmaxCrossEntropyLoss gradient: int32 labels", async () => {
  await checkGradients({
    inputs: { s: input([4, 3]), l: input([4], { dtype: "int32", data: [1, 2, 0, 1] }) },
    wrt: ["s"],
    build: (b, x) => b.op("SoftmaxCrossEntropyLoss", [x.s, x.l], {}, { outputs: 2 })[0],
  });
});

Deno.test("SoftmaxCrossEntropyLoss: a loss through log_prob is a CompileError", () => {
  const b = createGraphBuilder();
  const s = b.input("s", { dtype: "float64", shape: [4, 3] });
  const l = b.input("l", { dtype: "int64", shape: [4] });
  const [, logProb] = b.op("SoftmaxCrossEntropyLoss", [s, l], {}, { outputs: 2 });
  const loss = b.op1("ReduceSum", [logProb], { keepdims: 0 });
  assert.throws(
    () => differentiate(b, loss, [s]),
    (e) => e instanceof CompileError && /no gradient rule for its log_prob output/.test(e.message),
  );
});

// ---- the reverse walk ----

Deno.test("a value used twice: d(x·x + x)/dx is exactly 2x + 1", async () => {
  const xs = [-1.5, -0.25, 0, 0.5, 2.125, 3];
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float64", shape: [6] });
  const loss = b.op1("ReduceSum", [b.op1("Add", [b.op1("Mul", [x, x]), x])], { keepdims: 0 });
  const [g] = differentiate(b, loss, [x]);
  assert.ok(g);
  b.output("g", g);
  const out = await runGraph(b.build("twice"), { x: tensor("float64", [6], xs) });
  assert.deepEqual(values(out.g), xs.map((v) => 2 * v + 1));
});

Deno.test("broadcasting: gradients are summed back to each input's shape", async () => {
  const cases: [string, number[], number[]][] = [
    ["Add", [3, 4], [4]],
    ["Mul", [3, 4], [3, 1]],
    ["Sub", [4], [2, 3, 4]],
    ["Mul", [1, 3, 1], [2, 1, 4]],
    ["Add", [2, 3, 4], []],
  ];
  for (const [op, sa, sb] of cases) {
    const { grads } = await checkGradients({
      inputs: { a: input(sa), b: input(sb) },
      wrt: ["a", "b"],
      build: (b, x) => b.op1(op as "Add", [x.a, x.b]),
    });
    assert.deepEqual([...grads.a.dims], sa);
    assert.deepEqual([...grads.b.dims], sb);
  }
});

Deno.test("pruning: Gemm(x, W, b) with wrt [W, b] computes no dX", () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float64", shape: [2, 3] });
  const w = b.input("W", { dtype: "float64", shape: [4, 3] });
  const bias = b.input("b", { dtype: "float64", shape: [4] });
  const y = b.op1("Gemm", [x, w, bias], { transB: 1 });
  const loss = b.op1("ReduceSum", [b.op1("Mul", [y, y])], { keepdims: 0 });
  const forward = b.nodes.length;
  const [gw, gb] = differentiate(b, loss, [w, bias]);
  assert.ok(gw && gb);
  const graph = b.build("pruned");
  const backward = graph.nodes.slice(forward);
  // Only dW = dYᵀ·x is a Gemm; no node of the backward pass reads W, so nothing computes dX.
  assert.equal(countOps(graph, "Gemm"), 2);
  assert.ok(backward.every((n) => !n.inputs.includes(w)), "a gradient node reads W");
  assert.ok(backward.every((n) => n.outputs.every((v) => v.type.shape.join() !== "2,3")));
  // The whole backward pass: seed 1 → ReduceSum's Unsqueeze + Expand; Mul(y, y) → two
  // contributions and their sum; dW as one Gemm; db as dY summed over the batch and reshaped.
  assert.deepEqual(backward.map((n) => n.op), [
    ...["Constant", "Constant", "Unsqueeze", "Shape", "Expand"],
    ...["Mul", "Mul", "Add"],
    "Gemm",
    ...["Constant", "ReduceSum", "Shape", "Reshape"],
  ]);
});

Deno.test("pruning: layers below the only parameter get no gradient nodes", () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float64", shape: [2, 3] });
  const w1 = b.input("W1", { dtype: "float64", shape: [3, 4] });
  const w2 = b.input("W2", { dtype: "float64", shape: [4, 2] });
  const h = b.op1("Relu", [b.op1("MatMul", [x, w1])]);
  const loss = b.op1("ReduceSum", [b.op1("MatMul", [h, w2])], { keepdims: 0 });
  const forward = b.nodes.length;
  const [g2] = differentiate(b, loss, [w2]);
  assert.ok(g2);
  const graph = b.build("pruned");
  assert.equal(countOps(graph, "MatMul"), 3);
  for (const op of ["Where", "Greater"]) assert.equal(countOps(graph, op), 0, op);
  const backward = graph.nodes.slice(forward);
  assert.ok(backward.every((n) => !n.inputs.includes(w1) && !n.inputs.includes(w2)));
});

Deno.test("a parameter that does not affect the loss gets null", () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float64", shape: [3] });
  const unused = b.input("unused", { dtype: "float64", shape: [3] });
  const dead = b.input("dead", { dtype: "float64", shape: [3] });
  b.op1("Exp", [dead]); // computed but not part of the loss
  const loss = b.op1("ReduceSum", [b.op1("Mul", [x, x])], { keepdims: 0 });
  const grads = differentiate(b, loss, [unused, x, dead]);
  assert.equal(grads[0], null);
  assert.ok(grads[1]);
  assert.equal(grads[2], null);
  // A loss no parameter reaches: every gradient is null.
  const c = b.op1("ReduceSum", [unused], { keepdims: 0 });
  assert.deepEqual(differentiate(b, c, [x, dead]), [null, null]);
});

Deno.test("an op without a gradient rule on the path is a CompileError naming it", () => {
  const b = createGraphBuilder();
  // OneHot's values (off, on) have no gradient rule.
  const x = b.input("x", { dtype: "float64", shape: [2] });
  const hot = b.scope(
    "layer 2 (one-hot)",
    () => b.op1("OneHot", [b.ints([0, 2]), b.ints([3]), x], { axis: -1 }),
  );
  const loss = b.op1("ReduceSum", [hot], { keepdims: 0 });
  assert.throws(
    () => differentiate(b, loss, [x]),
    (e) =>
      e instanceof CompileError &&
      e.message === "Cannot differentiate: op OneHot in layer 2 (one-hot) has no gradient rule",
  );
  // Off the path, the same op is fine.
  const y = b.input("y", { dtype: "float64", shape: [3] });
  const loss2 = b.op1("Add", [loss, b.op1("ReduceSum", [y], { keepdims: 0 })]);
  assert.ok(differentiate(b, loss2, [y])[0]);
});

Deno.test("the loss must be a float scalar", () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float64", shape: [3] });
  assert.throws(() => differentiate(b, x, [x]), /loss must be a float scalar, got float64\[3\]/);
});

Deno.test("a symbolic batch dim N runs with N = 2 and N = 5", async () => {
  const { graph } = await checkGradients({
    inputs: {
      x: input(["N", 3]),
      w: input([3, 3]),
      c: input([3]),
      l: input(["N"], { dtype: "int64", sample: (r) => Math.floor(3 * r.nextFloat()) }),
    },
    wrt: ["x", "w", "c"],
    runs: [{ x: [2, 3] }, { x: [5, 3] }],
    build: (b, x) => {
      const y = b.op1("Add", [b.op1("MatMul", [x.x, x.w]), x.c]);
      const mean = b.op("SoftmaxCrossEntropyLoss", [y, x.l], {}, { outputs: 2 })[0];
      // A non-scalar path through Flatten and ReduceSum to exercise symbolic reshapes too.
      const flat = b.op1("Flatten", [b.op1("Exp", [b.op1("Unsqueeze", [y, b.ints([1])])])]);
      return b.op1("Add", [mean, b.op1("ReduceSum", [flat], { keepdims: 0 })]);
    },
  });
  assert.equal(graph.inputs[0].value.type.shape[0], "N");
});
