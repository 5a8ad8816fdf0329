import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { encodeIdx, expectIdx, idxToImageSet, parseIdx } from "../src/data/idx.ts";
import {
  FASHION_MNIST,
  FASHION_MNIST_RESOURCES,
  loadFashionMnist,
} from "../src/data/fashion_mnist.ts";
import { offlineHint } from "../src/data/idx_download.ts";
import { syntheticFashionMnist, writeSyntheticFashionMnist } from "../src/data/synthetic.ts";
import { createLoader } from "../src/data/loader.ts";
import { loadDataset } from "../src/data/datasets.ts";
import { fashionMnist, tensorDataset } from "../src/dsl/datasets.ts";
import type { ImageSet } from "../src/data/idx.ts";
import { assertSameSet, withTempDir } from "./_files.ts";

const FILES = [
  "train-images-idx3-ubyte",
  "train-labels-idx1-ubyte",
  "t10k-images-idx3-ubyte",
  "t10k-labels-idx1-ubyte",
];
const md5 = (bytes: Uint8Array) => createHash("md5").update(bytes).digest("hex");
const SMALL = { train: 50, test: 20, seed: 11 } as const;

const exists = async (path: string) => {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
};

/** Serves the `.gz` files of `dir` under `base`; any other mirror fails like a dead host. */
async function fakeFetch(dir: string, base: string, log: string[]): Promise<typeof fetch> {
  const files = new Map<string, Uint8Array<ArrayBuffer>>();
  for (const f of FILES) files.set(`${base}${f}.gz`, await Deno.readFile(join(dir, `${f}.gz`)));
  return (input) => {
    const url = String(input);
    log.push(url);
    if (!url.startsWith(base)) return Promise.reject(new TypeError("error sending request"));
    const body = files.get(url);
    if (!body) return Promise.resolve(new Response("no such file", { status: 404 }));
    return Promise.resolve(
      new Response(body, { headers: { "content-length": String(body.length) } }),
    );
  };
}

// ---- IDX -------------------------------------------------------------------------------------

Deno.test("idx: encode/parse round trip", () => {
  const data = Uint8Array.from({ length: 24 }, (_, i) => i * 10);
  const bytes = encodeIdx([2, 3, 4], data);
  assert.deepEqual([...bytes.subarray(0, 8)], [0, 0, 8, 3, 0, 0, 0, 2]);
  assert.equal(bytes.length, 4 + 12 + 24);
  const parsed = parseIdx(bytes, "x");
  assert.deepEqual(parsed.dims, [2, 3, 4]);
  assert.deepEqual(parsed.data, data);
  assert.ok(Object.isFrozen(parsed) && Object.isFrozen(parsed.dims));
});

Deno.test("idx: wrong magic number", () => {
  const bytes = encodeIdx([3], new Uint8Array(3));
  bytes[0] = 1;
  assert.throws(
    () => parseIdx(bytes, "labels"),
    /^IdxFormatError: Cannot parse IDX file labels: bad magic number 0x01000801 \(the first two bytes must be zero\)$/,
  );
  assert.throws(
    () => parseIdx(new Uint8Array([0, 0, 8]), "tiny"),
    /^IdxFormatError: Cannot parse IDX file tiny: expected at least 4 bytes of magic number, got 3$/,
  );
});

Deno.test("idx: unsupported element type", () => {
  const bytes = encodeIdx([1], new Uint8Array(1));
  bytes[2] = 0x0d;
  assert.throws(
    () => parseIdx(bytes, "f"),
    /^IdxFormatError: Cannot parse IDX file f: unsupported data type 0x0d \(float32\); only 0x08 \(unsigned byte\) is supported$/,
  );
  bytes[2] = 0x42;
  assert.throws(() => parseIdx(bytes, "f"), /unsupported data type 0x42; only 0x08/);
});

