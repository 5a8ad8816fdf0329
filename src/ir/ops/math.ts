/**
 * Elementwise math: unary float functions (Sqrt, Log, Sigmoid, Tanh, Erf, …), the activation ops
 * LeakyRelu and Elu, Pow, variadic Max/Min, comparisons and logic. Shape rules and gradients.
 * @module
 */
import { broadcastShapes } from "../broadcast.ts";
import { CompileError } from "../errors.ts";
import type { GraphBuilder } from "../graph_builder.ts";
import type { Value } from "../types.ts";
import { binary } from "./elementwise.ts";
import { arg, expectFloat, type GradRule, numAttr, type OpDef } from "./op_def.ts";
import type { MathOpName } from "./op_names.ts";
import { zeroTensor } from "./shape.ts";

/** The shape rule of a unary op on floats: the output has the input's type. */
export function floatUnary(op: string): OpDef["infer"] {
  return (inputs) => {
    const x = arg(op, inputs, 0);
    expectFloat(op, x);
    return [x.type];
  };
}

function variadic(op: string): OpDef["infer"] {
  return (inputs) => {
    if (inputs.length === 0) throw new CompileError(`${op} expects at least one input`);
    const xs = inputs.map((_, i) => arg(op, inputs, i));
    const dtype = xs[0].type.dtype;
    const other = xs.find((x) => x.type.dtype !== dtype);
    if (other) {
      throw new CompileError(
        `${op} expects inputs of one dtype, got ${dtype} and ${other.type.dtype}`,
      );
    }
    return [{ dtype, shape: broadcastShapes(op, xs.map((x) => x.type.shape)) }];
  };
}

function logical(op: string): OpDef["infer"] {
  return (inputs) => {
    const xs = inputs.map((_, i) => arg(op, inputs, i));
    const bad = xs.find((x) => x.type.dtype !== "bool");
    if (bad) throw new CompileError(`${op} expects bool inputs, got ${bad.type.dtype}`);
    return [{ dtype: "bool", shape: broadcastShapes(op, xs.map((x) => x.type.shape)) }];
  };
}

/** Whether `v` is a compile-time constant with no zero element. */
function nonZeroConstant(v: Value): boolean {
  const data = v.constant?.data;
  return data !== undefined &&
    Array.from(data as ArrayLike<number | bigint>).every((d) => Number(d) !== 0);
}

/** Multiplies `g` by a scalar constant of its own dtype. */
function scale(b: GraphBuilder, g: Value, k: number): Value {
  return b.op1("Mul", [g, b.scalar(k, g.type.dtype)]);
}

/** Zeros of the shape of `like`, taken at run time so symbolic dimensions work. */
function zerosLike(b: GraphBuilder, like: Value): Value {
  return b.op1("ConstantOfShape", [b.op1("Shape", [like])], {
    value: zeroTensor(like.type.dtype),
  });
}

/**
 * The gradient rule of variadic Max and Min. Each input gets `dy` where it attains the result,
 * split evenly among the inputs that tie: `dx_i = dy · [x_i = y] / Σ_j [x_j = y]`. For two inputs
 * this is PyTorch's `torch.maximum`/`torch.minimum` rule (half to each on a tie).
 */
function extremumGrad(): GradRule {
  return ({ b, node, dy, needs }) => {
    const g = dy[0]!;
    const xs = node.inputs as readonly Value[];
    if (xs.length === 1) return [g];
    const y = node.outputs[0];
    const dtype = y.type.dtype;
    const masks = xs.map((x) => b.op1("Cast", [b.op1("Equal", [x, y])], { to: dtype }));
    const count = masks.reduce((acc, m) => b.op1("Add", [acc, m]));
    const share = b.op1("Div", [g, count]);
    return masks.map((m, i) => (needs[i] ? b.op1("Mul", [share, m]) : null));
  };
}

