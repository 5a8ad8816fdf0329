/**
 * Datasets from the user's own files: `csvDataset` (held-out or separate test rows, training-only
 * standardisation, class mapping) and `npyDataset` (`.npy` pairs or a `.npz`, dtype conversion,
 * target shapes), their error messages, and a pipeline trained on a CSV dataset.
 */
import { zipSync } from "fflate";
import {
  adam,
  csvDataset,
  CsvFormatError,
  linear,
  mse,
  npyDataset,
  NpyFormatError,
  pipeline,
  relu,
  sequential,
} from "../mod.ts";
import { holdOut } from "../src/data/loader.ts";
import { assert, assertClose, assertRejectsMatch } from "./_assert.ts";
import { withTempDir } from "./_files.ts";

const f32 = (values: number[]) => [...Float32Array.from(values)];

// ---- csvDataset --------------------------------------------------------------------------------

/**
 * Ten rows: a text column, features a and b, target y = row + 0.25. holdOut(10, 0.2, 0) holds out
 * rows 7 and 8 (asserted below); the other eight have a = 1..8 (mean 4.5, population variance
 * (8² − 1)/12 = 5.25) and b = 2, 2, 2, 2, 6, 6, 6, 6 (mean 4, standard deviation 2).
 */
const TEN_ROWS = [
  "name,a,b,y",
  "r0,1,2,0.25",
  "r1,2,2,1.25",
  "r2,3,2,2.25",
  "r3,4,2,3.25",
  "r4,5,6,4.25",
  "r5,6,6,5.25",
  "r6,7,6,6.25",
  "r7,100,10,7.25",
  "r8,0,-4,8.25",
  "r9,8,6,9.25",
].join("\n") + "\n";

Deno.test("csvDataset: 20 % held out with holdOut(rows, 0.2, 0), standardised on training rows only", async () => {
  assert.deepEqual([...holdOut(10, 0.2, 0).heldOut], [7, 8]);
  await withTempDir(async (dir) => {
    const path = `${dir}/ten.csv`;
    await Deno.writeTextFile(path, TEN_ROWS);
    const ds = await csvDataset({ path, target: "y" });
    assert.equal(ds.kind, "tensor");
    assert.equal(ds.targets, "float");
    assert.deepEqual(ds.featureNames, ["a", "b"]);
    assert.deepEqual(ds.sampleShape, [2]);
    assert.deepEqual(ds.targetShape, [1]);
    assert.deepEqual([ds.train.count, ds.test.count], [8, 2]);
    const sdA = Math.sqrt(5.25);
    assertClose(ds.standardizer!.mean, [4.5, 4], 0, "mean");
    assertClose(ds.standardizer!.std, [Math.fround(sdA), 2], 0, "std");
    // Training rows 0–6 and 9, then held-out rows 7 and 8, with the training statistics.
    const a = [1, 2, 3, 4, 5, 6, 7, 8], b = [2, 2, 2, 2, 6, 6, 6, 6];
    assertClose(
      ds.train.x as Float32Array,
      f32(a.flatMap((v, i) => [(v - 4.5) / sdA, (b[i] - 4) / 2])),
      0,
      "train x",
    );
    assertClose(ds.test.x as Float32Array, f32([95.5 / sdA, 3, -4.5 / sdA, -4]), 0, "test x");
    assert.deepEqual([...ds.train.y], [0.25, 1.25, 2.25, 3.25, 4.25, 5.25, 6.25, 9.25]);
    assert.deepEqual([...ds.test.y], [7.25, 8.25]);
    // The statistics standardise new rows as the dataset's were.
    assertClose(ds.standardizer!.apply(Float32Array.of(4.5, 8)), [0, 2], 0, "apply");

    // Another fraction and seed: holdOut(10, 0.3, 5) decides the rows; standardize: false keeps
    // the file's values and gives no standardizer.
    const raw = await csvDataset({
      path,
      target: "y",
      testFraction: 0.3,
      splitSeed: 5,
      standardize: false,
    });
    const { train, heldOut } = holdOut(10, 0.3, 5);
    assert.equal(raw.standardizer, undefined);
    const rowsA = [1, 2, 3, 4, 5, 6, 7, 100, 0, 8], rowsB = [2, 2, 2, 2, 6, 6, 6, 10, -4, 6];
    assert.deepEqual([...raw.test.x], [...heldOut].flatMap((r) => [rowsA[r], rowsB[r]]));
    assert.deepEqual([...raw.train.x], [...train].flatMap((r) => [rowsA[r], rowsB[r]]));
    assert.deepEqual([...raw.test.y], [...heldOut].map((r) => r + 0.25));
    // Chosen features, in the given order.
    const one = await csvDataset({ path, target: "y", features: ["b"], standardize: false });
    assert.deepEqual(one.featureNames, ["b"]);
    assert.deepEqual([...one.test.x], [10, -4]);
  });
});

