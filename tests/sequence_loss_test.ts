/**
 * Sequence losses: `crossEntropy` and `nllLoss` on per-position targets `[N, T]` with logits
 * `[N, C, T]` (PyTorch's layout) and `[N, T, C]` (a language model's), against PyTorch 2.13's
 * `torch.nn.functional.cross_entropy` / `nll_loss` (values and gradients w.r.t. the logits from
 * tests/fixtures/sequence_loss_reference.json, written by make_sequence_loss_fixtures.py);
 * gradients against finite differences; the layout choice and its errors; the data path
 * (tensorDataset with `labelShape`, the loader, the target input `[N, T]`); and a tiny sequence
 * model trained with compileModel + createTrainer step for step against PyTorch.
 */
import { compileModel, type DataSignature } from "../src/compile/compile.ts";
import { lossLowering } from "../src/compile/lower_loss.ts";
import { NAMES } from "../src/compile/names.ts";
import { createLoader } from "../src/data/loader.ts";
import { tensorDataset } from "../src/dsl/datasets.ts";
import { sequential } from "../src/dsl/graph.ts";
import { embedding, flatten, linear, reshape } from "../src/dsl/layers.ts";
import {
  type ClassLoss,
  crossEntropy,
  type Loss,
  nllLoss,
  type Reduction,
} from "../src/dsl/losses.ts";
import { sgd } from "../src/dsl/optimizers.ts";
import { CompileError } from "../src/ir/errors.ts";
import type { Shape } from "../src/ir/types.ts";
import { createTrainer } from "../src/train/trainer.ts";
import { assert, assertClose, assertThrowsMatch } from "./_assert.ts";
import { buildGraph, checkGradients, countOps, runGraph, tensor, values } from "./_harness.ts";

interface CaseRef {
  readonly value: number[];
  readonly grad_last?: number[];
  readonly grad_first: number[];
}
interface TrainRun {
  readonly layout: "last" | "first";
  readonly loss_options: {
    readonly ignore_index?: number;
    readonly label_smoothing?: number;
    readonly weight?: number[];
  };
  readonly init: Record<string, number[]>;
  readonly x: number[][];
  readonly y: number[][];
  readonly losses: number[];
  readonly eval: { readonly loss: number; readonly hits: number; readonly tokens: number }[];
}
const REF = JSON.parse(
  await Deno.readTextFile(new URL("./fixtures/sequence_loss_reference.json", import.meta.url)),
) as {
  readonly logits_last: number[];
  readonly logits_first: number[];
  readonly shape_last: [number, number, number];
  readonly weight: number[];
  readonly targets: Record<"ignore" | "valid" | "pad", number[][]>;
  readonly rank4: { readonly logits: number[]; readonly targets: number[] };
  readonly cases: Record<string, CaseRef>;
  readonly train: {
    readonly vocab: number;
    readonly embed: number;
    readonly steps_len: number;
    readonly classes: number;
    readonly lr: number;
    readonly momentum: number;
    readonly batch: number;
    readonly runs: TrainRun[];
  };
};

const [N, T, C] = REF.shape_last;
const REDUCTIONS: readonly Reduction[] = ["mean", "sum", "none"];
const W = REF.weight;

/** The fixture's option sets as losses (PyTorch's keyword arguments in the generator). */
const OPTION_SETS: Record<string, [(r: Reduction) => ClassLoss, "ignore" | "valid" | "pad"]> = {
  "ce default": [(reduction) => crossEntropy({ reduction }), "valid"],
  "ce ignore": [(reduction) => crossEntropy({ ignoreIndex: -100, reduction }), "ignore"],
  "ce ignore smooth": [
    (reduction) => crossEntropy({ ignoreIndex: -100, labelSmoothing: 0.2, reduction }),
    "ignore",
  ],
  "ce weight ignore": [
    (reduction) => crossEntropy({ ignoreIndex: -100, weight: W, reduction }),
    "ignore",
  ],
  "ce weight smooth ignore": [
    (reduction) => crossEntropy({ ignoreIndex: -100, weight: W, labelSmoothing: 0.15, reduction }),
    "ignore",
  ],
  "ce smooth": [(reduction) => crossEntropy({ labelSmoothing: 0.1, reduction }), "valid"],
  "ce pad0 weight smooth": [
    (reduction) => crossEntropy({ ignoreIndex: 0, weight: W, labelSmoothing: 0.1, reduction }),
    "pad",
  ],
  "nll weight ignore": [
    (reduction) => nllLoss({ ignoreIndex: -100, weight: W, reduction }),
    "ignore",
  ],
  "nll ignore": [(reduction) => nllLoss({ ignoreIndex: -100, reduction }), "ignore"],
};

