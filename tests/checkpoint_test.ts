// Checkpoints and exact resume: a run of 2 epochs equals 1 epoch + resume + 1 epoch bit for bit
// (shuffling, dropout, batch norm, Adam and a per-batch stepLR on), also when interrupted
// mid-epoch; another model's checkpoint is refused; the last K are kept; a torn write is ignored.
import {
  adam,
  batchNorm1d,
  crossEntropy,
  dropout,
  linear,
  pipeline,
  reduceLROnPlateau,
  relu,
  sequential,
  stepLR,
} from "../mod.ts";
import { parseCliArgs } from "../src/cli/cli.ts";
import { tensorDataset } from "../src/dsl/datasets.ts";
import { createLoader } from "../src/data/loader.ts";
import { decodeSafetensors } from "../src/io/safetensors.ts";
import { CheckpointError, listCheckpoints, readCheckpoint } from "../src/train/checkpoint.ts";
import { type EpochResult, type RunOptions, TrainingInterrupted } from "../src/train/run.ts";
import { createScheduler } from "../src/train/schedule.ts";
import { createTrainer } from "../src/train/trainer.ts";
import { createRng } from "../src/util/random.ts";
import { assert, assertRejectsMatch } from "./_assert.ts";

/** 40 training samples of 4 features in 3 classes; batches of 6, so 7 per epoch (last has 4). */
function data() {
  const rng = createRng(3);
  const make = (count: number) => {
    const x = Float32Array.from({ length: 4 * count }, () => 2 * rng.nextFloat() - 1);
    const y = Array.from({ length: count }, (_, k) =>
      (x[4 * k] + x[4 * k + 1] > 0 ? 1 : 0) +
      (x[4 * k + 2] > 0.5 ? 1 : 0));
    return { x, y };
  };
  return tensorDataset({ train: make(40), test: make(10), sampleShape: [4], classes: 3 });
}

const ds = data();
const model = (hidden = 8) =>
  sequential(linear(4, hidden), batchNorm1d(hidden), relu(), dropout(0.3), linear(hidden, 3));
const pipe = (hidden = 8) =>
  pipeline()
    .data(ds, { batchSize: 6, shuffle: true })
    .model(model(hidden))
    .loss(crossEntropy())
    .optimizer(adam({ lr: 0.05 }))
    .schedule(stepLR({ stepSize: 3, gamma: 0.7, interval: "batch" }))
    .seed(17)
    .epochs(2);

/** Runs quietly, returning the per-epoch results and the final checkpoint's bytes. */
async function run(dir: string, options: RunOptions = {}, hidden = 8) {
  const epochs: EpochResult[] = [];
  const lines: string[] = [];
  const result = await pipe(hidden).run({
    threads: 1,
    log: (l) => lines.push(l),
    onEpoch: (e) => epochs.push(e),
    checkpointDir: dir,
    ...options,
  });
  const last = (await listCheckpoints(dir)).at(-1)!;
  return { epochs, lines, model: result.exportModel(), last: await Deno.readFile(last) };
}

/** The tensors of a checkpoint file as name → bytes, and its metadata. */
function contents(bytes: Uint8Array) {
  const { tensors, metadata } = decodeSafetensors(bytes);
  const raw = new Map(
    [...tensors].map((
      [n, t],
    ) => [n, [t.dtype, t.shape.join(), [...new Uint8Array(t.data.buffer)].join()]]),
  );
  return { raw, metadata };
}

