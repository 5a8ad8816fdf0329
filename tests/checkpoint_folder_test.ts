// A checkpoint folder belongs to one run: a fresh run into another run's folder is refused (or
// clears it with overwrite), a second run at the same time is refused by the lock, pruning deletes
// only the run's own files; resuming says what it cannot honour (a finished run, --lr, another
// dataset size, a truncated file); the metrics cover every step up to the checkpoint a resume
// starts from, even after kill -9.
import { fileURLToPath } from "node:url";
import {
  compileModel,
  createTrainer,
  crossEntropy,
  linear,
  pipeline,
  type RunOptions,
  sgd,
  tensorDataset,
  TrainingInterrupted,
} from "../mod.ts";
import { parseCliArgs } from "../src/cli/cli.ts";
import {
  CheckpointError,
  listCheckpoints,
  pipelineFingerprint,
  readCheckpoint,
  saveCheckpoint,
} from "../src/train/checkpoint.ts";
import { claimCheckpointFolder } from "../src/train/checkpoint_folder.ts";
import { readMetrics } from "../src/train/report.ts";
import { createRng } from "../src/util/random.ts";
import { assert, assertRejectsMatch, assertThrowsMatch } from "./_assert.ts";
import { withTempDir } from "./_files.ts";

/** `count` samples of 4 features in 2 classes. */
function data(count: number) {
  const rng = createRng(5);
  const x = Float32Array.from({ length: 4 * count }, () => 2 * rng.nextFloat() - 1);
  const y = Array.from({ length: count }, (_, k) => x[4 * k] + x[4 * k + 1] > 0 ? 1 : 0);
  return tensorDataset({ train: { x, y }, test: { x, y }, sampleShape: [4], classes: 2 });
}
const DATA = data(40);

/** 40 samples in batches of 8: 5 steps per epoch. */
const pipe = (seed = 1, dataset = DATA) =>
  pipeline().data(dataset, { batchSize: 8, shuffle: true }).model(linear(4, 2))
    .loss(crossEntropy()).optimizer(sgd({ lr: 0.1 })).seed(seed).epochs(2);

async function run(dir: string, options: RunOptions & { seed?: number } = {}, dataset = DATA) {
  const lines: string[] = [];
  const result = await pipe(options.seed, dataset).run({
    threads: 1,
    checkpointDir: dir,
    log: (l) => lines.push(l),
    ...options,
  });
  return { lines, result };
}

const names = async (dir: string) =>
  (await listCheckpoints(dir)).map((p) => p.slice(p.lastIndexOf("/") + 1));
const files = (dir: string) =>
  new Map([...Deno.readDirSync(dir)].map((e) => [e.name, Deno.readFileSync(`${dir}/${e.name}`)]));

Deno.test("checkpoint folder: a fresh run into another run's folder is refused; overwrite clears it", async () => {
  await withTempDir(async (root) => {
    const dir = `${root}/ck`;
    await run(dir, { seed: 1 });
    assert.deepEqual(await names(dir), [
      "checkpoint-0000000005.safetensors",
      "checkpoint-0000000010.safetensors",
    ]);
    const before = files(dir);
    await assertRejectsMatch(
      () => run(dir, { seed: 2 }),
      RangeError,
      `Cannot use the checkpoint folder ${dir}: it holds the checkpoints of an earlier run ` +
        "(checkpoint-0000000005.safetensors, checkpoint-0000000010.safetensors; the newest, " +
        "after epoch 2, step 10); continue that run with --resume, choose another folder, or " +
        "pass --overwrite to delete them and start afresh",
    );
    // Nothing was written, deleted or changed (the lock file is empty between runs).
    assert.deepEqual(files(dir), before);

    const { lines } = await run(dir, { seed: 2, overwrite: true, epochs: 1 });
    assert.equal(
      lines[0],
      `Deleted the 2 checkpoints of an earlier run in ${dir} (--overwrite): ` +
        "checkpoint-0000000005.safetensors, checkpoint-0000000010.safetensors",
    );
    const left = await listCheckpoints(dir);
    assert.deepEqual(await names(dir), ["checkpoint-0000000005.safetensors"]);
    assert.equal((await readCheckpoint(left[0])).info.seed, 2);

    // Flags: --overwrite needs --checkpoint and excludes --resume.
    assert.equal(
      (parseCliArgs(["--checkpoint", dir, "--overwrite"]) as RunOptions).overwrite,
      true,
    );
    assertThrowsMatch(
      () => parseCliArgs(["--overwrite"]),
      RangeError,
      "Invalid --overwrite: give the checkpoint folder with --checkpoint DIR",
    );
    assertThrowsMatch(
      () => parseCliArgs(["--checkpoint", dir, "--resume", "--overwrite"]),
      RangeError,
      /^Invalid --resume with --overwrite/,
    );
  });
});

