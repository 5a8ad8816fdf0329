/**
 * Convolution and pooling ops: forward values against naive reference implementations written
 * here, gradients against central finite differences, shape-rule errors.
 *
 * onnxruntime's CPU provider has float32 kernels only for Conv, ConvTranspose, AveragePool and
 * GlobalAveragePool, so their gradients are checked in float32. Each of these is linear in each
 * input (the other held fixed), so a central difference is exact whatever the step: a large step
 * (h = 0.5) leaves only float32 rounding, and tolerances of 1e-4 still catch any misplaced
 * element. MaxPool has a double kernel and is checked in float64 at random (tie-free) points.
 */
import { join } from "node:path";
import { differentiate } from "../src/autodiff/differentiate.ts";
import { createGraphBuilder } from "../src/ir/builder.ts";
import { CompileError } from "../src/ir/errors.ts";
import { OPS } from "../src/ir/ops/mod.ts";
import { type Attrs, type DType, formatShape, type Shape } from "../src/ir/types.ts";
import { validateGraph } from "../src/ir/validate.ts";
import { emitModel } from "../src/onnx/emit.ts";
import { createRng } from "../src/util/random.ts";
import { assert, assertClose, assertThrowsMatch } from "./_assert.ts";
import { hasOnnx, onnxCheck } from "./_onnx_checker.ts";
import {
  buildGraph,
  checkGradients,
  countOps,
  type GradCheckSpec,
  type InputSpec,
  product,
  runGraph,
  tensor,
  values,
} from "./_harness.ts";

// ---- naive references (2-D; 1-D runs as 2-D with a height of 1) ----

/** Spatial attributes of one test case, in ONNX's layout. */
interface Geo {
  readonly strides?: readonly number[];
  readonly pads?: readonly number[];
  readonly dilations?: readonly number[];
  readonly group?: number;
  readonly outputPadding?: readonly number[];
}

interface Geo2d {
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  pt: number;
  pl: number;
  pb: number;
  pr: number;
  oph: number;
  opw: number;
}

const as2d = (dims: readonly number[]): number[] =>
  dims.length === 3 ? [dims[0], dims[1], 1, dims[2]] : [...dims];

function geo2d(rank: number, g: Geo): Geo2d {
  const one = rank === 3;
  const [sh, sw] = one ? [1, g.strides?.[0] ?? 1] : g.strides ?? [1, 1];
  const [dh, dw] = one ? [1, g.dilations?.[0] ?? 1] : g.dilations ?? [1, 1];
  const p = g.pads ?? (one ? [0, 0] : [0, 0, 0, 0]);
  const [pt, pl, pb, pr] = one ? [0, p[0], 0, p[1]] : p;
  const [oph, opw] = one ? [0, g.outputPadding?.[0] ?? 0] : g.outputPadding ?? [0, 0];
  return { sh, sw, dh, dw, pt, pl, pb, pr, oph, opw };
}

const outDims = (rank: number, n: number, c: number, oh: number, ow: number) =>
  rank === 3 ? [n, c, ow] : [n, c, oh, ow];

interface Ref {
  readonly y: number[];
  readonly dims: number[];
}

function convRef(
  x: readonly number[],
  xDims: readonly number[],
  w: readonly number[],
  wDims: readonly number[],
  bias: readonly number[] | null,
  geo: Geo,
): Ref {
  const [N, C, H, W] = as2d(xDims), [M, Cg, KH, KW] = as2d(wDims);
  const { sh, sw, dh, dw, pt, pl, pb, pr } = geo2d(xDims.length, geo);
  const G = geo.group ?? 1;
  const OH = Math.floor((H + pt + pb - dh * (KH - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + pl + pr - dw * (KW - 1) - 1) / sw) + 1;
  const y: number[] = [];
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const c0 = Math.floor(m / (M / G)) * Cg;
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          let s = bias ? bias[m] : 0;
          for (let c = 0; c < Cg; c++) {
            for (let kh = 0; kh < KH; kh++) {
              for (let kw = 0; kw < KW; kw++) {
                const ih = oh * sh - pt + kh * dh, iw = ow * sw - pl + kw * dw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += x[((n * C + c0 + c) * H + ih) * W + iw] *
                  w[((m * Cg + c) * KH + kh) * KW + kw];
              }
            }
          }
          y.push(s);
        }
      }
    }
  }
  return { y, dims: outDims(xDims.length, N, M, OH, OW) };
}

function convTransposeRef(
  x: readonly number[],
  xDims: readonly number[],
  w: readonly number[],
  wDims: readonly number[],
  bias: readonly number[] | null,
  geo: Geo,
): Ref {
  const [N, C, H, W] = as2d(xDims), [, Mg, KH, KW] = as2d(wDims);
  const { sh, sw, dh, dw, pt, pl, pb, pr, oph, opw } = geo2d(xDims.length, geo);
  const G = geo.group ?? 1, M = Mg * G;
  const OH = sh * (H - 1) + oph + dh * (KH - 1) + 1 - pt - pb;
  const OW = sw * (W - 1) + opw + dw * (KW - 1) + 1 - pl - pr;
  const y = new Array<number>(N * M * OH * OW).fill(0);
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      for (let i = 0; i < OH * OW; i++) y[(n * M + m) * OH * OW + i] = bias ? bias[m] : 0;
    }
    for (let c = 0; c < C; c++) {
      const g = Math.floor(c / (C / G));
      for (let ih = 0; ih < H; ih++) {
        for (let iw = 0; iw < W; iw++) {
          for (let mg = 0; mg < Mg; mg++) {
            for (let kh = 0; kh < KH; kh++) {
              for (let kw = 0; kw < KW; kw++) {
                const oh = ih * sh + kh * dh - pt, ow = iw * sw + kw * dw - pl;
                if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
                y[((n * M + g * Mg + mg) * OH + oh) * OW + ow] +=
                  x[((n * C + c) * H + ih) * W + iw] * w[((c * Mg + mg) * KH + kh) * KW + kw];
              }
            }
          }
        }
      }
    }
  }
  return { y, dims: outDims(xDims.length, N, M, OH, OW) };
}

