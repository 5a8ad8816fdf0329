/**
 * Lowers DSL losses to IR: the loss as PyTorch 1.13 computes it, the scalar training objective and
 * the evaluation metrics. Default cross-entropy uses ONNX's fused `SoftmaxCrossEntropyLoss`; every
 * other loss is composed of differentiable ops (LogSoftmax, Where, Mul, ReduceSum, Abs, Log, …).
 * Class losses on per-position targets (`[N, T]`) see one row `[N·T, C]` per position (the
 * output transposed to classes-last where needed), which is PyTorch's definition.
 * @module
 */
import type { BceWithLogitsLoss, ClassLoss, Loss, Reduction } from "../dsl/losses.ts";
import type { DataSignature } from "./data_signature.ts";
import type { GraphBuilder } from "../ir/builder.ts";
import { CompileError } from "../ir/errors.ts";
import { type DType, formatShape, type Shape, type Value } from "../ir/types.ts";

/**
 * Evaluation outputs of one batch.
 *
 * `lossSum` is the batch size times the training objective on the batch, so that a trainer
 * dividing it by the batch size gets the number PyTorch's tutorial test loop adds up
 * (`loss_fn(pred, y).item()`): for unweighted `"mean"` losses it is the sum over samples of each
 * sample's loss (a sample's mean over its elements for regression losses); for weighted
 * cross-entropy / NLL it is `N · Σ w[t_i]·loss_i / Σ w[t_i]`; for `"sum"` it is `N` times the
 * batch's sum; for `"none"` `N` times the batch mean.
 *
 * For class losses on per-position targets (`[N, T]` sequence labels), the training objective
 * of `"mean"` is the weighted mean over the batch's non-ignored positions, so `lossSum / N` is
 * the mean per-token loss PyTorch returns for the batch.
 *
 * `correct` counts, for class losses on targets `[N]`, the samples whose argmax equals the target
 * (an ignored target counts as a miss); for class losses on per-position targets, the
 * non-ignored positions whose argmax over the class axis equals the target, and `counted` is the
 * number of non-ignored positions (so `correct / counted` is the token accuracy); for
 * `bceWithLogits`, the per-element hits `(x > 0) == (t > 0.5)` divided by the elements per sample
 * (so `correct / samples` is the multi-label element accuracy); regression losses have none
 * (undefined).
 */
export interface EvalMetrics {
  /** `N` times the training objective on the batch (a float scalar). */
  readonly lossSum: Value;
  /** Correct predictions in the batch; undefined for regression losses. */
  readonly correct?: Value;
  /**
   * What `correct` is out of when it is not the batch size: the non-ignored positions of
   * per-position class targets (a float scalar); undefined otherwise.
   */
  readonly counted?: Value;
}

/** A loss lowered to graph expressions. */
export interface LossLowering {
  /**
   * Checks the model output and the target graph input against the loss, naming both shapes on a
   * mismatch.
   */
  readonly check: (output: Value, target: Value, data: DataSignature) => void;
  /**
   * The loss as PyTorch returns it: a scalar for `"mean"` and `"sum"`, the per-sample (class
   * losses, the targets' shape: `[N]`, or `[N, d…]` per position) or per-element (regression
   * losses, the output's shape) tensor for `"none"`.
   */
  readonly value: (b: GraphBuilder, output: Value, target: Value) => Value;
  /** The scalar training objective: {@link value}, or its mean for `"none"`. */
  readonly train: (b: GraphBuilder, output: Value, target: Value) => Value;
  /** Loss sum and correct count of a batch (see {@linkcode EvalMetrics}). */
  readonly eval: (b: GraphBuilder, output: Value, target: Value) => EvalMetrics;
  /** The correct count alone (absent for losses without an accuracy, such as regression). */
  readonly correct?: (b: GraphBuilder, output: Value, target: Value) => Value;
  /**
   * What the correct count is out of when it is not the batch size: the non-ignored positions of
   * per-position class targets; undefined (or absent) otherwise.
   */
  readonly counted?: (b: GraphBuilder, output: Value, target: Value) => Value | undefined;
}

