import { crossEntropy, linear, pipeline, sequential, sgd } from "../mod.ts";
import {
  type ClassTensorDataset,
  type FloatTensorDataset,
  type TensorDataset,
  tensorDataset,
} from "../src/dsl/datasets.ts";
import { loadDataset } from "../src/data/datasets.ts";
import type { ImageSet } from "../src/data/idx.ts";
import { type Batch, createLoader } from "../src/data/loader.ts";
import { createRng } from "../src/util/random.ts";
import { assert, assertThrowsMatch } from "./_assert.ts";

const range = <T = number>(n: number, f = ((i: number) => i) as (i: number) => T): T[] =>
  Array.from({ length: n }, (_, i) => f(i));
const floats = (n: number, f?: (i: number) => number) => Float32Array.from(range(n, f));
const PREFIX = "Cannot create tensor dataset: ";

/** Five samples of two features (x = 10k + j) with float targets of shape [2] (y = −k, k/2). */
const regression = () =>
  tensorDataset({
    train: {
      x: floats(10, (i) => 10 * Math.floor(i / 2) + (i % 2)),
      y: floats(10, (i) => i % 2 ? Math.floor(i / 2) / 2 : -Math.floor(i / 2)),
    },
    test: { x: floats(4), y: floats(4) },
    sampleShape: [2],
    targetShape: [2],
  });

// ---- the description -------------------------------------------------------------------------

Deno.test("tensorDataset: float targets describe float32 inputs and targetShape", () => {
  const ds = regression();
  const typed: TensorDataset<"float"> = ds;
  assert.equal(typed.targets, "float");
  assert.deepEqual(
    [ds.kind, ds.inputDtype, ds.sampleShape, ds.targetShape, ds.train.count, ds.test.count],
    ["tensor", "float32", [2], [2], 5, 2],
  );
  assert.equal("classes" in ds, false);
  assert.ok(Object.isFrozen(ds) && Object.isFrozen(ds.train) && Object.isFrozen(ds.sampleShape));
  assert.ok(Object.isFrozen(ds.targetShape));
});

Deno.test("tensorDataset: class targets infer classes as the largest index plus one", () => {
  const x = floats(6);
  const inferred = tensorDataset({
    train: { x, y: [0, 2, 1] },
    test: { x: floats(4), y: Int32Array.of(4, 0) },
    sampleShape: [2],
  });
  const typed: TensorDataset<"classes"> = inferred;
  assert.deepEqual([typed.targets, inferred.classes, inferred.inputDtype], [
    "classes",
    5,
    "float32",
  ]);
  assert.equal("targetShape" in inferred, false);
  // A number[] is copied into a BigInt64Array; typed arrays are kept as given.
  assert.ok(inferred.train.y instanceof BigInt64Array);
  assert.deepEqual([...inferred.train.y], [0n, 2n, 1n]);
  assert.equal(inferred.train.x, x);
  const given = tensorDataset({
    train: { x, y: BigInt64Array.of(0n, 1n, 1n) },
    test: { x, y: BigInt64Array.of(1n, 1n, 0n) },
    sampleShape: [1, 2],
    classes: 7,
  });
  assert.equal(given.classes, 7);
  assert.deepEqual(given.sampleShape, [1, 2]);
});

Deno.test("tensorDataset: integer inputs are int64 token ids", () => {
  for (const x of [Int32Array.of(3, 1, 4, 1), BigInt64Array.of(3n, 1n, 4n, 1n)]) {
    const ds = tensorDataset({
      train: { x, y: [1, 0] },
      test: { x, y: [0, 1] },
      sampleShape: [2],
    });
    assert.equal(ds.inputDtype, "int64");
  }
  // A mix of Int32Array and BigInt64Array is one input type (int64).
  const mixed = tensorDataset({
    train: { x: Int32Array.of(1, 2), y: floats(2) },
    test: { x: BigInt64Array.of(3n), y: floats(1) },
    sampleShape: [1],
    targetShape: [1],
  });
  assert.equal(mixed.inputDtype, "int64");
});