Deno.test("idx: incomplete header, truncated data, trailing bytes", () => {
  const bytes = encodeIdx([3, 2, 2], new Uint8Array(12));
  assert.throws(
    () => parseIdx(bytes.subarray(0, 10), "h"),
    /^IdxFormatError: Cannot parse IDX file h: incomplete header: expected 16 bytes for 3 dimensions, got 10$/,
  );
  assert.throws(
    () => parseIdx(bytes.subarray(0, bytes.length - 1), "t"),
    /^IdxFormatError: Cannot parse IDX file t: expected 12 data bytes for shape \[3, 2, 2\], got 11 \(file is truncated\)$/,
  );
  const longer = new Uint8Array(bytes.length + 2);
  longer.set(bytes);
  assert.throws(
    () => parseIdx(longer, "l"),
    /^IdxFormatError: Cannot parse IDX file l: expected 12 data bytes for shape \[3, 2, 2\], got 14 \(trailing bytes after the data\)$/,
  );
});

Deno.test("idx: encode rejects bad shapes", () => {
  assert.throws(
    () => encodeIdx([2, 2], new Uint8Array(3)),
    /^RangeError: Cannot encode IDX: shape \[2, 2\] needs 4 bytes, got 3$/,
  );
  assert.throws(() => encodeIdx([-1], new Uint8Array(0)), /dimension sizes must be uint32, got -1/);
});

Deno.test("idx: shape checks name files and shapes", () => {
  const images = parseIdx(encodeIdx([3, 2, 2], new Uint8Array(12)), "imgs");
  const labels = parseIdx(encodeIdx([4], new Uint8Array(4)), "lbls");
  const names = { images: "imgs", labels: "lbls" };
  assert.throws(
    () => idxToImageSet(images, labels, names, null, 10),
    /^IdxFormatError: Cannot pair imgs with lbls: image count differs from label count \(shapes \[3, 2, 2\] and \[4\]\)$/,
  );
  assert.throws(
    () => idxToImageSet(images, labels, names, [28, 28], 10),
    /^IdxFormatError: Cannot use IDX file imgs: expected shape \[n, 28, 28\], got \[3, 2, 2\]$/,
  );
  assert.throws(
    () => expectIdx(images, "imgs", [null]),
    /Cannot use IDX file imgs: expected shape \[n\], got \[3, 2, 2\]$/,
  );
  const badLabels = parseIdx(encodeIdx([3], Uint8Array.of(1, 10, 2)), "lbls");
  assert.throws(
    () => idxToImageSet(images, badLabels, names, [2, 2], 10),
    /^IdxFormatError: Cannot use IDX file lbls: label 10 at index 1 is not below the class count 10$/,
  );
  const set = idxToImageSet(images, parseIdx(encodeIdx([3], Uint8Array.of(0, 9, 2)), "l"), names, [
    2,
    2,
  ], 10);
  assert.deepEqual([set.count, set.height, set.width, set.classes], [3, 2, 2, 10]);
});

// ---- Synthetic -------------------------------------------------------------------------------

Deno.test("synthetic: shape, labels, determinism", () => {
  const a = syntheticFashionMnist({ train: 200, test: 30, seed: 5 });
  assert.deepEqual([a.train.count, a.train.height, a.train.width, a.train.classes], [
    200,
    28,
    28,
    10,
  ]);
  assert.equal(a.train.images.length, 200 * 784);
  assert.equal(a.test.images.length, 30 * 784);
  assert.equal(a.test.labels.length, 30);
  const counts = new Array(10).fill(0);
  for (const l of a.train.labels) counts[l]++;
  assert.deepEqual(counts, new Array(10).fill(20));
  assert.ok(a.train.labels.some((l, i) => l !== i % 10), "labels are shuffled");
  const b = syntheticFashionMnist({ train: 200, test: 30, seed: 5 });
  assertSameSet(b.train, a.train);
  assertSameSet(b.test, a.test);
  const c = syntheticFashionMnist({ train: 200, test: 30, seed: 6 });
  assert.notDeepEqual(c.train.images, a.train.images);
  assert.throws(
    () => syntheticFashionMnist({ train: -1, test: 0, seed: 1 }),
    /^RangeError: Cannot generate synthetic FashionMNIST: train size must be a non-negative integer, got -1$/,
  );
});

// ---- FashionMNIST ----------------------------------------------------------------------------

