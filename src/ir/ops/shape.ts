/**
 * Shape-manipulating ops: Flatten, Reshape, Shape, Size, Gather, Unsqueeze, Squeeze, Expand,
 * Concat, Slice, Pad, Constant, ConstantOfShape. @module
 */
import { broadcastShapes } from "../broadcast.ts";
import { dimProduct, dimQuotient, dimsEqual } from "../dims.ts";
import { CompileError } from "../errors.ts";
import {
  type ConstTensor,
  type Dim,
  type DType,
  formatShape,
  type Shape,
  type TensorType,
  type Value,
} from "../types.ts";
import type { GraphBuilder } from "../graph_builder.ts";
import { arg, constInts, knownDims, normAxis, numAttr, type OpDef, strAttr } from "./op_def.ts";
import type { ShapeOpName } from "./op_names.ts";

/** Reshapes `g` to the shape of `like`, taken at run time so symbolic dimensions work. */
export function reshapeLike(b: GraphBuilder, g: Value, like: Value): Value {
  return b.op1("Reshape", [g, b.op1("Shape", [like])]);
}

/** A one-element zero tensor of `dtype`, the `value` attribute of a ConstantOfShape of zeros. */
export function zeroTensor(dtype: DType): ConstTensor {
  const data = dtype === "float32"
    ? new Float32Array(1)
    : dtype === "float64"
    ? new Float64Array(1)
    : dtype === "int64"
    ? new BigInt64Array(1)
    : dtype === "int32"
    ? new Int32Array(1)
    : new Uint8Array(1);
  return Object.freeze({ dtype, shape: [1], data });
}

/** The inverse of a permutation. */
function inversePerm(perm: readonly number[]): number[] {
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => (inverse[p] = i));
  return inverse;
}

/** One sliced axis: its first index (clamped), step and element count. */
interface SliceAxis {
  readonly axis: number;
  readonly size: number;
  readonly start: number;
  readonly step: number;
  readonly count: number;
}

/** Resolves Slice's constant starts, ends, axes and steps against the data shape. */
function sliceAxes(inputs: readonly (Value | null)[]): SliceAxis[] {
  const op = "Slice";
  const s = arg(op, inputs, 0).type.shape;
  const starts = constInts(op, inputs[1], "starts"), ends = constInts(op, inputs[2], "ends");
  const axes = inputs[3] ? constInts(op, inputs[3], "axes") : starts.map((_, i) => i);
  const steps = inputs[4] ? constInts(op, inputs[4], "steps") : starts.map(() => 1);
  return axes.map((a, i) => {
    const axis = normAxis(op, a, s.length);
    const d = s[axis];
    if (typeof d !== "number") {
      throw new CompileError(`Slice needs a static size on axis ${axis}, got ${formatShape(s)}`);
    }
    const step = steps[i];
    if (step === 0) throw new CompileError("Slice step must not be 0");
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    let start = starts[i] < 0 ? starts[i] + d : starts[i];
    let end = ends[i] < 0 ? ends[i] + d : ends[i];
    if (step > 0) {
      start = clamp(start, 0, d);
      end = clamp(end, 0, d);
    } else {
      start = clamp(start, 0, d - 1);
      end = clamp(end, -1, d - 1);
    }
    return { axis, size: d, start, step, count: Math.max(0, Math.ceil((end - start) / step)) };
  });
}

/**
 * `g` with `k − 1` zeros after each of the `count` elements along `axis` (Slice's gradient for a
 * step k): `[…, count, …]` → `[…, count·k, …]`.
 */
