/**
 * Optimizers against PyTorch 1.13's single-tensor formulas, re-implemented here in float64: each
 * runs five steps of the compiled update (a graph of applyOptimizer fed parameters, gradients,
 * state and hyperparameters) and parameters and state are compared after every step.
 */
import { compileModel } from "../src/compile/compile.ts";
import { nextName } from "../src/compile/params.ts";
import { linear } from "../src/dsl/layers.ts";
import { crossEntropy } from "../src/dsl/losses.ts";
import { adagrad, adam, adamW, type Optimizer, rmsprop, sgd } from "../src/dsl/optimizers.ts";
import { createGraphBuilder } from "../src/ir/builder.ts";
import { CompileError } from "../src/ir/errors.ts";
import { applyOptimizer } from "../src/optim/optimizer.ts";
import { createTrainer, initTensor } from "../src/train/trainer.ts";
import { createRng } from "../src/util/random.ts";
import { assert, assertClose, assertThrowsMatch } from "./_assert.ts";
import { type HostTensor, openGraph } from "./_harness.ts";

type Vec = number[];

/** Two parameters, a weight and a bias, with their starting values. */
const PARAMS: { name: string; shape: number[]; init: Vec }[] = [
  { name: "0.weight", shape: [2, 3], init: [0.5, -0.25, 0.75, -1, 0.125, 0.3] },
  { name: "0.bias", shape: [2], init: [0.2, -0.4] },
];

/** A deterministic gradient for step t (from 1) of parameter k, varied in sign and size. */
function gradient(t: number, k: number, n: number, amp = 1): Vec {
  return Array.from(
    { length: n },
    (_, i) => amp * Math.sin(0.9 * i + 1.7 * t + 2.3 * k) * (1 + 0.3 * i),
  );
}

/** What the graph run returns after each step: parameter and state values by name. */
type Snapshot = Map<string, Float32Array>;

/**
 * Builds the update graph of `opt` for PARAMS and runs `steps` steps, feeding `grads(t, k)` and
 * carrying state from step to step as the trainer does.
 */
async function runOptimizer(
  opt: Optimizer,
  steps: number,
  grads: (t: number, k: number, n: number) => Vec = gradient,
) {
  const b = createGraphBuilder();
  const ps = PARAMS.map((p) => ({
    spec: { name: p.name, shape: p.shape, init: { kind: "zeros" as const } },
    value: b.input(p.name, { dtype: "float32", shape: p.shape }),
    grad: b.input(`${p.name}.grad`, { dtype: "float32", shape: p.shape }),
  }));
  const step = applyOptimizer(b, opt, ps);
  ps.forEach((p, i) => b.output(nextName(p.spec.name), step.updated[i]));
  for (const s of step.state) b.output(nextName(s.spec.name), s.next);
  const session = await openGraph(b.build("optimizer_step"));
  const values = new Map<string, HostTensor>();
  PARAMS.forEach((p) =>
    values.set(p.name, { dtype: "float32", dims: p.shape, data: Float32Array.from(p.init) })
  );
  const rng = createRng(0);
  for (const s of step.state) {
    values.set(s.spec.name, {
      dtype: "float32",
      dims: s.spec.shape,
      data: initTensor(s.spec.shape, s.spec.init, rng),
    });
  }
  const hyper = new Map(step.hyper.map((h) => [h.name, h.value]));
  const history: Snapshot[] = [];
  try {
    for (let t = 1; t <= steps; t++) {
      const feeds: Record<string, HostTensor> = {};
      for (const [name, v] of values) feeds[name] = v;
      PARAMS.forEach((p, k) => {
        feeds[`${p.name}.grad`] = {
          dtype: "float32",
          dims: p.shape,
          data: Float32Array.from(grads(t, k, p.init.length)),
        };
      });
      for (const [name, v] of hyper) {
        feeds[name] = { dtype: "float32", dims: [], data: Float32Array.of(v) };
      }
      const out = await session.run(feeds);
      for (const name of values.keys()) values.set(name, out[nextName(name)]);
      history.push(new Map([...values].map(([k, v]) => [k, v.data as Float32Array])));
    }
  } finally {
    await session.release();
  }
  return {
    history,
    hyper: step.hyper.map((h) => h.name),
    state: step.state.map((s) => s.spec),
  };
}

