/**
 * Activation ops (src/ir/ops/activation.ts): forward values through onnxruntime against a small JS
 * reference (boundaries included), output dims against the shape rules, gradients against
 * central finite differences away from kinks, and the exact gradients at the kinks (PyTorch's
 * conventions, hand numbers checked against PyTorch 2.13).
 */
import { differentiate } from "../src/autodiff/differentiate.ts";
import { createGraphBuilder, type GraphBuilder } from "../src/ir/builder.ts";
import { CompileError } from "../src/ir/errors.ts";
import type { Attrs, DType, Value } from "../src/ir/types.ts";
import { assert, assertClose, assertThrowsMatch } from "./_assert.ts";
import {
  awayFromZero,
  checkGradients,
  declareFixed as declare,
  exactGradients as exact,
  type Fixed,
  runGraph,
  values,
} from "./_harness.ts";

const f32 = Math.fround;

/** Runs `f` on fixed inputs; returns the output's values and its run-time dims. */
async function forward(
  inputs: Readonly<Record<string, Fixed>>,
  f: (b: GraphBuilder, x: Readonly<Record<string, Value>>) => Value,
): Promise<{ y: number[]; dims: number[]; shape: readonly (number | string)[] }> {
  const b = createGraphBuilder();
  const { x, feeds } = declare(b, inputs);
  const y = f(b, x);
  b.output("y", y);
  const out = await runGraph(b.build("forward"), feeds);
  return { y: values(out.y), dims: [...out.y.dims], shape: y.type.shape };
}

/** One unary op applied to input `x`. */
const unary = (op: Parameters<GraphBuilder["op1"]>[0], attrs?: Attrs) =>
(
  b: GraphBuilder,
  v: Readonly<Record<string, Value>>,
) => b.op1(op, [v.x], attrs);

/** Samples uniform in [lo, hi) that keep `gap` away from each of `kinks`. */
const avoiding = (lo: number, hi: number, kinks: readonly number[], gap = 0.05) =>
(
  r: { nextFloat(): number },
): number => {
  for (;;) {
    const v = lo + (hi - lo) * r.nextFloat();
    if (kinks.every((k) => Math.abs(v - k) > gap)) return v;
  }
};

// ---- Clip ----

const clipRef = (v: number, lo = -Infinity, hi = Infinity) => Math.min(Math.max(v, lo), hi);
const CLIP_X = [-2, -1, -0.5, 0, 1, 1.5, 2];

Deno.test("Clip forward: inclusive bounds, each optional, [1]-shaped bounds, int64", async () => {
  const x = { dims: [7], data: CLIP_X };
  const s = (v: number, dtype: DType = "float64") => (b: GraphBuilder) => b.scalar(v, dtype);
  const cases: [
    string,
    ((b: GraphBuilder) => Value) | null,
    ((b: GraphBuilder) => Value) | null,
  ][] = [
    ["both", s(-1), s(1)],
    ["min only", s(-1), null],
    ["max only", null, s(1)],
    ["neither", null, null],
  ];
  for (const [name, lo, hi] of cases) {
    const { y, dims } = await forward(
      { x },
      (b, v) => b.op1("Clip", [v.x, lo?.(b) ?? null, hi?.(b) ?? null]),
    );
    const ref = CLIP_X.map((v) => clipRef(v, lo ? -1 : undefined, hi ? 1 : undefined));
    assert.deepEqual(y, ref, name);
    assert.deepEqual(dims, [7], name);
  }
  // onnxruntime also takes one-element [1] bounds (exported models have them).
  const one = (b: GraphBuilder, v: number) =>
    b.constant({ dtype: "float64", shape: [1], data: Float64Array.of(v) });
  const ones = await forward({ x }, (b, v) => b.op1("Clip", [v.x, one(b, -0.5), one(b, 1.5)]));
  assert.deepEqual(ones.y, CLIP_X.map((v) => clipRef(v, -0.5, 1.5)));
  // Integer Clip: same rule, no gradient needed.
  const ints = await forward(
    { x: { dims: [2, 3], data: [-9, -3, 0, 2, 3, 9], dtype: "int64" } },
    (b, v) => b.op1("Clip", [v.x, b.scalar(-3, "int64"), b.scalar(3, "int64")]),
  );
  assert.deepEqual(ints.y, [-3, -3, 0, 2, 3, 3]);
  assert.deepEqual(ints.dims, [2, 3]);
});