Deno.test("csvDataset: class labels map to sorted indices; a test file reuses the mapping and the training statistics", async () => {
  await withTempDir(async (dir) => {
    // Training x = 0, 2, 4, 6 (mean 3, population sd √5); labels dog, cat, emu, cat.
    await Deno.writeTextFile(
      `${dir}/train.csv`,
      "id,x,species\nA,0,dog\nB,2,cat\nC,4,emu\nD,6,cat\n",
    );
    // Columns in another order and an extra one; only emu and cat occur.
    await Deno.writeTextFile(`${dir}/test.csv`, "species,note,x,id\nemu,hi,13,E\ncat,,-2,F\n");
    const ds = await csvDataset({
      path: `${dir}/train.csv`,
      testPath: `${dir}/test.csv`,
      target: "species",
      targetKind: "classes",
    });
    assert.equal(ds.targets, "classes");
    assert.deepEqual(ds.classNames, ["cat", "dog", "emu"]);
    assert.equal(ds.classes, 3);
    assert.deepEqual(ds.featureNames, ["x"]);
    assert.ok(ds.train.y instanceof BigInt64Array);
    assert.deepEqual([...ds.train.y], [1n, 0n, 2n, 0n]);
    assert.deepEqual([...ds.test.y], [2n, 0n]);
    assert.deepEqual([ds.train.count, ds.test.count], [4, 2]);
    const sd = Math.sqrt(5);
    assertClose(ds.train.x as Float32Array, f32([-3 / sd, -1 / sd, 1 / sd, 3 / sd]), 0, "train");
    assertClose(ds.test.x as Float32Array, f32([10 / sd, -5 / sd]), 0, "test");

    // Given class names fix the order; a label outside them is an error naming file and line.
    const named = await csvDataset({
      path: `${dir}/train.csv`,
      testPath: `${dir}/test.csv`,
      target: "species",
      targetKind: "classes",
      classNames: ["emu", "dog", "cat"],
    });
    assert.deepEqual([...named.train.y], [1n, 2n, 0n, 2n]);
    assert.deepEqual([...named.test.y], [0n, 2n]);

    await Deno.writeTextFile(`${dir}/yak.csv`, "x,species\n1,cat\n2,yak\n");
    await assertRejectsMatch(
      () =>
        csvDataset({
          path: `${dir}/train.csv`,
          testPath: `${dir}/yak.csv`,
          target: "species",
          targetKind: "classes",
        }),
      CsvFormatError,
      `Cannot read CSV ${dir}/yak.csv: line 3, column "species": label "yak" is not one of ` +
        "the class names (cat, dog, emu)",
    );
    // The test file needs the training file's feature columns.
    await Deno.writeTextFile(`${dir}/nox.csv`, "species,z\ncat,1\n");
    await assertRejectsMatch(
      () =>
        csvDataset({
          path: `${dir}/train.csv`,
          testPath: `${dir}/nox.csv`,
          target: "species",
          targetKind: "classes",
        }),
      CsvFormatError,
      `Cannot read CSV ${dir}/nox.csv: feature column "x" is not in the header (columns: ` +
        `"species", "z")`,
    );
  });
});

