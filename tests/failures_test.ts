// Failures: one clear line naming what failed, and nothing lost. Output paths are checked before
// the first epoch; writes are atomic (a full disk leaves the previous file and no temporary file);
// a NaN or infinite loss stops training at once, exports nothing and keeps the last good
// checkpoint; bad numbers and empty sets fail at the start; file system errors name their path;
// a cached archive that fails its checksum says so even when the download fails too.
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { exponentialLR, linear, mse, pipeline, relu, sequential, sgd } from "../mod.ts";
import { loadCifar10 } from "../src/data/cifar10.ts";
import { loadCsv } from "../src/data/csv.ts";
import { FASHION_MNIST, loadFashionMnist } from "../src/data/fashion_mnist.ts";
import { offlineHint } from "../src/data/idx_download.ts";
import { loadNpy } from "../src/data/npy.ts";
import { writeSyntheticFashionMnist } from "../src/data/synthetic.ts";
import { loadDataset } from "../src/data/datasets.ts";
import { ImageFolderError } from "../src/data/image_folder.ts";
import { imageFolder, tensorDataset } from "../src/dsl/datasets.ts";
import { FileWriteError, tempPathFor, writeFileAtomic } from "../src/io/atomic_write.ts";
import { checkOutputDir, checkOutputFile, OutputPathError } from "../src/io/output_paths.ts";
import { CheckpointError, listCheckpoints, readCheckpoint } from "../src/train/checkpoint.ts";
import { NonFiniteLossError, type RunOptions } from "../src/train/run.ts";
import { WeightsFileError } from "../src/train/warm_start.ts";
import { createRng } from "../src/util/random.ts";
import { assert, assertRejectsMatch } from "./_assert.ts";
import { listDir, withTempDir } from "./_files.ts";

/** 32 samples of 4 features with a float target y = x·w; batches of 8 (4 steps per epoch). */
function regression(count = 32) {
  const rng = createRng(3);
  const make = (n: number) => {
    const x = Float32Array.from({ length: 4 * n }, () => 2 * rng.nextFloat() - 1);
    const y = Float32Array.from({ length: n }, (_, k) => x[4 * k] - 2 * x[4 * k + 1] + 0.5);
    return { x, y };
  };
  return tensorDataset({ train: make(count), test: make(8), sampleShape: [4], targetShape: [1] });
}

const pipe = (lr: number, data = regression()) =>
  pipeline()
    .data(data, { batchSize: 8 })
    .model(sequential(linear(4, 8), relu(), linear(8, 1)))
    .loss(mse())
    .optimizer(sgd({ lr }))
    .seed(7)
    .epochs(1);

const quiet = (lines: string[] = []): RunOptions => ({
  threads: 1,
  log: (l) => lines.push(l),
  stepsPerRun: 1,
});
const text = (s: string) => new TextEncoder().encode(s);
const read = (path: string) => new TextDecoder().decode(Deno.readFileSync(path));

Deno.test("output paths: a folder where a file goes and a file where a folder goes name path and option", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "a-file");
    await Deno.writeFile(file, text("keep me"));
    await assertRejectsMatch(
      () => checkOutputFile(dir, "the metrics (metricsPath, --metrics)"),
      OutputPathError,
      `Cannot write the metrics (metricsPath, --metrics) to ${dir}: it is a folder ` +
        "(checked before training)",
    );
    await assertRejectsMatch(
      () => checkOutputFile(join(file, "plot.svg"), "the plot (plotPath, --plot)"),
      OutputPathError,
      `Cannot write the plot (plotPath, --plot) to ${file}/plot.svg: ${file} is a file, not a ` +
        "folder (checked before training)",
    );
    await assertRejectsMatch(
      () => checkOutputDir(file, "checkpoints (checkpointDir, --checkpoint)"),
      OutputPathError,
      `Cannot write checkpoints (checkpointDir, --checkpoint) into ${file}: it is a file, not a ` +
        "folder (checked before training)",
    );
    await assertRejectsMatch(
      () => checkOutputDir(join(file, "deeper", "ckpt"), "the graphs (emitDir, --emit)"),
      OutputPathError,
      `Cannot write the graphs (emitDir, --emit) into ${file}/deeper/ckpt: ${file} is a file, ` +
        "not a folder (checked before training)",
    );
    assert.equal(read(file), "keep me");
    // Writable paths: a file's missing folder is created, nothing else is written.
    await checkOutputFile(join(dir, "new", "metrics.jsonl"), "the metrics");
    await checkOutputDir(join(dir, "ckpt", "run1"), "checkpoints");
    assert.deepEqual(listDir(join(dir, "new")), []);
    assert.ok(!listDir(dir).includes("ckpt"), "a folder output is not created by the check");
    await checkOutputFile(file, "the metrics");
    assert.equal(read(file), "keep me");
  });
});

