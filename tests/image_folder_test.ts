/** Folders of PNG images, one per class: decoding, conversion, class order, errors, training. */
import { join } from "node:path";
import { encode } from "fast-png";
import {
  crossEntropy,
  decodePng,
  flatten,
  imageFolder,
  ImageFolderError,
  linear,
  pipeline,
  relu,
  rgbToGray,
  sequential,
  sgd,
} from "../mod.ts";
import { loadDataset } from "../src/data/datasets.ts";
import { assert, assertRejectsMatch, assertThrowsMatch } from "./_assert.ts";

/** Encodes a 2×3 (height × width) PNG. */
const png = (
  data: Uint8Array | Uint16Array,
  channels: number,
  extra: { depth?: 8 | 16; palette?: number[][] } = {},
) => encode({ width: 3, height: 2, data, channels, depth: extra.depth ?? 8, ...extra });

// Six RGB pixels; their gray values by Pillow's L = (19595 R + 38470 G + 7471 B + 32768) >> 16.
// (10, 200, 31) is 123.924 in floating point: rounded to 124 (truncation would give 123).
const RGB = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 200, 31], [7, 8, 9], [200, 100, 50]];
const GRAY_OF_RGB = [76, 150, 29, 124, 8, 124];
const planes = (px: number[][]) => [0, 1, 2].flatMap((c) => px.map((p) => p[c]));

Deno.test("decodePng: gray, gray+alpha, RGB, RGBA, palette and 16-bit PNGs convert exactly", () => {
  const gray = [0, 10, 20, 30, 128, 255];
  const size = [2, 3] as const;
  const dec = (
    bytes: Uint8Array,
    channels: 1 | 3,
  ) => [...decodePng(bytes, "x.png", size, channels)];
  // Gray: kept as is, or repeated into three planes.
  assert.deepEqual(dec(png(Uint8Array.from(gray), 1), 1), gray);
  assert.deepEqual(dec(png(Uint8Array.from(gray), 1), 3), [...gray, ...gray, ...gray]);
  // Gray + alpha: alpha dropped.
  const ga = Uint8Array.from(gray.flatMap((v, i) => [v, 40 * i]));
  assert.deepEqual(dec(png(ga, 2), 1), gray);
  assert.deepEqual(dec(png(ga, 2), 3), [...gray, ...gray, ...gray]);
  // RGB: planes (CHW), or Pillow's rounded luma.
  const rgb = Uint8Array.from(RGB.flat());
  assert.deepEqual(dec(png(rgb, 3), 3), planes(RGB));
  assert.deepEqual(dec(png(rgb, 3), 1), GRAY_OF_RGB);
  assert.deepEqual(RGB.map(([r, g, b]) => rgbToGray(r, g, b)), GRAY_OF_RGB);
  assert.equal(rgbToGray(255, 255, 255), 255);
  // RGBA: alpha dropped.
  const rgba = Uint8Array.from(RGB.flatMap((p, i) => [...p, 255 - 50 * i]));
  assert.deepEqual(dec(png(rgba, 4), 3), planes(RGB));
  assert.deepEqual(dec(png(rgba, 4), 1), GRAY_OF_RGB);
  // Palette: indices looked up, then converted like RGB.
  const palette = [[0, 0, 255], [10, 200, 31], [255, 0, 0]];
  const indexed = png(Uint8Array.of(2, 1, 0, 0, 1, 2), 1, { palette });
  const looked = [2, 1, 0, 0, 1, 2].map((i) => palette[i]);
  assert.deepEqual(dec(indexed, 3), planes(looked));
  assert.deepEqual(dec(indexed, 1), [76, 124, 29, 29, 124, 76]);
  // 16-bit: the high byte.
  const deep = Uint16Array.of(0x1234, 0xffff, 0x00ff, 0x0100, 0x8000, 0xabcd);
  assert.deepEqual(dec(png(deep, 1, { depth: 16 }), 1), [0x12, 0xff, 0x00, 0x01, 0x80, 0xab]);
  const deepRgb = Uint16Array.from(RGB.flat(), (v) => v * 256 + 0xff);
  assert.deepEqual(dec(png(deepRgb, 3, { depth: 16 }), 1), GRAY_OF_RGB);
  // 1-, 2- and 4-bit rows are packed and padded to a byte: gray scaled to 0..255 as PNG says.
  const packed = (data: Uint8Array, depth: number, palette?: number[][]) =>
    encode(
      { width: 3, height: 2, data, channels: 1, depth, palette } as Parameters<typeof encode>[0],
    );
  assert.deepEqual(dec(packed(Uint8Array.of(0b00011000, 0b11100100), 2), 1), [
    0,
    85,
    170,
    255,
    170,
    85,
  ]);
  const small = [[1, 2, 3], [4, 5, 6], [7, 8, 9]];
  assert.deepEqual(
    dec(packed(Uint8Array.of(0x21, 0x00, 0x01, 0x20), 4, small), 3),
    [7, 4, 1, 1, 4, 7, 8, 5, 2, 2, 5, 8, 9, 6, 3, 3, 6, 9],
  );
});

