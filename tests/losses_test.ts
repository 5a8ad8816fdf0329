/**
 * Losses: values of every loss and option combination against float64 references computed here
 * from the formulas and against PyTorch 1.13 numbers (hard-coded below, from
 * `torch.nn.functional` in float64), gradients w.r.t. the model output against finite
 * differences, eval metrics, and compile errors for mismatched targets.
 */
import { compileModel } from "../src/compile/compile.ts";
import { lossLowering } from "../src/compile/lower_loss.ts";
import { sequential } from "../src/dsl/graph.ts";
import { linear } from "../src/dsl/layers.ts";
import {
  bceWithLogits,
  crossEntropy,
  huber,
  l1,
  type Loss,
  mse,
  nllLoss,
  type Reduction,
  smoothL1,
} from "../src/dsl/losses.ts";
import { sgd } from "../src/dsl/optimizers.ts";
import { createTrainer } from "../src/train/trainer.ts";
import { CompileError } from "../src/ir/errors.ts";
import type { DType, Shape } from "../src/ir/types.ts";
import { assert, assertClose, assertThrowsMatch } from "./_assert.ts";
import { buildGraph, checkGradients, countOps, runGraph, tensor, values } from "./_harness.ts";

const REDUCTIONS: readonly Reduction[] = ["mean", "sum", "none"];

// ---- fixtures ----

/** Logits [4, 3] and class targets. */
const X = [[0.5, -1.2, 2.0], [1.5, 0.3, -0.7], [-0.4, 0.9, 0.1], [2.2, -0.3, 0.8]];
const T = [2, 0, 1, 1];
const T_IGNORED = [2, -100, 1, 1];
const W = [0.3, 1.5, 2.0];

/** Regression outputs [2, 3], float targets and binary targets. */
const XR = [[0.5, -1.2, 2.0], [1.5, 0.3, -0.7]];
const TR = [[0.8, -1.0, 0.4], [1.45, 1.6, -0.1]];
const TB = [[1.0, 0.0, 0.3], [0.0, 1.0, 1.0]];

/** PyTorch 1.13 (float64) values of the cases below, by case name and reduction. */
const TORCH: Record<string, number[]> = {
  "ce default mean": [0.9766986001706145],
  "ce default sum": [3.906794400682458],
  "ce default none": [
    0.23419613713579818,
    0.3450052766575144,
    0.5434055416160293,
    2.7841874452731163,
  ],
  "ce weight mean": [1.0496761014344471],
  "ce weight sum": [5.563283337602569],
  "ce weight none": [
    0.46839227427159635,
    0.10350158299725432,
    0.8151083124240439,
    4.176281167909675,
  ],
  "ce smooth mean": [1.0866986001706147],
  "ce smooth sum": [4.346794400682459],
  "ce smooth none": [0.5475294704691316, 0.571671943324181, 0.6834055416160293, 2.544187445273116],
  "ce all mean": [1.1112290630207808],
  "ce all sum": [5.5561453151039055],
  "ce all none": [0.7840435074916794, 0.0, 0.9224160538152959, 3.84968575379693],
  "ce ignore1 mean": [0.4216246307054139],
  "ce ignore1 sum": [0.969736650622452],
  "ce ignore1 none": [0.6262178908816378, 0.3435187597408141, 0.0, 0.0],
  "nll weight ignore mean": [1.091956350921063],
  "nll weight ignore sum": [5.459781754605316],
  "nll weight ignore none": [0.46839227427159635, 0.0, 0.8151083124240439, 4.176281167909675],
  "nll ignore2 mean": [1.22419942118222],
  "nll ignore2 sum": [3.67259826354666],
  "nll ignore2 none": [0.0, 0.3450052766575144, 0.5434055416160293, 2.7841874452731163],
  "mse mean": [0.7904166666666668],
  "mse sum": [4.742500000000001],
  "mse none": [0.09, 0.04, 2.56, 0.0025, 1.69, 0.36],
  "l1 mean": [0.6749999999999999],
  "l1 sum": [4.05],
  "l1 none": [0.3, 0.2, 1.6, 0.05, 1.3, 0.6],
  "smoothl1 mean": [0.48041666666666666],
  "smoothl1 sum": [2.8825],
  "smoothl1 none": [0.09, 0.04, 1.35, 0.0025, 1.05, 0.35],
  "smoothl1 beta0 mean": [0.6749999999999999],
  "smoothl1 beta0 sum": [4.05],
  "smoothl1 beta0 none": [0.3, 0.2, 1.6, 0.05, 1.3, 0.6],
  "huber mean": [0.29770833333333335],
  "huber sum": [1.7862500000000001],
  "huber none": [0.045, 0.02, 0.875, 0.00125, 0.665, 0.18],
  "bce mean": [0.9372070056496412],
  "bce sum": [5.6232420338978475],
  "bce none": [
    0.4740769841801067,
    0.2632824673380313,
    1.5269280110429726,
    1.7014132779827524,
    0.554355244468527,
    1.103186048885458,
  ],
  "bce pw mean": [2.0475040026677953],
  "bce pw sum": [12.285024016006773],
  "bce pw none": [
    0.23703849209005334,
    0.2632824673380314,
    3.2061696353375124,
    0.8507066389913762,
    1.108710488937054,
    6.619116293312747,
  ],
  "bce pw scalar mean": [0.7398155879306937],
  "bce pw scalar sum": [4.438893527584162],
  "bce pw scalar none": [
    0.5925962302251333,
    0.1316412336690157,
    0.7920228080061551,
    0.8507066389913762,
    0.6929440555856587,
    1.3789825611068225,
  ],
};

