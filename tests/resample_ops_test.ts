/**
 * Resize, InstanceNormalization and groupNormalization: forward values against onnxruntime and
 * references computed here (PyTorch's `group_norm` numbers pasted in), gradients against central
 * finite differences, and the messages of refused forms.
 *
 * Resize's forward is checked as "onnxruntime's Resize equals X contracted with
 * {@linkcode resizeMatrix}'s matrices along each spatial axis" for every mode, coordinate mode and
 * nearest rounding handled: that proves the matrices the gradient uses are the ones onnxruntime
 * applies. onnxruntime's CPU Resize and InstanceNormalization are float32 only; Resize is linear
 * in X, so a central difference with a large step is exact up to float32 rounding.
 */
import { createGraphBuilder, type GraphBuilder } from "../src/ir/builder.ts";
import { CompileError } from "../src/ir/errors.ts";
import {
  type CoordinateMode,
  groupNormalization,
  type NearestMode,
  resizeMatrix,
  type ResizeMode,
} from "../src/ir/ops/resample.ts";
import type { Attrs, Shape, Value } from "../src/ir/types.ts";
import { createRng } from "../src/util/random.ts";
import { assert, assertClose, assertThrowsMatch } from "./_assert.ts";
import {
  buildGraph,
  checkGradients,
  countOps,
  type GradCheckSpec,
  product,
  runGraph,
  tensor,
  values,
} from "./_harness.ts";

/** Float32-representable uniform values in [-1, 1) from a seed. */
function randoms(n: number, seed: number): number[] {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => Math.fround(2 * rng.nextFloat() - 1));
}

const f32 = (b: GraphBuilder, shape: number[], data: number[]) =>
  b.constant({ dtype: "float32", shape, data: Float32Array.from(data) });

/** How a test Resize gets its output size. */
type Target = { scales: number[] } | { sizes: number[] };

/** Resize(X, roi "", scales | "", sizes | "") in the opset 13 form. */
function resize(b: GraphBuilder, x: Value, target: Target, attrs: Attrs): Value {
  if ("scales" in target) {
    return b.op1("Resize", [x, null, f32(b, [target.scales.length], target.scales)], attrs);
  }
  return b.op1("Resize", [x, null, null, b.ints(target.sizes)], attrs);
}

/** X [*lead, *spatial] contracted with one matrix per spatial axis (row-major out × in). */
function contractAll(
  x: readonly number[],
  dims: readonly number[],
  mats: readonly { a: Float64Array; out: number }[],
): { y: number[]; dims: number[] } {
  let cur = [...x], curDims = [...dims];
  mats.forEach(({ a, out }, i) => {
    const axis = i + 2, inSize = curDims[axis];
    const outer = product(curDims.slice(0, axis)), inner = product(curDims.slice(axis + 1));
    const next = new Array<number>(outer * out * inner).fill(0);
    for (let p = 0; p < outer; p++) {
      for (let o = 0; o < out; o++) {
        for (let k = 0; k < inSize; k++) {
          const w = a[o * inSize + k];
          if (w === 0) continue;
          for (let q = 0; q < inner; q++) {
            next[(p * out + o) * inner + q] += w * cur[(p * inSize + k) * inner + q];
          }
        }
      }
    }
    cur = next;
    curDims = curDims.map((d, j) => (j === axis ? out : d));
  });
  return { y: cur, dims: curDims };
}

/** Runs Resize through onnxruntime and compares with X contracted with resizeMatrix's matrices. */
async function checkResizeForward(
  dims: number[],
  target: Target,
  mode: ResizeMode,
  coordinates: CoordinateMode,
  nearest: NearestMode,
) {
  const attrs = { mode, coordinate_transformation_mode: coordinates, nearest_mode: nearest };
  const x = randoms(product(dims), product(dims));
  const graph = buildGraph("resize", (b) => {
    b.output("y", resize(b, b.input("x", { dtype: "float32", shape: dims }), target, attrs));
  });
  const out = await runGraph(graph, { x: tensor("float32", dims, x) });
  const spatial = dims.slice(2);
  const outSizes = "sizes" in target
    ? target.sizes.slice(2)
    : spatial.map((d, i) => Math.floor(Math.fround(Math.fround(target.scales[i + 2]) * d)));
  const mats = spatial.map((d, i) => {
    const scale = "sizes" in target ? outSizes[i] / d : target.scales[i + 2];
    return { a: resizeMatrix(mode, coordinates, nearest, d, outSizes[i], scale), out: outSizes[i] };
  });
  const ref = contractAll(x, dims, mats);
  const what = `${mode} ${coordinates} ${nearest} ${JSON.stringify(target)} on [${dims}]`;
  assert.deepEqual([...out.y.dims], ref.dims, what);
  assertClose(values(out.y), ref.y, 1e-6, what);
}

