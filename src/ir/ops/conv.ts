/**
 * Convolution and pooling: Conv, ConvTranspose, MaxPool, MaxUnpool, AveragePool,
 * GlobalAveragePool. Shape rules and gradient rules.
 *
 * A convolution's weight gradient is one GEMM over im2col columns gathered from the whole batch
 * (a convolution of the swapped input where those columns would be too large); its input
 * gradient is a ConvTranspose.
 *
 * Attributes are ONNX's: `pads` is `[x1_begin, x2_begin, …, x1_end, x2_end]`, strides and
 * dilations default to 1 and pads to 0, and `auto_pad` must be NOTSET. Spatial dimensions must be
 * static; the batch may be symbolic.
 *
 * Pools take `ceil_mode` 1 as onnxruntime's kernels (and PyTorch) do: the output size is
 * ⌈(in + pads − extent)/stride⌉ + 1 (refused where that last window would start in the end
 * padding, which onnxruntime's kernel and onnx's shape inference count differently); the last
 * window may run past the end padding and reads only what it covers. AveragePool divides such a
 * window by the part of it inside the input, or with `count_include_pad` by the part inside the
 * padded input (onnxruntime and PyTorch agree on both).
 *
 * Training a MaxPool: build it with both outputs, `b.op("MaxPool", [x], attrs, { outputs: 2 })`,
 * so the gradient places dY through the Indices the forward pass computed: a MaxUnpool where
 * windows are disjoint (stride ≥ window extent) and the data float32, else a ScatterElements that
 * adds where windows overlap. A one-output MaxPool still differentiates: its rule recomputes the
 * indices with a second, two-output MaxPool.
 * @module
 */
import type { GraphBuilder } from "../graph_builder.ts";
import { dimProduct, dimsEqual } from "../dims.ts";
import { CompileError } from "../errors.ts";
import {
  type Attrs,
  type ConstTensor,
  type Dim,
  type DType,
  formatShape,
  isStatic,
  type Node,
  numElements,
  type TensorType,
  type Value,
} from "../types.ts";
import { arg, expectFloat, knownDims, numAttr, type OpDef, strAttr } from "./op_def.ts";
import type { ConvOpName } from "./op_names.ts";
import { reshapeLike, zeroTensor } from "./shape.ts";

/** Where a kernel slides: per spatial axis, in ONNX's attribute layout. */
interface Window {
  readonly kernel: readonly number[];
  readonly strides: readonly number[];
  /** `[x1_begin, x2_begin, …, x1_end, x2_end]`. */
  readonly pads: readonly number[];
  readonly dilations: readonly number[];
  /** Spatial input size. */
  readonly input: readonly number[];
  /** Spatial output size. */
  readonly output: readonly number[];
}

/** An INTS attribute of length `n` (default: `n` copies of `fallback`), checked against `min`. */
function intList(op: string, attrs: Attrs, name: string, n: number, fallback: number, min = 0) {
  const v = attrs[name];
  if (v === undefined) return new Array<number>(n).fill(fallback);
  if (!Array.isArray(v) || v.length !== n || v.some((d) => !Number.isInteger(d) || d < min)) {
    throw new CompileError(
      `${op} expects ${name} to be ${n} integers ≥ ${min}, got ${JSON.stringify(v)}`,
    );
  }
  return v as readonly number[];
}

/** Rejects the padding modes the rules do not handle; returns whether a pool rounds up. */
function checkModes(op: string, attrs: Attrs): boolean {
  const autoPad = strAttr(attrs, "auto_pad", "NOTSET");
  if (autoPad !== "NOTSET") {
    throw new CompileError(`${op} supports auto_pad NOTSET only (explicit pads), got ${autoPad}`);
  }
  const ceil = numAttr(attrs, "ceil_mode", 0);
  if (ceil !== 0 && ceil !== 1) {
    throw new CompileError(`${op} supports ceil_mode 0 or 1, got ${ceil}`);
  }
  return ceil === 1;
}

/** The input's spatial size, or a CompileError when it is not [N, C, *spatial] with static spatial. */
function spatialOf(op: string, x: Value, what = "input"): number[] {
  const s = x.type.shape;
  if (s.length < 3) {
    throw new CompileError(
      `${op} expects an ${what} of shape [N, C, *spatial], got ${formatShape(s)}`,
    );
  }
  const spatial = s.slice(2);
  if (!isStatic(spatial)) {
    throw new CompileError(`${op} needs static spatial dimensions, got ${what} ${formatShape(s)}`);
  }
  return [...spatial];
}

/**
 * The sliding window of a Conv or pool over `x`, with its output size: ⌊(padded − extent)/stride⌋
 * + 1, or with `ceil_mode` ⌈…⌉ + 1. onnxruntime's kernels and PyTorch drop that last window where
 * it would start at or past `in + pad_begin`, but onnx's shape inference (which onnxruntime runs
 * when it loads a graph) does not, and the graph then fails to load where a later node meets the
 * true size: such forms are refused.
 */
function slide(op: string, x: Value, kernel: readonly number[], attrs: Attrs): Window {
  const ceil = checkModes(op, attrs);
  const input = spatialOf(op, x);
  const n = input.length;
  const strides = intList(op, attrs, "strides", n, 1, 1);
  const dilations = intList(op, attrs, "dilations", n, 1, 1);
  const pads = intList(op, attrs, "pads", 2 * n, 0);
  const output = input.map((d, i) => {
    const padded = d + pads[i] + pads[n + i];
    const extent = dilations[i] * (kernel[i] - 1) + 1;
    if (extent > padded) {
      throw new CompileError(
        `${op} kernel ${formatShape(kernel)} (extent ${extent} with dilation ${dilations[i]}) ` +
          `is larger than the padded input (${padded}) on spatial axis ${i} of input ${
            formatShape(x.type.shape)
          }`,
      );
    }
    const steps = (padded - extent) / strides[i];
    if (!ceil) return Math.floor(steps) + 1;
    const out = Math.ceil(steps) + 1;
    if ((out - 1) * strides[i] >= d + pads[i]) {
      throw new CompileError(
        `${op} with ceil_mode 1 on input ${formatShape(x.type.shape)} (kernel ${
          formatShape(kernel)
        }, strides [${strides}], pads [${pads}]) would have a last window on spatial axis ${i} ` +
          `starting in the end padding: onnxruntime's kernel drops it (${out - 1} outputs) but ` +
          `onnx's shape inference keeps it (${out}), so onnxruntime cannot load the graph`,
      );
    }
    return out;
  });
  return { kernel, strides, pads, dilations, input, output };
}

