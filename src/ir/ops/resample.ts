/**
 * Resampling and per-instance normalisation that imported models use: Resize (opset 13 form),
 * InstanceNormalization, and {@linkcode groupNormalization} built from primitives (the op
 * itself exists only from opset 18, and graphs are emitted at opset 17). Shape rules and
 * gradients.
 *
 * Resize is linear in X: along each resized axis its output is an interpolation matrix
 * A (out × in) applied to X, so its gradient contracts dY with each A in turn. The matrices are
 * computed here with onnxruntime's own coordinate arithmetic (in float32), so they are the
 * matrices its kernel applies.
 * @module
 */
import type { GraphBuilder } from "../graph_builder.ts";
import { dimsEqual } from "../dims.ts";
import { CompileError } from "../errors.ts";
import {
  type Attrs,
  type DType,
  formatShape,
  isStatic,
  type TensorType,
  type Value,
} from "../types.ts";
import { arg, expectFloat, type GradArgs, numAttr, type OpDef, strAttr } from "./op_def.ts";
import type { ResampleOpName } from "./op_names.ts";
import { normalizationBackward } from "./import_ops.ts";
import { reshapeLike } from "./shape.ts";

/** Resize's interpolation modes handled here (cubic is not). */
export type ResizeMode = "nearest" | "linear";

/** Resize's coordinate transformations handled here: how an output index maps to the input. */
export type CoordinateMode =
  | "half_pixel"
  | "pytorch_half_pixel"
  | "asymmetric"
  | "align_corners";

/** How Resize's nearest mode rounds a fractional input coordinate to an index. */
export type NearestMode = "round_prefer_floor" | "round_prefer_ceil" | "floor" | "ceil";

const MODES: readonly string[] = ["nearest", "linear"];
const COORDINATE_MODES: readonly string[] = [
  "half_pixel",
  "pytorch_half_pixel",
  "asymmetric",
  "align_corners",
];
const NEAREST_MODES: readonly string[] = [
  "round_prefer_floor",
  "round_prefer_ceil",
  "floor",
  "ceil",
];

const f = Math.fround;

/** The input coordinate of output index `o`, in float32 as onnxruntime computes it. */
function sourceCoordinate(
  mode: CoordinateMode,
  o: number,
  scale: number,
  outSize: number,
  inSize: number,
): number {
  switch (mode) {
    case "half_pixel":
      return f(f(f(o + 0.5) / scale) - 0.5);
    case "pytorch_half_pixel":
      return outSize > 1 ? f(f(f(o + 0.5) / scale) - 0.5) : 0;
    case "asymmetric":
      return f(o / scale);
    case "align_corners":
      return outSize === 1 ? 0 : f(f(o * (inSize - 1)) / (outSize - 1));
  }
}

/** Half away from zero, as C's `round`. */
const roundHalfAway = (x: number) => Math.sign(x) * Math.floor(Math.abs(x) + 0.5);

/** The index nearest to `x` under `mode` (before clamping to the input). */
function nearestIndex(mode: NearestMode, x: number): number {
  switch (mode) {
    case "round_prefer_floor":
      return x === Math.trunc(x) + 0.5 ? Math.floor(x) : roundHalfAway(x);
    case "round_prefer_ceil":
      return roundHalfAway(x);
    case "floor":
      return Math.floor(x);
    case "ceil":
      return Math.ceil(x);
  }
}