/** MaxPool or AveragePool; `indices` flattened over the whole input, first maximum on ties. */
function poolRef(
  kind: "max" | "avg",
  x: readonly number[],
  xDims: readonly number[],
  kernel: readonly number[],
  geo: Geo & { countIncludePad?: boolean },
): Ref & { indices: number[] } {
  const [N, C, H, W] = as2d(xDims);
  const [KH, KW] = kernel.length === 1 ? [1, kernel[0]] : kernel;
  const { sh, sw, dh, dw, pt, pl, pb, pr } = geo2d(xDims.length, geo);
  const OH = Math.floor((H + pt + pb - dh * (KH - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + pl + pr - dw * (KW - 1) - 1) / sw) + 1;
  const y: number[] = [], indices: number[] = [];
  for (let nc = 0; nc < N * C; nc++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let best = -Infinity, arg = -1, sum = 0, count = 0;
        for (let kh = 0; kh < KH; kh++) {
          for (let kw = 0; kw < KW; kw++) {
            const ih = oh * sh - pt + kh * dh, iw = ow * sw - pl + kw * dw;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const at = (nc * H + ih) * W + iw;
            if (x[at] > best) [best, arg] = [x[at], at];
            sum += x[at];
            count++;
          }
        }
        y.push(kind === "max" ? best : sum / (geo.countIncludePad ? KH * KW : count));
        indices.push(arg);
      }
    }
  }
  return { y, indices, dims: outDims(xDims.length, N, C, OH, OW) };
}

// ---- helpers ----

/** Float32-representable uniform values in [-1, 1) from a seed. */
function randoms(n: number, seed: number): number[] {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => Math.fround(2 * rng.nextFloat() - 1));
}

/** ONNX attributes of a test geometry. */
function attrsOf(geo: Geo, extra: Attrs = {}): Attrs {
  return {
    ...(geo.strides ? { strides: geo.strides } : {}),
    ...(geo.pads ? { pads: geo.pads } : {}),
    ...(geo.dilations ? { dilations: geo.dilations } : {}),
    ...(geo.group ? { group: geo.group } : {}),
    ...(geo.outputPadding ? { output_padding: geo.outputPadding } : {}),
    ...extra,
  };
}

/** Runs one Conv or ConvTranspose node on random float32 data and compares with the reference. */
async function checkConvForward(
  op: "Conv" | "ConvTranspose",
  xDims: number[],
  wDims: number[],
  withBias: boolean,
  geo: Geo,
) {
  const outChannels = op === "Conv" ? wDims[0] : wDims[1] * (geo.group ?? 1);
  const x = randoms(product(xDims), 1), w = randoms(product(wDims), 2);
  const bias = withBias ? randoms(outChannels, 3) : null;
  const graph = buildGraph(op, (b) => {
    const xv = b.input("x", { dtype: "float32", shape: xDims });
    const wv = b.input("w", { dtype: "float32", shape: wDims });
    const bv = bias ? b.input("b", { dtype: "float32", shape: [outChannels] }) : null;
    b.output("y", b.op1(op, bv ? [xv, wv, bv] : [xv, wv], attrsOf(geo)));
  });
  const out = await runGraph(graph, {
    x: tensor("float32", xDims, x),
    w: tensor("float32", wDims, w),
    ...(bias ? { b: tensor("float32", [outChannels], bias) } : {}),
  });
  const ref = (op === "Conv" ? convRef : convTransposeRef)(x, xDims, w, wDims, bias, geo);
  assert.deepEqual([...out.y.dims], ref.dims);
  assertClose(values(out.y), ref.y, 1e-5, `${op} output`);
}

const input = (shape: Shape, extra: Partial<InputSpec> = {}): InputSpec => ({ shape, ...extra });

/** Float32 gradient check of a function linear in each input (exact central differences). */
const checkLinear = (spec: Omit<GradCheckSpec, "dtype">) =>
  checkGradients({ dtype: "float32", h: 0.5, atol: 1e-4, rtol: 1e-4, ...spec });

/** Checks d/dx, d/dw (and d/db) of one Conv node. */
function checkConvGrad(
  xShape: Shape,
  wShape: number[],
  withBias: boolean,
  geo: Geo,
  runs?: GradCheckSpec["runs"],
) {
  return checkLinear({
    inputs: {
      x: input(xShape),
      w: input(wShape),
      ...(withBias ? { b: input([wShape[0]]) } : {}),
    },
    wrt: withBias ? ["x", "w", "b"] : ["x", "w"],
    build: (b, v) => b.op1("Conv", withBias ? [v.x, v.w, v.b] : [v.x, v.w], attrsOf(geo)),
    ...(runs ? { runs } : {}),
  });
}

// ---- Conv forward ----

Deno.test("Conv forward: 2-D, no bias", async () => {
  await checkConvForward("Conv", [2, 3, 5, 5], [4, 3, 3, 3], false, {});
});

Deno.test("Conv forward: stride 2, padding 1, bias", async () => {
  await checkConvForward("Conv", [2, 2, 6, 7], [3, 2, 3, 3], true, {
    strides: [2, 2],
    pads: [1, 1, 1, 1],
  });
});

Deno.test("Conv forward: dilation 2 with padding", async () => {
  await checkConvForward("Conv", [1, 2, 7, 7], [2, 2, 3, 3], true, {
    dilations: [2, 2],
    pads: [2, 1, 2, 1],
  });
});

Deno.test("Conv forward: groups 2 and depthwise (with a channel multiplier)", async () => {
  await checkConvForward("Conv", [2, 4, 5, 5], [6, 2, 3, 3], true, { group: 2 });
  await checkConvForward("Conv", [1, 3, 5, 5], [3, 1, 3, 3], false, {
    group: 3,
    pads: [1, 1, 1, 1],
  });
  await checkConvForward("Conv", [1, 3, 5, 5], [6, 1, 3, 3], true, { group: 3, strides: [2, 2] });
});

Deno.test("Conv forward: asymmetric pads and strides", async () => {
  await checkConvForward("Conv", [1, 2, 6, 5], [3, 2, 3, 2], true, {
    strides: [2, 1],
    pads: [0, 1, 2, 0],
  });
});

Deno.test("Conv forward: 1-D (Conv1d) with stride, padding, dilation, bias", async () => {
  await checkConvForward("Conv", [2, 3, 9], [2, 3, 3], true, {
    strides: [2],
    pads: [1, 1],
    dilations: [2],
  });
  await checkConvForward("Conv", [1, 2, 7], [2, 2, 2], false, {});
});

Deno.test("Conv forward: a hand-computed 3×3 case", async () => {
  // [[1,2,3],[4,5,6],[7,8,9]] with the kernel [[1,0],[0,1]] + bias 0.5: sums of diagonal pairs.
  const graph = buildGraph("conv", (b) => {
    const x = b.input("x", { dtype: "float32", shape: [1, 1, 3, 3] });
    const w = b.constant({
      dtype: "float32",
      shape: [1, 1, 2, 2],
      data: Float32Array.of(1, 0, 0, 1),
    });
    b.output(
      "y",
      b.op1("Conv", [
        x,
        w,
        b.constant({ dtype: "float32", shape: [1], data: Float32Array.of(0.5) }),
      ]),
    );
  });
  const out = await runGraph(graph, {
    x: tensor("float32", [1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]),
  });
  assert.deepEqual(values(out.y), [6.5, 8.5, 12.5, 14.5]);
});

