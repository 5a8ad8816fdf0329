// Data-parallel training in one process: N trainers, each with its rows of every global batch,
// summing through an in-process reducer, train exactly as one trainer on the whole batch (per-step
// losses, parameters, optimizer state, dropout masks, clipping on the summed gradients, uneven
// shards, an empty shard) and evaluate to the same totals.
import {
  adam,
  batchNorm1d,
  batchNorm2d,
  compileDataParallel,
  compileModel,
  conv2d,
  createTrainer,
  crossEntropy,
  dropout,
  flatten,
  linear,
  maxPool2d,
  relu,
  sequential,
  sgd,
} from "../mod.ts";
import type { Batch } from "../src/data/batch.ts";
import { type Reducer, shardRows, takeRows } from "../src/train/data_parallel.ts";
import { createRng } from "../src/util/random.ts";
import { assert } from "./_assert.ts";

/** `size` reducers that sum in place across each other (every member calls once per round). */
function localGroup(size: number): Reducer[] {
  let pending: { buffer: Float32Array | Float64Array; done: () => void }[] = [];
  const reduce = (buffer: Float32Array | Float64Array) =>
    new Promise<void>((done) => {
      pending.push({ buffer, done });
      if (pending.length < size) return;
      const round = pending;
      pending = [];
      const sum = new Float64Array(buffer.length);
      // Rank order, as MPI's reduction of a few values does (the order is fixed, not arrival).
      for (const { buffer: b } of round) for (let i = 0; i < b.length; i++) sum[i] += b[i];
      for (const { buffer: b, done: d } of round) {
        b.set(b instanceof Float32Array ? Float32Array.from(sum) : sum);
        d();
      }
    });
  return Array.from({ length: size }, (_, rank) => ({
    rank,
    size,
    allreduceSum: reduce,
    allreduceSumF64: reduce,
  }));
}

type Optimizer = Parameters<typeof compileModel>[0]["optimizer"];
const spec = (
  optimizer: Optimizer,
  model = sequential(linear(6, 16), relu(), dropout(0.25), linear(16, 3)),
) => ({
  data: { sampleShape: [6], classes: 3 },
  model,
  loss: crossEntropy(),
  optimizer,
});

/** Batches of 7, then 3 and 1 (3 processes: uneven and empty shards) from a fixed set. */
function batches(sizes = [7, 7, 7, 3, 1]): Batch[] {
  const rng = createRng(9);
  return sizes.map((size) => ({
    size,
    x: Float32Array.from({ length: size * 6 }, () => 2 * rng.nextFloat() - 1),
    y: BigInt64Array.from({ length: size }, () => BigInt(Math.floor(rng.nextFloat() * 3))),
  }));
}

const relClose = (a: number, b: number, tol: number) =>
  Math.abs(a - b) <= tol * Math.max(1, Math.abs(a), Math.abs(b));

for (
  const [name, optimizer] of [
    ["SGD with momentum", sgd({ lr: 0.1, momentum: 0.9 })],
    ["Adam with clipGradNorm", adam({ lr: 0.01, clipGradNorm: 0.5 })],
  ] as const
) {
  Deno.test(`data parallel (${name}): 2 and 3 processes train as one on the whole batch`, async () => {
    const s = spec(optimizer);
    const compiled = compileModel(s), graphs = compileDataParallel(s);
    const data = batches();
    const single = await createTrainer(compiled, { seed: 4, threads: 1 });
    const want: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (const b of data) want.push(await single.step(b));
    }
    const wantEval = await single.evaluate(data);
    for (const size of [2, 3]) {
      const group = localGroup(size);
      const trainers = await Promise.all(
        group.map((reducer) =>
          createTrainer(compiled, { seed: 4, threads: 1, dataParallel: { graphs, reducer } })
        ),
      );
      const got: number[][] = trainers.map(() => []);
      for (let round = 0; round < 3; round++) {
        for (const b of data) {
          const losses = await Promise.all(trainers.map((t) => t.step(b)));
          losses.forEach((l, r) => got[r].push(l));
        }
      }
      for (const [r, losses] of got.entries()) {
        assert.equal(losses.length, want.length);
        losses.forEach((l, i) =>
          assert.ok(
            relClose(l, want[i], 2e-6),
            `${size} processes, rank ${r}, step ${i}: ${l} vs ${want[i]}`,
          )
        );
      }
      for (const t of trainers) {
        for (const [pname, p] of single.params) {
          const q = t.params.get(pname)!.data as Float32Array;
          (p.data as Float32Array).forEach((v, i) =>
            assert.ok(relClose(q[i], v, 1e-5), `${pname}[${i}]: ${q[i]} vs ${v}`)
          );
        }
        assert.equal(t.steps, single.steps);
      }
      const evals = await Promise.all(trainers.map((t) => t.evaluate(data)));
      for (const e of evals) {
        assert.deepEqual([e.batches, e.samples, e.correct], [
          wantEval.batches,
          wantEval.samples,
          wantEval.correct,
        ]);
        assert.ok(relClose(e.lossSum, wantEval.lossSum, 1e-5));
      }
      await Promise.all(trainers.map((t) => t.release()));
    }
    await single.release();
  });
}

Deno.test("data parallel: rank r takes rows r, r+N, … of each global batch", () => {
  assert.deepEqual(shardRows(7, 0, 3), [0, 3, 6]);
  assert.deepEqual(shardRows(7, 2, 3), [2, 5]);
  assert.deepEqual(shardRows(1, 1, 2), []);
  const t = { dtype: "int64" as const, dims: [4], data: BigInt64Array.of(5n, 6n, 7n, 8n) };
  assert.deepEqual([...takeRows(t, [1, 3]).data], [6n, 8n]);
});

