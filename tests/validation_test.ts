/**
 * Held-out validation splits (`data(ds, { validation })`), the loader's index subsets, the
 * validation report, reduceLROnPlateau on the validation loss, resume with a split, and the CSV
 * regression pipeline with its flags.
 */
import {
  adam,
  crossEntropy,
  CsvFormatError,
  type Dataset,
  fashionMnist,
  flatten,
  linear,
  mse,
  pipeline,
  reduceLROnPlateau,
  relu,
  type RunOptions,
  type RunResult,
  sequential,
  tensorDataset,
  TrainingInterrupted,
} from "../mod.ts";
import { createLoader, holdOut } from "../src/data/loader.ts";
import { formatFixed, testLines, validationLines } from "../src/train/format.ts";
import { syntheticFashionMnist, writeSyntheticFashionMnist } from "../src/data/synthetic.ts";
import { createScheduler } from "../src/train/schedule.ts";
import { regressionCsv, regressionCsvFromFlags } from "../pipelines/regression_csv.ts";
import { assert, assertClose, assertRejectsMatch, assertThrowsMatch } from "./_assert.ts";

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

// ---- holdOut ---------------------------------------------------------------------------------

Deno.test("holdOut: round(fraction·N) held out (halves up), disjoint, sorted, seeded", () => {
  // [N, fraction, held out]: 0.25·10 = 2.5 → 3 and 0.05·30 = 1.5 → 2 (Math.round: halves up).
  for (const [n, f, k] of [[10, 0.25, 3], [30, 0.05, 2], [100, 0.1, 10], [7, 0.5, 4]]) {
    const a = holdOut(n, f, 42);
    assert.equal(a.heldOut.length, k, `${f} of ${n}`);
    assert.equal(a.train.length, n - k);
    assert.deepEqual([...a.train, ...a.heldOut].sort((x, y) => x - y), range(n));
    const held = new Set(a.heldOut);
    assert.ok([...a.train].every((i) => !held.has(i)), "disjoint");
    for (const part of [a.train, a.heldOut]) {
      assert.ok(part.every((v, i) => i === 0 || part[i - 1] < v), "ascending");
    }
    assert.deepEqual(holdOut(n, f, 42), a, "the same seed gives the same split");
  }
  const seeds = range(5).map((s) => holdOut(1000, 0.1, s).heldOut.join());
  assert.equal(new Set(seeds).size, 5, "other seeds give other splits");
  // Negative and large seeds work too.
  assert.equal(holdOut(50, 0.2, -3).heldOut.length, 10);
  assert.equal(holdOut(50, 0.2, 2 ** 40).heldOut.length, 10);
});

Deno.test("holdOut: fractions outside (0, 1) and empty parts are refused", () => {
  for (const f of [0, 1, -0.1, NaN]) {
    assertThrowsMatch(
      () => holdOut(10, f, 0),
      RangeError,
      `Cannot hold out samples: the fraction must be a number in (0, 1), got ${f}`,
    );
  }
  assertThrowsMatch(
    () => holdOut(4, 0.1, 0),
    RangeError,
    "Cannot hold out 0.1 of 4 samples: that leaves 0 held out and 4 for training; each part " +
      "needs at least one sample",
  );
  assertThrowsMatch(() => holdOut(3, 0.9, 0), RangeError, /leaves 3 held out and 0 for training/);
  assertThrowsMatch(
    () => pipeline().data(tensorDataset(xor(4)), { validation: 1.5 }),
    RangeError,
    "Cannot build pipeline: validation must be 0 (none) or a fraction in (0, 1), got 1.5",
  );
});

// ---- the loader over an index subset ---------------------------------------------------------