Deno.test("tensorDataset: shapes and lengths are checked, naming the numbers", () => {
  const cases: [() => unknown, string][] = [
    [
      () =>
        tensorDataset({
          train: { x: floats(3), y: [0] },
          test: { x: floats(3), y: [0] },
          sampleShape: [3, 0],
        }),
      "sampleShape must be a list of positive integers, got [3, 0]",
    ],
    [
      () =>
        tensorDataset({
          train: { x: floats(3), y: [0] },
          test: { x: floats(3), y: [0] },
          sampleShape: [1.5],
        }),
      "sampleShape must be a list of positive integers, got [1.5]",
    ],
    [
      () =>
        tensorDataset({
          train: { x: floats(10), y: [0, 1, 0] },
          test: { x: floats(3), y: [0] },
          sampleShape: [3],
        }),
      "train x has 10 values, which is not a positive multiple of 3, the size of sampleShape [3]",
    ],
    [
      () =>
        tensorDataset({
          train: { x: floats(6), y: [0, 1] },
          test: { x: floats(0), y: [] },
          sampleShape: [1, 3],
        }),
      "test x has 0 values, which is not a positive multiple of 3, the size of sampleShape [1, 3]",
    ],
    [
      () =>
        tensorDataset({
          train: { x: floats(6), y: [0, 1] },
          test: { x: floats(9), y: [0, 1] },
          sampleShape: [3],
        }),
      "test y has 2 class indices for 3 samples (one per sample)",
    ],
    [
      () =>
        tensorDataset({
          train: { x: floats(6), y: floats(5) },
          test: { x: floats(2), y: floats(2) },
          sampleShape: [2],
          targetShape: [1, 1],
        }),
      "train y has 5 values, expected 3 for 3 samples of targetShape [1, 1]",
    ],
    [
      () =>
        tensorDataset({
          train: { x: floats(6), y: floats(6) },
          test: { x: floats(2), y: floats(2) },
          sampleShape: [2],
          targetShape: [-2],
        }),
      "targetShape must be a list of positive integers, got [-2]",
    ],
    [
      () =>
        tensorDataset({
          train: { x: floats(2), y: [0, 1] },
          test: { x: floats(2), y: [1, 3] },
          sampleShape: [1],
          classes: 3,
        }),
      "class index 3 at test y[1] is not below the class count 3",
    ],
    [
      () =>
        tensorDataset({
          train: { x: floats(3), y: Int32Array.of(0, 1, -1) },
          test: { x: floats(1), y: [0] },
          sampleShape: [1],
        }),
      "class index -1 at train y[2] is negative",
    ],
    [
      () =>
        tensorDataset({
          train: { x: floats(2), y: [1.5, 0] },
          test: { x: floats(1), y: [0] },
          sampleShape: [1],
        }),
      "class index 1.5 at train y[0] is not an integer",
    ],
    [
      () =>
        tensorDataset({
          train: { x: floats(2), y: BigInt64Array.of(0n, 10n) },
          test: { x: floats(1), y: [0] },
          sampleShape: [1],
          classes: 10,
        }),
      "class index 10 at train y[1] is not below the class count 10",
    ],
    [
      () =>
        tensorDataset({
          train: { x: floats(1), y: [0] },
          test: { x: floats(1), y: [0] },
          sampleShape: [1],
          classes: 0,
        }),
      "classes must be a positive integer, got 0",
    ],
  ];
  for (const [fn, message] of cases) assertThrowsMatch(fn, RangeError, PREFIX + message);
});

/** Calls tensorDataset without type checks, as JavaScript callers may. */
const loose = (options: unknown) => () => tensorDataset(options as never);