Deno.test("csvDataset: malformed files and options give errors naming the file, line and values", async () => {
  await withTempDir(async (dir) => {
    const write = async (name: string, text: string) => {
      await Deno.writeTextFile(`${dir}/${name}`, text);
      return `${dir}/${name}`;
    };
    const textOnly = await write("text.csv", "name,y\nann,1\nbob,2\n");
    await assertRejectsMatch(
      () => csvDataset({ path: textOnly, target: "y" }),
      CsvFormatError,
      `Cannot read CSV ${textOnly}: no feature column (no column besides the target "y" holds ` +
        "numbers)",
    );
    await assertRejectsMatch(
      () => csvDataset({ path: textOnly, target: "y", features: [] }),
      CsvFormatError,
      `Cannot read CSV ${textOnly}: no feature column (features is empty)`,
    );
    const ragged = await write("ragged.csv", "a,b,y\n1,2,3\n4,5\n");
    await assertRejectsMatch(
      () => csvDataset({ path: ragged, target: "y" }),
      CsvFormatError,
      `Cannot read CSV ${ragged}: line 3 has 2 fields, the header has 3`,
    );
    const word = await write("word.csv", "a,y\n1,2\n3,4\nfive,6\n");
    await assertRejectsMatch(
      () => csvDataset({ path: word, target: "y" }),
      CsvFormatError,
      `Cannot read CSV ${word}: line 4, column "a": "five" is not a number`,
    );
    const quote = await write("quote.csv", 'a,y\n1,"2\n');
    await assertRejectsMatch(
      () => csvDataset({ path: quote, target: "y" }),
      CsvFormatError,
      `Cannot read CSV ${quote}: line 2: quoted field is not closed before the end of the file`,
    );
    const ok = await write("ok.csv", "a,y\n1,2\n3,4\n");
    await assertRejectsMatch(
      () => csvDataset({ path: ok, target: "price" }),
      CsvFormatError,
      `Cannot read CSV ${ok}: target column "price" is not in the header (columns: "a", "y")`,
    );
    await assertRejectsMatch(
      () => csvDataset({ path: ok, target: "y", testPath: ok, testFraction: 0.5 }),
      TypeError,
      `Cannot create CSV dataset from ${ok}: give testPath (a test file) or testFraction ` +
        "(rows held out), not both",
    );
    await assertRejectsMatch(
      () => csvDataset({ path: ok, target: "y", testFraction: 1 }),
      RangeError,
      `Cannot create CSV dataset from ${ok}: testFraction must be a number in (0, 1), got 1`,
    );
    // round(0.2 · 2) = 0 rows held out.
    await assertRejectsMatch(
      () => csvDataset({ path: ok, target: "y" }),
      RangeError,
      `Cannot create CSV dataset from ${ok}: testFraction 0.2 of its 2 rows holds out 0 and ` +
        "leaves 2 for training; each split needs at least one row",
    );
  });
});

Deno.test("csvDataset: a pipeline on a CSV dataset trains, its held-out loss falls", async () => {
  await withTempDir(async (dir) => {
    const lines = ["u,v,label,t"];
    for (let i = 0; i < 256; i++) {
      const u = Math.sin(1.7 * i) * 5 + 20, v = Math.cos(0.9 * i) * 0.1;
      lines.push(`${u.toFixed(4)},${v.toFixed(4)},"#${i}",${(0.3 * u - 20 * v).toFixed(4)}`);
    }
    const path = `${dir}/lin.csv`;
    await Deno.writeTextFile(path, lines.join("\n") + "\n");
    const data = await csvDataset({ path, target: "t" });
    assert.deepEqual([data.train.count, data.test.count, data.featureNames], [205, 51, ["u", "v"]]);
    const log: string[] = [];
    const result = await pipeline()
      .data(data, { batchSize: 16, shuffle: true })
      .model(sequential(linear(2, 16), relu(), linear(16, 1)))
      .loss(mse())
      .optimizer(adam({ lr: 1e-2 }))
      .epochs(2)
      .run({ seed: 3, log: (l) => log.push(l) });
    const [first, second] = result.epochs;
    assert.equal(result.epochs.length, 2);
    assert.ok(
      second.testLoss < 0.8 * first.testLoss && second.trainLoss < first.trainLoss,
      `losses fall: ${first.trainLoss}, ${second.trainLoss}; test ${first.testLoss}, ` +
        `${second.testLoss}`,
    );
    assert.ok(log.some((l) => l.startsWith(" Avg loss: ")));
  });
});