Deno.test("Clip gradient vs finite differences (float64, symbolic batch; float32)", async () => {
  const lo = -0.4, hi = 0.6;
  for (const [name, both] of [["both bounds", true], ["max only", false]] as const) {
    await checkGradients({
      inputs: { x: { shape: ["N", 4], sample: avoiding(-1, 1, [lo, hi]) } },
      wrt: ["x"],
      build: (b, v) =>
        b.op1("Clip", [v.x, both ? b.scalar(lo, "float64") : null, b.scalar(hi, "float64")]),
      runs: [{ x: [2, 4] }, { x: [3, 4] }],
    }).catch((e) => {
      throw new Error(`${name}: ${e.message}`);
    });
  }
  await checkGradients({
    dtype: "float32",
    inputs: { x: { shape: [3, 4], sample: avoiding(-1, 1, [lo, hi]) } },
    wrt: ["x"],
    build: (b, v) => b.op1("Clip", [v.x, b.scalar(lo), b.scalar(hi)]),
  });
});

Deno.test("Clip gradient at the bounds is dy (inclusive), 0 outside, as PyTorch's clamp", async () => {
  const x = { x: { dims: [5], data: [-2, -1, 0, 1, 2] } };
  const dy = [1, 2, 3, 4, 5];
  const clip = (lo: number, hi: number) => (b: GraphBuilder, v: Readonly<Record<string, Value>>) =>
    b.op1("Clip", [v.x, b.scalar(lo, "float64"), b.scalar(hi, "float64")]);
  // torch.clamp(x, -1, 1).backward(dy): [0, 2, 3, 4, 0].
  const inside = await exact(x, ["x"], clip(-1, 1), dy);
  assert.deepEqual(inside.y, [-1, -1, 0, 1, 1]);
  assert.deepEqual(inside.grads.x, [0, 2, 3, 4, 0]);
  // min > max: every output is max and the gradient is 0 everywhere (torch.clamp(x, 1, -1)).
  const crossed = await exact(x, ["x"], clip(1, -1), dy);
  assert.deepEqual(crossed.y, [-1, -1, -1, -1, -1]);
  assert.deepEqual(crossed.grads.x, [0, 0, 0, 0, 0]);
  // One-element [1] bounds on a rank-0 input: the gradient keeps the input's shape.
  const one = (b: GraphBuilder, v: number) =>
    b.constant({ dtype: "float64", shape: [1], data: Float64Array.of(v) });
  const scalar = await exact(
    { x: { dims: [], data: [1] } },
    ["x"],
    (b, v) => b.op1("Clip", [v.x, one(b, -1), one(b, 1)]),
    [7],
  );
  assert.deepEqual(scalar, { y: [1], grads: { x: [7] } });
  // The bounds get no gradient, even as graph inputs.
  const b = createGraphBuilder();
  const v = b.input("x", { dtype: "float64", shape: [5] });
  const lo = b.input("lo", { dtype: "float64", shape: [] });
  const loss = b.op1("ReduceSum", [b.op1("Clip", [v, lo, null])], { keepdims: 0 });
  const [gx, glo] = differentiate(b, loss, [v, lo]);
  assert.ok(gx);
  assert.equal(glo, null);
});

// ---- HardSigmoid, HardSwish, Softplus (onnxruntime's CPU kernels are float32 only) ----

const hardSigmoidRef = (v: number, alpha: number, beta: number) =>
  Math.max(0, Math.min(1, f32(f32(f32(alpha) * v) + f32(beta))));

Deno.test("HardSigmoid forward and exact gradient at the edges (strict, as PyTorch)", async () => {
  const xs = [-4, -3, -2.5, -2.4, -1, 0, 1, 2.4, 2.5, 3, 4];
  const dy = xs.map((_, i) => i + 1);
  const x = { x: { dims: [xs.length], data: xs, dtype: "float32" as const } };
  // Defaults alpha 0.2, beta 0.5: the edges are x = ±2.5, where the gradient is 0.
  const def = await exact(x, ["x"], unary("HardSigmoid"), dy);
  // onnxruntime's float32 kernel may round alpha·x + beta differently inside; the edges are exact.
  assertClose(def.y, xs.map((v) => hardSigmoidRef(v, 0.2, 0.5)), 1e-6);
  assert.deepEqual([...def.y.slice(0, 3), ...def.y.slice(-3)], [0, 0, 0, 1, 1, 1]);
  const a = f32(0.2);
  assert.deepEqual(def.grads.x, xs.map((v, i) => (Math.abs(v) < 2.5 ? f32(a * dy[i]) : 0)));
  // alpha 1/6 is PyTorch's hardsigmoid: 0 at ±3, 1/6 strictly inside (hardsigmoid_backward).
  const six = await exact(x, ["x"], unary("HardSigmoid", { alpha: 1 / 6, beta: 0.5 }), dy);
  assertClose(six.y, xs.map((v) => hardSigmoidRef(v, 1 / 6, 0.5)), 1e-6);
  assert.deepEqual(six.y.slice(0, 2), [0, 0]);
  assert.deepEqual(six.y.slice(-2), [1, 1]);
  const s = f32(1 / 6);
  assert.deepEqual(six.grads.x, xs.map((v, i) => (Math.abs(v) < 3 ? f32(s * dy[i]) : 0)));
});

