/**
 * A small CNN for CIFAR-10: three conv–batchNorm–relu–maxPool blocks (32, 64, 128 channels),
 * then linear; trained with Adam on randomly cropped (padding 4) and flipped images. Same flags
 * and log format as `pipelines/fmnist.ts`.
 *
 *     deno run -P pipelines/cifar10.ts [--data-dir ROOT] [--epochs N] [--export model.onnx]
 * @module
 */
import {
  adam,
  batchNorm2d,
  cifar10,
  conv2d,
  crossEntropy,
  flatten,
  linear,
  maxPool2d,
  pipeline,
  relu,
  runCli,
  sequential,
} from "../mod.ts";

/** The CNN (parameter names as PyTorch's `nn.Sequential` of the same layers: `0.weight`, …). */
export const cifarCnn = sequential(
  conv2d(3, 32, 3, { padding: 1 }),
  batchNorm2d(32),
  relu(),
  maxPool2d(2),
  conv2d(32, 64, 3, { padding: 1 }),
  batchNorm2d(64),
  relu(),
  maxPool2d(2),
  conv2d(64, 128, 3, { padding: 1 }),
  batchNorm2d(128),
  relu(),
  maxPool2d(2),
  flatten(),
  linear(128 * 4 * 4, 10),
);

/**
 * The CIFAR-10 pipeline: batch 64, training images randomly cropped (32, padding 4) and flipped,
 * Adam at lr 1e-3, 10 epochs.
 */
export const cifar10Cnn = pipeline()
  .data(cifar10({ root: "data" }), {
    batchSize: 64,
    augment: { randomCrop: { size: 32, padding: 4 }, horizontalFlip: true },
  })
  .model(cifarCnn)
  .loss(crossEntropy())
  .optimizer(adam({ lr: 1e-3 }))
  .epochs(10);

if (import.meta.main) await runCli(cifar10Cnn);
