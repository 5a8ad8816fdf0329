/**
 * Benchmark: seconds per training epoch (batch 64, 938 steps) on a generated FashionMNIST-shaped
 * set of 60 000 + 10 000 images, for the tutorial's MLP (`--pipeline mlp`, the default; target
 * ≤ 3 s per epoch on the 2-core machine), the CNN of `pipelines/fmnist_cnn.ts` (`cnn`) or the
 * residual network of `pipelines/fmnist_resnet.ts` (`resnet`).
 * `bench/crosscheck/torch_epoch.py` times the same models in PyTorch.
 * Each epoch also reports the data pipeline's share of its training time (producing batches; the
 * target is under 5 %); `--no-prefetch` turns off building the next batch before awaiting the
 * current step, and `--compare-prefetch` runs with and without it and prints both.
 *
 *     deno run -P bench/epoch.ts [--pipeline mlp|cnn|resnet] [--epochs N] [--threads N]
 *       [--device cpu|cuda] [--data-dir ROOT] [--no-prefetch | --compare-prefetch]
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fmnist } from "../pipelines/fmnist.ts";
import { fmnistCnn } from "../pipelines/fmnist_cnn.ts";
import { fmnistResnet } from "../pipelines/fmnist_resnet.ts";
import { writeSyntheticFashionMnist } from "../src/data/synthetic.ts";
import type { Device } from "../src/runtime/session.ts";
import type { EpochResult } from "../src/train/run.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    epochs: { type: "string", default: "3" },
    pipeline: { type: "string", default: "mlp" },
    threads: { type: "string" },
    device: { type: "string", default: "cpu" },
    "data-dir": { type: "string", default: "bench/data" },
    "no-prefetch": { type: "boolean", default: false },
    "compare-prefetch": { type: "boolean", default: false },
  },
});
const root = values["data-dir"];
if (!existsSync(join(root, "FashionMNIST", "raw", "t10k-labels-idx1-ubyte"))) {
  await writeSyntheticFashionMnist(root, { train: 60000, test: 10000, seed: 1 });
}

const pipelines = { mlp: fmnist, cnn: fmnistCnn, resnet: fmnistResnet } as const;
const name = values.pipeline as keyof typeof pipelines;
if (!(name in pipelines)) {
  throw new RangeError(`Unknown --pipeline ${name}: use mlp, cnn or resnet`);
}
const train = (prefetch: boolean) =>
  pipelines[name].run({
    dataDir: root,
    epochs: Number(values.epochs),
    seed: 1,
    device: values.device as Device,
    threads: values.threads ? Number(values.threads) : undefined,
    log: () => {},
    prefetch,
  });
/** The data pipeline's share of the training time over all epochs of a run. */
function dataShare(label: string, epochs: readonly EpochResult[]) {
  const data = epochs.reduce((a, e) => a + e.dataSeconds, 0);
  const total = epochs.reduce((a, e) => a + e.trainSeconds, 0);
  console.log(
    `data pipeline (${label}): ${data.toFixed(3)} s of ${total.toFixed(2)} s training ` +
      `(${(100 * data / total).toFixed(2)} %, target < 5 %)`,
  );
}
if (values["compare-prefetch"]) dataShare("prefetch off", (await train(false)).epochs);
const prefetch = !values["no-prefetch"];
const result = await train(prefetch);
const seconds = result.epochs.map((e) => e.trainSeconds);
const best = Math.min(...seconds);
const mean = seconds.reduce((a, s) => a + s, 0) / seconds.length;
const rssMiB = Deno.memoryUsage().rss / 2 ** 20;
console.log(
  `${name}: device ${values.device}, threads ${
    values.threads ?? "default"
  }, cores ${navigator.hardwareConcurrency}`,
);
for (const e of result.epochs) {
  console.log(
    `epoch ${e.epoch}: train ${e.trainSeconds.toFixed(2)} s (${
      (e.trainSeconds / 938 * 1000).toFixed(2)
    } ms/step), ` +
      `train loss ${e.trainLoss.toFixed(4)}, test loss ${e.testLoss.toFixed(4)}, accuracy ${
        (100 * e.accuracy).toFixed(1)
      }%`,
  );
}
console.log(
  `seconds per training epoch: best ${best.toFixed(2)}, mean ${mean.toFixed(2)}${
    name === "mlp" ? " (target ≤ 3.00)" : ""
  }`,
);
dataShare(prefetch ? "prefetch on" : "prefetch off", result.epochs);
console.log(`peak-ish RSS: ${rssMiB.toFixed(0)} MiB`);