// ---- float64 references from the formulas ----

function reduce(losses: number[], r: Reduction, denominator = losses.length): number[] {
  const sum = losses.reduce((a, v) => a + v, 0);
  return r === "none" ? losses : r === "sum" ? [sum] : [sum / denominator];
}

function logSoftmax(row: number[]): number[] {
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
  return row.map((v) => v - lse);
}

/** PyTorch's nll_loss / cross_entropy (with label smoothing) on log-probabilities. */
function classRef(
  logp: number[][],
  t: number[],
  o: { weight?: number[]; ignoreIndex?: number; smoothing?: number; reduction: Reduction },
): number[] {
  const ignore = o.ignoreIndex ?? -100, eps = o.smoothing ?? 0;
  const w = (c: number) => o.weight?.[c] ?? 1;
  let weightSum = 0;
  const losses = logp.map((row, i) => {
    if (t[i] === ignore) return 0;
    weightSum += w(t[i]);
    const nll = -w(t[i]) * row[t[i]];
    const smooth = -row.reduce((a, v, c) => a + w(c) * v, 0);
    return (1 - eps) * nll + (eps / row.length) * smooth;
  });
  return reduce(losses, o.reduction, weightSum);
}

/** An elementwise loss `f(x, t, column)` on XR and `targets`, reduced. */
const elementwise = (
  f: (x: number, t: number, j: number) => number,
  targets: number[][],
  r: Reduction,
) => reduce(XR.flatMap((row, i) => row.map((x, j) => f(x, targets[i][j], j))), r);

const softplusNeg = (x: number) => Math.log1p(Math.exp(-Math.abs(x))) + Math.max(-x, 0);
const bce =
  (pw: (j: number) => number, w: (j: number) => number) => (x: number, t: number, j: number) =>
    w(j) * ((1 - t) * x + (1 + (pw(j) - 1) * t) * softplusNeg(x));

interface Case {
  readonly name: string;
  readonly loss: (reduction: Reduction) => Loss;
  readonly reference: (reduction: Reduction) => number[];
}

const classCases: Case[] = [
  {
    name: "ce default",
    loss: (reduction) => crossEntropy({ reduction }),
    reference: (reduction) => classRef(X.map(logSoftmax), T, { reduction }),
  },
  {
    name: "ce weight",
    loss: (reduction) => crossEntropy({ weight: W, reduction }),
    reference: (reduction) => classRef(X.map(logSoftmax), T, { weight: W, reduction }),
  },
  {
    name: "ce smooth",
    loss: (reduction) => crossEntropy({ labelSmoothing: 0.2, reduction }),
    reference: (reduction) => classRef(X.map(logSoftmax), T, { smoothing: 0.2, reduction }),
  },
  {
    name: "ce all",
    loss: (reduction) =>
      crossEntropy({ weight: W, labelSmoothing: 0.2, ignoreIndex: -100, reduction }),
    reference: (reduction) =>
      classRef(X.map(logSoftmax), T_IGNORED, { weight: W, smoothing: 0.2, reduction }),
  },
  {
    name: "ce ignore1",
    loss: (reduction) =>
      crossEntropy({ weight: W, ignoreIndex: 1, labelSmoothing: 0.1, reduction }),
    reference: (reduction) =>
      classRef(X.map(logSoftmax), T, { weight: W, ignoreIndex: 1, smoothing: 0.1, reduction }),
  },
  {
    name: "nll weight ignore",
    loss: (reduction) => nllLoss({ weight: W, ignoreIndex: -100, reduction }),
    reference: (reduction) => classRef(X.map(logSoftmax), T_IGNORED, { weight: W, reduction }),
  },
  {
    name: "nll ignore2",
    loss: (reduction) => nllLoss({ ignoreIndex: 2, reduction }),
    reference: (reduction) => classRef(X.map(logSoftmax), T, { ignoreIndex: 2, reduction }),
  },
];