const COORDINATES: CoordinateMode[] = [
  "half_pixel",
  "pytorch_half_pixel",
  "asymmetric",
  "align_corners",
];
const NEAREST: NearestMode[] = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"];

// ---- Resize ----

Deno.test("resizeMatrix: hand-computed rows", () => {
  const m = (...a: Parameters<typeof resizeMatrix>) => Array.from(resizeMatrix(...a));
  // Linear, half_pixel, 2 → 4: coordinates −0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
  assert.deepEqual(m("linear", "half_pixel", "floor", 2, 4, 2), [
    1,
    0,
    0.75,
    0.25,
    0.25,
    0.75,
    0,
    1,
  ]);
  // Linear, align_corners, 3 → 5: coordinates 0, 0.5, 1, 1.5, 2.
  // deno-fmt-ignore
  assert.deepEqual(m("linear", "align_corners", "floor", 3, 5, 5 / 3), [
    1, 0, 0,  0.5, 0.5, 0,  0, 1, 0,  0, 0.5, 0.5,  0, 0, 1,
  ]);
  // Nearest, asymmetric, 3 → 6: coordinates o/2 floored by round_prefer_floor's ties: 0,0,1,1,2,2.
  // deno-fmt-ignore
  assert.deepEqual(m("nearest", "asymmetric", "round_prefer_floor", 3, 6, 2), [
    1, 0, 0,  1, 0, 0,  0, 1, 0,  0, 1, 0,  0, 0, 1,  0, 0, 1,
  ]);
  // Nearest, half_pixel, 4 → 2: coordinates 0.5 and 2.5, ties either way.
  assert.deepEqual(m("nearest", "half_pixel", "round_prefer_floor", 4, 2, 0.5), [
    1,
    0,
    0,
    0,
    0,
    0,
    1,
    0,
  ]);
  assert.deepEqual(m("nearest", "half_pixel", "round_prefer_ceil", 4, 2, 0.5), [
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    1,
  ]);
  // pytorch_half_pixel to a single output reads coordinate 0; half_pixel reads the middle.
  assert.deepEqual(m("linear", "pytorch_half_pixel", "floor", 3, 1, 1 / 3), [1, 0, 0]);
  assert.deepEqual(m("linear", "half_pixel", "floor", 3, 1, 1 / 3), [0, 1, 0]);
});

Deno.test("Resize forward: onnxruntime equals X contracted with the matrices, every mode", async () => {
  const targets: [number[], Target][] = [
    [[2, 3, 3, 4], { scales: [1, 1, 2, 0.5] }],
    [[1, 2, 5, 2], { scales: [1, 1, 1.7, 2.5] }],
    [[1, 2, 4, 4], { scales: [1, 1, 0.75, 1 / 3] }],
    [[1, 2, 3, 4], { sizes: [1, 2, 7, 3] }],
    [[1, 1, 1, 3], { sizes: [1, 1, 2, 1] }],
  ];
  for (const [dims, target] of targets) {
    for (const coordinates of COORDINATES) {
      await checkResizeForward(dims, target, "linear", coordinates, "round_prefer_floor");
      for (const nearest of NEAREST) {
        await checkResizeForward(dims, target, "nearest", coordinates, nearest);
      }
    }
  }
  // 1-D and 3-D spatial.
  for (const mode of ["linear", "nearest"] as const) {
    await checkResizeForward([2, 3, 5], { scales: [1, 1, 1.6] }, mode, "half_pixel", "floor");
    await checkResizeForward(
      [1, 2, 3, 4, 5],
      { sizes: [1, 2, 6, 2, 8] },
      mode,
      "align_corners",
      "round_prefer_ceil",
    );
  }
});

