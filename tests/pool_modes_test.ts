/**
 * MaxPool and AveragePool with `ceil_mode` 1: shape rules, forward values against a reference
 * written here (and run through onnxruntime), PyTorch's numbers for the forms torchvision's
 * googlenet and squeezenet1_1 use, gradients against central finite differences, refused forms.
 *
 * The reference follows onnxruntime's CPU kernels, checked against them and PyTorch 2.13 over
 * every 1-D and 2-D geometry with input ≤ 8, kernel ≤ 4, stride ≤ 3, pads ≤ 2, dilation ≤ 2
 * while writing this: the output size is ⌈(in + pads − extent)/stride⌉ + 1, less one where the
 * last window would start at or past `in + pad_begin`; a window reads what it covers of the input;
 * AveragePool divides by the count inside the input, or with `count_include_pad` by the count
 * inside the padded input (so a window running past the end pad counts only up to it).
 */
import { createGraphBuilder } from "../src/ir/builder.ts";
import { CompileError } from "../src/ir/errors.ts";
import { OPS } from "../src/ir/ops/mod.ts";
import type { Attrs, Shape } from "../src/ir/types.ts";
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
import { createRng } from "../src/util/random.ts";

/** A pool's geometry, 1-D or 2-D, in ONNX's attribute layout. */
interface Pool {
  readonly kernel: readonly number[];
  readonly strides?: readonly number[];
  readonly pads?: readonly number[];
  readonly dilations?: readonly number[];
  readonly countIncludePad?: boolean;
}

/** ONNX attributes of a ceil-mode pool. */
function attrsOf(p: Pool): Attrs {
  return {
    kernel_shape: p.kernel,
    ceil_mode: 1,
    ...(p.strides ? { strides: p.strides } : {}),
    ...(p.pads ? { pads: p.pads } : {}),
    ...(p.dilations ? { dilations: p.dilations } : {}),
    ...(p.countIncludePad !== undefined ? { count_include_pad: p.countIncludePad ? 1 : 0 } : {}),
  };
}

/** Per axis: the ceil-mode output size and, per output, the start of its window. */
function ceilAxis(input: number, k: number, s: number, pb: number, pe: number, d: number) {
  let out = Math.ceil((input + pb + pe - d * (k - 1) - 1) / s) + 1;
  if ((out - 1) * s >= input + pb) out--;
  return { out, starts: Array.from({ length: out }, (_, o) => o * s - pb) };
}

/** MaxPool (values, whole-tensor indices, first maximum on ties) or AveragePool, ceil mode. */
function poolRef(kind: "max" | "avg", x: readonly number[], dims: readonly number[], p: Pool) {
  const n = dims.length - 2;
  const [N, C] = dims;
  const sp = dims.slice(2);
  const axes = sp.map((input, i) => {
    const s = p.strides?.[i] ?? 1, d = p.dilations?.[i] ?? 1, k = p.kernel[i];
    const pb = p.pads?.[i] ?? 0, pe = p.pads?.[n + i] ?? 0;
    const { out, starts } = ceilAxis(input, k, s, pb, pe, d);
    const reads = starts.map((st) =>
      Array.from({ length: k }, (_, t) => st + t * d).filter((at) => at >= 0 && at < input)
    );
    const padded = starts.map((st) => Math.min(st + k, input + pe) - st);
    return { out, reads, padded };
  });
  const [a, b] = n === 1 ? [null, axes[0]] : axes;
  const [H, W] = n === 1 ? [1, sp[0]] : sp;
  const rowsOf = (o: number) => (a ? a.reads[o] : [0]);
  const y: number[] = [], indices: number[] = [];
  for (let nc = 0; nc < N * C; nc++) {
    for (let oh = 0; oh < (a ? a.out : 1); oh++) {
      for (let ow = 0; ow < b.out; ow++) {
        let best = -Infinity, arg = -1, sum = 0, count = 0;
        for (const ih of rowsOf(oh)) {
          for (const iw of b.reads[ow]) {
            const at = (nc * H + ih) * W + iw;
            if (x[at] > best) [best, arg] = [x[at], at];
            sum += x[at];
            count++;
          }
        }
        const divisor = p.countIncludePad ? (a ? a.padded[oh] : 1) * b.padded[ow] : count;
        y.push(kind === "max" ? best : sum / divisor);
        indices.push(arg);
      }
    }
  }
  return { y, indices, dims: [N, C, ...axes.map((ax) => ax.out)] };
}

