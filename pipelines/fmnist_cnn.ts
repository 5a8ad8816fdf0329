/**
 * A small CNN for FashionMNIST: conv–batchNorm–relu–maxPool twice, dropout, linear; trained with
 * Adam and a step schedule. Same flags and log format as `pipelines/fmnist.ts`.
 *
 *     deno run -P pipelines/fmnist_cnn.ts [--data-dir ROOT] [--epochs N] [--export model.onnx]
 * @module
 */
import {
  adam,
  batchNorm2d,
  conv2d,
  crossEntropy,
  dropout,
  fashionMnist,
  flatten,
  linear,
  maxPool2d,
  pipeline,
  relu,
  runCli,
  sequential,
  stepLR,
} from "../mod.ts";

/** The CNN (parameter names as PyTorch's `nn.Sequential` of the same layers: `0.weight`, `1.running_mean`, …). */
export const cnn = sequential(
  conv2d(1, 16, 3, { padding: 1 }),
  batchNorm2d(16),
  relu(),
  maxPool2d(2),
  conv2d(16, 32, 3, { padding: 1 }),
  batchNorm2d(32),
  relu(),
  maxPool2d(2),
  flatten(),
  dropout(0.25),
  linear(32 * 7 * 7, 10),
);

/** The CNN pipeline. */
export const fmnistCnn = pipeline()
  .data(fashionMnist({ root: "data" }), { batchSize: 64 })
  .model(cnn)
  .loss(crossEntropy())
  .optimizer(adam({ lr: 1e-3 }))
  .schedule(stepLR({ stepSize: 4, gamma: 0.5 }))
  .epochs(10);

if (import.meta.main) await runCli(fmnistCnn);