Deno.test("Resize shape rule: floor(in · scale), sizes, empty optional inputs", () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float32", shape: ["N", 3, 5, 7] });
  // 7 · 1.5 = 10.5 → 10.
  assert.deepEqual(resize(b, x, { scales: [1, 1, 2, 1.5] }, {}).type, {
    dtype: "float32",
    shape: ["N", 3, 10, 10],
  });
  // sizes whose N is the symbolic batch, known as an importer's data propagation leaves it.
  const head = b.op1("Slice", [b.op1("Shape", [x]), b.ints([0]), b.ints([2])]);
  const [sizes] = b.op("Concat", [head, b.ints([8, 9])], { axis: 0 }, { known: ["N", 3, 8, 9] });
  assert.deepEqual(b.op1("Resize", [x, null, null, sizes]).type.shape, ["N", 3, 8, 9]);
  // Exporters write empty roi and scales tensors instead of leaving the inputs out.
  const empty = f32(b, [0], []);
  const x2 = b.input("x2", { dtype: "float32", shape: [2, 3, 5, 7] });
  assert.deepEqual(
    b.op1("Resize", [x2, empty, empty, b.ints([2, 3, 4, 4])]).type.shape,
    [2, 3, 4, 4],
  );
});

Deno.test("Resize with empty roi and scales tensors (as exporters write them) runs", async () => {
  const dims = [1, 2, 3, 2], x = randoms(12, 21);
  const graph = buildGraph("empty", (b) => {
    const empty = f32(b, [0], []);
    const xv = b.input("x", { dtype: "float32", shape: dims });
    b.output("y", b.op1("Resize", [xv, empty, empty, b.ints([1, 2, 2, 4])], { mode: "linear" }));
  });
  const out = await runGraph(graph, { x: tensor("float32", dims, x) });
  const mats = [[3, 2], [2, 4]].map(([i, o]) => ({
    a: resizeMatrix("linear", "half_pixel", "round_prefer_floor", i, o, o / i),
    out: o,
  }));
  assertClose(values(out.y), contractAll(x, dims, mats).y, 1e-6);
});

Deno.test("Resize: refused forms name the op and the values", () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float32", shape: ["N", 3, 4, 4] });
  const up = { scales: [1, 1, 2, 2] };
  assertThrowsMatch(
    () => resize(b, x, up, { mode: "cubic" }),
    CompileError,
    "Resize supports mode nearest, linear; got cubic",
  );
  assertThrowsMatch(
    () => resize(b, x, up, { coordinate_transformation_mode: "tf_crop_and_resize" }),
    CompileError,
    "Resize supports coordinate_transformation_mode half_pixel, pytorch_half_pixel, asymmetric, " +
      "align_corners; got tf_crop_and_resize",
  );
  assertThrowsMatch(
    () => resize(b, x, up, { nearest_mode: "round" }),
    CompileError,
    "Resize supports nearest_mode round_prefer_floor, round_prefer_ceil, floor, ceil; got round",
  );
  assertThrowsMatch(
    () => resize(b, x, { scales: [1, 2, 2, 2] }, {}),
    CompileError,
    "Resize resizes spatial axes only: scales [1,2,2,2] must be 1 on N and C",
  );
  assertThrowsMatch(
    () => resize(b, x, { sizes: [1, 3, 8, 8] }, {}),
    CompileError,
    "Resize resizes spatial axes only: sizes [1,3,8,8] must keep N and C of [N, 3, 4, 4]",
  );
  assertThrowsMatch(
    () => b.op1("Resize", [x, null, b.input("s", { dtype: "float32", shape: [4] })]),
    CompileError,
    "Resize expects scales to be a constant of 4 floats for input [N, 3, 4, 4]",
  );
  assertThrowsMatch(
    () => b.op1("Resize", [x, null, null, b.input("z", { dtype: "int64", shape: [4] })]),
    CompileError,
    "Resize expects sizes to be 4 values known at compile time for input [N, 3, 4, 4]",
  );
  assertThrowsMatch(
    () => b.op1("Resize", [x]),
    CompileError,
    "Resize expects exactly one of scales (input 2) and sizes (input 3)",
  );
  assertThrowsMatch(
    () => resize(b, x, { scales: [1, 1, 0.2, 1] }, {}),
    CompileError,
    "Resize would resize input [N, 3, 4, 4] to an empty spatial size [0,4]",
  );
  const free = b.input("free", { dtype: "float32", shape: [1, 3, "H", 4] });
  assertThrowsMatch(
    () => resize(b, free, up, {}),
    CompileError,
    "Resize needs static spatial dimensions, got input [1, 3, H, 4]",
  );
});