/** Distinct values (k·7919 mod 10007, scaled): no ties, and a step of ±0.25 moves no maximum. */
function distinct(count: number, offset = 0): number[] {
  return Array.from({ length: count }, (_, k) => (((k + offset) * 7919) % 10007) / 8 - 625);
}

/** Runs one ceil-mode pool through onnxruntime and compares with {@linkcode poolRef}. */
async function checkForward(
  op: "MaxPool" | "AveragePool",
  dtype: "float32" | "float64",
  dims: number[],
  p: Pool,
) {
  const rng = createRng(product(dims));
  const x = Array.from({ length: product(dims) }, () => Math.fround(2 * rng.nextFloat() - 1));
  const graph = buildGraph(op, (b) => {
    const xv = b.input("x", { dtype, shape: dims });
    const outs = b.op(op, [xv], attrsOf(p), { outputs: op === "MaxPool" ? 2 : 1 });
    b.output("y", outs[0]);
    if (outs[1]) b.output("indices", outs[1]);
  });
  const out = await runGraph(graph, { x: tensor(dtype, dims, x) });
  const ref = poolRef(op === "MaxPool" ? "max" : "avg", x, dims, p);
  const what = `${op} ${JSON.stringify(p)} on [${dims}]`;
  assert.deepEqual([...out.y.dims], ref.dims, what);
  assertClose(values(out.y), ref.y, 1e-6, what);
  if (out.indices) assert.deepEqual(values(out.indices), ref.indices, what);
}

/** A gradient check of a ceil-mode MaxPool at a tie-free point. */
function checkMaxGrad(
  dtype: "float32" | "float64",
  shape: Shape,
  p: Pool,
  outputs: 1 | 2,
  runs?: GradCheckSpec["runs"],
) {
  let k = 0;
  return checkGradients({
    dtype,
    ...(dtype === "float32" ? { h: 0.25, atol: 2e-3, rtol: 1e-4 } : { h: 1e-3 }),
    inputs: { x: { shape, sample: () => distinct(1, k++)[0] } },
    wrt: ["x"],
    build: (b, v) => b.op("MaxPool", [v.x], attrsOf(p), { outputs })[0],
    ...(runs ? { runs } : {}),
  });
}

/**
 * A float32 gradient check of a ceil-mode AveragePool: linear in X, so a central difference with
 * a large step is exact up to float32 rounding.
 */
function checkAvgGrad(shape: Shape, p: Pool, runs?: GradCheckSpec["runs"]) {
  return checkGradients({
    dtype: "float32",
    h: 0.5,
    atol: 1e-4,
    rtol: 1e-4,
    inputs: { x: { shape } },
    wrt: ["x"],
    build: (b, v) => b.op1("AveragePool", [v.x], attrsOf(p)),
    ...(runs ? { runs } : {}),
  });
}

// ---- shape rules ----

