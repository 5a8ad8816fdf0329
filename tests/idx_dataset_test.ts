/** IDX files at any path: plain and gzipped files load, train a model, and are checked. */
import { join } from "node:path";
import { gzipSync } from "fflate";
import {
  crossEntropy,
  flatten,
  idxDataset,
  linear,
  pipeline,
  relu,
  sequential,
  sgd,
} from "../mod.ts";
import { loadDataset } from "../src/data/datasets.ts";
import { encodeIdx, IdxFormatError } from "../src/data/idx.ts";
import { assert, assertRejectsMatch, assertThrowsMatch } from "./_assert.ts";

/** Writes `n` 6×5 images of 3 learnable classes (a bright row per class) and their labels. */
async function writeSplit(dir: string, name: string, n: number, gzip: boolean) {
  const images = new Uint8Array(n * 30), labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 3;
    for (let p = 0; p < 30; p++) {
      images[i * 30 + p] = Math.floor(p / 5) === 2 * labels[i] ? 220 : (i * 7 + p * 13) % 60;
    }
  }
  const write = async (file: string, bytes: Uint8Array) => {
    const path = join(dir, gzip ? `${file}.gz` : file);
    await Deno.writeFile(path, gzip ? gzipSync(bytes) : bytes);
    return path;
  };
  return {
    images: await write(`${name}-images`, encodeIdx([n, 6, 5], images)),
    labels: await write(`${name}-labels`, encodeIdx([n], labels)),
    data: { images, labels },
  };
}

Deno.test("idxDataset: plain and gzipped files load as declared and a model trains on them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "onnxtrain-idx-" });
  try {
    const train = await writeSplit(dir, "train", 96, true);
    const test = await writeSplit(dir, "test", 30, false);
    const ds = idxDataset({
      train: { images: train.images, labels: train.labels },
      test: { images: test.images, labels: test.labels },
      imageSize: [6, 5],
      classes: 3,
      classNames: ["top", "middle", "bottom"],
    });
    const splits = await loadDataset(ds);
    assert.equal(splits.train.count, 96);
    assert.deepEqual([...splits.test.images.slice(0, 30)], [...test.data.images.slice(0, 30)]);
    assert.deepEqual([...splits.train.labels], [...train.data.labels]);
    const result = await pipeline()
      .data(ds, { batchSize: 16, shuffle: true })
      .model(sequential(flatten(), linear(30, 16), relu(), linear(16, 3)))
      .loss(crossEntropy())
      .optimizer(sgd({ lr: 0.5 }))
      .epochs(4)
      .run({ seed: 2, log: () => {} });
    const [first, , , last] = result.epochs;
    assert.ok(last.testLoss < 0.5 * first.testLoss, `${first.testLoss} → ${last.testLoss}`);
    assert.equal(last.accuracy, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("idxDataset: files that differ from the declaration, and bad options, are clear errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "onnxtrain-idx-" });
  try {
    const train = await writeSplit(dir, "train", 9, false);
    const declared = (imageSize: [number, number], classes = 3) =>
      idxDataset({ train, test: train, imageSize, classes });
    await assertRejectsMatch(
      () => loadDataset(declared([28, 28])),
      IdxFormatError,
      /train-images.*\[9, 6, 5\]/,
    );
    await assertRejectsMatch(
      () => loadDataset(declared([6, 5], 2)),
      IdxFormatError,
      /label 2 at index 2 is not below the class count 2/,
    );
    await assertRejectsMatch(
      () =>
        loadDataset(
          idxDataset({
            train,
            test: { ...train, images: join(dir, "none") },
            imageSize: [6, 5],
            classes: 3,
          }),
        ),
      IdxFormatError,
      /^Cannot read IDX file .*none: /,
    );
    assertThrowsMatch(
      () => declared([6, 0]),
      RangeError,
      "Cannot create IDX dataset: imageSize must be two positive integers, got [6,0]",
    );
    assertThrowsMatch(
      () => idxDataset({ train, test: train, imageSize: [6, 5], classes: 3, classNames: ["a"] }),
      RangeError,
      "Cannot create IDX dataset: 1 class names for 3 classes",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