/** A float32 gradient check of one Resize (linear in X: exact central differences). */
function checkResizeGrad(
  shape: Shape,
  target: Target,
  attrs: Attrs,
  runs?: GradCheckSpec["runs"],
) {
  return checkGradients({
    dtype: "float32",
    h: 0.5,
    atol: 1e-4,
    rtol: 1e-4,
    inputs: { x: { shape } },
    wrt: ["x"],
    build: (b, v) => resize(b, v.x, target, attrs),
    ...(runs ? { runs } : {}),
  });
}

Deno.test("Resize gradient: every mode on both spatial axes, against finite differences", async () => {
  for (const coordinates of COORDINATES) {
    for (const mode of ["linear", "nearest"] as const) {
      const attrs = { mode, coordinate_transformation_mode: coordinates };
      const { graph } = await checkResizeGrad([1, 2, 3, 4], { scales: [1, 1, 1.7, 0.75] }, attrs);
      // One MatMul per resized axis; the last axis needs no Transpose.
      assert.equal(countOps(graph, "MatMul"), 2);
      assert.equal(countOps(graph, "Transpose"), 0);
    }
  }
  await checkResizeGrad([1, 2, 4, 5], { sizes: [1, 2, 2, 9] }, {
    mode: "nearest",
    coordinate_transformation_mode: "asymmetric",
    nearest_mode: "floor",
  });
});

Deno.test("Resize gradient: symbolic batch, 1-D, 3-D (a transposed axis), unit scales skipped", async () => {
  const linear = { mode: "linear" };
  await checkResizeGrad(["N", 2, 3, 3], { scales: [1, 1, 2, 2] }, linear, [
    { x: [1, 2, 3, 3] },
    { x: [3, 2, 3, 3] },
  ]);
  await checkResizeGrad([2, 3, 5], { scales: [1, 1, 1.6] }, linear);
  const three = await checkResizeGrad([1, 2, 3, 4, 2], { scales: [1, 1, 2, 0.5, 1.5] }, linear);
  assert.equal(countOps(three.graph, "MatMul"), 3);
  assert.equal(countOps(three.graph, "Transpose"), 2);
  // Scale 1 on the height: only the width's matrix is applied.
  const one = await checkResizeGrad([1, 2, 3, 4], { scales: [1, 1, 1, 2] }, linear);
  assert.equal(countOps(one.graph, "MatMul"), 1);
});

// ---- InstanceNormalization ----

/** The reference: per (n, c), (x − μ)/√(σ² + ε)·scale[c] + B[c] over the spatial axes. */
function instanceNormRef(
  x: readonly number[],
  dims: readonly number[],
  scale: readonly number[],
  bias: readonly number[],
  eps: number,
): number[] {
  const [N, C] = dims, s = product(dims.slice(2));
  const y: number[] = [];
  for (let nc = 0; nc < N * C; nc++) {
    const row = x.slice(nc * s, nc * s + s);
    const mean = row.reduce((a, v) => a + v, 0) / s;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / s;
    const c = nc % C;
    for (const v of row) y.push((v - mean) / Math.sqrt(variance + eps) * scale[c] + bias[c]);
  }
  return y;
}

Deno.test("InstanceNormalization forward: onnxruntime equals the reference", async () => {
  for (const dims of [[2, 3, 2, 3], [1, 2, 5]]) {
    const c = dims[1];
    const x = randoms(product(dims), 3), scale = randoms(c, 4), bias = randoms(c, 5);
    const graph = buildGraph("inorm", (b) => {
      const xv = b.input("x", { dtype: "float32", shape: ["N", ...dims.slice(1)] });
      b.output(
        "y",
        b.op1("InstanceNormalization", [xv, f32(b, [c], scale), f32(b, [c], bias)], {
          epsilon: 0.01,
        }),
      );
    });
    const out = await runGraph(graph, { x: tensor("float32", dims, x) });
    assertClose(values(out.y), instanceNormRef(x, dims, scale, bias, Math.fround(0.01)), 1e-5);
  }
});

