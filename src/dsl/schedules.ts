/**
 * Learning-rate schedules: immutable descriptions of PyTorch's `torch.optim.lr_scheduler`
 * schedulers. The trainer steps them on the host and feeds the new rates to the train graph as
 * hyperparameter inputs, so a schedule never recompiles anything.
 * @module
 */
import { positiveInt } from "./_validate.ts";

/** When a schedule steps: after every epoch (PyTorch's usual loop) or after every batch. */
export type ScheduleInterval = "epoch" | "batch";

interface Stepped<K extends string> {
  readonly kind: K;
  /** When the schedule steps (see each schedule's default). */
  readonly interval: ScheduleInterval;
}

/** `StepLR`: multiplies the rate by `gamma` every `stepSize` steps. */
export interface StepLrSchedule extends Stepped<"stepLR"> {
  readonly stepSize: number;
  readonly gamma: number;
}

/** `MultiStepLR`: multiplies the rate by `gamma` at each milestone. */
export interface MultiStepLrSchedule extends Stepped<"multiStepLR"> {
  readonly milestones: readonly number[];
  readonly gamma: number;
}

/** `ConstantLR`: the rate times `factor` until step `totalIters`, then the rate. */
export interface ConstantLrSchedule extends Stepped<"constantLR"> {
  readonly factor: number;
  readonly totalIters: number;
}

/** `LinearLR`: the factor goes linearly from `startFactor` to `endFactor` over `totalIters`. */
export interface LinearLrSchedule extends Stepped<"linearLR"> {
  readonly startFactor: number;
  readonly endFactor: number;
  readonly totalIters: number;
}

/** `ExponentialLR`: multiplies the rate by `gamma` every step. */
export interface ExponentialLrSchedule extends Stepped<"exponentialLR"> {
  readonly gamma: number;
}

/** `CosineAnnealingLR`: cosine from the base rate to `etaMin` over `tMax` steps (and back). */
export interface CosineAnnealingLrSchedule extends Stepped<"cosineAnnealingLR"> {
  readonly tMax: number;
  readonly etaMin: number;
}

/** `OneCycleLR`: warm up to `maxLr`, then anneal far below the start (per batch by default). */
export interface OneCycleLrSchedule extends Stepped<"oneCycleLR"> {
  readonly maxLr: number;
  /** Total steps; absent: `epochs × stepsPerEpoch` if given, else the run's number of steps. */
  readonly totalSteps?: number;
  readonly epochs?: number;
  readonly stepsPerEpoch?: number;
  readonly pctStart: number;
  readonly annealStrategy: "cos" | "linear";
  readonly cycleMomentum: boolean;
  readonly baseMomentum: number;
  readonly maxMomentum: number;
  readonly divFactor: number;
  readonly finalDivFactor: number;
  readonly threePhase: boolean;
}

/** A schedule that `sequentialLR` can chain. */
export type ChainableSchedule =
  | StepLrSchedule
  | MultiStepLrSchedule
  | ConstantLrSchedule
  | LinearLrSchedule
  | ExponentialLrSchedule
  | CosineAnnealingLrSchedule
  | OneCycleLrSchedule;

/** `SequentialLR`: runs `schedules[i]` from `milestones[i − 1]` on. */
export interface SequentialLrSchedule extends Stepped<"sequentialLR"> {
  readonly schedules: readonly ChainableSchedule[];
  readonly milestones: readonly number[];
}

/**
 * Which epoch figure `reduceLROnPlateau` watches; `validationLoss` needs a validation split
 * (`data(ds, { validation })`).
 */
export type PlateauMetric = "testLoss" | "trainLoss" | "accuracy" | "validationLoss";

/** `ReduceLROnPlateau`: multiplies the rate by `factor` when a metric stops improving. */
export interface ReduceLrOnPlateauSchedule extends Stepped<"reduceLROnPlateau"> {
  readonly interval: "epoch";
  readonly mode: "min" | "max";
  readonly factor: number;
  readonly patience: number;
  readonly threshold: number;
  readonly thresholdMode: "rel" | "abs";
  readonly cooldown: number;
  readonly minLr: number;
  readonly eps: number;
  /** The metric fed each epoch (default `testLoss`, the tutorial's "Avg loss"). */
  readonly metric: PlateauMetric;
}

