// Warm start (--init) from a checkpoint, a safetensors file and an exported ONNX model, bit for
// bit; the strict error lists missing, unexpected and mis-shaped tensors in one message; partial
// loads what matches and logs the rest; --export is checked before the first epoch, written
// atomically and carries producer, version and class names; onnx.checker accepts it.
import onnxProto from "onnx-proto";
import {
  adam,
  batchNorm1d,
  crossEntropy,
  FASHION_MNIST_CLASSES,
  fashionMnist,
  linear,
  pipeline,
  relu,
  sequential,
} from "../mod.ts";
import { parseCliArgs, USAGE } from "../src/cli/cli.ts";
import { tensorDataset } from "../src/dsl/datasets.ts";
import { encodeSafetensors, type SafeTensor } from "../src/io/safetensors.ts";
import { decodeOnnx } from "../src/onnx/import.ts";
import { listCheckpoints } from "../src/train/checkpoint.ts";
import type { RunOptions } from "../src/train/run.ts";
import { createTrainer, type Trainer, VERSION } from "../src/train/trainer.ts";
import {
  checkExportPath,
  decodeWeights,
  detectWeightsFormat,
  warmStart,
  WeightsFileError,
} from "../src/train/warm_start.ts";
import { createRng } from "../src/util/random.ts";
import { assert, assertRejectsMatch } from "./_assert.ts";
import { hasOnnx, onnxCheck } from "./_onnx_checker.ts";

const CLASS_NAMES = ["left", "middle", "right"];

/** 30 training samples of 4 features in 3 named classes; batches of 8. */
function data() {
  const rng = createRng(5);
  const make = (count: number) => {
    const x = Float32Array.from({ length: 4 * count }, () => 2 * rng.nextFloat() - 1);
    const y = Array.from(
      { length: count },
      (_, k) => (x[4 * k] > 0.3 ? 2 : x[4 * k] > -0.3 ? 1 : 0),
    );
    return { x, y };
  };
  return tensorDataset({
    train: make(30),
    test: make(10),
    sampleShape: [4],
    classNames: CLASS_NAMES,
  });
}

const ds = data();
const pipe = (hidden = 8) =>
  pipeline()
    .data(ds, { batchSize: 8, shuffle: true })
    .model(sequential(linear(4, hidden), batchNorm1d(hidden), relu(), linear(hidden, 3)))
    .loss(crossEntropy())
    .optimizer(adam({ lr: 0.05 }))
    .seed(11)
    .epochs(1);

/** The names of the model's parameters and buffers, in state_dict order. */
const NAMES = [
  "0.weight",
  "0.bias",
  "3.weight",
  "3.bias",
  "1.weight",
  "1.bias",
  "1.running_mean",
  "1.running_var",
  "1.num_batches_tracked",
].sort();

const bytesOf = (t: { data: ArrayBufferView }) =>
  Array.from(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));

/** Every parameter and buffer of the trainer, as name → [dtype, dims, raw bytes]. */
function snapshot(trainer: Trainer) {
  return new Map(
    [...trainer.params, ...trainer.buffers].map((
      [n, t],
    ) => [n, [t.dtype, t.dims.join(), bytesOf(t)]]),
  );
}

