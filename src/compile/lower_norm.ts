/**
 * Lowerings of batch and layer normalisation. The train graph normalises with ONNX
 * BatchNormalization in training mode (batch statistics, an analytic gradient rule) and updates
 * the running statistics; the eval and inference graphs use BatchNormalization in inference mode
 * with the running statistics.
 * @module
 */
import type { BatchNormLayer } from "../dsl/norm_layers.ts";
import { CompileError } from "../ir/errors.ts";
import { formatShape, type Value } from "../ir/types.ts";
import { join, type LowerContext, type Lowerings } from "./lowering.ts";

function lowerBatchNorm(
  layer: BatchNormLayer,
  x: Value,
  ctx: LowerContext,
  path: string,
): Value {
  const { b, param, buffer, updateBuffer } = ctx;
  const s = x.type.shape, c = layer.numFeatures;
  const is1d = layer.kind === "batch-norm-1d";
  const okRank = is1d ? s.length === 2 || s.length === 3 : s.length === 4;
  if (!okRank || s[1] !== c || s.slice(2).some((d) => typeof d !== "number")) {
    throw new CompileError(
      `expects input of shape ${is1d ? `[N, ${c}] or [N, ${c}, L]` : `[N, ${c}, H, W]`}, got ${
        formatShape(s)
      }`,
    );
  }
  const weight = layer.affine
    ? param(join(path, "weight"), [c], { kind: "constant", value: 1 })
    : b.constant({ dtype: "float32", shape: [c], data: new Float32Array(c).fill(1) });
  const bias = layer.affine
    ? param(join(path, "bias"), [c], { kind: "zeros" })
    : b.constant({ dtype: "float32", shape: [c], data: new Float32Array(c) });
  const meanName = join(path, "running_mean"), varName = join(path, "running_var");
  const countName = join(path, "num_batches_tracked");
  const runningMean = buffer(meanName, [c], { kind: "zeros" });
  const runningVar = buffer(varName, [c], { kind: "constant", value: 1 });
  const tracked = buffer(countName, [], { kind: "zeros" }, "int64");

  const running = { mean: runningMean, variance: runningVar, meanName, varName };
  const y = batchNorm(ctx, x, weight, bias, running, layer.eps, layer.momentum);
  if (ctx.mode === "train") {
    updateBuffer(countName, b.op1("Add", [tracked, b.scalar(1, "int64")]));
  }
  return y;
}

/** A batch norm's running statistics: their current values and their buffer names. */
export interface RunningStats {
  readonly mean: Value;
  readonly variance: Value;
  readonly meanName: string;
  readonly varName: string;
}

/**
 * Batch normalisation of `x` (`[N, C, ...static spatial]`) as PyTorch computes it: in the train
 * graph with the batch's statistics (ONNX BatchNormalization in training mode, whose gradient rule
 * is the analytic one), updating the running statistics — `momentum·batch + (1 − momentum)·running`,
 * the variance unbiased; in the eval graph with the running statistics.
 *
 * @param ctx The lowering context (its builder, mode and `updateBuffer`).
 * @param x The input.
 * @param weight Per-channel scale `[C]`.
 * @param bias Per-channel shift `[C]`.
 * @param running The running statistics and their buffer names.
 * @param eps Added to the variance.
 * @param momentum PyTorch's momentum (the weight of the batch statistics).
 * @returns The normalised tensor.
 */
export function batchNorm(
  ctx: LowerContext,
  x: Value,
  weight: Value,
  bias: Value,
  running: RunningStats,
  eps: number,
  momentum: number,
): Value {
  const { b, mode, updateBuffer } = ctx;
  const s = x.type.shape, c = s[1] as number;
  const { mean: runningMean, variance: runningVar, meanName, varName } = running;
  if (mode === "eval") {
    return b.op1("BatchNormalization", [x, weight, bias, runningMean, runningVar], {
      epsilon: eps,
      momentum: momentum,
    });
  }
  // The batch statistics, built exactly as BatchNormalization's training-mode gradient rule
  // builds them, so that rule reuses these nodes instead of recomputing them.
  const t = x.type.dtype;
  const axes = [0, ...s.slice(2).map((_, i) => i + 2)];
  const mean = b.op1("ReduceMean", [x], { axes, keepdims: 1 });
  const centered = b.op1("Sub", [x, mean]);
  const variance = b.op1("ReduceMean", [b.op1("Mul", [centered, centered])], { axes, keepdims: 1 });
  const batchMean = b.op1("Reshape", [mean, b.ints([c])]);
  const batchVar = b.op1("Reshape", [variance, b.ints([c])]);
  // Normalised with the batch statistics given as inputs, in BatchNormalization's inference form:
  // the same y as the training form, one pass over x instead of the training kernel's recount of
  // the statistics (0.9 against 1.2 ms on [64, 16, 28, 28]). Its gradient rule recognises these
  // inputs as x's own batch statistics and takes the analytic training-form gradient.
  const y = b.op1("BatchNormalization", [x, weight, bias, batchMean, batchVar], {
    epsilon: eps,
    momentum: 0,
  });
  // Running statistics: momentum·batch + (1 − momentum)·running, the variance unbiased by
  // n/(n − 1) with n = N·∏spatial samples per channel.
  const spatialSize = (s.slice(2) as number[]).reduce((a, d) => a * d, 1);
  const batch = b.op1("Cast", [
    b.op1("Gather", [b.op1("Shape", [x]), b.scalar(0, "int64")], { axis: 0 }),
  ], { to: t });
  const n = b.op1("Mul", [batch, b.scalar(spatialSize, t)]);
  const unbias = b.op1("Div", [n, b.op1("Sub", [n, b.scalar(1, t)])]);
  const m = b.scalar(momentum, t), keep = b.scalar(1 - momentum, t);
  const blend = (running: Value, stat: Value) =>
    b.op1("Add", [
      b.op1("Mul", [running, keep]),
      b.op1("Mul", [stat, m]),
    ]);
  updateBuffer(meanName, blend(runningMean, batchMean));
  updateBuffer(varName, blend(runningVar, b.op1("Mul", [batchVar, unbias])));
  return y;
}

/** Normalisation lowerings. */
export const NORM_LOWERINGS: Lowerings<"batch-norm-1d" | "batch-norm-2d" | "layer-norm"> = {
  "batch-norm-1d": lowerBatchNorm,
  "batch-norm-2d": lowerBatchNorm,
  "layer-norm": (layer, x, { b, param }, path) => {
    const s = x.type.shape, ns = layer.normalizedShape;
    const tail = s.slice(s.length - ns.length);
    if (s.length < ns.length || tail.some((d, i) => d !== ns[i])) {
      throw new CompileError(
        `expects input ending in ${formatShape(ns)}, got ${formatShape(s)}`,
      );
    }
    const t = x.type.dtype;
    const axes = ns.map((_, i) => s.length - ns.length + i);
    const mean = b.op1("ReduceMean", [x], { axes, keepdims: 1 });
    const centered = b.op1("Sub", [x, mean]);
    const variance = b.op1("ReduceMean", [b.op1("Mul", [centered, centered])], {
      axes,
      keepdims: 1,
    });
    const std = b.op1("Sqrt", [b.op1("Add", [variance, b.scalar(Math.fround(layer.eps), t)])]);
    let y = b.op1("Div", [centered, std]);
    if (layer.elementwiseAffine) {
      y = b.op1("Mul", [y, param(join(path, "weight"), ns, { kind: "constant", value: 1 })]);
      y = b.op1("Add", [y, param(join(path, "bias"), ns, { kind: "zeros" })]);
    }
    return y;
  },
};
