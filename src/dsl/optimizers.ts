/**
 * Optimizers: immutable descriptions of PyTorch's `torch.optim` optimizers, with parameter groups
 * and gradient clipping; the compiler turns them into graph updates.
 * @module
 */
import { UserRangeError } from "../util/user_error.ts";

/**
 * Selects parameters by their PyTorch name (`1.weight`): a predicate, a RegExp tested against the
 * name, or a list of names.
 * @example
 * ```ts
 * import { type ParamSelector, sgd } from "./optimizers.ts";
 * const biases: ParamSelector = /\.bias$/;
 * const opt = sgd({ lr: 0.1, groups: [{ params: biases, weightDecay: 0 }] });
 * if (opt.groups.length !== 1) throw new Error();
 * ```
 */
export type ParamSelector = ((name: string) => boolean) | RegExp | readonly string[];

/**
 * A parameter group: the parameters it selects and the options it overrides. Options it leaves
 * out are the optimizer's top-level options. A parameter belongs to the first group that selects
 * it; parameters no group selects use the top-level options (PyTorch's param_groups).
 * @example
 * ```ts
 * import { adamW, type AdamSettings, type ParamGroup } from "./optimizers.ts";
 * const head: ParamGroup<AdamSettings> = { params: ["2.weight", "2.bias"], lr: 1e-3 };
 * if (adamW({ lr: 1e-4, groups: [head] }).groups[0].lr !== 1e-3) throw new Error();
 * ```
 */
export type ParamGroup<S> = { readonly params: ParamSelector } & { readonly [K in keyof S]?: S[K] };

/**
 * Gradient clipping by global norm, as `torch.nn.utils.clip_grad_norm_`.
 *
 * @example
 * ```ts
 * import { type ClipGradNorm, sgd } from "./optimizers.ts";
 * const clip: ClipGradNorm | undefined = sgd({ lr: 0.1, clipGradNorm: 1 }).clipGradNorm;
 * if (clip?.maxNorm !== 1 || clip.normType !== 2) throw new Error();
 * ```
 */
export interface ClipGradNorm {
  /** Largest global gradient norm allowed; larger gradients are scaled down to it. */
  readonly maxNorm: number;
  /** The p of the p-norm (default 2); `Infinity` for the max norm. */
  readonly normType: number;
}

/**
 * What a `clipGradNorm` option takes: the max norm, or the max norm and the norm type.
 *
 * @example
 * ```ts
 * import { adam, type ClipGradNormOption } from "./optimizers.ts";
 * const option: ClipGradNormOption = { maxNorm: 5, normType: Infinity };
 * if (adam({ clipGradNorm: option }).clipGradNorm?.normType !== Infinity) throw new Error();
 * ```
 */
export type ClipGradNormOption = number | { readonly maxNorm: number; readonly normType?: number };

/**
 * Options every optimizer has besides its settings.
 *
 * @example
 * ```ts
 * import { type Extras, sgd, type SgdSettings } from "./optimizers.ts";
 * const extras: Extras<SgdSettings> = sgd({ lr: 0.1 });
 * if (extras.groups.length !== 0 || extras.clipGradNorm !== undefined) throw new Error();
 * ```
 */
export interface Extras<S> {
  /** Parameter groups with their own settings; the first group that selects a parameter wins. */
  readonly groups: readonly ParamGroup<S>[];
  /** Clips the gradients by their global norm before the update (absent: no clipping). */
  readonly clipGradNorm?: ClipGradNorm;
}

/**
 * What the option objects add to an optimizer's settings.
 *
 * @example
 * ```ts
 * import { type ExtraOptions, rmsprop, type RmspropSettings } from "./optimizers.ts";
 * const extra: ExtraOptions<RmspropSettings> = { clipGradNorm: 1 };
 * if (rmsprop({ lr: 0.01, ...extra }).clipGradNorm?.maxNorm !== 1) throw new Error();
 * ```
 */
export interface ExtraOptions<S> {
  /** Parameter groups with their own settings; the first group that selects a parameter wins. */
  readonly groups?: readonly ParamGroup<S>[];
  /** Clips the gradients by their global norm first: the max norm, or `{ maxNorm, normType }`. */
  readonly clipGradNorm?: ClipGradNormOption;
}