function spread(b: GraphBuilder, g: Value, axis: number, count: number, k: number): Value {
  const s = g.type.shape, rank = s.length;
  const unsqueezed = b.op1("Unsqueeze", [g, b.ints([axis + 1])]);
  const pads = new Array<number>(2 * (rank + 1)).fill(0);
  pads[rank + 1 + axis + 1] = k - 1;
  const padded = b.op1("Pad", [unsqueezed, b.ints(pads)], { mode: "constant" });
  // Dimensions before the axis copy theirs (0); those after must be static, or one symbolic (−1).
  const after = s.slice(axis + 1);
  const symbolic = after.filter((d) => typeof d !== "number").length;
  if (symbolic > 1) {
    throw new CompileError(
      `Slice gradient with step ${k} on axis ${axis} needs static dimensions after it, got ${
        formatShape(s)
      }`,
    );
  }
  const target = [
    ...s.slice(0, axis).map(() => 0),
    count * k,
    ...after.map((d) => (typeof d === "number" ? d : -1)),
  ];
  return b.op1("Reshape", [padded, b.ints(target)]);
}

/** `d + k` for a possibly symbolic dimension. */
function dimPlus(d: Dim, k: number): Dim {
  if (k === 0) return d;
  if (typeof d === "number") return d + k;
  return `${d}${k > 0 ? "+" : ""}${k}`;
}

