/**
 * `fromOnnx` on current exporters' forms (fixtures and PyTorch's numbers written by
 * tests/fixtures/make_dynamo_fixtures.py): PyTorch 2.13's dynamo exports (opset 20, IR version 10,
 * external data, folded `val_*` constants, Gelu, HardSwish, Clip, ceil-mode pooling, a causal LM),
 * a legacy-exported nn.TransformerEncoderLayer whose Reshape targets are built from the batch,
 * and training-mode exports (Dropout with training_mode, BatchNormalization training_mode=1) at
 * opsets 13 and 17. Outputs against PyTorch's, fine-tuning losses step by step against PyTorch
 * fine-tuning the source module.
 */
import { compileModel } from "../src/compile/compile.ts";
import { crossEntropy } from "../src/dsl/losses.ts";
import { fromOnnx, type FromOnnxOptions } from "../src/dsl/onnx_model.ts";
import { adam, type Optimizer, sgd } from "../src/dsl/optimizers.ts";
import { CompileError } from "../src/ir/errors.ts";
import { decodeOnnx, importOnnx } from "../src/onnx/import.ts";
import { createSession } from "../src/runtime/session.ts";
import { createTrainer } from "../src/train/trainer.ts";
import { UserRangeError } from "../src/util/user_error.ts";
import { assert, assertClose, assertThrowsMatch } from "./_assert.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url);

interface Reference {
  readonly file: string;
  readonly opset: number;
  readonly ir: number;
  readonly external: boolean;
  readonly ops: string[];
  readonly sampleShape: number[];
  readonly inputDtype: "float32" | "int64";
  readonly classes: number;
  readonly sequence: boolean;
  readonly x: number[];
  readonly y: number[];
  readonly output: number[];
  readonly sgd: number[];
  readonly adam: number[];
}
const REF: {
  steps: number;
  sgdLr: number;
  adamLr: number;
  models: Record<string, Reference>;
} = JSON.parse(Deno.readTextFileSync(new URL("modern_reference.json", FIXTURES)));

const pathOf = (r: Reference) => new URL(r.file, FIXTURES).pathname;
const batchOf = (r: Reference) => ({
  x: r.inputDtype === "int64" ? BigInt64Array.from(r.x.map(BigInt)) : Float32Array.from(r.x),
  y: BigInt64Array.from(r.y.map(BigInt)),
  size: r.x.length / r.sampleShape.reduce((a, d) => a * d, 1),
});

function compileFixture(r: Reference, optimizer: Optimizer, options: FromOnnxOptions = {}) {
  return compileModel({
    data: {
      sampleShape: r.sampleShape,
      inputDtype: r.inputDtype,
      classes: r.classes,
      ...(r.sequence ? { labelShape: [r.sampleShape[0]] } : {}),
    },
    model: fromOnnx(pathOf(r), options),
    loss: crossEntropy(),
    optimizer,
  });
}

for (const [name, r] of Object.entries(REF.models)) {
  Deno.test(`${name} (opset ${r.opset}): the imported model's logits equal PyTorch's`, async () => {
    const compiled = compileFixture(r, sgd({ lr: REF.sgdLr }));
    const trainer = await createTrainer(compiled, { seed: 0 });
    const batch = batchOf(r);
    const inference = await createSession(trainer.exportModel());
    const dims = [batch.size, ...r.sampleShape];
    const out = await inference.run({ input: { dtype: r.inputDtype, dims, data: batch.x } });
    assertClose(out.logits.data as Float32Array, r.output, 1e-4, `${name} logits`);
    await Promise.all([inference.release(), trainer.release()]);
  });

  for (const opt of ["sgd", "adam"] as const) {
    // Free-running trajectories: Adam's g/√v turns float32 rounding in near-zero gradients into
    // full-size steps, so its losses drift apart sooner (hf_bert: 1e-6 at step 3, 3e-4 at step
    // 8); it is held to the first 5 steps, SGD to all.
    const steps = opt === "adam" ? 5 : REF.steps;
    Deno.test(`${name}: ${opt} fine-tuning tracks PyTorch's losses over ${steps} steps`, async () => {
      const optimizer = opt === "sgd" ? sgd({ lr: REF.sgdLr }) : adam({ lr: REF.adamLr });
      const trainer = await createTrainer(compileFixture(r, optimizer), { seed: 0 });
      const batch = batchOf(r);
      const expected = r[opt];
      const rel: number[] = [];
      for (let t = 0; t < steps; t++) {
        const loss = await trainer.step(batch);
        rel.push(Math.abs(loss - expected[t]) / Math.abs(expected[t]));
      }
      await trainer.release();
      const worst = Math.max(...rel);
      assert.ok(
        worst <= 1e-4,
        `${name} ${opt}: worst relative loss difference ${worst} at step ${rel.indexOf(worst) + 1}`,
      );
      assert.ok(expected[steps - 1] < expected[0], "the reference loss falls");
    });
  }
}