Deno.test("output paths: unwritable folders are refused (skipped as root)", async () => {
  await withTempDir(async (dir) => {
    const locked = join(dir, "locked");
    await Deno.mkdir(locked, { mode: 0o500 });
    try {
      try {
        Deno.writeFileSync(join(locked, "probe"), text("x"));
        return; // root writes anywhere: nothing to check
      } catch {
        // as expected
      }
      await assertRejectsMatch(
        () => checkOutputDir(locked, "checkpoints (checkpointDir, --checkpoint)"),
        OutputPathError,
        `Cannot write checkpoints (checkpointDir, --checkpoint) into ${locked}: cannot create ` +
          `files in ${locked}: permission denied (checked before training)`,
      );
    } finally {
      await Deno.chmod(locked, 0o700);
    }
  });
});

Deno.test("runPipeline checks every output before the first epoch and leaves files intact", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "a-file");
    await Deno.writeFile(file, text("keep me"));
    const cases: [Partial<RunOptions>, string][] = [
      [
        { metricsPath: dir },
        `Cannot write the metrics (metricsPath, --metrics) to ${dir}: it is a folder`,
      ],
      [
        { plotPath: `${file}/plot.svg` },
        `Cannot write the plot (plotPath, --plot) to ${file}/plot.svg: ${file} is a file, ` +
        "not a folder",
      ],
      [
        { emitDir: file },
        `Cannot write the graphs (emitDir, --emit) into ${file}: it is a file, not a folder`,
      ],
      [
        { checkpointDir: file },
        `Cannot write checkpoints (checkpointDir, --checkpoint) into ${file}: it is a file, not ` +
        "a folder",
      ],
    ];
    for (const [options, message] of cases) {
      const lines: string[] = [];
      await assertRejectsMatch(
        () => pipe(0.01).run({ ...quiet(lines), ...options }),
        OutputPathError,
        `${message} (checked before training)`,
      );
      assert.deepEqual(lines, [], "no epoch ran");
    }
    assert.equal(read(file), "keep me");
    assert.deepEqual(listDir(dir), ["a-file"]);
  });
});

Deno.test("writeFileAtomic: a full disk names the path, keeps the old file and leaves no temporary file", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "model.onnx");
    await Deno.writeFile(path, text("previous model"));
    let calls = 0;
    const full = () => {
      // The first write lands partly, the second finds the disk full (as write(2) reports it).
      if (calls++ === 0) return Promise.resolve(3);
      const e = new Error("No space left on device (os error 28)");
      Object.assign(e, { code: "ENOSPC" });
      return Promise.reject(e);
    };
    const error = await assertRejectsMatch(
      () => writeFileAtomic(path, text("new model bytes"), { write: full }),
      FileWriteError,
      `Cannot write ${path}: the disk is full (no space left on device)`,
    ) as FileWriteError;
    assert.equal(error.path, path);
    assert.equal(calls, 2);
    assert.equal(read(path), "previous model");
    assert.deepEqual(listDir(dir), ["model.onnx"]);
    // A folder where the file goes.
    await assertRejectsMatch(
      () => writeFileAtomic(dir, text("x")),
      FileWriteError,
      `Cannot write ${dir}: it is a folder`,
    );
    // And it writes when it can.
    await writeFileAtomic(path, text("new model"));
    assert.equal(read(path), "new model");
    assert.deepEqual(listDir(dir), ["model.onnx"]);
  });
});