/** Shape-op table. */
export const SHAPE_OPS = {
  Constant: {
    infer: (_inputs, attrs): TensorType[] => {
      const t = attrs.value as ConstTensor | undefined;
      if (!t || typeof t !== "object" || !("data" in t)) {
        throw new CompileError("Constant expects a tensor attribute 'value'");
      }
      const known = t.data instanceof BigInt64Array && t.shape.length <= 1
        ? Array.from(t.data, Number)
        : undefined;
      return [{ dtype: t.dtype, shape: t.shape, ...(known ? { known } : {}) }];
    },
  },
  ConstantOfShape: {
    // The output has the shape held by the input and is filled with the one-element `value`.
    infer: (inputs, attrs): TensorType[] => {
      const shape = knownDims(arg("ConstantOfShape", inputs, 0));
      if (!shape) throw new CompileError("ConstantOfShape expects a shape known at compile time");
      const t = attrs.value as ConstTensor | undefined;
      if (t !== undefined && (typeof t !== "object" || !("data" in t) || t.data.length !== 1)) {
        throw new CompileError("ConstantOfShape expects a one-element tensor attribute 'value'");
      }
      return [{ dtype: t?.dtype ?? "float32", shape }];
    },
  },
  Flatten: {
    infer: (inputs, attrs) => {
      const x = arg("Flatten", inputs, 0);
      const s = x.type.shape;
      const axis = numAttr(attrs, "axis", 1);
      const a = axis < 0 ? axis + s.length : axis;
      if (a < 0 || a > s.length) {
        throw new CompileError(`Flatten axis ${axis} is out of range for shape ${formatShape(s)}`);
      }
      return [{ dtype: x.type.dtype, shape: [dimProduct(s.slice(0, a)), dimProduct(s.slice(a))] }];
    },
    grad: ({ b, node, dy }) => [reshapeLike(b, dy[0]!, node.inputs[0]!)],
  },
  Reshape: {
    infer: (inputs) => {
      const x = arg("Reshape", inputs, 0);
      const target = knownDims(inputs[1]);
      if (!target) throw new CompileError("Reshape expects a shape known at compile time");
      const s = x.type.shape;
      const dims: Dim[] = target.map((d, i) => (d === 0 ? s[i] : d));
      const hole = dims.indexOf(-1);
      if (hole >= 0) {
        const rest = dims.filter((_, i) => i !== hole);
        const q = dimQuotient(s, rest);
        if (q === undefined) {
          throw new CompileError(
            `Reshape cannot fit ${formatShape(s)} into ${formatShape(target)}`,
          );
        }
        dims[hole] = q;
      } else if (dimProduct(dims) !== dimProduct(s)) {
        throw new CompileError(`Reshape cannot fit ${formatShape(s)} into ${formatShape(target)}`);
      }
      return [{ dtype: x.type.dtype, shape: dims }];
    },
    grad: ({ b, node, dy }) => [reshapeLike(b, dy[0]!, node.inputs[0]!), null],
  },
  Shape: {
    // Opset 15's optional `start` and `end` take a slice of the dimensions (negative from the
    // end, clamped as Slice clamps).
    infer: (inputs, attrs) => {
      const x = arg("Shape", inputs, 0);
      const r = x.type.shape.length;
      const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + r : i, 0), r);
      const start = clamp(numAttr(attrs, "start", 0)), end = clamp(numAttr(attrs, "end", r));
      const known = x.type.shape.slice(start, Math.max(start, end));
      return [{ dtype: "int64", shape: [known.length], known }];
    },
  },
  Size: {
    infer: (inputs) => {
      const x = arg("Size", inputs, 0);
      return [{ dtype: "int64", shape: [], known: [dimProduct(x.type.shape)] }];
    },
  },
  Gather: {
    infer: (inputs, attrs) => {
      const data = arg("Gather", inputs, 0), idx = arg("Gather", inputs, 1);
      const s = data.type.shape;
      const axis = normAxis("Gather", numAttr(attrs, "axis", 0), s.length);
      const shape = [...s.slice(0, axis), ...idx.type.shape, ...s.slice(axis + 1)];
      const k = data.type.known, i = idx.type.known;
      const known = k && i && s.length === 1 && i.every((j) => typeof j === "number")
        ? (i as number[]).map((j) => k[j < 0 ? j + k.length : j])
        : undefined;
      return [{ dtype: data.type.dtype, shape, ...(known ? { known } : {}) }];
    },
    grad: ({ b, node, dy, needs }) => {
      // dW = a scatter-add of dy into zeros of W's shape at the gathered rows, so repeated
      // indices accumulate (an embedding's gradient). Other axes are moved to the front first.
      if (!needs[0]) return [null, null];
      const data = node.inputs[0]!;
      let idx = node.inputs[1]!;
      const r = data.type.shape.length, q = idx.type.shape.length;
      const axis = normAxis("Gather", numAttr(node.attrs, "axis", 0), r);
      if (idx.type.dtype !== "int64") idx = b.op1("Cast", [idx], { to: "int64" });
      const permW = [axis, ...[...Array(r).keys()].filter((i) => i !== axis)];
      const permDy = [
        ...[...Array(q).keys()].map((i) => axis + i),
        ...[...Array(axis).keys()],
        ...[...Array(r - axis - 1).keys()].map((i) => axis + q + i),
      ];
      const shapeW = b.op1("Shape", [data]);
      const zeros = b.op1("ConstantOfShape", [
        axis === 0 ? shapeW : b.op1("Gather", [shapeW, b.ints(permW)], { axis: 0 }),
      ], { value: zeroTensor(data.type.dtype) });
      const updates = axis === 0 ? dy[0] : b.op1("Transpose", [dy[0]], { perm: permDy });
      const scattered = b.op1("ScatterND", [
        zeros,
        b.op1("Unsqueeze", [idx, b.ints([-1])]),
        updates,
      ], { reduction: "add" });
      return [
        axis === 0 ? scattered : b.op1("Transpose", [scattered], { perm: inversePerm(permW) }),
        null,
      ];
    },
  },
  Unsqueeze: {
    infer: (inputs) => {
      const x = arg("Unsqueeze", inputs, 0);
      const axes = constInts("Unsqueeze", inputs[1], "axes");
      const rank = x.type.shape.length + axes.length;
      const norm = axes.map((a) => normAxis("Unsqueeze", a, rank));
      const shape: Dim[] = [];
      let j = 0;
      for (let i = 0; i < rank; i++) shape.push(norm.includes(i) ? 1 : x.type.shape[j++]);
      return [{ dtype: x.type.dtype, shape }];
    },
    grad: ({ b, node, dy }) => [reshapeLike(b, dy[0]!, node.inputs[0]!), null],
  },
  Squeeze: {
    // axes as an optional constant int64 input (opset 13+); without it every size-1 axis goes.
    infer: (inputs) => {
      const x = arg("Squeeze", inputs, 0);
      const s = x.type.shape;
      let axes: number[];
      if (inputs[1]) {
        axes = constInts("Squeeze", inputs[1], "axes").map((a) => normAxis("Squeeze", a, s.length));
        const bad = axes.find((a) => s[a] !== 1);
        if (bad !== undefined) {
          throw new CompileError(
            `Squeeze axis ${bad} has size ${s[bad]}, not 1, in shape ${formatShape(s)}`,
          );
        }
      } else {
        if (s.some((d) => typeof d !== "number")) {
          throw new CompileError(
            `Squeeze without axes needs a static shape, got ${formatShape(s)}`,
          );
        }
        axes = [...s.keys()].filter((i) => s[i] === 1);
      }
      return [{ dtype: x.type.dtype, shape: s.filter((_, i) => !axes.includes(i)) }];
    },
    grad: ({ b, node, dy }) => [reshapeLike(b, dy[0]!, node.inputs[0]!), null],
  },
  Expand: {
    infer: (inputs) => {
      const x = arg("Expand", inputs, 0);
      const target = knownDims(inputs[1]);
      if (!target) throw new CompileError("Expand expects a shape known at compile time");
      return [{ dtype: x.type.dtype, shape: broadcastShapes("Expand", [x.type.shape, target]) }];
    },
    // The reverse walk sums the broadcast gradient back to the input's shape.
    grad: ({ dy }) => [dy[0], null],
  },
  Concat: {
    infer: (inputs, attrs) => {
      if (inputs.length === 0) throw new CompileError("Concat expects at least one input");
      const xs = inputs.map((_, i) => arg("Concat", inputs, i));
      const first = xs[0].type;
      const axis = normAxis("Concat", numAttr(attrs, "axis", 0), first.shape.length);
      const shape: Dim[] = [...first.shape];
      for (const x of xs.slice(1)) {
        const s = x.type.shape;
        const same = s.length === first.shape.length && x.type.dtype === first.dtype &&
          s.every((d, i) =>
            i === axis || dimsEqual(d, first.shape[i]) || typeof d === "string" ||
            typeof first.shape[i] === "string"
          );
        if (!same) {
          throw new CompileError(
            `Concat along axis ${axis} expects inputs that agree elsewhere, got ${
              xs.map((v) => formatShape(v.type.shape)).join(" and ")
            }`,
          );
        }
        const [a, c] = [shape[axis], s[axis]];
        shape[axis] = typeof a === "number" && typeof c === "number" ? a + c : `${a}+${c}`;
      }
      return [{ dtype: first.dtype, shape }];
    },
    grad: ({ b, node, dy, needs }) => {
      // Each input gets its own stretch of dy along the axis.
      const xs = node.inputs as readonly Value[];
      const axis = normAxis("Concat", numAttr(node.attrs, "axis", 0), xs[0].type.shape.length);
      const sizes = xs.map((x) => x.type.shape[axis]);
      if (sizes.some((d) => typeof d !== "number")) {
        throw new CompileError(
          `Concat gradient needs static sizes along axis ${axis}, got ${
            xs.map((x) => formatShape(x.type.shape)).join(" and ")
          }`,
        );
      }
      let offset = 0;
      return (sizes as number[]).map((size, i) => {
        const start = offset;
        offset += size;
        return needs[i]
          ? b.op1("Slice", [dy[0], b.ints([start]), b.ints([start + size]), b.ints([axis])])
          : null;
      });
    },
  },
  Slice: {
    // starts, ends, axes, steps as constant int64 inputs; static dims of sliced axes.
    infer: (inputs) => {
      const x = arg("Slice", inputs, 0);
      const shape: Dim[] = [...x.type.shape];
      for (const { axis, count } of sliceAxes(inputs)) shape[axis] = count;
      return [{ dtype: x.type.dtype, shape }];
    },
    grad: ({ b, node, dy }) => {
      // dx = dy padded with zeros back to the input's shape. An axis with a step k > 1 is first
      // spread out: each element followed by k − 1 zeros (Unsqueeze, Pad, Reshape), then cut to
      // what lies inside the input; a negative step is flipped into a positive one first.
      const x = node.inputs[0]!;
      const rank = x.type.shape.length;
      const pads = new Array<number>(2 * rank).fill(0);
      let g = dy[0]!;
      for (const { axis, size, start, step, count } of sliceAxes(node.inputs)) {
        let first = start, k = step;
        if (step < 0) {
          // The elements start, start + step, …: reversed, they run from the last one upwards.
          first = start + (count - 1) * step;
          k = -step;
          if (count > 1) {
            g = b.op1("Slice", [
              g,
              b.ints([-1]),
              b.ints([-count - 1]),
              b.ints([axis]),
              b.ints([-1]),
            ]);
          }
        }
        let span = count;
        if (k > 1 && count > 0) {
          // Spread out, then drop the k − 1 zeros after the last element.
          span = (count - 1) * k + 1;
          g = b.op1("Slice", [
            spread(b, g, axis, count, k),
            b.ints([0]),
            b.ints([span]),
            b.ints([axis]),
          ]);
        }
        pads[axis] = first;
        pads[rank + axis] = size - first - span;
      }
      return [b.op1("Pad", [g, b.ints(pads)], { mode: "constant" })];
    },
  },
  Pad: {
    // pads [x1_begin, x2_begin, …, x1_end, x2_end, …] as a constant int64 input; the optional
    // constant_value is a scalar of the data's dtype (opset 18's axes input is not supported).
    infer: (inputs, attrs) => {
      const x = arg("Pad", inputs, 0);
      const s: Shape = x.type.shape;
      const mode = strAttr(attrs, "mode", "constant");
      if (!["constant", "reflect", "edge"].includes(mode)) {
        throw new CompileError(`Pad has unknown mode '${mode}'`);
      }
      if (inputs[3]) throw new CompileError("Pad with an axes input is not supported (opset 17)");
      const pads = constInts("Pad", inputs[1], "pads");
      if (pads.length !== 2 * s.length) {
        throw new CompileError(
          `Pad expects ${2 * s.length} pads for shape ${formatShape(s)}, got ${pads.length}`,
        );
      }
      const c = inputs[2];
      if (c && (c.type.dtype !== x.type.dtype || c.type.shape.length > 1)) {
        throw new CompileError(
          `Pad expects a scalar ${x.type.dtype} constant_value, got ${c.type.dtype}${
            formatShape(c.type.shape)
          }`,
        );
      }
      const shape = s.map((d, i) => dimPlus(d, pads[i] + pads[s.length + i]));
      if (shape.some((d) => typeof d === "number" && d < 0)) {
        throw new CompileError(`Pad cannot crop ${formatShape(s)} by pads [${pads}]`);
      }
      return [{ dtype: x.type.dtype, shape }];
    },
    grad: ({ b, node, dy, needs }) => {
      // dx = the unpadded part of dy; d constant_value = the sum of the padded part.
      const x = node.inputs[0]!;
      const s = x.type.shape;
      const mode = strAttr(node.attrs, "mode", "constant");
      const pads = constInts("Pad", node.inputs[1], "pads");
      if (mode !== "constant" || pads.some((p) => p < 0)) {
        throw new CompileError(
          `Pad gradient supports constant mode with non-negative pads only, got mode '${mode}' ` +
            `and pads [${pads}]`,
        );
      }
      const axes = [...s.keys()].filter((i) => pads[i] !== 0 || pads[s.length + i] !== 0);
      const bad = axes.find((i) => typeof s[i] !== "number");
      if (bad !== undefined) {
        throw new CompileError(
          `Pad gradient needs a static size on padded axis ${bad}, got ${formatShape(s)}`,
        );
      }
      const inner = axes.length === 0 ? dy[0]! : b.op1("Slice", [
        dy[0],
        b.ints(axes.map((i) => pads[i])),
        b.ints(axes.map((i) => pads[i] + (s[i] as number))),
        b.ints(axes),
      ]);
      let dc: Value | null = null;
      const c = node.inputs[2];
      if (needs[2] && c) {
        const sum = (v: Value) => b.op1("ReduceSum", [v], { keepdims: 0 });
        dc = reshapeLike(b, b.op1("Sub", [sum(dy[0]!), sum(inner)]), c);
      }
      return [needs[0] ? inner : null, null, dc];
    },
  },
} satisfies Record<ShapeOpName, OpDef>;
