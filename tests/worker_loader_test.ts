// The worker loader (batches built on a worker thread): byte-equal to createLoader's batches for
// plain, shuffled, resumed, subset, weighted, augmented and float-target sets; epochs left midway;
// errors rejecting with createLoader's class and message; close() stopping the worker.
import type { ImageSet } from "../src/data/idx.ts";
import {
  type Batch,
  createLoader,
  type LoaderOptions,
  type SampleSet,
} from "../src/data/loader.ts";
import type { TensorSet } from "../src/data/tensor_dataset.ts";
import { createWorkerLoader, shareSampleSet } from "../src/data/worker_loader.ts";
import { createRng } from "../src/util/random.ts";
import { assert, assertRejectsMatch } from "./_assert.ts";
import { crossEntropy, fashionMnist, flatten, linear, pipeline, sequential, sgd } from "../mod.ts";
import { parseCliArgs } from "../src/cli/cli.ts";
import { writeSyntheticFashionMnist } from "../src/data/synthetic.ts";
import type { RunOptions } from "../src/train/run.ts";

const rng = createRng(3);
/** 37 RGB images of 5×6 with random pixels and labels of 4 classes. */
const images: ImageSet = {
  images: Uint8Array.from({ length: 37 * 3 * 5 * 6 }, () => rng.nextUint32() & 255),
  labels: Uint8Array.from({ length: 37 }, () => rng.nextUint32() % 4),
  count: 37,
  channels: 3,
  height: 5,
  width: 6,
  classes: 4,
};
/** 29 samples of 3 int32 token ids with 2 float targets each. */
const floats: TensorSet = {
  x: Int32Array.from({ length: 29 * 3 }, () => rng.nextUint32() % 1000),
  y: Float32Array.from({ length: 29 * 2 }, () => rng.nextFloat() - 0.5),
  count: 29,
};
/** 23 samples of 4 float features with int32 class indices. */
const classes: TensorSet = {
  x: Float32Array.from({ length: 23 * 4 }, () => rng.nextFloat()),
  y: Int32Array.from({ length: 23 }, () => rng.nextUint32() % 3),
  count: 23,
};

/** Every typed array in a batch (x, y, each feed's data), by path, as bytes. */
function bytesOf(batch: Batch): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const walk = (value: unknown, path: string) => {
    if (ArrayBuffer.isView(value)) {
      out.set(
        `${path}:${value.constructor.name}`,
        new Uint8Array(
          value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength),
        ),
      );
    } else if (value !== null && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) walk(v, `${path}.${k}`);
    } else {
      out.set(path, new Uint8Array(new TextEncoder().encode(String(value))));
    }
  };
  walk(batch, "batch");
  return out;
}

/** Asserts two epochs' batches hold the same keys and bytes, batch by batch. */
function assertSameBatches(actual: readonly Batch[], expected: readonly Batch[], what: string) {
  assert.equal(actual.length, expected.length, `${what}: batch count`);
  actual.forEach((batch, i) => {
    assert.ok(Object.isFrozen(batch), `${what}: batch ${i} is frozen`);
    const a = bytesOf(batch), e = bytesOf(expected[i]);
    assert.deepEqual([...a.keys()].sort(), [...e.keys()].sort(), `${what}: batch ${i} fields`);
    for (const [key, bytes] of e) {
      assert.deepEqual(a.get(key), bytes, `${what}: batch ${i} ${key}`);
    }
  });
}

/** Compares `epochs` epochs of the worker loader with createLoader's, at several depths. */
async function assertMatches(set: SampleSet, options: LoaderOptions, epochs: number) {
  const reference = createLoader(set, options);
  const expected = Array.from({ length: epochs }, () => [...reference]);
  for (const depth of [1, 2, 5]) {
    const loader = await createWorkerLoader(set, options, { depth });
    try {
      assert.deepEqual([loader.size, loader.batches], [reference.size, reference.batches]);
      for (let e = 0; e < epochs; e++) {
        const got: Batch[] = [];
        for await (const batch of loader.epoch()) got.push(batch);
        assertSameBatches(got, expected[e], `depth ${depth}, epoch ${e}`);
      }
    } finally {
      loader.close();
    }
  }
  // The checks are not vacuous: epochs differ when the order or the draws change per epoch.
  return expected;
}