/**
 * Input positions past the last window, per axis: the output_padding that restores the input
 * (for windows that end inside the padded input, as without `ceil_mode`).
 */
function leftOver(w: Window): number[] {
  const n = w.input.length;
  return w.input.map((d, i) =>
    (d + w.pads[i] + w.pads[n + i] - w.dilations[i] * (w.kernel[i] - 1) - 1) % w.strides[i]
  );
}

/** The kernel size of a pool: its kernel_shape attribute. */
function poolKernel(op: string, x: Value, attrs: Attrs): number[] {
  const n = spatialOf(op, x).length;
  if (attrs.kernel_shape === undefined) throw new CompileError(`${op} expects kernel_shape`);
  return [...intList(op, attrs, "kernel_shape", n, 1, 1)];
}

/**
 * A pool's window; pads must be smaller than the kernel, as onnxruntime requires, and every
 * window must read at least one input position (a dilated window may otherwise fall between
 * them: onnxruntime's MaxPool then yields the lowest float and Indices −1).
 */
function poolWindow(op: string, x: Value, attrs: Attrs): Window {
  expectFloat(op, x);
  const w = slide(op, x, poolKernel(op, x, attrs), attrs);
  const n = w.kernel.length;
  if (w.kernel.some((k, i) => w.pads[i] >= k || w.pads[n + i] >= k)) {
    throw new CompileError(
      `${op} pads [${w.pads}] must be smaller than the kernel ${formatShape(w.kernel)}`,
    );
  }
  w.output.forEach((size, i) => {
    for (let o = 0; o < size; o++) {
      const start = o * w.strides[i] - w.pads[i];
      const reads = Array.from({ length: w.kernel[i] }, (_, t) => start + t * w.dilations[i])
        .some((at) => at >= 0 && at < w.input[i]);
      if (!reads) {
        throw new CompileError(
          `${op} window ${o} on spatial axis ${i} reads only padding (input ${
            formatShape(x.type.shape)
          }, kernel ${formatShape(w.kernel)}, dilations [${w.dilations}], pads [${w.pads}])`,
        );
      }
    }
  });
  return w;
}

/**
 * Per spatial axis, the end pad and output_padding of the ConvTranspose that takes a pool's
 * output back to its input size: the transposed windows cover `(out − 1)·stride + extent −
 * pad_begin` positions, cut at the end where a ceil-mode window runs past the input, extended by
 * output_padding where positions after the last window are read by none.
 */
function transposeEnds(w: Window): { endPads: number[]; outputPadding: number[] } {
  const covered = w.output.map((o, i) =>
    (o - 1) * w.strides[i] + w.dilations[i] * (w.kernel[i] - 1) + 1 - w.pads[i]
  );
  return {
    endPads: covered.map((c, i) => Math.max(c - w.input[i], 0)),
    outputPadding: covered.map((c, i) => Math.max(w.input[i] - c, 0)),
  };
}

/** `count` consecutive axes starting at `from`, such as the spatial axes `[2, 3]`. */
function axesFrom(from: number, count: number): number[] {
  return [...Array(count).keys()].map((i) => i + from);
}

/** A float tensor of `dtype` holding `values`. */
function floats(dtype: DType, shape: readonly number[], values: ArrayLike<number>): ConstTensor {
  const data = dtype === "float64" ? Float64Array.from(values) : Float32Array.from(values);
  return { dtype: dtype === "float64" ? "float64" : "float32", shape, data };
}

/** Slices the spatial axes of `v` down to `sizes` where they are larger. */
function cropSpatial(b: GraphBuilder, v: Value, sizes: readonly number[]): Value {
  const have = v.type.shape.slice(2);
  if (have.every((d, i) => d === sizes[i])) return v;
  const axes = axesFrom(2, sizes.length);
  return b.op1("Slice", [v, b.ints(sizes.map(() => 0)), b.ints(sizes), b.ints(axes)]);
}

/** A static channel count, or a CompileError naming the gradient that needs it. */
function staticChannels(op: string, v: Value): number {
  const c = v.type.shape[1];
  if (typeof c !== "number") {
    throw new CompileError(
      `${op} gradient needs a static channel count, got ${formatShape(v.type.shape)}`,
    );
  }
  return c;
}

/**
 * The window's im2col gather indices, int32 [K, P] (K kernel offsets, P output positions):
 * the flat input position each offset reads at each output, or `∏input` (a zero slot appended
 * to the input) where it reads padding. Also says whether any index is padding.
 */
function gatherIndices(w: Window): { data: Int32Array; padded: boolean } {
  const n = w.kernel.length;
  const k = numElements(w.kernel), p = numElements(w.output), zero = numElements(w.input);
  const data = new Int32Array(k * p);
  let padded = false;
  const kIdx = new Array<number>(n).fill(0), oIdx = new Array<number>(n).fill(0);
  for (let kf = 0; kf < k; kf++) {
    oIdx.fill(0);
    for (let of = 0; of < p; of++) {
      let flat = 0;
      for (let i = 0; i < n && flat >= 0; i++) {
        const at = oIdx[i] * w.strides[i] + kIdx[i] * w.dilations[i] - w.pads[i];
        flat = at < 0 || at >= w.input[i] ? -1 : flat * w.input[i] + at;
      }
      if (flat < 0) padded = true;
      data[kf * p + of] = flat < 0 ? zero : flat;
      increment(oIdx, w.output);
    }
    increment(kIdx, w.kernel);
  }
  return { data, padded };
}