/** Compares every tensor of `expected` with the graph's values, relative to their size. */
function assertSnapshot(actual: Snapshot, expected: Map<string, Vec>, what: string, rtol = 2e-6) {
  assert.deepEqual(
    [...actual.keys()].sort(),
    [...expected.keys()].sort(),
    `${what}: parameters and state`,
  );
  for (const [name, want] of expected) {
    const scale = Math.max(...want.map(Math.abs), 1e-3);
    assertClose(actual.get(name)!, want, rtol * scale, `${what}: ${name}`);
  }
}

/** Runs a float64 reference one step at a time and checks every step's snapshot. */
function checkHistory(
  history: Snapshot[],
  reference: (t: number, k: number, p: Vec, g: Vec, state: Map<string, Vec>, name: string) => Vec,
  grads: (t: number, k: number, n: number) => Vec = gradient,
  rtol?: number,
) {
  const expected = new Map<string, Vec>(PARAMS.map((p) => [p.name, [...p.init]]));
  history.forEach((snapshot, i) => {
    const t = i + 1;
    PARAMS.forEach((p, k) => {
      const next = reference(
        t,
        k,
        expected.get(p.name)!,
        grads(t, k, p.init.length),
        expected,
        p.name,
      );
      expected.set(p.name, next);
    });
    assertSnapshot(snapshot, expected, `step ${t}`, rtol);
  });
}

const map2 = (a: Vec, b: Vec, f: (x: number, y: number) => number) => a.map((x, i) => f(x, b[i]));
const zeros = (n: number) => new Array<number>(n).fill(0);

/** torch.optim.SGD's _single_tensor_sgd, in float64. */
function sgdReference(o: {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
  maximize?: boolean;
}) {
  const { lr, momentum = 0, dampening = 0, nesterov = false, weightDecay = 0, maximize = false } =
    o;
  return (t: number, _k: number, p: Vec, grad: Vec, st: Map<string, Vec>, name: string) => {
    let d = maximize ? grad.map((g) => -g) : grad;
    if (weightDecay) d = map2(d, p, (g, x) => g + weightDecay * x);
    if (momentum) {
      const key = `${name}.momentum_buffer`;
      const buf = t === 1
        ? [...d]
        : map2(st.get(key)!, d, (m, g) => m * momentum + (1 - dampening) * g);
      st.set(key, buf);
      if (dampening) st.set(`${name}.step`, [t]);
      d = nesterov ? map2(d, buf, (g, m) => g + momentum * m) : buf;
    }
    return map2(p, d, (x, g) => x - lr * g);
  };
}

/** torch.optim.Adam's and AdamW's _single_tensor_adam(w), in float64. */
function adamReference(o: {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  amsgrad?: boolean;
  maximize?: boolean;
  decoupled?: boolean;
}) {
  const {
    lr,
    betas: [b1, b2] = [0.9, 0.999],
    eps = 1e-8,
    weightDecay = 0,
    amsgrad = false,
    maximize = false,
    decoupled = false,
  } = o;
  return (t: number, _k: number, p: Vec, grad: Vec, st: Map<string, Vec>, name: string) => {
    let g = maximize ? grad.map((x) => -x) : grad;
    if (decoupled) p = p.map((x) => x * (1 - lr * weightDecay));
    else if (weightDecay) g = map2(g, p, (x, w) => x + weightDecay * w);
    const m = map2(
      st.get(`${name}.exp_avg`) ?? zeros(g.length),
      g,
      (a, x) => a * b1 + (1 - b1) * x,
    );
    const v = map2(
      st.get(`${name}.exp_avg_sq`) ?? zeros(g.length),
      g,
      (a, x) => a * b2 + (1 - b2) * x * x,
    );
    st.set(`${name}.exp_avg`, m);
    st.set(`${name}.exp_avg_sq`, v);
    st.set(`${name}.step`, [t]);
    let vUsed = v;
    if (amsgrad) {
      vUsed = map2(st.get(`${name}.max_exp_avg_sq`) ?? zeros(g.length), v, Math.max);
      st.set(`${name}.max_exp_avg_sq`, vUsed);
    }
    const stepSize = lr / (1 - b1 ** t);
    const bc2Sqrt = Math.sqrt(1 - b2 ** t);
    return p.map((x, i) => x - stepSize * m[i] / (Math.sqrt(vUsed[i]) / bc2Sqrt + eps));
  };
}

