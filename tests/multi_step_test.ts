// Several optimizer steps per onnxruntime run (the K-step Loop graph): the same losses,
// parameters, optimizer state, buffers, logs and checkpoints as one step per run, bit for bit.
import { join } from "node:path";
import {
  adam,
  batchNorm2d,
  conv2d,
  crossEntropy,
  dropout,
  fashionMnist,
  flatten,
  linear,
  maxPool2d,
  oneCycleLR,
  pipeline,
  relu,
  sequential,
  sgd,
} from "../mod.ts";
import { createGraphBuilder } from "../src/ir/builder.ts";
import { emitMultiStep } from "../src/onnx/multi_step.ts";
import { createSession } from "../src/runtime/session.ts";
import { createLoader } from "../src/data/loader.ts";
import { loadDataset } from "../src/data/datasets.ts";
import { writeSyntheticFashionMnist } from "../src/data/synthetic.ts";
import { createTrainer, type Trainer } from "../src/train/trainer.ts";
import { cifar10Cnn } from "../pipelines/cifar10.ts";
import { fmnistCnn } from "../pipelines/fmnist_cnn.ts";
import {
  autoStepsPerRun,
  compilePipeline,
  type PipelineSpec,
  type RunOptions,
  type RunResult,
} from "../src/train/run.ts";
import { listCheckpoints, readCheckpoint } from "../src/train/checkpoint.ts";
import { assert, assertRejectsMatch, assertThrowsMatch } from "./_assert.ts";
import { listDir, withTempDir } from "./_files.ts";

Deno.test("emitMultiStep: a Loop carries values over the slab's steps and stacks scan outputs", async () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float32", shape: [2] });
  const scale = b.input("scale", { dtype: "float32", shape: [] });
  const total = b.input("total", { dtype: "float32", shape: [2] });
  const next = b.op1("Add", [total, b.op1("Mul", [x, scale])]);
  b.output("total.next", next);
  b.output("sum", b.op1("ReduceSum", [next, b.ints([0])], { keepdims: 0 }));
  const graph = b.build("accumulate");
  const spec = { sliced: ["x"], carried: [{ input: "total", output: "total.next" }] };
  const session = await createSession(emitMultiStep(graph, { ...spec, scanned: ["sum"] }));
  try {
    const out = await session.run({
      x: { dtype: "float32", dims: [3, 2], data: Float32Array.of(1, 2, 3, 4, 5, 6) },
      scale: { dtype: "float32", dims: [], data: Float32Array.of(10) },
      total: { dtype: "float32", dims: [2], data: Float32Array.of(0.5, 0.25) },
    });
    // Steps: total = (10.5, 20.25), (40.5, 60.25), (90.5, 120.25); "scale" is an outer input.
    assert.deepEqual([...out["total.next"].data], [90.5, 120.25]);
    assert.deepEqual(out.sum.dims, [3]);
    assert.deepEqual([...out.sum.data], [30.75, 100.75, 210.75]);
  } finally {
    await session.release();
  }
  assertThrowsMatch(
    () => emitMultiStep(graph, { ...spec, scanned: [] }),
    RangeError,
    "Cannot build the K-step graph: outputs sum are neither carried, scanned nor dropped",
  );
  assertThrowsMatch(
    () => emitMultiStep(graph, { ...spec, sliced: ["y"], scanned: ["sum"] }),
    RangeError,
    "Cannot build the K-step graph: accumulate has no input y",
  );
});

const CNN = sequential(
  conv2d(1, 4, 3, { padding: 1 }),
  batchNorm2d(4),
  relu(),
  maxPool2d(2),
  flatten(),
  dropout(0.25),
  linear(4 * 14 * 14, 10),
);

/** A CNN pipeline with every per-step input: augmentation, dropout masks, per-batch lr and β₁. */
const cnnPipeline = (root: string) =>
  pipeline()
    .data(fashionMnist({ root, download: false }), {
      batchSize: 8,
      shuffle: true,
      validation: 0.1,
      augment: { randomCrop: { size: 28, padding: 2 }, horizontalFlip: true },
      normalize: { mean: [0.28], std: [0.35] },
    })
    .model(CNN)
    .loss(crossEntropy({ labelSmoothing: 0.1 }))
    .optimizer(adam({ lr: 1e-3, weightDecay: 1e-4 }))
    .schedule(oneCycleLR({ maxLr: 0.01 }))
    .seed(3)
    .epochs(2);

const tensors = (t: Trainer) =>
  Object.fromEntries(
    [...t.params, ...t.state, ...t.buffers].map(([name, v]) => [name, [...v.data].map(Number)]),
  );