/**
 * `torch.optim.SGD`'s settings.
 *
 * @example
 * ```ts
 * import { sgd, type SgdSettings } from "./optimizers.ts";
 * const s: SgdSettings = sgd({ lr: 0.1, momentum: 0.9 });
 * if (s.momentum !== 0.9 || s.nesterov) throw new Error();
 * ```
 */
export interface SgdSettings {
  /** Learning rate. */
  readonly lr: number;
  /** Momentum factor (0: none). */
  readonly momentum: number;
  /** Dampening of the momentum. */
  readonly dampening: number;
  /** Nesterov momentum. */
  readonly nesterov: boolean;
  /** L2 penalty added to the gradient. */
  readonly weightDecay: number;
  /** Maximizes the objective instead of minimizing it. */
  readonly maximize: boolean;
}

/**
 * `torch.optim.Adam`'s and `torch.optim.AdamW`'s settings.
 *
 * @example
 * ```ts
 * import { adam, type AdamSettings } from "./optimizers.ts";
 * const s: AdamSettings = adam();
 * if (s.lr !== 1e-3 || s.betas[1] !== 0.999) throw new Error();
 * ```
 */
export interface AdamSettings {
  /** Learning rate. */
  readonly lr: number;
  /** Decay rates of the first and second moment estimates. */
  readonly betas: readonly [number, number];
  /** Added to the denominator for numerical stability. */
  readonly eps: number;
  /** Weight decay (L2 for Adam, decoupled for AdamW). */
  readonly weightDecay: number;
  /** Uses the maximum of past second moments (AMSGrad). */
  readonly amsgrad: boolean;
  /** Maximizes the objective instead of minimizing it. */
  readonly maximize: boolean;
}

/**
 * `torch.optim.RMSprop`'s settings.
 *
 * @example
 * ```ts
 * import { rmsprop, type RmspropSettings } from "./optimizers.ts";
 * const s: RmspropSettings = rmsprop();
 * if (s.lr !== 0.01 || s.alpha !== 0.99) throw new Error();
 * ```
 */
export interface RmspropSettings {
  /** Learning rate. */
  readonly lr: number;
  /** Smoothing constant of the squared-gradient average. */
  readonly alpha: number;
  /** Added to the denominator for numerical stability. */
  readonly eps: number;
  /** L2 penalty added to the gradient. */
  readonly weightDecay: number;
  /** Momentum factor (0: none). */
  readonly momentum: number;
  /** Normalizes by the estimated variance of the gradient. */
  readonly centered: boolean;
  /** Maximizes the objective instead of minimizing it. */
  readonly maximize: boolean;
}

/**
 * `torch.optim.Adagrad`'s settings.
 *
 * @example
 * ```ts
 * import { adagrad, type AdagradSettings } from "./optimizers.ts";
 * const s: AdagradSettings = adagrad();
 * if (s.lr !== 0.01 || s.lrDecay !== 0) throw new Error();
 * ```
 */
export interface AdagradSettings {
  /** Learning rate. */
  readonly lr: number;
  /** Learning-rate decay: the rate is `lr / (1 + (t − 1)·lrDecay)`. */
  readonly lrDecay: number;
  /** L2 penalty added to the gradient. */
  readonly weightDecay: number;
  /** Starting value of the squared-gradient sums. */
  readonly initialAccumulatorValue: number;
  /** Added to the denominator for numerical stability. */
  readonly eps: number;
  /** Maximizes the objective instead of minimizing it. */
  readonly maximize: boolean;
}

/**
 * Stochastic gradient descent (PyTorch's `optim.SGD`).
 *
 * @example
 * ```ts
 * import { sgd, type SgdOptimizer } from "./optimizers.ts";
 * const o: SgdOptimizer = sgd({ lr: 0.1 });
 * if (o.kind !== "sgd") throw new Error();
 * ```
 */
export interface SgdOptimizer extends SgdSettings, Extras<SgdSettings> {
  /** Discriminates the optimizer union. */
  readonly kind: "sgd";
}

/**
 * Adam (PyTorch's `optim.Adam`): L2 weight decay added to the gradient.
 *
 * @example
 * ```ts
 * import { adam, type AdamOptimizer } from "./optimizers.ts";
 * const o: AdamOptimizer = adam();
 * if (o.kind !== "adam") throw new Error();
 * ```
 */
