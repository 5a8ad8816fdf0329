// The loader's dropLast (PyTorch's drop_last=True), class-weighted sampling (PyTorch's
// WeightedRandomSampler with replacement, num_samples = the set's size) and the training loop's
// one-batch prefetch: batch counts and sizes, draw frequencies against the weights, reproducible
// and resumable draws, and bit-identical training with prefetch on and off.
import { adam, crossEntropy, dropout, linear, pipeline, relu, sequential } from "../mod.ts";
import { tensorDataset } from "../src/dsl/datasets.ts";
import { type Batch, createLoader, type LoaderOptions } from "../src/data/loader.ts";
import type { TensorSet } from "../src/data/tensor_dataset.ts";
import { listCheckpoints, readCheckpoint } from "../src/train/checkpoint.ts";
import { type RunOptions, TrainingInterrupted } from "../src/train/run.ts";
import { createRng } from "../src/util/random.ts";
import { assert, assertRejectsMatch, assertThrowsMatch } from "./_assert.ts";

/** `count` samples whose single feature is the sample's index, with the given labels. */
const indexed = (labels: readonly number[]): TensorSet => ({
  x: Float32Array.from(labels, (_, i) => i),
  y: Int32Array.from(labels),
  count: labels.length,
});
const ids = (b: Batch) => Array.from(b.x as Float32Array);
const epochOf = (set: TensorSet, options: LoaderOptions) => [...createLoader(set, options)];

// ---- dropLast --------------------------------------------------------------------------------