/** torch.optim.RMSprop's _single_tensor_rmsprop, in float64. */
function rmspropReference(o: {
  lr: number;
  alpha?: number;
  eps?: number;
  weightDecay?: number;
  momentum?: number;
  centered?: boolean;
}) {
  const { lr, alpha = 0.99, eps = 1e-8, weightDecay = 0, momentum = 0, centered = false } = o;
  return (_t: number, _k: number, p: Vec, grad: Vec, st: Map<string, Vec>, name: string) => {
    const g = weightDecay ? map2(grad, p, (x, w) => x + weightDecay * w) : grad;
    const sq = map2(
      st.get(`${name}.square_avg`) ?? zeros(g.length),
      g,
      (s, x) => s * alpha + (1 - alpha) * x * x,
    );
    st.set(`${name}.square_avg`, sq);
    let avg: Vec;
    if (centered) {
      const ga = map2(
        st.get(`${name}.grad_avg`) ?? zeros(g.length),
        g,
        (a, x) => a * alpha + (1 - alpha) * x,
      );
      st.set(`${name}.grad_avg`, ga);
      avg = map2(sq, ga, (s, a) => Math.sqrt(s - a * a) + eps);
    } else {
      avg = sq.map((s) => Math.sqrt(s) + eps);
    }
    if (momentum > 0) {
      const buf = (st.get(`${name}.momentum_buffer`) ?? zeros(g.length)).map((m, i) =>
        m * momentum + g[i] / avg[i]
      );
      st.set(`${name}.momentum_buffer`, buf);
      return map2(p, buf, (x, m) => x - lr * m);
    }
    return p.map((x, i) => x - lr * g[i] / avg[i]);
  };
}

/** torch.optim.Adagrad's _single_tensor_adagrad, in float64. */
function adagradReference(o: {
  lr: number;
  lrDecay?: number;
  weightDecay?: number;
  initialAccumulatorValue?: number;
  eps?: number;
}) {
  const { lr, lrDecay = 0, weightDecay = 0, initialAccumulatorValue = 0, eps = 1e-10 } = o;
  return (t: number, _k: number, p: Vec, grad: Vec, st: Map<string, Vec>, name: string) => {
    const g = weightDecay ? map2(grad, p, (x, w) => x + weightDecay * w) : grad;
    const clr = lr / (1 + (t - 1) * lrDecay);
    const sum = map2(
      st.get(`${name}.sum`) ?? g.map(() => initialAccumulatorValue),
      g,
      (s, x) => s + x * x,
    );
    st.set(`${name}.sum`, sum);
    st.set(`${name}.step`, [t]);
    return p.map((x, i) => x - clr * g[i] / (Math.sqrt(sum[i]) + eps));
  };
}

Deno.test("SGD: momentum with dampening and weight decay, first buffer = gradient", async () => {
  const o = { lr: 0.1, momentum: 0.9, dampening: 0.3, weightDecay: 0.05 };
  const { history, state } = await runOptimizer(sgd(o), 5);
  assert.deepEqual(state.map((s) => s.name), [
    "0.weight.step",
    "0.weight.momentum_buffer",
    "0.bias.step",
    "0.bias.momentum_buffer",
  ]);
  checkHistory(history, sgdReference(o));
});

Deno.test("SGD: Nesterov momentum, maximize", async () => {
  const o = { lr: 0.05, momentum: 0.8, nesterov: true, maximize: true };
  const { history, hyper } = await runOptimizer(sgd(o), 5);
  assert.deepEqual(hyper, ["lr", "momentum"]);
  checkHistory(history, sgdReference(o));
});

Deno.test("SGD: Nesterov needs momentum and no dampening (PyTorch's check)", () => {
  assertThrowsMatch(
    () => sgd({ lr: 0.1, nesterov: true }),
    RangeError,
    "Cannot create SGD: Nesterov momentum requires a momentum > 0 and zero dampening, got momentum 0 and dampening 0",
  );
  assertThrowsMatch(
    () => sgd({ lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }),
    RangeError,
    /requires a momentum > 0 and zero dampening, got momentum 0.9 and dampening 0.1/,
  );
});

Deno.test("Adam with L2 weight decay: moments, step count and parameters", async () => {
  const o = { lr: 0.01, weightDecay: 0.1 };
  const { history, hyper, state } = await runOptimizer(adam(o), 5);
  assert.deepEqual(hyper, ["lr", "beta1"]);
  assert.deepEqual(state.map((s) => s.name).slice(0, 3), [
    "0.weight.step",
    "0.weight.exp_avg",
    "0.weight.exp_avg_sq",
  ]);
  assert.deepEqual(state[0].shape, []);
  checkHistory(history, adamReference(o));
});