Deno.test("dynamo exports: opset 20, IR version 10, external data read beside the path", () => {
  const r = REF.models.dyn_cnn;
  assert.equal(r.opset, 20);
  assert.equal(r.ir, 10);
  assert.ok(r.external);
  const bytes = Deno.readFileSync(pathOf(r));
  // Only the bytes: a clear error naming the data file and what to pass.
  assertThrowsMatch(
    () => importOnnx(bytes),
    CompileError,
    /keeps its data in the external file dyn_cnn\.onnx\.data, and only the model's bytes were given: pass fromOnnx the path/,
  );
  // The bytes and the data file's bytes, as an option.
  const data = Deno.readFileSync(pathOf(r) + ".data");
  const compiled = compileModel({
    data: { sampleShape: r.sampleShape, classes: r.classes },
    model: fromOnnx(bytes, { externalData: { "dyn_cnn.onnx.data": data } }),
    loss: crossEntropy(),
    optimizer: sgd({ lr: 0.1 }),
  });
  // Parameters by their state_dict names (the exporter folded BatchNorm into f.0).
  assert.deepEqual(compiled.params.map((p) => p.name).toSorted(), [
    "f.0.bias",
    "f.0.weight",
    "f.4.bias",
    "f.4.weight",
    "f.8.bias",
    "f.8.weight",
  ]);
  assert.equal(decodeOnnx(bytes, { externalData: () => data }).initializers.size, 8);
});

Deno.test("exporter constants stay frozen by default; trainable: true trains them", () => {
  const r = REF.models.dyn_mobile;
  const byDefault = compileFixture(r, sgd({ lr: 0.1 }));
  const names = byDefault.params.map((p) => p.name);
  // Clip's bounds (ReLU6) are scalars the exporter made: not parameters.
  assert.ok(!names.some((n) => /min_val|max_val/.test(n)), names.join());
  assert.ok(
    byDefault.notes.some((n) => /exporter constants? frozen/.test(n)),
    byDefault.notes.join(),
  );
  const all = compileFixture(r, sgd({ lr: 0.1 }), { trainable: true });
  assert.ok(all.params.length > names.length);
});

Deno.test("training-form exports read as inference by default, and the compile says so", () => {
  for (const opset of [13, 17]) {
    const compiled = compileFixture(
      REF.models[`legacy_train_mode_opset${opset}`],
      sgd({ lr: 0.1 }),
    );
    const notes = compiled.notes.join("\n");
    assert.match(notes, /BatchNormalization nodes exported in training form/);
    assert.equal(compiled.buffers.length, 0);
  }
});