Deno.test("tensorDataset: array types and target options must agree", () => {
  const floatSplit = { x: floats(2), y: floats(2) }, classSplit = { x: floats(2), y: [0, 1] };
  const cases: [() => unknown, string][] = [
    [
      loose({ train: floatSplit, test: floatSplit, sampleShape: [1] }),
      "y is a Float32Array of float targets, so targetShape is required",
    ],
    [
      loose({ train: classSplit, test: classSplit, sampleShape: [1], targetShape: [1] }),
      "targetShape was given but y holds class indices (Array); give float targets as a " +
      "Float32Array",
    ],
    [
      loose({
        train: floatSplit,
        test: floatSplit,
        sampleShape: [1],
        targetShape: [1],
        classes: 2,
      }),
      "classes was given but y is a Float32Array of float targets; give class indices as a " +
      "BigInt64Array, Int32Array or number array",
    ],
    [
      loose({ train: classSplit, test: { x: Int32Array.of(1, 2), y: [0, 1] }, sampleShape: [1] }),
      "train x is Float32Array (float32) but test x is Int32Array (int64); both splits need one " +
      "input type",
    ],
    [
      loose({ train: classSplit, test: floatSplit, sampleShape: [1] }),
      "train y is Array but test y is Float32Array; both splits need class indices or both float " +
      "targets",
    ],
    [
      loose({ train: { x: [1, 2], y: [0, 1] }, test: classSplit, sampleShape: [1] }),
      "train x must be a Float32Array (features) or a BigInt64Array or Int32Array (token ids), " +
      "got Array",
    ],
    [
      loose({
        train: { x: floats(2), y: new Float64Array(2) },
        test: classSplit,
        sampleShape: [1],
      }),
      "train y must be a Float32Array (float targets) or a BigInt64Array, Int32Array or number " +
      "array (class indices), got Float64Array",
    ],
  ];
  for (const [fn, message] of cases) assertThrowsMatch(fn, TypeError, PREFIX + message);

  // The same mistakes are type errors.
  const noTargetShape = { train: floatSplit, test: floatSplit, sampleShape: [1] };
  const classesAndShape = {
    train: classSplit,
    test: classSplit,
    sampleShape: [1],
    targetShape: [1],
  };
  const floatsAndClasses = { ...noTargetShape, targetShape: [1], classes: 2 };
  const mixedTargets = { train: classSplit, test: floatSplit, sampleShape: [1] };
  const arrayInputs = { train: { x: [1, 2], y: [0, 1] }, test: classSplit, sampleShape: [1] };
  const typeErrors = [
    // @ts-expect-error: float targets need a targetShape
    () => tensorDataset(noTargetShape),
    // @ts-expect-error: class indices take no targetShape
    () => tensorDataset(classesAndShape),
    // @ts-expect-error: float targets take no classes
    () => tensorDataset(floatsAndClasses),
    // @ts-expect-error: both splits hold the same kind of targets
    () => tensorDataset(mixedTargets),
    // @ts-expect-error: inputs are typed arrays
    () => tensorDataset(arrayInputs),
  ];
  for (const fn of typeErrors) assert.throws(fn, TypeError);
});

Deno.test("tensorDataset: the target kind is part of the type", () => {
  const classes: ClassTensorDataset = tensorDataset({
    train: { x: floats(1), y: [0] },
    test: { x: floats(1), y: [0] },
    sampleShape: [1],
  });
  const float: FloatTensorDataset = regression();
  // @ts-expect-error: a class dataset is not a float dataset
  const wrong: TensorDataset<"float"> = classes;
  const either: TensorDataset[] = [classes, float, wrong];
  assert.equal(either.length, 3);
});

// ---- loading and batching --------------------------------------------------------------------

Deno.test("loadDataset: an in-memory dataset's splits are its own arrays", async () => {
  const ds = regression();
  const splits = await loadDataset(ds, { root: "ignored" });
  assert.equal(splits.train, ds.train);
  assert.equal(splits.test.x, ds.test.x);
  assert.equal(splits.test.y, ds.test.y);
});

type Row = [x: (number | bigint)[], y: (number | bigint)[], size: number];
/** Each batch as plain arrays of its inputs and targets, and its size. */
const rows = (batches: Iterable<Batch>) =>
  [...batches].map((b): Row => [[...b.x], [...b.y], b.size]);