Deno.test("ConvTranspose forward: stride, pads, output_padding, groups, dilation", async () => {
  await checkConvForward("ConvTranspose", [1, 2, 3, 3], [2, 3, 3, 3], true, {
    strides: [2, 2],
    pads: [1, 1, 1, 1],
    outputPadding: [1, 1],
  });
  await checkConvForward("ConvTranspose", [2, 4, 3, 4], [4, 1, 2, 3], false, {
    group: 2,
    strides: [2, 1],
    pads: [0, 1, 1, 0],
    dilations: [1, 2],
  });
  await checkConvForward("ConvTranspose", [1, 2, 5], [2, 2, 3], true, {
    strides: [3],
    outputPadding: [2],
  });
});

// ---- pool forward ----

async function checkPoolForward(
  op: "MaxPool" | "AveragePool",
  xDims: number[],
  kernel: number[],
  geo: Geo & { countIncludePad?: boolean },
) {
  const x = randoms(product(xDims), 7);
  const attrs = attrsOf(geo, {
    kernel_shape: kernel,
    ...(geo.countIncludePad !== undefined
      ? { count_include_pad: geo.countIncludePad ? 1 : 0 }
      : {}),
  });
  const graph = buildGraph(op, (b) => {
    const xv = b.input("x", { dtype: "float32", shape: xDims });
    const outs = b.op(op, [xv], attrs, { outputs: op === "MaxPool" ? 2 : 1 });
    b.output("y", outs[0]);
    if (outs[1]) b.output("indices", outs[1]);
  });
  const out = await runGraph(graph, { x: tensor("float32", xDims, x) });
  const ref = poolRef(op === "MaxPool" ? "max" : "avg", x, xDims, kernel, geo);
  assert.deepEqual([...out.y.dims], ref.dims);
  assertClose(values(out.y), ref.y, 1e-6, `${op} output`);
  if (op === "MaxPool") {
    assert.equal(out.indices.dtype, "int64");
    assert.deepEqual(values(out.indices), ref.indices);
  }
}

Deno.test("MaxPool forward: 2×2 stride 2, values and whole-tensor indices", async () => {
  await checkPoolForward("MaxPool", [2, 3, 4, 6], [2, 2], { strides: [2, 2] });
});

Deno.test("MaxPool forward: overlapping 3×3 stride 2 pad 1, dilation 2, 1-D", async () => {
  await checkPoolForward("MaxPool", [2, 2, 5, 6], [3, 3], { strides: [2, 2], pads: [1, 1, 1, 1] });
  await checkPoolForward("MaxPool", [1, 2, 7, 7], [2, 3], {
    dilations: [2, 2],
    pads: [1, 0, 0, 1],
  });
  await checkPoolForward("MaxPool", [2, 2, 9], [3], { strides: [2], pads: [1, 1] });
});

Deno.test("AveragePool forward: 2×2, and 3×3/2/pad 1 with and without padding counted", async () => {
  await checkPoolForward("AveragePool", [2, 3, 4, 6], [2, 2], { strides: [2, 2] });
  for (const countIncludePad of [true, false]) {
    await checkPoolForward("AveragePool", [2, 2, 5, 6], [3, 3], {
      strides: [2, 2],
      pads: [1, 1, 1, 1],
      countIncludePad,
    });
  }
  await checkPoolForward("AveragePool", [1, 2, 8], [3], { strides: [2], pads: [1, 2] });
});

Deno.test("GlobalAveragePool forward: means over the spatial axes", async () => {
  const xDims = [2, 3, 2, 3];
  const x = randoms(product(xDims), 9);
  const graph = buildGraph("gap", (b) => {
    const xv = b.input("x", { dtype: "float32", shape: ["N", 3, 2, 3] });
    b.output("y", b.op1("GlobalAveragePool", [xv]));
  });
  const out = await runGraph(graph, { x: tensor("float32", xDims, x) });
  assert.deepEqual([...out.y.dims], [2, 3, 1, 1]);
  const want = Array.from(
    { length: 6 },
    (_, i) => x.slice(6 * i, 6 * i + 6).reduce((a, v) => a + v) / 6,
  );
  assertClose(values(out.y), want, 1e-6);
});

// ---- Conv gradients ----

Deno.test("Conv gradient: 2-D plain, with bias", async () => {
  await checkConvGrad([2, 2, 5, 5], [3, 2, 3, 3], true, {});
});

Deno.test("Conv gradient: stride 2, padding 1", async () => {
  await checkConvGrad([1, 2, 6, 6], [2, 2, 3, 3], true, { strides: [2, 2], pads: [1, 1, 1, 1] });
});

Deno.test("Conv gradient: dilation 2", async () => {
  await checkConvGrad([1, 2, 7, 7], [2, 2, 3, 3], false, { dilations: [2, 2], pads: [1, 1, 1, 1] });
});

Deno.test("Conv gradient: groups 2", async () => {
  await checkConvGrad([2, 4, 5, 5], [4, 2, 3, 3], true, { group: 2, pads: [1, 0, 0, 1] });
});

Deno.test("Conv gradient: depthwise, and depthwise with a channel multiplier", async () => {
  await checkConvGrad([2, 3, 5, 5], [3, 1, 3, 3], true, { group: 3, pads: [1, 1, 1, 1] });
  await checkConvGrad([1, 2, 5, 5], [4, 1, 2, 2], false, { group: 2, strides: [2, 2] });
});

Deno.test("Conv gradient: asymmetric pads and strides", async () => {
  await checkConvGrad([1, 2, 5, 6], [2, 2, 3, 2], true, { strides: [1, 2], pads: [0, 1, 2, 0] });
});

Deno.test("Conv gradient: kernel 1×1 (stride 2 skips the last row and column)", async () => {
  await checkConvGrad([2, 3, 4, 4], [2, 3, 1, 1], true, { strides: [2, 2] });
});

Deno.test("Conv gradient: (in + pads − extent) % stride ≠ 0 (output_padding)", async () => {
  // Height: (8 − 3) % 2 = 1; width: (7 + 1 − 3) % 3 = 2 with dilation 2: input positions past
  // the last window get no gradient from the weight and zero from dX's padding.
  const { graph } = await checkConvGrad([1, 2, 8, 7], [2, 2, 3, 2], true, {
    strides: [2, 3],
    dilations: [1, 2],
    pads: [0, 1, 0, 0],
  });
  const t = graph.nodes.find((n) => n.op === "ConvTranspose")!;
  assert.deepEqual(t.attrs.output_padding, [1, 2]);
});

