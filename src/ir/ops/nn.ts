/** Neural-network ops: Softmax, LogSoftmax, OneHot, SoftmaxCrossEntropyLoss. @module */
import { CompileError } from "../errors.ts";
import { type Attrs, formatShape, type Node, type TensorType, type Value } from "../types.ts";
import {
  arg,
  constInts,
  expectFloat,
  normAxis,
  numAttr,
  type OpDef,
  type OpName,
  strAttr,
} from "./op_def.ts";
import type { NnOpName } from "./op_names.ts";

const softmaxInfer = (op: string): OpDef["infer"] => (inputs, attrs) => {
  const x = arg(op, inputs, 0);
  expectFloat(op, x);
  normAxis(op, numAttr(attrs, "axis", -1), x.type.shape.length);
  return [x.type];
};

/**
 * Whether `mean` and `variance` are `x`'s own batch statistics as the batch-norm lowering builds
 * them: Reshape(ReduceMean(x)) and Reshape(ReduceMean((x − that mean)²)) over `axes`. A
 * BatchNormalization in inference form fed with them computes the training form's y, and its
 * gradient is the training form's.
 */
function batchStatistics(
  nodes: readonly Node[],
  x: Value,
  mean: Value,
  variance: Value,
  axes: readonly number[],
  existing: (name: OpName, ins: readonly Value[], attrs?: Attrs) => Value | undefined,
): boolean {
  const reshaped = (v: Value) => {
    const n = nodes.find((n) => n.outputs[0]?.id === v.id);
    return n?.op === "Reshape" ? n.inputs[0] : undefined;
  };
  const attrs = { axes: [...axes], keepdims: 1 };
  const m = existing("ReduceMean", [x], attrs);
  const centered = m && existing("Sub", [x, m]);
  const squares = centered && existing("Mul", [centered, centered]);
  const v = squares && existing("ReduceMean", [squares], attrs);
  return !!m && !!v && reshaped(mean)?.id === m.id && reshaped(variance)?.id === v.id;
}

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
    // y = (x − μ)/√(σ² + ε)·scale + B per channel (axis 1). Inference form (training_mode 0):
    // μ, σ² are the inputs input_mean, input_var. Training form (training_mode 1): μ, σ² are the
    // batch mean and biased variance of x, and the outputs running_mean and running_var blend
    // them into the inputs as input·momentum + batch·(1 − momentum).
    floatAttrs: ["epsilon", "momentum"],
    infer: (inputs, attrs): TensorType[] => {
      const op = "BatchNormalization";
      const x = arg(op, inputs, 0);
      expectFloat(op, x);
      if (x.type.shape.length < 2) {
        throw new CompileError(
          `${op} expects input of shape [N, C, ...], got ${formatShape(x.type.shape)}`,
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
      const mode = numAttr(attrs, "training_mode", 0);
      if (mode !== 0 && mode !== 1) {
        throw new CompileError(`${op} expects training_mode 0 or 1, got ${mode}`);
      }
      // ONNX requires all three outputs in training mode and only Y in inference mode.
      const stats: TensorType = { dtype: x.type.dtype, shape: [c] };
      return mode ? [x.type, stats, stats] : [x.type];
    },
    grad: ({ b, node, dy, needs }) => {
      const op = "BatchNormalization";
      if (dy[1] || dy[2]) {
        throw new CompileError(`${op} has no gradient rule for its running statistics outputs`);
      }
      const [x, scale, , inputMean, inputVar] = node.inputs as Value[];
      const g = dy[0]!;
      const rank = x.type.shape.length, t = x.type.dtype;
      const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
      const eps = b.scalar(Math.fround(numAttr(node.attrs, "epsilon", 1e-5)), t);
      const perChannel = b.ints([1, -1, ...Array(rank - 2).fill(1)]);
      const chan = (v: Value) => b.op1("Reshape", [v, perChannel]);
      const flat = (v: Value) => b.op1("Reshape", [v, b.ints([-1])]);
      const sum = (v: Value) => b.op1("ReduceSum", [v, b.ints(axes)], { keepdims: 1 });
      const mul = (p: Value, q: Value) => b.op1("Mul", [p, q]);
      const invStd = (v: Value) =>
        b.op1("Div", [b.scalar(1, t), b.op1("Sqrt", [b.op1("Add", [v, eps])])]);

      // Nodes of the graph so far that compute `name(ins)` with `attrs`: the batch statistics
      // the forward built, which the training form's gradient reuses.
      const existing = (name: OpName, ins: readonly Value[], attrs: Attrs = {}) => {
        const key = JSON.stringify(Object.entries(attrs).sort());
        return b.nodes.find((n) =>
          n.op === name && n.outputs.length === 1 && n.inputs.length === ins.length &&
          n.inputs.every((v, i) => v?.id === ins[i].id) &&
          JSON.stringify(Object.entries(n.attrs).sort()) === key
        )?.outputs[0];
      };
      const reuse = (name: OpName, ins: readonly Value[], attrs: Attrs = {}): Value =>
        existing(name, ins, attrs) ?? b.op1(name, ins, attrs);
      const training = numAttr(node.attrs, "training_mode", 0) === 1 ||
        batchStatistics(b.nodes, x, inputMean, inputVar, axes, existing);
      if (!training) {
        // μ and σ² are inputs: dx = dy·scale·r with r = 1/√(σ² + ε); dμ = −Σ dy·scale·r;
        // dσ² = −½·scale·r³·Σ dy·(x − μ).
        const r = chan(invStd(inputVar));
        const a = mul(chan(scale), r);
        const centered = needs[1] || needs[4] ? b.op1("Sub", [x, chan(inputMean)]) : null;
        const sdyc = centered ? sum(mul(g, centered)) : null;
        const sdy = needs[2] || needs[3] ? sum(g) : null;
        return [
          needs[0] ? mul(g, a) : null,
          needs[1] ? flat(mul(sdyc!, r)) : null,
          needs[2] ? flat(sdy!) : null,
          needs[3] ? flat(b.op1("Neg", [mul(sdy!, a)])) : null,
          needs[4] ? flat(mul(sdyc!, mul(a, mul(r, mul(r, b.scalar(-0.5, t)))))) : null,
        ];
      }

      // Training form, or the inference form fed with x's batch statistics: μ and σ² are x's batch
      // statistics (in the training form input_mean and input_var only feed the running outputs). With x̂ = (x − μ)·r, the gradients are the analytic ones:
      //   dx = scale·r·(dy − mean(dy) − x̂·mean(dy·x̂)),  dscale = Σ dy·x̂,  dB = Σ dy,
      // computed as dx = dy·a + (x̂·s + k0), a = scale·r, s = −a·mean(dy·x̂), k0 = −a·mean(dy),
      // the bracket one inference-form BatchNormalization. The statistics reuse the forward
      // graph's nodes where it computed them the same way (ReduceMean(x), x − mean,
      // ReduceMean((x − mean)²)), so no full-size op is recomputed.
      const mean = reuse("ReduceMean", [x], { axes, keepdims: 1 });
      const centered = reuse("Sub", [x, mean]);
      const variance = reuse("ReduceMean", [reuse("Mul", [centered, centered])], {
        axes,
        keepdims: 1,
      });
      const r = invStd(variance);
      const sdy = needs[0] || needs[2] ? sum(g) : null;
      const sdyc = needs[0] || needs[1] ? sum(mul(g, centered)) : null;
      let dx: Value | null = null;
      if (needs[0]) {
        const count = b.op1("Cast", [b.op1("Div", [b.op1("Size", [x]), b.op1("Size", [mean])])], {
          to: t,
        });
        const a = mul(chan(scale), r);
        const minusA = b.op1("Div", [b.op1("Neg", [a]), count]);
        const affine = b.op1("BatchNormalization", [
          x,
          flat(mul(minusA, mul(r, sdyc!))),
          flat(mul(minusA, sdy!)),
          flat(mean),
          flat(variance),
        ], { epsilon: numAttr(node.attrs, "epsilon", 1e-5) });
        dx = b.op1("Add", [mul(g, a), affine]);
      }
      return [
        dx,
        needs[1] ? flat(mul(sdyc!, r)) : null,
        needs[2] ? flat(sdy!) : null,
        null,
        null,
      ];
    },
  },
} satisfies Record<NnOpName, OpDef>;