Deno.test("Ceil-mode pool shapes: googlenet's and squeezenet1_1's, and the last-window rule", () => {
  const b = createGraphBuilder();
  const shapeOf = (dims: Shape, p: Pool, op: "MaxPool" | "AveragePool" = "MaxPool") =>
    b.op1(
      op,
      [b.input(`x${b.nodes.length}_${dims.join("_")}`, { dtype: "float32", shape: dims })],
      attrsOf(p),
    )
      .type.shape;
  const k3s2 = { kernel: [3, 3], strides: [2, 2] };
  // googlenet: 112 → 56 (55 without ceil_mode), 56 → 28, 28 → 14, 2×2/2 on 14 → 7; its
  // inception branch 3×3/1/pad 1 keeps 28. squeezenet1_1: 111 → 55, 55 → 27, 27 → 13. These are
  // PyTorch's sizes (max_pool2d with ceil_mode=True) and onnxruntime's.
  assert.deepEqual(shapeOf(["N", 64, 112, 112], k3s2), ["N", 64, 56, 56]);
  assert.deepEqual(shapeOf(["N", 192, 56, 56], k3s2), ["N", 192, 28, 28]);
  assert.deepEqual(shapeOf(["N", 480, 28, 28], k3s2), ["N", 480, 14, 14]);
  assert.deepEqual(shapeOf(["N", 832, 14, 14], { kernel: [2, 2], strides: [2, 2] }), [
    "N",
    832,
    7,
    7,
  ]);
  assert.deepEqual(
    shapeOf(["N", 192, 28, 28], { kernel: [3, 3], pads: [1, 1, 1, 1] }),
    ["N", 192, 28, 28],
  );
  for (const [i, o] of [[111, 55], [55, 27], [27, 13]]) {
    assert.deepEqual(shapeOf([1, 64, i, i], k3s2), [1, 64, o, o]);
  }
  // A window that starts in the left padding and runs past the end pad is kept: 9 + 2 − 3 = 8,
  // ⌈8/3⌉ + 1 = 4 windows, the last at 8 reading position 8 only.
  assert.deepEqual(shapeOf([1, 1, 9], { kernel: [3], strides: [3], pads: [1, 1] }), [1, 1, 4]);
});

Deno.test("Ceil-mode pools: refused forms name the op and the values", () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float32", shape: [1, 1, 1] });
  assertThrowsMatch(
    () => b.op1("MaxPool", [x], { kernel_shape: [1], ceil_mode: 2 }),
    CompileError,
    "MaxPool supports ceil_mode 0 or 1, got 2",
  );
  assertThrowsMatch(
    () => b.op1("AveragePool", [x], { kernel_shape: [1], ceil_mode: -1 }),
    CompileError,
    "AveragePool supports ceil_mode 0 or 1, got -1",
  );
  // ⌈(6 + 4 − 3)/2⌉ + 1 = 5, but window 4 would start at 8 − 2 = 6, past the input: onnxruntime's
  // kernel (and PyTorch) give 4 windows, onnx 1.23's shape inference 5, and onnxruntime then
  // refuses to load a graph where a later node meets the size 4.
  const x6 = b.input("x6", { dtype: "float32", shape: [1, 1, 6] });
  assertThrowsMatch(
    () =>
      b.op1("AveragePool", [x6], { kernel_shape: [3], strides: [2], pads: [2, 2], ceil_mode: 1 }),
    CompileError,
    "AveragePool with ceil_mode 1 on input [1, 1, 6] (kernel [3], strides [2], pads [2,2]) would " +
      "have a last window on spatial axis 0 starting in the end padding: onnxruntime's kernel " +
      "drops it (4 outputs) but onnx's shape inference keeps it (5), so onnxruntime cannot load " +
      "the graph",
  );
  // 1×1/3 on 5: windows at 0 and 3; a third would start at 6.
  const x5 = b.input("x5", { dtype: "float32", shape: [1, 1, 5] });
  assertThrowsMatch(
    () => b.op1("MaxPool", [x5], { kernel_shape: [1], strides: [3], ceil_mode: 1 }),
    CompileError,
    /^MaxPool with ceil_mode 1 on input \[1, 1, 5\] .* drops it \(2 outputs\) but .* keeps it \(3\)/,
  );
  // Kernel 2 dilated by 2 at -1 reads positions -1 and 1 of a 1-long input: padding only.
  assertThrowsMatch(
    () =>
      b.op1("MaxPool", [x], {
        kernel_shape: [2],
        dilations: [2],
        pads: [1, 1],
        ceil_mode: 1,
      }),
    CompileError,
    "MaxPool window 0 on spatial axis 0 reads only padding (input [1, 1, 1], kernel [2], " +
      "dilations [2], pads [1,1])",
  );
});

