/**
 * Cross-check with PyTorch, onnxtrain side: from seed-1 initial weights (written as an ONNX model
 * for PyTorch to load), runs the tutorial's first STEPS SGD steps on ROOT's training set, then
 * the test loop, and prints the losses as JSON. `torch_steps.py` does the same in PyTorch.
 *
 *     deno run -P bench/crosscheck/onnxtrain_steps.ts ROOT STEPS > onnxtrain.json
 * @module
 */
import { fmnist } from "../../pipelines/fmnist.ts";
import { loadDataset } from "../../src/data/datasets.ts";
import { createLoader } from "../../src/data/loader.ts";
import { createTrainer } from "../../src/train/trainer.ts";
import { writeFileAtomic } from "../../src/io/atomic_write.ts";
import { intArg, oneLineErrors } from "../_cli.ts";

oneLineErrors("onnxtrain_steps");
const [root = "bench/data", stepsText = "100"] = Deno.args;
const steps = intArg("STEPS", stepsText);
const compiled = fmnist.compile();
const trainer = await createTrainer(compiled, { seed: 1 });
await writeFileAtomic(`${root}/init.onnx`, trainer.exportModel());
const splits = await loadDataset(fmnist.props.data!, { root });
const losses: number[] = [];
for (const batch of createLoader(splits.train, { batchSize: 64 })) {
  if (losses.length === steps) break;
  losses.push(await trainer.step(batch));
}
const r = await trainer.evaluate(createLoader(splits.test, { batchSize: 64 }));
console.log(JSON.stringify({
  losses,
  testLoss: r.batchLossSum / r.batches,
  accuracy: r.correct / r.samples,
}));
await trainer.release();
