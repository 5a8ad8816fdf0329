/**
 * Activation and elementwise ops that imported models use: Clip (opset 13 form), HardSigmoid,
 * HardSwish, Softplus, Mod, IsNaN, IsInf, Sin, Cos (rotary embeddings), Floor, Ceil, Round. Shape
 * rules and gradients; where a point is a kink the gradient there is PyTorch's.
 * @module
 */
import { broadcastShapes } from "../broadcast.ts";
import type { GraphBuilder } from "../graph_builder.ts";
import { CompileError } from "../errors.ts";
import { formatShape, isFloat, type TensorType, type Value } from "../types.ts";
import { arg, expectFloat, type GradArgs, keepWhere, numAttr, type OpDef } from "./op_def.ts";
import type { ActivationOpName } from "./op_names.ts";
import { floatUnary } from "./math.ts";
import { zeroTensor } from "./shape.ts";

/** The shape rule of a float predicate (IsNaN, IsInf): a bool of the input's shape. */
function floatPredicate(op: string): OpDef["infer"] {
  return (inputs) => {
    const x = arg(op, inputs, 0);
    expectFloat(op, x);
    return [{ dtype: "bool", shape: x.type.shape }];
  };
}

/** Zeros of the shape of `like`, taken at run time so symbolic dimensions work. */
function zerosLike(b: GraphBuilder, like: Value): Value {
  return b.op1("ConstantOfShape", [b.op1("Shape", [like])], {
    value: zeroTensor(like.type.dtype),
  });
}

/** A gradient rule giving zeros of the input's shape (PyTorch's for step functions). */
function zeroGrad({ b, node }: GradArgs): (Value | null)[] {
  return [zerosLike(b, node.inputs[0]!)];
}

/** A scalar Clip bound as rank 0 (onnxruntime also takes a one-element `[1]` bound). */
function asScalar(b: GraphBuilder, v: Value): Value {
  return v.type.shape.length === 0 ? v : b.op1("Squeeze", [v, b.ints([0])]);
}

