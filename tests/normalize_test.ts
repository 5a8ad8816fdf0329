// Normalize in the graphs (torchvision's Normalize after ToTensor): the train, eval and inference
// graphs compute (x − mean[c]) / std[c] exactly as float32 arithmetic does; the raw export (uint8
// input, ToTensor in the graph) gives the float export's logits bit for bit; option errors.
import { flatten, linear, pipeline, sequential, sgd } from "../mod.ts";
import { parseCliArgs } from "../src/cli/cli.ts";
import { compileModel, type DataSignature } from "../src/compile/compile.ts";
import { cifar10, fashionMnist, tensorDataset } from "../src/dsl/datasets.ts";
import { crossEntropy } from "../src/dsl/losses.ts";
import type { Normalization } from "../src/dsl/pipeline.ts";
import { writeSyntheticFashionMnist } from "../src/data/synthetic.ts";
import { loadDataset } from "../src/data/datasets.ts";
import { emitModel } from "../src/onnx/emit.ts";
import { createSession, type HostTensor } from "../src/runtime/session.ts";
import { pipelineFingerprint } from "../src/train/checkpoint.ts";
import type { RunOptions } from "../src/train/run.ts";
import { createTrainer } from "../src/train/trainer.ts";
import { assert, assertClose, assertRejectsMatch, assertThrowsMatch } from "./_assert.ts";

const C = 3, H = 2, W = 2, F = C * H * W, N = 3;
const NORM: Normalization = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
/** Three images of raw pixels, 0 and 255 included. */
const PIXELS = Uint8Array.from({ length: N * F }, (_, i) => i === 1 ? 255 : (i * 37) % 256);
const LABELS = BigInt64Array.of(0n, 5n, 11n);
const toTensor = (p: ArrayLike<number>) => Float32Array.from(p, (v) => Math.fround(v / 255));
/** The float32 reference: fround(fround(x − mean) / std), channel c of a [C, H, W] sample. */
const normalized = (x: Float32Array) =>
  Array.from(x, (v, i) => {
    const c = Math.floor(i / (H * W)) % C;
    return Math.fround(Math.fround(v - Math.fround(NORM.mean[c])) / Math.fround(NORM.std[c]));
  });

const tensor = (dtype: HostTensor["dtype"], dims: number[], data: HostTensor["data"]) => ({
  dtype,
  dims,
  data,
});

/** flatten + linear(F, F) with identity weights: the logits are the model's input exactly. */
function identityModel(normalize?: Normalization) {
  const data: DataSignature = { sampleShape: [C, H, W], classes: F, normalize };
  return compileModel({
    data,
    model: sequential(flatten(), linear(F, F)),
    loss: crossEntropy(),
    optimizer: sgd({ lr: 0.1 }),
  });
}
const eye = Float32Array.from({ length: F * F }, (_, i) => i % (F + 1) === 0 ? 1 : 0);
const identityParams = new Map([
  ["1.weight", tensor("float32", [F, F], eye)],
  ["1.bias", tensor("float32", [F], new Float32Array(F))],
]);

Deno.test("normalize: the eval graph feeds the model (x − mean[c]) / std[c], as float32", async () => {
  const compiled = identityModel(NORM);
  assert.deepEqual(compiled.normalize, NORM);
  assert.deepEqual(compiled.inputType, { dtype: "float32", shape: ["N", C, H, W] });
  const session = await createSession(emitModel(compiled.eval), { threads: 1 });
  try {
    const x = toTensor(PIXELS);
    const out = await session.run({
      input: tensor("float32", [N, C, H, W], x),
      target: tensor("int64", [N], LABELS),
      ...Object.fromEntries(identityParams),
    });
    assert.deepEqual(Array.from(out.logits.data as Float32Array), normalized(x));
    // The float32 reference is the formula itself, to float32 rounding.
    const formula = Array.from(PIXELS, (p, i) => {
      const c = Math.floor(i / (H * W)) % C;
      return (p / 255 - NORM.mean[c]) / NORM.std[c];
    });
    assertClose(normalized(x), formula, 1e-6, "reference");
    assertClose(formula.slice(0, 2), [-0.485 / 0.229, (1 - 0.485) / 0.229], 1e-12, "pixels 0, 255");
  } finally {
    await session.release();
  }
});