/** Any learning-rate schedule. */
export type Schedule = ChainableSchedule | SequentialLrSchedule | ReduceLrOnPlateauSchedule;

const fail = (name: string, msg: string): never => {
  throw new RangeError(`Cannot create ${name}: ${msg}`);
};

function finite(name: string, what: string, v: number, min = -Infinity): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < min) {
    fail(name, `${what} must be a finite number${min > -Infinity ? ` ≥ ${min}` : ""}, got ${v}`);
  }
  return v;
}

function nonNegativeInt(name: string, what: string, v: number): number {
  if (!Number.isInteger(v) || v < 0) {
    fail(name, `${what} must be an integer ≥ 0, got ${v}`);
  }
  return v;
}

function interval(name: string, v: ScheduleInterval | undefined, fallback: ScheduleInterval) {
  const i = v ?? fallback;
  if (i !== "epoch" && i !== "batch") fail(name, `interval must be "epoch" or "batch", got ${i}`);
  return i;
}

function fraction(name: string, what: string, v: number, low: "open" | "closed"): number {
  const ok = typeof v === "number" && (low === "open" ? v > 0 : v >= 0) && v <= 1;
  if (!ok) fail(name, `${what} must be in ${low === "open" ? "(" : "["}0, 1], got ${v}`);
  return v;
}

/** The interval option every stepped schedule takes. */
export interface IntervalOption {
  /** Step after every epoch (default) or after every batch. */
  readonly interval?: ScheduleInterval;
}

/**
 * `torch.optim.lr_scheduler.StepLR`: the rate is multiplied by `gamma` every `stepSize` steps.
 *
 * @param options `stepSize` (required), `gamma` (0.1), `interval` ("epoch").
 * @returns The schedule description.
 * @example
 * ```ts
 * import { stepLR } from "./schedules.ts";
 * const s = stepLR({ stepSize: 30 });
 * if (s.gamma !== 0.1 || s.interval !== "epoch") throw new Error();
 * ```
 */
export function stepLR(
  options: { readonly stepSize: number; readonly gamma?: number } & IntervalOption,
): StepLrSchedule {
  const name = "stepLR";
  return Object.freeze({
    kind: name,
    stepSize: positiveInt(`Cannot create ${name}`, "stepSize", options.stepSize),
    gamma: finite(name, "gamma", options.gamma ?? 0.1, 0),
    interval: interval(name, options.interval, "epoch"),
  });
}

/**
 * `torch.optim.lr_scheduler.MultiStepLR`: the rate is multiplied by `gamma` at each milestone (by
 * `gamma` twice at a milestone listed twice).
 *
 * @param options `milestones` (non-decreasing positive integers), `gamma` (0.1), `interval`.
 * @returns The schedule description.
 * @example
 * ```ts
 * import { multiStepLR } from "./schedules.ts";
 * const s = multiStepLR({ milestones: [30, 80], gamma: 0.5 });
 * if (s.milestones[1] !== 80) throw new Error();
 * ```
 */
export function multiStepLR(
  options: { readonly milestones: readonly number[]; readonly gamma?: number } & IntervalOption,
): MultiStepLrSchedule {
  const name = "multiStepLR";
  const milestones = options.milestones.map((m) =>
    positiveInt(`Cannot create ${name}`, "a milestone", m)
  );
  if (milestones.some((m, i) => i > 0 && m < milestones[i - 1])) {
    fail(name, `milestones must be non-decreasing, got [${milestones}]`);
  }
  return Object.freeze({
    kind: name,
    milestones: Object.freeze(milestones),
    gamma: finite(name, "gamma", options.gamma ?? 0.1, 0),
    interval: interval(name, options.interval, "epoch"),
  });
}

/**
 * `torch.optim.lr_scheduler.ConstantLR`: the rate times `factor` for the first `totalIters`
 * steps, then the rate itself. With `sequentialLR`, a constant warmup.
 *
 * @param options `factor` (1/3, in [0, 1]), `totalIters` (5), `interval`.
 * @returns The schedule description.
 * @example
 * ```ts
 * import { constantLR } from "./schedules.ts";
 * if (constantLR({ factor: 0.5 }).totalIters !== 5) throw new Error();
 * ```
 */