/** log_softmax over `axis` of a row-major tensor of `dims`. */
function logSoftmax(data: readonly number[], dims: readonly number[], axis: number): number[] {
  const size = dims[axis], inner = dims.slice(axis + 1).reduce((a, d) => a * d, 1);
  const outer = data.length / (size * inner), out = [...data];
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (c: number) => o * size * inner + c * inner + i;
      let m = -Infinity;
      for (let c = 0; c < size; c++) m = Math.max(m, data[at(c)]);
      let s = 0;
      for (let c = 0; c < size; c++) s += Math.exp(data[at(c)] - m);
      for (let c = 0; c < size; c++) out[at(c)] = data[at(c)] - m - Math.log(s);
    }
  }
  return out;
}

const LAYOUTS = {
  last: { dims: [N, T, C], shape: ["N", T, C] as Shape, axis: 2 },
  first: { dims: [N, C, T], shape: ["N", C, T] as Shape, axis: 1 },
} as const;

/** The analytic gradient w.r.t. the logits `[N, ...]` of the training objective, targets `[N, T]`. */
function gradient(loss: Loss, logits: readonly number[], shape: Shape, targets: readonly number[]) {
  const lowering = lossLowering(loss);
  return checkGradients({
    inputs: {
      output: { shape, dims: [N, ...(shape.slice(1) as number[])], data: logits },
      target: { shape: ["N", T], dtype: "int64", dims: [N, T], data: targets },
    },
    wrt: ["output"],
    build: (b, x) => lowering.train(b, x.output, x.target),
  });
}

// ---- values and gradients against PyTorch ----

for (const [name, [make, targetSet]] of Object.entries(OPTION_SETS)) {
  for (const layout of ["last", "first"] as const) {
    Deno.test(`${name}, logits ${layout === "last" ? "[N, T, C]" : "[N, C, T]"}: values and gradients match PyTorch`, async () => {
      const { dims, shape, axis } = LAYOUTS[layout];
      const raw = layout === "last" ? REF.logits_last : REF.logits_first;
      const input = name.startsWith("nll") ? logSoftmax(raw, dims, axis) : raw;
      const targets = REF.targets[targetSet].flat();
      for (const r of REDUCTIONS) {
        const ref = REF.cases[`${name} ${r}`];
        const loss = make(r);
        const lowering = lossLowering(loss);
        const graph = buildGraph("loss", (b) => {
          const out = b.input("output", { dtype: "float64", shape });
          const t = b.input("target", { dtype: "int64", shape: ["N", T] });
          b.output("loss", lowering.value(b, out, t));
        });
        const res = await runGraph(graph, {
          output: tensor("float64", dims, input),
          target: tensor("int64", [N, T], targets),
        });
        assert.deepEqual([...res.loss.dims], r === "none" ? [N, T] : []);
        assertClose(values(res.loss), ref.value, 1e-12, `${name} ${layout} ${r} value`);
        // Gradient of the training objective (the mean of "none"), w.r.t. the raw logits for
        // cross-entropy; nll's is w.r.t. its log-probability input, checked by finite
        // differences below.
        const g = await gradient(loss, input, shape, targets);
        if (!name.startsWith("nll")) {
          const grad = layout === "last" ? ref.grad_last! : ref.grad_first;
          assertClose(values(g.grads.output), grad, 1e-12, `${name} ${layout} ${r} gradient`);
        }
      }
    });
  }
}