/** What each kind of loss defines; train and eval derive from it. */
interface LossDef {
  readonly check: (output: Value, target: Value, data: DataSignature) => void;
  readonly value: (b: GraphBuilder, output: Value, target: Value) => Value;
  readonly correct?: (b: GraphBuilder, output: Value, target: Value) => Value;
  readonly counted?: (b: GraphBuilder, output: Value, target: Value) => Value | undefined;
  /** A shorter eval loss sum where one exists (the fused cross-entropy's `"sum"`). */
  readonly lossSum?: (b: GraphBuilder, output: Value, target: Value) => Value | undefined;
}

type FloatDType = "float32" | "float64";

function floatType(v: Value): FloatDType {
  const t = v.type.dtype;
  if (t !== "float32" && t !== "float64") {
    throw new CompileError(`Losses expect a float model output, got ${t}`);
  }
  return t;
}

function vector(b: GraphBuilder, values: readonly number[], dtype: FloatDType): Value {
  const data = dtype === "float64" ? Float64Array.from(values) : Float32Array.from(values);
  return b.constant({ dtype, shape: [values.length], data });
}

/**
 * The batch size, the first dimension of `v` read at run time, as a float scalar. `v` is the
 * target, which no parameter reaches, so the reverse walk never meets Shape and Cast.
 */
function batchSize(b: GraphBuilder, v: Value, dtype: DType): Value {
  const n = b.op1("Gather", [b.op1("Shape", [v]), b.scalar(0, "int64")], { axis: 0 });
  return b.op1("Cast", [n], { to: dtype });
}

/** Sum of all elements, as a scalar. */
function sumAll(b: GraphBuilder, v: Value): Value {
  return b.op1("ReduceSum", [v], { keepdims: 0 });
}

/** Sum along axis 1, dropping it. */
function sumClasses(b: GraphBuilder, v: Value): Value {
  return b.op1("ReduceSum", [v, b.ints([1])], { keepdims: 0 });
}

/** The product of the static dimensions after the batch dimension. */
function perSample(loss: string, shape: Shape): number {
  return shape.slice(1).reduce<number>((n, d) => {
    if (typeof d !== "number") {
      throw new CompileError(`${loss} needs static sample dimensions, got ${formatShape(shape)}`);
    }
    return n * d;
  }, 1);
}

/** Mean over every element of `v`: the sum over `N · (elements per sample)`, N from `target`. */
function meanAll(b: GraphBuilder, loss: string, v: Value, target: Value): Value {
  const dtype = v.type.dtype;
  const count = b.op1("Mul", [
    batchSize(b, target, dtype),
    b.scalar(perSample(loss, v.type.shape), dtype),
  ]);
  return b.op1("Div", [sumAll(b, v), count]);
}

function sameDims(a: Shape, c: Shape): boolean {
  return a.length === c.length &&
    a.every((d, i) =>
      d === c[i] || (i === 0 && (typeof d === "string" || typeof c[i] === "string"))
    );
}

// ---- class-index losses ----

function classTargets(name: string, target: Value, data: DataSignature): number {
  const classes = data.classes;
  if (classes === undefined || target.type.dtype !== "int64") {
    throw new CompileError(
      `${name} expects class-index targets, but the data gives float targets of shape ${
        formatShape(target.type.shape)
      }`,
    );
  }
  return classes;
}

/**
 * The class axis of a class loss's output for its targets: 1 for `[N, C]` with `[N]`; for
 * per-position targets `[N, d…]`, 1 (`[N, C, d…]`) or the last axis (`[N, d…, C]`) as the loss's
 * `classAxis` says or, without one, as the shapes say (both fitting is an error asking for it).
 */
function classAxisOf(loss: ClassLoss, output: Shape, target: Shape): number {
  const rank = output.length;
  if (target.length <= 1) return 1;
  const fits = (axis: number) =>
    rank === target.length + 1 && sameDims(output.filter((_, i) => i !== axis), target);
  const first = fits(1), last = fits(rank - 1);
  const layouts = `[N, C, ${target.slice(1).join(", ")}] or [N, ${target.slice(1).join(", ")}, C]`;
  if (loss.classAxis !== undefined) {
    const axis = loss.classAxis === 1 ? 1 : rank - 1;
    if (!fits(axis)) {
      throw new CompileError(
        `${loss.kind} with classAxis ${loss.classAxis} expects model output of shape ${
          loss.classAxis === 1
            ? `[N, C, ${target.slice(1).join(", ")}]`
            : `[N, ${target.slice(1).join(", ")}, C]`
        } for targets of shape ${formatShape(target)}, got ${formatShape(output)}`,
      );
    }
    return axis;
  }
  if (first && last) {
    throw new CompileError(
      `${loss.kind} cannot tell the class axis of model output of shape ${
        formatShape(output)
      } for targets of shape ${formatShape(target)}: both ${layouts} fit; pass classAxis: 1 ` +
        `(classes on axis 1) or classAxis: -1 (classes last) to the loss`,
    );
  }
  if (!first && !last) {
    throw new CompileError(
      `${loss.kind} expects model output of shape ${layouts} for targets of shape ${
        formatShape(target)
      }, got ${formatShape(output)}`,
    );
  }
  return first ? 1 : rank - 1;
}