Deno.test("Adam with amsgrad, betas and eps: max of second moments carried", async () => {
  const o = { lr: 0.02, betas: [0.8, 0.5] as [number, number], eps: 1e-6, amsgrad: true };
  // Gradients that shrink, so the running max differs from the second moment.
  const shrinking = (t: number, k: number, n: number) => gradient(t, k, n, 2 / t ** 2);
  const { history } = await runOptimizer(adam(o), 6, shrinking);
  const last = history[history.length - 1];
  const v = last.get("0.weight.exp_avg_sq")!, vmax = last.get("0.weight.max_exp_avg_sq")!;
  assert.ok(v.some((x, i) => vmax[i] > x * 1.5), "the max exceeds the current second moment");
  checkHistory(history, adamReference(o), shrinking);
});

Deno.test("AdamW: decoupled weight decay p·(1 − lr·wd) before the Adam step", async () => {
  const o = { lr: 0.01, weightDecay: 0.5 };
  const { history } = await runOptimizer(adamW(o), 5);
  checkHistory(history, adamReference({ ...o, decoupled: true }));
  // Differs from Adam's L2 decay with the same numbers.
  const l2 = await runOptimizer(adam(o), 5);
  const a = history[4].get("0.weight")!, b = l2.history[4].get("0.weight")!;
  assert.ok(a.some((x, i) => Math.abs(x - b[i]) > 1e-4));
});

Deno.test("AdamW with amsgrad and maximize", async () => {
  const o = { lr: 0.01, weightDecay: 0.01, amsgrad: true, maximize: true };
  const { history } = await runOptimizer(adamW(o), 5);
  checkHistory(
    history,
    adamReference({ ...o, decoupled: true }),
  );
});

Deno.test("RMSprop: plain, then centered with momentum and weight decay", async () => {
  const plain = { lr: 0.01 };
  checkHistory((await runOptimizer(rmsprop(plain), 5)).history, rmspropReference(plain));
  const o = { lr: 0.01, alpha: 0.9, eps: 1e-6, centered: true, momentum: 0.7, weightDecay: 0.02 };
  const { history, state } = await runOptimizer(rmsprop(o), 5);
  assert.deepEqual(state.slice(0, 3).map((s) => s.name), [
    "0.weight.square_avg",
    "0.weight.grad_avg",
    "0.weight.momentum_buffer",
  ]);
  checkHistory(history, rmspropReference(o), gradient, 5e-6);
});

Deno.test("Adagrad: learning-rate decay, weight decay and an initial accumulator", async () => {
  const o = { lr: 0.1, lrDecay: 0.25, weightDecay: 0.03, initialAccumulatorValue: 0.5 };
  const { history, state } = await runOptimizer(adagrad(o), 5);
  assert.deepEqual(state[1], {
    name: "0.weight.sum",
    shape: [2, 3],
    init: { kind: "constant", value: 0.5 },
  });
  checkHistory(history, adagradReference(o));
});

Deno.test("parameter groups: AdamW without decay on biases, each group's lr its own input", async () => {
  const o = adamW({
    lr: 0.01,
    weightDecay: 0.5,
    groups: [{
      params: (name) => name.endsWith(".bias") || /norm|bn/.test(name),
      weightDecay: 0,
      lr: 0.02,
    }],
  });
  const { history, hyper } = await runOptimizer(o, 4);
  assert.deepEqual(hyper, ["lr", "beta1", "lr.group1", "beta1.group1"]);
  const weight = adamReference({ lr: 0.01, weightDecay: 0.5, decoupled: true });
  const bias = adamReference({ lr: 0.02, weightDecay: 0, decoupled: true });
  checkHistory(history, (t, k, ...rest) => (k === 0 ? weight : bias)(t, k, ...rest));
  // The bias with weight decay would have moved elsewhere.
  const decayed = await runOptimizer(adamW({ lr: 0.02, weightDecay: 0.5 }), 4);
  const b0 = history[3].get("0.bias")!, b1 = decayed.history[3].get("0.bias")!;
  assert.ok(Math.abs(b0[0] - b1[0]) > 1e-3, `${b0[0]} vs ${b1[0]}`);
});