Deno.test("a batch whose sequences are all ignored: mean is 0/0 = NaN, as PyTorch's", async () => {
  // PyTorch: cross_entropy with every target ignored gives nan for "mean", 0 for "sum".
  for (const [r, expected] of [["mean", NaN], ["sum", 0]] as const) {
    const lowering = lossLowering(crossEntropy({ ignoreIndex: -100, reduction: r }));
    const graph = buildGraph("loss", (b) => {
      const out = b.input("output", { dtype: "float32", shape: ["N", T, C] });
      const t = b.input("target", { dtype: "int64", shape: ["N", T] });
      b.output("loss", lowering.value(b, out, t));
    });
    const res = await runGraph(graph, {
      output: tensor("float32", [1, T, C], REF.logits_last.slice(0, T * C)),
      target: tensor("int64", [1, T], Array(T).fill(-100)),
    });
    const [got] = values(res.loss);
    assert.ok(Number.isNaN(expected) ? Number.isNaN(got) : got === expected, `${r}: ${got}`);
  }
});

Deno.test("rank 4: logits [N, C, d1, d2] with targets [N, d1, d2] match PyTorch", async () => {
  const loss = (reduction: Reduction) =>
    crossEntropy({ ignoreIndex: -100, weight: [0.5, 2, 1], labelSmoothing: 0.1, reduction });
  for (const r of REDUCTIONS) {
    const ref = REF.cases[`rank4 ${r}`];
    const lowering = lossLowering(loss(r));
    const graph = buildGraph("loss", (b) => {
      const out = b.input("output", { dtype: "float64", shape: ["N", 3, 2, 2] });
      const t = b.input("target", { dtype: "int64", shape: ["N", 2, 2] });
      b.output("loss", lowering.value(b, out, t));
    });
    const res = await runGraph(graph, {
      output: tensor("float64", [2, 3, 2, 2], REF.rank4.logits),
      target: tensor("int64", [2, 2, 2], REF.rank4.targets),
    });
    assertClose(values(res.loss), ref.value, 1e-12, `rank4 ${r}`);
    const g = await checkGradients({
      inputs: {
        output: { shape: ["N", 3, 2, 2], dims: [2, 3, 2, 2], data: REF.rank4.logits },
        target: { shape: ["N", 2, 2], dtype: "int64", dims: [2, 2, 2], data: REF.rank4.targets },
      },
      wrt: ["output"],
      build: (b, x) => lowering.train(b, x.output, x.target),
    });
    assertClose(values(g.grads.output), ref.grad_first, 1e-12, `rank4 ${r} gradient`);
  }
});

Deno.test("float32 graphs give PyTorch's float64 numbers to float32 rounding", async () => {
  for (const layout of ["last", "first"] as const) {
    const { dims, shape } = LAYOUTS[layout];
    const raw = layout === "last" ? REF.logits_last : REF.logits_first;
    for (const name of ["ce default", "ce weight smooth ignore"]) {
      const [make, targetSet] = OPTION_SETS[name];
      const ref = REF.cases[`${name} mean`];
      const g = await checkGradients({
        inputs: {
          output: { shape, dims, data: raw },
          target: {
            shape: ["N", T],
            dtype: "int64",
            dims: [N, T],
            data: REF.targets[targetSet].flat(),
          },
        },
        wrt: ["output"],
        dtype: "float32",
        build: (b, x) => lossLowering(make("mean")).train(b, x.output, x.target),
      });
      assertClose([g.loss], ref.value, 2e-6 * Math.abs(ref.value[0]), `${name} ${layout}`);
      const grad = layout === "last" ? ref.grad_last! : ref.grad_first;
      assertClose(values(g.grads.output), grad, 1e-6, `${name} ${layout} gradient`);
    }
  }
});

// ---- finite differences ----

const fdCases: [string, ClassLoss, Shape, number[]][] = [
  ["fused, classes last", crossEntropy(), ["N", 3, 4], [1, 0, 3, 2, 2, 2]],
  ["fused sum, classes first", crossEntropy({ reduction: "sum" }), ["N", 4, 3], [
    1,
    0,
    3,
    2,
    2,
    2,
  ]],
  [
    "weight + smoothing + ignore, classes last, none",
    crossEntropy({
      ignoreIndex: -100,
      weight: [1, 2, 0.5, 1.5],
      labelSmoothing: 0.2,
      reduction: "none",
    }),
    ["N", 3, 4],
    [1, -100, 3, -100, -100, -100],
  ],
  [
    "nll weight + ignore, classes first",
    nllLoss({ ignoreIndex: 2, weight: [1, 2, 0.5, 1.5] }),
    ["N", 4, 3],
    [1, 2, 3, 0, 2, 2],
  ],
];

