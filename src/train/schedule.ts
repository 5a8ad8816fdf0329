/**
 * Learning-rate schedules on the host: a port of PyTorch 1.13's `torch.optim.lr_scheduler`
 * (recursive `get_lr` forms, `_initial_step`, SequentialLR's reset and closed forms) that reads and
 * writes the trainer's hyperparameter map (`lr`, `lr.group1`, …, and `momentum` or `beta1` for
 * one-cycle momentum) between steps. Rates are Python-style doubles; the trainer feeds them to the
 * train graph as float32 inputs, so no schedule ever recompiles.
 * @module
 */
import type { Optimizer } from "../dsl/optimizers.ts";
import type {
  ChainableSchedule,
  OneCycleLrSchedule,
  ReduceLrOnPlateauSchedule,
  Schedule,
  ScheduleInterval,
  SequentialLrSchedule,
} from "../dsl/schedules.ts";
import { hyperName } from "../optim/optimizer.ts";
import { UserRangeError } from "../util/user_error.ts";

/** The figures of one epoch that `reduceLROnPlateau` can watch. */
export interface EpochMetrics {
  readonly testLoss: number;
  readonly trainLoss: number;
  readonly accuracy: number;
  /** The validation split's average loss (absent without a validation split). */
  readonly validationLoss?: number;
}

/** A schedule bound to a hyperparameter map. */
export interface Scheduler {
  /** When the run steps it. */
  readonly interval: ScheduleInterval;
  /** The current learning rate of group 0 (the parameters no group selects). */
  readonly lr: number;
  /** One `scheduler.step()`; `reduceLROnPlateau` needs the metric (`scheduler.step(metric)`). */
  step(metric?: number): void;
  /** Steps when the interval is "batch"; call after each optimizer step. */
  afterBatch(): void;
  /** Steps when the interval is "epoch"; call after each epoch's test. */
  afterEpoch(metrics: EpochMetrics): void;
  /** The state to save in a checkpoint: the steps taken and the metrics they were given. */
  exportState(): SchedulerState;
  /**
   * Brings a fresh scheduler (no steps taken yet) to a saved state by replaying its steps, which
   * reproduces every internal counter of every schedule kind exactly.
   */
  importState(state: SchedulerState): void;
}

/**
 * A scheduler's position: the number of `step` calls and each one's metric (null when none).
 *
 * @example
 * ```ts
 * import type { SchedulerState } from "./schedule.ts";
 * const state: SchedulerState = { steps: 3, metrics: [0.9, 0.8, 0.85] };
 * if (state.metrics?.length !== state.steps) throw new Error();
 * ```
 */
export interface SchedulerState {
  /** Number of `step` calls so far. */
  readonly steps: number;
  /** The metrics given to the steps, when any step was given one (reduceLROnPlateau). */
  readonly metrics?: readonly (number | null)[];
}

/** Options of {@linkcode createScheduler}. */
export interface SchedulerOptions {
  /** The optimizer as compiled: says whether one-cycle cycles `momentum` or `beta1`. */
  readonly optimizer?: Optimizer;
  /** The run's epochs: oneCycleLR's default number of steps. */
  readonly epochs?: number;
  /** Batches per epoch: with `epochs`, oneCycleLR's default number of steps per batch. */
  readonly batchesPerEpoch?: number;
}

/** A parameter group as PyTorch's schedulers see it (`lr`, `initial_lr`, `max_lr`, …). */
type Group = { lr: number; momentum?: number } & Record<string, number>;

/** PyTorch's `_LRScheduler` state. */
interface LrScheduler {
  lastEpoch: number;
  stepCount: number;
  readonly baseLrs: readonly number[];
  step(epoch?: number): void;
  initialStep(): void;
}

/** A chainable scheduler's rule: its recursive `get_lr` and, where PyTorch has one, closed form. */
interface Rule {
  getLr(s: LrScheduler): number[];
  closedForm?(s: LrScheduler): number[];
}

/** Python's `%` (the result has the divisor's sign). */
const pyMod = (a: number, n: number) => ((a % n) + n) % n;

/** Python's `bisect.bisect_right`. */
function bisectRight(sorted: readonly number[], x: number): number {
  let i = 0;
  while (i < sorted.length && sorted[i] <= x) i++;
  return i;
}