Deno.test("loader: indices visit only those samples, every epoch, shuffled or in order", () => {
  const n = 20, x = Float32Array.from(range(n)), y = Int32Array.from(range(n));
  const set = { x, y, count: n };
  const { train, heldOut } = holdOut(n, 0.3, 5);
  const seen = (batches: Iterable<{ x: Float32Array | BigInt64Array | Uint8Array }>) =>
    [...batches].flatMap((b) => [...b.x].map(Number));
  const inOrder = createLoader(set, { batchSize: 4, indices: heldOut });
  assert.equal(inOrder.size, 6);
  assert.equal(inOrder.batches, 2);
  assert.deepEqual(seen(inOrder), [...heldOut]);
  assert.deepEqual(seen(inOrder), [...heldOut], "the same samples the next epoch");
  const shuffled = createLoader(set, { batchSize: 5, shuffle: true, seed: 9, indices: train });
  const epochs = range(3).map(() => seen(shuffled));
  for (const e of epochs) assert.deepEqual([...e].sort((a, b) => a - b), [...train]);
  assert.notDeepEqual(epochs[0], epochs[1], "a fresh order each epoch");
  // Resuming at epoch 2, batch 1 continues the same orders.
  const resumed = createLoader(set, {
    batchSize: 5,
    shuffle: true,
    seed: 9,
    indices: train,
    resumeAt: { epoch: 1, batch: 1 },
  });
  assert.deepEqual(seen(resumed), epochs[1].slice(5));
  assert.deepEqual(seen(resumed), epochs[2]);
  assertThrowsMatch(
    () => createLoader(set, { batchSize: 2, indices: Uint32Array.of(3, 20) }),
    RangeError,
    "Cannot create a data loader: indices must be below the set's 20 samples, got 20",
  );
});

// ---- runs with a validation split ------------------------------------------------------------

/** `n` samples of 4 features in 3 classes (class = argmax of the first three features). */
function xor(n: number) {
  const x = Float32Array.from(range(4 * n), (i) => Math.sin(1.7 * i + 0.3 * (i % 4)));
  const y = range(n).map((k) => {
    const v = [0, 1, 2].map((j) => x[4 * k + j]);
    return v.indexOf(Math.max(...v));
  });
  return { train: { x, y }, test: { x, y }, sampleShape: [4], classes: 3 };
}

/** The rows `indices` of a row-major array with `width` values per row. */
function rows<T extends Float32Array>(a: T, width: number, indices: Uint32Array): T {
  const out = new (a.constructor as new (n: number) => T)(indices.length * width);
  indices.forEach((r, i) => out.set(a.subarray(r * width, (r + 1) * width), i * width));
  return out;
}

async function runLogged(
  p: { run(o?: RunOptions): Promise<RunResult> },
  options: RunOptions = {},
): Promise<RunResult & { lines: string[] }> {
  const lines: string[] = [];
  const result = await p.run({ log: (l) => lines.push(l), ...options });
  return { ...result, lines };
}

Deno.test("run: the Validation report comes before the test report and evaluates the held-out samples", async () => {
  const n = 100, seed = 3, fraction = 0.25;
  const base = xor(n);
  const { heldOut } = holdOut(n, fraction, seed);
  // The test split is made of exactly the held-out samples (in the same, ascending, order), so
  // the validation figures must equal the test figures to the bit.
  const ds = tensorDataset({
    ...base,
    test: {
      x: rows(base.train.x, 4, heldOut),
      y: heldOut.reduce<number[]>((a, i) => [...a, base.train.y[i]], []),
    },
  });
  const p = pipeline()
    .data(ds, { batchSize: 8, shuffle: true, validation: fraction })
    .model(sequential(linear(4, 16), relu(), linear(16, 3)))
    .loss(crossEntropy())
    .optimizer(adam({ lr: 0.02 }))
    .epochs(3)
    .seed(seed);
  const a = await runLogged(p, { logEvery: 5 });
  assert.equal(a.epochs.length, 3);
  for (const e of a.epochs) {
    assert.equal(e.validationLoss, e.testLoss);
    assert.equal(e.validationAccuracy, e.accuracy);
  }
  assert.ok(a.epochs[2].validationLoss! < a.epochs[0].validationLoss!, "validation loss falls");
  // 75 training samples per epoch: the held-out ones are not trained on.
  const trainLines = a.lines.filter((l) => l.startsWith("loss:"));
  assert.equal(trainLines.length, 6);
  assert.ok(trainLines.every((l) => l.endsWith("/   75]")), trainLines.join("\n"));
  // Each epoch: ... training lines, Validation block, test block.
  for (const [k, e] of a.epochs.entries()) {
    const at = a.lines.indexOf(`Epoch ${k + 1}`);
    const v = a.lines.indexOf("Validation: ", at);
    const t = a.lines.indexOf("Test Error: ", at);
    assert.ok(at >= 0 && v > at && t === v + 3, `epoch ${k + 1}: validation right before test`);
    assert.deepEqual(
      a.lines.slice(v, v + 3),
      validationLines(e.validationAccuracy!, e.validationLoss!),
    );
    assert.deepEqual(a.lines.slice(t, t + 3), testLines(e.accuracy, e.testLoss));
    assert.match(a.lines[v + 1], /^ Accuracy: \d+\.\d%, Avg loss: +\d\.\d{6} $/);
  }
  // The same seed holds out the same samples and reproduces the run bit for bit.
  const b = await runLogged(p, { logEvery: 5 });
  assert.deepEqual(b.lines, a.lines);
  assert.deepEqual(b.epochs.map((e) => e.validationLoss), a.epochs.map((e) => e.validationLoss));
  // Without a split: no Validation block and no validation figures.
  const c = await runLogged(p.data(tensorDataset(base), { validation: 0, batchSize: 8 }));
  assert.ok(!c.lines.includes("Validation: "));
  assert.equal(c.epochs[0].validationLoss, undefined);
  assert.equal(c.epochs[0].validationAccuracy, undefined);
});