/**
 * The interpolation matrix of one Resize axis, row-major out × in: row `o` holds the weights
 * output index `o` gives each input index, exactly as onnxruntime's CPU kernel computes them
 * (float32 coordinates; nearest: a single 1, clamped to the input; linear: the coordinate clamped
 * to [0, in − 1], weights `1 − frac` and `frac` on its two neighbours, or 1 on the last index).
 *
 * @param mode Interpolation mode.
 * @param coordinates The coordinate transformation.
 * @param nearest Rounding of the nearest mode (ignored for linear).
 * @param inSize Input length on this axis.
 * @param outSize Output length on this axis.
 * @param scale The axis's scale: the `scales` value, or `outSize / inSize` when `sizes` is given.
 * @returns `outSize · inSize` weights.
 *
 * @example
 * ```ts
 * import { resizeMatrix } from "./resample.ts";
 * // Linear, half_pixel, 2 → 4: rows [1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1].
 * const a = resizeMatrix("linear", "half_pixel", "round_prefer_floor", 2, 4, 2);
 * if (a.join() !== "1,0,0.75,0.25,0.25,0.75,0,1") throw new Error(a.join());
 * ```
 */
export function resizeMatrix(
  mode: ResizeMode,
  coordinates: CoordinateMode,
  nearest: NearestMode,
  inSize: number,
  outSize: number,
  scale: number,
): Float64Array {
  const a = new Float64Array(outSize * inSize);
  const s = f(scale);
  for (let o = 0; o < outSize; o++) {
    const c = sourceCoordinate(coordinates, o, s, outSize, inSize);
    if (mode === "nearest") {
      const i = Math.min(Math.max(nearestIndex(nearest, c), 0), inSize - 1);
      a[o * inSize + i] = 1;
      continue;
    }
    const x = Math.max(0, Math.min(c, inSize - 1));
    const i1 = Math.min(Math.trunc(x), inSize - 1), i2 = Math.min(i1 + 1, inSize - 1);
    const [w1, w2] = i1 === i2 ? [0.5, 0.5] : [f(Math.abs(x - i2)), f(Math.abs(x - i1))];
    a[o * inSize + i1] += w1;
    a[o * inSize + i2] += w2;
  }
  return a;
}

/** What a Resize node does, read from its inputs and attributes. */
interface ResizePlan {
  readonly x: Value;
  readonly mode: ResizeMode;
  readonly coordinates: CoordinateMode;
  readonly nearest: NearestMode;
  /** Spatial input sizes. */
  readonly input: readonly number[];
  /** Spatial output sizes. */
  readonly output: readonly number[];
  /** Spatial scales used for coordinates (float32). */
  readonly scales: readonly number[];
}

/** An optional input that is absent, or present with no elements (as exporters write them). */
function isEmpty(v: Value | null | undefined): boolean {
  return !v || v.type.shape.some((d) => d === 0);
}

/** A string attribute that must be one of `allowed`. */
function choice(
  op: string,
  attrs: Attrs,
  name: string,
  fallback: string,
  allowed: readonly string[],
) {
  const v = strAttr(attrs, name, fallback);
  if (!allowed.includes(v)) {
    throw new CompileError(`${op} supports ${name} ${allowed.join(", ")}; got ${v}`);
  }
  return v;
}