Deno.test("parameter groups: RegExp and name lists, first match wins, SGD groups with own momentum", async () => {
  const o = sgd({
    lr: 1,
    groups: [
      { params: /bias$/, lr: 0.5 },
      { params: ["0.bias", "0.weight"], lr: 0.25, momentum: 0.5 },
    ],
  });
  const { history, hyper, state } = await runOptimizer(o, 3);
  // Group 0 (unselected parameters) is empty here, so it declares no input.
  assert.deepEqual(hyper, ["lr.group1", "lr.group2", "momentum.group2"]);
  assert.deepEqual(state.map((s) => s.name), ["0.weight.momentum_buffer"]);
  const weight = sgdReference({ lr: 0.25, momentum: 0.5 });
  const bias = sgdReference({ lr: 0.5 });
  checkHistory(history, (t, k, ...rest) => (k === 0 ? weight : bias)(t, k, ...rest));
});

Deno.test("parameter groups: a listed name that is not a parameter, or a bad option, is an error", () => {
  const b = createGraphBuilder();
  const w = b.input("w", { dtype: "float32", shape: [2] });
  const params = [{
    spec: { name: "w", shape: [2], init: { kind: "zeros" as const } },
    value: w,
    grad: w,
  }];
  assertThrowsMatch(
    () => applyOptimizer(b, sgd({ lr: 1, groups: [{ params: ["fc.bias"] }] }), params),
    CompileError,
    "Cannot apply optimizer: parameter group 1 names fc.bias, which is not a parameter (parameters: w)",
  );
  assertThrowsMatch(
    () => adam({ groups: [{ params: /x/, betas: [0.9, 1] }] }),
    RangeError,
    "Cannot create Adam: parameter group 1: betas[1] must be in [0, 1), got 1",
  );
});

Deno.test("clipGradNorm: gradients over the global L2 norm are scaled, under it unchanged", async () => {
  const g = (_t: number, k: number, n: number) => gradient(1, k, n, 3);
  const all = PARAMS.flatMap((p, k) => g(1, k, p.init.length));
  const total = Math.sqrt(all.reduce((s, x) => s + x * x, 0));
  assert.ok(total > 2, `total norm ${total}`);
  const clipped = await runOptimizer(sgd({ lr: 1, clipGradNorm: 1.5 }), 1, g);
  const coef = 1.5 / (total + 1e-6);
  checkHistory(clipped.history, (_t, _k, p, grad) => map2(p, grad, (x, d) => x - coef * d), g);
  const unclipped = await runOptimizer(sgd({ lr: 1, clipGradNorm: total * 1.01 }), 1, g);
  // coef ≥ 1 is clamped to 1: exactly plain SGD.
  checkHistory(unclipped.history, (_t, _k, p, grad) => map2(p, grad, (x, d) => x - d), g, 1e-7);
});

Deno.test("clipGradNorm with norm types 1 and ∞, then Adam on the clipped gradients", async () => {
  const g = (_t: number, k: number, n: number) => gradient(1, k, n, 3);
  const all = PARAMS.flatMap((p, k) => g(1, k, p.init.length));
  const l1 = all.reduce((s, x) => s + Math.abs(x), 0);
  const linf = Math.max(...all.map(Math.abs));
  const one = await runOptimizer(sgd({ lr: 1, clipGradNorm: { maxNorm: 2, normType: 1 } }), 1, g);
  checkHistory(one.history, (_t, _k, p, d) => map2(p, d, (x, y) => x - 2 / (l1 + 1e-6) * y), g);
  const inf = await runOptimizer(
    sgd({ lr: 1, clipGradNorm: { maxNorm: 1, normType: Infinity } }),
    1,
    g,
  );
  checkHistory(inf.history, (_t, _k, p, d) => map2(p, d, (x, y) => x - 1 / (linf + 1e-6) * y), g);
  // Clipping happens before the optimizer: Adam sees the scaled gradient.
  const steps = (t: number, k: number, n: number) => gradient(t, k, n, 3);
  const { history } = await runOptimizer(
    adam({ lr: 0.01, weightDecay: 0.1, clipGradNorm: 1 }),
    3,
    steps,
  );
  const scaled = (t: number, k: number, n: number) => {
    const gs = PARAMS.map((p, j) => steps(t, j, p.init.length));
    const norm = Math.sqrt(gs.flat().reduce((s, x) => s + x * x, 0));
    return gs[k].map((x) => x * Math.min(1 / (norm + 1e-6), 1)).slice(0, n);
  };
  checkHistory(history, adamReference({ lr: 0.01, weightDecay: 0.1 }), scaled);
});