// ---- npyDataset --------------------------------------------------------------------------------

const ascii = (s: string) => new TextEncoder().encode(s);

/** A version 1.0 `.npy` file as NumPy writes it (header padded so the data starts at 64·k). */
function npy(descr: string, shape: readonly number[], data: ArrayBufferView): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const header = dict + " ".repeat(63 - ((10 + dict.length) % 64)) + "\n";
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(10 + header.length + bytes.length);
  out.set([0x93, ...ascii("NUMPY"), 1, 0, header.length & 0xff, header.length >> 8]);
  out.set(ascii(header), 10);
  out.set(bytes, 10 + header.length);
  return out;
}

/** Big-endian int16 values. */
function int16BE(values: number[]): Uint8Array {
  const out = new Uint8Array(2 * values.length), view = new DataView(out.buffer);
  values.forEach((v, i) => view.setInt16(2 * i, v, false));
  return out;
}

Deno.test("npyDataset: x of any numeric dtype becomes float32 unscaled; integer y are class indices", async () => {
  await withTempDir(async (dir) => {
    const files: Record<string, Uint8Array> = {
      // uint8 "images" [3, 2, 2] and int64 labels (classes 0..4 → 5 classes with the test's 4).
      "x.npy": npy("|u1", [3, 2, 2], Uint8Array.of(0, 1, 2, 255, 10, 20, 30, 40, 7, 8, 9, 128)),
      "y.npy": npy("<i8", [3], BigInt64Array.of(2n, 0n, 1n)),
      // Big-endian int16 x and int32 labels of shape [N, 1] (as Keras' CIFAR-10 labels).
      "xt.npy": npy(">i2", [2, 2, 2], int16BE([-300, 0, 1, 2, 3, 4, 5, 32767])),
      "yt.npy": npy("<i4", [2, 1], Int32Array.of(4, 1)),
    };
    for (const [name, bytes] of Object.entries(files)) {
      await Deno.writeFile(`${dir}/${name}`, bytes);
    }
    const ds = await npyDataset({
      train: { x: `${dir}/x.npy`, y: `${dir}/y.npy` },
      test: { x: `${dir}/xt.npy`, y: `${dir}/yt.npy` },
    });
    assert.equal(ds.targets, "classes");
    assert.ok(ds.targets === "classes");
    assert.equal(ds.classes, 5);
    assert.deepEqual(ds.sampleShape, [2, 2]);
    assert.equal(ds.inputDtype, "float32");
    assert.ok(ds.train.x instanceof Float32Array && ds.test.x instanceof Float32Array);
    assert.deepEqual([...ds.train.x], [0, 1, 2, 255, 10, 20, 30, 40, 7, 8, 9, 128]);
    assert.deepEqual([...ds.test.x], [-300, 0, 1, 2, 3, 4, 5, 32767]);
    assert.deepEqual([...ds.train.y], [2n, 0n, 1n]);
    assert.deepEqual([...ds.test.y], [4n, 1n]);

    // divideBy: 255 scales as ToTensor (float32(x) / 255); classNames set the class count.
    const scaled = await npyDataset({
      train: { x: `${dir}/x.npy`, y: `${dir}/y.npy` },
      test: { x: `${dir}/x.npy`, y: `${dir}/y.npy` },
      divideBy: 255,
      classNames: ["a", "b", "c", "d"],
    });
    assert.ok(scaled.targets === "classes");
    assert.deepEqual(scaled.classNames, ["a", "b", "c", "d"]);
    assert.equal(scaled.classes, 4);
    assert.deepEqual(
      [...scaled.train.x],
      f32([0, 1, 2, 255, 10, 20, 30, 40, 7, 8, 9, 128].map((v) => v / 255)),
    );
    assert.equal(scaled.train.x[3], 1);

    // Token ids: int32 x stays Int32Array, uint8 x is widened to Int32Array.
    const ids = await npyDataset({
      train: { x: `${dir}/xt.npy`, y: `${dir}/yt.npy` },
      test: { x: `${dir}/x.npy`, y: `${dir}/y.npy` },
      inputDtype: "int64",
    });
    assert.equal(ids.inputDtype, "int64");
    assert.ok(ids.train.x instanceof Int32Array);
    assert.deepEqual([...ids.train.x], [-300, 0, 1, 2, 3, 4, 5, 32767]);
    assert.deepEqual([...ids.test.x].slice(0, 4), [0, 1, 2, 255]);
  });
});