/** `_LRScheduler.__init__` with `last_epoch = -1`: records base rates and takes the first step. */
function lrScheduler(groups: Group[], rule: Rule): LrScheduler {
  for (const g of groups) if (g.initial_lr === undefined) g.initial_lr = g.lr;
  const s: LrScheduler = {
    lastEpoch: -1,
    stepCount: 0,
    baseLrs: groups.map((g) => g.initial_lr),
    step(epoch) {
      s.stepCount++;
      let values: number[];
      if (epoch === undefined) {
        s.lastEpoch++;
        values = rule.getLr(s);
      } else {
        s.lastEpoch = epoch;
        values = (rule.closedForm ?? rule.getLr)(s);
      }
      groups.forEach((g, i) => (g.lr = values[i]));
    },
    initialStep() {
      s.stepCount = 0;
      s.step();
    },
  };
  s.initialStep();
  return s;
}

/** Where one-cycle momentum goes, and the run's step count. */
interface Context {
  readonly momentum: "momentum" | "beta1" | null;
  readonly optimizerKind: string;
  readonly defaultSteps?: (interval: ScheduleInterval) => number | undefined;
}

function oneCycleRule(sc: OneCycleLrSchedule, groups: Group[], ctx: Context): Rule {
  const total = sc.totalSteps ??
    (sc.epochs !== undefined ? sc.epochs * sc.stepsPerEpoch! : ctx.defaultSteps?.(sc.interval));
  if (total === undefined) {
    throw new UserRangeError(
      "Cannot create oneCycleLR: give totalSteps (or epochs and stepsPerEpoch) outside a run",
    );
  }
  const p = sc.pctStart;
  type Phase = { end: number; lr: [string, string]; momentum: [string, string] };
  const phases: Phase[] = sc.threePhase
    ? [
      {
        end: p * total - 1,
        lr: ["initial_lr", "max_lr"],
        momentum: ["max_momentum", "base_momentum"],
      },
      {
        end: 2 * p * total - 2,
        lr: ["max_lr", "initial_lr"],
        momentum: ["base_momentum", "max_momentum"],
      },
      { end: total - 1, lr: ["initial_lr", "min_lr"], momentum: ["max_momentum", "max_momentum"] },
    ]
    : [
      {
        end: p * total - 1,
        lr: ["initial_lr", "max_lr"],
        momentum: ["max_momentum", "base_momentum"],
      },
      { end: total - 1, lr: ["max_lr", "min_lr"], momentum: ["base_momentum", "max_momentum"] },
    ];
  const anneal = sc.annealStrategy === "cos"
    ? (start: number, end: number, pct: number) =>
      end + (start - end) / 2 * (Math.cos(Math.PI * pct) + 1)
    : (start: number, end: number, pct: number) => (end - start) * pct + start;
  for (const g of groups) {
    g.initial_lr = sc.maxLr / sc.divFactor;
    g.max_lr = sc.maxLr;
    g.min_lr = g.initial_lr / sc.finalDivFactor;
  }
  if (sc.cycleMomentum) {
    if (!ctx.momentum) {
      throw new UserRangeError(
        `Cannot use oneCycleLR with cycleMomentum: ${ctx.optimizerKind} has no momentum or betas; set cycleMomentum: false`,
      );
    }
    for (const g of groups) {
      g.momentum = sc.maxMomentum;
      g.max_momentum = sc.maxMomentum;
      g.base_momentum = sc.baseMomentum;
    }
  }
  return {
    getLr(s) {
      const stepNum = s.lastEpoch;
      if (stepNum > total) {
        throw new UserRangeError(
          `Cannot step oneCycleLR: tried to step ${stepNum + 1} times, but totalSteps is ${total}`,
        );
      }
      return groups.map((g) => {
        let start = 0, lr = NaN;
        for (let i = 0; i < phases.length; i++) {
          const phase = phases[i];
          if (stepNum <= phase.end || i === phases.length - 1) {
            const pct = (stepNum - start) / (phase.end - start);
            lr = anneal(g[phase.lr[0]], g[phase.lr[1]], pct);
            if (sc.cycleMomentum) {
              g.momentum = anneal(g[phase.momentum[0]], g[phase.momentum[1]], pct);
            }
            break;
          }
          start = phase.end;
        }
        return lr;
      });
    },
  };
}