export function constantLR(
  options: { readonly factor?: number; readonly totalIters?: number } & IntervalOption = {},
): ConstantLrSchedule {
  const name = "constantLR";
  return Object.freeze({
    kind: name,
    factor: fraction(name, "factor", options.factor ?? 1 / 3, "closed"),
    totalIters: nonNegativeInt(name, "totalIters", options.totalIters ?? 5),
    interval: interval(name, options.interval, "epoch"),
  });
}

/**
 * `torch.optim.lr_scheduler.LinearLR`, the linear warmup: the rate's factor goes linearly from
 * `startFactor` to `endFactor` over `totalIters` steps, then stays. Chain it before another
 * schedule with {@linkcode sequentialLR}.
 *
 * @param options `startFactor` (1/3, in (0, 1]), `endFactor` (1, in [0, 1]), `totalIters` (5),
 * `interval`.
 * @returns The schedule description.
 * @example
 * ```ts
 * import { linearLR } from "./schedules.ts";
 * const s = linearLR({ startFactor: 0.1, totalIters: 4 });
 * if (s.endFactor !== 1) throw new Error();
 * ```
 */
export function linearLR(
  options:
    & { readonly startFactor?: number; readonly endFactor?: number; readonly totalIters?: number }
    & IntervalOption = {},
): LinearLrSchedule {
  const name = "linearLR";
  return Object.freeze({
    kind: name,
    startFactor: fraction(name, "startFactor", options.startFactor ?? 1 / 3, "open"),
    endFactor: fraction(name, "endFactor", options.endFactor ?? 1, "closed"),
    totalIters: positiveInt(`Cannot create ${name}`, "totalIters", options.totalIters ?? 5),
    interval: interval(name, options.interval, "epoch"),
  });
}

/**
 * `torch.optim.lr_scheduler.ExponentialLR`: the rate is multiplied by `gamma` every step.
 *
 * @param options `gamma` (required), `interval`.
 * @returns The schedule description.
 * @example
 * ```ts
 * import { exponentialLR } from "./schedules.ts";
 * if (exponentialLR({ gamma: 0.9 }).gamma !== 0.9) throw new Error();
 * ```
 */
export function exponentialLR(
  options: { readonly gamma: number } & IntervalOption,
): ExponentialLrSchedule {
  const name = "exponentialLR";
  return Object.freeze({
    kind: name,
    gamma: finite(name, "gamma", options.gamma, 0),
    interval: interval(name, options.interval, "epoch"),
  });
}

/**
 * `torch.optim.lr_scheduler.CosineAnnealingLR`, in PyTorch's recursive form: from the base rate
 * down to `etaMin` over `tMax` steps along a cosine, then back up, periodically.
 *
 * @param options `tMax` (required), `etaMin` (0), `interval`.
 * @returns The schedule description.
 * @example
 * ```ts
 * import { cosineAnnealingLR } from "./schedules.ts";
 * if (cosineAnnealingLR({ tMax: 10 }).etaMin !== 0) throw new Error();
 * ```
 */
export function cosineAnnealingLR(
  options: { readonly tMax: number; readonly etaMin?: number } & IntervalOption,
): CosineAnnealingLrSchedule {
  const name = "cosineAnnealingLR";
  return Object.freeze({
    kind: name,
    tMax: positiveInt(`Cannot create ${name}`, "tMax", options.tMax),
    etaMin: finite(name, "etaMin", options.etaMin ?? 0, 0),
    interval: interval(name, options.interval, "epoch"),
  });
}

/** Options of {@linkcode oneCycleLR}. */
export interface OneCycleOptions {
  readonly maxLr: number;
  readonly totalSteps?: number;
  readonly epochs?: number;
  readonly stepsPerEpoch?: number;
  readonly pctStart?: number;
  readonly annealStrategy?: "cos" | "linear";
  readonly cycleMomentum?: boolean;
  readonly baseMomentum?: number;
  readonly maxMomentum?: number;
  readonly divFactor?: number;
  readonly finalDivFactor?: number;
  readonly threePhase?: boolean;
  /** Step after every batch (default, as PyTorch's one-cycle policy) or every epoch. */
  readonly interval?: ScheduleInterval;
}