Deno.test("InstanceNormalization gradient: finite differences (float32) for X, scale and B", async () => {
  const { grads } = await checkGradients({
    dtype: "float32",
    inputs: {
      x: { shape: ["N", 3, 2, 3] },
      scale: { shape: [3] },
      bias: { shape: [3] },
    },
    wrt: ["x", "scale", "bias"],
    build: (b, v) => b.op1("InstanceNormalization", [v.x, v.scale, v.bias], { epsilon: 1e-3 }),
    runs: [{ x: [2, 3, 2, 3] }],
  });
  assert.deepEqual([...grads.scale.dims], [3]);
});

Deno.test("InstanceNormalization gradient equals float64 autodiff of groupNormalization(G = C)", async () => {
  // The same function as a group norm with one channel per group, differentiated op by op in
  // float64 (itself checked against finite differences below): a tight check of the rule.
  const dims = [2, 3, 4];
  const x = randoms(24, 11), scale = randoms(3, 12), bias = randoms(3, 13), w = randoms(24, 14);
  const grad = async (dtype: "float32" | "float64", useOp: boolean) => {
    const { differentiate } = await import("../src/autodiff/differentiate.ts");
    const b = createGraphBuilder();
    const xv = b.input("x", { dtype, shape: dims });
    const sv = b.input("scale", { dtype, shape: [3] });
    const bv = b.input("bias", { dtype, shape: [3] });
    const y = useOp
      ? b.op1("InstanceNormalization", [xv, sv, bv], { epsilon: 1e-3 })
      : groupNormalization(b, xv, sv, bv, 3, Math.fround(1e-3), false);
    const wv = b.constant(
      dtype === "float64"
        ? { dtype, shape: dims, data: Float64Array.from(w) }
        : { dtype, shape: dims, data: Float32Array.from(w) },
    );
    const loss = b.op1("ReduceSum", [b.op1("Mul", [y, wv])], { keepdims: 0 });
    const gs = differentiate(b, loss, [xv, sv, bv]);
    gs.forEach((g, i) => b.output(`g${i}`, g!));
    const out = await runGraph(b.build("g"), {
      x: tensor(dtype, dims, x),
      scale: tensor(dtype, [3], scale),
      bias: tensor(dtype, [3], bias),
    });
    return [0, 1, 2].map((i) => values(out[`g${i}`]));
  };
  const [rule, reference] = [await grad("float32", true), await grad("float64", false)];
  rule.forEach((g, i) => assertClose(g, reference[i], 1e-4, `gradient ${i}`));
});

Deno.test("InstanceNormalization shape rule and refused inputs", () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float32", shape: ["N", 3, 4] });
  const s3 = b.input("s3", { dtype: "float32", shape: [3] });
  assert.deepEqual(b.op1("InstanceNormalization", [x, s3, s3]).type, x.type);
  const s4 = b.input("s4", { dtype: "float32", shape: [4] });
  assertThrowsMatch(
    () => b.op1("InstanceNormalization", [x, s4, s3]),
    CompileError,
    "InstanceNormalization expects scale float32[3] for input [N, 3, 4], got float32[4]",
  );
  const flat = b.input("flat", { dtype: "float32", shape: ["N", 3] });
  assertThrowsMatch(
    () => b.op1("InstanceNormalization", [flat, s3, s3]),
    CompileError,
    "InstanceNormalization expects an input of shape [N, C, *spatial], got [N, 3]",
  );
});

// ---- groupNormalization ----

/** x = ((7k mod 24) − 12)/8 as [2, 4, 3], pasted into PyTorch. */
const GN_X = Array.from({ length: 24 }, (_, k) => (((7 * k) % 24) - 12) / 8);

