/**
 * PyTorch's "Optimizing Model Parameters" tutorial, declared with onnxtrain: MNIST, a
 * 784-512-512-10 ReLU MLP, cross-entropy, SGD lr 1e-3, batch 64, 10 epochs.
 *
 *     deno run -P pipelines/mnist.ts [--data-dir ROOT] [--epochs N] [--export model.onnx]
 * @module
 */
import {
  crossEntropy,
  flatten,
  linear,
  mnist,
  pipeline,
  relu,
  runCli,
  sequential,
  sgd,
} from "../mod.ts";

/** The tutorial's pipeline, on MNIST. */
export const mnistMlp = pipeline()
  .data(mnist({ root: "data" }), { batchSize: 64 })
  .model(sequential(
    flatten(),
    linear(28 * 28, 512),
    relu(),
    linear(512, 512),
    relu(),
    linear(512, 10),
  ))
  .loss(crossEntropy())
  .optimizer(sgd({ lr: 1e-3 }))
  .epochs(10);

if (import.meta.main) await runCli(mnistMlp);
