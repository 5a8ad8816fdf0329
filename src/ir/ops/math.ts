/**
 * Elementwise math: unary float functions (Sqrt, Log, Sigmoid, Tanh, Erf, …), the activation ops
 * LeakyRelu and Elu, Pow, variadic Max/Min, comparisons and logic. Shape rules and gradients.
 * @module
 */
import { broadcastShapes } from "../broadcast.ts";
import { CompileError } from "../errors.ts";
import { binary } from "./elementwise.ts";
import { arg, expectFloat, type OpDef } from "./op_def.ts";

/** The ops this file defines. */
export type MathOpName =
  | "Sqrt"
  | "Log"
  | "Abs"
  | "Sign"
  | "Reciprocal"
  | "Sigmoid"
  | "Tanh"
  | "Erf"
  | "LeakyRelu"
  | "Elu"
  | "Pow"
  | "Max"
  | "Min"
  | "Less"
  | "GreaterOrEqual"
  | "LessOrEqual"
  | "Not"
  | "And";

function floatUnary(op: string): OpDef["infer"] {
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

/** Math op table. */
export const MATH_OPS = {
  Sqrt: { infer: floatUnary("Sqrt") },
  Log: { infer: floatUnary("Log") },
  Abs: { infer: floatUnary("Abs") },
  Sign: { infer: floatUnary("Sign") },
  Reciprocal: { infer: floatUnary("Reciprocal") },
  Sigmoid: { infer: floatUnary("Sigmoid") },
  Tanh: { infer: floatUnary("Tanh") },
  Erf: { infer: floatUnary("Erf") },
  LeakyRelu: { infer: floatUnary("LeakyRelu"), floatAttrs: ["alpha"] },
  Elu: { infer: floatUnary("Elu"), floatAttrs: ["alpha"] },
  Pow: {
    // ONNX lets the exponent have its own type; the IR keeps both of one float type.
    infer: binary("Pow"),
  },
  Max: { infer: variadic("Max") },
  Min: { infer: variadic("Min") },
  Less: { infer: binary("Less", "bool") },
  GreaterOrEqual: { infer: binary("GreaterOrEqual", "bool") },
  LessOrEqual: { infer: binary("LessOrEqual", "bool") },
  Not: { infer: logical("Not") },
  And: { infer: logical("And") },
} satisfies Record<MathOpName, OpDef>;