Deno.test("HardSwish forward at ±3 and exact gradient at the kinks (PyTorch 2.13)", async () => {
  const xs = [-4, -3, -2.9, -1.5, 0, 1.5, 2.9, 3, 4];
  const dy = xs.map((_, i) => i + 1);
  const x = { x: { dims: [xs.length], data: xs, dtype: "float32" as const } };
  const { y, grads } = await exact(x, ["x"], unary("HardSwish"), dy);
  const ref = xs.map((v) => v * Math.max(0, Math.min(1, v / 6 + 0.5)));
  assertClose(y, ref, 1e-6);
  assert.equal(y[1] + 0, 0); // exactly 0 at −3 (possibly −0)
  assert.equal(y[7], 3); // exactly x at 3
  // torch.nn.functional.hardswish backward: 0 where x ≤ −3, dy·(x/3 + 1/2) inside, dy where x ≥ 3.
  const grad = xs.map((v, i) => (v <= -3 ? 0 : v >= 3 ? dy[i] : dy[i] * (v / 3 + 0.5)));
  assertClose(grads.x, grad, 1e-5);
  assert.deepEqual([grads.x[0], grads.x[1], grads.x[7], grads.x[8]], [0, 0, 8, 9]);
});

Deno.test("Softplus forward against log(1 + exp(x))", async () => {
  const xs = [-20, -3, -0.5, 0, 0.5, 3, 15];
  const { y, dims } = await forward(
    { x: { dims: [7], data: xs, dtype: "float32" } },
    unary("Softplus"),
  );
  assert.deepEqual(dims, [7]);
  assertClose(y, xs.map((v) => Math.log1p(Math.exp(v))), 2e-6);
  assertClose(y.slice(-1), [15], 1e-5);
});

Deno.test("HardSigmoid, HardSwish, Softplus gradients vs finite differences (float32)", async () => {
  const cases: [
    string,
    (b: GraphBuilder, v: Readonly<Record<string, Value>>) => Value,
    number[],
  ][] = [
    ["HardSigmoid", unary("HardSigmoid"), [-2.5, 2.5]],
    ["HardSigmoid alpha 0.3 beta 0.4", unary("HardSigmoid", { alpha: 0.3, beta: 0.4 }), [
      -4 / 3,
      2,
    ]],
    ["HardSwish", unary("HardSwish"), [-3, 3]],
    ["Softplus", unary("Softplus"), []],
  ];
  for (const [name, f, kinks] of cases) {
    await checkGradients({
      dtype: "float32",
      inputs: { x: { shape: [4, 5], sample: avoiding(-5, 5, kinks, 0.1) } },
      wrt: ["x"],
      build: f,
    }).catch((e) => {
      throw new Error(`${name}: ${e.message}`);
    });
  }
});

// ---- Mod ----

const pyMod = (a: number, b: number) => ((a % b) + b) % b;

Deno.test("Mod on int64 with negative operands: fmod 0 takes the divisor's sign, fmod 1 the dividend's", async () => {
  const a = [-7, 7, -7, 7, 6, -6];
  const d = [3, 3, -3, -3, 3, -3];
  const inputs = {
    a: { dims: [6], data: a, dtype: "int64" as const },
    d: { dims: [6], data: d, dtype: "int64" as const },
  };
  const run = (fmod: number) => forward(inputs, (b, v) => b.op1("Mod", [v.a, v.d], { fmod }));
  const py = await run(0);
  assert.deepEqual(py.y, [2, 1, -1, -2, 0, 0]); // Python: -7 % 3 == 2
  assert.deepEqual(py.y, a.map((v, i) => pyMod(v, d[i]) + 0));
  const c = await run(1);
  assert.deepEqual(c.y, [-1, 1, -1, 1, 0, 0]); // C: fmod(-7, 3) == -1
  assert.deepEqual(c.y, a.map((v, i) => (v % d[i]) + 0));
  // Broadcasting [2, 3] by [3], int32, default fmod 0.
  const bc = await forward(
    {
      a: { dims: [2, 3], data: [-7, 8, 5, 7, -8, -5], dtype: "int32" },
      d: { dims: [3], data: [3, -3, 2], dtype: "int32" },
    },
    (b, v) => b.op1("Mod", [v.a, v.d]),
  );
  assert.deepEqual(bc.dims, [2, 3]);
  assert.deepEqual(bc.shape, [2, 3]);
  assert.deepEqual(bc.y, [2, -1, 1, 1, -2, 1]);
});