Deno.test("loader: float targets in order, rows copied", () => {
  const ds = regression();
  const loader = createLoader(ds.train, { batchSize: 2 });
  assert.deepEqual([loader.size, loader.batches], [5, 3]);
  assert.deepEqual(rows(loader), [
    [[0, 1, 10, 11], [-0, 0, -1, 0.5], 2],
    [[20, 21, 30, 31], [-2, 1, -3, 1.5], 2],
    [[40, 41], [-4, 2], 1],
  ]);
  const [first] = loader;
  assert.ok(first.x instanceof Float32Array && first.y instanceof Float32Array);
  first.x[0] = 99;
  first.y[1] = 99;
  assert.deepEqual([ds.train.x[0], ds.train.y[1]], [0, 0]);
  assert.ok(Object.isFrozen(first));
});

Deno.test("loader: class targets become int64, in order and shuffled", () => {
  const ds = tensorDataset({
    train: { x: floats(12, (i) => i / 4), y: Int32Array.of(2, 0, 1, 2, 1, 0) },
    test: { x: floats(2), y: [1] },
    sampleShape: [2],
  });
  const ordered = rows(createLoader(ds.train, { batchSize: 4 }));
  assert.deepEqual(ordered, [
    [[0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75], [2n, 0n, 1n, 2n], 4],
    [[2, 2.25, 2.5, 2.75], [1n, 0n], 2],
  ]);
  // Shuffled: each sample keeps its target; seed 3 visits samples in the order 2, 1, 0, 5, 3, 4
  // (the same permutation the image loader draws for that seed, checked below).
  const shuffled = createLoader(ds.train, { batchSize: 4, shuffle: true, seed: 3 });
  const epoch1 = rows(shuffled), epoch2 = rows(shuffled);
  const order = [2, 1, 0, 5, 3, 4];
  const labels = [2n, 0n, 1n, 2n, 1n, 0n];
  assert.deepEqual(epoch1, [
    [
      order.slice(0, 4).flatMap((k) => [k / 2, k / 2 + 0.25]),
      order.slice(0, 4).map((k) => labels[k]),
      4,
    ],
    [order.slice(4).flatMap((k) => [k / 2, k / 2 + 0.25]), order.slice(4).map((k) => labels[k]), 2],
  ]);
  assert.notDeepEqual(epoch2, epoch1, "a new permutation each epoch");
  assert.deepEqual(rows(createLoader(ds.train, { batchSize: 4, shuffle: true, seed: 3 })), epoch1);
});

Deno.test("loader: tensor and image sets with one seed are shuffled alike", () => {
  const count = 37;
  const images: ImageSet = {
    images: Uint8Array.from(range(count)),
    labels: new Uint8Array(count),
    count,
    height: 1,
    width: 1,
    classes: 1,
  };
  const tensors = { x: floats(count), y: new BigInt64Array(count), count };
  for (const seed of [3, 42]) {
    const a = createLoader(images, { batchSize: 8, shuffle: true, seed });
    const b = createLoader(tensors, { batchSize: 8, shuffle: true, seed });
    for (let epoch = 0; epoch < 2; epoch++) {
      const fromImages = [...a].flatMap((batch) => range(batch.size, (i) => batch.x[i]));
      const fromTensors = [...b].flatMap((batch) => [...batch.x]);
      assert.deepEqual(fromTensors, fromImages, `seed ${seed}, epoch ${epoch + 1}`);
    }
  }
  // The permutation quoted in the class-target test above.
  const six = { ...images, images: Uint8Array.from(range(6)), labels: new Uint8Array(6), count: 6 };
  const [batch] = createLoader(six, { batchSize: 6, shuffle: true, seed: 3 });
  assert.deepEqual([...batch.x], [2, 1, 0, 5, 3, 4]);
});