Deno.test("optimizer options are checked as PyTorch checks them", () => {
  assertThrowsMatch(
    () => adam({ betas: [1, 0.999] }),
    RangeError,
    "Cannot create Adam: betas[0] must be in [0, 1), got 1",
  );
  assertThrowsMatch(
    () => rmsprop({ alpha: -1 }),
    RangeError,
    "Cannot create RMSprop: alpha must be a finite number ≥ 0, got -1",
  );
  assertThrowsMatch(
    () => adagrad({ lrDecay: -0.1 }),
    RangeError,
    /lrDecay must be a finite number ≥ 0/,
  );
  assertThrowsMatch(
    () => sgd({ lr: 1, clipGradNorm: -1 }),
    RangeError,
    /maxNorm must be a finite number ≥ 0/,
  );
  assertThrowsMatch(
    () => adam({ weight_decay: 0.1 } as never),
    RangeError,
    "Cannot create Adam: unknown option weight_decay",
  );
  const o = adamW({});
  assert.deepEqual([o.lr, o.betas, o.eps, o.weightDecay, o.amsgrad], [
    1e-3,
    [0.9, 0.999],
    1e-8,
    1e-2,
    false,
  ]);
  assert.ok(Object.isFrozen(o) && Object.isFrozen(o.betas) && Object.isFrozen(o.groups));
});

// Through the compiler and trainer: a 2→2 linear classifier (as tests/sgd_test.ts), Adagrad with
// its constant-initialised accumulator, which the trainer creates from the state's init rule.
const X = [[1, 2], [0.5, -1]];
const Y = [0, 1];
const W0 = [0.1, 0.2, 0.3, 0.4];
const B0 = [0.05, -0.05];

function handGradients(w: Vec, b: Vec) {
  const dW = [0, 0, 0, 0], db = [0, 0];
  for (let i = 0; i < X.length; i++) {
    const logits = [0, 1].map((o) => X[i][0] * w[o * 2] + X[i][1] * w[o * 2 + 1] + b[o]);
    const z = Math.exp(logits[0]) + Math.exp(logits[1]);
    for (let o = 0; o < 2; o++) {
      const d = (Math.exp(logits[o]) / z - (o === Y[i] ? 1 : 0)) / X.length;
      db[o] += d;
      dW[o * 2] += d * X[i][0];
      dW[o * 2 + 1] += d * X[i][1];
    }
  }
  return { dW, db };
}

Deno.test("the compiled train step runs Adagrad and RMSprop as the formulas say, state included", async () => {
  for (
    const [opt, ref] of [
      [
        adagrad({ lr: 0.5, lrDecay: 0.1, initialAccumulatorValue: 0.2 }),
        adagradReference({ lr: 0.5, lrDecay: 0.1, initialAccumulatorValue: 0.2 }),
      ],
      [
        rmsprop({ lr: 0.01, centered: true, momentum: 0.9 }),
        rmspropReference({ lr: 0.01, centered: true, momentum: 0.9 }),
      ],
    ] as const
  ) {
    const compiled = compileModel({
      data: { sampleShape: [2], classes: 2 },
      model: linear(2, 2),
      loss: crossEntropy(),
      optimizer: opt,
    });
    const [wName, bName] = compiled.params.map((p) => p.name);
    const trainer = await createTrainer(compiled, {
      seed: 0,
      initial: new Map([[wName, Float32Array.from(W0)], [bName, Float32Array.from(B0)]]),
    });
    const st = new Map<string, Vec>();
    let w = [...W0], b = [...B0];
    for (let t = 1; t <= 3; t++) {
      const { dW, db } = handGradients(w, b);
      w = ref(t, 0, w, dW, st, wName);
      b = ref(t, 1, b, db, st, bName);
      await trainer.step({
        x: Float32Array.from(X.flat()),
        y: BigInt64Array.from(Y.map(BigInt)),
        size: 2,
      });
    }
    assertClose(trainer.params.get(wName)!.data as Float32Array, w, 2e-6, `${opt.kind} weight`);
    assertClose(trainer.params.get(bName)!.data as Float32Array, b, 2e-6, `${opt.kind} bias`);
    assert.deepEqual(compiled.state.map((s) => s.name).sort(), [...st.keys()].sort());
    await trainer.release();
  }
});