/** Builds a chainable scheduler as its PyTorch constructor does (first step included). */
function chainable(sc: ChainableSchedule, groups: Group[], ctx: Context): LrScheduler {
  const lrs = () => groups.map((g) => g.lr);
  const times = (k: (s: LrScheduler) => number) => (s: LrScheduler) =>
    groups.map((g) => g.lr * k(s));
  switch (sc.kind) {
    case "stepLR":
      return lrScheduler(groups, {
        getLr: (s) =>
          s.lastEpoch === 0 || s.lastEpoch % sc.stepSize !== 0 ? lrs() : times(() => sc.gamma)(s),
        closedForm: (s) =>
          s.baseLrs.map((b) => b * sc.gamma ** Math.floor(s.lastEpoch / sc.stepSize)),
      });
    case "multiStepLR": {
      const counts = new Map<number, number>();
      for (const m of sc.milestones) counts.set(m, (counts.get(m) ?? 0) + 1);
      return lrScheduler(groups, {
        getLr: (s) =>
          counts.has(s.lastEpoch) ? times((t) => sc.gamma ** counts.get(t.lastEpoch)!)(s) : lrs(),
        closedForm: (s) =>
          s.baseLrs.map((b) => b * sc.gamma ** bisectRight(sc.milestones, s.lastEpoch)),
      });
    }
    case "constantLR":
      return lrScheduler(groups, {
        getLr: (s) => {
          if (s.lastEpoch === 0) return times(() => sc.factor)(s);
          if (s.lastEpoch !== sc.totalIters) return lrs();
          return times(() => 1 / sc.factor)(s);
        },
        closedForm: (s) =>
          s.baseLrs.map((b) =>
            b * (sc.factor + (s.lastEpoch >= sc.totalIters ? 1 : 0) * (1 - sc.factor))
          ),
      });
    case "linearLR": {
      const { startFactor: a, endFactor: z, totalIters: n } = sc;
      return lrScheduler(groups, {
        getLr: (s) => {
          if (s.lastEpoch === 0) return times(() => a)(s);
          if (s.lastEpoch > n) return lrs();
          return times((t) => 1 + (z - a) / (n * a + (t.lastEpoch - 1) * (z - a)))(s);
        },
        closedForm: (s) => s.baseLrs.map((b) => b * (a + (z - a) * Math.min(n, s.lastEpoch) / n)),
      });
    }
    case "exponentialLR":
      return lrScheduler(groups, {
        getLr: (s) => (s.lastEpoch === 0 ? lrs() : times(() => sc.gamma)(s)),
        closedForm: (s) => s.baseLrs.map((b) => b * sc.gamma ** s.lastEpoch),
      });
    case "cosineAnnealingLR": {
      const { tMax: T, etaMin: eta } = sc;
      return lrScheduler(groups, {
        getLr: (s) => {
          const e = s.lastEpoch;
          if (e === 0) return lrs();
          if (s.stepCount === 1 && e > 0) {
            return s.baseLrs.map((b) => eta + (b - eta) * (1 + Math.cos(e * Math.PI / T)) / 2);
          }
          if (pyMod(e - 1 - T, 2 * T) === 0) {
            return groups.map((g, i) =>
              g.lr + (s.baseLrs[i] - eta) * (1 - Math.cos(Math.PI / T)) / 2
            );
          }
          return groups.map((g) =>
            (1 + Math.cos(Math.PI * e / T)) / (1 + Math.cos(Math.PI * (e - 1) / T)) *
              (g.lr - eta) + eta
          );
        },
        closedForm: (s) =>
          s.baseLrs.map((b) => eta + (b - eta) * (1 + Math.cos(Math.PI * s.lastEpoch / T)) / 2),
      });
    }
    case "oneCycleLR":
      return lrScheduler(groups, oneCycleRule(sc, groups, ctx));
  }
}

/** `SequentialLR`: builds every child, resets the rates, then restarts the first child. */
function sequential(sc: SequentialLrSchedule, groups: Group[], ctx: Context) {
  const children = sc.schedules.map((c) => chainable(c, groups, ctx));
  for (const g of groups) g.lr = g.initial_lr;
  for (const c of children) c.lastEpoch -= 1;
  children[0].initialStep();
  let lastEpoch = 0;
  return {
    step() {
      lastEpoch++;
      const idx = bisectRight(sc.milestones, lastEpoch);
      if (idx > 0 && sc.milestones[idx - 1] === lastEpoch) children[idx].step(0);
      else children[idx].step();
    },
  };
}