Deno.test("worker loader: plain image batches equal createLoader's", async () => {
  const [[first, second]] = await assertMatches(images, { batchSize: 8 }, 1);
  // The comparison covers real data: 8 images of 90 values, their labels.
  assert.deepEqual([first.size, first.x.length, second.y[1]], [
    8,
    8 * 90,
    BigInt(images.labels[9]),
  ]);
});

Deno.test("worker loader: shuffled epochs equal createLoader's, epoch after epoch", async () => {
  const epochs = await assertMatches(images, { batchSize: 6, shuffle: true, seed: 9 }, 2);
  assert.notDeepEqual(bytesOf(epochs[0][0]), bytesOf(epochs[1][0]));
});

Deno.test("worker loader: resumeAt starts mid-epoch as createLoader does", async () => {
  const options = { batchSize: 5, shuffle: true, seed: 4, resumeAt: { epoch: 1, batch: 3 } };
  const epochs = await assertMatches(classes, options, 2);
  assert.deepEqual(epochs.map((e) => e.length), [2, 5]);
});

Deno.test("worker loader: an index subset, dropLast, equals createLoader's", async () => {
  const indices = Uint32Array.of(30, 2, 17, 4, 36, 0, 9, 21, 11);
  await assertMatches(images, { batchSize: 4, indices, dropLast: true }, 1);
  await assertMatches(images, { batchSize: 4, indices, shuffle: true, seed: 2 }, 2);
});

Deno.test("worker loader: weighted sampling equals createLoader's draws", async () => {
  await assertMatches(classes, { batchSize: 7, sampler: "balanced", seed: 5 }, 2);
  await assertMatches(images, { batchSize: 7, sampler: { weights: [1, 0, 2, 3] }, seed: 5 }, 2);
});

Deno.test("worker loader: augmented images equal createLoader's crops and flips", async () => {
  const augment = { randomCrop: { size: 4, padding: 2 }, horizontalFlip: true };
  const options = { batchSize: 8, shuffle: true, seed: 6, resumeAt: { epoch: 2, batch: 1 } };
  const epochs = await assertMatches(images, { ...options, augment }, 2);
  // Augmentation changes the batches (pixels or window feeds), differently every epoch.
  const plain = [...createLoader(images, options)];
  assert.notDeepEqual(bytesOf(epochs[0][0]), bytesOf(plain[0]));
  assert.notDeepEqual(bytesOf(epochs[1][1]), bytesOf(epochs[0][0]));
});

Deno.test("worker loader: float targets and int32 inputs equal createLoader's", async () => {
  const epochs = await assertMatches(floats, { batchSize: 4, shuffle: true, seed: 8 }, 2);
  assert.ok(epochs[0][0].x instanceof BigInt64Array && epochs[0][0].y instanceof Float32Array);
});

Deno.test("worker loader: a shared-memory set gives the same batches", async () => {
  const shared = shareSampleSet(images);
  assert.ok(shared.images.buffer instanceof SharedArrayBuffer);
  const expected = [...createLoader(images, { batchSize: 16, shuffle: true, seed: 1 })];
  const loader = await createWorkerLoader(shared, { batchSize: 16, shuffle: true, seed: 1 });
  try {
    const got: Batch[] = [];
    for await (const batch of loader) got.push(batch);
    assertSameBatches(got, expected, "shared");
  } finally {
    loader.close();
  }
});

Deno.test("worker loader: an epoch left midway does not stall the next", async () => {
  const options = { batchSize: 3, shuffle: true, seed: 12 };
  const reference = createLoader(classes, options);
  const expected = [0, 1, 2, 3].map(() => [...reference]);
  const loader = await createWorkerLoader(classes, options, { depth: 2 });
  try {
    // Epoch 0: break after one batch (return() stops the worker's epoch).
    for await (const batch of loader.epoch()) {
      assertSameBatches([batch], expected[0].slice(0, 1), "left epoch 0");
      break;
    }
    // Epoch 1: take two batches, then start epoch 2 without return(): the old iterator ends.
    const left = loader.epoch();
    const two = [(await left.next()).value!, (await left.next()).value!];
    assertSameBatches(two, expected[1].slice(0, 2), "left epoch 1");
    await new Promise((resolve) => setTimeout(resolve, 50)); // batches 3 and 4 arrive meanwhile
    const next = loader.epoch();
    assert.deepEqual(await left.next(), { done: true, value: undefined });
    const got: Batch[] = [];
    for await (const batch of next) got.push(batch);
    assertSameBatches(got, expected[2], "epoch 2");
    const last: Batch[] = [];
    for await (const batch of loader.epoch()) last.push(batch);
    assertSameBatches(last, expected[3], "epoch 3");
  } finally {
    loader.close();
  }
});

