/** Reductions: ReduceSum and ArgMax. @module */
import { CompileError } from "../errors.ts";
import type { Dim, Value } from "../types.ts";
import { arg, constInts, normAxis, numAttr, type OpDef } from "./op_def.ts";

function reducedAxes(op: string, x: Value, axesInput: Value | null | undefined): number[] {
  const rank = x.type.shape.length;
  const axes = axesInput ? constInts(op, axesInput, "axes") : [];
  // No axes, or an empty list (noop_with_empty_axes is unsupported), reduces every axis.
  if (axes.length === 0) return [...Array(rank).keys()];
  return axes.map((a) => normAxis(op, a, rank));
}

/** The ops this file defines. */
export type ReduceOpName =
  | "ReduceSum"
  | "ArgMax";

/** Reduction op table. */
export const REDUCE_OPS = {
  ReduceSum: {
    infer: (inputs, attrs) => {
      const x = arg("ReduceSum", inputs, 0);
      if (numAttr(attrs, "noop_with_empty_axes", 0)) {
        throw new CompileError("ReduceSum with noop_with_empty_axes is not supported");
      }
      const axes = reducedAxes("ReduceSum", x, inputs[1]);
      const keep = numAttr(attrs, "keepdims", 1);
      const shape: Dim[] = [];
      x.type.shape.forEach((d, i) => {
        if (!axes.includes(i)) shape.push(d);
        else if (keep) shape.push(1);
      });
      return [{ dtype: x.type.dtype, shape }];
    },
    grad: ({ b, node, dy }) => {
      const x = node.inputs[0]!;
      let g = dy[0]!;
      if (!numAttr(node.attrs, "keepdims", 1)) {
        g = b.op1("Unsqueeze", [g, b.ints(reducedAxes("ReduceSum", x, node.inputs[1]))]);
      }
      return [b.op1("Expand", [g, b.op1("Shape", [x])]), null];
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