export interface AdamOptimizer extends AdamSettings, Extras<AdamSettings> {
  /** Discriminates the optimizer union. */
  readonly kind: "adam";
}

/**
 * AdamW (PyTorch's `optim.AdamW`): decoupled weight decay.
 *
 * @example
 * ```ts
 * import { adamW, type AdamWOptimizer } from "./optimizers.ts";
 * const o: AdamWOptimizer = adamW();
 * if (o.kind !== "adamW") throw new Error();
 * ```
 */
export interface AdamWOptimizer extends AdamSettings, Extras<AdamSettings> {
  /** Discriminates the optimizer union. */
  readonly kind: "adamW";
}

/**
 * RMSprop (PyTorch's `optim.RMSprop`).
 *
 * @example
 * ```ts
 * import { rmsprop, type RmspropOptimizer } from "./optimizers.ts";
 * const o: RmspropOptimizer = rmsprop();
 * if (o.kind !== "rmsprop") throw new Error();
 * ```
 */
export interface RmspropOptimizer extends RmspropSettings, Extras<RmspropSettings> {
  /** Discriminates the optimizer union. */
  readonly kind: "rmsprop";
}

/**
 * Adagrad (PyTorch's `optim.Adagrad`).
 *
 * @example
 * ```ts
 * import { adagrad, type AdagradOptimizer } from "./optimizers.ts";
 * const o: AdagradOptimizer = adagrad();
 * if (o.kind !== "adagrad") throw new Error();
 * ```
 */
export interface AdagradOptimizer extends AdagradSettings, Extras<AdagradSettings> {
  /** Discriminates the optimizer union. */
  readonly kind: "adagrad";
}

/**
 * Any optimizer.
 *
 * @example
 * ```ts
 * import { adam, type Optimizer, sgd } from "./optimizers.ts";
 * const choices: Optimizer[] = [sgd({ lr: 0.1 }), adam({ lr: 1e-3 })];
 * if (choices[1].lr !== 1e-3) throw new Error();
 * ```
 */
export type Optimizer =
  | SgdOptimizer
  | AdamOptimizer
  | AdamWOptimizer
  | RmspropOptimizer
  | AdagradOptimizer;

/** The settings of an optimizer: everything but its kind, groups and clipping. */
export type OptimizerSettings<O extends Optimizer> = Omit<O, "kind" | "groups" | "clipGradNorm">;

/**
 * Options of {@linkcode sgd}.
 *
 * @example
 * ```ts
 * import { sgd, type SgdOptions } from "./optimizers.ts";
 * const options: SgdOptions = { lr: 0.1, momentum: 0.9, nesterov: true };
 * if (!sgd(options).nesterov) throw new Error();
 * ```
 */
export type SgdOptions = Partial<SgdSettings> & { readonly lr: number } & ExtraOptions<SgdSettings>;
/**
 * Options of {@linkcode adam} and {@linkcode adamW}.
 *
 * @example
 * ```ts
 * import { adam, type AdamOptions } from "./optimizers.ts";
 * const options: AdamOptions = { lr: 3e-4, amsgrad: true };
 * if (!adam(options).amsgrad) throw new Error();
 * ```
 */
export type AdamOptions = Partial<AdamSettings> & ExtraOptions<AdamSettings>;
/**
 * Options of {@linkcode rmsprop}.
 *
 * @example
 * ```ts
 * import { rmsprop, type RmspropOptions } from "./optimizers.ts";
 * const options: RmspropOptions = { centered: true };
 * if (!rmsprop(options).centered) throw new Error();
 * ```
 */
export type RmspropOptions = Partial<RmspropSettings> & ExtraOptions<RmspropSettings>;
/**
 * Options of {@linkcode adagrad}.
 *
 * @example
 * ```ts
 * import { adagrad, type AdagradOptions } from "./optimizers.ts";
 * const options: AdagradOptions = { initialAccumulatorValue: 0.1 };
 * if (adagrad(options).initialAccumulatorValue !== 0.1) throw new Error();
 * ```
 */
export type AdagradOptions = Partial<AdagradSettings> & ExtraOptions<AdagradSettings>;

type Check<S> = (s: S, fail: (msg: string) => never) => void;