/** Reads a Resize node: the scales or sizes must be known at compile time. */
function resizePlan(inputs: readonly (Value | null)[], attrs: Attrs): ResizePlan {
  const op = "Resize";
  const x = arg(op, inputs, 0);
  expectFloat(op, x);
  const mode = choice(op, attrs, "mode", "nearest", MODES) as ResizeMode;
  const coordinates = choice(
    op,
    attrs,
    "coordinate_transformation_mode",
    "half_pixel",
    COORDINATE_MODES,
  ) as CoordinateMode;
  const nearest = choice(
    op,
    attrs,
    "nearest_mode",
    "round_prefer_floor",
    NEAREST_MODES,
  ) as NearestMode;
  const s = x.type.shape;
  if (s.length < 3) {
    throw new CompileError(
      `${op} expects an input of shape [N, C, *spatial], got ${formatShape(s)}`,
    );
  }
  const spatial = s.slice(2);
  if (!isStatic(spatial)) {
    throw new CompileError(`${op} needs static spatial dimensions, got input ${formatShape(s)}`);
  }
  const input: readonly number[] = spatial;
  const scalesIn = inputs[2], sizesIn = inputs[3];
  const hasScales = !isEmpty(scalesIn), hasSizes = !isEmpty(sizesIn);
  if (hasScales === hasSizes) {
    throw new CompileError(`${op} expects exactly one of scales (input 2) and sizes (input 3)`);
  }
  let output: number[], scales: number[];
  if (hasScales) {
    const data = scalesIn!.constant?.data;
    if (!data || data instanceof BigInt64Array || data.length !== s.length) {
      throw new CompileError(
        `${op} expects scales to be a constant of ${s.length} floats for input ${formatShape(s)}`,
      );
    }
    const all = Array.from(data as ArrayLike<number>, f);
    if (all[0] !== 1 || all[1] !== 1) {
      throw new CompileError(
        `${op} resizes spatial axes only: scales [${all}] must be 1 on N and C`,
      );
    }
    scales = all.slice(2);
    output = input.map((d, i) => Math.floor(f(scales[i] * d)));
  } else {
    const known = sizesIn!.type.known ??
      (sizesIn!.constant?.data instanceof BigInt64Array
        ? Array.from(sizesIn!.constant.data, Number)
        : undefined);
    if (!known || known.length !== s.length || known.slice(2).some((d) => typeof d !== "number")) {
      throw new CompileError(
        `${op} expects sizes to be ${s.length} values known at compile time for input ${
          formatShape(s)
        }`,
      );
    }
    if (!dimsEqual(known[0], s[0]) || !dimsEqual(known[1], s[1])) {
      throw new CompileError(
        `${op} resizes spatial axes only: sizes [${known}] must keep N and C of ${formatShape(s)}`,
      );
    }
    output = known.slice(2) as number[];
    scales = output.map((d, i) => f(d / input[i]));
  }
  if (output.some((d) => !(d >= 1))) {
    throw new CompileError(
      `${op} would resize input ${formatShape(s)} to an empty spatial size [${output}]`,
    );
  }
  return { x, mode, coordinates, nearest, input, output, scales };
}

/** A constant of `dtype` (float32 or float64) with `values`. */
function floatConstant(
  b: GraphBuilder,
  dtype: DType,
  shape: readonly number[],
  values: ArrayLike<number>,
) {
  const data = dtype === "float64" ? Float64Array.from(values) : Float32Array.from(values);
  return b.constant({ dtype: dtype === "float64" ? "float64" : "float32", shape, data });
}

/** The transpose of a row-major rows × cols matrix. */
function transposed(a: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
  return t;
}

/** Whether a square matrix is the identity (a scale-1 axis). */
function isIdentity(a: Float64Array, n: number): boolean {
  return a.every((v, i) => v === (i % (n + 1) === 0 ? 1 : 0));
}

/**
 * Contracts axis `axis` of `g` (size `out`) with the out × in matrix `a`: the last axis as
 * `g · A`, the second-last as `Aᵀ · g`, any other moved last and back with Transposes.
 */
function contract(
  b: GraphBuilder,
  g: Value,
  axis: number,
  a: Float64Array,
  out: number,
  inSize: number,
): Value {
  const rank = g.type.shape.length, dtype = g.type.dtype;
  if (axis === rank - 2) {
    return b.op1("MatMul", [floatConstant(b, dtype, [inSize, out], transposed(a, out, inSize)), g]);
  }
  const matrix = floatConstant(b, dtype, [out, inSize], a);
  if (axis === rank - 1) return b.op1("MatMul", [g, matrix]);
  const perm = [...Array(rank).keys()];
  [perm[axis], perm[rank - 1]] = [rank - 1, axis];
  const moved = b.op1("MatMul", [b.op1("Transpose", [g], { perm }), matrix]);
  return b.op1("Transpose", [moved], { perm });
}

/** The per-(n, c) normalised axes of an input [N, C, *spatial]: the spatial ones. */
function spatialAxes(x: Value): number[] {
  return Array.from({ length: x.type.shape.length - 2 }, (_, i) => i + 2);
}