/** Advances a row-major multi-index within `sizes`, wrapping to zeros after the last. */
function increment(index: number[], sizes: readonly number[]): void {
  for (let i = index.length - 1; i >= 0; i--) {
    if (++index[i] < sizes[i]) return;
    index[i] = 0;
  }
}

/** Whether the window reads every input position once, in order: a 1×1 kernel, no stride, no pad. */
function isIdentityWindow(w: Window): boolean {
  return w.kernel.every((k, i) =>
    k === 1 && w.strides[i] === 1 && w.pads[i] === 0 && w.output[i] === w.input[i]
  );
}

/**
 * The most elements per sample that {@linkcode weightGradByGemm}'s gathered columns may hold
 * (Cin·∏kernel·∏output); larger convolutions take {@linkcode weightGradByConv}. 2²¹ floats
 * (8 MiB a sample, 512 MiB for a 64-sample batch, transient) take in resnet18's first stage and
 * first convolution at 224² (1.8 M a sample), whose weight gradients onnxruntime's Conv computed
 * at ≈ 43 GFLOP/s (a GEMM with 9 columns an image), the gathered MatMul at ≈ 160 (224², batch 32:
 * 3.41 → 3.06 s of kernels a step).
 */
const GATHER_LIMIT = 1 << 21;

/**
 * The weight gradient of a convolution taking `x` [N, Cin, *in] to `gy` [N, Cout, *out] through
 * the window `w`: returns [Cout, Cin/group, *kernel]. As one GEMM over im2col columns where
 * those fit {@linkcode GATHER_LIMIT}, else as a convolution.
 */
function weightGrad(
  b: GraphBuilder,
  op: string,
  x: Value,
  gy: Value,
  w: Window,
  group: number,
): Value {
  const cin = staticChannels(op, x), cout = staticChannels(op, gy), p = numElements(w.output);
  if (group === 1 && isIdentityWindow(w) && p >= Math.max(cin, cout, 64)) {
    return pointwiseWeightGrad(b, x, gy, cin, cout, p, w.kernel);
  }
  const columns = cin * numElements(w.kernel) * p;
  return columns <= GATHER_LIMIT
    ? weightGradByGemm(b, op, x, gy, w, group)
    : weightGradByConv(b, op, x, gy, w, group);
}

/**
 * The weight gradient of a 1×1 convolution (stride 1, no padding) with at least as many positions
 * an image as channels: one product per image, dY[n] · X[n]ᵀ, summed over the batch. Only the
 * smaller of X and dY is transposed (the GEMM over the whole batch transposes both), and the
 * per-image products, N × the weight's size, stay smaller than the activations.
 */
function pointwiseWeightGrad(
  b: GraphBuilder,
  x: Value,
  gy: Value,
  cin: number,
  cout: number,
  p: number,
  kernel: readonly number[],
): Value {
  const x3 = b.op1("Reshape", [x, b.ints([0, cin, p])]);
  const g3 = b.op1("Reshape", [gy, b.ints([0, cout, p])]);
  const sum = (v: Value) => b.op1("ReduceSum", [v, b.ints([0])], { keepdims: 0 });
  const dw = cin <= cout
    ? sum(b.op1("MatMul", [g3, b.op1("Transpose", [x3], { perm: [0, 2, 1] })])) // [Cout, Cin]
    : b.op1("Transpose", [
      sum(b.op1("MatMul", [x3, b.op1("Transpose", [g3], { perm: [0, 2, 1] })])), // [Cin, Cout]
    ], { perm: [1, 0] });
  return b.op1("Reshape", [dw, b.ints([cout, cin, ...kernel])]);
}

/**
 * The im2col columns of `x` [N, Cin, *in] for the window `w`, batch innermost:
 * [g, Cin/g·K, P·N]. X is laid out as [Cin, ∏in, N] (plus a zero slot at ∏in where the window
 * reaches into padding) and one Gather with constant indices picks each kernel offset's input
 * positions, so every gathered block is N elements long.
 */
function columns(b: GraphBuilder, op: string, x: Value, w: Window, group: number): Value {
  const cin = staticChannels(op, x), cg = cin / group;
  const k = numElements(w.kernel), p = numElements(w.output), s = numElements(w.input);
  const x3 = b.op1("Reshape", [x, b.ints([0, cin, s])]);
  let xs = b.op1("Reshape", [
    b.op1("Transpose", [x3], { perm: [1, 2, 0] }),
    b.ints([group, cg, s, -1]),
  ]);
  if (!isIdentityWindow(w)) {
    const { data, padded } = gatherIndices(w);
    if (padded) xs = b.op1("Pad", [xs, b.ints([0, 0, 0, 0, 0, 0, 1, 0])]);
    const idx = b.constant({ dtype: "int32", shape: [k, p], data });
    xs = b.op1("Gather", [xs, idx], { axis: 2 }); // [g, Cin/g, K, P, N]
  }
  return b.op1("Reshape", [xs, b.ints([group, cg * k, -1])]);
}

/**
 * {@linkcode weightGrad} as im2col and one GEMM whose inner dimension is the batch times the
 * output positions. X is laid out as [Cin, ∏in, N]; one Gather with constant indices picks each
 * kernel offset's input positions into columns [g, Cin/g·K, P·N]; a MatMul with dY laid out as
 * [g, P·N, Cout/g] gives [g, Cin/g·K, Cout/g]. Keeping N innermost makes each gathered block N
 * elements long, and every transpose stays at rank 3 (4 with groups), where onnxruntime's are
 * fast. On the second conv of `pipelines/fmnist_cnn.ts` (batch 64) this is about 5× faster
 * than the convolution (`bench/conv_grad.ts`).
 */