// ---- forward ----

Deno.test("Ceil-mode MaxPool forward: values and indices against the reference", async () => {
  const cases: [number[], Pool][] = [
    [[2, 2, 6, 7], { kernel: [3, 3], strides: [2, 2] }], // googlenet's form, overhanging
    [[1, 2, 5, 5], { kernel: [2, 2], strides: [2, 2] }],
    [[1, 1, 8, 7], { kernel: [3, 2], strides: [2, 3], pads: [1, 0, 1, 1] }],
    [[1, 2, 9, 7], { kernel: [2, 3], strides: [3, 2], dilations: [2, 1], pads: [1, 1, 1, 0] }],
    [[2, 1, 9], { kernel: [3], strides: [3], pads: [1, 1] }], // last window past the end pad
  ];
  for (const [dims, p] of cases) {
    for (const dtype of ["float32", "float64"] as const) {
      await checkForward("MaxPool", dtype, dims, p);
    }
  }
});

Deno.test("Ceil-mode AveragePool forward: divisors with and without padding counted", async () => {
  const cases: [number[], Pool][] = [
    [[2, 2, 6, 7], { kernel: [3, 3], strides: [2, 2] }],
    [[1, 2, 6, 6], { kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }],
    [[1, 1, 7, 7], { kernel: [3, 2], strides: [2, 3], pads: [1, 0, 0, 1] }],
    [[1, 1, 9], { kernel: [3], strides: [3], pads: [1, 1] }],
    [[1, 2, 7], { kernel: [3], strides: [2], pads: [1, 0] }],
  ];
  for (const [dims, p] of cases) {
    for (const countIncludePad of [false, true]) {
      await checkForward("AveragePool", "float32", dims, { ...p, countIncludePad });
    }
  }
});

// ---- PyTorch ----

/** x = (7k mod 36) on 6×6 and (7k mod 25) on 5×5, as pasted into PyTorch. */
const X6 = Array.from({ length: 36 }, (_, k) => (7 * k) % 36);
const X5 = Array.from({ length: 25 }, (_, k) => (7 * k) % 25);

/** Runs a pool and its gradient for dY = 1, 2, 3, … (the loss Σ y·w with w = 1, 2, …). */
async function forwardAndGrad(
  op: "MaxPool" | "AveragePool",
  dtype: "float32" | "float64",
  x: number[],
  dims: number[],
  p: Pool,
) {
  const b = createGraphBuilder();
  const xv = b.input("x", { dtype, shape: dims });
  const [y] = b.op(op, [xv], attrsOf(p), { outputs: op === "MaxPool" ? 2 : 1 });
  const dy = b.input("dy", { dtype, shape: y.type.shape });
  const node = b.nodes.find((n) => n.op === op)!;
  const [dx] = OPS[op].grad!({ b, node, dy: [dy, null], needs: [true] });
  b.output("y", y);
  b.output("dx", dx!);
  const graph = b.build("torch");
  const dyDims = y.type.shape as number[];
  const out = await runGraph(graph, {
    x: tensor(dtype, dims, x),
    dy: tensor(dtype, dyDims, Array.from({ length: product(dyDims) }, (_, i) => i + 1)),
  });
  return { graph, dims: [...out.y.dims], y: values(out.y), dx: values(out.dx) };
}