Deno.test("groupNormalization forward equals PyTorch's group_norm (per channel and per group)", async () => {
  // torch.nn.functional.group_norm(x, 2, w, b, 1e-5) in float64, with w = [0.5, -1, 2, 1.5],
  // b = [0.1, 0.2, -0.3, 0]; per group (opset 18's [G] scale and bias), w_g = [0.5, -2] and
  // b_g = [0.25, -0.5] repeated over each group's two channels.
  // deno-fmt-ignore
  const perChannel = [-0.593469034, -0.082491851, 0.428485332, -1.47892503, 1.002964145,
    -0.018990221, 1.454238901, -3.133770532, -1.244590177, 0.708442633, 2.125327899,
    -1.315679176, -0.009495111, 0.501482072, -0.739462515, 0.856970664, -0.164983702,
    -1.186938068, -2.16153976, 0.207692662, 2.576925083, -2.157693813, -0.380769496, 1.39615482];
  // deno-fmt-ignore
  const perGroup = [-0.443469034, 0.067508149, 0.578485332, 1.089462515, -0.151482072,
    0.359495111, -2.254238901, 2.333770532, 0.444590177, -1.444590177, -3.333770532, 1.254238901,
    0.140504889, 0.651482072, -0.589462515, -0.078485332, 0.432491851, 0.943469034, 1.36153976,
    -1.007692662, -3.376925083, 2.376925083, 0.007692662, -2.36153976];
  const cases = [
    { scalePerGroup: false, scale: [0.5, -1, 2, 1.5], bias: [0.1, 0.2, -0.3, 0], want: perChannel },
    { scalePerGroup: true, scale: [0.5, -2], bias: [0.25, -0.5], want: perGroup },
  ];
  for (const { scalePerGroup, scale, bias, want } of cases) {
    for (const dtype of ["float64", "float32"] as const) {
      const n = scale.length;
      const graph = buildGraph("gn", (b) => {
        const x = b.input("x", { dtype, shape: ["N", 4, 3] });
        const s = b.input("scale", { dtype, shape: [n] });
        const t = b.input("bias", { dtype, shape: [n] });
        const y = groupNormalization(b, x, s, t, 2, 1e-5, scalePerGroup);
        assert.deepEqual(y.type.shape, ["N", 4, 3]);
        b.output("y", y);
      });
      const out = await runGraph(graph, {
        x: tensor(dtype, [2, 4, 3], GN_X),
        scale: tensor(dtype, [n], scale),
        bias: tensor(dtype, [n], bias),
      });
      assertClose(
        values(out.y),
        want,
        dtype === "float64" ? 1e-8 : 1e-5,
        `${dtype} ${scalePerGroup}`,
      );
    }
  }
});

Deno.test("groupNormalization gradient: finite differences (float64), per channel and per group", async () => {
  for (const scalePerGroup of [false, true]) {
    const n = scalePerGroup ? 2 : 6;
    await checkGradients({
      inputs: { x: { shape: ["N", 6, 2, 2] }, scale: { shape: [n] }, bias: { shape: [n] } },
      wrt: ["x", "scale", "bias"],
      build: (b, v) => groupNormalization(b, v.x, v.scale, v.bias, 2, 1e-5, scalePerGroup),
      runs: [{ x: [1, 6, 2, 2] }, { x: [2, 6, 2, 2] }],
    });
  }
  // One channel per group: the reference for InstanceNormalization's rule above.
  await checkGradients({
    inputs: { x: { shape: [2, 3, 4] }, scale: { shape: [3] }, bias: { shape: [3] } },
    wrt: ["x", "scale", "bias"],
    build: (b, v) => groupNormalization(b, v.x, v.scale, v.bias, 3, 1e-3, false),
  });
});

Deno.test("groupNormalization: refused groups and scale shapes", () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float32", shape: ["N", 6, 4] });
  const s6 = b.input("s6", { dtype: "float32", shape: [6] });
  const s2 = b.input("s2", { dtype: "float32", shape: [2] });
  assertThrowsMatch(
    () => groupNormalization(b, x, s6, s6, 4, 1e-5, false),
    CompileError,
    "GroupNormalization expects a group count dividing a static channel count, got 4 groups " +
      "for input [N, 6, 4]",
  );
  assertThrowsMatch(
    () => groupNormalization(b, x, s6, s6, 2, 1e-5, true),
    CompileError,
    "GroupNormalization expects scale float32[2] (one per group) for input [N, 6, 4], got " +
      "float32[6]",
  );
  assertThrowsMatch(
    () => groupNormalization(b, x, s6, s2, 2, 1e-5, false),
    CompileError,
    "GroupNormalization expects bias float32[6] (one per channel) for input [N, 6, 4], got " +
      "float32[2]",
  );
});
