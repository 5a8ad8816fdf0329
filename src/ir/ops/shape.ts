/** Shape-manipulating ops: Flatten, Reshape, Shape, Gather, Unsqueeze, Expand, Constant. @module */
import { broadcastShapes } from "../broadcast.ts";
import { dimProduct, dimQuotient, dimsEqual } from "../dims.ts";
import { CompileError } from "../errors.ts";
import { type ConstTensor, type Dim, formatShape, type TensorType, type Value } from "../types.ts";
import type { GraphBuilder } from "../builder.ts";
import { arg, constInts, knownDims, normAxis, numAttr, type OpDef } from "./op_def.ts";

/** Reshapes `g` to the shape of `like`, taken at run time so symbolic dimensions work. */
export function reshapeLike(b: GraphBuilder, g: Value, like: Value): Value {
  return b.op1("Reshape", [g, b.op1("Shape", [like])]);
}

/** The ops this file defines. */
export type ShapeOpName =
  | "Constant"
  | "Flatten"
  | "Reshape"
  | "Shape"
  | "Gather"
  | "Unsqueeze"
  | "Expand"
  | "Concat"
  | "Slice";

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
    infer: (inputs) => {
      const x = arg("Shape", inputs, 0);
      return [{ dtype: "int64", shape: [x.type.shape.length], known: x.type.shape }];
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
  },
  Slice: {
    // starts, ends, axes, steps as constant int64 inputs; static dims of sliced axes.
    infer: (inputs) => {
      const op = "Slice";
      const x = arg(op, inputs, 0);
      const s = x.type.shape;
      const starts = constInts(op, inputs[1], "starts"), ends = constInts(op, inputs[2], "ends");
      const axes = inputs[3] ? constInts(op, inputs[3], "axes") : starts.map((_, i) => i);
      const steps = inputs[4] ? constInts(op, inputs[4], "steps") : starts.map(() => 1);
      const shape: Dim[] = [...s];
      axes.forEach((a, i) => {
        const axis = normAxis(op, a, s.length);
        const d = s[axis];
        if (typeof d !== "number") {
          throw new CompileError(
            `Slice needs a static size on axis ${axis}, got ${formatShape(s)}`,
          );
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
        shape[axis] = Math.max(0, Math.ceil((end - start) / step));
      });
      return [{ dtype: x.type.dtype, shape }];
    },
  },
} satisfies Record<ShapeOpName, OpDef>;