function nonNegative(fail: (msg: string) => never, what: string, v: unknown): void {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    fail(`${what} must be a finite number ≥ 0, got ${v}`);
  }
}

function flag(fail: (msg: string) => never, what: string, v: unknown): void {
  if (typeof v !== "boolean") fail(`${what} must be a boolean, got ${v}`);
}

function checkSelector(fail: (msg: string) => never, params: unknown): void {
  const ok = typeof params === "function" || params instanceof RegExp ||
    (Array.isArray(params) && params.every((n) => typeof n === "string"));
  if (!ok) fail(`params must be a predicate, a RegExp or a list of names, got ${params}`);
}

function clipOption(fail: (msg: string) => never, clip: ClipGradNormOption): ClipGradNorm {
  const { maxNorm, normType = 2 } = typeof clip === "number" ? { maxNorm: clip } : clip;
  if (typeof maxNorm !== "number" || !Number.isFinite(maxNorm) || maxNorm < 0) {
    fail(`clipGradNorm's maxNorm must be a finite number ≥ 0, got ${maxNorm}`);
  }
  if (typeof normType !== "number" || Number.isNaN(normType) || normType <= 0) {
    fail(`clipGradNorm's normType must be a number > 0 or Infinity, got ${normType}`);
  }
  return Object.freeze({ maxNorm, normType });
}

/**
 * Builds a frozen optimizer description: applies defaults, checks the top-level settings and each
 * group's settings (merged over the top level), and freezes the groups.
 */
function build<S extends object, K extends Optimizer["kind"]>(
  kind: K,
  name: string,
  defaults: S,
  options: Partial<S> & ExtraOptions<S>,
  check: Check<S>,
): S & Extras<S> & { readonly kind: K } {
  const { groups = [], clipGradNorm, ...given } = options;
  const defined = Object.fromEntries(
    Object.entries(given).filter(([, v]) => v !== undefined),
  ) as Partial<S>;
  const settings = { ...defaults, ...defined } as S;
  const top = (msg: string): never => {
    throw new UserRangeError(`Cannot create ${name}: ${msg}`);
  };
  const unknownTop = Object.keys(defined).find((k) => !(k in defaults));
  if (unknownTop) top(`unknown option ${unknownTop}`);
  check(settings, top);
  const frozenGroups = groups.map((group, i) => {
    const fail = (msg: string): never => {
      throw new UserRangeError(`Cannot create ${name}: parameter group ${i + 1}: ${msg}`);
    };
    checkSelector(fail, group.params);
    const { params, ...overrides } = group;
    const unknown = Object.keys(overrides).find((k) => !(k in defaults));
    if (unknown) fail(`unknown option ${unknown}`);
    check({ ...settings, ...overrides } as S, fail);
    const selector = Array.isArray(params) ? Object.freeze([...params]) : params;
    return Object.freeze({ ...overrides, params: selector }) as ParamGroup<S>;
  });
  return Object.freeze({
    kind,
    ...settings,
    groups: Object.freeze(frozenGroups),
    ...(clipGradNorm !== undefined ? { clipGradNorm: clipOption(top, clipGradNorm) } : {}),
  });
}

const checkSgd: Check<SgdSettings> = (s, fail) => {
  nonNegative(fail, "lr", s.lr);
  nonNegative(fail, "momentum", s.momentum);
  nonNegative(fail, "dampening", s.dampening);
  nonNegative(fail, "weightDecay", s.weightDecay);
  flag(fail, "nesterov", s.nesterov);
  flag(fail, "maximize", s.maximize);
  if (s.nesterov && (s.momentum <= 0 || s.dampening !== 0)) {
    fail(
      `Nesterov momentum requires a momentum > 0 and zero dampening, got momentum ${s.momentum} and dampening ${s.dampening}`,
    );
  }
};

/**
 * Stochastic gradient descent, as `torch.optim.SGD`: with `g` the gradient (negated when
 * `maximize`), `g += weightDecay·p`; with momentum, `buf = g` on the first step and
 * `buf = momentum·buf + (1 − dampening)·g` after, then `g = nesterov ? g + momentum·buf : buf`;
 * `p ← p − lr·g`.
 *
 * @param options `lr` (required); `momentum`, `dampening`, `weightDecay` (default 0), `nesterov`,
 * `maximize` (default false); `groups` (parameter groups) and `clipGradNorm`.
 * @returns The optimizer description.
 * @throws {RangeError} On a negative setting, or Nesterov without momentum or with dampening.
 * @example
 * ```ts
 * import { sgd } from "./optimizers.ts";
 * const o = sgd({ lr: 1e-3, momentum: 0.9, nesterov: true });
 * if (o.lr !== 1e-3 || o.momentum !== 0.9 || o.dampening !== 0) throw new Error();
 * ```
 */