function checkClasses(loss: ClassLoss) {
  const name = loss.kind, weight = loss.weight;
  return (output: Value, target: Value, data: DataSignature) => {
    const s = output.type.shape;
    const classes = classTargets(name, target, data);
    if (target.type.shape.length <= 1) {
      if (s.length !== 2 || s[1] !== classes) {
        throw new CompileError(
          `${name} expects model output of shape [N, ${classes}] for ${classes} classes, got ${
            formatShape(s)
          }`,
        );
      }
    } else {
      const axis = classAxisOf(loss, s, target.type.shape);
      if (s[axis] !== classes) {
        throw new CompileError(
          `${name} expects ${classes} classes on axis ${axis} of the model output, got shape ${
            formatShape(s)
          } for targets of shape ${formatShape(target.type.shape)}`,
        );
      }
    }
    if (weight && weight.length !== classes) {
      throw new CompileError(
        `${name} expects ${classes} class weights for model output of shape ${
          formatShape(s)
        }, got ${weight.length}`,
      );
    }
  };
}

/**
 * The output as rows `[M, C]` and the targets as `[M]`, one row per position: `[N, C]` and `[N]`
 * as they are; `[N, d…, C]` reshaped, `[N, C, d…]` transposed to it first.
 */
function classRows(
  b: GraphBuilder,
  loss: ClassLoss,
  output: Value,
  target: Value,
): { readonly x: Value; readonly t: Value } {
  const s = output.type.shape, rank = s.length;
  if (target.type.shape.length <= 1) return { x: output, t: target };
  const axis = classAxisOf(loss, s, target.type.shape), classes = s[axis];
  if (typeof classes !== "number") {
    throw new CompileError(`${loss.kind} needs a static class count, got ${formatShape(s)}`);
  }
  const perm = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2), 1];
  const last = axis === 1 ? b.op1("Transpose", [output], { perm }) : output;
  return {
    x: b.op1("Reshape", [last, b.ints([-1, classes])]),
    t: b.op1("Reshape", [target, b.ints([-1])]),
  };
}

/**
 * A class loss on rows `[M, C]` lifted to any layout: rows per position, and `"none"`'s
 * per-row losses `[M]` reshaped back to the targets' shape.
 */
function perPosition(
  loss: ClassLoss,
  rowsLoss: (b: GraphBuilder, x: Value, t: Value) => Value,
) {
  return (b: GraphBuilder, output: Value, target: Value): Value => {
    const { x, t } = classRows(b, loss, output, target);
    const v = rowsLoss(b, x, t);
    return loss.reduction === "none" && target.type.shape.length > 1
      ? b.op1("Reshape", [v, b.op1("Shape", [target])])
      : v;
  };
}

/** Positions whose target is not the ignore index (PyTorch's −100 when none is given). */
function validTargets(b: GraphBuilder, loss: ClassLoss, target: Value): Value {
  return b.op1("Not", [b.op1("Equal", [target, b.scalar(loss.ignoreIndex ?? -100, "int64")])]);
}

/**
 * Argmax hits: for targets `[N]` the samples whose argmax equals the target (an ignored target
 * counts as a miss); for per-position targets the non-ignored positions whose argmax over the
 * class axis equals the target.
 */