Deno.test("npyDataset: float y are float targets, [N] as targetShape [1], [N, k] as [k]", async () => {
  await withTempDir(async (dir) => {
    const write = async (name: string, bytes: Uint8Array) => {
      await Deno.writeFile(`${dir}/${name}`, bytes);
      return `${dir}/${name}`;
    };
    // A 1-D x is one feature per sample (sampleShape [1]); float64 values round to float32.
    const x1 = await write("x1.npy", npy("<f8", [3], Float64Array.of(0.1, -2.5, 1e-3)));
    const y1 = await write("y1.npy", npy("<f8", [3], Float64Array.of(1 / 3, 2, -7)));
    const ds = await npyDataset({ train: { x: x1, y: y1 }, test: { x: x1, y: y1 } });
    assert.ok(ds.targets === "float");
    assert.deepEqual(ds.sampleShape, [1]);
    assert.deepEqual(ds.targetShape, [1]);
    assert.deepEqual([...ds.train.x], f32([0.1, -2.5, 1e-3]));
    assert.deepEqual([...ds.train.y], f32([1 / 3, 2, -7]));

    const x2 = await write("x2.npy", npy("<i8", [2, 3], BigInt64Array.of(1n, -2n, 3n, 4n, 5n, 6n)));
    const y2 = await write("y2.npy", npy("<f4", [2, 2], Float32Array.of(0.5, 1.5, -1, 2)));
    const wide = await npyDataset({ train: { x: x2, y: y2 }, test: { x: x2, y: y2 } });
    assert.ok(wide.targets === "float");
    assert.deepEqual(wide.targetShape, [2]);
    assert.deepEqual(wide.sampleShape, [3]);
    assert.deepEqual([...wide.train.x], [1, -2, 3, 4, 5, 6]);
    assert.deepEqual([...wide.test.y], [0.5, 1.5, -1, 2]);

    // targetKind overrides: integer y as float targets, whole-number float y as classes.
    const yi = await write("yi.npy", npy("|u1", [2], Uint8Array.of(3, 9)));
    const asFloat = await npyDataset({
      train: { x: x2, y: yi },
      test: { x: x2, y: yi },
      targetKind: "float",
    });
    assert.deepEqual([asFloat.targetShape, [...asFloat.train.y]], [[1], [3, 9]]);
    const yf = await write("yf.npy", npy("<f4", [2], Float32Array.of(1, 0)));
    const asClasses = await npyDataset({
      train: { x: x2, y: yf },
      test: { x: x2, y: yf },
      targetKind: "classes",
    });
    assert.deepEqual([asClasses.classes, [...asClasses.train.y]], [2, [1n, 0n]]);
  });
});

