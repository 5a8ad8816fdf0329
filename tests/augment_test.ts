// Image augmentation (torchvision's RandomCrop(size, padding) then RandomHorizontalFlip(0.5)):
// exact pixels against a pad-crop-flip reference, draws fresh every epoch and reproducible from
// the seed, exact after a resume (loader and pipeline), training batches only, option errors.
import { flatten, linear, pipeline, sequential, sgd } from "../mod.ts";
import { crossEntropy } from "../src/dsl/losses.ts";
import { fashionMnist, tensorDataset } from "../src/dsl/datasets.ts";
import type { Augmentation } from "../src/dsl/pipeline.ts";
import type { ImageSet } from "../src/data/idx.ts";
import {
  augmentDraws,
  createLoader,
  describeAugmentation,
  type ImageBatch,
  type LoaderOptions,
} from "../src/data/loader.ts";
import { compileInputTransform, NAMES } from "../src/compile/compile.ts";
import { emitModel } from "../src/onnx/emit.ts";
import { createSession } from "../src/runtime/session.ts";
import { writeSyntheticFashionMnist } from "../src/data/synthetic.ts";
import { listCheckpoints, readCheckpoint } from "../src/train/checkpoint.ts";
import type { EpochResult, RunOptions } from "../src/train/run.ts";
import { assert, assertRejectsMatch, assertThrowsMatch } from "./_assert.ts";

const C = 2, H = 3, W = 4, COUNT = 5;
/** Pixel (c, h, w) of image k: distinct and non-zero, so padding zeros stand out. */
const value = (k: number, c: number, h: number, w: number) => 1 + k * 24 + c * 12 + h * 4 + w;
const set: ImageSet = {
  images: Uint8Array.from({ length: COUNT * C * H * W }, (_, i) => {
    const w = i % W, h = Math.floor(i / W) % H, c = Math.floor(i / (W * H)) % C;
    return value(Math.floor(i / (C * H * W)), c, h, w);
  }),
  labels: Uint8Array.of(0, 1, 2, 1, 0),
  count: COUNT,
  channels: C,
  height: H,
  width: W,
  classes: 3,
};
const CROP: Augmentation = { randomCrop: { size: 3, padding: 1 }, horizontalFlip: true };

/** Image k zero-padded by `p`, cropped at (top, left) of the padded image, optionally mirrored. */
function reference(k: number, top: number, left: number, flip: boolean, size: number, p: number) {
  const padded = (c: number, i: number, j: number) =>
    i < p || i >= H + p || j < p || j >= W + p ? 0 : value(k, c, i - p, j - p);
  const out: number[] = [];
  for (let c = 0; c < C; c++) {
    for (let r = 0; r < size; r++) {
      const row = Array.from({ length: size }, (_, q) => padded(c, top + r, left + q));
      if (flip) row.reverse();
      out.push(...row.map((v) => Math.fround(v / 255)));
    }
  }
  return out;
}

/**
 * What the model sees of each sample: the batches (raw bytes plus window indices) run through the
 * train graph's input preamble (augmentation, ToTensor), as float arrays.
 */
async function samples(batches: readonly ImageBatch[], augment: Augmentation) {
  const graph = compileInputTransform({
    sampleShape: [C, H, W],
    inputDtype: "uint8",
    classes: 3,
    augment,
  });
  const session = await createSession(emitModel(graph), { threads: 1 });
  const out: number[][] = [];
  try {
    for (const b of batches) {
      const input = { dtype: "uint8" as const, dims: [b.size, C, H, W], data: b.x };
      const { x } = await session.run({ input, ...b.feeds });
      const pixels = x.data.length / b.size;
      for (let i = 0; i < b.size; i++) {
        out.push(Array.from(x.data.subarray(i * pixels, (i + 1) * pixels) as Float32Array));
      }
    }
  } finally {
    await session.release();
  }
  return out;
}
const epochs = (options: LoaderOptions, n: number) => {
  const loader = createLoader(set, options);
  return Array.from({ length: n }, () => [...loader]);
};