function classHits(loss: ClassLoss) {
  return (b: GraphBuilder, output: Value, target: Value): Value => {
    const dtype = output.type.dtype;
    if (target.type.shape.length <= 1) {
      const predicted = b.op1("ArgMax", [output], { axis: 1, keepdims: 0 });
      return sumAll(b, b.op1("Cast", [b.op1("Equal", [predicted, target])], { to: dtype }));
    }
    const axis = classAxisOf(loss, output.type.shape, target.type.shape);
    const predicted = b.op1("ArgMax", [output], { axis, keepdims: 0 });
    const hits = b.op1("And", [
      b.op1("Equal", [predicted, target]),
      validTargets(b, loss, target),
    ]);
    return sumAll(b, b.op1("Cast", [hits], { to: dtype }));
  };
}

/** The non-ignored positions of per-position targets; undefined for targets `[N]`. */
function classCounted(loss: ClassLoss) {
  return (b: GraphBuilder, output: Value, target: Value): Value | undefined =>
    target.type.shape.length <= 1 ? undefined : sumAll(
      b,
      b.op1("Cast", [validTargets(b, loss, target)], { to: output.type.dtype }),
    );
}

/**
 * PyTorch's `nll_loss` (with `label_smoothing`, `cross_entropy`'s smoothing term) on
 * log-probabilities `[N, C]`, decomposed: the target's entry is picked with a Where mask, so
 * ignored rows and −∞ entries of other classes contribute nothing.
 */
function classLoss(
  b: GraphBuilder,
  logp: Value,
  target: Value,
  loss: ClassLoss,
  smoothing: number,
): Value {
  const dtype = floatType(logp);
  const classes = logp.type.shape[1];
  if (typeof classes !== "number") {
    throw new CompileError(
      `${loss.kind} needs a static class count, got ${formatShape(logp.type.shape)}`,
    );
  }
  // Ignored targets become −1, which matches no class.
  const ignore = loss.ignoreIndex ?? -100;
  const t = b.op1("Where", [
    b.op1("Equal", [target, b.scalar(ignore, "int64")]),
    b.scalar(-1, "int64"),
    target,
  ]);
  const classIds = b.ints([...Array(classes).keys()]);
  const hit = b.op1("Equal", [b.op1("Unsqueeze", [t, b.ints([1])]), classIds]); // bool [N, C]
  const hitF = b.op1("Cast", [hit], { to: dtype });
  const w = loss.weight ? vector(b, loss.weight, dtype) : undefined;
  const weighted = (v: Value) => (w ? b.op1("Mul", [v, w]) : v);
  // Per-sample weight w[t_i] (1 without weights), 0 for ignored targets.
  const sampleWeight = sumClasses(b, weighted(hitF));
  const picked = b.op1("Where", [hit, logp, b.scalar(0, dtype)]);
  let lossI = b.op1("Neg", [sumClasses(b, weighted(picked))]);
  if (smoothing > 0) {
    // (1 − ε)·nll_i + (ε/C)·Σ_c −w[c]·logp_ic, the smoothing term zeroed for ignored targets.
    const valid = sumClasses(b, hitF);
    const smooth = b.op1("Mul", [b.op1("Neg", [sumClasses(b, weighted(logp))]), valid]);
    lossI = b.op1("Add", [
      b.op1("Mul", [lossI, b.scalar(1 - smoothing, dtype)]),
      b.op1("Mul", [smooth, b.scalar(smoothing / classes, dtype)]),
    ]);
  }
  switch (loss.reduction) {
    case "none":
      return lossI;
    case "sum":
      return sumAll(b, lossI);
    case "mean":
      return b.op1("Div", [sumAll(b, lossI), sumAll(b, sampleWeight)]);
  }
}

function crossEntropyDef(loss: Extract<Loss, { kind: "cross-entropy" }>): LossDef {
  const fused = !loss.weight && loss.labelSmoothing === 0 && loss.ignoreIndex === undefined;
  const sce = (b: GraphBuilder, logits: Value, target: Value, reduction: Reduction) =>
    b.op("SoftmaxCrossEntropyLoss", [logits, target], { reduction })[0];
  return {
    check: checkClasses(loss),
    value: perPosition(
      loss,
      fused
        ? (b, logits, target) => sce(b, logits, target, loss.reduction)
        : (b, logits, target) => {
          const logp = b.op1("LogSoftmax", [logits], { axis: 1 });
          return classLoss(b, logp, target, loss, loss.labelSmoothing);
        },
    ),
    correct: classHits(loss),
    counted: classCounted(loss),
    // For targets [N] the fused sum is N times the fused mean; per position it is not.
    ...(fused && loss.reduction !== "sum"
      ? {
        lossSum: (b: GraphBuilder, x: Value, t: Value) =>
          t.type.shape.length <= 1 ? sce(b, x, t, "sum") : undefined,
      }
      : {}),
  };
}

