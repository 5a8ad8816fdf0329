/**
 * The float-order noise floor of one process, for judging data-parallel runs: the FashionMNIST
 * CNN (without dropout, whose masks follow rows) trains twice on the same 16 batches of 12
 * generated images, the second time with the rows of every batch in reverse order — the same
 * samples, the same mathematics, another summation order. Prints, for SGD with momentum and for
 * Adam, the worst per-step relative loss difference and the two final evaluation losses. A
 * data-parallel run differs from one process by its summation order only, so its differences are
 * judged against these (docs/scaling.md).
 *
 * With ROOT (a FashionMNIST folder, e.g. the generated `bench/data`) it does the same over one
 * epoch of shuffled FashionMNIST batches of 64 (938 steps), and also prints the median per-step
 * difference.
 *
 *     deno run -P bench/crosscheck/order_noise.ts [ROOT]
 * @module
 */
import { adam, compileModel, createTrainer, crossEntropy, sequential, sgd } from "../../mod.ts";
import { cnn } from "../../pipelines/fmnist_cnn.ts";
import type { Batch } from "../../src/data/batch.ts";
import { createRng } from "../../src/util/random.ts";
import { loadFashionMnist } from "../../src/data/fashion_mnist.ts";
import { createLoader } from "../../src/data/loader.ts";
import { oneLineErrors } from "../_cli.ts";

oneLineErrors("order_noise");
const model = sequential(...cnn.layers.filter((l) => l.kind !== "dropout"));
const root = Deno.args[0];
const pixels = 28 * 28;
let batches: Batch[];
if (root) {
  const { train } = await loadFashionMnist({ root, download: false, progress: false });
  batches = [...createLoader(train, { batchSize: 64, shuffle: true, seed: 1 })];
} else {
  const rng = createRng(21), size = 12;
  batches = Array.from({ length: 16 }, () => {
    const x = Float32Array.from({ length: size * pixels }, () => 2 * rng.nextFloat() - 1);
    const y = BigInt64Array.from(
      { length: size },
      (_, i) =>
        BigInt((x[pixels * i] + x[pixels * i + 1] > 0 ? 1 : 0) + (x[pixels * i + 2] > 0.3 ? 1 : 0)),
    );
    return { x, y, size };
  });
}
const reversed: Batch[] = batches.map((b) => {
  const Ctor = b.x.constructor as Float32ArrayConstructor;
  const x = new Ctor(b.x.length), y = new BigInt64Array(b.size);
  for (let i = 0; i < b.size; i++) {
    const from = b.size - 1 - i;
    x.set((b.x as Float32Array).subarray(from * pixels, (from + 1) * pixels), i * pixels);
    y[i] = (b.y as BigInt64Array)[from];
  }
  return { x, y, size: b.size };
});
const report: Record<string, unknown> = {};
for (
  const [name, optimizer] of [["sgd", sgd({ lr: 0.05, momentum: 0.9 })], [
    "adam",
    adam({ lr: 0.01 }),
  ]] as const
) {
  const compiled = compileModel({
    data: {
      sampleShape: [1, 28, 28],
      classes: 10,
      ...(root ? { inputDtype: "uint8" as const } : {}),
    },
    model,
    loss: crossEntropy(),
    optimizer,
  });
  const a = await createTrainer(compiled, { seed: 3, threads: 1 });
  const b = await createTrainer(compiled, { seed: 3, threads: 1 });
  const diffs: number[] = [];
  for (let i = 0; i < batches.length; i++) {
    const la = await a.step(batches[i]), lb = await b.step(reversed[i]);
    diffs.push(Math.abs(la - lb) / Math.max(1, Math.abs(la)));
  }
  const worst = Math.max(...diffs);
  const median = [...diffs].sort((p, q) => p - q)[diffs.length >> 1];
  const ea = await a.evaluate(batches), eb = await b.evaluate(batches);
  report[name] = {
    steps: diffs.length,
    worst_step_loss_rel_diff: Number(worst.toExponential(2)),
    median_step_loss_rel_diff: Number(median.toExponential(2)),
    eval_loss: [ea.lossSum / ea.samples, eb.lossSum / eb.samples],
  };
  await a.release();
  await b.release();
}
console.log(JSON.stringify(report));