Deno.test("normalize: the train step's loss is cross-entropy of the normalised input", async () => {
  const trainer = await createTrainer(identityModel(NORM), { seed: 1, threads: 1 });
  try {
    trainer.load({ params: identityParams });
    const x = toTensor(PIXELS);
    const loss = await trainer.step({ x, y: LABELS, size: N });
    const z = normalized(x);
    let expected = 0;
    for (let n = 0; n < N; n++) {
      const row = z.slice(n * F, (n + 1) * F);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
      expected += (lse - row[Number(LABELS[n])]) / N;
    }
    assertClose([loss], [expected], 1e-5, "loss");
    // Without normalize, the same step sees x itself.
    const plain = await createTrainer(identityModel(), { seed: 1, threads: 1 });
    try {
      plain.load({ params: identityParams });
      const other = await plain.step({ x, y: LABELS, size: N });
      assert.notEqual(other, loss);
    } finally {
      await plain.release();
    }
  } finally {
    await trainer.release();
  }
});

Deno.test("normalize: the raw uint8 export gives the float export's logits bit for bit", async () => {
  for (const normalize of [NORM, undefined]) {
    const trainer = await createTrainer(identityModel(normalize), { seed: 7, threads: 1 });
    try {
      // Random initial weights (seed 7), so the check is not specific to identity weights.
      const float = await createSession(trainer.exportModel(), { threads: 1 });
      const raw = await createSession(trainer.exportModel({ raw: true }), { threads: 1 });
      try {
        const a = await float.run({ input: tensor("float32", [N, C, H, W], toTensor(PIXELS)) });
        const b = await raw.run({ input: tensor("uint8", [N, C, H, W], PIXELS) });
        assert.equal(b.logits.dtype, "float32");
        assert.deepEqual(Array.from(b.logits.data as Float32Array), [
          ...(a.logits.data as Float32Array),
        ]);
        await assertRejectsMatch(
          () => raw.run({ input: tensor("float32", [N, C, H, W], toTensor(PIXELS)) }),
          Error,
          /uint8|type/i,
        );
      } finally {
        await float.release();
        await raw.release();
      }
    } finally {
      await trainer.release();
    }
  }
});