/** `ReduceLROnPlateau`. */
function plateau(sc: ReduceLrOnPlateauSchedule, groups: Group[]) {
  let best = sc.mode === "min" ? Infinity : -Infinity;
  let badEpochs = 0, cooldownCounter = 0;
  const isBetter = (a: number) => {
    if (sc.mode === "min") {
      return sc.thresholdMode === "rel" ? a < best * (1 - sc.threshold) : a < best - sc.threshold;
    }
    return sc.thresholdMode === "rel" ? a > best * (sc.threshold + 1) : a > best + sc.threshold;
  };
  return {
    step(metric?: number) {
      if (metric === undefined || Number.isNaN(metric)) {
        throw new UserRangeError(`Cannot step reduceLROnPlateau: it needs a metric, got ${metric}`);
      }
      if (isBetter(metric)) {
        best = metric;
        badEpochs = 0;
      } else {
        badEpochs++;
      }
      if (cooldownCounter > 0) {
        cooldownCounter--;
        badEpochs = 0;
      }
      if (badEpochs > sc.patience) {
        for (const g of groups) {
          const newLr = Math.max(g.lr * sc.factor, sc.minLr);
          if (g.lr - newLr > sc.eps) g.lr = newLr;
        }
        cooldownCounter = sc.cooldown;
        badEpochs = 0;
      }
    },
  };
}

/** The hyperparameter one-cycle momentum drives for an optimizer kind. */
function momentumOf(kind: string): "momentum" | "beta1" | null {
  return kind === "adam" || kind === "adamW"
    ? "beta1"
    : kind === "sgd" || kind === "rmsprop"
    ? "momentum"
    : null;
}

/** Every one-cycle schedule with momentum cycling in `schedule`, in construction order. */
function cyclers(schedule: Schedule): OneCycleLrSchedule[] {
  const all = schedule.kind === "sequentialLR" ? schedule.schedules : [schedule];
  return all.filter((s): s is OneCycleLrSchedule => s.kind === "oneCycleLR" && s.cycleMomentum);
}

/**
 * The optimizer as PyTorch leaves it once the schedule is constructed: a one-cycle schedule with
 * `cycleMomentum` sets every group's momentum (SGD, RMSprop) or β₁ (Adam, AdamW) to
 * `maxMomentum`, so an SGD without momentum gains a momentum buffer. Compile this optimizer.
 *
 * @param optimizer The pipeline's optimizer.
 * @param schedule The pipeline's schedule, if any.
 * @returns The optimizer to compile.
 * @throws {RangeError} When one-cycle momentum is asked of an optimizer without momentum.
 */
export function scheduledOptimizer(optimizer: Optimizer, schedule?: Schedule): Optimizer {
  const cycling = schedule ? cyclers(schedule) : [];
  if (cycling.length === 0) return optimizer;
  const m = cycling[cycling.length - 1].maxMomentum;
  switch (optimizer.kind) {
    case "sgd":
    case "rmsprop": {
      const groups = optimizer.groups.map((g) => ("momentum" in g ? { ...g, momentum: m } : g));
      return { ...optimizer, momentum: m, groups } as Optimizer;
    }
    case "adam":
    case "adamW": {
      const groups = optimizer.groups.map((g) =>
        g.betas ? { ...g, betas: [m, g.betas[1]] as const } : g
      );
      return { ...optimizer, betas: [m, optimizer.betas[1]], groups } as Optimizer;
    }
    default:
      throw new UserRangeError(
        `Cannot use oneCycleLR with cycleMomentum: ${optimizer.kind} has no momentum or betas; set cycleMomentum: false`,
      );
  }
}

/**
 * Binds a schedule to a trainer's hyperparameter map, as constructing the PyTorch scheduler does:
 * the first step happens here (for example linearLR already scales the rate), and each `step`
 * is one `scheduler.step()`. Values in the map are read before each step, so changing
 * `hyper.set("lr", …)` by hand acts as editing `param_groups[0]["lr"]`.
 *
 * @param schedule The schedule description.
 * @param hyper The trainer's hyperparameter values: `lr`, `lr.group1`, …
 * @param options The compiled optimizer, and the run's epochs and batches per epoch.
 * @returns The scheduler.
 * @throws {RangeError} When the map has no `lr`, or one-cycle momentum has nothing to drive.
 * @example
 * ```ts
 * import { stepLR } from "../dsl/schedules.ts";
 * import { createScheduler } from "./schedule.ts";
 * const hyper = new Map([["lr", 0.1]]);
 * const s = createScheduler(stepLR({ stepSize: 2, gamma: 0.5 }), hyper);
 * s.step();
 * s.step();
 * if (hyper.get("lr") !== 0.05) throw new Error();
 * ```
 */
