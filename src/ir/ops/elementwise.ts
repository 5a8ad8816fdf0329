/** Elementwise ops: shape rules (broadcasting) and gradients. @module */
import { broadcastShapes } from "../broadcast.ts";
import { CompileError } from "../errors.ts";
import type { GraphBuilder } from "../graph_builder.ts";
import { type DType, isFloat, type Node, type TensorType, type Value } from "../types.ts";
import { arg, keepWhere, type OpDef } from "./op_def.ts";
import type { ElementwiseOpName } from "./op_names.ts";

export function binary(op: string, outDtype?: DType): OpDef["infer"] {
  return (inputs) => {
    const a = arg(op, inputs, 0), b = arg(op, inputs, 1);
    if (a.type.dtype !== b.type.dtype) {
      throw new CompileError(
        `${op} expects inputs of one dtype, got ${a.type.dtype} and ${b.type.dtype}`,
      );
    }
    return [{
      dtype: outDtype ?? a.type.dtype,
      shape: broadcastShapes(op, [a.type.shape, b.type.shape]),
    }];
  };
}

export function unary(op: string): OpDef["infer"] {
  return (inputs) => [arg(op, inputs, 0).type];
}

/**
 * The gradient of SiLU written as x·Sigmoid(x) (how exporters and `swish` spell it), with respect
 * to x through both factors at once: dx = dy·(s + y·(1 − s)), s = Sigmoid(x), y = x·s. Four
 * full-size passes instead of the six that the product rule and Sigmoid's rule take apart
 * (efficientnet_b0 has sixteen of these). PyTorch's `silu_backward` computes the same expression
 * as dy·s·(1 + x·(1 − s)); the two differ by float32 rounding. Returns the Mul's input gradients
 * (the Sigmoid factor's is null: x's gradient already counts it), or undefined for any other Mul.
 */
function siluGrad(
  b: GraphBuilder,
  node: Node,
  g: Value,
  needs: readonly boolean[],
): (Value | null)[] | undefined {
  const [a, c] = node.inputs;
  if (!a || !c || a === c) return undefined;
  const sigmoidOf = (s: Value, x: Value) =>
    b.nodes.some((n) => n.op === "Sigmoid" && n.outputs[0] === s && n.inputs[0] === x);
  const at = sigmoidOf(c, a) ? 0 : sigmoidOf(a, c) ? 1 : -1;
  if (at < 0 || !needs[at] || !isFloat(a.type.dtype)) return undefined;
  const s = at === 0 ? c : a;
  const oneMinus = b.op1("Sub", [b.scalar(1, s.type.dtype), s]);
  const slope = b.op1("Add", [s, b.op1("Mul", [node.outputs[0], oneMinus])]);
  const dx = b.op1("Mul", [g, slope]);
  return at === 0 ? [dx, null] : [null, dx];
}

/** Elementwise op table. */
export const ELEMENTWISE_OPS = {
  Add: {
    infer: binary("Add"),
    grad: ({ dy }) => [dy[0], dy[0]],
  },
  Sub: {
    infer: binary("Sub"),
    grad: ({ b, dy, needs }) => [dy[0], needs[1] && dy[0] ? b.op1("Neg", [dy[0]]) : null],
  },
  Mul: {
    infer: binary("Mul"),
    grad: ({ b, node, dy, needs }) => {
      const [x, y] = node.inputs;
      const g = dy[0]!;
      const silu = siluGrad(b, node, g, needs);
      if (silu) return silu;
      return [needs[0] ? b.op1("Mul", [g, y]) : null, needs[1] ? b.op1("Mul", [g, x]) : null];
    },
  },
  Div: {
    infer: binary("Div"),
    grad: ({ b, node, dy, needs }) => {
      const [, y] = node.inputs;
      const g = dy[0]!;
      const gx = needs[0] || needs[1] ? b.op1("Div", [g, y]) : null;
      // d(x/y)/dy = -x/y² = -(g/y)·(x/y)
      const gy = needs[1] ? b.op1("Neg", [b.op1("Mul", [gx, node.outputs[0]])]) : null;
      return [needs[0] ? gx : null, gy];
    },
  },
  Neg: { infer: unary("Neg"), grad: ({ b, dy }) => [b.op1("Neg", [dy[0]])] },
  Identity: { infer: unary("Identity"), grad: ({ dy }) => [dy[0]] },
  Exp: {
    infer: unary("Exp"),
    grad: ({ b, node, dy }) => [b.op1("Mul", [dy[0], node.outputs[0]])],
  },
  Relu: {
    infer: unary("Relu"),
    grad: ({ b, node, dy }) => {
      // dx = dy where y > 0, else 0 (PyTorch's threshold_backward: the gradient at 0 is 0).
      const y = node.outputs[0];
      return [keepWhere(b, b.op1("Greater", [y, b.scalar(0, y.type.dtype)]), dy[0]!)];
    },
  },
  Greater: { infer: binary("Greater", "bool") },
  Equal: { infer: binary("Equal", "bool") },
  Where: {
    infer: (inputs) => {
      const c = arg("Where", inputs, 0), x = arg("Where", inputs, 1), y = arg("Where", inputs, 2);
      if (c.type.dtype !== "bool") {
        throw new CompileError(`Where expects a bool condition, got ${c.type.dtype}`);
      }
      if (x.type.dtype !== y.type.dtype) {
        throw new CompileError(
          `Where expects branches of one dtype, got ${x.type.dtype} and ${y.type.dtype}`,
        );
      }
      const shape = broadcastShapes("Where", [c.type.shape, x.type.shape, y.type.shape]);
      return [{ dtype: x.type.dtype, shape }];
    },
    grad: ({ b, node, dy, needs }) => {
      const [c] = node.inputs;
      const zero = b.scalar(0, node.outputs[0].type.dtype);
      return [
        null,
        needs[1] ? b.op1("Where", [c, dy[0], zero]) : null,
        needs[2] ? b.op1("Where", [c, zero, dy[0]]) : null,
      ];
    },
  },
  Cast: {
    dtypeAttrs: ["to"],
    infer: (inputs, attrs): TensorType[] => {
      const x = arg("Cast", inputs, 0);
      const to = attrs.to;
      if (typeof to !== "string") throw new CompileError("Cast expects a dtype attribute 'to'");
      return [{ dtype: to as DType, shape: x.type.shape }];
    },
    grad: ({ b, node, dy }) => {
      // Between float types the gradient goes back in the input's type (PyTorch's `.to()`);
      // from or to an integer or bool type no gradient flows.
      const x = node.inputs[0]!, y = node.outputs[0];
      if (!isFloat(x.type.dtype) || !isFloat(y.type.dtype) || !dy[0]) return [null];
      return [x.type.dtype === y.type.dtype ? dy[0] : b.op1("Cast", [dy[0]], { to: x.type.dtype })];
    },
  },
} satisfies Record<ElementwiseOpName, OpDef>;