Deno.test("trainer: stepMany equals step on each batch, bit for bit, and checks its batches", async () => {
  await withTempDir(async (root) => {
    await writeSyntheticFashionMnist(root, { train: 60, test: 10, seed: 2 });
    const spec = cnnPipeline(root).props as PipelineSpec;
    const compiled = compilePipeline(spec);
    const { train } = await loadDataset(spec.data, { root });
    // 60 samples in batches of 8: seven of 8 and a last one of 4.
    const batches = [...createLoader(train, { batchSize: 8, seed: 3, augment: spec.augment })];
    assert.deepEqual(batches.map((b) => b.size), [8, 8, 8, 8, 8, 8, 8, 4]);
    const hyper = batches.map((_, j) => new Map([["lr", 0.01 / (j + 1)], ["beta1", 0.9]]));
    const one = await createTrainer(compiled, { seed: 3, threads: 1 });
    const many = await createTrainer(compiled, { seed: 3, threads: 1, stepsPerRun: 3 });
    try {
      const losses: number[] = [];
      for (const [j, batch] of batches.entries()) {
        for (const [k, v] of hyper[j]) one.hyper.set(k, v);
        losses.push(await one.step(batch));
      }
      // 7 equal batches: runs of 3, 3 and 1 steps; then the short batch alone.
      const got = [
        ...await many.stepMany(batches.slice(0, 7), hyper.slice(0, 7)),
        ...await many.stepMany(batches.slice(7), hyper.slice(7)),
      ];
      assert.deepEqual(got, losses);
      assert.ok(losses.every(Number.isFinite) && new Set(losses).size === 8);
      assert.equal(many.steps, 8);
      assert.deepEqual(tensors(many), tensors(one));
      // Evaluation: runs of equal-size batches in one K-step run, the same sums as batch by batch.
      const together = await many.evaluate(batches);
      const apart = await Promise.all(batches.map((b) => many.evaluate([b])));
      assert.deepEqual(together, {
        batchLossSum: apart.reduce((a, r) => a + r.batchLossSum, 0),
        lossSum: apart.reduce((a, r) => a + r.lossSum, 0),
        correct: apart.reduce((a, r) => a + r.correct, 0),
        // One class target per sample: the correct count is out of the samples.
        counted: 60,
        batches: 8,
        samples: 60,
      });
      await assertRejectsMatch(
        () => many.stepMany(batches.slice(6)),
        RangeError,
        "Cannot take several steps in one run: batches must have equal sizes, got 8, 4",
      );
      await assertRejectsMatch(
        () => many.stepMany(batches.slice(0, 2), hyper.slice(0, 1)),
        RangeError,
        "Cannot take 2 steps: got hyperparameters for 1 steps",
      );
    } finally {
      await one.release();
      await many.release();
    }
    await assertRejectsMatch(
      () => createTrainer(compiled, { seed: 3, stepsPerRun: 0 }),
      RangeError,
      "Invalid stepsPerRun: expected an integer ≥ 1, got 0",
    );
  });
});

/** Runs a pipeline, keeping its log (without timings), per-step events and exported model. */
async function runWith(
  p: { run(options: RunOptions): Promise<RunResult> },
  options: RunOptions,
) {
  const lines: string[] = [], steps: number[][] = [];
  const result = await p.run({
    threads: 1,
    logEvery: 3,
    log: (line) => lines.push(line),
    onBatch: (e) => steps.push([e.epoch, e.batch, e.loss, e.lr]),
    ...options,
  });
  const epochs = result.epochs.map(({ trainSeconds: _, dataSeconds: __, ...rest }) => rest);
  return { lines, steps, epochs, model: result.exportModel() };
}

Deno.test("run: every stepsPerRun gives the same log, steps, checkpoints and model", async () => {
  await withTempDir(async (root) => {
    await writeSyntheticFashionMnist(root, { train: 60, test: 10, seed: 2 });
    const runs = [];
    for (const stepsPerRun of [1, 4, 16]) {
      const dir = join(root, `ckpt-${stepsPerRun}`);
      const r = await runWith(cnnPipeline(root), {
        stepsPerRun,
        checkpointDir: dir,
        checkpointEvery: 5,
        keep: 10,
      });
      const files = await listCheckpoints(dir);
      const last = await readCheckpoint(files.at(-1)!);
      runs.push({
        ...r,
        files: listDir(dir).filter((n) => n !== ".onnxtrain.lock"),
        last: [...last.params.values()].map((t) => [...t.data]),
      });
    }
    const [base, ...others] = runs;
    // 54 training samples (6 held out) in batches of 8: 7 steps an epoch; checkpoints at 5, 10
    // and after each epoch (7, 14).
    assert.equal(base.steps.length, 14);
    assert.deepEqual(base.files, [
      "checkpoint-0000000005.safetensors",
      "checkpoint-0000000007.safetensors",
      "checkpoint-0000000010.safetensors",
      "checkpoint-0000000014.safetensors",
    ]);
    assert.ok(base.lines.some((l) => l.startsWith("loss: ")));
    assert.ok(new Set(base.steps.map((s) => s[3])).size > 10, "the lr changes every step");
    for (const r of others) {
      assert.deepEqual(r.lines, base.lines);
      assert.deepEqual(r.steps, base.steps);
      assert.deepEqual(r.epochs, base.epochs);
      assert.deepEqual(r.files, base.files);
      assert.deepEqual(r.last, base.last);
      assert.deepEqual(r.model, base.model);
    }
    // Resuming a K = 1 run's step-10 checkpoint with K = 16 continues it exactly.
    const resumeDir = join(root, "resume");
    await Deno.mkdir(resumeDir);
    await Deno.copyFile(
      join(root, "ckpt-1", "checkpoint-0000000010.safetensors"),
      join(resumeDir, "checkpoint-0000000010.safetensors"),
    );
    const resumed = await runWith(cnnPipeline(root), {
      stepsPerRun: 16,
      checkpointDir: resumeDir,
      resume: true,
    });
    assert.deepEqual(resumed.steps, base.steps.slice(10));
    assert.deepEqual(resumed.model, base.model);
  });
});