Deno.test("data parallel with batch norm: synchronised statistics train as one process (SyncBatchNorm)", async () => {
  const mlp = spec(
    adam({ lr: 0.01 }),
    // No bias before a batch norm: its gradient is zero but for rounding, which Adam amplifies.
    sequential(
      linear(6, 16, { bias: false }),
      batchNorm1d(16),
      relu(),
      dropout(0.25),
      linear(16, 3),
    ),
  );
  const cnn = {
    data: { sampleShape: [1, 4, 4], classes: 3 },
    model: sequential(
      conv2d(1, 4, 3, { padding: 1, bias: false }),
      batchNorm2d(4),
      relu(),
      maxPool2d(2),
      conv2d(4, 6, 1, { bias: false }),
      batchNorm2d(6),
      relu(),
      flatten(),
      dropout(0.2),
      linear(24, 3),
    ),
    loss: crossEntropy(),
    optimizer: sgd({ lr: 0.05, momentum: 0.9 }),
  };
  for (const s of [mlp, cnn]) {
    const compiled = compileModel(s), graphs = compileDataParallel(s);
    assert.equal(graphs.sync?.norms.length, s === mlp ? 1 : 2);
    // Batch norm needs 2 samples a channel (PyTorch refuses 1); 2 on 3 processes leaves one empty.
    const data = batches([7, 7, 7, 3, 2]).map((b) =>
      s === cnn ? { ...b, x: Float32Array.from({ length: b.size * 16 }, (_, i) => Math.sin(i)) } : b
    );
    const single = await createTrainer(compiled, { seed: 4, threads: 1 });
    const want: number[] = [];
    for (let round = 0; round < 2; round++) for (const b of data) want.push(await single.step(b));
    for (const size of [2, 3]) {
      const group = localGroup(size);
      const trainers = await Promise.all(
        group.map((reducer) =>
          createTrainer(compiled, { seed: 4, threads: 1, dataParallel: { graphs, reducer } })
        ),
      );
      const got: number[] = [];
      for (let round = 0; round < 2; round++) {
        for (const b of data) got.push((await Promise.all(trainers.map((t) => t.step(b))))[0]);
      }
      got.forEach((l, i) =>
        assert.ok(relClose(l, want[i], 2e-6), `${size} processes, step ${i}: ${l} vs ${want[i]}`)
      );
      for (const t of trainers) {
        for (const [name, p] of [...single.params, ...single.buffers]) {
          const q = [...(t.params.get(name) ?? t.buffers.get(name))!.data].map(Number);
          [...p.data].map(Number).forEach((v, i) =>
            assert.ok(relClose(q[i], v, 1e-5), `${size} processes: ${name}[${i}] ${q[i]} vs ${v}`)
          );
        }
      }
      await Promise.all(trainers.map((t) => t.release()));
    }
    await single.release();
  }
});

Deno.test("local SGD: averaging every step equals gradient sums (plain SGD, equal shards); every 3 steps the processes agree after each average", async () => {
  const plain = spec(sgd({ lr: 0.1 }), sequential(linear(6, 16), relu(), linear(16, 3)));
  const compiled = compileModel(plain), graphs = compileDataParallel(plain);
  const data = batches([6, 6, 6, 6]);
  const single = await createTrainer(compiled, { seed: 4, threads: 1 });
  const want: number[] = [];
  for (const b of data) want.push(await single.step(b));
  const group = localGroup(2);
  const local = await Promise.all(
    group.map((reducer) =>
      createTrainer(compiled, {
        seed: 4,
        threads: 1,
        dataParallel: { graphs, reducer, localSgd: 1 },
      })
    ),
  );
  for (const [i, b] of data.entries()) {
    const losses = await Promise.all(local.map((t) => t.step(b)));
    for (const l of losses) assert.ok(relClose(l, want[i], 2e-6), `step ${i}: ${l} vs ${want[i]}`);
  }
  for (const [name, p] of single.params) {
    const q = local[0].params.get(name)!.data as Float32Array;
    (p.data as Float32Array).forEach((v, i) => assert.ok(relClose(q[i], v, 1e-5), `${name}[${i}]`));
  }

  // Adam, averaging every 3 steps: after steps 3 and 6 every process holds the same parameters;
  // in between they differ (each trained on its own rows), and the run is not the gradient-sum one.
  const withAdam = spec(adam({ lr: 0.01 }));
  const adamGraphs = compileDataParallel(withAdam), adamCompiled = compileModel(withAdam);
  const periodic = await Promise.all(
    localGroup(2).map((reducer) =>
      createTrainer(adamCompiled, {
        seed: 4,
        threads: 1,
        dataParallel: { graphs: adamGraphs, reducer, localSgd: 3 },
      })
    ),
  );
  const same = () =>
    [...periodic[0].params].every(([name, t]) =>
      (t.data as Float32Array).every((v, i) => v === periodic[1].params.get(name)!.data[i])
    );
  const six = batches([6, 6, 6, 6, 6, 6]);
  for (const [i, b] of six.entries()) {
    await Promise.all(periodic.map((t) => t.step(b)));
    assert.equal(same(), (i + 1) % 3 === 0, `after step ${i + 1}`);
  }
  await Promise.all([...local, ...periodic, single].map((t) => t.release()));
});