async function withDirs(fn: (dirs: string[]) => Promise<void>) {
  const root = await Deno.makeTempDir();
  try {
    await fn([0, 1, 2, 3].map((i) => `${root}/run${i}`));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const sameFigures = (a: EpochResult, b: EpochResult) => {
  assert.deepEqual(
    [a.epoch, a.trainLoss, a.testLoss, a.accuracy, a.lr],
    [b.epoch, b.trainLoss, b.testLoss, b.accuracy, b.lr],
  );
};

Deno.test("checkpoint: 2 epochs equal 1 epoch + resume + 1 epoch, bit for bit", async () => {
  await withDirs(async ([full, split]) => {
    const a = await run(full);
    const first = await run(split, { epochs: 1 });
    // A torn write of a later checkpoint (a crash before the rename) is ignored.
    await Deno.writeFile(`${split}/checkpoint-0000000099.safetensors.tmp`, Uint8Array.of(1, 2));
    const b = await run(split, { resume: true });
    assert.equal(first.epochs.length, 1);
    assert.equal(b.epochs.length, 1, "the resumed run trains epoch 2 only");
    sameFigures(b.epochs[0], a.epochs[1]);
    // The next run in the folder removes the torn write, and says so.
    assert.equal(
      b.lines[0],
      `Removed 1 unfinished checkpoint write left in ${split} by an interrupted run ` +
        "(checkpoint-0000000099.safetensors.tmp)",
    );
    assert.deepEqual(
      [...Deno.readDirSync(split)].map((e) => e.name).filter((n) => n.endsWith(".tmp")),
      [],
    );
    assert.match(
      b.lines[1],
      /^Resumed from .*checkpoint-0000000007\.safetensors \(epoch 2, batch 0, step 7\)$/,
    );
    assert.deepEqual(b.model, a.model, "the exported models are identical");
    const ca = contents(a.last), cb = contents(b.last);
    assert.deepEqual(cb.raw, ca.raw, "parameters, buffers and optimizer state are identical");
    const { run_id: idA, ...metadataA } = ca.metadata, { run_id: idB, ...metadataB } = cb.metadata;
    assert.deepEqual(metadataB, metadataA);
    // Each fresh run has an id of its own; a resumed run keeps the id of the run it continues.
    assert.match(idA, /^[0-9a-f]{16}$/);
    assert.equal(idB, contents(first.last).metadata.run_id);
    assert.notEqual(idB, idA);
    // What the file holds: state_dict names, int64 num_batches_tracked, prefixed Adam state.
    assert.deepEqual([...ca.raw.keys()].sort(), [
      "0.bias",
      "0.weight",
      "1.bias",
      "1.num_batches_tracked",
      "1.running_mean",
      "1.running_var",
      "1.weight",
      "4.bias",
      "4.weight",
      "optimizer.0.bias.exp_avg",
      "optimizer.0.bias.exp_avg_sq",
      "optimizer.0.bias.step",
      "optimizer.0.weight.exp_avg",
      "optimizer.0.weight.exp_avg_sq",
      "optimizer.0.weight.step",
      "optimizer.1.bias.exp_avg",
      "optimizer.1.bias.exp_avg_sq",
      "optimizer.1.bias.step",
      "optimizer.1.weight.exp_avg",
      "optimizer.1.weight.exp_avg_sq",
      "optimizer.1.weight.step",
      "optimizer.4.bias.exp_avg",
      "optimizer.4.bias.exp_avg_sq",
      "optimizer.4.bias.step",
      "optimizer.4.weight.exp_avg",
      "optimizer.4.weight.exp_avg_sq",
      "optimizer.4.weight.step",
    ]);
    const ckpt = await readCheckpoint(`${full}/checkpoint-0000000014.safetensors`);
    assert.deepEqual([...ckpt.buffers.get("1.num_batches_tracked")!.data], [14n]);
    assert.deepEqual(
      [ckpt.steps, ckpt.info.epoch, ckpt.info.batch, ckpt.info.seed, ckpt.info.batchSize],
      [14, 2, 0, 17, 6],
    );
    // 14 batch steps of stepLR(3, 0.7) from 0.05, as the lr the next step would use.
    assert.equal(ckpt.hyper.get("lr"), 0.05 * 0.7 * 0.7 * 0.7 * 0.7);
    assert.deepEqual(ckpt.info.schedule, { steps: 14 });
  });
});

Deno.test("checkpoint: an interrupted run resumes mid-epoch exactly; the last K are kept", async () => {
  await withDirs(async ([full, split, every]) => {
    const a = await run(full);
    // Abort during epoch 2, batch index 2 (step 10): the run saves where it stopped.
    const controller = new AbortController();
    const error = await assertRejectsMatch(
      () =>
        run(split, {
          // One step per run, so the abort takes effect after this very step (with K steps per
          // run it would after the run's last); the resumed run goes on with the default K.
          stepsPerRun: 1,
          signal: controller.signal,
          onBatch: (e) => e.epoch === 2 && e.batch === 2 && controller.abort(),
        }),
      TrainingInterrupted,
      /^Training interrupted at epoch 2, batch 3; saved checkpoint .*checkpoint-0000000010\.safetensors$/,
    ) as TrainingInterrupted;
    const saved = await readCheckpoint(error.checkpoint!);
    assert.deepEqual([saved.steps, saved.info.epoch, saved.info.batch], [10, 1, 3]);
    const b = await run(split, { resume: true });
    assert.match(b.lines[0], /\(epoch 2, batch 3, step 10\)$/);
    sameFigures(b.epochs[0], a.epochs[1]);
    assert.deepEqual(contents(b.last).raw, contents(a.last).raw);
    assert.deepEqual(b.model, a.model);

    // Every 4 steps plus each epoch's end: steps 4, 7, 8, 12, 14; keep 3.
    const c = await run(every, { checkpointEvery: 4, keep: 3 });
    const names = (await listCheckpoints(every)).map((p) => p.slice(p.lastIndexOf("/") + 1));
    assert.deepEqual(names, [
      "checkpoint-0000000008.safetensors",
      "checkpoint-0000000012.safetensors",
      "checkpoint-0000000014.safetensors",
    ]);
    assert.deepEqual(contents(c.last).raw, contents(a.last).raw, "saving changes nothing");
    const mid = await readCheckpoint(`${every}/checkpoint-0000000012.safetensors`);
    assert.deepEqual([mid.info.epoch, mid.info.batch, mid.info.epochLr], [1, 5, a.epochs[1].lr]);
    // Resuming from the newest mid-epoch file (after removing the later ones) also matches.
    await Deno.remove(`${every}/checkpoint-0000000014.safetensors`);
    const d = await run(every, { resume: true });
    sameFigures(d.epochs[0], a.epochs[1]);
    assert.deepEqual(contents(d.last).raw, contents(a.last).raw);
  });
});

Deno.test("checkpoint: another model's checkpoint and bad resumes are refused", async () => {
  await withDirs(async ([dir, empty]) => {
    await run(dir, { epochs: 1 });
    await assertRejectsMatch(
      () => run(dir, { resume: true }, 16),
      CheckpointError,
      /^Cannot resume from .*checkpoint-0000000007\.safetensors: it was saved by another pipeline \(model, loss or optimizer differ; its parameters: 0\.bias \[8\], 0\.weight \[8,4\], 1\.bias \[8\], 1\.weight \[8\], 4\.bias \[3\], 4\.weight \[3,8\]\)$/,
    );
    await assertRejectsMatch(
      () => run(dir, { resume: true, seed: 5 }),
      RangeError,
      /with seed 5: it was saved with seed 17$/,
    );
    await assertRejectsMatch(
      () => run(dir, { resume: true, batchSize: 5 }),
      RangeError,
      /with batch size 5: it was saved with 6$/,
    );
    await assertRejectsMatch(
      () =>
        pipe().data(ds, { batchSize: 6, shuffle: true, validation: 0.25 }).run({
          resume: true,
          checkpointDir: dir,
          log: () => {},
        }),
      RangeError,
      /with validation 0\.25: it was saved with 0, which holds out other samples$/,
    );
    await assertRejectsMatch(
      () => pipe().run({ resume: true, checkpointDir: empty }),
      RangeError,
      `Cannot resume: no checkpoint in ${empty}`,
    );
    // A file that is not a checkpoint.
    await Deno.mkdir(empty);
    await Deno.writeFile(
      `${empty}/checkpoint-0000000001.safetensors`,
      Uint8Array.of(8, 0, 0, 0, 0, 0, 0, 0, ...new TextEncoder().encode("{}      ")),
    );
    await assertRejectsMatch(
      () => pipe().run({ resume: true, checkpointDir: empty }),
      CheckpointError,
      /^Cannot read checkpoint .*checkpoint-0000000001\.safetensors: its format is undefined, expected onnxtrain\.checkpoint\.v1$/,
    );
  });
});

Deno.test("loader: resumeAt continues the data order of an uninterrupted loader", () => {
  const set = {
    x: Float32Array.from({ length: 23 }, (_, i) => i),
    y: new Float32Array(23),
    count: 23,
  };
  const order = (batches: Iterable<{ x: Float32Array | BigInt64Array | Uint8Array }>) =>
    [...batches].map((b) => [...b.x].join());
  const loader = createLoader(set, { batchSize: 5, shuffle: true, seed: 4 });
  const epochs = [order(loader), order(loader), order(loader)];
  const resumed = createLoader(set, {
    batchSize: 5,
    shuffle: true,
    seed: 4,
    resumeAt: { epoch: 1, batch: 2 },
  });
  assert.deepEqual(order(resumed), epochs[1].slice(2));
  assert.deepEqual(order(resumed), epochs[2]);
  const plain = createLoader(set, { batchSize: 5, resumeAt: { epoch: 3, batch: 4 } });
  assert.deepEqual(order(plain), ["20,21,22"]);
});

Deno.test("scheduler: exported state replays exactly, metrics included", () => {
  const hyper = new Map([["lr", 0.1]]);
  const plateau = reduceLROnPlateau({ patience: 0, factor: 0.5 });
  const s = createScheduler(plateau, hyper);
  for (const m of [1, 2, 0.5, 3]) s.step(m);
  const state = s.exportState();
  assert.deepEqual(state, { steps: 4, metrics: [1, 2, 0.5, 3] });
  const again = new Map([["lr", 0.1]]);
  const t = createScheduler(plateau, again);
  t.importState(state);
  assert.equal(again.get("lr"), hyper.get("lr"));
  assert.equal(hyper.get("lr"), 0.025);
  // Both continue alike (the plateau's best and cooldown counters came back too).
  s.step(0.4);
  t.step(0.4);
  assert.equal(again.get("lr"), hyper.get("lr"));
  assert.throws(() => t.importState(state), /needs a fresh scheduler/);
});

Deno.test("CLI: checkpoint flags parse, and need --checkpoint", () => {
  assert.deepEqual(
    parseCliArgs(["--checkpoint", "ck", "--checkpoint-every", "50", "--keep", "3", "--resume"]),
    {
      checkpointDir: "ck",
      checkpointEvery: 50,
      keep: 3,
      resume: true,
      dataDir: undefined,
      epochs: undefined,
      batchSize: undefined,
      lr: undefined,
      seed: undefined,
      device: undefined,
      threads: undefined,
      exportPath: undefined,
      emitDir: undefined,
    },
  );
  const { resume, checkpointEvery } = parseCliArgs(["--checkpoint", "ck"]) as RunOptions;
  assert.deepEqual([resume, checkpointEvery], [false, undefined]);
  assert.throws(
    () => parseCliArgs(["--resume"]),
    /^RangeError: Invalid --resume: give the checkpoint folder with --checkpoint DIR$/,
  );
  assert.throws(
    () => parseCliArgs(["--keep", "2"]),
    /^RangeError: Invalid --keep: it needs --checkpoint DIR$/,
  );
  assert.throws(
    () => parseCliArgs(["--checkpoint", "ck", "--checkpoint-every", "0"]),
    /Invalid --checkpoint-every: expected a positive integer, got '0'/,
  );
});

Deno.test("trainer.load: checks names, dtypes and shapes before changing anything", async () => {
  const trainer = await createTrainer(pipe().compile(), { seed: 1, threads: 1 });
  try {
    const w = trainer.params.get("0.weight")!;
    const ones = { dtype: "float32" as const, dims: [8, 4], data: new Float32Array(32).fill(1) };
    assert.throws(
      () =>
        trainer.load({
          params: new Map([["0.weight", ones]]),
          buffers: new Map([["1.running_mean", { ...ones, dims: [4] }]]),
        }),
      /^RangeError: Cannot load buffer 1\.running_mean: expected float32 \[8\], got float32 \[4\]$/,
    );
    assert.equal(trainer.params.get("0.weight"), w, "nothing changed");
    assert.throws(
      () => trainer.load({ state: new Map([["nope", ones]]) }),
      /^RangeError: Cannot load optimizer state nope: the model has no such optimizer state/,
    );
    trainer.load({ params: new Map([["0.weight", ones]]), steps: 5 });
    assert.deepEqual([trainer.params.get("0.weight")!.data[3], trainer.steps], [1, 5]);
  } finally {
    await trainer.release();
  }
});

// The CLI's Ctrl-C and SIGTERM (what docker stop, systemd, Kubernetes and SLURM send): a child
// process trains, gets the signal, saves and exits with 130 or 143; a second run resumes. It needs permission to run the deno executable, which `deno test -P` does not grant
// unless deno.json's test permissions list it ("run"); it is ignored otherwise.
const canRunDeno =
  Deno.permissions.querySync({ name: "run", command: Deno.execPath() }).state === "granted";

/** A CLI training script in `dir` (an MLP on 8000 generated samples, 2 epochs) and its runner. */
async function cliScript(dir: string) {
  const script = `${dir}/train.ts`;
  await Deno.writeTextFile(
    script,
    `import { adam, crossEntropy, linear, pipeline, relu, runCli, sequential, tensorDataset } from ${
      JSON.stringify(import.meta.resolve("../mod.ts"))
    };
const n = 8000;
const x = Float32Array.from({ length: 16 * n }, (_, i) => Math.sin(i));
const y = Array.from({ length: n }, (_, i) => i % 3);
const ds = tensorDataset({ train: { x, y }, test: { x: x.slice(0, 160), y: y.slice(0, 10) }, sampleShape: [16] });
await runCli(pipeline().data(ds, { batchSize: 4, shuffle: true }).model(sequential(linear(16, 64), relu(), linear(64, 3)))
  .loss(crossEntropy()).optimizer(adam()).epochs(2).seed(1));
`,
  );
  return (...flags: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-check",
        `--config=${new URL("../deno.json", import.meta.url).pathname}`,
        "--allow-read",
        `--allow-write=${dir}`,
        "--allow-ffi",
        "--allow-env",
        "--allow-sys",
        script,
        ...flags,
      ],
      stdout: "piped",
      stderr: "piped",
    });
}