Deno.test("writeFileAtomic: the real ENOSPC of /dev/full is named as a full disk", async () => {
  // /dev/full fails every write with ENOSPC; write there directly through the same wording.
  let code: string | undefined;
  try {
    const f = await Deno.open("/dev/full", { write: true });
    try {
      await f.write(text("x"));
    } finally {
      f.close();
    }
  } catch (e) {
    code = (e as { code?: string }).code;
  }
  if (code === undefined) return; // no /dev/full here
  assert.equal(code, "ENOSPC");
  await withTempDir(async (dir) => {
    const path = join(dir, "a.bin");
    await assertRejectsMatch(
      () =>
        writeFileAtomic(path, text("abc"), {
          write: async (_file, bytes) => {
            const full = await Deno.open("/dev/full", { write: true });
            try {
              return await full.write(bytes);
            } finally {
              full.close();
            }
          },
        }),
      FileWriteError,
      `Cannot write ${path}: the disk is full (no space left on device)`,
    );
    assert.deepEqual(listDir(dir), []);
  });
});

Deno.test("writeFileAtomic: temporary names are unique per process and call", () => {
  const names = new Set(Array.from({ length: 100 }, () => tempPathFor("/d/model.onnx")));
  assert.equal(names.size, 100);
  for (const name of names) {
    assert.match(name, new RegExp(`^/d/model\\.onnx\\.${Deno.pid}-[0-9a-z]+\\.tmp$`));
  }
});

Deno.test("writeFileAtomic: concurrent writers to one path never collide and leave one whole file", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "archive.bin");
    const bodies = Array.from({ length: 8 }, (_, i) => new Uint8Array(50_000).fill(i + 1));
    await Promise.all(bodies.map((b) => writeFileAtomic(path, b)));
    const got = Deno.readFileSync(path);
    assert.equal(got.length, 50_000);
    assert.ok(got.every((v) => v === got[0]) && got[0] >= 1 && got[0] <= 8, "one whole body");
    assert.deepEqual(listDir(dir), ["archive.bin"]);
  });
});

Deno.test("a NaN loss stops training at once, naming epoch, step and rate; nothing is exported", async () => {
  await withTempDir(async (dir) => {
    const exportPath = join(dir, "model.onnx");
    await Deno.writeFile(exportPath, text("previous export"));
    const lines: string[] = [], losses: number[] = [];
    const error = await assertRejectsMatch(
      () =>
        pipe(1e4).epochs(50).run({
          ...quiet(lines),
          logEvery: 1,
          exportPath,
          onBatch: (e) => losses.push(e.loss),
        }),
      NonFiniteLossError,
      /^Training stopped: the loss is (NaN|Infinity) at epoch \d+, step \d+ \(batch [0-3]\); the learning rate 10000 may be too high$/,
    ) as NonFiniteLossError;
    assert.ok(!Number.isFinite(error.loss));
    assert.equal(error.step, losses.length + 1, "the first bad step");
    assert.equal(error.batch, losses.length % 4);
    assert.equal(error.epoch, Math.floor(losses.length / 4) + 1);
    assert.ok(losses.every(Number.isFinite), "every reported loss is finite");
    assert.ok(!lines.some((l) => /NaN|Infinity/.test(l)), "no NaN line was logged");
    assert.equal(read(exportPath), "previous export");
    assert.deepEqual(listDir(dir), ["model.onnx"]);
  });
});

Deno.test("a NaN loss inside a K-step run is caught; the last good checkpoint is kept", async () => {
  await withTempDir(async (dir) => {
    const ckpt = join(dir, "ckpt");
    // The folder's contents after each good step: nothing may change after the last one.
    const snapshot = () => {
      // The lock file (emptied when the run ends) aside.
      const names = existsSync(ckpt) ? listDir(ckpt).filter((n) => n !== ".onnxtrain.lock") : [];
      return new Map(names.map((n) => [n, Deno.readFileSync(join(ckpt, n))] as const));
    };
    let last = new Map<string, Uint8Array>();
    // A rate that grows threefold every batch: a few good checkpoints, then NaN.
    const error = await assertRejectsMatch(
      () =>
        pipe(0.01).schedule(exponentialLR({ gamma: 3, interval: "batch" })).epochs(50).run({
          ...quiet(),
          stepsPerRun: 4,
          checkpointDir: ckpt,
          checkpointEvery: 4,
          keep: 3,
          onBatch: () => last = snapshot(),
        }),
      NonFiniteLossError,
      new RegExp(
        "^Training stopped: the (loss is (NaN|Infinity)|parameter \\S+ is NaN or infinite) .*; " +
          `the last good checkpoint is ${ckpt}/checkpoint-\\d{10}\\.safetensors$`,
      ),
    ) as NonFiniteLossError;
    const after = await listCheckpoints(ckpt);
    assert.ok(after.length >= 1 && error.step > 4, `stopped at step ${error.step}`);
    assert.ok(error.message.endsWith(after.at(-1)!), "names the newest kept checkpoint");
    const steps = Number(after.at(-1)!.match(/checkpoint-(\d{10})\.safetensors$/)![1]);
    assert.ok(
      steps < error.step,
      `the kept checkpoint predates the bad step: ${after.join(", ")}; ${error.message}`,
    );
    assert.deepEqual(snapshot(), last, "no checkpoint written or deleted after the last good step");
    // Every checkpoint in the folder holds finite weights.
    for (const path of after) {
      const c = await readCheckpoint(path);
      for (const [name, t] of c.params) {
        assert.ok((t.data as Float32Array).every(Number.isFinite), `${path} ${name} is finite`);
      }
    }
    assert.ok(listDir(ckpt).every((n) => !n.endsWith(".tmp")));
  });
});

