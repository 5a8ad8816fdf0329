/**
 * Cross-check with PyTorch, onnxtrain side, for the CNN (conv–batchNorm–relu–maxPool twice, then
 * linear; no dropout) under several optimizers. From seed-1 initial weights (written as ONNX for
 * PyTorch to load, running statistics included), runs STEPS steps of each optimizer on ROOT's
 * training set, then the test loop, and prints per-step losses and the final running statistics
 * as JSON. `torch_cnn_steps.py` does the same in PyTorch and compares.
 *
 * With a third argument DIR it also writes, for every step, the parameters, buffers and optimizer
 * state it started from (`DIR/<optimizer>.f32`, float32 in the order of `DIR/<optimizer>.json`), so
 * the torch side can check each step in lockstep: from identical state, one step in each framework.
 *
 *     deno run -P bench/crosscheck/cnn_steps.ts ROOT STEPS [DIR] > onnxtrain_cnn.json
 * @module
 */
import {
  adam,
  adamW,
  compileModel,
  crossEntropy,
  type Optimizer,
  rmsprop,
  sequential,
  sgd,
} from "../../mod.ts";
import { cnn } from "../../pipelines/fmnist_cnn.ts";
import { loadDataset } from "../../src/data/datasets.ts";
import { createLoader } from "../../src/data/loader.ts";
import { createTrainer } from "../../src/train/trainer.ts";
import { fashionMnist } from "../../src/dsl/datasets.ts";
import { writeFileAtomic } from "../../src/io/atomic_write.ts";
import { intArg, oneLineErrors } from "../_cli.ts";

oneLineErrors("cnn_steps");
const [root = "bench/data", stepsText = "100", lockstepDir] = Deno.args;
const steps = intArg("STEPS", stepsText);

/** The CNN of `pipelines/fmnist_cnn.ts` without dropout (so the linear layer is `9`). */
const model = sequential(...cnn.layers.filter((layer) => layer.kind !== "dropout"));

const OPTIMIZERS: Record<string, Optimizer> = {
  "sgd_nesterov": sgd({ lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 1e-4 }),
  "adam": adam({ lr: 1e-3 }),
  "adam_amsgrad": adam({ lr: 1e-3, amsgrad: true, weightDecay: 1e-4 }),
  "adamw": adamW({ lr: 1e-3, weightDecay: 0.01 }),
  "rmsprop": rmsprop({ lr: 1e-3, momentum: 0.9, centered: true }),
};

const data = fashionMnist({ root, download: false });
const splits = await loadDataset(data, { root });
const runs: Record<string, unknown> = {};
let wroteInit = false;
for (const [name, optimizer] of Object.entries(OPTIMIZERS)) {
  const compiled = compileModel({
    data: { ...data, inputDtype: "uint8" },
    model,
    loss: crossEntropy(),
    optimizer,
  });
  const trainer = await createTrainer(compiled, { seed: 1 });
  if (!wroteInit) {
    await writeFileAtomic(`${root}/cnn_init.onnx`, trainer.exportModel());
    wroteInit = true;
  }
  const losses: number[] = [];
  const snapshots: Float32Array[] = [];
  const tensors = () => [...trainer.params, ...trainer.buffers, ...trainer.state];
  const snapshot = () => {
    for (const [, t] of tensors()) {
      snapshots.push(Float32Array.from(t.data as ArrayLike<number>, Number));
    }
  };
  let busy = 0;
  for (const batch of createLoader(splits.train, { batchSize: 64 })) {
    if (lockstepDir) snapshot();
    if (losses.length === steps) break;
    const start = performance.now();
    losses.push(await trainer.step(batch));
    busy += performance.now() - start;
  }
  const msPerStep = busy / steps;
  if (lockstepDir) {
    const index = tensors().map(([key, t]) => ({ name: key, shape: t.dims }));
    const total = snapshots.reduce((n, a) => n + a.length, 0);
    const all = new Float32Array(total);
    let offset = 0;
    for (const a of snapshots) all.set(a, (offset += a.length) - a.length);
    await Deno.mkdir(lockstepDir, { recursive: true });
    await writeFileAtomic(
      `${lockstepDir}/${name}.json`,
      new TextEncoder().encode(JSON.stringify(index)),
    );
    await writeFileAtomic(`${lockstepDir}/${name}.f32`, new Uint8Array(all.buffer));
  }
  const r = await trainer.evaluate(createLoader(splits.test, { batchSize: 64 }));
  const stat = (key: string) => Array.from(trainer.buffers.get(key)!.data as Float32Array);
  runs[name] = {
    losses,
    msPerStep,
    testLoss: r.batchLossSum / r.batches,
    accuracy: r.correct / r.samples,
    runningMean: stat("5.running_mean"),
    runningVar: stat("5.running_var"),
  };
  await trainer.release();
}
console.log(JSON.stringify({ steps, runs }));
