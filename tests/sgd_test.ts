import { compileModel } from "../src/compile/compile.ts";
import { linear, sequential } from "../src/dsl/layers.ts";
import { crossEntropy } from "../src/dsl/losses.ts";
import { sgd } from "../src/dsl/optimizers.ts";
import { createTrainer } from "../src/train/trainer.ts";
import { assert, assertClose } from "./_assert.ts";

// A 2→2 linear classifier on a batch of two samples, small enough to do by hand.
const X = [[1, 2], [0.5, -1]];
const Y = [0, 1];
const W0 = [0.1, 0.2, 0.3, 0.4]; // [out, in], row-major
const B0 = [0.05, -0.05];

function batch() {
  return { x: Float32Array.from(X.flat()), y: BigInt64Array.from(Y.map(BigInt)), size: 2 };
}

/** Gradient of mean cross-entropy for W (row-major [out, in]) and b, by the textbook formula. */
function handGradients(w: number[], b: number[]) {
  const n = X.length;
  const dW = [0, 0, 0, 0], db = [0, 0];
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const logits = [0, 1].map((o) => X[i][0] * w[o * 2] + X[i][1] * w[o * 2 + 1] + b[o]);
    const z = Math.exp(logits[0]) + Math.exp(logits[1]);
    const p = logits.map((l) => Math.exp(l) / z);
    loss -= Math.log(p[Y[i]]) / n;
    for (let o = 0; o < 2; o++) {
      const d = (p[o] - (o === Y[i] ? 1 : 0)) / n;
      db[o] += d;
      dW[o * 2] += d * X[i][0];
      dW[o * 2 + 1] += d * X[i][1];
    }
  }
  return { loss, dW, db };
}

async function trainerFor(opt: ReturnType<typeof sgd>) {
  const compiled = compileModel({
    data: { sampleShape: [2], classes: 2 },
    model: sequential(linear(2, 2)),
    loss: crossEntropy(),
    optimizer: opt,
  });
  return await createTrainer(compiled, {
    seed: 0,
    initial: new Map([["0.weight", Float32Array.from(W0)], ["0.bias", Float32Array.from(B0)]]),
  });
}

Deno.test("one SGD step matches the hand-computed update", async () => {
  const trainer = await trainerFor(sgd({ lr: 0.5 }));
  const loss = await trainer.step(batch());
  // Worked out independently in float64: loss 0.886108, W' and b' below.
  assertClose([loss], [0.8861079267808494], 1e-6, "loss");
  assertClose(
    trainer.params.get("0.weight")!.data as Float32Array,
    [
      0.1868855831364039,
      0.6486881649290468,
      0.2131144168635961,
      -0.04868816492904671,
    ],
    1e-6,
    "weight",
  );
  assertClose(
    trainer.params.get("0.bias")!.data as Float32Array,
    [
      0.06815633347234419,
      -0.06815633347234414,
    ],
    1e-6,
    "bias",
  );
  await trainer.release();
});

Deno.test("SGD with momentum and weight decay follows torch.optim.SGD over two steps", async () => {
  const lr = 0.1, momentum = 0.9, wd = 0.01;
  const trainer = await trainerFor(sgd({ lr, momentum, weightDecay: wd }));
  let w = [...W0], b = [...B0];
  let bufW: number[] | null = null, bufB: number[] | null = null;
  for (let step = 0; step < 2; step++) {
    const { loss, dW, db } = handGradients(w, b);
    const gW = dW.map((g, i) => g + wd * w[i]), gB = db.map((g, i) => g + wd * b[i]);
    bufW = bufW ? bufW.map((m, i) => momentum * m + gW[i]) : gW;
    bufB = bufB ? bufB.map((m, i) => momentum * m + gB[i]) : gB;
    w = w.map((v, i) => v - lr * bufW![i]);
    b = b.map((v, i) => v - lr * bufB![i]);
    const got = await trainer.step(batch());
    assertClose([got], [loss], 1e-6, `loss at step ${step}`);
  }
  assertClose(trainer.params.get("0.weight")!.data as Float32Array, w, 1e-6, "weight");
  assertClose(trainer.params.get("0.bias")!.data as Float32Array, b, 1e-6, "bias");
  await trainer.release();
});

Deno.test("the learning rate is a graph input: changing it needs no recompile", async () => {
  const trainer = await trainerFor(sgd({ lr: 0.5 }));
  trainer.hyper.set("lr", 0);
  await trainer.step(batch());
  assertClose(trainer.params.get("0.weight")!.data as Float32Array, W0, 1e-7, "unchanged weight");
  trainer.hyper.set("lr", 0.5);
  await trainer.step(batch());
  assert.ok(
    Math.abs((trainer.params.get("0.weight")!.data as Float32Array)[0] - 0.18688558) < 1e-6,
  );
  await trainer.release();
});
