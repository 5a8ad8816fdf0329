/** One-hot targets: class indices become float one-hot vectors in the graph, before the loss. */
import {
  bceWithLogits,
  CompileError,
  crossEntropy,
  linear,
  mse,
  pipeline,
  sequential,
  sgd,
  tensorDataset,
} from "../mod.ts";
import { createTrainer } from "../src/train/trainer.ts";
import { assert, assertClose, assertThrowsMatch } from "./_assert.ts";

const x = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i));
const y = [0, 2, 1, 2, 0, 1];
const classes = tensorDataset({
  train: { x, y },
  test: { x, y },
  sampleShape: [4],
  classes: 3,
});

Deno.test("oneHot: mse against one-hot targets equals the formula; the model trains", async () => {
  const p = pipeline()
    .data(classes, { batchSize: 6, oneHot: true })
    .model(sequential(linear(4, 3)))
    .loss(mse())
    .optimizer(sgd({ lr: 0.3 }));
  const compiled = p.compile();
  assert.equal(compiled.train.nodes.filter((n) => n.op === "OneHot").length, 1);
  assert.equal(compiled.targetType.dtype, "int64", "the target input stays class indices");
  const trainer = await createTrainer(compiled, { seed: 3 });
  const w = trainer.params.get("0.weight")!.data as Float32Array;
  const b = trainer.params.get("0.bias")!.data as Float32Array;
  let expected = 0;
  for (let i = 0; i < 6; i++) {
    for (let o = 0; o < 3; o++) {
      const out = b[o] + [0, 1, 2, 3].reduce((a, k) => a + x[i * 4 + k] * w[o * 4 + k], 0);
      expected += (out - (o === y[i] ? 1 : 0)) ** 2 / 18;
    }
  }
  const batch = { x, y: BigInt64Array.from(y.map(BigInt)), size: 6 };
  const first = await trainer.step(batch);
  assertClose([first], [expected], 1e-6, "mse on one-hot targets");
  let last = first;
  for (let i = 0; i < 50; i++) last = await trainer.step(batch);
  assert.ok(last < 0.5 * first, `loss falls: ${first} → ${last}`);
  await trainer.release();
  // bceWithLogits takes the one-hot targets too (multi-label style).
  const bce = pipeline().data(classes, { oneHot: true }).model(sequential(linear(4, 3)))
    .loss(bceWithLogits()).optimizer(sgd({ lr: 0.1 })).compile();
  assert.equal(bce.train.nodes.filter((n) => n.op === "OneHot").length, 1);
});

Deno.test("oneHot: cross-entropy, float datasets and shape mismatches are clear errors", () => {
  assertThrowsMatch(
    () =>
      pipeline().data(classes, { oneHot: true }).model(sequential(linear(4, 3)))
        .loss(crossEntropy()).optimizer(sgd({ lr: 0.1 })).compile(),
    CompileError,
    /cross-entropy expects class-index targets, but the data gives float targets of shape \[N, 3\]/,
  );
  assertThrowsMatch(
    () =>
      pipeline().data(classes, { oneHot: true }).model(sequential(linear(4, 2)))
        .loss(mse()).optimizer(sgd({ lr: 0.1 })).compile(),
    CompileError,
    /mse expects targets of the model output's shape \[N, 2\], got \[N, 3\]/,
  );
  const floats = tensorDataset({
    train: { x, y: new Float32Array(6) },
    test: { x, y: new Float32Array(6) },
    sampleShape: [4],
    targetShape: [1],
  });
  assertThrowsMatch(
    () => pipeline().data(floats, { oneHot: true }),
    RangeError,
    "Cannot build pipeline: oneHot needs a dataset with class-index targets",
  );
});