function weightGradByGemm(
  b: GraphBuilder,
  op: string,
  x: Value,
  gy: Value,
  w: Window,
  group: number,
): Value {
  const cin = staticChannels(op, x), cout = staticChannels(op, gy);
  const cg = cin / group, mg = cout / group;
  const k = numElements(w.kernel), p = numElements(w.output);
  const cols = columns(b, op, x, w, group);
  // dY: [N, Cout, P] → [g, P·N, Cout/g]. With one output channel a group (depthwise), as a
  // rank-3 transpose: onnxruntime takes a rank-4 one with a unit axis element by element (9.9
  // against ≈ 1 ms for mobilenet_v2's [32, 144, 1, 256]).
  const gt = group === 1
    ? b.op1("Transpose", [b.op1("Reshape", [gy, b.ints([0, cout, p])])], { perm: [2, 0, 1] })
    : mg === 1
    ? b.op1("Transpose", [b.op1("Reshape", [gy, b.ints([0, group, p])])], { perm: [1, 2, 0] })
    : b.op1("Transpose", [b.op1("Reshape", [gy, b.ints([0, group, mg, p])])], {
      perm: [1, 3, 0, 2],
    });
  const g2 = b.op1("Reshape", [gt, b.ints([group, -1, mg])]);
  const dw = b.op1("MatMul", [cols, g2]); // [g, Cin/g·K, Cout/g]
  if (mg === 1) return b.op1("Reshape", [dw, b.ints([cout, cg, ...w.kernel])]);
  if (group === 1) {
    // [Cin·K, Cout] → [Cout, Cin·K] as a rank-2 transpose (a rank-4 one with unit axes took
    // 4.4 ms for mobilenet_v2's [1, 320, 1, 1280]).
    const dwt = b.op1("Transpose", [b.op1("Reshape", [dw, b.ints([cin * k, cout])])], {
      perm: [1, 0],
    });
    return b.op1("Reshape", [dwt, b.ints([cout, cin, ...w.kernel])]);
  }
  const dw4 = b.op1("Reshape", [dw, b.ints([group, cg, k, mg])]);
  const dwt = b.op1("Transpose", [dw4], { perm: [0, 3, 1, 2] }); // [g, Cout/g, Cin/g, K]
  return b.op1("Reshape", [dwt, b.ints([cout, cg, ...w.kernel])]);
}

/**
 * {@linkcode weightGrad} as the convolution of `x` (batch and channels swapped) with `gy` as its
 * kernel, strides and dilations exchanged. Its GEMMs are skinny (their N is ∏kernel), but it
 * needs no more memory than the forward Conv.
 */
function weightGradByConv(
  b: GraphBuilder,
  op: string,
  x: Value,
  gy: Value,
  w: Window,
  group: number,
): Value {
  const n = w.kernel.length;
  const cin = staticChannels(op, x), cout = staticChannels(op, gy);
  const inSize = x.type.shape.slice(2) as number[], outSize = gy.type.shape.slice(2) as number[];
  let xs: Value, ks: Value;
  if (group === 1) {
    xs = b.op1("Transpose", [x], { perm: [1, 0, ...axesFrom(2, n)] }); // [Cin, N, *in]
    ks = b.op1("Transpose", [gy], { perm: [1, 0, ...axesFrom(2, n)] }); // [Cout, N, *out]
  } else {
    // Channels of group j read the j-th block of g·N "channels" of the swapped input.
    const xg = b.op1("Reshape", [x, b.ints([0, group, cin / group, ...inSize])]);
    const xt = b.op1("Transpose", [xg], { perm: [2, 1, 0, ...axesFrom(3, n)] });
    xs = b.op1("Reshape", [xt, b.ints([cin / group, -1, ...inSize])]); // [Cin/g, g·N, *in]
    const gg = b.op1("Reshape", [gy, b.ints([0, group, cout / group, ...outSize])]);
    const gt = b.op1("Transpose", [gg], { perm: [1, 2, 0, ...axesFrom(3, n)] });
    ks = b.op1("Reshape", [gt, b.ints([cout, -1, ...outSize])]); // [Cout, N, *out]
  }
  const dw = b.op1("Conv", [xs, ks], {
    strides: w.dilations,
    dilations: w.strides,
    pads: w.pads,
    group,
  }); // [Cin/g, Cout, *k'] with k' ≥ kernel
  const perm = [1, 0, ...axesFrom(2, n)];
  return b.op1("Transpose", [cropSpatial(b, dw, w.kernel)], { perm });
}

/** The bias gradient: dY summed over every axis but the channels. */
function biasGrad(b: GraphBuilder, gy: Value): Value {
  const rank = gy.type.shape.length;
  return b.op1("ReduceSum", [gy, b.ints([0, ...axesFrom(2, rank - 2)])], { keepdims: 0 });
}