const MOD_A = [-2.3, -0.7, 0.4, 1.6, 2.9, -1.1];
const MOD_D = [0.9, -1.3, 0.75];

Deno.test("Mod on floats (fmod 1): forward and gradients vs finite differences", async () => {
  const { y, dims } = await forward(
    { a: { dims: [2, 3], data: MOD_A }, d: { dims: [3], data: MOD_D } },
    (b, v) => b.op1("Mod", [v.a, v.d], { fmod: 1 }),
  );
  assert.deepEqual(dims, [2, 3]);
  assertClose(y, MOD_A.map((v, i) => v % MOD_D[i % 3]), 1e-15);
  // Fixed points where A/B is far from an integer (the jumps of A mod B).
  await checkGradients({
    inputs: { a: { shape: [2, 3], data: MOD_A }, d: { shape: [3], data: MOD_D } },
    wrt: ["a", "d"],
    build: (b, v) => b.op1("Mod", [v.a, v.d], { fmod: 1 }),
  });
  await checkGradients({
    dtype: "float32",
    inputs: { a: { shape: [2, 3], data: MOD_A }, d: { shape: [3], data: MOD_D } },
    wrt: ["a", "d"],
    build: (b, v) => b.op1("Mod", [v.a, v.d], { fmod: 1 }),
  });
});

Deno.test("Mod gradient by hand: dA = dy, dB = −dy·trunc(A/B), as torch.fmod", async () => {
  // torch.fmod([-7.5, 7.5, -7.5], [2, 2, -2]).backward(ones): other.grad == [3, -3, -3].
  const { y, grads } = await exact(
    { a: { dims: [3], data: [-7.5, 7.5, -7.5] }, d: { dims: [3], data: [2, 2, -2] } },
    ["a", "d"],
    (b, v) => b.op1("Mod", [v.a, v.d], { fmod: 1 }),
    [1, 1, 2],
  );
  assert.deepEqual(y, [-1.5, 1.5, -1.5]);
  assert.deepEqual(grads.a, [1, 1, 2]);
  assert.deepEqual(grads.d, [3, -3, -6]);
});

// ---- IsNaN, IsInf ----

Deno.test("IsNaN and IsInf on NaN and ±Inf, with detect_negative / detect_positive", async () => {
  const xs = [NaN, Infinity, -Infinity, 0, -1.5, 1e30];
  for (const dtype of ["float32", "float64"] as const) {
    const x = { x: { dims: [2, 3], data: xs, dtype } };
    const run = (op: "IsNaN" | "IsInf", attrs?: Attrs) => forward(x, unary(op, attrs));
    const nan = await run("IsNaN");
    assert.deepEqual(nan.y, [1, 0, 0, 0, 0, 0], dtype);
    assert.deepEqual(nan.dims, [2, 3]);
    assert.deepEqual((await run("IsInf")).y, [0, 1, 1, 0, 0, 0], dtype);
    assert.deepEqual((await run("IsInf", { detect_negative: 0 })).y, [0, 1, 0, 0, 0, 0], dtype);
    assert.deepEqual((await run("IsInf", { detect_positive: 0 })).y, [0, 0, 1, 0, 0, 0], dtype);
  }
  const b = createGraphBuilder();
  const v = b.input("x", { dtype: "float32", shape: ["N", 3] });
  assert.deepEqual(b.op1("IsNaN", [v]).type, { dtype: "bool", shape: ["N", 3] });
});

// ---- Sin, Cos ----