/** Targets each class case is fed. */
const classTargets = (
  name: string,
) => (name === "ce all" || name === "nll weight ignore" ? T_IGNORED : T);

const regressionCases: (Case & { readonly targets: number[][] })[] = [
  {
    name: "mse",
    targets: TR,
    loss: (reduction) => mse({ reduction }),
    reference: (r) => elementwise((x, t) => (x - t) ** 2, TR, r),
  },
  {
    name: "l1",
    targets: TR,
    loss: (reduction) => l1({ reduction }),
    reference: (r) => elementwise((x, t) => Math.abs(x - t), TR, r),
  },
  {
    name: "smoothl1",
    targets: TR,
    loss: (reduction) => smoothL1({ beta: 0.5, reduction }),
    reference: (r) =>
      elementwise(
        (x, t) => {
          const z = Math.abs(x - t);
          return z < 0.5 ? 0.5 * z * z / 0.5 : z - 0.25;
        },
        TR,
        r,
      ),
  },
  {
    name: "smoothl1 beta0",
    targets: TR,
    loss: (reduction) => smoothL1({ beta: 0, reduction }),
    reference: (r) => elementwise((x, t) => Math.abs(x - t), TR, r),
  },
  {
    name: "huber",
    targets: TR,
    loss: (reduction) => huber({ delta: 0.7, reduction }),
    reference: (r) =>
      elementwise(
        (x, t) => {
          const z = Math.abs(x - t);
          return z < 0.7 ? 0.5 * z * z : 0.7 * (z - 0.35);
        },
        TR,
        r,
      ),
  },
  {
    name: "bce",
    targets: TB,
    loss: (reduction) => bceWithLogits({ reduction }),
    reference: (r) => elementwise(bce(() => 1, () => 1), TB, r),
  },
  {
    name: "bce pw",
    targets: TB,
    loss: (reduction) => bceWithLogits({ posWeight: [1, 2, 3], weight: [0.5, 1, 2], reduction }),
    reference: (r) => elementwise(bce((j) => [1, 2, 3][j], (j) => [0.5, 1, 2][j]), TB, r),
  },
  {
    name: "bce pw scalar",
    targets: TB,
    loss: (reduction) => bceWithLogits({ posWeight: 2.5, weight: 0.5, reduction }),
    reference: (r) => elementwise(bce(() => 2.5, () => 0.5), TB, r),
  },
];

// ---- graph helpers ----

/** Runs a loss's `value` (or `train`) on a graph input `output` of the given data. */
async function lossValue(
  loss: Loss,
  output: number[][],
  target: number[] | number[][],
  what: "value" | "train" = "value",
  dtype: "float32" | "float64" = "float64",
): Promise<number[]> {
  const lowering = lossLowering(loss);
  const classes = !Array.isArray(target[0]);
  const targetDtype: DType = classes ? "int64" : dtype;
  const cols = output[0].length;
  const targetShape: Shape = classes ? ["N"] : ["N", cols];
  const graph = buildGraph("loss", (b) => {
    const out = b.input("output", { dtype, shape: ["N", cols] });
    const t = b.input("target", { dtype: targetDtype, shape: targetShape });
    b.output("loss", lowering[what](b, out, t));
  });
  const res = await runGraph(graph, {
    output: tensor(dtype, [output.length, cols], output.flat()),
    target: tensor(targetDtype, classes ? [target.length] : [target.length, cols], target.flat()),
  });
  return values(res.loss);
}

// ---- values ----