Deno.test("loader: int32 inputs and labels are widened to int64, int64 copied", () => {
  const ids = Int32Array.of(5, -7, 2147483647, -2147483648, 0, 1);
  const ds = tensorDataset({
    train: { x: ids, y: Int32Array.of(1, 0, 2) },
    test: { x: BigInt64Array.of(9n, 2n ** 40n), y: BigInt64Array.of(2n) },
    sampleShape: [2],
  });
  const train = [...createLoader(ds.train, { batchSize: 2 })];
  assert.ok(train.every((b) => b.x instanceof BigInt64Array && b.y instanceof BigInt64Array));
  assert.deepEqual(rows(train), [
    [[5n, -7n, 2147483647n, -2147483648n], [1n, 0n], 2],
    [[0n, 1n], [2n], 1],
  ]);
  const shuffled = rows(createLoader(ds.train, { batchSize: 3, shuffle: true, seed: 1 }));
  const [[x, y]] = shuffled;
  const samples = range(3, (i) => [x[2 * i], x[2 * i + 1], y[i]]);
  assert.deepEqual(
    samples.sort((p, q) => Number(p[2]) - Number(q[2])),
    [[2147483647n, -2147483648n, 0n], [5n, -7n, 1n], [0n, 1n, 2n]],
  );
  const [test] = createLoader(ds.test, { batchSize: 8 });
  assert.deepEqual([...test.x], [9n, 2n ** 40n]);
  test.x[0] = 0n;
  assert.equal(ds.test.x[0], 9n);
});

Deno.test("loader: a tensor set's arrays must match its count", () => {
  const prefix = "Cannot create a data loader: tensor set of 3 samples ";
  const cases: [Parameters<typeof createLoader>[0], string][] = [
    [
      { x: floats(7), y: Int32Array.of(0, 1, 2), count: 3 },
      "has 7 input values, not a multiple of 3",
    ],
    [
      { x: floats(6), y: Int32Array.of(0, 1), count: 3 },
      "has 2 class indices, expected one per sample",
    ],
    [{ x: floats(6), y: floats(4), count: 3 }, "has 4 float targets, not a multiple of 3"],
  ];
  for (const [set, message] of cases) {
    assertThrowsMatch(() => createLoader(set, { batchSize: 2 }), RangeError, prefix + message);
  }
  assertThrowsMatch(
    () => createLoader({ x: floats(1), y: floats(1), count: 1.5 }, { batchSize: 2 }),
    RangeError,
    "Cannot create a data loader: tensor set of 1.5 samples needs a non-negative integer count",
  );
  const empty = createLoader({ x: floats(0), y: floats(0), count: 0 }, { batchSize: 2 });
  assert.deepEqual([empty.size, empty.batches, [...empty].length], [0, 0, 0]);
});

// ---- end to end ------------------------------------------------------------------------------

Deno.test("a pipeline trains on an in-memory dataset: the loss falls", async () => {
  // Two classes of 3-feature points split by the plane x0 + x1 − x2 = 0.
  const rng = createRng(5);
  const make = (count: number) => {
    const x = Float32Array.from(range(3 * count, () => 2 * rng.nextFloat() - 1));
    const y = range(count, (k) => x[3 * k] + x[3 * k + 1] - x[3 * k + 2] > 0 ? 1 : 0);
    return { x, y };
  };
  const data = tensorDataset({ train: make(256), test: make(64), sampleShape: [3] });
  assert.equal(data.classes, 2);
  const lines: string[] = [];
  const result = await pipeline()
    .data(data, { batchSize: 16, shuffle: true })
    .model(sequential(linear(3, 2)))
    .loss(crossEntropy())
    .optimizer(sgd({ lr: 0.5 }))
    .epochs(4)
    .run({ seed: 2, log: (l) => lines.push(l), logEvery: 8 });
  const losses = result.epochs.map((e) => e.trainLoss);
  const tests = result.epochs.map((e) => e.testLoss);
  for (let e = 1; e < 4; e++) {
    assert.ok(losses[e] < losses[e - 1], `train loss falls: ${losses}`);
    assert.ok(tests[e] < tests[e - 1], `test loss falls: ${tests}`);
  }
  assert.ok(losses[0] < 0.7 && tests[3] < 0.35, `losses ${losses}, test ${tests}`);
  assert.ok(result.epochs[3].accuracy > 0.9, `accuracy ${result.epochs[3].accuracy}`);
  assert.match(lines[2], /^loss: \d\.\d{6} {2}\[ {3}16\/ {2}256\]$/);
  assert.equal(lines.at(-1), "Done!");
});
