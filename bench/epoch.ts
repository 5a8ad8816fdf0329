/**
 * Benchmark: seconds per training epoch of the tutorial's pipeline (784-512-512-10 MLP, batch 64,
 * 938 steps) on a generated FashionMNIST-shaped set of 60 000 + 10 000 images. Target: ≤ 3 s per
 * epoch on the 2-core machine.
 *
 *     deno run -P bench/epoch.ts [--epochs N] [--threads N] [--device cpu|cuda] [--data-dir ROOT]
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fmnist } from "../pipelines/fmnist.ts";
import { writeSyntheticFashionMnist } from "../src/data/synthetic.ts";
import type { Device } from "../src/runtime/session.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    epochs: { type: "string", default: "3" },
    threads: { type: "string" },
    device: { type: "string", default: "cpu" },
    "data-dir": { type: "string", default: "bench/data" },
  },
});
const root = values["data-dir"];
if (!existsSync(join(root, "FashionMNIST", "raw", "t10k-labels-idx1-ubyte"))) {
  await writeSyntheticFashionMnist(root, { train: 60000, test: 10000, seed: 1 });
}

const result = await fmnist.run({
  dataDir: root,
  epochs: Number(values.epochs),
  seed: 1,
  device: values.device as Device,
  threads: values.threads ? Number(values.threads) : undefined,
  log: () => {},
});
const seconds = result.epochs.map((e) => e.trainSeconds);
const best = Math.min(...seconds);
const mean = seconds.reduce((a, s) => a + s, 0) / seconds.length;
const rssMiB = Deno.memoryUsage().rss / 2 ** 20;
console.log(
  `device ${values.device}, threads ${
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
  `seconds per training epoch: best ${best.toFixed(2)}, mean ${mean.toFixed(2)} (target ≤ 3.00)`,
);
console.log(`peak-ish RSS: ${rssMiB.toFixed(0)} MiB`);