for (const c of classCases) {
  Deno.test(`${c.name}: value of every reduction matches the formula and PyTorch 1.13`, async () => {
    for (const r of REDUCTIONS) {
      const input = c.name.startsWith("nll") ? X.map(logSoftmax) : X;
      const got = await lossValue(c.loss(r), input, classTargets(c.name));
      const ref = c.reference(r);
      assertClose(got, ref, 1e-12, `${c.name} ${r} vs formula`);
      assertClose(got, TORCH[`${c.name} ${r}`], 1e-12, `${c.name} ${r} vs PyTorch`);
    }
  });
}

for (const c of regressionCases) {
  Deno.test(`${c.name}: value of every reduction matches the formula and PyTorch 1.13`, async () => {
    for (const r of REDUCTIONS) {
      const got = await lossValue(c.loss(r), XR, c.targets);
      assertClose(got, c.reference(r), 1e-12, `${c.name} ${r} vs formula`);
      assertClose(got, TORCH[`${c.name} ${r}`], 1e-12, `${c.name} ${r} vs PyTorch`);
    }
  });
}

Deno.test("nllLoss takes log-probabilities: on log_softmax outputs it equals cross-entropy", async () => {
  const logp = X.map(logSoftmax);
  for (const r of REDUCTIONS) {
    const nll = await lossValue(nllLoss({ weight: W, reduction: r }), logp, T);
    assertClose(nll, TORCH[`ce weight ${r}`], 1e-12, `nll ${r}`);
  }
});

Deno.test("nllLoss ignores -inf log-probabilities of classes other than the target", async () => {
  const logp = [[Math.log(0.25), -Infinity, Math.log(0.75)], [
    -Infinity,
    Math.log(0.5),
    Math.log(0.5),
  ]];
  const got = await lossValue(nllLoss(), logp, [2, 1]);
  assertClose(got, [(-Math.log(0.75) - Math.log(0.5)) / 2], 1e-12);
});

Deno.test("reduction none trains on the mean of the per-element loss", async () => {
  for (
    const [loss, x, t] of [
      [crossEntropy({ reduction: "none" }), X, T],
      [crossEntropy({ weight: W, reduction: "none" }), X, T],
      [huber({ reduction: "none", delta: 0.7 }), XR, TR],
    ] as const
  ) {
    const perElement = await lossValue(loss, x as number[][], t as number[] | number[][]);
    const train = await lossValue(loss, x as number[][], t as number[] | number[][], "train");
    const mean = perElement.reduce((a, v) => a + v, 0) / perElement.length;
    assertClose(train, [mean], 1e-12, loss.kind);
  }
  // "mean" and "sum" train on the value itself.
  assertClose(
    await lossValue(crossEntropy({ weight: W, reduction: "sum" }), X, T, "train"),
    TORCH["ce weight sum"],
    1e-12,
  );
});

Deno.test("default cross-entropy is the fused SoftmaxCrossEntropyLoss; options decompose it", () => {
  const graphOf = (loss: Loss) =>
    buildGraph("ce", (b) => {
      const out = b.input("output", { dtype: "float32", shape: ["N", 3] });
      const t = b.input("target", { dtype: "int64", shape: ["N"] });
      b.output("loss", lossLowering(loss).train(b, out, t));
    });
  assert.equal(countOps(graphOf(crossEntropy()), "SoftmaxCrossEntropyLoss"), 1);
  assert.equal(countOps(graphOf(crossEntropy({ reduction: "sum" })), "SoftmaxCrossEntropyLoss"), 1);
  for (
    const loss of [
      crossEntropy({ weight: W }),
      crossEntropy({ labelSmoothing: 0.1 }),
      crossEntropy({ ignoreIndex: -100 }),
    ]
  ) {
    const g = graphOf(loss);
    assert.equal(countOps(g, "SoftmaxCrossEntropyLoss"), 0);
    assert.equal(countOps(g, "LogSoftmax"), 1);
  }
});

Deno.test("float32 graphs give the float64 values to float32 precision", async () => {
  assertClose(
    await lossValue(
      crossEntropy({ weight: W, labelSmoothing: 0.2 }),
      X,
      T_IGNORED,
      "value",
      "float32",
    ),
    TORCH["ce all mean"],
    1e-6,
  );
  assertClose(
    await lossValue(
      bceWithLogits({ posWeight: [1, 2, 3], weight: [0.5, 1, 2] }),
      XR,
      TB,
      "value",
      "float32",
    ),
    TORCH["bce pw mean"],
    1e-6,
  );
});