Deno.test("worker loader: bad options reject with createLoader's class and message", async () => {
  const bad = [
    { batchSize: 0 },
    { batchSize: 4, augment: { horizontalFlip: true } }, // augmentation of a tensor set
    { batchSize: 4, sampler: "balanced" as const }, // float targets
    { batchSize: 4, indices: Uint32Array.of(3, 29) },
  ];
  for (const options of bad) {
    let expected: Error | undefined;
    try {
      createLoader(floats, options);
    } catch (e) {
      expected = e as Error;
    }
    assert.ok(expected instanceof RangeError, JSON.stringify(options));
    await assertRejectsMatch(
      () => createWorkerLoader(floats, options),
      RangeError,
      expected.message,
    );
  }
  await assertRejectsMatch(
    () => createWorkerLoader(floats, { batchSize: 4 }, { depth: 0 }),
    RangeError,
    /depth must be a positive integer, got 0/,
  );
});

Deno.test("worker loader: close() stops the worker and later batches reject", async () => {
  const loader = await createWorkerLoader(images, { batchSize: 4 }, { depth: 3 });
  const epoch = loader.epoch();
  assert.equal((await epoch.next()).value!.size, 4);
  loader.close();
  loader.close(); // idempotent
  await assertRejectsMatch(() => epoch.next(), Error, /worker data loader is closed/);
  assert.throws(() => loader.epoch(), /worker data loader is closed/);
  // A loader closed while a consumer waits wakes it with the rejection.
  const waiting = await createWorkerLoader(images, { batchSize: 37 }, { depth: 1 });
  const it = waiting.epoch();
  await it.next();
  const pending = it.next();
  waiting.close();
  await assertRejectsMatch(() => pending, Error, /worker data loader is closed/);
});

Deno.test("worker loader: a closed loader lets the process exit", async () => {
  // A live worker keeps a process running (and Deno's test sanitizers do not report one), so
  // this runs a program that leaves an epoch midway and closes: it must end by itself.
  const module = new URL("../src/data/worker_loader.ts", import.meta.url).href;
  const program = `
    import { createWorkerLoader } from ${JSON.stringify(module)};
    const set = { x: new Float32Array(400), y: new Int32Array(100), count: 100 };
    const loader = await createWorkerLoader(set, { batchSize: 10, shuffle: true }, { depth: 3 });
    for await (const batch of loader.epoch()) if (batch.size === 10) break;
    const left = loader.epoch();
    await left.next();
    loader.close();
    console.log("closed");
  `;
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", program],
    stdout: "piped",
    stderr: "inherit",
    signal: AbortSignal.timeout(30_000),
  }).output();
  assert.deepEqual([code, new TextDecoder().decode(stdout).trim()], [0, "closed"]);
});

Deno.test('run: prefetch "worker" trains exactly as the main-thread loader; --worker-loader', async () => {
  const root = await Deno.makeTempDir({ prefix: "onnxtrain_worker_run_" });
  try {
    await writeSyntheticFashionMnist(root, { train: 80, test: 16, seed: 6 });
    const p = pipeline()
      .data(fashionMnist({ root, download: false }), {
        batchSize: 16,
        shuffle: true,
        validation: 0.2,
        augment: { randomCrop: { size: 28, padding: 2 }, horizontalFlip: true },
      })
      .model(sequential(flatten(), linear(784, 10)))
      .loss(crossEntropy())
      .optimizer(sgd({ lr: 0.05 }))
      .seed(2)
      .epochs(2);
    const runWith = async (prefetch: RunOptions["prefetch"]) => {
      const losses: number[] = [];
      const r = await p.run({
        threads: 1,
        prefetch,
        log: () => {},
        onBatch: (e) => losses.push(e.loss),
      });
      return { losses, model: r.exportModel(), test: r.epochs.map((e) => e.testLoss) };
    };
    const main = await runWith(true), worker = await runWith("worker");
    assert.equal(main.losses.length, 8);
    assert.deepEqual(worker, main);
    const parsed = parseCliArgs(["--worker-loader"]);
    assert.equal(parsed === "help" ? undefined : parsed.prefetch, "worker");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
