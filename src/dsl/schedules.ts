/**
 * Learning-rate schedules: immutable descriptions of PyTorch's `torch.optim.lr_scheduler`
 * schedulers. The trainer steps them on the host and feeds the new rates to the train graph as
 * hyperparameter inputs, so a schedule never recompiles anything.
 * @module
 */
import { positiveInt } from "./_validate.ts";
import { UserRangeError } from "../util/user_error.ts";

/**
 * When a schedule steps: after every epoch (PyTorch's usual loop) or after every batch.
 *
 * @example
 * ```ts
 * import { cosineAnnealingLR, type ScheduleInterval } from "./schedules.ts";
 * const interval: ScheduleInterval = "batch";
 * if (cosineAnnealingLR({ tMax: 1000, interval }).interval !== "batch") throw new Error();
 * ```
 */
export type ScheduleInterval = "epoch" | "batch";

/**
 * What every schedule holds: its `kind` and when it steps.
 *
 * @example
 * ```ts
 * import { stepLR, type Stepped } from "./schedules.ts";
 * const s: Stepped<"stepLR"> = stepLR({ stepSize: 2 });
 * if (s.kind !== "stepLR" || s.interval !== "epoch") throw new Error();
 * ```
 */
export interface Stepped<K extends string> {
  /** Discriminates the schedule union. */
  readonly kind: K;
  /** When the schedule steps (see each schedule's default). */
  readonly interval: ScheduleInterval;
}

/**
 * `StepLR`: multiplies the rate by `gamma` every `stepSize` steps.
 *
 * @example
 * ```ts
 * import { stepLR, type StepLrSchedule } from "./schedules.ts";
 * const s: StepLrSchedule = stepLR({ stepSize: 10, gamma: 0.5 });
 * if (s.stepSize !== 10) throw new Error();
 * ```
 */
export interface StepLrSchedule extends Stepped<"stepLR"> {
  /** Steps between decays. */
  readonly stepSize: number;
  /** Multiplicative factor of each decay. */
  readonly gamma: number;
}

/**
 * `MultiStepLR`: multiplies the rate by `gamma` at each milestone.
 *
 * @example
 * ```ts
 * import { multiStepLR, type MultiStepLrSchedule } from "./schedules.ts";
 * const s: MultiStepLrSchedule = multiStepLR({ milestones: [5, 8] });
 * if (s.gamma !== 0.1) throw new Error();
 * ```
 */
export interface MultiStepLrSchedule extends Stepped<"multiStepLR"> {
  /** Steps at which the rate decays. */
  readonly milestones: readonly number[];
  /** Multiplicative factor of each decay. */
  readonly gamma: number;
}

/**
 * `ConstantLR`: the rate times `factor` until step `totalIters`, then the rate.
 *
 * @example
 * ```ts
 * import { constantLR, type ConstantLrSchedule } from "./schedules.ts";
 * const s: ConstantLrSchedule = constantLR();
 * if (s.totalIters !== 5) throw new Error();
 * ```
 */
export interface ConstantLrSchedule extends Stepped<"constantLR"> {
  /** Factor applied to the rate until `totalIters`. */
  readonly factor: number;
  /** Steps the factor applies for. */
  readonly totalIters: number;
}

/**
 * `LinearLR`: the factor goes linearly from `startFactor` to `endFactor` over `totalIters`.
 *
 * @example
 * ```ts
 * import { linearLR, type LinearLrSchedule } from "./schedules.ts";
 * const s: LinearLrSchedule = linearLR({ totalIters: 3 });
 * if (s.startFactor !== 1 / 3) throw new Error();
 * ```
 */
export interface LinearLrSchedule extends Stepped<"linearLR"> {
  /** Factor at step 0. */
  readonly startFactor: number;
  /** Factor from step `totalIters` on. */
  readonly endFactor: number;
  /** Steps of the linear change. */
  readonly totalIters: number;
}

/**
 * `ExponentialLR`: multiplies the rate by `gamma` every step.
 *
 * @example
 * ```ts
 * import { exponentialLR, type ExponentialLrSchedule } from "./schedules.ts";
 * const s: ExponentialLrSchedule = exponentialLR({ gamma: 0.95 });
 * if (s.gamma !== 0.95) throw new Error();
 * ```
 */
export interface ExponentialLrSchedule extends Stepped<"exponentialLR"> {
  /** Multiplicative factor per step. */
  readonly gamma: number;
}

/**
 * `CosineAnnealingLR`: cosine from the base rate to `etaMin` over `tMax` steps (and back).
 *
 * @example
 * ```ts
 * import { cosineAnnealingLR, type CosineAnnealingLrSchedule } from "./schedules.ts";
 * const s: CosineAnnealingLrSchedule = cosineAnnealingLR({ tMax: 50, etaMin: 1e-5 });
 * if (s.tMax !== 50) throw new Error();
 * ```
 */