for (const [name, loss, shape, targets] of fdCases) {
  Deno.test(`${name}: gradient w.r.t. the logits matches finite differences`, async () => {
    const lowering = lossLowering(loss);
    for (const what of ["value", "train"] as const) {
      await checkGradients({
        inputs: {
          output: { shape, dims: [2, shape[1] as number, shape[2] as number] },
          target: { shape: ["N", 3], dtype: "int64", dims: [2, 3], data: targets },
        },
        wrt: ["output"],
        build: (b, x) => lowering[what](b, x.output, x.target),
      });
    }
  });
}

// ---- layout choice ----

const data = (labelShape: number[], classes: number): DataSignature => ({
  sampleShape: [2],
  classes,
  labelShape,
});

function checkShapes(loss: ClassLoss, output: Shape, labelShape: number[], classes: number) {
  const graph = buildGraph("check", (b) => {
    const out = b.input("output", { dtype: "float32", shape: output });
    const t = b.input("target", { dtype: "int64", shape: ["N", ...labelShape] });
    lossLowering(loss).check(out, t, data(labelShape, classes));
    b.output("loss", lossLowering(loss).value(b, out, t));
  });
  return graph;
}

Deno.test("the class axis is read from the shapes; both fitting needs classAxis, which wins", () => {
  // [N, T, C] reshapes without a Transpose; [N, C, T] transposes first.
  assert.equal(countOps(checkShapes(crossEntropy(), ["N", 4, 5], [4], 5), "Transpose"), 0);
  assert.equal(countOps(checkShapes(crossEntropy(), ["N", 5, 4], [4], 5), "Transpose"), 1);
  // Default cross-entropy stays the fused op on rows [N·T, C].
  assert.equal(
    countOps(checkShapes(crossEntropy(), ["N", 4, 5], [4], 5), "SoftmaxCrossEntropyLoss"),
    1,
  );
  assertThrowsMatch(
    () => checkShapes(crossEntropy(), ["N", 5, 5], [5], 5),
    CompileError,
    "cross-entropy cannot tell the class axis of model output of shape [N, 5, 5] for targets " +
      "of shape [N, 5]: both [N, C, 5] or [N, 5, C] fit; pass classAxis: 1 (classes on axis 1) " +
      "or classAxis: -1 (classes last) to the loss",
  );
  assert.equal(
    countOps(checkShapes(crossEntropy({ classAxis: 1 }), ["N", 5, 5], [5], 5), "Transpose"),
    1,
  );
  assert.equal(
    countOps(checkShapes(nllLoss({ classAxis: -1 }), ["N", 5, 5], [5], 5), "Transpose"),
    0,
  );
  assertThrowsMatch(
    () => checkShapes(crossEntropy({ classAxis: 1 }), ["N", 4, 5], [4], 5),
    CompileError,
    "cross-entropy with classAxis 1 expects model output of shape [N, C, 4] for targets of " +
      "shape [N, 4], got [N, 4, 5]",
  );
  assertThrowsMatch(
    () => checkShapes(crossEntropy(), ["N", 3, 5], [4], 5),
    CompileError,
    "cross-entropy expects model output of shape [N, C, 4] or [N, 4, C] for targets of shape " +
      "[N, 4], got [N, 3, 5]",
  );
  assertThrowsMatch(
    () => checkShapes(nllLoss(), ["N", 4, 6], [4], 5),
    CompileError,
    "nll expects 5 classes on axis 2 of the model output, got shape [N, 4, 6] for targets of " +
      "shape [N, 4]",
  );
  assertThrowsMatch(
    () => crossEntropy({ classAxis: 2 as never }),
    RangeError,
    "Cannot create loss cross-entropy: classAxis must be 1 or -1, got 2",
  );
});

// ---- eval metrics ----