Deno.test("checkpoint folder: pruning (keep) deletes only the run's own checkpoints", async () => {
  await withTempDir(async (dir) => {
    const compiled = compileModel({
      data: { sampleShape: [4], classes: 2 },
      model: linear(4, 2),
      loss: crossEntropy(),
      optimizer: sgd({ lr: 0.1 }),
    });
    const trainer = await createTrainer(compiled, { seed: 1 });
    const batch = { x: new Float32Array(8), y: BigInt64Array.of(0n, 1n), size: 2 };
    const info = { epoch: 0, batch: 1, epochLossSum: 0, epochLr: 0.1, seed: 1, batchSize: 2 };
    const fingerprint = pipelineFingerprint(compiled);
    try {
      for (const runId of ["aaaa", "aaaa", "bbbb", "bbbb", "bbbb"]) {
        await trainer.step(batch);
        await saveCheckpoint(dir, trainer, info, { fingerprint, keep: 1, runId });
      }
    } finally {
      await trainer.release();
    }
    // Run aaaa keeps its step 2; run bbbb its step 5 only.
    const kept = await Promise.all((await listCheckpoints(dir)).map(readCheckpoint));
    assert.deepEqual(kept.map((c) => [c.steps, c.runId]), [[2, "aaaa"], [5, "bbbb"]]);
  });
});

Deno.test("checkpoint folder: a second run at the same time is refused; the lock ends with its process, kill -9 too", async () => {
  await withTempDir(async (root) => {
    const dir = `${root}/ck`;
    const held = await claimCheckpointFolder(dir);
    await assertRejectsMatch(
      () => run(dir),
      RangeError,
      new RegExp(
        `^Cannot use the checkpoint folder ${dir}: another run is using it \\(process ${Deno.pid} ` +
          `on .+, started \\d{4}-\\d\\d-\\d\\dT.+\\); wait for that run to end, or choose another ` +
          `folder \\(--checkpoint DIR\\)$`,
      ),
    );
    held.release();
    await run(dir, { epochs: 1 });

    // A process that holds the folder and is killed -9 leaves no lock behind.
    const module = new URL("../src/train/checkpoint_folder.ts", import.meta.url).href;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `const { claimCheckpointFolder } = await import(${JSON.stringify(module)});` +
        `await claimCheckpointFolder(${JSON.stringify(dir)}, { resume: true });` +
        `console.log("locked"); await new Promise((r) => setTimeout(r, 60000));`,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    assert.equal(new TextDecoder().decode(value).trim(), "locked");
    await assertRejectsMatch(
      () => run(dir, { resume: true }),
      RangeError,
      /another run is using it/,
    );
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel();
    const { lines } = await run(dir, { resume: true });
    assert.match(lines[0], /^Resumed from .*checkpoint-0000000005\.safetensors/);
  });
});

Deno.test("resume: a finished run, an overridden --lr, another dataset size and a truncated file are named", async () => {
  await withTempDir(async (root) => {
    const dir = `${root}/ck`;
    await run(dir, { epochs: 1, checkpointEvery: 2, keep: 3 });
    assert.deepEqual(await names(dir), [
      "checkpoint-0000000002.safetensors",
      "checkpoint-0000000004.safetensors",
      "checkpoint-0000000005.safetensors",
    ]);
    const done = await run(dir, { epochs: 1, resume: true, lr: 0.5 });
    assert.deepEqual(done.result.epochs, []);
    assert.equal(
      done.lines[1],
      "note: --lr 0.5 is not used: a resumed run continues with its checkpoint's learning rate " +
        "0.1; start afresh to train with another",
    );
    assert.equal(
      done.lines[2],
      `Nothing left to train: ${dir}/checkpoint-0000000005.safetensors was saved after epoch 1 ` +
        "of 1; pass --epochs N with N > 1 to train further",
    );
    await assertRejectsMatch(
      () => run(dir, { resume: true }, data(48)),
      RangeError,
      `Cannot resume from ${dir}/checkpoint-0000000005.safetensors with 48 training samples: it ` +
        "was saved with 40 (the data order and each epoch's batches depend on the count); resume " +
        "with the same data, or start afresh (--overwrite or another folder)",
    );
    // A cut-short copy of the newest file names the newest intact one.
    const newest = `${dir}/checkpoint-0000000005.safetensors`;
    const bytes = Deno.readFileSync(newest);
    Deno.writeFileSync(newest, bytes.subarray(0, bytes.length - 10));
    await assertRejectsMatch(
      () => run(dir, { resume: true }),
      CheckpointError,
      `Cannot read checkpoint ${newest}: the file is truncated (${
        bytes.length - 10
      } bytes; a copy or write was cut short); the newest intact checkpoint is ` +
        `${dir}/checkpoint-0000000004.safetensors: delete ${newest} to resume from it`,
    );
    await Deno.remove(newest);
    const resumed = await run(dir, { resume: true });
    assert.match(
      resumed.lines[0],
      /checkpoint-0000000004\.safetensors \(epoch 1, batch 4, step 4\)$/,
    );
    assert.equal(resumed.result.epochs.length, 2);
  });
});