/**
 * `torch.optim.lr_scheduler.OneCycleLR`: from `maxLr/divFactor` up to `maxLr` over
 * `pctStart` of the steps, then down to `maxLr/(divFactor·finalDivFactor)` (three phases:
 * up, back down to the start, then down to the minimum). With `cycleMomentum` (default) the
 * optimizer's momentum (SGD, RMSprop) or β₁ (Adam, AdamW) moves inversely between
 * `maxMomentum` and `baseMomentum`; as in PyTorch, the optimizer then starts at `maxMomentum`.
 * Steps per batch by default.
 *
 * @param options `maxLr` (required); `totalSteps`, or `epochs` and `stepsPerEpoch` (default:
 * the run's total number of steps); `pctStart` (0.3), `annealStrategy` ("cos"),
 * `cycleMomentum` (true), `baseMomentum` (0.85), `maxMomentum` (0.95), `divFactor` (25),
 * `finalDivFactor` (1e4), `threePhase` (false), `interval` ("batch").
 * @returns The schedule description.
 * @example
 * ```ts
 * import { oneCycleLR } from "./schedules.ts";
 * const s = oneCycleLR({ maxLr: 0.1, totalSteps: 1000 });
 * if (s.interval !== "batch" || s.divFactor !== 25) throw new Error();
 * ```
 */
export function oneCycleLR(options: OneCycleOptions): OneCycleLrSchedule {
  const name = "oneCycleLR";
  const ctx = `Cannot create ${name}`;
  const steps = options.totalSteps !== undefined
    ? { totalSteps: positiveInt(ctx, "totalSteps", options.totalSteps) }
    : options.epochs !== undefined || options.stepsPerEpoch !== undefined
    ? {
      epochs: positiveInt(ctx, "epochs", options.epochs ?? NaN),
      stepsPerEpoch: positiveInt(ctx, "stepsPerEpoch", options.stepsPerEpoch ?? NaN),
    }
    : {};
  const anneal = options.annealStrategy ?? "cos";
  if (anneal !== "cos" && anneal !== "linear") {
    fail(name, `annealStrategy must be "cos" or "linear", got ${anneal}`);
  }
  return Object.freeze({
    kind: name,
    maxLr: finite(name, "maxLr", options.maxLr, 0),
    ...steps,
    pctStart: fraction(name, "pctStart", options.pctStart ?? 0.3, "closed"),
    annealStrategy: anneal,
    cycleMomentum: options.cycleMomentum ?? true,
    baseMomentum: finite(name, "baseMomentum", options.baseMomentum ?? 0.85, 0),
    maxMomentum: finite(name, "maxMomentum", options.maxMomentum ?? 0.95, 0),
    divFactor: finite(name, "divFactor", options.divFactor ?? 25, Number.MIN_VALUE),
    finalDivFactor: finite(name, "finalDivFactor", options.finalDivFactor ?? 1e4, Number.MIN_VALUE),
    threePhase: options.threePhase ?? false,
    interval: interval(name, options.interval, "batch"),
  });
}

/**
 * `torch.optim.lr_scheduler.SequentialLR`: `schedules[0]` until `milestones[0]`, then
 * `schedules[1]` (restarted from step 0), and so on; for example a linear warmup then a cosine.
 * The children's own `interval` is ignored: the sequence steps as its `interval` says.
 *
 * @param options `schedules` (one more than `milestones`), `milestones` (increasing positive
 * integers), `interval` ("epoch").
 * @returns The schedule description.
 * @example
 * ```ts
 * import { cosineAnnealingLR, linearLR, sequentialLR } from "./schedules.ts";
 * const s = sequentialLR({
 *   schedules: [linearLR({ startFactor: 0.1, totalIters: 5 }), cosineAnnealingLR({ tMax: 45 })],
 *   milestones: [5],
 * });
 * if (s.schedules.length !== 2) throw new Error();
 * ```
 */