Deno.test("fromOnnx on a missing, empty or directory path is a one-line user error", () => {
  const dir = Deno.makeTempDirSync();
  const empty = `${dir}/empty.onnx`;
  Deno.writeFileSync(empty, new Uint8Array());
  for (
    const [path, why] of [
      [`${dir}/missing.onnx`, "no such file"],
      [empty, "is empty"],
      [dir, "it is a directory"],
    ]
  ) {
    assertThrowsMatch(() => fromOnnx(path), UserRangeError, new RegExp(`${path}.*${why}`));
  }
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("GPT-2's tied embedding trains as one tensor; merged LayerNorm ones are untied", () => {
  const r = REF.models.hf_gpt2;
  const compiled = compileFixture(r, sgd({ lr: 0.1 }));
  const names = compiled.params.map((p) => p.name);
  // The dynamo exporter wrote the output projection as a folded transpose of the embedding:
  // re-tied, it is no parameter of its own.
  assert.ok(names.includes("model.lm_head.weight"), names.join());
  assert.ok(
    !names.some((n) =>
      /^val_\d+$/.test(n) && compiled.params.find((p) => p.name === n)!.shape.join() === "16,64"
    ),
  );
  const notes = compiled.notes.join("\n");
  assert.match(notes, /kept tied model\.lm_head\.weight/);
  assert.match(notes, /untied model\.transformer\.h\.0\.ln_1\.weight/);
  // shared: "error" names both kinds.
  assertThrowsMatch(
    () => compileFixture(r, sgd({ lr: 0.1 }), { shared: "error" }),
    CompileError,
    /model\.lm_head\.weight \(feeds .*retied, node_embedding\)/,
  );
});

Deno.test("pipelines/fmnist_finetune.ts fine-tunes a dynamo export (opset 20, external data)", async () => {
  const { fmnistFinetune } = await import("../pipelines/fmnist_finetune.ts");
  const { writeSyntheticFashionMnist } = await import("../src/data/synthetic.ts");
  const root = await Deno.makeTempDir({ prefix: "onnxtrain-finetune-" });
  try {
    await writeSyntheticFashionMnist(root, { train: 1280, test: 320, seed: 4 });
    const lines: string[] = [];
    const result = await fmnistFinetune(pathOf(REF.models.dyn_fmnist)).run({
      dataDir: root,
      epochs: 2,
      lr: 1e-2,
      seed: 1,
      log: (l) => lines.push(l),
    });
    // Nothing to note (BatchNorm folded, no exporter constants): the tutorial's log as it is.
    assert.equal(lines[0], "Epoch 1");
    assert.match(lines[2], /^loss: \d\.\d{6} {2}\[ {3}64\/ 1280\]$/);
    const [e1, e2] = result.epochs;
    assert.ok(e2.testLoss < e1.testLoss, `test loss ${e1.testLoss} → ${e2.testLoss}`);
    assert.ok(e2.accuracy > 0.3, `accuracy ${e2.accuracy}`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("pipelines/fmnist_finetune.ts: a missing model is one line, exit 1", async () => {
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "-P", "pipelines/fmnist_finetune.ts", "no/such/model.onnx"],
    cwd: new URL("..", import.meta.url).pathname,
  });
  const { code, stderr, stdout } = await command.output();
  const err = new TextDecoder().decode(stderr).trim();
  assert.equal(code, 1, err);
  assert.equal(
    err,
    "error: Cannot create layer onnx: cannot read ONNX model no/such/model.onnx: no such file",
  );
  assert.equal(new TextDecoder().decode(stdout), "");
});

Deno.test("trainBatchNorm and trainDropout train a training-form export as module.train()", () => {
  const r = REF.models.legacy_train_mode_opset17;
  const compiled = compileFixture(r, sgd({ lr: 0.1 }), { trainBatchNorm: true });
  // The running statistics are buffers now, updated by the train graph.
  assert.deepEqual(compiled.buffers.map((b) => b.name).toSorted(), [
    "bn.running_mean",
    "bn.running_var",
  ]);
  assert.ok(compiled.train.outputs.some((o) => o.name === "bn.running_mean.next"));
  assert.ok(!compiled.notes.some((n) => /BatchNormalization/.test(n)), compiled.notes.join());
});