Deno.test("Conv gradient: 1×1 kernel, stride 1 (the weight gradient needs no Gather)", async () => {
  const { graph } = await checkConvGrad([2, 3, 3, 4], [4, 3, 1, 1], true, {});
  assert.equal(countOps(graph, "Gather"), 0);
  assert.equal(countOps(graph, "MatMul"), 1);
  await checkConvGrad([2, 4, 3, 3], [6, 2, 1, 1], false, { group: 2 });
});

Deno.test("Conv gradient: 1×1 kernel over ≥ 64 positions: per-image products summed over N", async () => {
  // Fewer input than output channels (X transposed), then more (dY transposed).
  for (const [x, w] of [[[2, 3, 8, 8], [5, 3, 1, 1]], [[3, 6, 8, 9], [4, 6, 1, 1]]]) {
    const { graph } = await checkConvGrad(x, w, true, {});
    assert.equal(countOps(graph, "Gather"), 0);
    const perImage = (n: { op: string; attrs: Attrs }) =>
      n.op === "Transpose" && JSON.stringify(n.attrs.perm) === "[0,2,1]";
    assert.equal(graph.nodes.filter(perImage).length, 1, "one of X and dY transposed per image");
  }
});

Deno.test("Conv gradient: Conv3d with stride, padding, dilation and groups", async () => {
  await checkConvGrad([1, 2, 4, 5, 4], [2, 2, 2, 3, 2], true, {
    strides: [1, 2, 1],
    pads: [1, 0, 1, 0, 1, 1],
    dilations: [2, 1, 1],
  });
  await checkConvGrad([2, 4, 3, 3, 3], [4, 2, 2, 2, 2], false, { group: 2 });
});

/** dL/dW of a 2-D Conv for dL/dY = `gy`, summed naively over the batch and output positions. */
function convWeightGradRef(
  x: readonly number[],
  xDims: readonly number[],
  gy: readonly number[],
  gyDims: readonly number[],
  wDims: readonly number[],
  geo: Geo,
): number[] {
  const [N, C, H, W] = xDims, [, M, OH, OW] = gyDims, [, Cg, KH, KW] = wDims;
  const { sh, sw, dh, dw, pt, pl } = geo2d(4, geo);
  const Mg = M / (geo.group ?? 1);
  const out = new Array<number>(product(wDims)).fill(0);
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const c0 = Math.floor(m / Mg) * Cg;
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          const g = gy[((n * M + m) * OH + oh) * OW + ow];
          for (let c = 0; c < Cg; c++) {
            for (let kh = 0; kh < KH; kh++) {
              for (let kw = 0; kw < KW; kw++) {
                const ih = oh * sh - pt + kh * dh, iw = ow * sw - pl + kw * dw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                out[((m * Cg + c) * KH + kh) * KW + kw] += g *
                  x[((n * C + c0 + c) * H + ih) * W + iw];
              }
            }
          }
        }
      }
    }
  }
  return out;
}

/** Runs Conv's weight-gradient rule alone on random float32 data; returns the graph and dW. */
async function convWeightGrad(xDims: number[], wDims: number[], geo: Geo) {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float32", shape: xDims });
  const w = b.input("w", { dtype: "float32", shape: wDims });
  const y = b.op1("Conv", [x, w], attrsOf(geo));
  const gy = b.input("gy", y.type);
  const node = b.nodes[b.nodes.length - 1];
  const [, dw] = OPS.Conv.grad!({ b, node, dy: [gy], needs: [false, true] });
  b.output("dw", dw!);
  const graph = b.build("dw");
  const gyDims = y.type.shape as number[];
  const xv = randoms(product(xDims), 11), gv = randoms(product(gyDims), 12);
  const out = await runGraph({ ...graph, nodes: graph.nodes.filter((n) => n !== node) }, {
    x: tensor("float32", xDims, xv),
    w: tensor("float32", wDims, randoms(product(wDims), 13)),
    gy: tensor("float32", gyDims, gv),
  });
  return { graph, dw: values(out.dw), ref: convWeightGradRef(xv, xDims, gv, gyDims, wDims, geo) };
}

Deno.test("Conv weight gradient: the CNN's shapes as one Gather and one MatMul", async () => {
  // The second conv of pipelines/fmnist_cnn.ts at batch 8, and a strided grouped one.
  for (
    const [xDims, wDims, geo] of [
      [[8, 16, 14, 14], [32, 16, 3, 3], { pads: [1, 1, 1, 1] }],
      [[3, 8, 9, 8], [6, 4, 3, 2], { group: 2, strides: [2, 1], pads: [1, 0, 0, 1] }],
    ] as const
  ) {
    const { graph, dw, ref } = await convWeightGrad([...xDims], [...wDims], geo);
    assert.equal(countOps(graph, "Conv"), 1, "only the forward Conv");
    assert.equal(countOps(graph, "Gather"), 1);
    assert.equal(countOps(graph, "MatMul"), 1);
    assertClose(dw, ref, 1e-4, `dW of ${formatShape(xDims)} by ${formatShape(wDims)}`);
  }
});

Deno.test("Conv weight gradient: columns past the size limit fall back to a Conv", async () => {
  const geo = { pads: [1, 1, 1, 1] };
  // resnet18's first stage at 224²: 64 channels · 9 offsets · 56² positions = 1 806 336 columns a
  // sample, under 2²¹: gathered, one MatMul.
  const under = await convWeightGrad([1, 64, 56, 56], [2, 64, 3, 3], geo);
  assert.equal(countOps(under.graph, "Conv"), 1, "only the forward Conv");
  assert.equal(countOps(under.graph, "Gather"), 1);
  assertClose(under.dw, under.ref, 1e-3, "dW by im2col and MatMul");
  // 16 channels · 9 offsets · 128² positions = 2 359 296 columns a sample, over 2²¹.
  const { graph, dw, ref } = await convWeightGrad([1, 16, 128, 128], [2, 16, 3, 3], geo);
  assert.equal(countOps(graph, "Conv"), 2, "the forward Conv and the weight gradient's");
  assert.equal(countOps(graph, "Gather"), 0);
  assertClose(dw, ref, 1e-3, "dW by convolution");
});