// ---- gradients w.r.t. the model output ----

const classGradCases: [string, Loss, number[]][] = [
  ["cross-entropy default", crossEntropy(), [2, 0, 1, 1]],
  ["cross-entropy sum", crossEntropy({ reduction: "sum" }), [2, 0, 1, 1]],
  ["cross-entropy weight", crossEntropy({ weight: W }), [2, 0, 1, 1]],
  ["cross-entropy smoothing", crossEntropy({ labelSmoothing: 0.3 }), [2, 0, 1, 1]],
  [
    "cross-entropy weight + smoothing + ignore",
    crossEntropy({ weight: W, labelSmoothing: 0.3, ignoreIndex: 1 }),
    [2, 1, 0, 1],
  ],
  [
    "cross-entropy none",
    crossEntropy({ weight: W, labelSmoothing: 0.1, reduction: "none" }),
    [2, 0, 1, 1],
  ],
  ["nll weight + ignore", nllLoss({ weight: W, ignoreIndex: -100 }), [2, -100, 1, 0]],
  ["nll sum", nllLoss({ reduction: "sum" }), [2, 0, 1, 0]],
];

for (const [name, loss, targets] of classGradCases) {
  Deno.test(`${name} gradient w.r.t. the output`, async () => {
    const lowering = lossLowering(loss);
    for (const what of ["value", "train"] as const) {
      await checkGradients({
        inputs: {
          output: { shape: ["N", 3], dims: [4, 3] },
          target: { shape: ["N"], dtype: "int64", dims: [4], data: targets },
        },
        wrt: ["output"],
        build: (b, x) => lowering[what](b, x.output, x.target),
      });
    }
  });
}

const regressionGradCases: [string, Loss][] = [
  ["mse", mse()],
  ["mse sum", mse({ reduction: "sum" })],
  ["l1", l1()],
  ["smooth-l1", smoothL1({ beta: 0.5 })],
  ["smooth-l1 beta 0", smoothL1({ beta: 0, reduction: "none" })],
  ["huber", huber({ delta: 0.4, reduction: "sum" })],
  ["bce-with-logits", bceWithLogits()],
  ["bce-with-logits weights", bceWithLogits({ posWeight: [1, 2, 3], weight: [0.5, 1, 2] })],
  ["bce-with-logits none", bceWithLogits({ posWeight: 3, reduction: "none" })],
];

for (const [name, loss] of regressionGradCases) {
  Deno.test(`${name} gradient w.r.t. the output`, async () => {
    const lowering = lossLowering(loss);
    const isBce = loss.kind === "bce-with-logits";
    for (const what of ["value", "train"] as const) {
      await checkGradients({
        inputs: {
          output: { shape: ["N", 3], dims: [4, 3] },
          target: isBce
            ? { shape: ["N", 3], dims: [4, 3], data: [1, 0, 0.3, 0, 1, 1, 0.5, 0, 1, 1, 0.2, 0] }
            : { shape: ["N", 3], dims: [4, 3] },
        },
        wrt: ["output"],
        build: (b, x) => lowering[what](b, x.output, x.target),
      });
    }
  });
}

Deno.test("bce-with-logits gradient at logits exactly 0 is PyTorch's (σ(0)·lw − … )", async () => {
  // PyTorch 1.13: the gradient of the mean loss w.r.t. all-zero logits, pos_weight [1, 2, 3].
  const torchGrad = [
    -0.08333333333333333,
    0.08333333333333333,
    -0.016666666666666663,
    0.08333333333333333,
    -0.16666666666666666,
    -0.25,
  ];
  const { grads } = await checkGradients({
    inputs: {
      output: { shape: ["N", 3], dims: [2, 3], data: [0, 0, 0, 0, 0, 0] },
      target: { shape: ["N", 3], dims: [2, 3], data: TB.flat() },
    },
    wrt: ["output"],
    build: (b, x) =>
      lossLowering(bceWithLogits({ posWeight: [1, 2, 3] })).value(b, x.output, x.target),
  });
  assertClose(values(grads.output), torchGrad, 1e-12);
});

// ---- eval metrics ----