export interface CosineAnnealingLrSchedule extends Stepped<"cosineAnnealingLR"> {
  /** Steps of half a cosine period. */
  readonly tMax: number;
  /** Minimum learning rate. */
  readonly etaMin: number;
}

/**
 * `OneCycleLR`: warm up to `maxLr`, then anneal far below the start (per batch by default).
 *
 * @example
 * ```ts
 * import { oneCycleLR, type OneCycleLrSchedule } from "./schedules.ts";
 * const s: OneCycleLrSchedule = oneCycleLR({ maxLr: 0.1 });
 * if (s.pctStart !== 0.3 || s.totalSteps !== undefined) throw new Error();
 * ```
 */
export interface OneCycleLrSchedule extends Stepped<"oneCycleLR"> {
  /** Peak learning rate. */
  readonly maxLr: number;
  /** Total steps; absent: `epochs × stepsPerEpoch` if given, else the run's number of steps. */
  readonly totalSteps?: number;
  /** Epochs of the cycle (with `stepsPerEpoch`). */
  readonly epochs?: number;
  /** Steps per epoch (with `epochs`). */
  readonly stepsPerEpoch?: number;
  /** Fraction of the steps spent increasing the rate. */
  readonly pctStart: number;
  /** `"cos"` or `"linear"` annealing. */
  readonly annealStrategy: "cos" | "linear";
  /** Whether momentum (or β₁) cycles inversely to the rate. */
  readonly cycleMomentum: boolean;
  /** Lowest momentum, at the peak rate. */
  readonly baseMomentum: number;
  /** Highest momentum, at the start and end. */
  readonly maxMomentum: number;
  /** Start rate is `maxLr / divFactor`. */
  readonly divFactor: number;
  /** Final rate is `maxLr / (divFactor · finalDivFactor)`. */
  readonly finalDivFactor: number;
  /** Whether to use three phases instead of two. */
  readonly threePhase: boolean;
}

/**
 * A schedule that `sequentialLR` can chain.
 *
 * @example
 * ```ts
 * import { type ChainableSchedule, linearLR, stepLR } from "./schedules.ts";
 * const parts: ChainableSchedule[] = [linearLR(), stepLR({ stepSize: 5 })];
 * if (parts.length !== 2) throw new Error();
 * ```
 */
export type ChainableSchedule =
  | StepLrSchedule
  | MultiStepLrSchedule
  | ConstantLrSchedule
  | LinearLrSchedule
  | ExponentialLrSchedule
  | CosineAnnealingLrSchedule
  | OneCycleLrSchedule;

/**
 * `SequentialLR`: runs `schedules[i]` from `milestones[i − 1]` on.
 *
 * @example
 * ```ts
 * import {
 *   constantLR,
 *   exponentialLR,
 *   sequentialLR,
 *   type SequentialLrSchedule,
 * } from "./schedules.ts";
 * const s: SequentialLrSchedule = sequentialLR({
 *   schedules: [constantLR({ factor: 0.1, totalIters: 2 }), exponentialLR({ gamma: 0.9 })],
 *   milestones: [2],
 * });
 * if (s.milestones[0] !== 2) throw new Error();
 * ```
 */
export interface SequentialLrSchedule extends Stepped<"sequentialLR"> {
  /** The schedules, run one after another. */
  readonly schedules: readonly ChainableSchedule[];
  /** Steps at which the next schedule takes over. */
  readonly milestones: readonly number[];
}

/**
 * Which epoch figure `reduceLROnPlateau` watches; `validationLoss` needs a validation split
 * (`data(ds, { validation })`).
 * @example
 * ```ts
 * import { type PlateauMetric, reduceLROnPlateau } from "./schedules.ts";
 * const metric: PlateauMetric = "validationLoss";
 * if (reduceLROnPlateau({ metric }).metric !== "validationLoss") throw new Error();
 * ```
 */
export type PlateauMetric = "testLoss" | "trainLoss" | "accuracy" | "validationLoss";

/**
 * `ReduceLROnPlateau`: multiplies the rate by `factor` when a metric stops improving.
 *
 * @example
 * ```ts
 * import { reduceLROnPlateau, type ReduceLrOnPlateauSchedule } from "./schedules.ts";
 * const s: ReduceLrOnPlateauSchedule = reduceLROnPlateau({ mode: "max", metric: "accuracy" });
 * if (s.interval !== "epoch" || s.patience !== 10) throw new Error();
 * ```
 */