export function sequentialLR(
  options:
    & { readonly schedules: readonly ChainableSchedule[]; readonly milestones: readonly number[] }
    & IntervalOption,
): SequentialLrSchedule {
  const name = "sequentialLR";
  const { schedules, milestones } = options;
  if (schedules.length === 0) fail(name, "it needs at least one schedule");
  const bad = schedules.find((s) =>
    s.kind === ("sequentialLR" as string) || s.kind === ("reduceLROnPlateau" as string)
  );
  if (bad) fail(name, `${bad.kind} cannot be chained`);
  if (milestones.length !== schedules.length - 1) {
    fail(
      name,
      `it expects one milestone fewer than schedules, got ${schedules.length} schedules and ${milestones.length} milestones`,
    );
  }
  milestones.forEach((m, i) => {
    positiveInt(`Cannot create ${name}`, "a milestone", m);
    if (i > 0 && m <= milestones[i - 1]) {
      fail(name, `milestones must increase, got [${milestones}]`);
    }
  });
  return Object.freeze({
    kind: name,
    schedules: Object.freeze([...schedules]),
    milestones: Object.freeze([...milestones]),
    interval: interval(name, options.interval, "epoch"),
  });
}

/** Options of {@linkcode reduceLROnPlateau}. */
export interface PlateauOptions {
  readonly mode?: "min" | "max";
  readonly factor?: number;
  readonly patience?: number;
  readonly threshold?: number;
  readonly thresholdMode?: "rel" | "abs";
  readonly cooldown?: number;
  readonly minLr?: number;
  readonly eps?: number;
  readonly metric?: PlateauMetric;
}

/**
 * `torch.optim.lr_scheduler.ReduceLROnPlateau`: after each epoch, fed the epoch's `metric` (the
 * test loss by default); when it has not improved by `threshold` for more than `patience` epochs,
 * the rate becomes `max(lr·factor, minLr)` (unless that changes it by at most `eps`), then
 * `cooldown` epochs pass before bad epochs count again.
 *
 * @param options `mode` ("min"), `factor` (0.1, < 1), `patience` (10), `threshold` (1e-4),
 * `thresholdMode` ("rel"), `cooldown` (0), `minLr` (0), `eps` (1e-8), `metric` ("testLoss").
 * @returns The schedule description.
 * @example
 * ```ts
 * import { reduceLROnPlateau } from "./schedules.ts";
 * const s = reduceLROnPlateau({ patience: 2 });
 * if (s.factor !== 0.1 || s.metric !== "testLoss") throw new Error();
 * ```
 */
export function reduceLROnPlateau(options: PlateauOptions = {}): ReduceLrOnPlateauSchedule {
  const name = "reduceLROnPlateau";
  const mode = options.mode ?? "min";
  if (mode !== "min" && mode !== "max") fail(name, `mode must be "min" or "max", got ${mode}`);
  const thresholdMode = options.thresholdMode ?? "rel";
  if (thresholdMode !== "rel" && thresholdMode !== "abs") {
    fail(name, `thresholdMode must be "rel" or "abs", got ${thresholdMode}`);
  }
  const factor = finite(name, "factor", options.factor ?? 0.1, 0);
  if (factor >= 1) fail(name, `factor must be < 1, got ${factor}`);
  const metric = options.metric ?? "testLoss";
  if (!["testLoss", "trainLoss", "accuracy", "validationLoss"].includes(metric)) {
    fail(name, `metric must be testLoss, trainLoss, accuracy or validationLoss, got ${metric}`);
  }
  return Object.freeze({
    kind: name,
    mode,
    factor,
    patience: nonNegativeInt(name, "patience", options.patience ?? 10),
    threshold: finite(name, "threshold", options.threshold ?? 1e-4, 0),
    thresholdMode,
    cooldown: nonNegativeInt(name, "cooldown", options.cooldown ?? 0),
    minLr: finite(name, "minLr", options.minLr ?? 0, 0),
    eps: finite(name, "eps", options.eps ?? 1e-8, 0),
    metric,
    interval: "epoch",
  });
}