export function sgd(options: SgdOptions): SgdOptimizer {
  const defaults: SgdSettings = {
    lr: options.lr,
    momentum: 0,
    dampening: 0,
    nesterov: false,
    weightDecay: 0,
    maximize: false,
  };
  return build("sgd", "SGD", defaults, options, checkSgd);
}

const checkAdam: Check<AdamSettings> = (s, fail) => {
  nonNegative(fail, "lr", s.lr);
  nonNegative(fail, "eps", s.eps);
  nonNegative(fail, "weightDecay", s.weightDecay);
  flag(fail, "amsgrad", s.amsgrad);
  flag(fail, "maximize", s.maximize);
  if (!Array.isArray(s.betas) || s.betas.length !== 2) {
    fail(`betas must be a pair of numbers, got ${s.betas}`);
  }
  s.betas.forEach((beta, i) => {
    if (typeof beta !== "number" || !(beta >= 0 && beta < 1)) {
      fail(`betas[${i}] must be in [0, 1), got ${beta}`);
    }
  });
};

function adamDefaults(weightDecay: number): AdamSettings {
  return {
    lr: 1e-3,
    betas: Object.freeze([0.9, 0.999]) as readonly [number, number],
    eps: 1e-8,
    weightDecay,
    amsgrad: false,
    maximize: false,
  };
}

function freezeBetas<O extends { readonly betas?: readonly [number, number] }>(options: O): O {
  if (!options.betas) return options;
  return { ...options, betas: Object.freeze([...options.betas]) as readonly [number, number] };
}

/**
 * Adam, as `torch.optim.Adam`: with step count `t`, `g += weightDecay·p` (L2),
 * `m = β₁m + (1 − β₁)g`, `v = β₂v + (1 − β₂)g²`, with `amsgrad` `v̂max = max(v̂max, v)`, and
 * `p ← p − lr/(1 − β₁ᵗ) · m / (√v/√(1 − β₂ᵗ) + eps)`.
 *
 * @param options `lr` (1e-3), `betas` ([0.9, 0.999]), `eps` (1e-8), `weightDecay` (0),
 * `amsgrad`, `maximize` (false); `groups` and `clipGradNorm`.
 * @returns The optimizer description.
 * @throws {RangeError} On a negative setting or a beta outside [0, 1).
 * @example
 * ```ts
 * import { adam } from "./optimizers.ts";
 * const o = adam({ lr: 3e-4, amsgrad: true });
 * if (o.betas[0] !== 0.9 || o.eps !== 1e-8 || !o.amsgrad) throw new Error();
 * ```
 */
export function adam(options: AdamOptions = {}): AdamOptimizer {
  const o = { ...freezeBetas(options), groups: options.groups?.map(freezeBetas) };
  return build("adam", "Adam", adamDefaults(0), o as AdamOptions, checkAdam);
}

/**
 * AdamW, as `torch.optim.AdamW`: Adam with decoupled weight decay, `p ← p·(1 − lr·weightDecay)`
 * before the Adam update (which then has no L2 term).
 *
 * @param options `lr` (1e-3), `betas` ([0.9, 0.999]), `eps` (1e-8), `weightDecay` (1e-2),
 * `amsgrad`, `maximize` (false); `groups` and `clipGradNorm`.
 * @returns The optimizer description.
 * @throws {RangeError} On a negative setting or a beta outside [0, 1).
 * @example
 * ```ts
 * import { adamW } from "./optimizers.ts";
 * const o = adamW({
 *   lr: 1e-3,
 *   groups: [{ params: (name) => name.endsWith(".bias"), weightDecay: 0 }],
 * });
 * if (o.weightDecay !== 0.01 || o.groups[0].weightDecay !== 0) throw new Error();
 * ```
 */