Deno.test("Sin and Cos forward, exact gradients at 0 and π/2, finite differences", async () => {
  const xs = [0, Math.PI / 2, -1, 2.5];
  const x = { x: { dims: [4], data: xs } };
  const dy = [1, 2, 3, 4];
  const sin = await exact(x, ["x"], unary("Sin"), dy);
  assertClose(sin.y, xs.map(Math.sin), 1e-15);
  assertClose(sin.grads.x, xs.map((v, i) => dy[i] * Math.cos(v)), 1e-15);
  assert.equal(sin.grads.x[0], 1);
  const cos = await exact(x, ["x"], unary("Cos"), dy);
  assertClose(cos.y, xs.map(Math.cos), 1e-15);
  assertClose(cos.grads.x, xs.map((v, i) => -dy[i] * Math.sin(v)), 1e-15);
  assert.equal(cos.grads.x[1], -2);
  for (const op of ["Sin", "Cos"] as const) {
    await checkGradients({
      inputs: { x: { shape: [3, 4], sample: (r) => 8 * r.nextFloat() - 4 } },
      wrt: ["x"],
      build: unary(op),
    });
  }
});

// ---- Floor, Ceil, Round ----

Deno.test("Floor, Ceil, Round forward (Round: half to even)", async () => {
  const xs = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 1.2, -1.7];
  for (const dtype of ["float32", "float64"] as const) {
    const x = { x: { dims: [8], data: xs, dtype } };
    const plus0 = (v: number[]) => v.map((e) => e + 0);
    assert.deepEqual(plus0((await forward(x, unary("Floor"))).y), xs.map(Math.floor));
    assert.deepEqual(plus0((await forward(x, unary("Ceil"))).y), plus0(xs.map(Math.ceil)));
    assert.deepEqual(plus0((await forward(x, unary("Round"))).y), [-2, -2, 0, 0, 2, 2, 1, -2]);
  }
});

Deno.test("Floor, Ceil, Round gradients are zeros, as PyTorch's", async () => {
  const x = { x: { dims: [2, 2], data: [-1.5, 0.2, 0.5, 2.7] } };
  const dy = [1, 2, 3, 4];
  for (const op of ["Floor", "Ceil", "Round"] as const) {
    assert.deepEqual((await exact(x, ["x"], unary(op), dy)).grads.x, [0, 0, 0, 0], op);
    // A path through the step adds 0: d(x + floor(x)) = dy.
    const sum = await exact(x, ["x"], (b, v) => b.op1("Add", [v.x, b.op1(op, [v.x])]), dy);
    assert.deepEqual(sum.grads.x, dy, op);
  }
  await checkGradients({
    inputs: { x: { shape: ["N", 3], sample: awayFromZero(0.1, 0.4) } },
    wrt: ["x"],
    build: (b, v) => b.op1("Mul", [v.x, b.op1("Round", [v.x])]),
    runs: [{ x: [2, 3] }],
  });
});

// ---- shape-rule errors ----

Deno.test("shape rules name the op and the offending dtype or shape", () => {
  const b = createGraphBuilder();
  const i64 = b.input("i", { dtype: "int64", shape: [3] });
  const f64 = b.input("f", { dtype: "float64", shape: [3] });
  const f32v = b.input("g", { dtype: "float32", shape: [3] });
  const flag = b.input("m", { dtype: "bool", shape: [3] });
  for (const op of ["HardSigmoid", "HardSwish", "Softplus", "Sin", "Floor", "IsNaN"] as const) {
    assertThrowsMatch(
      () => b.op1(op, [i64]),
      CompileError,
      `${op} expects a float input, got int64`,
    );
  }
  assertThrowsMatch(
    () => b.op1("Mod", [f64, f64]),
    CompileError,
    /^Mod on float64 needs fmod=1 .*onnxruntime.*got fmod=0$/,
  );
  assertThrowsMatch(
    () => b.op1("Mod", [f64, f32v], { fmod: 1 }),
    CompileError,
    "Mod expects inputs of one dtype, got float64 and float32",
  );
  assertThrowsMatch(
    () => b.op1("Mod", [i64, b.input("j", { dtype: "int64", shape: [4] })]),
    CompileError,
    /^Mod/,
  );
  assertThrowsMatch(
    () => b.op1("Clip", [flag]),
    CompileError,
    "Clip expects a numeric input, got bool",
  );
  assertThrowsMatch(
    () => b.op1("Clip", [f64, null, b.scalar(1)]),
    CompileError,
    "Clip expects max of the input's dtype float64, got float32",
  );
  assertThrowsMatch(
    () => b.op1("Clip", [f64, f64]),
    CompileError,
    "Clip expects min to be a scalar, got [3]",
  );
});