Deno.test("Ceil-mode MaxPool forward and gradient equal PyTorch's (googlenet's forms)", async () => {
  // F.max_pool2d(x6, 3, 2, 0, ceil_mode=True), then backward of Σ y·[1..9] (float64).
  for (const dtype of ["float64", "float32"] as const) {
    const r = await forwardAndGrad("MaxPool", dtype, X6, [1, 1, 6, 6], {
      kernel: [3, 3],
      strides: [2, 2],
    });
    assert.deepEqual(r.dims, [1, 1, 3, 3]);
    assert.deepEqual(r.y, [26, 34, 35, 32, 33, 23, 31, 22, 29]);
    // deno-fmt-ignore
    assert.deepEqual(r.dx, [
      0, 0, 0, 0, 0, 3,  0, 0, 0, 0, 2, 0,  0, 0, 1, 5, 0, 0,
      0, 0, 4, 0, 0, 0,  0, 7, 0, 0, 0, 6,  0, 0, 0, 0, 8, 9,
    ]);
  }
  // F.max_pool2d(x5, 2, 2, 0, ceil_mode=True): disjoint windows, float32 through MaxUnpool.
  const r = await forwardAndGrad("MaxPool", "float32", X5, [1, 1, 5, 5], {
    kernel: [2, 2],
    strides: [2, 2],
  });
  assert.equal(countOps(r.graph, "MaxUnpool"), 1);
  assert.deepEqual(r.y, [17, 24, 13, 20, 19, 23, 22, 11, 18]);
  // deno-fmt-ignore
  assert.deepEqual(r.dx, [0, 0, 0, 0, 0, 0, 1, 2, 0, 3, 4, 0, 0, 0, 6, 0, 0, 5, 0, 0, 0, 7, 0, 8, 9]);
});

Deno.test("Ceil-mode AveragePool 3×3/2/pad 1 forward and gradient equal PyTorch's", async () => {
  // F.avg_pool2d(x6, 3, 2, 1, ceil_mode=True, count_include_pad=…), backward of Σ y·[1..16]
  // (float64 in PyTorch; onnxruntime's AveragePool is float32). The last window on each axis
  // starts at 5 and runs past the end pad: PyTorch and onnxruntime divide it by 2 (not 3) per
  // axis with padding counted.
  const torch = {
    true: {
      // deno-fmt-ignore
      y: [2.8888888889, 11.3333333333, 16.6666666667, 6.6666666667, 10.3333333333, 22.0, 16.0,
        5.5, 14.3333333333, 14.0, 16.0, 11.5, 5.1666666667, 4.0, 11.0, 7.25],
      // deno-fmt-ignore
      dx: [0.1111111111, 0.3333333333, 0.2222222222, 0.5555555556, 0.3333333333, 1.0,
        0.6666666667, 1.5555555556, 0.8888888889, 2.0, 1.1111111111, 3.1111111111, 0.5555555556,
        1.2222222222, 0.6666666667, 1.4444444444, 0.7777777778, 2.1111111111, 1.5555555556,
        3.3333333333, 1.7777777778, 3.7777777778, 2.0, 5.3333333333, 1.0, 2.1111111111,
        1.1111111111, 2.3333333333, 1.2222222222, 3.2222222222, 3.1666666667, 6.6111111111,
        3.4444444444, 7.1666666667, 3.7222222222, 9.7222222222],
    },
    false: {
      // deno-fmt-ignore
      y: [6.5, 17.0, 25.0, 20.0, 15.5, 22.0, 16.0, 11.0, 21.5, 14.0, 16.0, 23.0, 15.5, 8.0, 22.0,
        29.0],
      // deno-fmt-ignore
      dx: [0.25, 0.5833333333, 0.3333333333, 0.8333333333, 0.5, 2.5, 1.0833333333, 2.0833333333,
        1.0, 2.2777777778, 1.2777777778, 5.9444444444, 0.8333333333, 1.5, 0.6666666667,
        1.4444444444, 0.7777777778, 3.4444444444, 2.3333333333, 4.1111111111, 1.7777777778,
        3.7777777778, 2.0, 8.6666666667, 1.5, 2.6111111111, 1.1111111111, 2.3333333333,
        1.2222222222, 5.2222222222, 8.0, 13.7777777778, 5.7777777778, 12.0, 6.2222222222,
        26.2222222222],
    },
  };
  for (const countIncludePad of [true, false]) {
    const r = await forwardAndGrad("AveragePool", "float32", X6, [1, 1, 6, 6], {
      kernel: [3, 3],
      strides: [2, 2],
      pads: [1, 1, 1, 1],
      countIncludePad,
    });
    const want = torch[`${countIncludePad}`];
    assert.deepEqual(r.dims, [1, 1, 4, 4]);
    assertClose(r.y, want.y, 1e-5, `y, count_include_pad ${countIncludePad}`);
    assertClose(r.dx, want.dx, 1e-5, `dx, count_include_pad ${countIncludePad}`);
  }
});