async function withTemp(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A trainer of `pipe()` that has taken two steps (so its buffers and weights moved). */
async function trainedTrainer(seed: number) {
  const trainer = await createTrainer(pipe().compile(), { seed, threads: 1 });
  const batch = {
    x: ds.train.x.slice(0, 32) as Float32Array,
    y: ds.train.y.slice(0, 8) as BigInt64Array,
    size: 8,
  };
  await trainer.step(batch);
  await trainer.step(batch);
  return trainer;
}

async function run(options: RunOptions, hidden = 8) {
  const lines: string[] = [];
  const result = await pipe(hidden).run({ threads: 1, log: (l) => lines.push(l), ...options });
  return { lines, result };
}

Deno.test("warm start: the model's tensors are the ones this test expects", async () => {
  const trainer = await createTrainer(pipe().compile(), { seed: 1, threads: 1 });
  assert.deepEqual([...trainer.params.keys(), ...trainer.buffers.keys()].sort(), NAMES);
  await trainer.release();
});

Deno.test("warm start from a checkpoint loads parameters and buffers bit for bit, not the optimizer state", async () => {
  await withTemp(async (dir) => {
    await run({ checkpointDir: dir, seed: 3 });
    const [file] = await listCheckpoints(dir);
    const source = decodeWeights(await Deno.readFile(file), file);
    assert.equal(source.format, "checkpoint");
    assert.deepEqual([...source.tensors.keys()].sort(), NAMES);

    const trainer = await createTrainer(pipe().compile(), { seed: 99, threads: 1 });
    const stateBefore = new Map([...trainer.state].map(([n, t]) => [n, bytesOf(t)]));
    const before = snapshot(trainer);
    const lines: string[] = [];
    const match = await warmStart(trainer, file, { log: (l) => lines.push(l) });
    assert.equal(match.params.size + match.buffers.size, NAMES.length);
    assert.deepEqual(lines, [`Initialised 9 tensors from ${file} (checkpoint)`]);
    const after = snapshot(trainer);
    for (const [name, t] of source.tensors) {
      assert.deepEqual(after.get(name), [t.dtype, t.dims.join(), bytesOf(t)], name);
    }
    // It really changed them (another seed), and left the optimizer state and steps alone.
    assert.notDeepEqual(after.get("0.weight"), before.get("0.weight"));
    assert.equal(trainer.buffers.get("1.num_batches_tracked")!.data[0], 4n, "4 batches seen");
    assert.deepEqual(new Map([...trainer.state].map(([n, t]) => [n, bytesOf(t)])), stateBefore);
    assert.equal(trainer.steps, 0);
    await trainer.release();
  });
});

Deno.test("warm start from a safetensors file written here, float64 converted to float32", async () => {
  await withTemp(async (dir) => {
    const trainer = await createTrainer(pipe().compile(), { seed: 1, threads: 1 });
    const rng = createRng(42);
    const tensors = new Map<string, SafeTensor>();
    for (const [name, t] of [...trainer.params, ...trainer.buffers]) {
      const n = t.data.length;
      const data = t.dtype === "int64"
        ? BigInt64Array.of(7n)
        : Float32Array.from({ length: n }, () => rng.nextFloat() - 0.5);
      tensors.set(name, { dtype: t.dtype, shape: t.dims, data });
    }
    // A float64 tensor (as torch.double) loads as float32, as load_state_dict's copy_ does.
    tensors.set("3.bias", { dtype: "float64", shape: [3], data: Float64Array.of(0.1, -2.5, 3) });
    const file = `${dir}/weights.safetensors`;
    await Deno.writeFile(file, encodeSafetensors(tensors, { note: "not a checkpoint" }));

    const lines: string[] = [];
    await warmStart(trainer, file, { log: (l) => lines.push(l) });
    assert.deepEqual(lines, [`Initialised 9 tensors from ${file} (safetensors)`]);
    const after = snapshot(trainer);
    for (const [name, t] of tensors) {
      if (name === "3.bias") continue;
      assert.deepEqual(after.get(name), [t.dtype, t.shape.join(), bytesOf(t)], name);
    }
    assert.deepEqual([...trainer.params.get("3.bias")!.data], [
      Math.fround(0.1),
      -2.5,
      3,
    ]);
    assert.equal(trainer.params.get("3.bias")!.dtype, "float32");
    assert.deepEqual([...trainer.buffers.get("1.num_batches_tracked")!.data], [7n]);
    await trainer.release();
  });
});

Deno.test("warm start from an exported ONNX model's initializers, bit for bit", async () => {
  await withTemp(async (dir) => {
    const source = await trainedTrainer(2);
    const file = `${dir}/model.onnx`;
    await Deno.writeFile(file, source.exportModel());
    assert.equal(detectWeightsFormat(await Deno.readFile(file)), "onnx");
    const expected = snapshot(source);
    await source.release();

    const trainer = await createTrainer(pipe().compile(), { seed: 8, threads: 1 });
    assert.notDeepEqual(snapshot(trainer), expected);
    const lines: string[] = [];
    await warmStart(trainer, file, { log: (l) => lines.push(l) });
    // The inference model has no num_batches_tracked (no node reads it): the counter is not
    // missing, it keeps its value (0 here), as PyTorch's batch norm loads a state_dict without it.
    assert.deepEqual(lines, [`Initialised 8 tensors from ${file} (onnx)`]);
    const counter = "1.num_batches_tracked";
    assert.deepEqual(expected.get(counter)?.slice(0, 2), ["int64", ""]);
    assert.deepEqual([...trainer.buffers.get(counter)!.data], [0n]);
    expected.delete(counter);
    const after = snapshot(trainer);
    after.delete(counter);
    assert.deepEqual(after, expected);
    await trainer.release();
  });
});

/** A safetensors file that lacks 0.bias, has an extra tensor and a mis-shaped 3.weight. */
async function mismatchedFile(dir: string, trainer: Trainer) {
  const tensors = new Map<string, SafeTensor>();
  const rng = createRng(9);
  for (const [name, t] of [...trainer.params, ...trainer.buffers]) {
    if (name === "0.bias") continue;
    const shape = name === "3.weight" ? [2, 8] : t.dims;
    const n = shape.reduce((a, d) => a * d, 1);
    const data = t.dtype === "int64"
      ? BigInt64Array.of(3n)
      : Float32Array.from({ length: n }, () => rng.nextFloat());
    tensors.set(name, { dtype: t.dtype, shape, data });
  }
  tensors.set("head.weight", { dtype: "float32", shape: [1], data: Float32Array.of(1) });
  const file = `${dir}/other.safetensors`;
  await Deno.writeFile(file, encodeSafetensors(tensors));
  return { file, tensors };
}

Deno.test("warm start is strict: missing, unexpected and mis-shaped tensors in one error, nothing loaded", async () => {
  await withTemp(async (dir) => {
    const trainer = await createTrainer(pipe().compile(), { seed: 1, threads: 1 });
    const { file } = await mismatchedFile(dir, trainer);
    const before = snapshot(trainer);
    await assertRejectsMatch(
      () => warmStart(trainer, file, { log: () => {} }),
      WeightsFileError,
      `Cannot initialise from ${file} (safetensors): missing from the file (1): 0.bias; ` +
        `unexpected in the file (1): head.weight; mis-shaped (1): 3.weight (file float32 [2, 8], ` +
        `model float32 [3, 8]) (--init-partial loads only the tensors that match)`,
    );
    assert.deepEqual(snapshot(trainer), before);
    await trainer.release();
  });
});

Deno.test("warm start with partial loads what matches and logs what it skipped", async () => {
  await withTemp(async (dir) => {
    const trainer = await createTrainer(pipe().compile(), { seed: 1, threads: 1 });
    const { file, tensors } = await mismatchedFile(dir, trainer);
    const before = snapshot(trainer);
    const lines: string[] = [];
    const match = await warmStart(trainer, file, { partial: true, log: (l) => lines.push(l) });
    assert.deepEqual(lines, [
      `Initialised 7 tensors from ${file} (safetensors); skipped: missing from the file (1): ` +
      `0.bias; unexpected in the file (1): head.weight; mis-shaped (1): 3.weight (file float32 ` +
      `[2, 8], model float32 [3, 8])`,
    ]);
    assert.deepEqual(match.missing, ["0.bias"]);
    assert.deepEqual(match.unexpected, ["head.weight"]);
    assert.deepEqual(match.mismatched.map((m) => m.name), ["3.weight"]);
    const after = snapshot(trainer);
    for (const name of NAMES) {
      if (name === "0.bias" || name === "3.weight") {
        assert.deepEqual(after.get(name), before.get(name), `${name} keeps its value`);
      } else {
        const t = tensors.get(name)!;
        assert.deepEqual(after.get(name), [t.dtype, t.shape.join(), bytesOf(t)], name);
      }
    }
    await trainer.release();
  });
});

Deno.test("run({ init }) warm starts before training; strict failure stops before the first epoch", async () => {
  await withTemp(async (dir) => {
    const source = await trainedTrainer(4);
    const file = `${dir}/model.onnx`;
    await Deno.writeFile(file, source.exportModel());
    const expected = snapshot(source);
    await source.release();

    // epochs: 0 exports the initial weights: exactly the file's.
    const { lines, result } = await run({ init: file, epochs: 0, seed: 1 });
    assert.deepEqual(lines, [`Initialised 8 tensors from ${file} (onnx)`, "Done!"]);
    const exported = decodeOnnx(result.exportModel()).initializers;
    expected.delete("1.num_batches_tracked"); // not in the inference model
    assert.equal(exported.size, expected.size);
    for (const [name, [dtype, dims, bytes]] of expected) {
      const t = exported.get(name)!;
      assert.deepEqual([t.dtype, t.shape.join(), bytesOf(t)], [dtype, dims, bytes], name);
    }

    // Another hidden size: every mis-shaped tensor is listed and no epoch runs.
    const log: string[] = [];
    await assertRejectsMatch(
      () => pipe(5).run({ threads: 1, log: (l) => log.push(l), init: file }),
      WeightsFileError,
      /mis-shaped \(7\): 0\.weight \(file float32 \[8, 4\], model float32 \[5, 4\]\), 0\.bias .*3\.weight .*1\.running_var \(file float32 \[8\], model float32 \[5\]\)/,
    );
    assert.deepEqual(log, []);

    // With partial, the matching tensor loads (3.bias) and training goes on.
    const partial = await run({ init: file, initPartial: true, epochs: 1 }, 5);
    assert.match(
      partial.lines[0],
      /^Initialised 1 tensor from .* \(onnx\); skipped: mis-shaped \(7\)/,
    );
    assert.equal(partial.lines[1], "Epoch 1");

    await assertRejectsMatch(
      () => run({ initPartial: true }),
      RangeError,
      "Cannot load partially: no weights file given (--init PATH)",
    );
  });
});

Deno.test("run({ init, resume }): resuming wins over the weights file, and says so", async () => {
  await withTemp(async (dir) => {
    await run({ checkpointDir: dir, seed: 3 });
    const [ckpt] = await listCheckpoints(dir);
    const { lines } = await run({
      checkpointDir: dir,
      resume: true,
      init: `${dir}/missing.onnx`,
      epochs: 1,
    });
    assert.equal(
      lines[0],
      `Not initialising from ${dir}/missing.onnx: resuming from ${ckpt} instead`,
    );
  });
});

Deno.test("warm start refuses a file of no known format and a missing file, naming them", async () => {
  await withTemp(async (dir) => {
    const trainer = await createTrainer(pipe().compile(), { seed: 1, threads: 1 });
    const junk = `${dir}/junk.bin`;
    await Deno.writeFile(junk, new TextEncoder().encode("hello, world"));
    await assertRejectsMatch(
      () => warmStart(trainer, junk),
      WeightsFileError,
      new RegExp(
        `^Cannot initialise from ${junk}: it is neither a safetensors file nor an ONNX model`,
      ),
    );
    await assertRejectsMatch(
      () => warmStart(trainer, `${dir}/nope.onnx`),
      WeightsFileError,
      new RegExp(`^Cannot initialise from ${dir}/nope.onnx: `),
    );
    await trainer.release();
  });
});

Deno.test("--export to an unwritable path fails before the first epoch, naming the path", async () => {
  await withTemp(async (dir) => {
    const file = `${dir}/a-file`;
    await Deno.writeFile(file, Uint8Array.of(1));
    const lines: string[] = [];
    await assertRejectsMatch(
      () => pipe().run({ threads: 1, log: (l) => lines.push(l), exportPath: `${file}/model.onnx` }),
      WeightsFileError,
      new RegExp(
        `^Cannot export the model to ${file}/model\\.onnx: .*\\(checked before training\\)$`,
      ),
    );
    assert.deepEqual(lines, [], "no epoch ran");
    await assertRejectsMatch(
      () => checkExportPath(dir),
      WeightsFileError,
      `Cannot export the model to ${dir}: it is a folder (checked before training)`,
    );
    // A writable path is left as it was: no file, no temporary file.
    await checkExportPath(`${dir}/sub/model.onnx`);
    assert.deepEqual([...Deno.readDirSync(`${dir}/sub`)], []);
  });
});

Deno.test("--export writes atomically, with producer, version and class names", async () => {
  await withTemp(async (dir) => {
    const path = `${dir}/out/model.onnx`;
    const { result } = await run({ exportPath: path, seed: 2 });
    assert.deepEqual([...Deno.readDirSync(`${dir}/out`)].map((e) => e.name), ["model.onnx"]);
    const bytes = await Deno.readFile(path);
    assert.deepEqual(bytes, Uint8Array.from(result.exportModel()));

    const deno = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
    assert.equal(VERSION, deno.version);
    const model = onnxProto.onnx.ModelProto.decode(bytes);
    assert.equal(model.producerName, "onnxtrain");
    assert.equal(model.producerVersion, deno.version);
    assert.deepEqual(
      model.metadataProps.map((p) => [p.key, p.value]),
      [["class_names", JSON.stringify(CLASS_NAMES)]],
    );
    assert.equal(decodeOnnx(bytes).producer, `onnxtrain ${deno.version}`);
  });
});

Deno.test("class names: FashionMNIST has torchvision's, tensorDataset checks them", () => {
  assert.deepEqual(fashionMnist().classNames, [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
  ]);
  assert.equal(fashionMnist().classNames, FASHION_MNIST_CLASSES);
  assert.equal(ds.classes, 3);
  assert.deepEqual(ds.classNames, CLASS_NAMES);
  const split = { x: Float32Array.of(1, 2), y: [0, 1] };
  assert.throws(
    () =>
      tensorDataset({
        train: split,
        test: split,
        sampleShape: [1],
        classes: 3,
        classNames: ["a", "b"],
      }),
    /classNames has 2 names for 3 classes/,
  );
  assert.throws(
    () => tensorDataset({ train: split, test: split, sampleShape: [1], classNames: ["a"] }),
    /class index 1 at train y\[1\] is not below the class count 1/,
  );
});

Deno.test({
  name: "onnx.checker (full_check) accepts the exported model with metadata",
  ignore: !(await hasOnnx()),
  fn: async () => {
    await withTemp(async (dir) => {
      const path = `${dir}/model.onnx`;
      await run({ exportPath: path, seed: 2 });
      const shapes = await onnxCheck([path]);
      assert.deepEqual(shapes[path].logits, ["N", 3]);
    });
  },
});

Deno.test("CLI: --init and --init-partial parse; --init-partial needs --init; help mentions them", () => {
  assert.deepEqual(parseCliArgs(["--init", "w.safetensors"]), {
    dataDir: undefined,
    epochs: undefined,
    batchSize: undefined,
    lr: undefined,
    seed: undefined,
    device: undefined,
    threads: undefined,
    exportPath: undefined,
    emitDir: undefined,
    init: "w.safetensors",
    initPartial: false,
  });
  const both = parseCliArgs(["--init=model.onnx", "--init-partial", "--export", "m.onnx"]);
  assert.ok(both !== "help");
  assert.deepEqual([both.init, both.initPartial, both.exportPath], ["model.onnx", true, "m.onnx"]);
  assert.throws(
    () => parseCliArgs(["--init-partial"]),
    /Invalid --init-partial: give the weights file with --init PATH/,
  );
  assert.match(USAGE, /--init PATH/);
  assert.match(USAGE, /--init-partial/);
  assert.match(USAGE, /Optimizer state is not\s+loaded \(that is --resume's job\)/);
});