Deno.test("run: FashionMNIST images split as tensor copies of them do", async () => {
  const root = await Deno.makeTempDir();
  try {
    await writeSyntheticFashionMnist(root, { train: 120, test: 30, seed: 4 });
    const { train } = syntheticFashionMnist({ train: 120, test: 30, seed: 4 });
    const pixels = Float32Array.from(train.images, (v) => Math.fround(v / 255));
    const { heldOut } = holdOut(120, 0.25, 8);
    const labels = Array.from(train.labels);
    const copy = tensorDataset({
      train: { x: pixels, y: labels },
      test: { x: rows(pixels, 784, heldOut), y: [...heldOut].map((i) => labels[i]) },
      sampleShape: [1, 28, 28],
      classes: 10,
    });
    const make = (ds: Dataset) =>
      pipeline().data(ds, { batchSize: 16, shuffle: true, validation: 0.25 })
        .model(sequential(flatten(), linear(784, 10))).loss(crossEntropy())
        .optimizer(adam({ lr: 1e-3 })).epochs(2).seed(8);
    const images = await runLogged(make(fashionMnist({ root, download: false })));
    const tensors = await runLogged(make(copy));
    for (const [k, e] of images.epochs.entries()) {
      assert.equal(e.validationLoss, tensors.epochs[k].testLoss);
      assert.equal(e.validationAccuracy, tensors.epochs[k].accuracy);
      assert.equal(e.trainLoss, tensors.epochs[k].trainLoss);
    }
    const validation = images.lines.indexOf("Validation: ");
    assert.deepEqual(images.lines.slice(0, validation), tensors.lines.slice(0, validation));
    assert.match(images.lines[validation - 1], /^loss: +\d\.\d{6} {2}\[ {3}16\/ {3}90\]$/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("run: a regression loss reports only the validation Avg loss", async () => {
  const n = 60;
  const x = Float32Array.from(range(2 * n), (i) => Math.cos(0.9 * i));
  const y = Float32Array.from(range(n), (k) => x[2 * k] - 0.5 * x[2 * k + 1]);
  const { heldOut } = holdOut(n, 0.2, 11);
  const ds = tensorDataset({
    train: { x, y },
    test: { x: rows(x, 2, heldOut), y: rows(y, 1, heldOut) },
    sampleShape: [2],
    targetShape: [1],
  });
  const r = await runLogged(
    pipeline().data(ds, { batchSize: 5, validation: 0.2 }).model(linear(2, 1)).loss(mse())
      .optimizer(adam({ lr: 0.05 })).epochs(2).seed(11),
  );
  const e = r.epochs[1];
  assert.equal(e.validationLoss, e.testLoss);
  assert.ok(Number.isNaN(e.validationAccuracy));
  const v = r.lines.lastIndexOf("Validation: ");
  assert.equal(r.lines[v + 1], ` Avg loss: ${formatFixed(e.validationLoss!, 6).padStart(8)} `);
  assert.deepEqual(r.lines.slice(v + 3, v + 6), testLines(NaN, e.testLoss));
});

Deno.test("reduceLROnPlateau: metric validationLoss steps on the validation loss", async () => {
  const base = xor(80);
  const schedule = reduceLROnPlateau({ metric: "validationLoss", mode: "max", patience: 0 });
  const p = pipeline()
    .data(tensorDataset(base), { batchSize: 8, shuffle: true, validation: 0.2 })
    .model(sequential(linear(4, 16), relu(), linear(16, 3)))
    .loss(crossEntropy())
    .optimizer(adam({ lr: 0.02 }))
    .schedule(schedule)
    .epochs(4)
    .seed(5);
  const r = await runLogged(p);
  // A scheduler fed the validation losses by hand gives the run's rates.
  const hyper = new Map([["lr", 0.02]]);
  const s = createScheduler(schedule, hyper);
  const expected = [];
  for (const e of r.epochs) {
    expected.push(hyper.get("lr"));
    s.step(e.validationLoss);
  }
  assertClose(r.epochs.map((e) => e.lr), expected as number[], 0, "lr");
  assert.ok(r.epochs.at(-1)!.lr < 0.02, "a falling validation loss is a plateau in max mode");
  await assertRejectsMatch(
    () => p.data(tensorDataset(base), { validation: 0 }).run({ log: () => {} }),
    RangeError,
    "Cannot run: reduceLROnPlateau watches validationLoss, but the data has no validation split " +
      "(data(dataset, { validation: 0.1 }))",
  );
  assertThrowsMatch(
    // deno-lint-ignore no-explicit-any
    () => reduceLROnPlateau({ metric: "validLoss" as any }),
    RangeError,
    /metric must be testLoss, trainLoss, accuracy or validationLoss, got validLoss/,
  );
});

Deno.test("checkpoint: a run with a validation split resumes mid-epoch bit for bit", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const p = pipeline()
      .data(tensorDataset(xor(90)), { batchSize: 6, shuffle: true, validation: 0.1 })
      .model(sequential(linear(4, 16), relu(), linear(16, 3)))
      .loss(crossEntropy())
      .optimizer(adam({ lr: 0.01 }))
      .epochs(2)
      .seed(23);
    const whole = await runLogged(p);
    const controller = new AbortController();
    await assertRejectsMatch(
      () =>
        runLogged(p, {
          checkpointDir: dir,
          stepsPerRun: 1,
          signal: controller.signal,
          onBatch: (e) => e.epoch === 2 && e.batch === 4 && controller.abort(),
        }),
      TrainingInterrupted,
      /^Training interrupted at epoch 2, batch 5; saved checkpoint/,
    );
    const resumed = await runLogged(p, { checkpointDir: dir, resume: true });
    assert.deepEqual(resumed.epochs[0], {
      ...whole.epochs[1],
      trainSeconds: resumed.epochs[0].trainSeconds,
      dataSeconds: resumed.epochs[0].dataSeconds,
    });
    assert.deepEqual(resumed.exportModel(), whole.exportModel());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---- pipelines/regression_csv.ts --------------------------------------------------------------

/** A CSV of 300 rows: an id, three features, a text column, and y = 2a − b + 0.5ab + c. */
function regressionCsvText(): string {
  const lines = ["id,a,b,name,c,y"];
  for (let i = 0; i < 300; i++) {
    const a = Math.sin(1.3 * i), b = Math.cos(0.7 * i + 1), c = Math.sin(0.37 * i) * 3 + 10;
    const y = 2 * a - b + 0.5 * a * b + 0.4 * (c - 10);
    lines.push(`${i},${a.toFixed(5)},${b.toFixed(5)},"row ${i}",${c.toFixed(5)},${y.toFixed(5)}`);
  }
  return lines.join("\n") + "\n";
}

async function withCsv(fn: (path: string) => Promise<void>) {
  const path = await Deno.makeTempFile({ suffix: ".csv" });
  try {
    await Deno.writeTextFile(path, regressionCsvText());
    await fn(path);
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("regression_csv: 20 % held out, features standardised on training rows, held-out loss falls", async () => {
  await withCsv(async (csv) => {
    const p = await regressionCsv({ csv, target: "y" });
    const data = p.props.data!;
    assert.ok(data.kind === "tensor" && data.targets === "float");
    assert.deepEqual([data.train.count, data.test.count, data.sampleShape], [240, 60, [4]]);
    // The training features have mean 0 and (population) standard deviation 1 per column; the
    // held-out rows use the training statistics, so theirs are not exactly 0 and 1.
    const x = data.train.x as Float32Array;
    for (let j = 0; j < 4; j++) {
      const col = range(240).map((i) => x[4 * i + j]);
      const mean = col.reduce((s, v) => s + v, 0) / 240;
      const sd = Math.sqrt(col.reduce((s, v) => s + (v - mean) ** 2, 0) / 240);
      assertClose([mean, sd], [0, 1], 1e-5, `feature ${j}`);
    }
    // The held-out targets are the rows holdOut(300, 0.2, 0) picks.
    const { heldOut } = holdOut(300, 0.2, 0);
    const ys = regressionCsvText().trim().split("\n").slice(1).map((l) =>
      Number(l.split(",").at(-1))
    );
    assertClose(
      data.test.y as Float32Array,
      [...heldOut].map((i) => Math.fround(ys[i])),
      0,
      "test y",
    );

    const r = await runLogged(p, { epochs: 8, seed: 1 });
    const losses = r.epochs.map((e) => e.testLoss);
    assert.ok(losses.at(-1)! < 0.5 * losses[0], `held-out loss falls: ${losses.join(", ")}`);
    const reports = r.lines.filter((l) => l.startsWith(" Avg loss: "));
    assert.deepEqual(reports, losses.map((l) => testLines(NaN, l)[1]));
  });
});

Deno.test("regression_csv: a missing flag or an unknown target column is a one-line error", async () => {
  await withCsv(async (csv) => {
    await assertRejectsMatch(
      async () => await regressionCsvFromFlags({ target: "y" }),
      RangeError,
      "Missing --csv: give the CSV file with --csv PATH",
    );
    await assertRejectsMatch(
      async () => await regressionCsvFromFlags({ csv }),
      RangeError,
      `Missing --target: give the column of ${csv} to predict with --target COLUMN`,
    );
    await assertRejectsMatch(
      () => regressionCsvFromFlags({ csv, target: "price" }),
      CsvFormatError,
      `Cannot read CSV ${csv}: target column "price" is not in the header (columns: "id", "a", ` +
        `"b", "name", "c", "y")`,
    );
  });
});

const canRunDeno =
  Deno.permissions.querySync({ name: "run", command: Deno.execPath() }).state === "granted";

Deno.test({
  name: "regression_csv: the script takes --csv/--target with the CLI's flags; errors are one line",
  ignore: !canRunDeno,
  async fn() {
    await withCsv(async (csv) => {
      const script = new URL("../pipelines/regression_csv.ts", import.meta.url).pathname;
      const cli = async (...args: string[]) => {
        const out = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--no-check",
            "--allow-read",
            "--allow-ffi",
            "--allow-env",
            "--allow-sys",
            script,
            ...args,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const text = (b: Uint8Array) => new TextDecoder().decode(b);
        return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
      };
      const ok = await cli("--csv", csv, "--target", "y", "--epochs", "2", "--seed", "4");
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout.match(/^ Avg loss: +\d+\.\d{6} $/gm)?.length, 2);
      assert.match(ok.stdout, /Done!\n$/);
      const missing = await cli("--target", "y", "--epochs", "1");
      assert.equal(missing.code, 1);
      assert.equal(missing.stderr, "error: Missing --csv: give the CSV file with --csv PATH\n");
      const unknown = await cli("--csv", csv, "--target", "price");
      assert.equal(unknown.code, 1);
      assert.match(
        unknown.stderr,
        /^error: Cannot read CSV .*: target column "price" is not in the header \(columns: [^\n]*\)\n$/,
      );
      const help = await cli("--help");
      assert.match(
        help.stdout,
        /\n {2}--csv PATH +the CSV file[^\n]*\n {2}--target COLUMN +the column to predict/,
      );
    });
  },
});