Deno.test("fashion_mnist: loads an existing extracted copy without checksums", async () => {
  await withTempDir(async (root) => {
    const { dir } = await writeSyntheticFashionMnist(root, SMALL);
    assert.equal(dir, join(root, "FashionMNIST", "raw"));
    for (const f of FILES) await Deno.remove(join(dir, `${f}.gz`));
    const loaded = await loadFashionMnist({ root, download: false });
    const expected = syntheticFashionMnist(SMALL);
    assertSameSet(loaded.train, expected.train);
    assertSameSet(loaded.test, expected.test);
  });
});

Deno.test("fashion_mnist: extracts a verified .gz from the cache", async () => {
  await withTempDir(async (root) => {
    const { dir, resources } = await writeSyntheticFashionMnist(root, SMALL);
    for (const f of FILES) await Deno.remove(join(dir, f));
    const loaded = await loadFashionMnist({ root, download: false, resources });
    assertSameSet(loaded.train, syntheticFashionMnist(SMALL).train);
    for (const f of FILES) assert.ok(await exists(join(dir, f)), `${f} extracted`);
    assert.ok(!(await exists(join(dir, `${FILES[0]}.tmp`))));
  });
});

Deno.test("fashion_mnist: cached .gz with a wrong checksum and no download", async () => {
  await withTempDir(async (root) => {
    const { dir, resources } = await writeSyntheticFashionMnist(root, SMALL);
    for (const f of FILES) await Deno.remove(join(dir, f));
    const path = join(dir, "train-images-idx3-ubyte.gz");
    await assert.rejects(
      loadFashionMnist({ root, download: false }),
      (e: Error) => {
        assert.equal(e.name, "FashionMnistError");
        assert.equal(
          e.message,
          `Cannot load FashionMNIST: checksum mismatch for ${path} (expected ` +
            `8d4fb7e6c68d591d4c3dfef9ec88bf0d, got ${resources[0].md5}) and downloading is ` +
            `disabled; delete the file or allow downloading`,
        );
        return true;
      },
    );
  });
});

Deno.test("fashion_mnist: downloads from the second mirror when the first fails", async () => {
  await withTempDir(async (source) => {
    const { dir: sourceDir, resources } = await writeSyntheticFashionMnist(source, SMALL);
    const log: string[] = [], messages: string[] = [];
    const fetch = await fakeFetch(sourceDir, "https://good.test/data/", log);
    await withTempDir(async (root) => {
      const loaded = await loadFashionMnist({
        root,
        fetch,
        resources,
        mirrors: ["http://dead.test/", "https://good.test/data/"],
        progress: (m) => messages.push(m),
      });
      const expected = syntheticFashionMnist(SMALL);
      assertSameSet(loaded.train, expected.train);
      assertSameSet(loaded.test, expected.test);
      assert.equal(log.length, 8);
      assert.equal(log[0], "http://dead.test/train-images-idx3-ubyte.gz");
      assert.equal(log[1], "https://good.test/data/train-images-idx3-ubyte.gz");
      const dir = join(root, "FashionMNIST", "raw");
      const written = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assert.deepEqual(written, FILES.flatMap((f) => [f, `${f}.gz`]).sort());
      assert.ok(messages.some((m) => m.startsWith("Downloading train-images-idx3-ubyte.gz: 100%")));
      assert.ok(messages.some((m) => m.includes("http://dead.test/") && m.includes("failed")));
      // A second load reads the cache and fetches nothing.
      await loadFashionMnist({ root, fetch, resources, mirrors: [] });
      assert.equal(log.length, 8);
    });
  });
});

Deno.test("fashion_mnist: a downloaded file with the wrong checksum is rejected", async () => {
  await withTempDir(async (source) => {
    const { dir: sourceDir, resources } = await writeSyntheticFashionMnist(source, SMALL);
    const fetch = await fakeFetch(sourceDir, "https://good.test/", []);
    await withTempDir(async (root) => {
      await assert.rejects(
        loadFashionMnist({ root, fetch, mirrors: ["https://good.test/"], progress: false }),
        {
          name: "FashionMnistError",
          message: "Cannot load FashionMNIST: checksum mismatch for train-images-idx3-ubyte.gz " +
            "from https://good.test/train-images-idx3-ubyte.gz (expected " +
            `${FASHION_MNIST_RESOURCES[0].md5}, got ${resources[0].md5})`,
        },
      );
      assert.ok(!(await exists(join(root, "FashionMNIST", "raw", `${FILES[0]}.gz`))));
    });
  });
});