/** Checks X, W and B of a Conv or ConvTranspose; returns the group and the kernel size. */
function checkConvInputs(
  op: "Conv" | "ConvTranspose",
  inputs: readonly (Value | null)[],
  attrs: Attrs,
): { x: Value; w: Value; group: number; kernel: number[]; outChannels: Dim } {
  const x = arg(op, inputs, 0), w = arg(op, inputs, 1), bias = inputs[2];
  expectFloat(op, x);
  const xs = x.type.shape, ws = w.type.shape;
  const shapes = `input ${formatShape(xs)} and weight ${formatShape(ws)}`;
  if (w.type.dtype !== x.type.dtype) {
    throw new CompileError(
      `${op} expects input and weight of one dtype, got ${x.type.dtype} and ${w.type.dtype}`,
    );
  }
  spatialOf(op, x);
  if (ws.length !== xs.length) {
    throw new CompileError(`${op} expects a weight of rank ${xs.length}, got ${shapes}`);
  }
  const kernel = spatialOf(op, w, "weight");
  const group = numAttr(attrs, "group", 1);
  if (!Number.isInteger(group) || group < 1) {
    throw new CompileError(`${op} expects a positive integer group, got ${group}`);
  }
  if (attrs.kernel_shape !== undefined) {
    const k = intList(op, attrs, "kernel_shape", kernel.length, 1, 1);
    if (k.some((d, i) => d !== kernel[i])) {
      throw new CompileError(`${op} kernel_shape [${k}] does not match the ${shapes}`);
    }
  }
  const c = xs[1];
  if (typeof c === "number" && c % group !== 0) {
    throw new CompileError(`${op} group ${group} does not divide the ${c} channels of ${shapes}`);
  }
  // Conv: W is [M, C/group, *k]; ConvTranspose: W is [C, M/group, *k].
  const [wIn, wOut] = op === "Conv" ? [dimProduct([ws[1], group]), ws[0]] : [ws[0], ws[1]];
  if (!dimsEqual(c, wIn)) {
    const want = op === "Conv" ? `${ws[1]} × group ${group} = ${wIn}` : `${wIn}`;
    throw new CompileError(
      `${op} expects the input's ${c} channels to match the weight's ${want}, got ${shapes}`,
    );
  }
  if (op === "Conv" && typeof wOut === "number" && wOut % group !== 0) {
    throw new CompileError(
      `${op} group ${group} does not divide the ${wOut} output channels of ${shapes}`,
    );
  }
  const outChannels = op === "Conv" ? wOut : dimProduct([wOut, group]);
  if (bias) {
    const bs = bias.type.shape;
    if (bs.length !== 1 || !dimsEqual(bs[0], outChannels) || bias.type.dtype !== x.type.dtype) {
      throw new CompileError(
        `${op} expects a bias ${x.type.dtype}[${outChannels}] for ${shapes}, got ${bias.type.dtype}${
          formatShape(bs)
        }`,
      );
    }
  }
  return { x, w, group, kernel, outChannels };
}

/** The output size of a ConvTranspose over `input`, per spatial axis. */
function transposedSize(op: string, x: Value, kernel: readonly number[], attrs: Attrs): Window {
  checkModes(op, attrs);
  if (attrs.output_shape !== undefined) {
    throw new CompileError(`${op} output_shape is not supported; give pads and output_padding`);
  }
  const input = spatialOf(op, x);
  const n = input.length;
  const strides = intList(op, attrs, "strides", n, 1, 1);
  const dilations = intList(op, attrs, "dilations", n, 1, 1);
  const pads = intList(op, attrs, "pads", 2 * n, 0);
  const extra = intList(op, attrs, "output_padding", n, 0);
  const output = input.map((d, i) => {
    if (extra[i] >= Math.max(strides[i], dilations[i])) {
      throw new CompileError(
        `${op} output_padding [${extra}] must be smaller than the stride or the dilation`,
      );
    }
    const size = strides[i] * (d - 1) + extra[i] + dilations[i] * (kernel[i] - 1) + 1 - pads[i] -
      pads[n + i];
    if (size < 1) {
      throw new CompileError(
        `${op} pads [${pads}] leave no output on spatial axis ${i} of input ${
          formatShape(x.type.shape)
        }`,
      );
    }
    return size;
  });
  return { kernel, strides, pads, dilations, input, output };
}

/**
 * Whether MaxUnpool computes MaxPool's gradient exactly: no two windows share an input position
 * (each spans at most its stride), so no two indices are equal and nothing needs adding; and
 * onnxruntime's CPU MaxUnpool handles it (1 to 3 spatial axes).
 */
function unpoolable(w: Window): boolean {
  return w.kernel.length <= 3 &&
    w.kernel.every((k, i) => w.dilations[i] * (k - 1) + 1 <= w.strides[i]);
}

/** Below this many input channels, ConvTranspose computes a stride-1 dX faster than Conv. */
const FLIPPED_CONV_MIN_CHANNELS = 8;

/**
 * dX of a Conv. With stride 1 it is the convolution of dY with the kernel flipped spatially and
 * its channel axes swapped (per group), padded by `d·(k − 1) − pad` per side: onnxruntime's CPU
 * Conv runs that about twice as fast as ConvTranspose (e.g. 4.4 against 10.2 ms for
 * dY [64, 16, 28, 28], W [16, 16, 3, 3]), except for few input channels. Otherwise the transposed
 * convolution, padded at the end back to X's size.
 */
function inputGrad(
  b: GraphBuilder,
  x: Value,
  gy: Value,
  weight: Value,
  w: Window,
  group: number,
): Value {
  const rank = w.kernel.length;
  const c = x.type.shape[1], m = weight.type.shape[0];
  const full = w.kernel.map((k, i) => w.dilations[i] * (k - 1));
  const pads = [...full.map((f, i) => f - w.pads[i]), ...full.map((f, i) => f - w.pads[rank + i])];
  const flippable = w.strides.every((s) => s === 1) && pads.every((p) => p >= 0) &&
    typeof c === "number" && typeof m === "number" && c >= FLIPPED_CONV_MIN_CHANNELS;
  if (!flippable) {
    return b.op1("ConvTranspose", [gy, weight], {
      strides: w.strides,
      pads: w.pads,
      dilations: w.dilations,
      group,
      output_padding: leftOver(w),
    });
  }
  // W [M, C/g, *k] → [C, M/g, *k]: swap the channel axes within each group.
  const spatial = w.kernel.map((_, i) => i + 2);
  const swapped = group === 1
    ? b.op1("Transpose", [weight], { perm: [1, 0, ...spatial] })
    : b.op1("Reshape", [
      b.op1("Transpose", [
        b.op1("Reshape", [weight, b.ints([group, m / group, c / group, ...w.kernel])]),
      ], { perm: [0, 2, 1, ...spatial.map((a) => a + 1)] }),
      b.ints([c, m / group, ...w.kernel]),
    ]);
  return b.op1("Conv", [gy, flipKernel(b, swapped, w.kernel)], {
    kernel_shape: w.kernel,
    strides: w.strides,
    pads,
    dilations: w.dilations,
    group,
  });
}