Deno.test("bad numbers and empty sets fail at the start, not as NaN% lines", async () => {
  const lines: string[] = [];
  const cases: [() => Promise<unknown>, RegExp | string][] = [
    [
      () => pipe(0.01).run({ ...quiet(lines), epochs: NaN }),
      "Invalid epochs: expected an integer ≥ 0, got NaN",
    ],
    [
      () => pipe(0.01).run({ ...quiet(lines), epochs: 1.5 }),
      "Invalid epochs: expected an integer ≥ 0, got 1.5",
    ],
    [
      () => pipe(0.01).run({ ...quiet(lines), lr: NaN }),
      "Invalid lr: expected a finite number ≥ 0, got NaN",
    ],
    [
      () => pipe(0.01).run({ ...quiet(lines), lr: Infinity }),
      "Invalid lr: expected a finite number ≥ 0, got Infinity",
    ],
    [
      () => pipe(0.01).run({ ...quiet(lines), batchSize: 0 }),
      "Invalid batchSize: expected an integer ≥ 1, got 0",
    ],
    [
      () => pipe(0.01).run({ ...quiet(lines), keep: 0 }),
      "Invalid keep: expected an integer ≥ 1, got 0",
    ],
    [
      () => {
        const empty = { x: new Float32Array(0), y: new Float32Array(0), count: 0 };
        return pipe(0.01, { ...regression(), test: empty }).run(quiet(lines));
      },
      "Cannot run: the test set is empty (0 samples)",
    ],
    [
      () =>
        pipeline().data(regression(5), { batchSize: 8, dropLast: true }).model(linear(4, 1))
          .loss(mse()).optimizer(sgd({ lr: 0.1 })).seed(1).epochs(1).run(quiet(lines)),
      "Cannot run: 5 training samples make no batch of 8 with dropLast",
    ],
  ];
  for (const [run, message] of cases) await assertRejectsMatch(run, RangeError, message);
  assert.deepEqual(lines, []);
  // The builders refuse NaN and Infinity where they are built.
  assert.throws(
    () => sgd({ lr: NaN }),
    /^RangeError: Cannot create SGD: lr must be a finite number ≥ 0, got NaN$/,
  );
  assert.throws(() => pipe(0.01).epochs(NaN), /epochs must be a positive integer, got NaN/);
  assert.throws(() => pipe(0.01).epochs(0), /epochs must be a positive integer, got 0/);
  assert.throws(() => regression(0), /^RangeError: Cannot create tensor dataset: train x has 0/);
});