function nllDef(loss: Extract<Loss, { kind: "nll" }>): LossDef {
  return {
    check: checkClasses(loss),
    value: perPosition(loss, (b, logp, target) => classLoss(b, logp, target, loss, 0)),
    correct: classHits(loss),
    counted: classCounted(loss),
  };
}

// ---- losses on float targets of the output's shape ----

function checkSameShape(name: string) {
  return (output: Value, target: Value, data: DataSignature) => {
    const s = output.type.shape, t = target.type.shape;
    if (data.classes !== undefined || target.type.dtype === "int64") {
      throw new CompileError(
        `${name} expects float targets of the model output's shape ${
          formatShape(s)
        }, but the data gives class-index targets of shape ${formatShape(t)}`,
      );
    }
    if (!sameDims(s, t)) {
      throw new CompileError(
        `${name} expects targets of the model output's shape ${formatShape(s)}, got ${
          formatShape(t)
        }`,
      );
    }
  };
}

/** An elementwise loss `f(x, t)` with its reduction. */
function elementwiseDef(
  name: string,
  reduction: Reduction,
  f: (b: GraphBuilder, x: Value, t: Value, dtype: FloatDType) => Value,
  extra: Partial<LossDef> = {},
): LossDef {
  return {
    check: checkSameShape(name),
    value: (b, x, t) => {
      const loss = f(b, x, t, floatType(x));
      if (reduction === "none") return loss;
      return reduction === "sum" ? sumAll(b, loss) : meanAll(b, name, loss, t);
    },
    ...extra,
  };
}

const diff = (b: GraphBuilder, x: Value, t: Value) => b.op1("Sub", [x, t]);
const square = (b: GraphBuilder, v: Value) => b.op1("Mul", [v, v]);

/** `0.5·d²·scale` where `|d| < limit`, else `linear(|d|)`. */
function piecewise(
  b: GraphBuilder,
  d: Value,
  limit: number,
  scale: number,
  linear: (a: Value) => Value,
): Value {
  const dtype = floatType(d);
  const a = b.op1("Abs", [d]);
  const quadratic = b.op1("Mul", [square(b, d), b.scalar(0.5 * scale, dtype)]);
  return b.op1("Where", [b.op1("Less", [a, b.scalar(limit, dtype)]), quadratic, linear(a)]);
}

/** A broadcast weight: a scalar, or a vector along the output's last axis. */
function weightValue(b: GraphBuilder, w: number | readonly number[], dtype: FloatDType): Value {
  return typeof w === "number" ? b.scalar(w, dtype) : vector(b, w, dtype);
}

function checkBce(loss: BceWithLogitsLoss) {
  const base = checkSameShape(loss.kind);
  return (output: Value, target: Value, data: DataSignature) => {
    base(output, target, data);
    const s = output.type.shape;
    const last = s[s.length - 1];
    for (const [what, w] of [["posWeight", loss.posWeight], ["weight", loss.weight]] as const) {
      if (typeof w === "object" && w.length !== 1 && (s.length < 2 || w.length !== last)) {
        throw new CompileError(
          `${loss.kind} expects ${what} of length ${
            s.length < 2 ? 1 : last
          } (the last dimension of the model output's shape ${formatShape(s)}), got ${w.length}`,
        );
      }
    }
  };
}

/**
 * `(1 − t)·x + (1 + (pw − 1)·t)·softplus(−x)`, times the weight. softplus(−x) is written
 * `log(1 + exp(−|x|)) + (|x| − x)/2`, equal to PyTorch's `… + max(−x, 0)` in value, so that
 * its derivative at x = 0 is exact (−1/2) whatever subgradient |x| takes there.
 */
