/** Shape-manipulating ops: Flatten, Reshape, Shape, Gather, Unsqueeze, Expand, Constant. @module */
import { broadcastShapes } from "../broadcast.ts";
import { dimProduct, dimQuotient } from "../dims.ts";
import { CompileError } from "../errors.ts";
import { type ConstTensor, type Dim, formatShape, type TensorType, type Value } from "../types.ts";
import type { GraphBuilder } from "../builder.ts";
import { arg, constInts, knownDims, normAxis, numAttr, type OpDef, type OpName } from "./op_def.ts";

/** Reshapes `g` to the shape of `like`, taken at run time so symbolic dimensions work. */
export function reshapeLike(b: GraphBuilder, g: Value, like: Value): Value {
  return b.op1("Reshape", [g, b.op1("Shape", [like])]);
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
} satisfies Partial<Record<OpName, OpDef>>;