export function adamW(options: AdamOptions = {}): AdamWOptimizer {
  const o = { ...freezeBetas(options), groups: options.groups?.map(freezeBetas) };
  return build("adamW", "AdamW", adamDefaults(1e-2), o as AdamOptions, checkAdam);
}

const checkRmsprop: Check<RmspropSettings> = (s, fail) => {
  nonNegative(fail, "lr", s.lr);
  nonNegative(fail, "alpha", s.alpha);
  nonNegative(fail, "eps", s.eps);
  nonNegative(fail, "weightDecay", s.weightDecay);
  nonNegative(fail, "momentum", s.momentum);
  flag(fail, "centered", s.centered);
  flag(fail, "maximize", s.maximize);
};

/**
 * RMSprop, as `torch.optim.RMSprop`: `g += weightDecay·p`, `s = αs + (1 − α)g²`; centered:
 * `ḡ = αḡ + (1 − α)g`, `avg = √(s − ḡ²) + eps`, else `avg = √s + eps`; with momentum
 * `buf = momentum·buf + g/avg`, `p ← p − lr·buf`, else `p ← p − lr·g/avg`.
 *
 * @param options `lr` (1e-2), `alpha` (0.99), `eps` (1e-8), `weightDecay`, `momentum` (0),
 * `centered`, `maximize` (false); `groups` and `clipGradNorm`.
 * @returns The optimizer description.
 * @throws {RangeError} On a negative setting.
 * @example
 * ```ts
 * import { rmsprop } from "./optimizers.ts";
 * const o = rmsprop({ centered: true, momentum: 0.9 });
 * if (o.lr !== 1e-2 || o.alpha !== 0.99 || !o.centered) throw new Error();
 * ```
 */
export function rmsprop(options: RmspropOptions = {}): RmspropOptimizer {
  const defaults: RmspropSettings = {
    lr: 1e-2,
    alpha: 0.99,
    eps: 1e-8,
    weightDecay: 0,
    momentum: 0,
    centered: false,
    maximize: false,
  };
  return build("rmsprop", "RMSprop", defaults, options, checkRmsprop);
}

const checkAdagrad: Check<AdagradSettings> = (s, fail) => {
  nonNegative(fail, "lr", s.lr);
  nonNegative(fail, "lrDecay", s.lrDecay);
  nonNegative(fail, "weightDecay", s.weightDecay);
  nonNegative(fail, "initialAccumulatorValue", s.initialAccumulatorValue);
  nonNegative(fail, "eps", s.eps);
  flag(fail, "maximize", s.maximize);
};

/**
 * Adagrad, as `torch.optim.Adagrad`: with step count `t`, `g += weightDecay·p`,
 * `clr = lr / (1 + (t − 1)·lrDecay)`, `sum += g²` (starting at `initialAccumulatorValue`),
 * `p ← p − clr·g/(√sum + eps)`.
 *
 * @param options `lr` (1e-2), `lrDecay`, `weightDecay`, `initialAccumulatorValue` (0), `eps`
 * (1e-10), `maximize` (false); `groups` and `clipGradNorm`.
 * @returns The optimizer description.
 * @throws {RangeError} On a negative setting.
 * @example
 * ```ts
 * import { adagrad } from "./optimizers.ts";
 * const o = adagrad({ lrDecay: 0.01, initialAccumulatorValue: 0.1 });
 * if (o.lr !== 1e-2 || o.eps !== 1e-10) throw new Error();
 * ```
 */
export function adagrad(options: AdagradOptions = {}): AdagradOptimizer {
  const defaults: AdagradSettings = {
    lr: 1e-2,
    lrDecay: 0,
    weightDecay: 0,
    initialAccumulatorValue: 0,
    eps: 1e-10,
    maximize: false,
  };
  return build("adagrad", "Adagrad", defaults, options, checkAdagrad);
}

/**
 * Whether a group's selector picks a parameter.
 *
 * @param selector A predicate, RegExp or list of names.
 * @param name The parameter's name.
 * @returns True when selected.
 */
export function selects(selector: ParamSelector, name: string): boolean {
  if (typeof selector === "function") return selector(name);
  if (selector instanceof RegExp) {
    // A copy without the g and y flags: those make test() stateful.
    return new RegExp(selector.source, selector.flags.replace(/[gy]/g, "")).test(name);
  }
  return (selector as readonly string[]).includes(name);
}