/** Math op table. */
export const MATH_OPS = {
  Sqrt: {
    infer: floatUnary("Sqrt"),
    // dx = dy / (2·y)
    grad: ({ b, node, dy }) => [b.op1("Div", [dy[0], scale(b, node.outputs[0], 2)])],
  },
  Log: {
    infer: floatUnary("Log"),
    grad: ({ b, node, dy }) => [b.op1("Div", [dy[0], node.inputs[0]])],
  },
  Abs: {
    infer: floatUnary("Abs"),
    // dx = dy · sign(x): 0 at x = 0, as in PyTorch.
    grad: ({ b, node, dy }) => [b.op1("Mul", [dy[0], b.op1("Sign", [node.inputs[0]])])],
  },
  Sign: {
    infer: floatUnary("Sign"),
    // Zero almost everywhere; PyTorch's gradient is zeros, not "none".
    grad: ({ b, node }) => [zerosLike(b, node.inputs[0]!)],
  },
  Reciprocal: {
    infer: floatUnary("Reciprocal"),
    // dx = −dy · y²
    grad: ({ b, node, dy }) => {
      const y = node.outputs[0];
      return [b.op1("Neg", [b.op1("Mul", [dy[0], b.op1("Mul", [y, y])])])];
    },
  },
  Sigmoid: {
    infer: floatUnary("Sigmoid"),
    // dx = dy · y · (1 − y)
    grad: ({ b, node, dy }) => {
      const y = node.outputs[0];
      const oneMinus = b.op1("Sub", [b.scalar(1, y.type.dtype), y]);
      return [b.op1("Mul", [dy[0], b.op1("Mul", [y, oneMinus])])];
    },
  },
  Tanh: {
    infer: floatUnary("Tanh"),
    // dx = dy · (1 − y²)
    grad: ({ b, node, dy }) => {
      const y = node.outputs[0];
      const oneMinus = b.op1("Sub", [b.scalar(1, y.type.dtype), b.op1("Mul", [y, y])]);
      return [b.op1("Mul", [dy[0], oneMinus])];
    },
  },
  Erf: {
    infer: floatUnary("Erf"),
    // dx = dy · 2/√π · exp(−x²)
    grad: ({ b, node, dy }) => {
      const x = node.inputs[0]!;
      const e = b.op1("Exp", [b.op1("Neg", [b.op1("Mul", [x, x])])]);
      return [b.op1("Mul", [dy[0], scale(b, e, 2 / Math.sqrt(Math.PI))])];
    },
  },
  LeakyRelu: {
    infer: floatUnary("LeakyRelu"),
    floatAttrs: ["alpha"],
    // dx = dy where x > 0, else alpha · dy (at x = 0 the slope is alpha, as in PyTorch).
    grad: ({ b, node, dy }) => {
      const x = node.inputs[0]!;
      const alpha = Math.fround(numAttr(node.attrs, "alpha", 0.01));
      const positive = b.op1("Greater", [x, b.scalar(0, x.type.dtype)]);
      return [b.op1("Where", [positive, dy[0], scale(b, dy[0]!, alpha)])];
    },
  },
  Elu: {
    infer: floatUnary("Elu"),
    floatAttrs: ["alpha"],
    // dx = dy where x > 0, else dy · alpha · exp(x) (PyTorch's elu_backward on the input).
    grad: ({ b, node, dy }) => {
      const x = node.inputs[0]!;
      const alpha = Math.fround(numAttr(node.attrs, "alpha", 1));
      const positive = b.op1("Greater", [x, b.scalar(0, x.type.dtype)]);
      const negative = b.op1("Mul", [dy[0], scale(b, b.op1("Exp", [x]), alpha)]);
      return [b.op1("Where", [positive, dy[0], negative])];
    },
  },
  Pow: {
    // ONNX lets the exponent have its own type; the IR keeps both of one float type.
    infer: binary("Pow"),
    grad: ({ b, node, dy, needs }) => {
      const [x, e] = node.inputs as readonly Value[];
      const y = node.outputs[0];
      const g = dy[0]!;
      const dtype = y.type.dtype;
      const zero = b.scalar(0, dtype);
      let dx: Value | null = null;
      if (needs[0]) {
        // dx = dy · e · x^(e−1), and 0 where e = 0 (PyTorch's pow_backward: no 0·x⁻¹ at x = 0).
        const powered = b.op1("Pow", [x, b.op1("Sub", [e, b.scalar(1, dtype)])]);
        dx = b.op1("Mul", [g, b.op1("Mul", [e, powered])]);
        if (!nonZeroConstant(e)) dx = b.op1("Where", [b.op1("Equal", [e, zero]), zero, dx]);
      }
      let de: Value | null = null;
      if (needs[1]) {
        // de = dy · y · log(x), and 0 where x = 0 and e ≥ 0 (PyTorch's pow_backward_exponent).
        const ylog = b.op1("Mul", [y, b.op1("Log", [x])]);
        const atZero = b.op1("And", [
          b.op1("Equal", [x, zero]),
          b.op1("GreaterOrEqual", [e, zero]),
        ]);
        de = b.op1("Mul", [g, b.op1("Where", [atZero, zero, ylog])]);
      }
      return [dx, de];
    },
  },
  Max: { infer: variadic("Max"), grad: extremumGrad() },
  Min: { infer: variadic("Min"), grad: extremumGrad() },
  Less: { infer: binary("Less", "bool") },
  GreaterOrEqual: { infer: binary("GreaterOrEqual", "bool") },
  LessOrEqual: { infer: binary("LessOrEqual", "bool") },
  Not: { infer: logical("Not") },
  And: { infer: logical("And") },
} satisfies Record<MathOpName, OpDef>;