/**
 * A kernel [A, B, *k] flipped along every spatial axis. A 1×1 kernel is its own flip. Otherwise
 * one MatMul with the anti-identity over the flattened window, [A·B, ∏k] × [∏k, ∏k]: exact for
 * finite weights (each output is one weight times 1 plus zeros), and ≈ 20× faster than a Slice
 * with negative steps, which onnxruntime copies an element at a time (7.6 ms for a
 * [320, 1280, 1, 1] kernel in efficientnet_b0's profile).
 */
function flipKernel(b: GraphBuilder, kernel: Value, window: readonly number[]): Value {
  const k = numElements(window);
  if (k === 1) return kernel;
  const reverse = new Float32Array(k * k);
  for (let i = 0; i < k; i++) reverse[i * k + (k - 1 - i)] = 1;
  const [a, c] = kernel.type.shape as number[];
  const rows = b.op1("Reshape", [kernel, b.ints([a * c, k])]);
  const flipped = b.op1("MatMul", [rows, b.constant(floats(kernel.type.dtype, [k, k], reverse))]);
  return b.op1("Reshape", [flipped, b.ints([a, c, ...window])]);
}

/**
 * Output positions an image below which a convolution runs faster as one GEMM over the whole
 * batch than as onnxruntime's per-image im2col GEMMs ({@linkcode convByGemm}). onnxruntime's CPU
 * Conv multiplies each image's [Cout, Cin·K] by [Cin·K, P] with P its output positions, so with
 * P = 4 (resnet18's last stage on 64×64 images) it ran at 29–32 GFLOP/s and the stride-2
 * ConvTranspose of the input gradient at 7, against 64–83 at P ≥ 16.
 */
export const SMALL_CONV_POSITIONS = 16;

/**
 * Output positions an image up to which a grouped convolution (depthwise, say) runs faster as one
 * batched MatMul over the groups than as onnxruntime's Conv, which runs an im2col GEMM per image
 * and group: at 1.3 GFLOP/s over mobilenet_v2's and efficientnet_b0's depthwise layers. Measured
 * on 2 threads (batch 32, 3×3 unless said): 2×2 images 6.9 → 0.6 ms (960 channels), 4×4 3.8 →
 * 2.5 (384), 4×4 5×5 14.9 → 10.4 (672), 8×8→4×4 stride 2 3.6 → 1.2 (576); at 8×8 outputs the
 * gathered columns cost more than they save (3.5 → 4.4 ms).
 */
export const SMALL_GROUPED_CONV_POSITIONS = 16;

/** Whether a Conv or ConvTranspose node is one {@linkcode convByGemm} rewrites. */
export function smallConv(node: Node): boolean {
  if (node.op !== "Conv" && node.op !== "ConvTranspose") return false;
  const [x, weight] = node.inputs;
  if (!x || !weight || x.type.dtype !== "float32") return false;
  const spatial = [...x.type.shape.slice(1), ...weight.type.shape];
  if (spatial.some((d) => typeof d !== "number")) return false;
  const positions = node.op === "Conv"
    ? numElements(node.outputs[0].type.shape.slice(2) as number[])
    : numElements(x.type.shape.slice(2) as number[]);
  return numAttr(node.attrs, "group", 1) === 1
    ? positions < SMALL_CONV_POSITIONS
    : positions <= SMALL_GROUPED_CONV_POSITIONS;
}

/**
 * A Conv as one GEMM over the batch: Y[Cout, P·N] = W[Cout, Cin·K] · columns[Cin·K, P·N]
 * (+ bias), then laid out back as [N, Cout, *out]. With groups, one batched MatMul:
 * [g, Cout/g, Cin/g·K] · [g, Cin/g·K, P·N]. Exact up to the order of the sums.
 */
export function convByGemm(b: GraphBuilder, node: Node): Value {
  const [x, weight, bias] = node.inputs as [Value, Value, Value | null | undefined];
  const { kernel, outChannels, group } = checkConvInputs("Conv", node.inputs, node.attrs);
  const w = slide("Conv", x, kernel, node.attrs);
  const cout = outChannels as number, cin = staticChannels("Conv", x);
  const p = numElements(w.output);
  let y: Value;
  if (group === 1) {
    const cols = b.op1("Reshape", [
      columns(b, "Conv", x, w, 1),
      b.ints([cin * numElements(kernel), -1]),
    ]);
    const wm = b.op1("Reshape", [weight, b.ints([cout, -1])]);
    y = bias
      ? b.op1("Gemm", [wm, cols, b.op1("Reshape", [bias, b.ints([cout, 1])])])
      : b.op1("Gemm", [wm, cols]); // [Cout, P·N]
  } else {
    const wg = b.op1("Reshape", [weight, b.ints([group, cout / group, -1])]);
    const yg = b.op1("MatMul", [wg, columns(b, "Conv", x, w, group)]); // [g, Cout/g, P·N]
    y = bias ? b.op1("Add", [yg, b.op1("Reshape", [bias, b.ints([group, cout / group, 1])])]) : yg;
  }
  const yt = b.op1("Transpose", [b.op1("Reshape", [y, b.ints([cout, p, -1])])], {
    perm: [2, 0, 1],
  });
  return b.op1("Reshape", [yt, b.ints([-1, cout, ...w.output])]);
}

/**
 * A ConvTranspose as one GEMM over the batch and a col2im that is a MatMul by a constant 0/1
 * matrix: columns[M·K, P·N] = Wᵀ · X[C, P·N]; each output position sums the columns that land on
 * it, out[M, S, N] = Place[S, K·P] · columns[M, K·P, N]. With groups the columns are one batched
 * MatMul, [g, M/g·K, C/g] · [g, C/g, P·N].
 */