Deno.test("decodePng: a size mismatch or a corrupt or non-PNG file is an error naming the file", () => {
  const bytes = png(new Uint8Array(6), 1);
  assertThrowsMatch(
    () => decodePng(bytes, "dir/a.png", [3, 2], 1),
    ImageFolderError,
    /^Image dir\/a\.png is 2x3 \(height x width\), but the dataset declares 3x2/,
  );
  assertThrowsMatch(
    () => decodePng(bytes.slice(0, 30), "dir/cut.png", [2, 3], 1),
    ImageFolderError,
    /^Cannot decode PNG dir\/cut\.png: /,
  );
  assertThrowsMatch(
    () => decodePng(new TextEncoder().encode("hello"), "dir/notes.txt", [2, 3], 1),
    ImageFolderError,
    /^Cannot read image dir\/notes\.txt: not a PNG file/,
  );
});

/** Writes files under `root`, creating folders; `files` maps relative paths to bytes. */
async function writeTree(root: string, files: Record<string, Uint8Array>) {
  for (const [path, bytes] of Object.entries(files)) {
    const full = join(root, path);
    await Deno.mkdir(join(full, ".."), { recursive: true });
    await Deno.writeFile(full, bytes);
  }
}

Deno.test("imageFolder: classes sorted by folder name, files sorted, hidden files skipped", async () => {
  const dir = await Deno.makeTempDir({ prefix: "onnxtrain-imgf-" });
  try {
    const gray = (v: number) => new Uint8Array(6).fill(v);
    const tree = {
      "zebra/b.png": png(gray(3), 1),
      "zebra/a.png": png(Uint8Array.from(RGB.flat()), 3),
      "ant/x.png": png(gray(9), 1),
      "ant/.DS_Store": new TextEncoder().encode("not a png"),
      "Moth/only.png": png(gray(1), 1, { palette: [[1, 2, 3], [10, 200, 31]] }),
      ".hidden/skip.png": png(gray(1), 1),
    };
    await writeTree(join(dir, "train"), tree);
    await writeTree(join(dir, "test"), tree);
    const declare = (channels: 1 | 3) =>
      imageFolder({
        train: join(dir, "train"),
        test: join(dir, "test"),
        imageSize: [2, 3],
        channels,
        classes: 3,
      });
    assert.deepEqual(declare(1).sampleShape, [1, 2, 3]);
    const { train, test } = await loadDataset(declare(1));
    for (const split of [train, test]) {
      // Code-unit order, as Python's sorted: upper case first.
      assert.deepEqual((split as { classNames?: string[] }).classNames, ["Moth", "ant", "zebra"]);
      assert.equal(split.count, 4);
      assert.equal(split.classes, 3);
      assert.equal(split.channels, 1);
      assert.deepEqual([split.height, split.width], [2, 3]);
      assert.deepEqual([...split.labels], [0, 1, 2, 2]);
    }
    assert.deepEqual([...train.images], [...gray(124), ...gray(9), ...GRAY_OF_RGB, ...gray(3)]);
    const rgb = await loadDataset(declare(3));
    assert.equal(rgb.train.channels, 3);
    assert.deepEqual([...rgb.test.images.slice(0, 18)], planes(new Array(6).fill([10, 200, 31])));
    assert.deepEqual([...rgb.test.images.slice(36, 54)], planes(RGB));
    // Declared class names are checked against the folders.
    const named = imageFolder({
      train: join(dir, "train"),
      test: join(dir, "test"),
      imageSize: [2, 3],
      channels: 1,
      classNames: ["Moth", "ant", "zebra"],
    });
    assert.equal(named.classes, 3);
    assert.equal((await loadDataset(named)).train.count, 4);
    await assertRejectsMatch(
      () => loadDataset({ ...named, classNames: ["Moth", "ant", "zebu"] }),
      ImageFolderError,
      /class folders of .*train are \["Moth","ant","zebra"\], but the dataset declares/,
    );
    await assertRejectsMatch(
      () => loadDataset({ ...named, classNames: undefined, classes: 4 }),
      ImageFolderError,
      /train has 3 class folders .* but the dataset declares 4 classes/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("imageFolder: unequal class folders, bad files and bad options are clear errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "onnxtrain-imgf-" });
  try {
    const ok = png(new Uint8Array(6), 1);
    await writeTree(join(dir, "train"), { "a/1.png": ok, "b/1.png": ok, "c/1.png": ok });
    await writeTree(join(dir, "test"), { "a/1.png": ok, "b/1.png": ok, "d/1.png": ok });
    const declare = (train: string, test = train, classes = 3) =>
      imageFolder({
        train: join(dir, train),
        test: join(dir, test),
        imageSize: [2, 3],
        channels: 3,
        classes,
      });
    await assertRejectsMatch(
      () => loadDataset(declare("train", "test")),
      ImageFolderError,
      /class folders of train .* and test .* differ: only in train: "c"; only in test: "d"$/,
    );
    await writeTree(join(dir, "big"), {
      "a/1.png": ok,
      "a/2.png": encode({ width: 3, height: 3, data: new Uint8Array(9), channels: 1 }),
    });
    await assertRejectsMatch(
      () => loadDataset(declare("big", "big", 1)),
      ImageFolderError,
      /^Image .*big\/a\/2\.png is 3x3 \(height x width\), but the dataset declares 2x3/,
    );
    await writeTree(join(dir, "corrupt"), { "a/1.png": ok.slice(0, ok.length - 20) });
    await assertRejectsMatch(
      () => loadDataset(declare("corrupt", "corrupt", 1)),
      ImageFolderError,
      /^Cannot decode PNG .*corrupt\/a\/1\.png: /,
    );
    await writeTree(join(dir, "text"), { "a/1.png": ok, "a/readme.txt": new Uint8Array(3) });
    await assertRejectsMatch(
      () => loadDataset(declare("text", "text", 1)),
      ImageFolderError,
      /^Cannot read image .*text\/a\/readme\.txt: not a PNG file/,
    );
    await writeTree(join(dir, "loose"), { "a/1.png": ok, "list.csv": new Uint8Array(3) });
    await assertRejectsMatch(
      () => loadDataset(declare("loose", "loose", 1)),
      ImageFolderError,
      /holds the file .*loose\/list\.csv/,
    );
    await Deno.mkdir(join(dir, "empty", "a"), { recursive: true });
    await assertRejectsMatch(
      () => loadDataset(declare("empty", "empty", 1)),
      ImageFolderError,
      /^Class folder .*empty\/a holds no images/,
    );
    await assertRejectsMatch(
      () => loadDataset(declare("missing", "missing", 1)),
      ImageFolderError,
      /^Cannot read image folder .*missing: /,
    );
    const base = {
      train: "a",
      test: "b",
      imageSize: [2, 3] as [number, number],
      channels: 1 as const,
    };
    assertThrowsMatch(() => imageFolder(base), RangeError, /declare classes .* or classNames/);
    assertThrowsMatch(
      () => imageFolder({ ...base, channels: 2 as 1, classes: 2 }),
      RangeError,
      /channels must be 1 or 3, got 2/,
    );
    assertThrowsMatch(
      () => imageFolder({ ...base, imageSize: [2, 0], classes: 2 }),
      RangeError,
      /imageSize must be two positive integers/,
    );
    assertThrowsMatch(
      () => imageFolder({ ...base, classNames: ["b", "a"] }),
      RangeError,
      /classNames must be distinct and sorted/,
    );
    assertThrowsMatch(
      () => imageFolder({ ...base, classNames: ["a", "b"], classes: 3 }),
      RangeError,
      /2 class names for 3 classes/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("imageFolder: a model trains on folders of PNGs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "onnxtrain-imgf-" });
  try {
    // 6×5 images of 3 learnable classes: a bright row per class, as RGB, gray and RGBA PNGs.
    const write = async (split: string, n: number) => {
      for (let i = 0; i < n; i++) {
        const label = i % 3;
        const gray = Array.from(
          { length: 30 },
          (_, p) => Math.floor(p / 5) === 2 * label ? 220 : (i * 7 + p * 13) % 60,
        );
        const channels = [1, 3, 4][i % 3];
        const data = Uint8Array.from(gray.flatMap((v) => new Array(channels).fill(v)));
        const file = join(dir, split, ["top", "middle", "bottom"][label], `${i}.png`);
        await writeTree("/", { [file]: encode({ width: 5, height: 6, data, channels }) });
      }
    };
    await write("train", 96);
    await write("test", 30);
    const ds = imageFolder({
      train: join(dir, "train"),
      test: join(dir, "test"),
      imageSize: [6, 5],
      channels: 1,
      classNames: ["bottom", "middle", "top"],
    });
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
