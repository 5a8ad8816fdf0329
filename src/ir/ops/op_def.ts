/** The contract every op fulfils: a shape rule and, where differentiable, a gradient rule. @module */
import type { GraphBuilder } from "../graph_builder.ts";
import { CompileError } from "../errors.ts";
import {
  type Attrs,
  type AttrValue,
  type Dim,
  isFloat,
  type Node,
  type TensorType,
  type Value,
} from "../types.ts";

export type { OpName } from "./op_names.ts";

/** What a gradient rule receives. */
export interface GradArgs {
  /** Builder to emit the gradient nodes into. */
  readonly b: GraphBuilder;
  /** The forward node. */
  readonly node: Node;
  /** Gradient of the loss with respect to each output (null: the output does not reach the loss). */
  readonly dy: readonly (Value | null)[];
  /** Which inputs need a gradient; rules skip the others. */
  readonly needs: readonly boolean[];
}

/**
 * A gradient rule: returns the gradient of each input (null where none is needed or defined).
 * Gradients may have a broadcast shape; the reverse walk reduces them to the input's shape.
 */
export type GradRule = (args: GradArgs) => readonly (Value | null)[];

/** One op: its shape rule and, where differentiable, its gradient rule. */
export interface OpDef {
  /** Infers output types from input types (and constant inputs); throws CompileError. */
  readonly infer: (inputs: readonly (Value | null)[], attrs: Attrs) => TensorType[];
  /** Reverse-mode rule; absent for ops that have none. */
  readonly grad?: GradRule;
  /** Attributes that are ONNX FLOAT (numbers are INT otherwise). */
  readonly floatAttrs?: readonly string[];
  /** Attributes holding a dtype name, emitted as an ONNX element-type INT. */
  readonly dtypeAttrs?: readonly string[];
}

/** The input at `i`, or a CompileError naming the op when it is missing. */
export function arg(op: string, inputs: readonly (Value | null)[], i: number): Value {
  const v = inputs[i];
  if (!v) throw new CompileError(`${op} is missing required input ${i}`);
  return v;
}

/** A numeric attribute with a default. */
export function numAttr(attrs: Attrs, name: string, fallback: number): number {
  const v: AttrValue | undefined = attrs[name];
  return typeof v === "number" ? v : fallback;
}

/** A string attribute with a default. */
export function strAttr(attrs: Attrs, name: string, fallback: string): string {
  const v = attrs[name];
  return typeof v === "string" ? v : fallback;
}

/** Normalises a possibly negative axis against a rank, or throws naming the op. */
export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    throw new CompileError(`${op} axis ${axis} is out of range for rank ${rank}`);
  }
  return a;
}

/** The values of a 1-D int64 input known at compile time (possibly symbolic), or undefined. */
export function knownDims(v: Value | null | undefined): readonly Dim[] | undefined {
  return v?.type.known;
}

/** The values of a 1-D int64 input that must be numeric constants, or a CompileError. */
export function constInts(op: string, v: Value | null | undefined, what: string): number[] {
  const k = v?.type.known;
  if (!k || k.some((d) => typeof d !== "number")) {
    throw new CompileError(`${op} expects ${what} to be a constant`);
  }
  return k as number[];
}

/** Requires a floating-point input. */
export function expectFloat(op: string, v: Value, what = "input"): void {
  if (!isFloat(v.type.dtype)) {
    throw new CompileError(`${op} expects a float ${what}, got ${v.type.dtype}`);
  }
}

/**
 * `v` where the bool `mask` holds, else 0, as `v · float(mask)`: the masked gradients of ReLU,
 * Clip and HardSigmoid. onnxruntime's CPU Where takes ≈ 3 ns an element, the Cast and Mul under
 * 1 together (1.7 against 0.75 ms on [64, 16, 28, 28]). It differs from Where only where `v` is
 * infinite or NaN and the mask false (NaN instead of 0), and gives −0 for negative `v` there.
 */
export function keepWhere(b: GraphBuilder, mask: Value, v: Value): Value {
  return b.op1("Mul", [v, b.op1("Cast", [mask], { to: v.type.dtype })]);
}