export function convTransposeByGemm(b: GraphBuilder, node: Node): Value {
  const [x, weight, bias] = node.inputs as [Value, Value, Value | null | undefined];
  const { kernel, outChannels, group } = checkConvInputs("ConvTranspose", node.inputs, node.attrs);
  const t = transposedSize("ConvTranspose", x, kernel, node.attrs);
  const w: Window = { ...t, input: t.output, output: t.input }; // its adjoint Conv's window
  const c = staticChannels("ConvTranspose", x), m = outChannels as number;
  const k = numElements(kernel), p = numElements(w.output), s = numElements(w.input);
  const xt = b.op1("Transpose", [b.op1("Reshape", [x, b.ints([0, c, p])])], { perm: [1, 2, 0] });
  let cols: Value;
  if (group === 1) {
    cols = b.op1("Gemm", [
      b.op1("Reshape", [weight, b.ints([c, m * k])]),
      b.op1("Reshape", [xt, b.ints([c, -1])]),
    ], { transA: 1 }); // [M·K, P·N]
  } else {
    const cg = c / group, mk = (m / group) * k;
    // W [C, M/g, *k] → [g, M/g·K, C/g]; with one input channel a group, a reshape.
    const wt = cg === 1
      ? b.op1("Reshape", [weight, b.ints([group, mk, 1])])
      : b.op1("Transpose", [b.op1("Reshape", [weight, b.ints([group, cg, mk])])], {
        perm: [0, 2, 1],
      });
    cols = b.op1("MatMul", [wt, b.op1("Reshape", [xt, b.ints([group, cg, -1])])]); // [g, M/g·K, P·N]
  }
  const place = new Float32Array(s * k * p);
  const { data } = gatherIndices(w);
  data.forEach((at, kp) => {
    if (at < s) place[at * k * p + kp] = 1;
  });
  const out = b.op1("MatMul", [
    b.constant(floats("float32", [s, k * p], place)),
    b.op1("Reshape", [cols, b.ints([m, k * p, -1])]),
  ]); // [M, S, N]
  const withBias = bias ? b.op1("Add", [out, b.op1("Reshape", [bias, b.ints([m, 1, 1])])]) : out;
  return b.op1("Reshape", [
    b.op1("Transpose", [withBias], { perm: [2, 0, 1] }),
    b.ints([-1, m, ...w.input]),
  ]);
}