Deno.test("Conv gradient: Conv1d with stride, padding, dilation", async () => {
  await checkConvGrad([2, 3, 9], [2, 3, 3], true, { strides: [2], pads: [1, 1], dilations: [2] });
  await checkConvGrad([1, 2, 6], [4, 1, 2], false, { group: 2, strides: [2] });
});

Deno.test("Conv gradient: symbolic batch N, run with N = 1 and N = 3", async () => {
  const runs = [{ x: [1, 4, 5, 5] }, { x: [3, 4, 5, 5] }];
  await checkConvGrad(
    ["N", 4, 5, 5],
    [2, 4, 3, 3],
    true,
    { strides: [2, 2], pads: [1, 1, 1, 1] },
    runs,
  );
  await checkConvGrad(["N", 4, 5, 5], [4, 2, 3, 3], true, { group: 2, pads: [0, 1, 1, 0] }, runs);
});

Deno.test("Conv gradient: a weight-only gradient, and a two-layer chain", async () => {
  await checkLinear({
    inputs: { x: input([1, 2, 5, 5]), w: input([2, 2, 3, 3]) },
    wrt: ["w"],
    build: (b, v) => b.op1("Conv", [v.x, v.w], { pads: [1, 1, 1, 1] }),
  });
  // x → conv(w1) → conv(w2): d/dx runs through two ConvTransposes; linear in each input alone.
  await checkLinear({
    inputs: { x: input([1, 2, 6, 6]), w1: input([3, 2, 3, 3]), w2: input([2, 3, 2, 2]) },
    wrt: ["x", "w1", "w2"],
    build: (b, v) =>
      b.op1("Conv", [b.op1("Conv", [v.x, v.w1], { strides: [2, 2], pads: [1, 1, 1, 1] }), v.w2]),
  });
});

Deno.test("ConvTranspose gradient: stride 2, pads, output_padding, groups, bias", async () => {
  await checkLinear({
    inputs: { x: input([2, 2, 3, 3]), w: input([2, 2, 3, 3]), b: input([2]) },
    wrt: ["x", "w", "b"],
    build: (b, v) =>
      b.op1("ConvTranspose", [v.x, v.w, v.b], {
        strides: [2, 2],
        pads: [1, 1, 1, 0],
        output_padding: [1, 0],
      }),
  });
  await checkLinear({
    inputs: { x: input(["N", 4, 3, 2]), w: input([4, 1, 2, 3]) },
    wrt: ["x", "w"],
    build: (b, v) =>
      b.op1("ConvTranspose", [v.x, v.w], { group: 2, strides: [1, 2], dilations: [2, 1] }),
    runs: [{ x: [1, 4, 3, 2] }, { x: [2, 4, 3, 2] }],
  });
});

Deno.test("Conv forward and gradients equal PyTorch's (groups 2, stride 2, padding 1, bias)", async () => {
  // torch.nn.functional.conv2d(x, w, b, stride=2, padding=1, groups=2) with x = sin(arange(32)),
  // w = cos(arange(8)), b = [0.5, -0.25]; loss = sum(y · (arange(18) / 10 − 0.8)).
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float32", shape: [1, 2, 4, 4] });
  const w = b.input("w", { dtype: "float32", shape: [2, 1, 2, 2] });
  const bias = b.input("b", { dtype: "float32", shape: [2] });
  const y = b.op1("Conv", [x, w, bias], { strides: [2, 2], pads: [1, 1, 1, 1], group: 2 });
  const weight = b.constant({
    dtype: "float32",
    shape: [1, 2, 3, 3],
    data: Float32Array.from({ length: 18 }, (_, i) => i / 10 - 0.8),
  });
  const loss = b.op1("ReduceSum", [b.op1("Mul", [y, weight])], { keepdims: 0 });
  const [dx, dw, db] = differentiate(b, loss, [x, w, bias]);
  b.output("y", y);
  b.output("dx", dx!);
  b.output("dw", dw!);
  b.output("db", db!);
  const range = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));
  const out = await runGraph(b.build("torch"), {
    x: tensor("float32", [1, 2, 4, 4], range(32, Math.sin)),
    w: tensor("float32", [2, 1, 2, 2], range(8, Math.cos)),
    b: tensor("float32", [2], [0.5, -0.25]),
  });
  // deno-fmt-ignore
  const torch = {
    y: [0.5, -0.750373, 0.441273, -0.888359, -0.242818, 1.573129, 0.210088, 1.455395, 1.150288,
      -0.467051, -1.739276, -0.106092, -0.67375, -0.351571, 1.22141, -0.173154, -0.096487, 0.014097],
    dx: [0.791994, 0.291303, 0.692995, 0.249688, -0.270151, -0.4, -0.216121, -0.3, 0.494996,
      0.166459, 0.395997, 0.124844, -0.10806, -0.1, -0.05403, 0.0, 0.07539, 0.192034, 0.15078,
      0.288051, 0.113465, -0.326822, 0.141831, -0.392186, 0.301561, 0.480085, 0.376951, 0.576102,
      0.198564, -0.522915, 0.22693, -0.588279],
    dw: [0.144457, 0.498421, -0.538552, -0.913579, -0.983945, -0.240039, 0.360333, -0.15994],
    db: [-3.6, 4.5],
  };
  for (const k of ["y", "dx", "dw", "db"] as const) assertClose(values(out[k]), torch[k], 2e-6, k);
});

// ---- pool gradients ----

/** A MaxPool gradient check in float64; `outputs` 2 builds the node as a training lowering should. */
function checkMaxPoolGrad(
  xShape: Shape,
  attrs: Attrs,
  outputs: 1 | 2,
  runs?: GradCheckSpec["runs"],
) {
  return checkGradients({
    inputs: { x: input(xShape) },
    wrt: ["x"],
    build: (b, v) => b.op("MaxPool", [v.x], attrs, { outputs })[0],
    ...(runs ? { runs } : {}),
  });
}

Deno.test("MaxPool gradient: 2×2 stride 2, built with and without its Indices output", async () => {
  for (const outputs of [2, 1] as const) {
    const { graph } = await checkMaxPoolGrad([2, 2, 4, 4], {
      kernel_shape: [2, 2],
      strides: [2, 2],
    }, outputs);
    // With one output, the rule adds a second MaxPool that computes the indices.
    assert.equal(countOps(graph, "MaxPool"), outputs === 2 ? 1 : 2);
  }
});

Deno.test("MaxPool gradient: overlapping 3×3 stride 2 pad 1, and dilation", async () => {
  const attrs = { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] };
  await checkMaxPoolGrad([1, 2, 5, 5], attrs, 2);
  await checkMaxPoolGrad([1, 1, 6, 6], { kernel_shape: [2, 2], dilations: [2, 2] }, 2);
});