/** Activation op table. */
export const ACTIVATION_OPS = {
  Clip: {
    // y = min(max(x, min), max) with optional scalar bounds (inputs 1 and 2, null when omitted);
    // any numeric dtype but bool. dx = dy where min ≤ x ≤ max (inclusive), else 0: PyTorch's
    // clamp_backward (so also 0 everywhere when min > max). The bounds get no gradient.
    infer: (inputs): TensorType[] => {
      const op = "Clip";
      const x = arg(op, inputs, 0);
      if (x.type.dtype === "bool") {
        throw new CompileError(`${op} expects a numeric input, got bool`);
      }
      for (const [i, what] of [[1, "min"], [2, "max"]] as const) {
        const v = inputs[i];
        if (!v) continue;
        if (v.type.dtype !== x.type.dtype) {
          throw new CompileError(
            `${op} expects ${what} of the input's dtype ${x.type.dtype}, got ${v.type.dtype}`,
          );
        }
        const s = v.type.shape;
        if (s.length > 1 || (s.length === 1 && s[0] !== 1)) {
          throw new CompileError(`${op} expects ${what} to be a scalar, got ${formatShape(s)}`);
        }
      }
      return [x.type];
    },
    grad: ({ b, node, dy }) => {
      const [x, lo, hi] = node.inputs;
      if (!lo && !hi) return [dy[0], null, null];
      // With constant bounds in order (ReLU6 and most exports), y is x itself exactly where
      // lo ≤ x ≤ hi, so one Equal(x, y) is the mask: two comparisons and an And were 24 ms of
      // mobilenet_v2's batch-32 step. Crossed or computed bounds take the comparisons.
      const known = (v: Value | null | undefined) =>
        v?.constant ? Number(v.constant.data[0]) : v ? undefined : null;
      const [low, high] = [known(lo), known(hi)];
      if (
        low !== undefined && high !== undefined && (low === null || high === null || low <= high)
      ) {
        return [keepWhere(b, b.op1("Equal", [x!, node.outputs[0]]), dy[0]!), null, null];
      }
      const conds = [
        lo ? b.op1("GreaterOrEqual", [x, asScalar(b, lo)]) : null,
        hi ? b.op1("LessOrEqual", [x, asScalar(b, hi)]) : null,
      ].filter((c): c is Value => c !== null);
      const inside = conds.reduce((p, q) => b.op1("And", [p, q]));
      return [keepWhere(b, inside, dy[0]!), null, null];
    },
  },
  HardSigmoid: {
    // y = max(0, min(1, alpha·x + beta)), alpha 0.2 and beta 0.5 by default. dx = alpha·dy where
    // 0 < y < 1, i.e. 0 < alpha·x + beta < 1 strictly (PyTorch's hardsigmoid_backward, −3 < x < 3
    // for alpha 1/6), else 0. onnxruntime's CPU kernel is float32 only.
    infer: floatUnary("HardSigmoid"),
    floatAttrs: ["alpha", "beta"],
    grad: ({ b, node, dy }) => {
      const y = node.outputs[0], t = y.type.dtype;
      const alpha = Math.fround(numAttr(node.attrs, "alpha", 0.2));
      const inside = b.op1("And", [
        b.op1("Greater", [y, b.scalar(0, t)]),
        b.op1("Less", [y, b.scalar(1, t)]),
      ]);
      const slope = b.op1("Mul", [dy[0], b.scalar(alpha, t)]);
      return [keepWhere(b, inside, slope)];
    },
  },
  HardSwish: {
    // y = x · max(0, min(1, x/6 + 1/2)). dx as PyTorch's hardswish_backward (checked on 2.13;
    // pytorch#143899 moved the kinks): 0 where x ≤ −3, dy·(x/3 + 1/2) where −3 < x < 3, dy where
    // x ≥ 3; so 0 at −3 and dy at 3. onnxruntime's CPU kernel is float32 only.
    infer: floatUnary("HardSwish"),
    grad: ({ b, node, dy }) => {
      const x = node.inputs[0]!, t = x.type.dtype;
      const g = dy[0]!;
      const middle = b.op1("Mul", [
        g,
        b.op1("Add", [b.op1("Div", [x, b.scalar(3, t)]), b.scalar(0.5, t)]),
      ]);
      const upper = b.op1("Where", [b.op1("GreaterOrEqual", [x, b.scalar(3, t)]), g, middle]);
      const flat = b.op1("LessOrEqual", [x, b.scalar(-3, t)]);
      return [b.op1("Where", [flat, b.scalar(0, t), upper])];
    },
  },
  Softplus: {
    // y = log(1 + exp(x)); dx = dy · sigmoid(x). onnxruntime's CPU kernel is float32 only.
    infer: floatUnary("Softplus"),
    grad: ({ b, node, dy }) => [b.op1("Mul", [dy[0], b.op1("Sigmoid", [node.inputs[0]])])],
  },
  Mod: {
    // Broadcasting remainder. fmod 0: sign of the divisor (Python's %), integers only; fmod 1:
    // sign of the dividend (C's fmod). The spec requires fmod 1 for floats and onnxruntime fails
    // at run time without it, so the rule refuses float Mod with fmod 0. For floats:
    // dA = dy, dB = −dy·trunc(A/B) as torch.fmod. The fmod 0 branch (−dy·floor(A/B), as
    // torch.remainder) is kept for the day floats may use it; the shape rule refuses that now.
    infer: (inputs, attrs): TensorType[] => {
      const op = "Mod";
      const a = arg(op, inputs, 0), d = arg(op, inputs, 1);
      if (a.type.dtype !== d.type.dtype) {
        throw new CompileError(
          `${op} expects inputs of one dtype, got ${a.type.dtype} and ${d.type.dtype}`,
        );
      }
      if (a.type.dtype === "bool") throw new CompileError(`${op} expects numeric inputs, got bool`);
      const fmod = numAttr(attrs, "fmod", 0);
      if (fmod !== 0 && fmod !== 1) {
        throw new CompileError(`${op} expects fmod 0 or 1, got ${fmod}`);
      }
      if (isFloat(a.type.dtype) && fmod !== 1) {
        throw new CompileError(
          `${op} on ${a.type.dtype} needs fmod=1 (the ONNX spec and onnxruntime allow only C's ` +
            `fmod for floats), got fmod=0`,
        );
      }
      return [{ dtype: a.type.dtype, shape: broadcastShapes(op, [a.type.shape, d.type.shape]) }];
    },
    grad: ({ b, node, dy, needs }) => {
      const [a, d] = node.inputs as readonly Value[];
      if (!isFloat(a.type.dtype)) return [null, null];
      const g = dy[0]!;
      let dd: Value | null = null;
      if (needs[1]) {
        const q = b.op1("Div", [a, d]);
        // trunc(q) = sign(q)·floor(|q|); ai.onnx has no Trunc.
        const whole = numAttr(node.attrs, "fmod", 0) === 1
          ? b.op1("Mul", [b.op1("Sign", [q]), b.op1("Floor", [b.op1("Abs", [q])])])
          : b.op1("Floor", [q]);
        dd = b.op1("Neg", [b.op1("Mul", [g, whole])]);
      }
      return [needs[0] ? g : null, dd];
    },
  },
  // NaN → true, else false; no gradient (bool output).
  IsNaN: { infer: floatPredicate("IsNaN") },
  // ±Inf → true, as selected by detect_negative / detect_positive (both 1 by default); no gradient.
  IsInf: { infer: floatPredicate("IsInf") },
  Sin: {
    // dx = dy · cos(x)
    infer: floatUnary("Sin"),
    grad: ({ b, node, dy }) => [b.op1("Mul", [dy[0], b.op1("Cos", [node.inputs[0]])])],
  },
  Cos: {
    // dx = −dy · sin(x)
    infer: floatUnary("Cos"),
    grad: ({ b, node, dy }) => [
      b.op1("Neg", [b.op1("Mul", [dy[0], b.op1("Sin", [node.inputs[0]])])]),
    ],
  },
  // Floor, Ceil and Round (half to even) are step functions: their gradient is zeros of x's shape,
  // as in PyTorch (not "no gradient"), so a path through them contributes 0.
  Floor: { infer: floatUnary("Floor"), grad: zeroGrad },
  Ceil: { infer: floatUnary("Ceil"), grad: zeroGrad },
  Round: { infer: floatUnary("Round"), grad: zeroGrad },
} satisfies Record<ActivationOpName, OpDef>;