/** Runs `command`, sends `signal` once training has logged its first loss line; status, stderr. */
async function signalAfterFirstLoss(command: Deno.Command, signal: Deno.Signal) {
  const child = command.spawn();
  const reader = child.stdout.getReader();
  let seen = "";
  while (!seen.includes("loss:")) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += new TextDecoder().decode(value);
  }
  child.kill(signal);
  reader.releaseLock();
  await child.stdout.cancel();
  const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
  return { code: (await child.status).code, stderr };
}

for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  Deno.test({
    name:
      `CLI: ${signal} saves a checkpoint and exits with status ${code}; --resume finishes the run`,
    ignore: !canRunDeno || Deno.build.os === "windows",
    async fn() {
      const dir = await Deno.makeTempDir();
      try {
        const ckpt = `${dir}/ckpt`;
        const command = await cliScript(dir);
        const stopped = await signalAfterFirstLoss(command("--checkpoint", ckpt), signal);
        assert.equal(stopped.code, code, stopped.stderr);
        const saved = (await listCheckpoints(ckpt)).at(-1)!;
        assert.match(
          stopped.stderr,
          // Mid-epoch, or (when the signal arrives as epoch 1 ends) after it.
          new RegExp(
            `Training interrupted (at epoch \\d, batch \\d+|after epoch 1); saved checkpoint ${saved}\n$`,
          ),
        );
        const info = await readCheckpoint(saved);
        assert.ok(info.steps > 0 && info.info.epoch < 2, `saved at step ${info.steps}`);
        if (signal === "SIGINT") {
          // A fresh run into the folder is refused in one line, and changes nothing there.
          const fresh = await command("--checkpoint", ckpt).output();
          assert.equal(fresh.code, 1);
          assert.match(
            new TextDecoder().decode(fresh.stderr),
            new RegExp(
              `^error: Cannot use the checkpoint folder ${ckpt}: it holds the checkpoints of an ` +
                `earlier run \\(.*checkpoint-0*${info.steps}\\.safetensors; the newest, .*\\); ` +
                "continue that run with --resume, choose another folder, or pass --overwrite to " +
                "delete them and start afresh\n$",
            ),
          );
          assert.equal((await listCheckpoints(ckpt)).at(-1), saved);
        }
        const resumed = await command("--checkpoint", ckpt, "--resume").output();
        const out = new TextDecoder().decode(resumed.stdout);
        assert.equal(resumed.code, 0, new TextDecoder().decode(resumed.stderr));
        assert.match(out, new RegExp(`^Resumed from .*checkpoint-0*${info.steps}\\.safetensors`));
        assert.match(out, /Done!\n$/);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

Deno.test({
  name: "CLI: SIGTERM without a checkpoint folder still stops cleanly and writes the metrics (143)",
  ignore: !canRunDeno || Deno.build.os === "windows",
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const metrics = `${dir}/metrics.jsonl`;
      const command = await cliScript(dir);
      const { code, stderr } = await signalAfterFirstLoss(command("--metrics", metrics), "SIGTERM");
      assert.equal(code, 143, stderr);
      assert.match(stderr, /Training interrupted (at epoch \d, batch \d+|after epoch 1)\n$/);
      // The run's records up to the stop are there, from the first logged step on.
      const records = Deno.readTextFileSync(metrics).trim().split("\n").map((l) => JSON.parse(l));
      assert.equal(records[0].type, "step", JSON.stringify(records[0]));
      assert.equal(records[0].step, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