Deno.test("eval: loss sum is N × the mean token loss; correct/counted are token hits over non-ignored tokens", async () => {
  for (const layout of ["last", "first"] as const) {
    const { dims, shape, axis } = LAYOUTS[layout];
    const raw = layout === "last" ? REF.logits_last : REF.logits_first;
    for (const [name, targetSet] of [["ce ignore", "ignore"], ["ce default", "valid"]] as const) {
      const lowering = lossLowering(OPTION_SETS[name][0]("mean"));
      const graph = buildGraph("eval", (b) => {
        const out = b.input("output", { dtype: "float64", shape });
        const t = b.input("target", { dtype: "int64", shape: ["N", T] });
        const m = lowering.eval(b, out, t);
        b.output("loss_sum", m.lossSum);
        b.output("correct", m.correct!);
        b.output("counted", m.counted!);
      });
      const targets = REF.targets[targetSet].flat();
      const res = await runGraph(graph, {
        output: tensor("float64", dims, raw),
        target: tensor("int64", [N, T], targets),
      });
      // Reference hits: argmax over the class axis per position, among non-ignored positions.
      let hits = 0, tokens = 0;
      for (let i = 0; i < N; i++) {
        for (let t = 0; t < T; t++) {
          const target = targets[i * T + t];
          if (target === -100) continue;
          tokens++;
          const at = (c: number) =>
            axis === 2 ? raw[(i * T + t) * C + c] : raw[(i * C + c) * T + t];
          let best = 0;
          for (let c = 1; c < C; c++) if (at(c) > at(best)) best = c;
          if (best === target) hits++;
        }
      }
      assertClose(values(res.loss_sum), [N * REF.cases[`${name} mean`].value[0]], 1e-12);
      assert.deepEqual([values(res.correct)[0], values(res.counted)[0]], [hits, tokens]);
    }
  }
});

// ---- data path ----

Deno.test("tensorDataset: labelShape and ignoreIndex give int64 targets [N, T] through the loader", () => {
  const ds = tensorDataset({
    train: { x: Int32Array.of(1, 2, 3, 4, 5, 0), y: Int32Array.of(0, 2, -100, 1, -100, -100) },
    test: { x: Int32Array.of(1, 2), y: [1, 1] },
    sampleShape: [2],
    labelShape: [2],
    ignoreIndex: -100,
  });
  assert.equal(ds.classes, 3);
  assert.deepEqual([...ds.labelShape!], [2]);
  const [first, second] = createLoader(ds.train, { batchSize: 2 });
  assert.deepEqual([...first.y], [0n, 2n, -100n, 1n]);
  assert.deepEqual([first.size, second.size, [...second.y]], [2, 1, [-100n, -100n]]);
  const compiled = compileModel({
    data: ds,
    model: sequential(embedding(6, 3), reshape(2, 3)),
    loss: crossEntropy({ ignoreIndex: -100 }),
    optimizer: sgd({ lr: 0.1 }),
  });
  assert.deepEqual([compiled.targetType.dtype, [...compiled.targetType.shape]], [
    "int64",
    ["N", 2],
  ]);
  assert.ok(compiled.eval.outputs.some((o) => o.name === NAMES.counted));
  assert.ok(compiled.train.outputs.some((o) => o.name === NAMES.counted));
  const prefix = "Cannot create tensor dataset: ";
  assertThrowsMatch(
    () =>
      tensorDataset({
        train: { x: Int32Array.of(1, 2), y: [0, 1, 1] },
        test: { x: Int32Array.of(1, 2), y: [0, 1] },
        sampleShape: [2],
        labelShape: [2],
      }),
    RangeError,
    prefix + "train y has 3 class indices for 1 samples of labelShape [2] (2 per sample)",
  );
  assertThrowsMatch(
    () =>
      tensorDataset({
        train: { x: Int32Array.of(1, 2), y: [0, -100] },
        test: { x: Int32Array.of(1, 2), y: [0, 1] },
        sampleShape: [2],
        labelShape: [2],
      }),
    RangeError,
    prefix + "class index -100 at train y[1] is negative",
  );
  assertThrowsMatch(
    () =>
      tensorDataset({
        train: { x: Int32Array.of(1, 2), y: Float32Array.of(0, 1) },
        test: { x: Int32Array.of(1, 2), y: Float32Array.of(0, 1) },
        sampleShape: [2],
        targetShape: [2],
        labelShape: [2] as never,
      }),
    TypeError,
    prefix + "labelShape was given but y is a Float32Array of float targets; give class " +
      "indices as a BigInt64Array, Int32Array or number array (float targets take targetShape)",
  );
  assertThrowsMatch(
    () => createLoader(ds.train, { batchSize: 2, sampler: "balanced" }),
    RangeError,
    "Cannot create a data loader: a class-weighted sampler needs one class index per sample, " +
      "got 6 for 3 samples (labels per position)",
  );
});