// ---- gradients against finite differences ----

Deno.test("Ceil-mode MaxPool gradient, float64: overlapping windows past the end scatter-add", async () => {
  for (const outputs of [2, 1] as const) {
    const { graph } = await checkMaxGrad("float64", [1, 2, 6, 7], {
      kernel: [3, 3],
      strides: [2, 2],
    }, outputs);
    assert.equal(countOps(graph, "ScatterElements"), 1);
  }
  await checkMaxGrad("float64", [1, 1, 8, 7], {
    kernel: [3, 2],
    strides: [2, 3],
    pads: [1, 0, 1, 1],
  }, 2);
  await checkMaxGrad("float64", [2, 1, 9], { kernel: [3], strides: [2], pads: [2, 2] }, 2);
  await checkMaxGrad("float64", ["N", 2, 5, 5], { kernel: [3, 3], strides: [2, 2] }, 2, [
    { x: [1, 2, 5, 5] },
    { x: [2, 2, 5, 5] },
  ]);
});

Deno.test("Ceil-mode MaxPool gradient, float32 disjoint windows past the end: MaxUnpool", async () => {
  const cases: [Shape, Pool][] = [
    [[2, 3, 5, 7], { kernel: [2, 2], strides: [2, 2] }],
    [[1, 2, 7, 7], { kernel: [2, 2], strides: [3, 3], pads: [1, 0, 0, 1] }],
    [[1, 1, 8, 8], { kernel: [2, 2], strides: [3, 3], dilations: [2, 2] }],
    [[2, 2, 9], { kernel: [3], strides: [3], pads: [1, 1] }],
  ];
  for (const [shape, p] of cases) {
    for (const outputs of [2, 1] as const) {
      const { graph } = await checkMaxGrad("float32", shape, p, outputs);
      assert.equal(countOps(graph, "MaxUnpool"), 1, `MaxUnpool for [${shape}]`);
      assert.equal(countOps(graph, "ScatterElements"), 0);
    }
  }
});

Deno.test("Ceil-mode AveragePool gradient: windows past the end, padding counted or not", async () => {
  const cases: [Shape, Pool][] = [
    [[1, 2, 6, 7], { kernel: [3, 3], strides: [2, 2] }],
    [[1, 2, 6, 6], { kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }],
    [[1, 1, 7, 7], { kernel: [3, 2], strides: [2, 3], pads: [1, 0, 0, 1] }],
    [[1, 1, 5, 5], { kernel: [2, 2], strides: [2, 2] }],
    [[1, 2, 9], { kernel: [3], strides: [3], pads: [1, 1] }],
  ];
  for (const [shape, p] of cases) {
    for (const countIncludePad of [false, true]) {
      await checkAvgGrad(shape, { ...p, countIncludePad });
    }
  }
  await checkAvgGrad(["N", 2, 7], { kernel: [3], strides: [2], pads: [1, 0] }, [
    { x: [1, 2, 7] },
    { x: [3, 2, 7] },
  ]);
});