function bceWithLogits(loss: BceWithLogitsLoss) {
  return (b: GraphBuilder, x: Value, t: Value, dtype: FloatDType): Value => {
    const one = b.scalar(1, dtype);
    const absX = b.op1("Abs", [x]);
    const log1pExp = b.op1("Log", [b.op1("Add", [one, b.op1("Exp", [b.op1("Neg", [absX])])])]);
    const maxNegX = b.op1("Mul", [b.op1("Sub", [absX, x]), b.scalar(0.5, dtype)]);
    const softplus = b.op1("Add", [log1pExp, maxNegX]);
    const logWeight = loss.posWeight === undefined ? undefined : b.op1("Add", [
      one,
      b.op1("Mul", [b.op1("Sub", [weightValue(b, loss.posWeight, dtype), one]), t]),
    ]);
    const loss1 = b.op1("Add", [
      b.op1("Mul", [b.op1("Sub", [one, t]), x]),
      logWeight ? b.op1("Mul", [logWeight, softplus]) : softplus,
    ]);
    return loss.weight === undefined
      ? loss1
      : b.op1("Mul", [loss1, weightValue(b, loss.weight, dtype)]);
  };
}

/** Element hits `(x > 0) == (t > 0.5)`, summed and divided by the elements per sample. */
function multiLabelHits(b: GraphBuilder, x: Value, t: Value): Value {
  const dtype = floatType(x);
  const predicted = b.op1("Greater", [x, b.scalar(0, dtype)]);
  const actual = b.op1("Greater", [t, b.scalar(0.5, dtype)]);
  const hits = sumAll(b, b.op1("Cast", [b.op1("Equal", [predicted, actual])], { to: dtype }));
  return b.op1("Div", [hits, b.scalar(perSample("bce-with-logits", x.type.shape), dtype)]);
}

const DEFS: { readonly [K in Loss["kind"]]: (loss: Extract<Loss, { kind: K }>) => LossDef } = {
  "cross-entropy": crossEntropyDef,
  "nll": nllDef,
  "mse": (loss) => elementwiseDef(loss.kind, loss.reduction, (b, x, t) => square(b, diff(b, x, t))),
  "l1": (loss) =>
    elementwiseDef(loss.kind, loss.reduction, (b, x, t) => b.op1("Abs", [diff(b, x, t)])),
  "smooth-l1": (loss) =>
    elementwiseDef(loss.kind, loss.reduction, (b, x, t, dtype) => {
      const d = diff(b, x, t);
      // PyTorch: beta = 0 is the L1 loss.
      if (loss.beta === 0) return b.op1("Abs", [d]);
      return piecewise(
        b,
        d,
        loss.beta,
        1 / loss.beta,
        (a) => b.op1("Sub", [a, b.scalar(0.5 * loss.beta, dtype)]),
      );
    }),
  "huber": (loss) =>
    elementwiseDef(
      loss.kind,
      loss.reduction,
      (b, x, t, dtype) =>
        piecewise(b, diff(b, x, t), loss.delta, 1, (a) =>
          b.op1("Mul", [
            b.op1("Sub", [a, b.scalar(0.5 * loss.delta, dtype)]),
            b.scalar(loss.delta, dtype),
          ])),
    ),
  "bce-with-logits": (loss) =>
    elementwiseDef(loss.kind, loss.reduction, bceWithLogits(loss), {
      check: checkBce(loss),
      correct: multiLabelHits,
    }),
};

/**
 * The lowering of a loss.
 *
 * @param loss The loss description.
 * @returns Its check, value, train and eval lowerings.
 */
export function lossLowering(loss: Loss): LossLowering {
  const def = (DEFS[loss.kind] as (l: Loss) => LossDef)(loss);
  const train = (b: GraphBuilder, output: Value, target: Value): Value => {
    const v = def.value(b, output, target);
    if (loss.reduction !== "none") return v;
    // "none-then-mean": the optimizer needs a scalar.
    return v.type.shape.length === 1
      ? b.op1("Div", [sumAll(b, v), batchSize(b, target, v.type.dtype)])
      : meanAll(b, loss.kind, v, target);
  };
  return Object.freeze({
    check: def.check,
    value: def.value,
    train,
    ...(def.correct ? { correct: def.correct } : {}),
    ...(def.counted ? { counted: def.counted } : {}),
    eval: (b: GraphBuilder, output: Value, target: Value): EvalMetrics => {
      const lossSum = def.lossSum?.(b, output, target) ??
        b.op1("Mul", [train(b, output, target), batchSize(b, target, output.type.dtype)]);
      const correct = def.correct?.(b, output, target);
      const counted = correct && def.counted?.(b, output, target);
      return { lossSum, ...(correct ? { correct } : {}), ...(counted ? { counted } : {}) };
    },
  });
}