export function createScheduler(
  schedule: Schedule,
  hyper: Map<string, number>,
  options: SchedulerOptions = {},
): Scheduler {
  const indices = [...hyper.keys()].flatMap((k) => {
    const m = /^lr(?:\.group(\d+))?$/.exec(k);
    return m ? [m[1] === undefined ? 0 : Number(m[1])] : [];
  }).sort((a, b) => a - b);
  if (indices.length === 0) {
    throw new UserRangeError(
      `Cannot schedule the learning rate: the train graph has no lr input (hyperparameters: ${
        [...hyper.keys()].join(", ") || "none"
      })`,
    );
  }
  const kind = options.optimizer?.kind ??
    (hyper.has("beta1") ? "adam" : hyper.has("momentum") ? "sgd" : "an optimizer without momentum");
  const momentum = momentumOf(kind);
  const groups: Group[] = indices.map(() => ({ lr: 0 }));
  const read = () =>
    indices.forEach((k, i) => {
      groups[i].lr = hyper.get(hyperName("lr", k))!;
      const m = momentum && hyper.get(hyperName(momentum, k));
      if (m !== undefined && m !== null) groups[i].momentum = m;
    });
  const write = () =>
    indices.forEach((k, i) => {
      hyper.set(hyperName("lr", k), groups[i].lr);
      const m = groups[i].momentum;
      if (momentum && m !== undefined) {
        const name = hyperName(momentum, k);
        if (!hyper.has(name)) {
          throw new UserRangeError(
            `Cannot cycle ${momentum} with oneCycleLR: the train graph has no ${name} input; compile scheduledOptimizer(optimizer, schedule)`,
          );
        }
        hyper.set(name, m);
      }
    });
  const { epochs, batchesPerEpoch } = options;
  const ctx: Context = {
    momentum,
    optimizerKind: kind,
    defaultSteps: (interval) =>
      epochs === undefined
        ? undefined
        : interval === "epoch"
        ? epochs
        : batchesPerEpoch === undefined
        ? undefined
        : epochs * batchesPerEpoch,
  };

  read();
  const stepper: { step(metric?: number): void } = schedule.kind === "reduceLROnPlateau"
    ? plateau(schedule, groups)
    : schedule.kind === "sequentialLR"
    ? sequential(schedule, groups, ctx)
    : chainable(schedule, groups, ctx);
  write();

  const history: (number | null)[] = [];
  const scheduler: Scheduler = {
    interval: schedule.interval,
    get lr() {
      return hyper.get(hyperName("lr", indices[0]))!;
    },
    step(metric) {
      read();
      stepper.step(metric);
      write();
      history.push(metric ?? null);
    },
    afterBatch() {
      if (schedule.interval === "batch") scheduler.step();
    },
    afterEpoch(metrics) {
      if (schedule.interval !== "epoch") return;
      scheduler.step(schedule.kind === "reduceLROnPlateau" ? metrics[schedule.metric] : undefined);
    },
    exportState() {
      return history.some((m) => m !== null)
        ? { steps: history.length, metrics: [...history] }
        : { steps: history.length };
    },
    importState(state) {
      const given = state.metrics;
      if (history.length > 0 || !Number.isSafeInteger(state.steps) || state.steps < 0) {
        throw new UserRangeError(
          `Cannot restore the ${schedule.kind} schedule to ${state.steps} steps: it needs a fresh scheduler and a step count ≥ 0`,
        );
      }
      if (given && given.length !== state.steps) {
        throw new UserRangeError(
          `Cannot restore the ${schedule.kind} schedule: ${given.length} metrics for ${state.steps} steps`,
        );
      }
      for (let i = 0; i < state.steps; i++) scheduler.step(given?.[i] ?? undefined);
    },
  };
  return Object.freeze(scheduler);
}