Deno.test("normalize: runPipeline exportRaw writes a uint8 model with the float model's logits", async () => {
  const root = await Deno.makeTempDir({ prefix: "onnxtrain_normalize_" });
  try {
    await writeSyntheticFashionMnist(root, { train: 40, test: 10, seed: 3 });
    const norm = { mean: [0.2860], std: [0.3530] };
    const run = (options: RunOptions) =>
      pipeline()
        .data(fashionMnist({ root, download: false }), { batchSize: 16, normalize: norm })
        .model(sequential(flatten(), linear(28 * 28, 10)))
        .loss(crossEntropy())
        .optimizer(sgd({ lr: 0.05 }))
        .seed(2)
        .epochs(1)
        .run({ threads: 1, log: () => {}, ...options });
    const path = `${root}/raw.onnx`;
    const raw = await run({ exportPath: path, exportRaw: true });
    const float = await run({});
    assert.deepEqual(new Uint8Array(await Deno.readFile(path)), new Uint8Array(raw.exportModel()));
    const { test } = await loadDataset(fashionMnist({ root, download: false }));
    assert.ok("images" in test);
    const pixels = test.images;
    const dims = [10, 1, 28, 28];
    const rawSession = await createSession(raw.exportModel(), { threads: 1 });
    const floatSession = await createSession(float.exportModel(), { threads: 1 });
    try {
      const a = await rawSession.run({ input: tensor("uint8", dims, pixels) });
      const b = await floatSession.run({ input: tensor("float32", dims, toTensor(pixels)) });
      assert.deepEqual(a.logits.data, b.logits.data);
    } finally {
      await rawSession.release();
      await floatSession.release();
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("normalize: the constants reach the compiled pipeline and its fingerprint", () => {
  const compile = (normalize?: Normalization | false) =>
    pipeline()
      .data(
        cifar10({ root: "data", download: false }),
        normalize === undefined ? {} : { normalize },
      )
      .model(sequential(flatten(), linear(3 * 32 * 32, 10)))
      .loss(crossEntropy())
      .optimizer(sgd({ lr: 0.1 }))
      .compile();
  const plain = compile(), normed = compile(NORM);
  assert.equal(plain.normalize, undefined);
  assert.deepEqual(normed.normalize, NORM);
  const fingerprints = new Set([
    pipelineFingerprint(plain),
    pipelineFingerprint(normed),
    pipelineFingerprint(compile({ mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] })),
  ]);
  assert.equal(fingerprints.size, 3);
  assert.equal(pipelineFingerprint(compile(false)), pipelineFingerprint(plain));
  // The preamble: ToTensor (Cast, Div 255) on the raw bytes, then one Sub and one Div with
  // [1, C, 1, 1] constants before the model.
  const perChannel = (op: string) => (n: (typeof normed.eval.nodes)[number]) =>
    n.op === op && n.inputs[1]?.constant?.shape.length === 4;
  const sub = normed.eval.nodes.find(perChannel("Sub"))!,
    div = normed.eval.nodes.find(perChannel("Div"))!;
  const toTensor = normed.eval.nodes.find((n) => n.outputs[0] === sub.inputs[0])!;
  const cast = normed.eval.nodes.find((n) => n.outputs[0] === toTensor.inputs[0])!;
  assert.deepEqual([cast.op, cast.inputs[0]?.name, cast.attrs.to], ["Cast", "input", "float32"]);
  assert.deepEqual([toTensor.op, [...toTensor.inputs[1]!.constant!.data]], ["Div", [255]]);
  assert.equal(div.inputs[0], sub.outputs[0]);
  for (const [node, values] of [[sub, NORM.mean], [div, NORM.std]] as const) {
    const { shape, data } = node.inputs[1]!.constant!;
    assert.deepEqual([shape, [...data]], [[1, 3, 1, 1], values.map(Math.fround)]);
  }
  assert.deepEqual(plain.eval.nodes.filter((n) => n.op === "Sub" || n.op === "Div").length, 1);
  // A later data() call inherits normalize; false turns it off.
  const base = pipeline().data(cifar10({ root: "data", download: false }), { normalize: NORM });
  assert.deepEqual(base.data(cifar10({ root: "x", download: false })).props.normalize, NORM);
  assert.equal(
    base.data(cifar10({ root: "x", download: false }), { normalize: false }).props.normalize,
    undefined,
  );
});

Deno.test("normalize: option errors name the values", async () => {
  const ds = cifar10({ root: "data", download: false });
  assertThrowsMatch(
    () => pipeline().data(ds, { normalize: { mean: [0.5], std: [0.5, 0.5, 0.5] } }),
    RangeError,
    "Cannot build pipeline: normalize.mean must hold one finite number per channel (3), got [0.5]",
  );
  assertThrowsMatch(
    () => pipeline().data(ds, { normalize: { mean: [0, 0, 0], std: [1, 0, 1] } }),
    RangeError,
    "Cannot build pipeline: normalize.std values must be > 0, got [1,0,1]",
  );
  assertThrowsMatch(
    () => pipeline().data(ds, { normalize: { mean: [0, NaN, 0], std: [1, 1, 1] } }),
    RangeError,
    /normalize\.mean must hold one finite number per channel \(3\), got \[0,NaN,0\]$/,
  );
  const tensors = tensorDataset({
    train: { x: new Float32Array(4), y: [0, 1] },
    test: { x: new Float32Array(4), y: [0, 1] },
    sampleShape: [2],
  });
  assertThrowsMatch(
    () => pipeline().data(tensors, { normalize: { mean: [0, 0], std: [1, 1] } }),
    RangeError,
    /normalize needs an image dataset .*got a tensorDataset/,
  );
  await assertRejectsMatch(
    () =>
      pipeline().data(tensors).model(linear(2, 2)).loss(crossEntropy()).optimizer(sgd({ lr: 1 }))
        .run({ exportRaw: true, log: () => {} }),
    RangeError,
    /^Cannot export a raw model: exportRaw needs an image dataset/,
  );
  assert.equal(parseCliArgs(["--export", "m.onnx", "--export-raw"]) !== "help", true);
  assert.equal(
    (parseCliArgs(["--export", "m.onnx", "--export-raw"]) as RunOptions).exportRaw,
    true,
  );
  assertThrowsMatch(
    () => parseCliArgs(["--export-raw"]),
    RangeError,
    "Invalid --export-raw: give the model's path with --export PATH",
  );
});