Deno.test("ToTensor in the graphs gives Math.fround(v / 255) for every byte, bit for bit", async () => {
  const graph = compileInputTransform({
    sampleShape: [1, 16, 16],
    inputDtype: "uint8",
    classes: 2,
  });
  const session = await createSession(emitModel(graph), { threads: 1 });
  try {
    const data = Uint8Array.from({ length: 256 }, (_, v) => v);
    const { x } = await session.run({ input: { dtype: "uint8", dims: [1, 1, 16, 16], data } });
    assert.deepEqual([...x.data as Float32Array], [...data].map((v) => Math.fround(v / 255)));
  } finally {
    await session.release();
  }
});

Deno.test("augment: each sample is its image zero-padded, cropped at the drawn offsets, flipped", async () => {
  const seed = 7, size = 3, p = 1;
  const [e0, e1] = epochs({ batchSize: 2, seed, augment: CROP }, 2);
  assert.deepEqual(e0.map((b) => b.size), [2, 2, 1]);
  assert.deepEqual(e0.flatMap((b) => [...b.y]), [0n, 1n, 2n, 1n, 0n], "labels unchanged");
  // Batches stay compact: raw bytes, and per sample 3 row and 3 column indices (int64).
  assert.deepEqual(e0.map((b) => [b.x.length, b.feeds![NAMES.augmentRows].dims]), [
    [2 * C * H * W, [2, 1, 3, 1]],
    [2 * C * H * W, [2, 1, 3, 1]],
    [C * H * W, [1, 1, 3, 1]],
  ]);
  const offsets = [];
  for (const [epoch, batches] of [e0, e1].entries()) {
    const u = augmentDraws(seed, epoch, COUNT);
    for (const [k, got] of (await samples(batches, CROP)).entries()) {
      // Offsets uniform over the 3 × 4 window positions of the 5 × 6 padded image; flip p = 0.5.
      const top = Math.floor(u[3 * k] * 3 / 2 ** 32), left = Math.floor(u[3 * k + 1] * 4 / 2 ** 32);
      const flip = u[3 * k + 2] < 2 ** 31;
      assert.deepEqual(got, reference(k, top, left, flip, size, p), `epoch ${epoch} sample ${k}`);
      // Independently of the draws: exactly one window (and orientation) of the padded image.
      const matches = [];
      for (let t = 0; t < 3; t++) {
        for (let l = 0; l < 4; l++) {
          for (const f of [false, true]) {
            if (reference(k, t, l, f, size, p).join() === got.join()) matches.push([t, l, f]);
          }
        }
      }
      assert.deepEqual(matches, [[top, left, flip]]);
      offsets.push([top, left, flip]);
    }
  }
  // The draws of seed 7, pinned: both orientations and several offsets occur.
  assert.deepEqual(offsets, [
    [1, 1, true],
    [0, 0, false],
    [1, 0, true],
    [2, 0, false],
    [0, 1, true],
    [1, 0, true],
    [0, 2, true],
    [0, 0, false],
    [0, 0, true],
    [2, 0, false],
  ]);
});

Deno.test("augment: a flip alone mirrors the width axis; no augmentation changes nothing", async () => {
  const pixels = C * H * W, FLIP = { horizontalFlip: true };
  const [[flipBatch]] = epochs({ batchSize: 5, seed: 3, augment: FLIP }, 1);
  const [[plainBatch]] = epochs({ batchSize: 5 }, 1);
  const flipped = { x: (await samples([flipBatch], FLIP)).flat() };
  const plain = { x: [...plainBatch.x].map((v) => Math.fround(v / 255)) };
  const u = augmentDraws(3, 0, COUNT);
  const flips = Array.from({ length: COUNT }, (_, k) => u[3 * k + 2] < 2 ** 31);
  assert.ok(flips.includes(true) && flips.includes(false), `both orientations occur: ${flips}`);
  for (let k = 0; k < COUNT; k++) {
    const rows = [];
    for (let r = 0; r < C * H; r++) {
      const row = plain.x.slice(k * pixels + r * W, k * pixels + (r + 1) * W);
      rows.push(...(flips[k] ? row.reverse() : row));
    }
    assert.deepEqual(flipped.x.slice(k * pixels, (k + 1) * pixels), rows);
  }
  // An augmentation that does nothing gives the plain batches, bit for bit.
  for (const augment of [{}, { horizontalFlip: false }]) {
    const [[same]] = epochs({ batchSize: 5, seed: 3, augment }, 1);
    assert.deepEqual(same, plainBatch);
  }
  assert.equal(describeAugmentation(CROP), "randomCrop 3 padding 1, horizontalFlip");
  assert.equal(describeAugmentation({ horizontalFlip: false }), "");
});

