import { join } from "node:path";
import {
  crossEntropy,
  fashionMnist,
  flatten,
  linear,
  pipeline,
  relu,
  sequential,
  sgd,
  writeSyntheticFashionMnist,
} from "../mod.ts";
import { createLoader } from "../src/data/loader.ts";
import { createSession } from "../src/runtime/session.ts";
import { loadDataset } from "../src/data/datasets.ts";
import { assert, assertClose } from "./_assert.ts";

const root = await Deno.makeTempDir({ prefix: "onnxtrain-pipeline-" });
await writeSyntheticFashionMnist(root, { train: 1280, test: 320, seed: 3 });

const tutorial = (lr = 0.2) =>
  pipeline()
    .data(fashionMnist({ root, download: false }), { batchSize: 64 })
    .model(sequential(
      flatten(),
      linear(28 * 28, 64),
      relu(),
      linear(64, 64),
      relu(),
      linear(64, 10),
    ))
    .loss(crossEntropy())
    .optimizer(sgd({ lr }))
    .epochs(3);

Deno.test("the pipeline trains: loss falls each epoch, accuracy beats chance, log is the tutorial's", async () => {
  const lines: string[] = [];
  const result = await tutorial().run({ seed: 7, log: (l) => lines.push(l), logEvery: 5 });

  // Format, line by line: Epoch N, the rule, loss lines every 5 batches, the test report, Done!
  const expected: RegExp[] = [];
  for (let epoch = 1; epoch <= 3; epoch++) {
    expected.push(new RegExp(`^Epoch ${epoch}$`), /^-{31}$/);
    for (let batch = 0; batch < 20; batch += 5) {
      const current = String(batch * 64 + 64).padStart(5);
      expected.push(new RegExp(`^loss: \\d\\.\\d{6}  \\[${current}/ 1280\\]$`));
    }
    expected.push(/^Test Error: $/, /^ Accuracy: \d{1,3}\.\d%, Avg loss: \d\.\d{6} $/, /^$/);
  }
  expected.push(/^Done!$/);
  assert.equal(lines.length, expected.length, lines.join("\n"));
  lines.forEach((line, i) =>
    assert.match(line, expected[i], `line ${i + 1}: ${JSON.stringify(line)}`)
  );

  const [e1, e2, e3] = result.epochs;
  assert.ok(e1.testLoss > e2.testLoss && e2.testLoss > e3.testLoss, "test loss falls each epoch");
  assert.ok(
    e1.trainLoss > e2.trainLoss && e2.trainLoss > e3.trainLoss,
    "train loss falls each epoch",
  );
  assert.ok(e3.accuracy > 0.3, `accuracy ${e3.accuracy} should beat chance (0.1) threefold`);
  // The printed report is the result's numbers.
  const report = lines[lines.length - 3];
  assert.equal(
    report,
    ` Accuracy: ${(100 * e3.accuracy).toFixed(1)}%, Avg loss: ${e3.testLoss.toFixed(6)} `,
  );
});

Deno.test("a seed makes a run reproducible bit for bit; another seed differs", async () => {
  const run = (seed: number) => tutorial().epochs(1).run({ seed, log: () => {} });
  const [a, b, c] = [await run(11), await run(11), await run(12)];
  assert.deepEqual(
    a.epochs.map((e) => [e.trainLoss, e.testLoss]),
    b.epochs.map((e) => [e.trainLoss, e.testLoss]),
  );
  assert.deepEqual(new Uint8Array(a.exportModel()), new Uint8Array(b.exportModel()));
  assert.notEqual(a.epochs[0].trainLoss, c.epochs[0].trainLoss);
});

Deno.test("--epochs, --batch-size and --lr override the pipeline", async () => {
  const lines: string[] = [];
  await tutorial().run({ epochs: 1, batchSize: 100, lr: 0, seed: 1, log: (l) => lines.push(l) });
  assert.deepEqual(lines.filter((l) => l.startsWith("Epoch")), ["Epoch 1"]);
  assert.equal(lines[2].replace(/^loss: \d\.\d{6}/, "loss: X"), "loss: X  [  100/ 1280]");
});

Deno.test("the exported model, in a fresh session, gives the eval graph's logits", async () => {
  const dir = await Deno.makeTempDir({ prefix: "onnxtrain-export-" });
  const p = tutorial().epochs(1);
  const result = await p.run({
    seed: 5,
    log: () => {},
    exportPath: join(dir, "model.onnx"),
    emitDir: join(dir, "graphs"),
  });
  for (const f of ["train_step.onnx", "eval_step.onnx", "inference.onnx"]) {
    assert.ok((await Deno.stat(join(dir, "graphs", f))).size > 0, f);
  }
  const bytes = await Deno.readFile(join(dir, "model.onnx"));
  assert.deepEqual(bytes, new Uint8Array(result.exportModel()));

  const exported = await createSession(bytes);
  assert.deepEqual([...exported.inputNames], ["input"]);
  assert.deepEqual([...exported.outputNames], ["logits"]);

  // Feed the eval graph the same parameters (read back from the exported initializers' run).
  const compiled = p.compile();
  const evaluator = await createSession(
    (await import("../src/onnx/emit.ts")).emitModel(compiled.eval),
  );
  const { test } = await loadDataset(fashionMnist({ root, download: false }));
  const params = await paramsOf(bytes);
  for (const size of [7, 64]) {
    const [batch] = createLoader(test, { batchSize: size });
    // The eval graph takes the raw bytes and applies ToTensor; the exported model takes [0, 1].
    const dims = [size, 1, 28, 28];
    const raw = { dtype: "uint8" as const, dims, data: batch.x };
    const input = {
      dtype: "float32" as const,
      dims,
      data: Float32Array.from(batch.x, (v) => v / 255),
    };
    const target = { dtype: "int64" as const, dims: [size], data: batch.y };
    const inf = await exported.run({ input });
    const ev = await evaluator.run({ input: raw, target, ...params });
    assert.deepEqual(inf.logits.dims, [size, 10]);
    assertClose(inf.logits.data as Float32Array, ev.logits.data as Float32Array, 1e-5, "logits");
  }
});

/** Reads parameters out of an ONNX model's initializers. */
async function paramsOf(bytes: Uint8Array) {
  const { default: onnxProto } = await import("onnx-proto");
  const model = onnxProto.onnx.ModelProto.decode(bytes);
  const out: Record<string, { dtype: "float32"; dims: number[]; data: Float32Array }> = {};
  for (const t of model.graph!.initializer!) {
    const raw = t.rawData!;
    const data = new Float32Array(raw.slice().buffer);
    out[t.name!] = { dtype: "float32", dims: t.dims!.map(Number), data };
  }
  assert.deepEqual(Object.keys(out), [
    "1.weight",
    "1.bias",
    "3.weight",
    "3.bias",
    "5.weight",
    "5.bias",
  ]);
  return out;
}