Deno.test("fashion_mnist: all mirrors failing lists each URL and failure", async () => {
  await withTempDir(async (source) => {
    const { dir: sourceDir, resources } = await writeSyntheticFashionMnist(source, SMALL);
    const fetch = await fakeFetch(sourceDir, "https://good.test/", []);
    await withTempDir(async (root) => {
      await assert.rejects(
        loadFashionMnist({
          root,
          fetch,
          resources,
          mirrors: ["http://dead.test/", "https://good.test/missing/"],
          progress: false,
        }),
        {
          name: "FashionMnistError",
          message: "Cannot load FashionMNIST: cannot download train-images-idx3-ubyte.gz from " +
            "any mirror: http://dead.test/train-images-idx3-ubyte.gz (error sending request); " +
            "https://good.test/missing/train-images-idx3-ubyte.gz (HTTP 404); " +
            offlineHint(FASHION_MNIST),
        },
      );
    });
  });
});

Deno.test("fashion_mnist: missing files with download disabled", async () => {
  await withTempDir(async (root) => {
    const path = join(root, "FashionMNIST", "raw", "train-images-idx3-ubyte");
    await assert.rejects(loadFashionMnist({ root, download: false }), {
      name: "FashionMnistError",
      message: `Cannot load FashionMNIST: ${path} not found and downloading is disabled; pass ` +
        "--data-dir pointing at a directory that contains FashionMNIST/raw/, or allow downloading",
    });
  });
});

Deno.test("fashion_mnist: a malformed extracted file is reported", async () => {
  await withTempDir(async (root) => {
    const { dir } = await writeSyntheticFashionMnist(root, SMALL);
    const path = join(dir, "t10k-labels-idx1-ubyte");
    const bytes = await Deno.readFile(path);
    await Deno.writeFile(path, bytes.subarray(0, bytes.length - 3));
    await assert.rejects(loadFashionMnist({ root, download: false }), (e: Error) => {
      assert.equal(e.name, "FashionMnistError");
      assert.equal(
        e.message,
        "Cannot load FashionMNIST: cannot parse IDX file t10k-labels-idx1-ubyte: " +
          "expected 20 data bytes for shape [20], got 17 (file is truncated)",
      );
      assert.equal((e.cause as Error).name, "IdxFormatError");
      return true;
    });
    const garbage = new TextEncoder().encode("not gzip");
    await Deno.remove(path);
    await Deno.writeFile(`${path}.gz`, garbage);
    const resources = [{ file: "t10k-labels-idx1-ubyte.gz", md5: md5(garbage) }];
    await assert.rejects(loadFashionMnist({ root, download: false, resources }), {
      name: "FashionMnistError",
      message: /^Cannot load FashionMNIST: cannot decompress t10k-labels-idx1-ubyte\.gz: /,
    });
  });
});

// ---- Loader ----------------------------------------------------------------------------------

const tinySet = (count: number): ImageSet =>
  Object.freeze({
    images: Uint8Array.from({ length: count * 4 }, (_, i) => (i * 37) % 256),
    labels: Uint8Array.from({ length: count }, (_, i) => i % 10),
    count,
    height: 2,
    width: 2,
    classes: 10,
  });