Deno.test("loader: dropLast drops the last partial batch, as drop_last=True", () => {
  const set = indexed(Array(10).fill(0));
  const kept = createLoader(set, { batchSize: 4 });
  const dropped = createLoader(set, { batchSize: 4, dropLast: true });
  assert.deepEqual([kept.batches, dropped.batches, kept.size, dropped.size], [3, 2, 10, 10]);
  assert.deepEqual([...kept].map((b) => b.size), [4, 4, 2]);
  assert.deepEqual([...dropped].map(ids), [[0, 1, 2, 3], [4, 5, 6, 7]]);
  // A whole number of batches loses nothing; fewer samples than a batch give no batch at all.
  assert.deepEqual(epochOf(indexed(Array(8).fill(0)), { batchSize: 4, dropLast: true }).length, 2);
  const none = createLoader(indexed([0, 0, 0]), { batchSize: 4, dropLast: true });
  assert.deepEqual([none.batches, [...none].length], [0, 0]);
  // Shuffled: the same permutation as without dropLast, its last 2 samples dropped.
  const shuffled = createLoader(set, { batchSize: 4, shuffle: true, seed: 5 });
  const shuffledDrop = createLoader(set, { batchSize: 4, shuffle: true, seed: 5, dropLast: true });
  for (let epoch = 0; epoch < 3; epoch++) {
    const all = [...shuffled].flatMap(ids), some = [...shuffledDrop].flatMap(ids);
    assert.deepEqual(some, all.slice(0, 8));
    assert.deepEqual([...all].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  }
  // Subsets drop too: 7 of the samples in batches of 3 give 2 batches.
  const subset = createLoader(set, {
    batchSize: 3,
    dropLast: true,
    indices: Uint32Array.of(9, 1, 8, 2, 7, 3, 6),
  });
  assert.deepEqual([...subset].map(ids), [[9, 1, 8], [2, 7, 3]]);
});

Deno.test("loader: dropLast resumes at a batch of a later epoch exactly", () => {
  const set = indexed(Array(23).fill(0));
  const options = { batchSize: 5, shuffle: true, seed: 11, dropLast: true };
  const run = createLoader(set, options);
  const epochs = [0, 1, 2].map(() => [...run].map(ids));
  assert.deepEqual(epochs.map((e) => e.length), [4, 4, 4]);
  const resumed = createLoader(set, { ...options, resumeAt: { epoch: 1, batch: 3 } });
  assert.deepEqual([...resumed].map(ids), epochs[1].slice(3));
  assert.deepEqual([...resumed].map(ids), epochs[2]);
});

// ---- weighted sampling -----------------------------------------------------------------------

/** 1000 samples in 3 classes of about 70, 20 and 10 %, interleaved. */
const skewed = () => {
  const rng = createRng(4);
  return indexed(Array.from({ length: 1000 }, () => {
    const u = rng.nextFloat();
    return u < 0.7 ? 0 : u < 0.9 ? 1 : 2;
  }));
};

/** Class frequencies over `epochs` epochs of a loader, and how often samples repeat. */
function frequencies(set: TensorSet, options: LoaderOptions, epochs: number) {
  const loader = createLoader(set, options);
  const counts = [0, 0, 0], perSample = new Map<number, number>();
  let draws = 0, repeats = 0;
  for (let e = 0; e < epochs; e++) {
    const seen = new Set<number>();
    for (const b of loader) {
      for (let i = 0; i < b.size; i++) {
        const k = b.x[i] as number;
        counts[Number(b.y[i])]++;
        perSample.set(k, (perSample.get(k) ?? 0) + 1);
        if (seen.has(k)) repeats++;
        seen.add(k);
        draws++;
      }
    }
  }
  return { freq: counts.map((c) => c / draws), draws, repeats, perSample };
}

Deno.test("loader: weighted sampling draws classes in proportion to their weights", () => {
  const set = skewed();
  const classCounts = [0, 1, 2].map((c) => [...set.y].filter((y) => Number(y) === c).length);
  assert.deepEqual(classCounts, [697, 206, 97]);
  // weights [1, 2, 3] per class: P(class c) = n_c w_c / Σ n_k w_k.
  const weighted = frequencies(
    set,
    { batchSize: 64, seed: 3, sampler: { weights: [1, 2, 3] } },
    60,
  );
  const mass = classCounts.map((n, c) => n * [1, 2, 3][c]);
  const total = mass.reduce((a, m) => a + m, 0);
  assert.equal(weighted.draws, 60_000, "each epoch draws as many samples as the set holds");
  weighted.freq.forEach((f, c) => {
    assert.ok(Math.abs(f - mass[c] / total) < 0.01, `class ${c}: ${f} vs ${mass[c] / total}`);
  });
  assert.ok(weighted.repeats > 10_000, "draws are with replacement");
  // "balanced": each class a third, each sample of a class about as often as the others.
  const balanced = frequencies(set, { batchSize: 64, seed: 3, sampler: "balanced" }, 60);
  for (const f of balanced.freq) assert.ok(Math.abs(f - 1 / 3) < 0.01, `${balanced.freq}`);
  const rare = [...balanced.perSample].filter(([k]) => set.y[k] === 2).map(([, n]) => n);
  const mean = rare.reduce((a, n) => a + n, 0) / rare.length;
  const expected = 60_000 / 3 / classCounts[2]; // ≈ 206.2 draws of each class-2 sample
  assert.ok(Math.abs(mean - expected) < 5, `class-2 samples drawn ${mean} times on average`);
  // A weight of 0 leaves a class out.
  const zero = frequencies(set, { batchSize: 100, seed: 3, sampler: { weights: [1, 0, 1] } }, 5);
  assert.equal(zero.freq[1], 0);
});

Deno.test("loader: weighted draws are seeded per epoch, reproducible and resumable", () => {
  const set = skewed();
  const options: LoaderOptions = { batchSize: 64, seed: 8, sampler: { weights: [1, 2, 3] } };
  const a = createLoader(set, options), b = createLoader(set, options);
  const epochsA = [0, 1, 2].map(() => [...a].flatMap(ids));
  const epochsB = [0, 1, 2].map(() => [...b].flatMap(ids));
  assert.deepEqual(epochsA, epochsB);
  assert.notDeepEqual(epochsA[0], epochsA[1], "every epoch draws afresh");
  assert.equal(a.batches, 16);
  // shuffle does not change a sampler's draws; another seed does.
  assert.deepEqual([...createLoader(set, { ...options, shuffle: true })].flatMap(ids), epochsA[0]);
  assert.notDeepEqual([...createLoader(set, { ...options, seed: 9 })].flatMap(ids), epochsA[0]);
  // Resuming at epoch 3's batch 5 gives the rest of that epoch, then epoch 4 as a full run has it.
  const resumed = createLoader(set, { ...options, resumeAt: { epoch: 2, batch: 5 } });
  assert.deepEqual([...resumed].flatMap(ids), epochsA[2].slice(5 * 64));
  const full = createLoader(set, options);
  for (let e = 0; e < 3; e++) [...full];
  assert.deepEqual([...resumed].flatMap(ids), [...full].flatMap(ids));
  // With a subset, only its samples are drawn; with dropLast, the partial batch goes.
  const subset = createLoader(set, {
    ...options,
    indices: Uint32Array.from({ length: 100 }, (_, i) => 900 + i),
    dropLast: true,
    batchSize: 30,
  });
  const drawn = [...subset];
  assert.deepEqual(drawn.map((x) => x.size), [30, 30, 30]);
  assert.ok(drawn.flatMap(ids).every((k) => k >= 900));
});

Deno.test("loader: a sampler needs class targets and one weight per class", () => {
  const float = { x: Float32Array.of(1, 2), y: Float32Array.of(0.5, 1), count: 2 };
  assertThrowsMatch(
    () => createLoader(float, { batchSize: 1, sampler: "balanced" }),
    RangeError,
    /class-weighted sampler needs class-index targets/,
  );
  assertThrowsMatch(
    () => createLoader(indexed([0, 2, 1]), { batchSize: 1, sampler: { weights: [1, 1] } }),
    RangeError,
    /sampler has 2 class weights, but sample 1 has class 2/,
  );
  assertThrowsMatch(
    () => createLoader(indexed([0, 1]), { batchSize: 1, sampler: { weights: [1, -1] } }),
    RangeError,
    /sampler weights must be finite numbers ≥ 0/,
  );
  assertThrowsMatch(
    () => createLoader(indexed([1, 1]), { batchSize: 1, sampler: { weights: [1, 0] } }),
    RangeError,
    /weights of the samples sum to 0/,
  );
});

// ---- the pipeline: options, resume, prefetch -------------------------------------------------

/** 42 samples of 4 features in 3 skewed classes. */
function data() {
  const rng = createRng(12);
  const make = (count: number) => {
    const x = Float32Array.from({ length: 4 * count }, () => 2 * rng.nextFloat() - 1);
    const y = Array.from(
      { length: count },
      (_, k) => x[4 * k] + x[4 * k + 1] > 0.6 ? 1 : x[4 * k + 2] > 0.7 ? 2 : 0,
    );
    return { x, y };
  };
  return tensorDataset({ train: make(42), test: make(10), sampleShape: [4], classes: 3 });
}
const ds = data();
const pipe = () =>
  pipeline()
    .data(ds, { batchSize: 8, dropLast: true, sampler: "balanced" })
    .model(sequential(linear(4, 8), relu(), dropout(0.2), linear(8, 3)))
    .loss(crossEntropy())
    .optimizer(adam({ lr: 0.05 }))
    .seed(21)
    .epochs(2);

async function train(options: RunOptions = {}) {
  const losses: number[] = [];
  const result = await pipe().run({
    threads: 1,
    log: () => {},
    onBatch: (e) => losses.push(e.loss),
    ...options,
  });
  return { losses, result, model: result.exportModel() };
}

Deno.test("pipeline: data options carry dropLast and the sampler, checked", () => {
  const props = pipe().props;
  assert.deepEqual([props.dropLast, props.sampler], [true, "balanced"]);
  const p = pipeline().data(ds, { weights: [1, 2, 0.5] });
  assert.deepEqual([p.props.dropLast, p.props.sampler], [false, { weights: [1, 2, 0.5] }]);
  // dropLast is inherited by a later data() call, the sampler is not.
  const again = pipe().data(ds);
  assert.deepEqual([again.props.dropLast, again.props.sampler], [true, undefined]);
  assertThrowsMatch(
    () => pipeline().data(ds, { sampler: "balanced", weights: [1, 1, 1] }),
    RangeError,
    /^Cannot build pipeline: give either sampler or weights, not both$/,
  );
  assertThrowsMatch(
    () => pipeline().data(ds, { weights: [1, Number.NaN, 1] }),
    RangeError,
    /weights must be one finite number ≥ 0 per class/,
  );
});

Deno.test("pipeline: prefetch on and off train bit for bit alike; dropLast steps 5 a epoch", async () => {
  const on = await train();
  const off = await train({ prefetch: false });
  assert.equal(on.losses.length, 10, "42 samples in batches of 8, the last 2 dropped: 5 a epoch");
  assert.deepEqual(on.losses, off.losses);
  assert.deepEqual(on.model, off.model, "the trained parameters are identical");
  assert.ok(on.losses.every(Number.isFinite));
  for (const e of [...on.result.epochs, ...off.result.epochs]) {
    assert.ok(e.dataSeconds >= 0 && e.dataSeconds <= e.trainSeconds, `${e.dataSeconds}`);
  }
});

Deno.test("pipeline: with dropLast and a sampler, 1 epoch + resume + 1 epoch equals 2 epochs", async () => {
  const root = await Deno.makeTempDir();
  try {
    const full = await train({ checkpointDir: `${root}/full` });
    const first = await train({ checkpointDir: `${root}/split`, epochs: 1 });
    const rest = await train({ checkpointDir: `${root}/split`, resume: true });
    assert.deepEqual([...first.losses, ...rest.losses], full.losses);
    assert.deepEqual(rest.model, full.model);
    const saved = await readCheckpoint((await listCheckpoints(`${root}/split`)).at(-1)!);
    assert.equal(saved.info.dataOrder, "dropLast; sampler balanced");
    // Another data order would not continue the run's sequence of batches: refused.
    await assertRejectsMatch(
      () =>
        pipe().data(ds, { weights: [1, 2, 3] }).run({
          threads: 1,
          log: () => {},
          checkpointDir: `${root}/split`,
          resume: true,
        }),
      RangeError,
      /with data order "dropLast; sampler weights \[1,2,3\]": it was saved with "dropLast; sampler balanced"$/,
    );
    // Interrupted mid-epoch (after step 7, the prefetched batch unused) and resumed: the same.
    const controller = new AbortController();
    let steps = 0;
    await assertRejectsMatch(
      () =>
        train({
          checkpointDir: `${root}/mid`,
          stepsPerRun: 1,
          signal: controller.signal,
          onBatch: () => {
            if (++steps === 7) controller.abort();
          },
        }),
      TrainingInterrupted,
      /^Training interrupted at epoch 2, batch 2; saved checkpoint /,
    );
    const tail = await train({ checkpointDir: `${root}/mid`, resume: true });
    assert.deepEqual(tail.losses, full.losses.slice(7));
    assert.deepEqual(tail.model, full.model);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