async function evalMetrics(loss: Loss, output: number[][], target: number[] | number[][]) {
  const lowering = lossLowering(loss);
  const classes = !Array.isArray(target[0]);
  const cols = output[0].length;
  let hasCorrect = false;
  const graph = buildGraph("eval", (b) => {
    const out = b.input("output", { dtype: "float32", shape: ["N", cols] });
    const t = b.input("target", {
      dtype: classes ? "int64" : "float32",
      shape: classes ? ["N"] : ["N", cols],
    });
    const m = lowering.eval(b, out, t);
    b.output("loss_sum", m.lossSum);
    if (m.correct) {
      hasCorrect = true;
      b.output("correct", m.correct);
    }
  });
  const res = await runGraph(graph, {
    output: tensor("float32", [output.length, cols], output.flat()),
    target: tensor(
      classes ? "int64" : "float32",
      classes ? [target.length] : [target.length, cols],
      target.flat(),
    ),
  });
  return {
    lossSum: values(res.loss_sum)[0],
    correct: hasCorrect ? values(res.correct)[0] : undefined,
  };
}

Deno.test("eval: loss sum is N × the training objective; correct counts argmax hits", async () => {
  // argmax of X: [2, 0, 1, 0]; targets [2, 0, 1, 1] → 3 hits.
  const n = X.length;
  for (
    const [loss, key] of [
      [crossEntropy(), "ce default mean"],
      [crossEntropy({ reduction: "sum" }), "ce default sum"],
      [crossEntropy({ weight: W }), "ce weight mean"],
      [crossEntropy({ weight: W, reduction: "sum" }), "ce weight sum"],
      [crossEntropy({ labelSmoothing: 0.2, reduction: "none" }), "ce smooth mean"],
    ] as const
  ) {
    const m = await evalMetrics(loss, X, T);
    assert.equal(m.correct, 3, `${key} correct`);
    assertClose([m.lossSum], [TORCH[key][0] * n], 1e-5, `${key} loss sum`);
  }
  // Ignored targets count as misses: [2, -100, 1, 1] → 2 hits.
  const m = await evalMetrics(nllLoss({ weight: W }), X.map(logSoftmax), T_IGNORED);
  assert.equal(m.correct, 2);
  assertClose([m.lossSum], [TORCH["nll weight ignore mean"][0] * n], 1e-5);
});

Deno.test("eval: regression losses have no correct count; bce counts element hits per sample", async () => {
  const m = await evalMetrics(mse(), XR, TR);
  assert.equal(m.correct, undefined);
  // Per-sample loss: each sample's mean over its 3 elements, summed over the batch.
  assertClose([m.lossSum], [TORCH["mse mean"][0] * XR.length], 1e-5);
  // (x > 0) vs (t > 0.5): [1,0,1] vs [1,0,0] → 2 hits; [1,1,0] vs [0,1,1] → 1 hit.
  const b = await evalMetrics(bceWithLogits(), XR, TB);
  assertClose([b.correct!], [3 / 3], 1e-6);
  assertClose([b.lossSum], [TORCH["bce mean"][0] * XR.length], 1e-5);
});

// ---- compile errors ----

const tinyModel = sequential(linear(4, 3));
const compile = (
  loss: Loss,
  data: { sampleShape: number[]; classes?: number; targetShape?: number[] },
) => compileModel({ data, model: tinyModel, loss, optimizer: sgd({ lr: 0.1 }) });

Deno.test("compile errors name both shapes when targets do not fit the loss", () => {
  assertThrowsMatch(
    () => compile(mse(), { sampleShape: [4], targetShape: [1] }),
    CompileError,
    "Cannot compile model: mse expects targets of the model output's shape [N, 3], got [N, 1]",
  );
  assertThrowsMatch(
    () => compile(huber(), { sampleShape: [4], classes: 3 }),
    CompileError,
    "Cannot compile model: huber expects float targets of the model output's shape [N, 3], but the data gives class-index targets of shape [N]",
  );
  assertThrowsMatch(
    () => compile(crossEntropy(), { sampleShape: [4], targetShape: [3] }),
    CompileError,
    "Cannot compile model: cross-entropy expects class-index targets, but the data gives float targets of shape [N, 3]",
  );
  assertThrowsMatch(
    () => compile(nllLoss(), { sampleShape: [4], classes: 5 }),
    CompileError,
    "Cannot compile model: nll expects model output of shape [N, 5] for 5 classes, got [N, 3]",
  );
  assertThrowsMatch(
    () => compile(crossEntropy({ weight: [1, 2] }), { sampleShape: [4], classes: 3 }),
    CompileError,
    "Cannot compile model: cross-entropy expects 3 class weights for model output of shape [N, 3], got 2",
  );
  assertThrowsMatch(
    () => compile(bceWithLogits({ posWeight: [1, 2] }), { sampleShape: [4], targetShape: [3] }),
    CompileError,
    "Cannot compile model: bce-with-logits expects posWeight of length 3 (the last dimension of the model output's shape [N, 3]), got 2",
  );
});