Deno.test("MaxPool gradient: symbolic batch N, and 1-D", async () => {
  await checkMaxPoolGrad(["N", 2, 4, 4], { kernel_shape: [2, 2], strides: [2, 2] }, 2, [
    { x: [1, 2, 4, 4] },
    { x: [3, 2, 4, 4] },
  ]);
  await checkMaxPoolGrad([2, 2, 9], { kernel_shape: [3], strides: [2], pads: [1, 1] }, 2);
});

Deno.test("MaxPool gradient: ties go to the first maximum in scan order; overlaps add", async () => {
  // Window 1 is all 1s (the first, index 0, wins); window 2 is all 2s (index 2 wins).
  // With 2×2 stride 1 on the second row of windows, element 9 (value 5) is the max of two windows.
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float64", shape: [1, 1, 3, 4] });
  const [y, idx] = b.op("MaxPool", [x], { kernel_shape: [2, 2], strides: [1, 2] }, { outputs: 2 });
  const dy = b.input("dy", { dtype: "float64", shape: y.type.shape });
  const node = b.nodes.find((n) => n.op === "MaxPool")!;
  const [dx] = OPS.MaxPool.grad!({ b, node, dy: [dy, null], needs: [true] });
  b.output("y", y);
  b.output("indices", idx);
  b.output("dx", dx!);
  const out = await runGraph(b.build("ties"), {
    x: tensor("float64", [1, 1, 3, 4], [1, 1, 2, 2, 1, 1, 2, 2, 0, 5, 0, 0]),
    dy: tensor("float64", [1, 1, 2, 2], [10, 20, 30, 40]),
  });
  assert.deepEqual(values(out.y), [1, 2, 5, 2]);
  assert.deepEqual(values(out.indices), [0, 2, 9, 6]);
  assert.deepEqual(values(out.dx), [10, 0, 20, 0, 0, 0, 40, 0, 0, 30, 0, 0]);
});

/** A float32 MaxPool gradient check at a tie-free point whose maxima a step cannot move. */
function checkMaxPoolGrad32(
  xShape: Shape,
  attrs: Attrs,
  outputs: 1 | 2,
  runs?: GradCheckSpec["runs"],
) {
  // Distinct integers (k·7919 mod 10007 for k < 10007), so a step of ±0.25 moves no maximum.
  let k = 0;
  const distinct = () => ((k++ * 7919) % 10007) / 8 - 625;
  return checkGradients({
    dtype: "float32",
    h: 0.25,
    atol: 2e-3,
    rtol: 1e-4,
    inputs: { x: input(xShape, { sample: distinct }) },
    wrt: ["x"],
    build: (b, v) => b.op("MaxPool", [v.x], attrs, { outputs })[0],
    ...(runs ? { runs } : {}),
  });
}

Deno.test("MaxPool gradient, float32 with disjoint windows: MaxUnpool places dY", async () => {
  const cases: [Shape, Attrs][] = [
    [[2, 3, 5, 7], { kernel_shape: [2, 2], strides: [2, 2] }], // a row and a column left over
    [[1, 2, 6, 5], { kernel_shape: [2, 2], strides: [3, 3], pads: [1, 0, 0, 1] }], // gaps
    [[1, 1, 7, 7], { kernel_shape: [2, 2], strides: [3, 3], dilations: [2, 2] }],
    [[2, 2, 9], { kernel_shape: [3], strides: [3], pads: [1, 1] }],
    [[1, 2, 4, 4, 5], { kernel_shape: [2, 2, 2], strides: [2, 2, 2] }],
  ];
  for (const [shape, attrs] of cases) {
    for (const outputs of [2, 1] as const) {
      const { graph } = await checkMaxPoolGrad32(shape, attrs, outputs);
      assert.equal(countOps(graph, "MaxUnpool"), 1, `MaxUnpool for ${formatShape(shape)}`);
      assert.equal(countOps(graph, "ScatterElements"), 0);
    }
  }
});

Deno.test("MaxPool gradient, float32: symbolic batch; overlapping windows scatter-add", async () => {
  await checkMaxPoolGrad32(["N", 2, 4, 4], { kernel_shape: [2, 2], strides: [2, 2] }, 2, [
    { x: [1, 2, 4, 4] },
    { x: [3, 2, 4, 4] },
  ]);
  const { graph } = await checkMaxPoolGrad32([1, 2, 5, 5], {
    kernel_shape: [3, 3],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
  }, 2);
  assert.equal(countOps(graph, "ScatterElements"), 1);
  assert.equal(countOps(graph, "MaxUnpool"), 0);
});

Deno.test("MaxPool gradient, float32 disjoint: ties go to the first maximum; same as float64's", async () => {
  // Window (0, 0) is all 1s (index 0 wins); window (0, 1) has 3 at its last two places (index
  // 6 wins); window (1, 0) ties 2 and 2 on its diagonal (index 8 wins); window (1, 1) is 0, 5.
  const xs = [1, 1, 0, 0, 1, 1, 3, 3, 2, 0, 0, 0, 0, 2, 5, 0];
  const dx = async (dtype: "float32" | "float64", x: number[], dims: number[]) => {
    const b = createGraphBuilder();
    const xv = b.input("x", { dtype, shape: dims });
    const [y] = b.op("MaxPool", [xv], { kernel_shape: [2, 2], strides: [2, 2] }, { outputs: 2 });
    const dy = b.input("dy", { dtype, shape: y.type.shape });
    const node = b.nodes.find((n) => n.op === "MaxPool")!;
    const [g] = OPS.MaxPool.grad!({ b, node, dy: [dy, null], needs: [true] });
    b.output("dx", g!);
    const graph = b.build("ties");
    const dyDims = y.type.shape as number[];
    const dyv = Array.from({ length: product(dyDims) }, (_, i) => 10 * (i + 1));
    const out = await runGraph(graph, {
      x: tensor(dtype, dims, x),
      dy: tensor(dtype, dyDims, dyv),
    });
    return { graph, dx: values(out.dx) };
  };
  const small = await dx("float32", xs, [1, 1, 4, 4]);
  assert.equal(countOps(small.graph, "MaxUnpool"), 1);
  assert.deepEqual(small.dx, [10, 0, 0, 0, 0, 0, 20, 0, 30, 0, 0, 0, 0, 0, 40, 0]);
  // Many ties at random: values from {0, 1, 2}; float64 takes the ScatterElements path.
  const dims = [3, 4, 7, 6];
  const rng = createRng(9);
  const x = Array.from({ length: product(dims) }, () => Math.floor(3 * rng.nextFloat()));
  const [f32, f64] = [await dx("float32", x, dims), await dx("float64", x, dims)];
  assert.equal(countOps(f64.graph, "ScatterElements"), 1);
  assert.deepEqual(f32.dx, f64.dx);
});