Deno.test({
  name: "metrics cover every step up to the checkpoint a resume starts from, after kill -9",
  ignore: Deno.build.os === "windows",
  async fn() {
    await withTempDir(async (root) => {
      const dir = `${root}/ck`, metrics = `${root}/m.jsonl`, reference = `${root}/ref.jsonl`;
      const epochs = 30, options = { checkpointEvery: 3, logEvery: 1, epochs };
      // The child trains slowly (4 ms a step) so that it is killed mid-run.
      const script = `${root}/child.ts`;
      const mod = new URL("../mod.ts", import.meta.url).href;
      Deno.writeTextFileSync(
        script,
        `import { crossEntropy, linear, pipeline, sgd, tensorDataset } from ${JSON.stringify(mod)};
const data = JSON.parse(Deno.args[0]);
const ds = tensorDataset({ train: { x: Float32Array.from(data.x), y: data.y },
  test: { x: Float32Array.from(data.x), y: data.y }, sampleShape: [4], classes: 2 });
const pause = new Int32Array(new SharedArrayBuffer(4));
await pipeline().data(ds, { batchSize: 8, shuffle: true }).model(linear(4, 2))
  .loss(crossEntropy()).optimizer(sgd({ lr: 0.1 })).seed(1).epochs(2)
  .run({ threads: 1, quiet: true, checkpointDir: ${JSON.stringify(dir)},
    metricsPath: ${JSON.stringify(metrics)}, ...${JSON.stringify(options)},
    onBatch: () => void Atomics.wait(pause, 0, 0, 4) });
`,
      );
      const x = [...DATA.train.x], y = [...(DATA.train.y as BigInt64Array)].map(Number);
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          "--allow-write",
          "--allow-ffi",
          "--config",
          fileURLToPath(new URL("../deno.json", import.meta.url)),
          script,
          JSON.stringify({ x, y }),
        ],
        cwd: fileURLToPath(new URL("..", import.meta.url)),
        stdout: "null",
        stderr: "piped",
      }).spawn();
      // Kill it once a mid-run checkpoint exists.
      for (let i = 0; i < 1000; i++) {
        const steps = (await names(dir).catch(() => [])).map((n) => Number(n.slice(11, 21)));
        if (steps.some((s) => s >= 12)) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      let killed = true;
      try {
        child.kill("SIGKILL");
      } catch {
        killed = false; // it ended first: its error output says why
      }
      const status = await child.status;
      const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
      assert.ok(
        killed && status.signal === "SIGKILL",
        `the child was not killed mid-run: ${stderr}`,
      );
      const from = (await readCheckpoint((await listCheckpoints(dir)).at(-1)!)).steps;
      assert.ok(from >= 12 && from < epochs * 5, `resumes from step ${from}`);
      await run(dir, { resume: true, metricsPath: metrics, quiet: true, ...options });
      await run(`${root}/ref`, { metricsPath: reference, quiet: true, ...options });
      // Step for step and epoch for epoch the resumed run's metrics are the uninterrupted run's.
      const strip = (records: Awaited<ReturnType<typeof readMetrics>>) =>
        records.map((r) =>
          r.type === "step" ? r : { ...r, seconds: 0, data_seconds: 0, samples_per_s: 0 }
        );
      const got = strip(await readMetrics(metrics)), want = strip(await readMetrics(reference));
      assert.equal(want.length, epochs * 6);
      assert.deepEqual(got, want);
    });
  },
});

Deno.test("an abort from the event loop (a signal's listener) is honoured within one run of steps", async () => {
  await withTempDir(async (dir) => {
    const controller = new AbortController();
    const pause = new Int32Array(new SharedArrayBuffer(4));
    await assertRejectsMatch(
      () =>
        run(`${dir}/ck`, {
          stepsPerRun: 4,
          signal: controller.signal,
          onBatch: (e) => {
            // Steps that take time, as a large model's do; the "signal" comes as a timer.
            Atomics.wait(pause, 0, 0, 20);
            if (e.epoch === 1 && e.batch === 1) setTimeout(() => controller.abort(), 0);
          },
        }),
      TrainingInterrupted,
      /^Training interrupted at epoch 1, batch 4; saved checkpoint .*checkpoint-0000000004\.safetensors$/,
    );
  });
});
