/** Neural-network ops: Softmax, LogSoftmax, OneHot, SoftmaxCrossEntropyLoss. @module */
import { CompileError } from "../errors.ts";
import { formatShape, type TensorType, type Value } from "../types.ts";
import { arg, constInts, expectFloat, normAxis, numAttr, type OpDef, strAttr } from "./op_def.ts";

const softmaxInfer = (op: string): OpDef["infer"] => (inputs, attrs) => {
  const x = arg(op, inputs, 0);
  expectFloat(op, x);
  normAxis(op, numAttr(attrs, "axis", -1), x.type.shape.length);
  return [x.type];
};

/** The ops this file defines. */
export type NnOpName =
  | "Softmax"
  | "LogSoftmax"
  | "OneHot"
  | "SoftmaxCrossEntropyLoss"
  | "BatchNormalization";

/** Neural-network op table. */
export const NN_OPS = {
  Softmax: {
    infer: softmaxInfer("Softmax"),
    grad: ({ b, node, dy }) => {
      // dx = y · (dy − Σ dy·y) along the axis.
      const y = node.outputs[0];
      const axis = numAttr(node.attrs, "axis", -1);
      const dot = b.op1("ReduceSum", [b.op1("Mul", [dy[0], y]), b.ints([axis])], { keepdims: 1 });
      return [b.op1("Mul", [y, b.op1("Sub", [dy[0], dot])])];
    },
  },
  LogSoftmax: {
    infer: softmaxInfer("LogSoftmax"),
    grad: ({ b, node, dy }) => {
      // dx = dy − softmax(x) · Σ dy along the axis.
      const axis = numAttr(node.attrs, "axis", -1);
      const p = b.op1("Exp", [node.outputs[0]]);
      const sum = b.op1("ReduceSum", [dy[0], b.ints([axis])], { keepdims: 1 });
      return [b.op1("Sub", [dy[0], b.op1("Mul", [p, sum])])];
    },
  },
  OneHot: {
    infer: (inputs): TensorType[] => {
      const idx = arg("OneHot", inputs, 0), values = arg("OneHot", inputs, 2);
      const [depth] = constInts("OneHot", inputs[1], "depth");
      return [{ dtype: values.type.dtype, shape: [...idx.type.shape, depth] }];
    },
  },
  SoftmaxCrossEntropyLoss: {
    infer: (inputs, attrs): TensorType[] => {
      const op = "SoftmaxCrossEntropyLoss";
      const scores = arg(op, inputs, 0), labels = arg(op, inputs, 1);
      expectFloat(op, scores, "scores tensor");
      const s = scores.type.shape, l = labels.type.shape;
      if (s.length !== 2) {
        throw new CompileError(`${op} expects scores of shape [N, C], got ${formatShape(s)}`);
      }
      if (
        l.length !== 1 || (l[0] !== s[0] && typeof l[0] === "number" && typeof s[0] === "number")
      ) {
        throw new CompileError(
          `${op} expects labels of shape [${s[0]}] for scores ${formatShape(s)}, got ${
            formatShape(l)
          }`,
        );
      }
      if (labels.type.dtype !== "int64" && labels.type.dtype !== "int32") {
        throw new CompileError(`${op} expects int64 or int32 labels, got ${labels.type.dtype}`);
      }
      const reduction = strAttr(attrs, "reduction", "mean");
      if (!["mean", "sum", "none"].includes(reduction)) {
        throw new CompileError(`${op} has unknown reduction '${reduction}'`);
      }
      return [
        { dtype: scores.type.dtype, shape: reduction === "none" ? [s[0]] : [] },
        { dtype: scores.type.dtype, shape: s },
      ];
    },
    grad: ({ b, node, dy, needs }) => {
      const op = "SoftmaxCrossEntropyLoss";
      const [scores, labels, weights] = node.inputs;
      if (weights || "ignore_index" in node.attrs) {
        throw new CompileError(`${op} has no gradient rule for class weights or ignore_index yet`);
      }
      if (dy[1]) throw new CompileError(`${op} has no gradient rule for its log_prob output`);
      if (!needs[0]) return [null, null, null];
      const classes = scores!.type.shape[1];
      if (typeof classes !== "number") {
        throw new CompileError(`${op} gradient needs a static class count, got ${classes}`);
      }
      // d loss_i / d scores_i = softmax(scores_i) − onehot(label_i), scaled by the reduction.
      const p = b.op1("Softmax", [scores], { axis: 1 });
      const dtype = scores!.type.dtype;
      // onnxruntime's OneHot has no kernel for int32 indices with an int64 depth.
      const indices = labels!.type.dtype === "int64"
        ? labels
        : b.op1("Cast", [labels], { to: "int64" });
      let onehot = b.op1("OneHot", [
        indices,
        b.ints([classes]),
        b.constant({
          dtype: "float32",
          shape: [2],
          data: Float32Array.of(0, 1),
        }),
      ], { axis: -1 });
      if (dtype !== "float32") onehot = b.op1("Cast", [onehot], { to: dtype });
      const diff = b.op1("Sub", [p, onehot]);
      const reduction = strAttr(node.attrs, "reduction", "mean");
      let scale = dy[0]!;
      if (reduction === "mean") {
        const n = b.op1("Gather", [b.op1("Shape", [labels]), b.scalar(0, "int64")], { axis: 0 });
        scale = b.op1("Div", [scale, b.op1("Cast", [n], { to: dtype })]);
      } else if (reduction === "none") {
        scale = b.op1("Unsqueeze", [scale, b.ints([1])]);
      }
      return [b.op1("Mul", [diff, scale]), null, null];
    },
  },
  BatchNormalization: {
    // Inference form (training_mode 0): y = (x − mean)/√(var + ε)·scale + B per channel (axis 1).
    floatAttrs: ["epsilon", "momentum"],
    infer: (inputs, attrs): TensorType[] => {
      const op = "BatchNormalization";
      const x = arg(op, inputs, 0);
      expectFloat(op, x);
      if (numAttr(attrs, "training_mode", 0) !== 0) {
        throw new CompileError(
          `${op} with training_mode 1 is not supported; lower batch statistics`,
        );
      }
      const c = x.type.shape[1];
      for (let i = 1; i <= 4; i++) {
        const v = arg(op, inputs, i);
        if (v.type.shape.length !== 1 || (typeof c === "number" && v.type.shape[0] !== c)) {
          throw new CompileError(
            `${op} expects per-channel inputs of shape [${c}] for input ${
              formatShape(x.type.shape)
            }, got ${formatShape(v.type.shape)}`,
          );
        }
      }
      return [x.type];
    },
    grad: ({ b, node, dy, needs }) => {
      const [x, scale, , mean, variance] = node.inputs as Value[];
      const g = dy[0]!;
      const rank = x.type.shape.length;
      const perChannel = b.ints([1, -1, ...Array(rank - 2).fill(1)]);
      const axes = b.ints([0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)]);
      const t = x.type.dtype;
      const eps = b.scalar(Math.fround(numAttr(node.attrs, "epsilon", 1e-5)), t);
      const inv = b.op1("Div", [b.scalar(1, t), b.op1("Sqrt", [b.op1("Add", [variance, eps])])]);
      const chan = (v: Value) => b.op1("Reshape", [v, perChannel]);
      const sum = (v: Value) => b.op1("ReduceSum", [v, axes], { keepdims: 0 });
      const dx = needs[0] ? b.op1("Mul", [g, chan(b.op1("Mul", [scale, inv]))]) : null;
      const dScale = needs[1]
        ? sum(b.op1("Mul", [g, b.op1("Mul", [b.op1("Sub", [x, chan(mean)]), chan(inv)])]))
        : null;
      const dB = needs[2] ? sum(g) : null;
      return [dx, dScale, dB, null, null];
    },
  },
} satisfies Record<NnOpName, OpDef>;