/** Convolution and pooling op table. */
export const CONV_OPS = {
  Conv: {
    infer: (inputs, attrs): TensorType[] => {
      const { x, kernel, outChannels } = checkConvInputs("Conv", inputs, attrs);
      const w = slide("Conv", x, kernel, attrs);
      return [{ dtype: x.type.dtype, shape: [x.type.shape[0], outChannels, ...w.output] }];
    },
    grad: ({ b, node, dy, needs }) => {
      const { x, w: weight, group, kernel } = checkConvInputs("Conv", node.inputs, node.attrs);
      const gy = dy[0]!;
      const w = slide("Conv", x, kernel, node.attrs);
      const dx = needs[0] ? inputGrad(b, x, gy, weight, w, group) : null;
      return [
        dx,
        needs[1] ? weightGrad(b, "Conv", x, gy, w, group) : null,
        needs[2] ? biasGrad(b, gy) : null,
      ];
    },
  },
  ConvTranspose: {
    infer: (inputs, attrs): TensorType[] => {
      const { x, kernel, outChannels } = checkConvInputs("ConvTranspose", inputs, attrs);
      const w = transposedSize("ConvTranspose", x, kernel, attrs);
      return [{ dtype: x.type.dtype, shape: [x.type.shape[0], outChannels, ...w.output] }];
    },
    grad: ({ b, node, dy, needs }) => {
      const op = "ConvTranspose";
      const { x, w: weight, group, kernel } = checkConvInputs(op, node.inputs, node.attrs);
      const gy = dy[0]!;
      const t = transposedSize(op, x, kernel, node.attrs);
      // The adjoint is the Conv from Y's size to X's with the same geometry.
      const w: Window = { ...t, input: t.output, output: t.input };
      const common = { strides: w.strides, pads: w.pads, dilations: w.dilations, group };
      const dx = needs[0] ? cropSpatial(b, b.op1("Conv", [gy, weight], common), t.input) : null;
      return [
        dx,
        needs[1] ? weightGrad(b, op, gy, x, w, group) : null,
        needs[2] ? biasGrad(b, gy) : null,
      ];
    },
  },
  MaxPool: {
    infer: (inputs, attrs): TensorType[] => {
      const x = arg("MaxPool", inputs, 0);
      if (numAttr(attrs, "storage_order", 0) !== 0) {
        throw new CompileError("MaxPool supports storage_order 0 only");
      }
      const w = poolWindow("MaxPool", x, attrs);
      const shape = [...x.type.shape.slice(0, 2), ...w.output];
      return [{ dtype: x.type.dtype, shape }, { dtype: "int64", shape }];
    },
    grad: ({ b, node, dy }) => {
      // Indices hold each maximum's offset in the flattened X (N and C included; the first
      // maximum of a window on ties, as onnxruntime and PyTorch pick it), so dX scatter-adds dY.
      const x = node.inputs[0]!;
      if (!dy[0]) return [null]; // Indices alone carry no gradient.
      const indices = node.outputs[1] ?? b.op("MaxPool", [x], node.attrs, { outputs: 2 })[1];
      const w = poolWindow("MaxPool", x, node.attrs);
      if (x.type.dtype === "float32" && unpoolable(w)) {
        // Disjoint windows: every index is distinct, so placing dY is the whole gradient. The
        // output_shape input sets the size; the attributes only bound it from below in
        // onnxruntime, so a ceil-mode window past the end gets a larger end pad (still < kernel).
        const n = w.kernel.length;
        const ends = w.kernel.map((k, i) =>
          Math.max(w.pads[n + i], (w.output[i] - 1) * w.strides[i] - w.pads[i] + k - w.input[i])
        );
        const attrs = {
          kernel_shape: w.kernel,
          strides: w.strides,
          pads: [...w.pads.slice(0, n), ...ends],
        };
        return [b.op1("MaxUnpool", [dy[0], indices, b.op1("Shape", [x])], attrs)];
      }
      const flat = (v: Value) => b.op1("Reshape", [v, b.ints([-1])]);
      const zeros = b.op1("ConstantOfShape", [b.op1("Shape", [flat(x)])], {
        value: zeroTensor(x.type.dtype),
      });
      const dx = b.op1("ScatterElements", [zeros, flat(indices), flat(dy[0])], {
        axis: 0,
        reduction: "add",
      });
      return [reshapeLike(b, dx, x)];
    },
  },
  MaxUnpool: {
    // Puts each element of X at its flat index (as MaxPool's Indices) in zeros of the output
    // shape: the `output_shape` input where its values are known, else the attributes'. Used by
    // MaxPool's gradient; onnxruntime's CPU kernel is float32 only.
    infer: (inputs, attrs): TensorType[] => {
      const op = "MaxUnpool";
      const x = arg(op, inputs, 0), idx = arg(op, inputs, 1);
      expectFloat(op, x);
      checkModes(op, attrs);
      const xs = x.type.shape;
      const is = idx.type.shape;
      if (
        idx.type.dtype !== "int64" || is.length !== xs.length ||
        is.some((d, i) => !dimsEqual(d, xs[i]))
      ) {
        throw new CompileError(
          `${op} expects int64 indices of the input's shape ${
            formatShape(xs)
          }, got ${idx.type.dtype}${formatShape(idx.type.shape)}`,
        );
      }
      const input = spatialOf(op, x);
      const kernel = poolKernel(op, x, attrs), n = kernel.length;
      const strides = intList(op, attrs, "strides", n, 1, 1);
      const pads = intList(op, attrs, "pads", 2 * n, 0);
      const given = inputs[2] ? knownDims(inputs[2]) : undefined;
      if (inputs[2] && (!given || given.length !== xs.length)) {
        throw new CompileError(
          `${op} expects an output_shape of ${xs.length} values known at compile time`,
        );
      }
      const shape = given ??
        [
          xs[0],
          xs[1],
          ...input.map((d, i) => (d - 1) * strides[i] - pads[i] - pads[n + i] + kernel[i]),
        ];
      return [{ dtype: x.type.dtype, shape }];
    },
  },
  AveragePool: {
    infer: (inputs, attrs): TensorType[] => {
      const x = arg("AveragePool", inputs, 0);
      if (attrs.dilations !== undefined) {
        throw new CompileError("AveragePool has no dilations in opset 17");
      }
      const w = poolWindow("AveragePool", x, attrs);
      return [{ dtype: x.type.dtype, shape: [...x.type.shape.slice(0, 2), ...w.output] }];
    },
    grad: ({ b, node, dy }) => {
      // dX = ConvTranspose(dY / divisor) with a kernel of ones, on each channel alone.
      const x = node.inputs[0]!, dtype = x.type.dtype;
      const w = poolWindow("AveragePool", x, node.attrs);
      const n = w.kernel.length;
      const includePad = numAttr(node.attrs, "count_include_pad", 0) !== 0;
      // Per axis, how many of a window's positions lie inside the input (with count_include_pad:
      // inside the padded input, which only a ceil-mode window past the end pad falls short of).
      const counts = w.output.map((size, i) =>
        Array.from({ length: size }, (_, o) => {
          const start = o * w.strides[i] - w.pads[i];
          return includePad
            ? Math.min(start + w.kernel[i], w.input[i] + w.pads[n + i]) - start
            : Math.min(start + w.kernel[i], w.input[i]) - Math.max(start, 0);
        })
      );
      const inverse = Array.from({ length: numElements(w.output) }, (_, flat) => {
        let divisor = 1;
        for (let i = n - 1; i >= 0; i--) {
          divisor *= counts[i][flat % w.output[i]];
          flat = Math.floor(flat / w.output[i]);
        }
        return 1 / divisor;
      });
      const scaled = b.op1("Mul", [dy[0]!, b.constant(floats(dtype, w.output, inverse))]);
      const perChannel = b.op1("Reshape", [scaled, b.ints([-1, 1, ...w.output])]);
      const ones = b.constant(
        floats(dtype, [1, 1, ...w.kernel], new Array(numElements(w.kernel)).fill(1)),
      );
      const { endPads, outputPadding } = transposeEnds(w);
      const dx = b.op1("ConvTranspose", [perChannel, ones], {
        strides: w.strides,
        pads: [...w.pads.slice(0, n), ...endPads],
        output_padding: outputPadding,
      });
      return [reshapeLike(b, dx, x)];
    },
  },
  GlobalAveragePool: {
    infer: (inputs): TensorType[] => {
      const x = arg("GlobalAveragePool", inputs, 0);
      expectFloat("GlobalAveragePool", x);
      const s = x.type.shape;
      if (s.length < 3) {
        throw new CompileError(
          `GlobalAveragePool expects an input of shape [N, C, *spatial], got ${formatShape(s)}`,
        );
      }
      return [{ dtype: x.type.dtype, shape: [s[0], s[1], ...s.slice(2).map(() => 1)] }];
    },
    grad: ({ b, node, dy }) => {
      const x = node.inputs[0]!;
      const count = numElements(spatialOf("GlobalAveragePool", x));
      const mean = b.op1("Div", [dy[0]!, b.scalar(count, x.type.dtype)]);
      return [b.op1("Expand", [mean, b.op1("Shape", [x])])];
    },
  },
} satisfies Record<ConvOpName, OpDef>;