Deno.test("loader: batches of raw bytes and labels in order", () => {
  const set = tinySet(10);
  const loader = createLoader(set, { batchSize: 4 });
  assert.equal(loader.size, 10);
  assert.equal(loader.batches, 3);
  const batches = [...loader];
  assert.deepEqual(batches.map((b) => b.size), [4, 4, 2]);
  assert.deepEqual(batches.map((b) => b.x.length), [16, 16, 8]);
  const x = batches.flatMap((b) => [...b.x]);
  assert.deepEqual(x, [...set.images]);
  assert.ok(batches.every((b) => b.x instanceof Uint8Array && b.feeds === undefined));
  assert.equal(x[0], 0);
  const edge = {
    ...set,
    images: Uint8Array.of(0, 1, 128, 255),
    labels: Uint8Array.of(7),
    count: 1,
  };
  const [only] = createLoader(edge, { batchSize: 64 });
  assert.deepEqual([...only.x], [0, 1, 128, 255]);
  assert.ok(only.y instanceof BigInt64Array && only.y[0] === 7n);
  assert.deepEqual(batches.flatMap((b) => [...b.y]), [...set.labels].map(BigInt));
  assert.deepEqual([...batches[2].y], [8n, 9n]);
});

Deno.test("loader: seeded shuffling is reproducible, varies by epoch, covers all", () => {
  const set = tinySet(37);
  const order = (batches: Iterable<{ x: Uint8Array; size: number }>) =>
    [...batches].flatMap((b) => Array.from({ length: b.size }, (_, i) => b.x[i * 4]));
  const firstPixel = (k: number) => set.images[k * 4];
  const a = createLoader(set, { batchSize: 8, shuffle: true, seed: 42 });
  const b = createLoader(set, { batchSize: 8, shuffle: true, seed: 42 });
  const a1 = order(a), a2 = order(a), b1 = order(b), b2 = order(b);
  assert.deepEqual(a1, b1);
  assert.deepEqual(a2, b2);
  assert.notDeepEqual(a1, a2);
  const identity = Array.from({ length: 37 }, (_, k) => firstPixel(k));
  assert.notDeepEqual(a1, identity);
  assert.deepEqual([...a1].sort((p, q) => p - q), [...identity].sort((p, q) => p - q));
  assert.equal(new Set(a1).size, 37);
  const c = order(createLoader(set, { batchSize: 8, shuffle: true, seed: 43 }));
  assert.notDeepEqual(c, a1);
});

Deno.test("loader: image batches are pinned bit for bit, in order and shuffled", () => {
  // MD5 of two epochs of batches (x bytes, then y bytes, batch by batch) as the loader made them
  // before it learned tensor sets; the image path must not change a bit.
  const { train } = syntheticFashionMnist({ train: 300, test: 10, seed: 4 });
  const digest = (shuffle: boolean) => {
    const loader = createLoader(train, { batchSize: 64, shuffle, seed: 9 });
    const hash = createHash("md5");
    for (let epoch = 0; epoch < 2; epoch++) {
      for (const b of loader) {
        // The batches hold raw bytes now; ToTensor (in the graphs) gives the pinned floats.
        const x = Float32Array.from(b.x, (v) => v / 255);
        hash.update(new Uint8Array(x.buffer)).update(new Uint8Array(b.y.buffer));
      }
    }
    return hash.digest("hex");
  };
  assert.equal(digest(false), "5b57666ee52f5e40a7bab94385a10c62");
  assert.equal(digest(true), "fdfe395cec37b6fb840fa66cb412a549");
});

Deno.test("loadDataset: FashionMNIST as image sets, a tensor dataset as its arrays", async () => {
  await withTempDir(async (root) => {
    const expected = syntheticFashionMnist(SMALL);
    await writeSyntheticFashionMnist(root, SMALL);
    const images = await loadDataset(fashionMnist({ root: "elsewhere", download: false }), {
      root,
    });
    assertSameSet(images.train, expected.train);
    assertSameSet(images.test, expected.test);
  });
  const x = Float32Array.of(1, 2, 3, 4), y = Float32Array.of(5, 6);
  const tensors = await loadDataset(
    tensorDataset({ train: { x, y }, test: { x, y }, sampleShape: [2], targetShape: [1] }),
  );
  assert.ok(tensors.train.x === x && tensors.test.y === y && tensors.train.count === 2);
});

Deno.test("loader: rejects a bad batch size", () => {
  for (const batchSize of [0, -3, 2.5, NaN]) {
    assert.throws(
      () => createLoader(tinySet(3), { batchSize }),
      new RegExp(
        `^RangeError: Cannot create a data loader: batchSize must be a positive integer, got ${batchSize}$`,
      ),
    );
  }
});