Deno.test("run: an MLP trains with SGD over K-step runs exactly as one step per run", async () => {
  await withTempDir(async (root) => {
    await writeSyntheticFashionMnist(root, { train: 100, test: 20, seed: 5 });
    const p = pipeline()
      .data(fashionMnist({ root, download: false }), { batchSize: 16, shuffle: true })
      .model(sequential(flatten(), linear(784, 32), relu(), linear(32, 10)))
      .loss(crossEntropy())
      .optimizer(sgd({ lr: 0.05, momentum: 0.9 }))
      .seed(1)
      .epochs(2);
    const one = await runWith(p, { stepsPerRun: 1 });
    const auto = await runWith(p, {});
    assert.deepEqual(auto.steps, one.steps);
    assert.deepEqual(auto.lines, one.lines);
    assert.deepEqual(auto.model, one.model);
    assert.ok(one.steps.at(-1)![2] < one.steps[0][2], "the loss falls");
  });
});

Deno.test("run: spinning onnxruntime threads train exactly as idle-waiting ones", async () => {
  await withTempDir(async (root) => {
    await writeSyntheticFashionMnist(root, { train: 64, test: 16, seed: 6 });
    const p = pipeline()
      .data(fashionMnist({ root, download: false }), { batchSize: 16, shuffle: true })
      .model(sequential(flatten(), linear(784, 16), relu(), linear(16, 10)))
      .loss(crossEntropy())
      .optimizer(adam({ lr: 0.01 }))
      .seed(2)
      .epochs(1);
    const waiting = await runWith(p, { threads: 2 });
    const spinning = await runWith(p, { threads: 2, spinning: true });
    assert.deepEqual(spinning.steps, waiting.steps);
    assert.deepEqual(spinning.model, waiting.model);
    assert.equal(waiting.steps.length, 4);
  });
});

Deno.test("autoStepsPerRun: 16 on the CPU, 64 on CUDA, fewer when K slabs exceed 32 MiB", () => {
  // FashionMNIST CNN at batch 64: per step 50 176 input bytes, 512 target bytes and a dropout
  // mask of 64 · 1568 floats (401 408 bytes): 74 steps would fit, so the cap decides.
  const cnn = fmnistCnn.compile();
  assert.equal(autoStepsPerRun(cnn, 64), 16);
  assert.equal(autoStepsPerRun(cnn, 64, "cuda"), 64);
  // CIFAR-10 at batch 2048: 6 291 456 input bytes, 16 384 target bytes and 2 · 524 288 bytes of
  // crop indices per step: 7 356 416 bytes, so 4 steps fit in 32 MiB.
  assert.equal(autoStepsPerRun(cifar10Cnn.compile(), 2048), 4);
  assert.equal(autoStepsPerRun(cifar10Cnn.compile(), 65536), 1);
});

Deno.test("run: the training accuracy counts each batch's hits before its step", async () => {
  const { tensorDataset } = await import("../mod.ts");
  const n = 50;
  const x = Float32Array.from({ length: 4 * n }, (_, i) => Math.cos(0.9 * i));
  const y = Array.from({ length: n }, (_, i) => (x[4 * i] > x[4 * i + 1] ? 1 : 0));
  const data = tensorDataset({ train: { x, y }, test: { x, y }, sampleShape: [4] });
  const p = (lr: number) =>
    pipeline()
      .data(data, { batchSize: 8 })
      .model(sequential(linear(4, 8), relu(), linear(8, 2)))
      .loss(crossEntropy())
      .optimizer(sgd({ lr }))
      .seed(9)
      .epochs(2);
  // At lr 0 the weights never move: training accuracy is the test accuracy on the same samples.
  for (const stepsPerRun of [1, 4]) {
    const frozen = await p(0).run({ log: () => {}, stepsPerRun });
    for (const e of frozen.epochs) assert.equal(e.trainAccuracy, e.accuracy);
    assert.ok(frozen.epochs[0].accuracy > 0 && frozen.epochs[0].accuracy < 1);
  }
  // Training: a fraction of the 50 samples, the same for every K.
  const a = await p(0.5).run({ log: () => {}, stepsPerRun: 1 });
  const b = await p(0.5).run({ log: () => {}, stepsPerRun: 16 });
  assert.deepEqual(b.epochs.map((e) => e.trainAccuracy), a.epochs.map((e) => e.trainAccuracy));
  assert.ok(a.epochs.every((e) => Number.isInteger(e.trainAccuracy * 50)));
});