Deno.test("npyDataset: a .npz is read with Keras' mnist.npz key names by default, or named keys", async () => {
  await withTempDir(async (dir) => {
    const xTrain = npy("|u1", [2, 2, 3], Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));
    const yTrain = npy("|u1", [2], Uint8Array.of(9, 3));
    const xTest = npy("|u1", [1, 2, 3], Uint8Array.of(0, 0, 0, 255, 255, 255));
    const yTest = npy("|u1", [1], Uint8Array.of(7));
    const path = `${dir}/mnist.npz`;
    await Deno.writeFile(
      path,
      zipSync({
        "x_test.npy": xTest,
        "x_train.npy": [xTrain, { level: 6 }],
        "y_train.npy": yTrain,
        "y_test.npy": yTest,
      }),
    );
    const ds = await npyDataset({ npz: path });
    assert.ok(ds.targets === "classes");
    assert.deepEqual([ds.train.count, ds.test.count, ds.classes], [2, 1, 10]);
    assert.deepEqual(ds.sampleShape, [2, 3]);
    assert.deepEqual([...ds.train.x], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert.deepEqual([...ds.test.x], [0, 0, 0, 255, 255, 255]);
    assert.deepEqual([...ds.train.y, ...ds.test.y], [9n, 3n, 7n]);

    // Named keys (here the training arrays serve as both splits: divided once each).
    const other = `${dir}/other.npz`;
    await Deno.writeFile(other, zipSync({ "feats.npy": xTrain, "labels.npy": yTrain }));
    const named = await npyDataset({
      npz: other,
      keys: { trainX: "feats", trainY: "labels", testX: "feats", testY: "labels" },
      divideBy: 2,
    });
    assert.deepEqual([...named.train.x].slice(0, 3), [0.5, 1, 1.5]);
    assert.deepEqual([...named.test.x].slice(0, 3), [0.5, 1, 1.5]);
    await assertRejectsMatch(
      () => npyDataset({ npz: other }),
      RangeError,
      `Cannot create npy dataset: ${other} has no array "x_train" for train x (arrays: ` +
        `"feats", "labels"); name it with keys.trainX`,
    );
  });
});