/** Checks InstanceNormalization's inputs: X [N, C, *spatial], scale and B [C] of X's dtype. */
function checkInstanceNorm(inputs: readonly (Value | null)[]): Value {
  const op = "InstanceNormalization";
  const x = arg(op, inputs, 0), scale = arg(op, inputs, 1), bias = arg(op, inputs, 2);
  expectFloat(op, x);
  const s = x.type.shape;
  if (s.length < 3) {
    throw new CompileError(
      `${op} expects an input of shape [N, C, *spatial], got ${formatShape(s)}`,
    );
  }
  for (const [what, v] of [["scale", scale], ["B", bias]] as const) {
    const vs = v.type.shape;
    if (vs.length !== 1 || !dimsEqual(vs[0], s[1]) || v.type.dtype !== x.type.dtype) {
      throw new CompileError(
        `${op} expects ${what} ${x.type.dtype}[${s[1]}] for input ${
          formatShape(s)
        }, got ${v.type.dtype}${formatShape(vs)}`,
      );
    }
  }
  return x;
}

/**
 * Group normalisation from IR primitives (GroupNormalization is an opset 18 op and graphs are
 * emitted at opset 17): X [N, C, *spatial] is reshaped to [N, G, C/G·∏spatial], normalised by the
 * (biased) mean and variance of each group, reshaped back and scaled and shifted. With
 * `scalePerGroup` (opset 18–20's GroupNormalization) scale and bias are [G] and apply to every
 * channel of their group; otherwise (opset 21, and PyTorch's `group_norm`) they are [C].
 *
 * @param b The builder.
 * @param x Input [N, C, *spatial].
 * @param scale Scale [G] or [C].
 * @param bias Bias [G] or [C].
 * @param groups G, which must divide a static C.
 * @param epsilon Added to the variance.
 * @param scalePerGroup Whether scale and bias hold one value per group.
 * @returns The normalised tensor, shaped as `x`.
 *
 * @example
 * ```ts
 * import { createGraphBuilder } from "../builder.ts";
 * import { groupNormalization } from "./resample.ts";
 * const b = createGraphBuilder();
 * const x = b.input("x", { dtype: "float32", shape: ["N", 4, 3, 3] });
 * const scale = b.input("scale", { dtype: "float32", shape: [4] });
 * const bias = b.input("bias", { dtype: "float32", shape: [4] });
 * const y = groupNormalization(b, x, scale, bias, 2, 1e-5, false);
 * if (y.type.shape.join() !== "N,4,3,3") throw new Error();
 * ```
 */
export function groupNormalization(
  b: GraphBuilder,
  x: Value,
  scale: Value,
  bias: Value,
  groups: number,
  epsilon: number,
  scalePerGroup: boolean,
): Value {
  const op = "GroupNormalization";
  expectFloat(op, x);
  const s = x.type.shape, c = s[1], dtype = x.type.dtype;
  if (s.length < 3) {
    throw new CompileError(
      `${op} expects an input of shape [N, C, *spatial], got ${formatShape(s)}`,
    );
  }
  if (!Number.isInteger(groups) || groups < 1 || typeof c !== "number" || c % groups !== 0) {
    throw new CompileError(
      `${op} expects a group count dividing a static channel count, got ${groups} groups for input ${
        formatShape(s)
      }`,
    );
  }
  const want = scalePerGroup ? groups : c;
  for (const [what, v] of [["scale", scale], ["bias", bias]] as const) {
    const vs = v.type.shape;
    if (vs.length !== 1 || vs[0] !== want || v.type.dtype !== dtype) {
      throw new CompileError(
        `${op} expects ${what} ${dtype}[${want}] (one per ${
          scalePerGroup ? "group" : "channel"
        }) for input ${formatShape(s)}, got ${v.type.dtype}${formatShape(vs)}`,
      );
    }
  }
  const grouped = b.op1("Reshape", [x, b.ints([0, groups, -1])]);
  const mean = (v: Value) => b.op1("ReduceMean", [v], { axes: [2], keepdims: 1 });
  const centered = b.op1("Sub", [grouped, mean(grouped)]);
  const variance = mean(b.op1("Mul", [centered, centered]));
  const std = b.op1("Sqrt", [b.op1("Add", [variance, b.scalar(epsilon, dtype)])]);
  let y = b.op1("Div", [centered, std]);
  if (scalePerGroup) {
    const perGroup = (v: Value) => b.op1("Reshape", [v, b.ints([groups, 1])]);
    y = b.op1("Add", [b.op1("Mul", [y, perGroup(scale)]), perGroup(bias)]);
    return reshapeLike(b, y, x);
  }
  const perChannel = (v: Value) =>
    b.op1("Reshape", [v, b.ints([c, ...spatialAxes(x).map(() => 1)])]);
  return b.op1("Add", [b.op1("Mul", [reshapeLike(b, y, x), perChannel(scale)]), perChannel(bias)]);
}