Deno.test("file system errors name their path", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "a-file");
    await Deno.writeFile(file, text("x"));
    await assertRejectsMatch(
      () => listCheckpoints(file),
      CheckpointError,
      `Cannot read the checkpoint folder ${file}: it is a file, not a folder`,
    );
    await assertRejectsMatch(
      () => readCheckpoint(join(dir, "missing.safetensors")),
      CheckpointError,
      `Cannot read checkpoint ${dir}/missing.safetensors: no such file or folder`,
    );
    await assertRejectsMatch(
      () => loadCsv(dir, { target: "y" } as never),
      Error,
      `Cannot read ${dir}: it is a folder`,
    );
    await assertRejectsMatch(
      () => loadNpy(join(dir, "x.npy")),
      Error,
      `Cannot read ${dir}/x.npy: no such file or folder`,
    );
    await assertRejectsMatch(
      () => pipe(0.01).run({ ...quiet(), init: dir }),
      WeightsFileError,
      `Cannot initialise from ${dir}: it is a folder`,
    );
    const folder = (train: string) =>
      imageFolder({ train, test: train, imageSize: [2, 3], channels: 1, classes: 2 });
    await assertRejectsMatch(
      () => loadDataset(folder(file)),
      ImageFolderError,
      `Cannot read image folder ${file}: it is a file, not a folder`,
    );
    await assertRejectsMatch(
      () => loadDataset(folder(join(dir, "none"))),
      ImageFolderError,
      `Cannot read image folder ${dir}/none: no such file or folder`,
    );
  });
});

Deno.test("data: a missing data folder with downloading off says so; a file as the folder too", async () => {
  await withTempDir(async (dir) => {
    const missing = join(dir, "nowhere");
    await assertRejectsMatch(
      () => loadFashionMnist({ root: missing, download: false }),
      Error,
      `Cannot load FashionMNIST: the data folder ${missing} does not exist (and downloading is ` +
        "disabled); check --data-dir or the dataset's root",
    );
    await assertRejectsMatch(
      () => loadCifar10({ root: missing, download: false }),
      Error,
      `Cannot load CIFAR-10: the data folder ${missing} does not exist (and downloading is ` +
        "disabled); check --data-dir or the dataset's root",
    );
    const file = join(dir, "a-file");
    await Deno.writeFile(file, text("x"));
    await assertRejectsMatch(
      () => loadFashionMnist({ root: file, download: true, progress: false }),
      Error,
      `Cannot load FashionMNIST: the data folder ${file} is a file, not a folder`,
    );
    assert.deepEqual(listDir(dir), ["a-file"]);
  });
});

Deno.test("data: a cached archive failing its checksum is named even when the download fails", async () => {
  await withTempDir(async (root) => {
    const { dir, resources } = await writeSyntheticFashionMnist(root, {
      train: 20,
      test: 10,
      seed: 1,
    });
    const first = resources[0];
    for (const f of listDir(dir)) if (!f.endsWith(".gz")) await Deno.remove(join(dir, f));
    const path = join(dir, first.file);
    const cached = Deno.readFileSync(path);
    const offline = () => Promise.reject(new TypeError("error sending request: dns error"));
    const expected = "0".repeat(32);
    await assertRejectsMatch(
      () =>
        loadFashionMnist({
          root,
          fetch: offline as typeof fetch,
          mirrors: ["https://a.test/"],
          resources: [{ file: first.file, md5: expected }, ...resources.slice(1)],
          progress: false,
        }),
      Error,
      `Cannot load FashionMNIST: checksum mismatch for the cached file ${path} (expected ` +
        `${expected}, got ${first.md5}), and cannot download ${first.file} from any mirror: ` +
        `https://a.test/${first.file} (error sending request: dns error); ` +
        offlineHint(FASHION_MNIST),
    );
    // The cached file is left as it was, and no temporary file is left behind.
    assert.deepEqual(Deno.readFileSync(path), cached);
    assert.ok(listDir(dir).every((n) => !n.endsWith(".tmp")));
  });
});

Deno.test("run: an explicit data folder that does not exist, or is a file, is named", async () => {
  await withTempDir(async (dir) => {
    const { crossEntropy, fashionMnist, flatten } = await import("../mod.ts");
    const p = pipeline()
      .data(fashionMnist({ root: dir }))
      .model(sequential(flatten(), linear(784, 10)))
      .loss(crossEntropy())
      .optimizer(sgd({ lr: 0.1 }));
    const missing = join(dir, "nope");
    await assertRejectsMatch(
      () => p.run({ dataDir: missing, log: () => {} }),
      RangeError,
      `Cannot load data: the data folder ${missing} (dataDir, --data-dir) does not exist`,
    );
    await Deno.writeTextFile(join(dir, "file"), "x");
    await assertRejectsMatch(
      () => p.run({ dataDir: join(dir, "file"), log: () => {} }),
      RangeError,
      `Cannot load data: the data folder ${
        join(dir, "file")
      } (dataDir, --data-dir) is a file, not a folder`,
    );
    assert.ok(!existsSync(missing), "nothing is created");
  });
});