// ---- end to end against PyTorch ----

for (const run of REF.train.runs) {
  Deno.test(`trainer: a tiny sequence model (logits ${run.layout === "last" ? "[N, T, C]" : "[N, C, T]"}) trains step for step as PyTorch`, async () => {
    const { vocab, embed, steps_len: len, classes, lr, momentum, batch } = REF.train;
    const o = run.loss_options;
    const loss = crossEntropy({
      ...(o.ignore_index !== undefined ? { ignoreIndex: o.ignore_index } : {}),
      ...(o.label_smoothing !== undefined ? { labelSmoothing: o.label_smoothing } : {}),
      ...(o.weight !== undefined ? { weight: o.weight } : {}),
    });
    const ds = tensorDataset({
      train: { x: Int32Array.from(run.x.flat()), y: Int32Array.from(run.y.flat()) },
      test: { x: Int32Array.from(run.x.flat()), y: Int32Array.from(run.y.flat()) },
      sampleShape: [len],
      labelShape: [len],
      classes,
      ...(o.ignore_index !== undefined ? { ignoreIndex: o.ignore_index } : {}),
    });
    const compiled = compileModel({
      data: ds,
      model: sequential(
        embedding(vocab, embed),
        flatten(),
        linear(len * embed, len * classes),
        run.layout === "last" ? reshape(len, classes) : reshape(classes, len),
      ),
      loss,
      optimizer: sgd({ lr, momentum }),
    });
    const initial = new Map(
      Object.entries(run.init).map(([name, v]) => [name, Float32Array.from(v)]),
    );
    assert.deepEqual(compiled.params.map((p) => p.name).sort(), [...initial.keys()].sort());
    const batches = [...createLoader(ds.train, { batchSize: batch })];
    assert.equal(batches.length, 2);
    const trainer = await createTrainer(compiled, { seed: 0, initial });
    try {
      const losses: number[] = [];
      for (let step = 0; step < run.losses.length; step++) {
        losses.push(await trainer.step(batches[step % 2]));
        const b = batches[step % 2];
        const valid = [...b.y].filter((t) => Number(t) !== (o.ignore_index ?? -100)).length;
        assert.deepEqual(trainer.lastCounted, [valid]);
      }
      for (let i = 0; i < losses.length; i++) {
        const rel = Math.abs(losses[i] - run.losses[i]) / Math.abs(run.losses[i]);
        assert.ok(rel <= 1e-5, `step ${i}: ${losses[i]} vs PyTorch ${run.losses[i]} (rel ${rel})`);
      }
      // Eval after training: each batch's mean token loss, token hits over non-ignored tokens.
      const r = await trainer.evaluate(batches);
      const ref = run.eval;
      const meanOfMeans = ref.reduce((a, e) => a + e.loss, 0) / ref.length;
      assertClose([r.batchLossSum / r.batches], [meanOfMeans], 1e-5 * meanOfMeans);
      assert.deepEqual(
        [r.correct, r.counted, r.samples],
        [ref.reduce((a, e) => a + e.hits, 0), ref.reduce((a, e) => a + e.tokens, 0), 2 * batch],
      );
      // One eval batch alone gives the same numbers as in the K-step eval graph.
      const one = await trainer.evaluate([batches[1]]);
      assertClose([one.lossSum / one.samples], [ref[1].loss], 1e-5 * ref[1].loss);
      assert.deepEqual([one.correct, one.counted], [ref[1].hits, ref[1].tokens]);
    } finally {
      await trainer.release();
    }
  });
}