/** Resample and instance-normalisation op table. */
export const RESAMPLE_OPS = {
  Resize: {
    // Opset 13 form: X, roi (unused: no tf_crop_and_resize), scales or sizes known at compile
    // time, N and C unchanged. Output floor(in · scale) per spatial axis (float32 product), or
    // sizes. Gradient: dY contracted with each resized axis's interpolation matrix (a constant),
    // so X needs static spatial dimensions; none for roi, scales and sizes.
    floatAttrs: ["cubic_coeff_a", "extrapolation_value"],
    infer: (inputs, attrs): TensorType[] => {
      const p = resizePlan(inputs, attrs);
      return [{ dtype: p.x.type.dtype, shape: [...p.x.type.shape.slice(0, 2), ...p.output] }];
    },
    grad: ({ b, node, dy, needs }: GradArgs) => {
      if (!needs[0]) return [null, null, null, null];
      const p = resizePlan(node.inputs, node.attrs);
      let g = dy[0]!;
      p.input.forEach((inSize, i) => {
        const out = p.output[i];
        const a = resizeMatrix(p.mode, p.coordinates, p.nearest, inSize, out, p.scales[i]);
        if (out === inSize && isIdentity(a, inSize)) return;
        g = contract(b, g, i + 2, a, out, inSize);
      });
      return [g, null, null, null];
    },
  },
  InstanceNormalization: {
    // y = scale[c]·(x − μ)/√(σ² + ε) + B[c], μ and σ² (biased) over the spatial axes of each
    // (n, c). onnxruntime's CPU kernel is float32 only.
    floatAttrs: ["epsilon"],
    infer: (inputs): TensorType[] => [checkInstanceNorm(inputs).type],
    grad: ({ b, node, dy, needs }: GradArgs) => {
      // As LayerNormalization's, over the spatial axes, with scale broadcast as [C, 1, …]:
      //   dx = r·(h − mean(h) − x̂·mean(h·x̂)),  h = dy·scale,  r = 1/√(σ² + ε)
      // and dscale = Σ dy·x̂, dB = Σ dy over N and the spatial axes, shaped [C].
      const x = checkInstanceNorm(node.inputs);
      const scale = node.inputs[1]!;
      const g = dy[0]!;
      const axes = spatialAxes(x);
      const sumAllButC = (v: Value) =>
        b.op1("ReduceSum", [v, b.ints([0, ...axes])], { keepdims: 0 });
      const perChannel = needs[0]
        ? b.op1("Reshape", [scale, b.ints([-1, ...axes.map(() => 1)])])
        : scale;
      const eps = numAttr(node.attrs, "epsilon", 1e-5);
      const { dx, xhat } = normalizationBackward(b, x, g, perChannel, axes, eps, needs[0]);
      return [
        dx,
        needs[1] ? sumAllButC(b.op1("Mul", [g, xhat])) : null,
        needs[2] ? sumAllButC(g) : null,
      ];
    },
  },
} satisfies Record<ResampleOpName, OpDef>;
