/** Lowers DSL losses to IR: the training loss and the evaluation metrics. @module */
import type { Loss } from "../dsl/losses.ts";
import type { DataSignature } from "./compile.ts";
import type { GraphBuilder } from "../ir/builder.ts";
import { CompileError } from "../ir/errors.ts";
import { formatShape, type Value } from "../ir/types.ts";

/** Evaluation outputs: the summed loss and the number of correct predictions in the batch. */
export interface EvalMetrics {
  readonly lossSum: Value;
  readonly correct: Value;
}

interface LossLowering {
  /** The mean training loss over the batch. */
  readonly train: (b: GraphBuilder, logits: Value, target: Value) => Value;
  /** Summed loss and correct count over the batch. */
  readonly eval: (b: GraphBuilder, logits: Value, target: Value) => EvalMetrics;
  /**
   * Checks the model output and the target graph input against the loss, naming both shapes on a
   * mismatch.
   */
  readonly check: (output: Value, target: Value, data: DataSignature) => void;
}

const LOSSES: { readonly [K in Loss["kind"]]: LossLowering } = {
  "cross-entropy": {
    check: (logits, target, data) => {
      const s = logits.type.shape;
      const classes = data.classes;
      if (classes === undefined || target.type.dtype !== "int64") {
        throw new CompileError(
          `cross-entropy expects class-index targets, but the data gives float targets of shape ${
            formatShape(target.type.shape)
          }`,
        );
      }
      if (s.length !== 2 || s[1] !== classes) {
        throw new CompileError(
          `cross-entropy expects model output of shape [N, ${classes}] for ${classes} classes, got ${
            formatShape(s)
          }`,
        );
      }
    },
    train: (b, logits, target) =>
      b.op("SoftmaxCrossEntropyLoss", [logits, target], { reduction: "mean" })[0],
    eval: (b, logits, target) => {
      const lossSum = b.op("SoftmaxCrossEntropyLoss", [logits, target], { reduction: "sum" })[0];
      const predicted = b.op1("ArgMax", [logits], { axis: 1, keepdims: 0 });
      const hits = b.op1("Cast", [b.op1("Equal", [predicted, target])], { to: "float32" });
      return { lossSum, correct: b.op1("ReduceSum", [hits], { keepdims: 0 }) };
    },
  },
};

/**
 * The lowering of a loss.
 *
 * @param loss The loss description.
 * @returns Its train and eval lowerings.
 */
export function lossLowering(loss: Loss): LossLowering {
  return LOSSES[loss.kind];
}