Deno.test("AveragePool gradient: 2×2 stride 2", async () => {
  await checkLinear({
    inputs: { x: input([2, 2, 4, 4]) },
    wrt: ["x"],
    build: (b, v) => b.op1("AveragePool", [v.x], { kernel_shape: [2, 2], strides: [2, 2] }),
  });
});

Deno.test("AveragePool gradient: 3×3/2/pad 1, padding counted or not; 1-D; symbolic N", async () => {
  for (const count_include_pad of [1, 0]) {
    await checkLinear({
      inputs: { x: input([1, 2, 6, 5]) },
      wrt: ["x"],
      build: (b, v) =>
        b.op1("AveragePool", [v.x], {
          kernel_shape: [3, 3],
          strides: [2, 2],
          pads: [1, 1, 1, 1],
          count_include_pad,
        }),
    });
  }
  await checkLinear({
    inputs: { x: input(["N", 2, 8]) },
    wrt: ["x"],
    build: (b, v) => b.op1("AveragePool", [v.x], { kernel_shape: [3], strides: [2], pads: [1, 2] }),
    runs: [{ x: [1, 2, 8] }, { x: [2, 2, 8] }],
  });
});

Deno.test("GlobalAveragePool gradient, with a symbolic batch", async () => {
  await checkLinear({
    inputs: { x: input(["N", 3, 3, 4]) },
    wrt: ["x"],
    build: (b, v) => b.op1("GlobalAveragePool", [v.x]),
    runs: [{ x: [1, 3, 3, 4] }, { x: [2, 3, 3, 4] }],
  });
});

// ---- shape rules ----

function inferConv(xShape: Shape, wShape: Shape, attrs: Attrs = {}, dtype: DType = "float32") {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype, shape: xShape });
  const w = b.input("w", { dtype, shape: wShape });
  return b.op1("Conv", [x, w], attrs).type.shape;
}

Deno.test("Conv shape rule: output sizes, symbolic batch", () => {
  assert.deepEqual(inferConv(["N", 3, 28, 28], [8, 3, 5, 5], { pads: [2, 2, 2, 2] }), [
    "N",
    8,
    28,
    28,
  ]);
  assert.deepEqual(
    inferConv([4, 4, 9, 10], [6, 2, 3, 3], { group: 2, strides: [2, 3], dilations: [2, 1] }),
    [
      4,
      6,
      3,
      3,
    ],
  );
  assert.deepEqual(inferConv(["N", 2, 10], [3, 2, 4], { strides: [3] }), ["N", 3, 3]);
});

Deno.test("Conv shape rule: errors name the shapes", () => {
  assertThrowsMatch(
    () => inferConv(["N", 3, 8, 8], [4, 2, 3, 3]),
    CompileError,
    "Conv expects the input's 3 channels to match the weight's 2 × group 1 = 2, got input [N, 3, 8, 8] and weight [4, 2, 3, 3]",
  );
  assertThrowsMatch(
    () => inferConv([1, 2, 4, 4], [1, 2, 5, 3], { pads: [0, 0, 0, 0] }),
    CompileError,
    /Conv kernel \[5, 3\] \(extent 5 with dilation 1\) is larger than the padded input \(4\) on spatial axis 0 of input \[1, 2, 4, 4\]/,
  );
  assertThrowsMatch(
    () => inferConv([1, 2, 4, 4], [1, 2, 2, 2], { dilations: [4, 4] }),
    CompileError,
    /extent 5 with dilation 4/,
  );
  assertThrowsMatch(
    () => inferConv([1, 6, 4, 4], [4, 2, 3, 3], { group: 4 }),
    CompileError,
    "Conv group 4 does not divide the 6 channels of input [1, 6, 4, 4] and weight [4, 2, 3, 3]",
  );
  assertThrowsMatch(
    () => inferConv([1, 6, 4, 4], [4, 3, 3, 3], { group: 2, kernel_shape: [3, 2] }),
    CompileError,
    /kernel_shape \[3,2\] does not match/,
  );
  assertThrowsMatch(
    () => inferConv([1, 6, 4, 4], [5, 3, 3, 3], { group: 2 }),
    CompileError,
    "Conv group 2 does not divide the 5 output channels of input [1, 6, 4, 4] and weight [5, 3, 3, 3]",
  );
  assertThrowsMatch(() => inferConv([1, 2, 4, 4], [1, 2, 3]), CompileError, /weight of rank 4/);
  assertThrowsMatch(
    () => inferConv([1, 2, 4, 4], [1, 2, 3, 3], { auto_pad: "SAME_UPPER" }),
    CompileError,
    /auto_pad NOTSET only/,
  );
  assertThrowsMatch(() => inferConv([1, 2, 4, "W"], [1, 2, 3, 3]), CompileError, /static spatial/);
});

Deno.test("Pool shape rules: outputs, Indices type, and unsupported modes", () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float32", shape: ["N", 3, 7, 7] });
  const [y, i] = b.op(
    "MaxPool",
    [x],
    { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
    {
      outputs: 2,
    },
  );
  assert.deepEqual(y.type, { dtype: "float32", shape: ["N", 3, 4, 4] });
  assert.deepEqual(i.type, { dtype: "int64", shape: ["N", 3, 4, 4] });
  assert.deepEqual(b.op1("GlobalAveragePool", [x]).type.shape, ["N", 3, 1, 1]);
  assertThrowsMatch(
    () => b.op1("MaxPool", [x], { kernel_shape: [2, 2], ceil_mode: 2 }),
    CompileError,
    "MaxPool supports ceil_mode 0 or 1, got 2",
  );
  assertThrowsMatch(
    () => b.op1("AveragePool", [x], {}),
    CompileError,
    "AveragePool expects kernel_shape",
  );
  assertThrowsMatch(
    () => b.op1("MaxPool", [x], { kernel_shape: [2, 2], pads: [2, 0, 0, 0] }),
    CompileError,
    /pads \[2,0,0,0\] must be smaller than the kernel \[2, 2\]/,
  );
});