Deno.test("augment: fresh every epoch, equal for equal seeds, exact after resumeAt", () => {
  const options = { batchSize: 2, seed: 11, shuffle: true, augment: CROP } as const;
  const a = epochs(options, 4), b = epochs(options, 4);
  assert.deepEqual(a, b, "same seed, same batches");
  const windows = (batches: ImageBatch[]) => batches.map((b) => b.feeds);
  for (let e = 1; e < 4; e++) assert.notDeepEqual(windows(a[e]), windows(a[0]), `epoch ${e}`);
  const other = epochs({ ...options, seed: 12 }, 1);
  assert.notDeepEqual(windows(other[0]), windows(a[0]));
  // Resuming at epoch 2, batch 1 continues the uninterrupted sequence, then whole epochs.
  const resumed = createLoader(set, { ...options, resumeAt: { epoch: 2, batch: 1 } });
  assert.deepEqual([...resumed], a[2].slice(1));
  assert.deepEqual([...resumed], a[3]);
  // With dropLast the epoch's positions are the kept ones: 4 samples in 2 batches.
  const dropped = epochs({ ...options, dropLast: true }, 1)[0];
  assert.deepEqual(dropped.map((x) => x.size), [2, 2]);
});

Deno.test("augment: the loader checks the crop against the images and needs an image set", async () => {
  assertThrowsMatch(
    () => createLoader(set, { batchSize: 2, augment: { randomCrop: { size: 6, padding: 1 } } }),
    RangeError,
    "Cannot create a data loader: randomCrop size 6 exceeds the 3x4 images padded by 1 (5x6)",
  );
  assertThrowsMatch(
    () => createLoader(set, { batchSize: 2, augment: { randomCrop: { size: 2, padding: -1 } } }),
    RangeError,
    "Cannot create a data loader: randomCrop padding must be an integer ≥ 0, got -1",
  );
  assertThrowsMatch(
    () => createLoader(set, { batchSize: 2, augment: { randomCrop: { size: 0 } } }),
    RangeError,
    "Cannot create a data loader: randomCrop size must be a positive integer, got 0",
  );
  const tensors = { x: new Float32Array(8), y: new Int32Array(2), count: 2 };
  assertThrowsMatch(
    () => createLoader(tensors, { batchSize: 2, augment: { horizontalFlip: true } }),
    RangeError,
    "Cannot create a data loader: augmentation (horizontalFlip) needs an image set, got a " +
      "tensor set",
  );
  // A padded crop larger than the image is allowed in the loader (the windows are size × size).
  const BIG = { randomCrop: { size: 5, padding: 1 } };
  const [[big]] = epochs({ batchSize: 5, augment: BIG }, 1);
  assert.deepEqual(big.feeds![NAMES.augmentCols].dims, [5, 1, 1, 5]);
  assert.equal((await samples([big], BIG)).flat().length, COUNT * C * 5 * 5);
});

// ---- pipelines ---------------------------------------------------------------------------------

const images = fashionMnist({ root: "unused", download: false });
const AUGMENT: Augmentation = { randomCrop: { size: 28, padding: 2 }, horizontalFlip: true };

Deno.test("augment: data() checks the options and inherits them from the previous call", () => {
  const p = pipeline().data(images, { augment: AUGMENT });
  assert.deepEqual(p.props.augment, {
    randomCrop: { size: 28, padding: 2 },
    horizontalFlip: true,
  });
  assert.ok(Object.isFrozen(p.props.augment) && Object.isFrozen(p.props.augment!.randomCrop));
  assert.deepEqual(p.data(images, { batchSize: 8 }).props.augment, p.props.augment);
  assert.equal(p.data(images, { augment: false }).props.augment, undefined);
  assert.equal(pipeline().data(images, { augment: {} }).props.augment, undefined);
  const crop = (randomCrop: { size: number; padding?: number }) => () =>
    pipeline().data(images, { augment: { randomCrop } });
  assertThrowsMatch(
    crop({ size: 28, padding: -2 }),
    RangeError,
    "Cannot build pipeline: augment.randomCrop padding must be an integer ≥ 0, got -2",
  );
  assertThrowsMatch(
    crop({ size: 2.5 }),
    RangeError,
    "Cannot build pipeline: augment.randomCrop size must be a positive integer, got 2.5",
  );
  const tensors = tensorDataset({
    train: { x: new Float32Array(4), y: [0, 1] },
    test: { x: new Float32Array(4), y: [0, 1] },
    sampleShape: [2],
    classes: 2,
  });
  assertThrowsMatch(
    () => pipeline().data(tensors, { augment: { horizontalFlip: true } }),
    RangeError,
    /^Cannot build pipeline: augment needs an image dataset .*, got a tensorDataset$/,
  );
});