Deno.test("npyDataset: mismatched rows, wrong ranks and bad labels are errors naming files and shapes", async () => {
  await withTempDir(async (dir) => {
    const write = async (name: string, bytes: Uint8Array) => {
      await Deno.writeFile(`${dir}/${name}`, bytes);
      return `${dir}/${name}`;
    };
    const x3 = await write("x3.npy", npy("<f4", [3, 2], Float32Array.of(1, 2, 3, 4, 5, 6)));
    const x3b = await write("x3b.npy", npy("<f4", [2, 3], Float32Array.of(1, 2, 3, 4, 5, 6)));
    const y3 = await write("y3.npy", npy("<i8", [3], BigInt64Array.of(0n, 1n, 1n)));
    const y4 = await write("y4.npy", npy("<i8", [4], BigInt64Array.of(0n, 1n, 1n, 0n)));
    const yNeg = await write("yneg.npy", npy("<i4", [3], Int32Array.of(0, -1, 2)));
    const yWide = await write("ywide.npy", npy("<i4", [3, 2], Int32Array.of(0, 1, 1, 0, 0, 1)));
    const yHalf = await write("yhalf.npy", npy("<f4", [3], Float32Array.of(0, 1.5, 1)));
    const yF = await write("yf.npy", npy("<f4", [3], Float32Array.of(0, 1, 1)));
    const scalar = await write("scalar.npy", npy("<f4", [], Float32Array.of(1)));
    const bad = await write("bad.npy", ascii("not a numpy file"));
    const pair = (x: string, y: string) => ({ x, y });
    const good = pair(x3, y3);

    await assertRejectsMatch(
      () => npyDataset({ train: pair(x3, y4), test: good }),
      RangeError,
      `Cannot create npy dataset: train x (${x3}), float32 of shape [3, 2] has 3 rows but ` +
        `train y (${y4}), int64 of shape [4] has 4; they need one row per sample each`,
    );
    await assertRejectsMatch(
      () => npyDataset({ train: good, test: pair(scalar, y3) }),
      RangeError,
      `Cannot create npy dataset: test x (${scalar}), float32 of shape [] is a scalar; expected ` +
        "one row per sample",
    );
    await assertRejectsMatch(
      () => npyDataset({ train: good, test: pair(x3b, y3) }),
      RangeError,
      `Cannot create npy dataset: test x (${x3b}), float32 of shape [2, 3] has 2 rows but ` +
        `test y (${y3}), int64 of shape [3] has 3; they need one row per sample each`,
    );
    const x2x3 = await write("x23.npy", npy("<f4", [1, 3], Float32Array.of(1, 2, 3)));
    const y1 = await write("y1.npy", npy("<i8", [1], BigInt64Array.of(0n)));
    await assertRejectsMatch(
      () => npyDataset({ train: good, test: pair(x2x3, y1) }),
      RangeError,
      `Cannot create npy dataset: samples of train x (${x3}), float32 of shape [3, 2] have shape ` +
        `[2] but those of test x (${x2x3}), float32 of shape [1, 3] have [3]`,
    );
    await assertRejectsMatch(
      () => npyDataset({ train: pair(x3, yNeg), test: good }),
      RangeError,
      `Cannot create npy dataset: train y (${yNeg}), int32 of shape [3] holds -1 at row 1; ` +
        "class indices must be whole numbers ≥ 0",
    );
    await assertRejectsMatch(
      () => npyDataset({ train: good, test: good, classes: 1 }),
      RangeError,
      `Cannot create npy dataset: train y (${y3}), int64 of shape [3] holds 1 at row 1; ` +
        "class indices must be in [0, 1)",
    );
    await assertRejectsMatch(
      () => npyDataset({ train: pair(x3, yWide), test: good }),
      RangeError,
      `Cannot create npy dataset: train y (${yWide}), int32 of shape [3, 2] holds class ` +
        "targets, which need shape [N] or [N, 1]",
    );
    await assertRejectsMatch(
      () => npyDataset({ train: pair(x3, yHalf), test: good, targetKind: "classes" }),
      RangeError,
      `Cannot create npy dataset: train y (${yHalf}), float32 of shape [3] holds 1.5 at row 1; ` +
        "class indices must be whole numbers ≥ 0",
    );
    await assertRejectsMatch(
      () => npyDataset({ train: pair(x3, yF), test: good }),
      RangeError,
      `Cannot create npy dataset: train y (${yF}), float32 of shape [3] and test y (${y3}), ` +
        "int64 of shape [3] differ in kind (float targets or integer class indices); set " +
        "targetKind or save both alike",
    );
    await assertRejectsMatch(
      () => npyDataset({ train: pair(x3, yF), test: pair(x3, yF), classNames: ["a", "b"] }),
      TypeError,
      `Cannot create npy dataset: classNames was given but train y (${yF}), float32 of shape ` +
        '[3] holds float targets; save class indices as integers or set targetKind: "classes"',
    );
    await assertRejectsMatch(
      () => npyDataset({ train: good, test: good, inputDtype: "int64" }),
      TypeError,
      `Cannot create npy dataset: inputDtype "int64" needs integer token ids, but train x ` +
        `(${x3}), float32 of shape [3, 2] is float`,
    );
    await assertRejectsMatch(
      // @ts-expect-error: neither npz nor train/test
      () => npyDataset({ divideBy: 255 }),
      TypeError,
      "Cannot create npy dataset: give either npz (one .npz file) or train and test (.npy file " +
        "pairs)",
    );
    await assertRejectsMatch(
      () => npyDataset({ train: good, test: good, divideBy: 0 }),
      RangeError,
      "Cannot create npy dataset: divideBy must be a finite non-zero number, got 0",
    );
    await assertRejectsMatch(
      () => npyDataset({ train: pair(bad, y3), test: good }),
      NpyFormatError,
      new RegExp(`^Cannot read ${bad.replaceAll(/[.]/g, "\\.")}: `),
    );
  });
});