Deno.test("MaxUnpool shape rule: output from output_shape's known values or the attributes", () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float32", shape: ["N", 3, 7, 6] });
  const attrs = { kernel_shape: [2, 2], strides: [2, 2] };
  const [y, i] = b.op("MaxPool", [x], attrs, { outputs: 2 });
  assert.deepEqual(b.op1("MaxUnpool", [y, i], attrs).type.shape, ["N", 3, 6, 6]);
  const withPads = { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 0] };
  assert.deepEqual(b.op1("MaxUnpool", [y, i], withPads).type.shape, ["N", 3, 5, 6]);
  const shape = b.op1("Shape", [x]);
  assert.deepEqual(b.op1("MaxUnpool", [y, i, shape], attrs).type.shape, ["N", 3, 7, 6]);
  assertThrowsMatch(
    () => b.op1("MaxUnpool", [y, b.op1("Cast", [i], { to: "int32" })], attrs),
    CompileError,
    "MaxUnpool expects int64 indices of the input's shape [N, 3, 3, 3], got int32[N, 3, 3, 3]",
  );
  assertThrowsMatch(
    () => b.op1("MaxUnpool", [y, i, b.input("s", { dtype: "int64", shape: [4] })], attrs),
    CompileError,
    "MaxUnpool expects an output_shape of 4 values known at compile time",
  );
});

Deno.test("ConvTranspose shape rule: output size and channel count", () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float32", shape: ["N", 4, 5, 5] });
  const w = b.input("w", { dtype: "float32", shape: [4, 3, 3, 3] });
  const y = b.op1("ConvTranspose", [x, w], {
    group: 2,
    strides: [2, 2],
    pads: [1, 1, 1, 1],
    output_padding: [1, 0],
  });
  assert.deepEqual(y.type.shape, ["N", 6, 10, 9]);
  assertThrowsMatch(
    () => b.op1("ConvTranspose", [x, w], { strides: [2, 2], output_padding: [2, 0] }),
    CompileError,
    /output_padding \[2,0\] must be smaller than the stride or the dilation/,
  );
});

// ---- ONNX's own checker ----

Deno.test({
  name: "onnx.checker accepts a conv-net gradient graph; its inferred shapes equal ours",
  ignore: !(await hasOnnx()),
  async fn() {
    // conv → relu → maxpool (2 outputs) → grouped conv → maxpool (1 output) → avgpool → global.
    const b = createGraphBuilder();
    const f32 = (shape: Shape) => ({ dtype: "float32" as const, shape });
    const x = b.input("x", f32(["N", 2, 9, 9]));
    const w1 = b.input("w1", f32([4, 2, 3, 3])), b1 = b.input("b1", f32([4]));
    const w2 = b.input("w2", f32([4, 2, 2, 2]));
    let h = b.op1("Relu", [b.op1("Conv", [x, w1, b1], { pads: [1, 1, 1, 1], strides: [2, 2] })]);
    h = b.op("MaxPool", [h], { kernel_shape: [2, 2], strides: [1, 1] }, { outputs: 2 })[0];
    h = b.op1("Conv", [h, w2], { group: 2, pads: [0, 1, 1, 0] });
    h = b.op1("MaxPool", [h], { kernel_shape: [2, 2], pads: [1, 1, 0, 0] });
    h = b.op1("AveragePool", [h], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
    const loss = b.op1("ReduceSum", [b.op1("GlobalAveragePool", [h])], { keepdims: 0 });
    const grads = differentiate(b, loss, [x, w1, b1, w2]);
    b.output("loss", loss);
    grads.forEach((g, i) => b.output(`grad_${i}`, g!));
    const graph = validateGraph(b.build("convnet"));
    const dir = await Deno.makeTempDir({ prefix: "onnxtrain-conv-" });
    const file = join(dir, "convnet.onnx");
    await Deno.writeFile(file, emitModel(graph));
    const theirs = (await onnxCheck([file]))[file];
    await Deno.remove(dir, { recursive: true });
    for (const port of graph.outputs) {
      assert.equal(formatShape(theirs[port.name]), formatShape(port.value.type.shape), port.name);
    }
    // And onnxruntime runs it: the gradient of x has x's shape at two batch sizes.
    for (const n of [1, 3]) {
      const feeds = {
        x: tensor("float32", [n, 2, 9, 9], randoms(n * 162, 11)),
        w1: tensor("float32", [4, 2, 3, 3], randoms(72, 12)),
        b1: tensor("float32", [4], randoms(4, 13)),
        w2: tensor("float32", [4, 2, 2, 2], randoms(32, 14)),
      };
      const out = await runGraph(graph, feeds);
      assert.deepEqual([...out.grad_0.dims], [n, 2, 9, 9]);
      assert.ok(values(out.grad_1).some((v) => v !== 0));
    }
  },
});

Deno.test("Conv gradient, stride 1 with ≥ 8 input channels: dX is a Conv with the flipped kernel", async () => {
  const countDx = (xShape: number[], wShape: number[], geo: Geo) => {
    const b = createGraphBuilder();
    const x = b.input("x", { dtype: "float32", shape: xShape });
    const w = b.input("w", { dtype: "float32", shape: wShape });
    const y = b.op1("Conv", [x, w], attrsOf(geo));
    differentiate(b, b.op1("ReduceSum", [y], { keepdims: 0 }), [x]);
    return b.build("dx").nodes.filter((n) => n.op === "ConvTranspose").length;
  };
  // Plain, dilated with asymmetric pads, grouped, 1-D: all through the flipped-kernel Conv.
  await checkConvGrad([2, 8, 5, 5], [3, 8, 3, 3], true, { pads: [1, 1, 1, 1] });
  await checkConvGrad([1, 8, 7, 6], [2, 8, 3, 2], false, { dilations: [2, 1], pads: [1, 0, 2, 1] });
  await checkConvGrad([2, 8, 4, 4], [6, 4, 3, 3], false, { group: 2, pads: [1, 1, 1, 1] });
  await checkConvGrad([2, 8, 6], [4, 8, 3], true, { pads: [2, 0] });
  assert.equal(countDx([2, 8, 5, 5], [3, 8, 3, 3], { pads: [1, 1, 1, 1] }), 0);
  assert.equal(countDx([2, 8, 4, 4], [6, 4, 3, 3], { group: 2 }), 0);
  // Stride 2, few channels, or pads beyond d·(k − 1) keep ConvTranspose.
  assert.equal(countDx([2, 8, 5, 5], [3, 8, 3, 3], { strides: [2, 2] }), 1);
  assert.equal(countDx([2, 4, 5, 5], [3, 4, 3, 3], {}), 1);
  assert.equal(countDx([1, 8, 5, 5], [2, 8, 3, 3], { pads: [3, 3, 3, 3] }), 1);
  await checkConvGrad([1, 8, 5, 5], [2, 8, 3, 3], false, { pads: [3, 3, 3, 3] });
});
