/**
 * Reductions: ReduceSum (axes as an input), ReduceMean and ReduceMax (axes as an attribute, as
 * opset 17 has them), and ArgMax. @module
 */
import type { GraphBuilder } from "../graph_builder.ts";
import { CompileError } from "../errors.ts";
import type { Attrs, Dim, TensorType, Value } from "../types.ts";
import { arg, constInts, normAxis, numAttr, type OpDef } from "./op_def.ts";
import type { ReduceOpName } from "./op_names.ts";

/** Normalised reduced axes; no axes, or an empty list, reduces every axis. */
function normAxes(op: string, x: Value, axes: readonly number[]): number[] {
  const rank = x.type.shape.length;
  if (axes.length === 0) return [...Array(rank).keys()];
  return axes.map((a) => normAxis(op, a, rank));
}

function reducedAxes(op: string, x: Value, axesInput: Value | null | undefined): number[] {
  // noop_with_empty_axes is unsupported, so an empty list reduces every axis too.
  return normAxes(op, x, axesInput ? constInts(op, axesInput, "axes") : []);
}

/** The reduced axes of an op that takes them as the INTS attribute `axes` (opset 17). */
function attrAxes(op: string, x: Value, attrs: Attrs): number[] {
  const axes = attrs.axes;
  if (axes !== undefined && !Array.isArray(axes)) {
    throw new CompileError(`${op} expects an ints attribute 'axes'`);
  }
  return normAxes(op, x, (axes ?? []) as readonly number[]);
}

/** The type of `x` reduced over `axes`, keeping them as 1s when `keep`. */
function reducedType(x: Value, axes: readonly number[], keep: number): TensorType {
  const shape: Dim[] = [];
  x.type.shape.forEach((d, i) => {
    if (!axes.includes(i)) shape.push(d);
    else if (keep) shape.push(1);
  });
  return { dtype: x.type.dtype, shape };
}

/** Shape rule of a reduction taking its axes as an attribute. */
function attrReduction(op: string): OpDef["infer"] {
  return (inputs, attrs) => {
    const x = arg(op, inputs, 0);
    if (inputs[1]) {
      throw new CompileError(`${op} takes axes as an attribute in opset 17, not as an input`);
    }
    return [reducedType(x, attrAxes(op, x, attrs), numAttr(attrs, "keepdims", 1))];
  };
}

/** `v` with the reduced axes put back as 1s when the node dropped them (keepdims = 0). */
function keepDims(b: GraphBuilder, node: { attrs: Attrs }, v: Value, axes: number[]): Value {
  return numAttr(node.attrs, "keepdims", 1) ? v : b.op1("Unsqueeze", [v, b.ints(axes)]);
}

/** Reduction op table. */
export const REDUCE_OPS = {
  ReduceSum: {
    infer: (inputs, attrs) => {
      const x = arg("ReduceSum", inputs, 0);
      if (numAttr(attrs, "noop_with_empty_axes", 0)) {
        throw new CompileError("ReduceSum with noop_with_empty_axes is not supported");
      }
      const axes = reducedAxes("ReduceSum", x, inputs[1]);
      return [reducedType(x, axes, numAttr(attrs, "keepdims", 1))];
    },
    grad: ({ b, node, dy }) => {
      const x = node.inputs[0]!;
      const g = keepDims(b, node, dy[0]!, reducedAxes("ReduceSum", x, node.inputs[1]));
      return [b.op1("Expand", [g, b.op1("Shape", [x])]), null];
    },
  },
  ReduceMean: {
    infer: attrReduction("ReduceMean"),
    grad: ({ b, node, dy }) => {
      // dx = dy / count, broadcast over the reduced axes. The count is a constant where the
      // reduced sizes are static, else Size(x) / Size(y) at run time (a symbolic batch).
      const x = node.inputs[0]!, y = node.outputs[0];
      const axes = attrAxes("ReduceMean", x, node.attrs);
      const dtype = x.type.dtype;
      const sizes = axes.map((a) => x.type.shape[a]);
      const count = sizes.every((d) => typeof d === "number")
        ? b.scalar((sizes as number[]).reduce((p, d) => p * d, 1), dtype)
        : b.op1("Cast", [
          b.op1("Div", [b.op1("Size", [x]), b.op1("Size", [y])]),
        ], { to: dtype });
      const g = b.op1("Div", [keepDims(b, node, dy[0]!, axes), count]);
      return [b.op1("Expand", [g, b.op1("Shape", [x])])];
    },
  },
  ReduceMax: {
    infer: attrReduction("ReduceMax"),
    grad: ({ b, node, dy }) => {
      // dx = dy at the positions attaining the max, split evenly among ties (PyTorch's amax).
      const x = node.inputs[0]!;
      const axes = attrAxes("ReduceMax", x, node.attrs);
      const y = keepDims(b, node, node.outputs[0], axes);
      const mask = b.op1("Cast", [b.op1("Equal", [x, y])], { to: x.type.dtype });
      const count = b.op1("ReduceSum", [mask, b.ints(axes)], { keepdims: 1 });
      return [b.op1("Mul", [mask, b.op1("Div", [keepDims(b, node, dy[0]!, axes), count])])];
    },
  },
  ArgMax: {
    infer: (inputs, attrs) => {
      const x = arg("ArgMax", inputs, 0);
      const axis = normAxis("ArgMax", numAttr(attrs, "axis", 0), x.type.shape.length);
      const keep = numAttr(attrs, "keepdims", 1);
      const shape = x.type.shape.flatMap((d, i) => (i !== axis ? [d] : keep ? [1] : []));
      return [{ dtype: "int64", shape }];
    },
  },
} satisfies Record<ReduceOpName, OpDef>;