/** Trains a linear model on synthetic FashionMNIST in `root`, collecting each step's loss. */
async function train(root: string, augment: Augmentation | false, options: RunOptions = {}) {
  const losses: number[] = [];
  const epochs: EpochResult[] = [];
  const result = await pipeline()
    .data(fashionMnist({ root, download: false }), {
      batchSize: 16,
      shuffle: true,
      validation: 0.25,
      augment,
    })
    .model(sequential(flatten(), linear(28 * 28, 10)))
    .loss(crossEntropy())
    .optimizer(sgd({ lr: 0.05 }))
    .seed(5)
    .epochs(2)
    .run({
      threads: 1,
      log: () => {},
      onBatch: (e) => losses.push(e.loss),
      onEpoch: (e) => epochs.push(e),
      ...options,
    });
  return { losses, epochs, model: result.exportModel() };
}

async function withData(fn: (root: string) => Promise<void>) {
  const root = await Deno.makeTempDir({ prefix: "onnxtrain_augment_" });
  try {
    await writeSyntheticFashionMnist(root, { train: 60, test: 20, seed: 4 });
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("augment: a run resumes bit for bit; another augmentation is refused", async () => {
  await withData(async (root) => {
    const full = await train(root, AUGMENT, { checkpointDir: `${root}/full` });
    const plain = await train(root, false);
    assert.equal(full.losses.length, 6, "45 training samples in batches of 16: 3 a epoch");
    assert.notDeepEqual(full.losses.slice(1), plain.losses.slice(1), "augmentation is applied");
    const first = await train(root, AUGMENT, { checkpointDir: `${root}/split`, epochs: 1 });
    const rest = await train(root, AUGMENT, { checkpointDir: `${root}/split`, resume: true });
    assert.deepEqual([...first.losses, ...rest.losses], full.losses);
    assert.deepEqual(rest.model, full.model);
    const saved = await readCheckpoint((await listCheckpoints(`${root}/split`)).at(-1)!);
    assert.equal(saved.info.dataOrder, "augment randomCrop 28 padding 2, horizontalFlip");
    await assertRejectsMatch(
      () => train(root, { horizontalFlip: true }, { checkpointDir: `${root}/split`, resume: true }),
      RangeError,
      /with data order "augment horizontalFlip": it was saved with "augment randomCrop 28 padding 2, horizontalFlip"$/,
    );
    await assertRejectsMatch(
      () => train(root, false, { checkpointDir: `${root}/split`, resume: true }),
      RangeError,
      /with data order "plain": it was saved with "augment randomCrop 28 padding 2, horizontalFlip"$/,
    );
  });
});

Deno.test("augment: validation and test batches are not augmented", async () => {
  await withData(async (root) => {
    // At lr 0 the weights stay put, so unaugmented evaluations agree exactly; training differs.
    const frozen = { lr: 0 } as const;
    const augmented = await train(root, AUGMENT, frozen), plain = await train(root, false, frozen);
    const figures = (r: typeof plain) =>
      r.epochs.map((e) => [e.testLoss, e.accuracy, e.validationLoss, e.validationAccuracy]);
    assert.deepEqual(figures(augmented), figures(plain));
    assert.ok(figures(plain).flat().every(Number.isFinite));
    assert.notDeepEqual(augmented.losses, plain.losses);
    await assertRejectsMatch(
      () => train(root, { randomCrop: { size: 24, padding: 2 } }),
      RangeError,
      "Cannot build pipeline: augment.randomCrop size 24 differs from the 28x28 images; validation and test " +
        "images are not cropped, so the model would see other shapes",
    );
  });
});