Deno.test("every loss compiles with fitting targets; regression eval graphs have no correct output", () => {
  const classData = { sampleShape: [4], classes: 3 };
  const floatData = { sampleShape: [4], targetShape: [3] };
  for (
    const loss of [crossEntropy(), crossEntropy({ weight: W, labelSmoothing: 0.1 }), nllLoss()]
  ) {
    const c = compile(loss, classData);
    assert.ok(c.eval.outputs.some((o) => o.name === "correct"), loss.kind);
  }
  for (const loss of [mse(), l1(), smoothL1(), huber({ reduction: "none" })]) {
    const c = compile(loss, floatData);
    assert.deepEqual(c.eval.outputs.map((o) => o.name), ["loss_sum", "logits"], loss.kind);
    assert.deepEqual(c.train.outputs[0].value.type.shape, [], `${loss.kind} scalar loss`);
  }
  const c = compile(bceWithLogits({ posWeight: [1, 2, 3] }), floatData);
  assert.ok(c.eval.outputs.some((o) => o.name === "correct"));
});

Deno.test("loss builders reject invalid options", () => {
  assertThrowsMatch(
    () => crossEntropy({ labelSmoothing: 1.5 }),
    RangeError,
    "Cannot create loss cross-entropy: labelSmoothing must be in [0, 1], got 1.5",
  );
  assertThrowsMatch(
    () => smoothL1({ beta: -1 }),
    RangeError,
    "Cannot create loss smooth-l1: beta must be ≥ 0, got -1",
  );
  assertThrowsMatch(
    () => huber({ delta: 0 }),
    RangeError,
    "Cannot create loss huber: delta must be > 0, got 0",
  );
  assertThrowsMatch(
    () => nllLoss({ ignoreIndex: 1.5 }),
    RangeError,
    "Cannot create loss nll: ignoreIndex must be an integer, got 1.5",
  );
  assertThrowsMatch(
    () => mse({ reduction: "avg" as Reduction }),
    RangeError,
    'Cannot create loss mse: reduction must be "mean", "sum" or "none", got "avg"',
  );
  assertThrowsMatch(
    () => bceWithLogits({ weight: [1, NaN] }),
    RangeError,
    "Cannot create loss bce-with-logits: weight[1] must be a finite number, got NaN",
  );
});

Deno.test("trainer: a regression loss trains and evaluates without a correct count", async () => {
  const weight = [0.1, -0.2, 0.3, 0.4, 0.5, 0.6, -0.7, 0.8, -0.9, 1.0, 0.2, -0.1];
  const bias = [0.05, -0.05, 0.1];
  const x = [1, 2, -1, 0.5, -0.5, 0.25, 2, -1];
  const y = [0.5, 1.0, -0.5, 0.2, 0.1, 0.3];
  const out = [0, 1].flatMap((i) =>
    [0, 1, 2].map((o) =>
      bias[o] + [0, 1, 2, 3].reduce((a, k) => a + weight[o * 4 + k] * x[i * 4 + k], 0)
    )
  );
  const expected = out.reduce((a, v, i) => a + (v - y[i]) ** 2, 0) / out.length;
  const compiled = compile(mse(), { sampleShape: [4], targetShape: [3] });
  const trainer = await createTrainer(compiled, {
    seed: 1,
    initial: new Map([["0.weight", Float32Array.from(weight)], [
      "0.bias",
      Float32Array.from(bias),
    ]]),
  });
  try {
    const batch = { x: Float32Array.from(x), y: Float32Array.from(y), size: 2 };
    const r = await trainer.evaluate([batch]);
    assert.ok(Number.isNaN(r.correct));
    assertClose([r.batchLossSum, r.lossSum], [expected, 2 * expected], 1e-5);
    assertClose([await trainer.step(batch)], [expected], 1e-5);
    assert.ok(
      (await trainer.evaluate([batch])).batchLossSum < expected,
      "one step lowers the loss",
    );
  } finally {
    await trainer.release();
  }
});
