/**
 * PyTorch's "Optimizing Model Parameters" tutorial on MNIST: the pipeline of `pipelines/fmnist.ts`
 * (784-512-512-10 ReLU MLP, cross-entropy, SGD lr 1e-3, batch 64, 10 epochs) with MNIST's data.
 *
 *     deno run -P pipelines/mnist.ts [--data-dir ROOT] [--epochs N] [--export model.onnx]
 * @module
 */
import { mnist, runCli } from "../mod.ts";
import { fmnist } from "./fmnist.ts";

/** The tutorial's pipeline, on MNIST (builders are immutable: `fmnist` is unchanged). */
export const mnistMlp = fmnist.data(mnist({ root: "data" }), { batchSize: 64 });

if (import.meta.main) await runCli(mnistMlp);