Deno.test("runPipeline refuses an output that would destroy an input or another output", async () => {
  await withTempDir(async (dir) => {
    const data = join(dir, "data");
    const { resources } = await writeSyntheticFashionMnist(data, { train: 64, test: 16, seed: 1 });
    const idx = join(data, "FashionMNIST", "raw", resources[0].file.replace(/\.gz$/, ""));
    const weights = join(dir, "w.safetensors");
    await Deno.writeFile(weights, text("weights"));
    await Deno.symlink(weights, join(dir, "link.safetensors"));
    const before = existsSync(idx) ? read(idx) : undefined;
    const fashion = pipeline()
      .data((await import("../mod.ts")).fashionMnist({ root: data, download: false }), {
        batchSize: 16,
      })
      .model(sequential((await import("../mod.ts")).flatten(), linear(784, 10)))
      .loss((await import("../mod.ts")).crossEntropy())
      .optimizer(sgd({ lr: 0.1 }));
    const cases: [Partial<RunOptions>, string][] = [
      [
        { metricsPath: join(dir, "m.onnx"), exportPath: `${dir}/./m.onnx` },
        `Cannot write the metrics (metricsPath, --metrics) to ${dir}/m.onnx: it is also the exported model (exportPath, --export) (${dir}/./m.onnx), which it would destroy`,
      ],
      [
        { init: weights, exportPath: join(dir, "link.safetensors") },
        `Cannot write the exported model (exportPath, --export) to ${dir}/link.safetensors: it is also the initial weights (init, --init) (${weights}), which it would destroy`,
      ],
    ];
    if (before !== undefined) {
      cases.push([
        { exportPath: idx },
        `Cannot write the exported model (exportPath, --export) to ${idx}: it is also the data folder (dataDir, --data-dir) (${data}), which it would destroy`,
      ]);
    }
    for (const [options, message] of cases) {
      const lines: string[] = [];
      await assertRejectsMatch(
        () => fashion.run({ ...quiet(lines), epochs: 1, ...options }),
        OutputPathError,
        `${message} (checked before training)`,
      );
      assert.deepEqual(lines, [], "no epoch ran");
    }
    assert.ok(before !== undefined, `the IDX file ${idx} exists`);
    assert.equal(read(weights), "weights");
    // A new file in the data folder is no input: allowed.
    await fashion.run({ ...quiet([]), epochs: 1, exportPath: join(data, "model.onnx") });
    assert.ok(existsSync(join(data, "model.onnx")));

    // The user's CSV file, and the ONNX model a pipeline fine-tunes, are inputs too.
    const mod = await import("../mod.ts");
    const csv = join(dir, "points.csv");
    await Deno.writeTextFile(csv, "a,b,y\n" + "0,1,0.5\n1,0,1.5\n".repeat(5));
    const regression = pipeline().data(await mod.csvDataset({ path: csv, target: "y" }), {
      batchSize: 4,
    }).model(linear(2, 1)).loss(mod.mse()).optimizer(sgd({ lr: 0.1 }));
    await assertRejectsMatch(
      () =>
        regression.run({
          ...quiet([]),
          epochs: 1,
          metricsPath: `${dir}/../${basename(dir)}/points.csv`,
        }),
      OutputPathError,
      `Cannot write the metrics (metricsPath, --metrics) to ${dir}/../${
        basename(dir)
      }/points.csv: it is also a data file of the dataset (${csv}), which it would destroy (checked before training)`,
    );
    const model = join(dir, "model.onnx");
    await Deno.copyFile(join(data, "model.onnx"), model);
    const finetune = pipeline().data(mod.fashionMnist({ root: data, download: false }), {
      batchSize: 16,
    }).model(mod.fromOnnx(model)).loss(mod.crossEntropy()).optimizer(sgd({ lr: 0.1 }));
    await assertRejectsMatch(
      () => finetune.run({ ...quiet([]), epochs: 1, exportPath: model }),
      OutputPathError,
      `Cannot write the exported model (exportPath, --export) to ${model}: it is also the imported model (fromOnnx) (${model}), which it would destroy (checked before training)`,
    );
    assert.equal(read(csv).split("\n")[0], "a,b,y");
  });
});