export interface ReduceLrOnPlateauSchedule extends Stepped<"reduceLROnPlateau"> {
  /** The schedule steps after every epoch. */
  readonly interval: "epoch";
  /** `"min"`: lower is better; `"max"`: higher is better. */
  readonly mode: "min" | "max";
  /** Multiplies the rate on a plateau (< 1). */
  readonly factor: number;
  /** Epochs without improvement tolerated. */
  readonly patience: number;
  /** Least change that counts as improvement. */
  readonly threshold: number;
  /** `"rel"`: threshold relative to the best; `"abs"`: absolute. */
  readonly thresholdMode: "rel" | "abs";
  /** Epochs after a reduction before bad epochs count again. */
  readonly cooldown: number;
  /** Lowest rate a reduction reaches. */
  readonly minLr: number;
  /** Smallest change of the rate worth making. */
  readonly eps: number;
  /** The metric fed each epoch (default `testLoss`, the tutorial's "Avg loss"). */
  readonly metric: PlateauMetric;
}

/**
 * Any learning-rate schedule.
 *
 * @example
 * ```ts
 * import { reduceLROnPlateau, type Schedule, stepLR } from "./schedules.ts";
 * const schedules: Schedule[] = [stepLR({ stepSize: 5 }), reduceLROnPlateau()];
 * if (schedules[1].kind !== "reduceLROnPlateau") throw new Error();
 * ```
 */
export type Schedule = ChainableSchedule | SequentialLrSchedule | ReduceLrOnPlateauSchedule;

const fail = (name: string, msg: string): never => {
  throw new UserRangeError(`Cannot create ${name}: ${msg}`);
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

/**
 * The interval option every stepped schedule takes.
 *
 * @example
 * ```ts
 * import { exponentialLR, type IntervalOption } from "./schedules.ts";
 * const option: IntervalOption = { interval: "batch" };
 * if (exponentialLR({ gamma: 0.99, ...option }).interval !== "batch") throw new Error();
 * ```
 */
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

/**
 * Options of {@linkcode oneCycleLR}.
 *
 * @example
 * ```ts
 * import { oneCycleLR, type OneCycleOptions } from "./schedules.ts";
 * const options: OneCycleOptions = { maxLr: 0.05, epochs: 10, stepsPerEpoch: 100 };
 * if (oneCycleLR(options).stepsPerEpoch !== 100) throw new Error();
 * ```
 */
export interface OneCycleOptions {
  /** Peak learning rate (required). */
  readonly maxLr: number;
  /** Total steps of the cycle. */
  readonly totalSteps?: number;
  /** Epochs of the cycle (with `stepsPerEpoch`). */
  readonly epochs?: number;
  /** Steps per epoch (with `epochs`). */
  readonly stepsPerEpoch?: number;
  /** Fraction of the steps spent increasing the rate (default 0.3). */
  readonly pctStart?: number;
  /** `"cos"` (default) or `"linear"` annealing. */
  readonly annealStrategy?: "cos" | "linear";
  /** Cycle momentum (or β₁) inversely to the rate (default true). */
  readonly cycleMomentum?: boolean;
  /** Lowest momentum, at the peak rate (default 0.85). */
  readonly baseMomentum?: number;
  /** Highest momentum (default 0.95). */
  readonly maxMomentum?: number;
  /** Start rate is `maxLr / divFactor` (default 25). */
  readonly divFactor?: number;
  /** Final rate is `maxLr / (divFactor · finalDivFactor)` (default 1e4). */
  readonly finalDivFactor?: number;
  /** Three phases instead of two (default false). */
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

/**
 * Options of {@linkcode reduceLROnPlateau}.
 *
 * @example
 * ```ts
 * import { type PlateauOptions, reduceLROnPlateau } from "./schedules.ts";
 * const options: PlateauOptions = { factor: 0.5, patience: 2, cooldown: 1 };
 * if (reduceLROnPlateau(options).factor !== 0.5) throw new Error();
 * ```
 */
export interface PlateauOptions {
  /** `"min"` (default): lower is better; `"max"`: higher is better. */
  readonly mode?: "min" | "max";
  /** Multiplies the rate on a plateau (default 0.1, < 1). */
  readonly factor?: number;
  /** Epochs without improvement tolerated (default 10). */
  readonly patience?: number;
  /** Least change that counts as improvement (default 1e-4). */
  readonly threshold?: number;
  /** `"rel"` (default) or `"abs"` threshold. */
  readonly thresholdMode?: "rel" | "abs";
  /** Epochs after a reduction before bad epochs count again (default 0). */
  readonly cooldown?: number;
  /** Lowest rate a reduction reaches (default 0). */
  readonly minLr?: number;
  /** Smallest change of the rate worth making (default 1e-8). */
  readonly eps?: number;
  /** The metric watched (default `"testLoss"`). */
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
