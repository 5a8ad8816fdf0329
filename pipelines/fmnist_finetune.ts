/**
 * Fine-tunes an ONNX model exported by another tool (or by onnxtrain's `--export`) on
 * FashionMNIST: the model's float initializers become parameters, named by their ONNX names, and
 * Adam trains them; flags and log are those of `pipelines/fmnist.ts`. The model must take
 * `[N, 1, 28, 28]` images and give `[N, 10]` logits.
 *
 *     deno run -P pipelines/fmnist_finetune.ts MODEL.onnx [--data-dir ROOT] [--epochs N] [--lr X]
 * @module
 */
import { adam, crossEntropy, fashionMnist, fromOnnx, pipeline, runCli } from "../mod.ts";

/**
 * The fine-tuning pipeline for the ONNX model at `path`.
 *
 * @param path An `.onnx` file.
 * @returns The pipeline (3 epochs of Adam at lr 1e-4, batch 64).
 */
export function fmnistFinetune(path: string) {
  return pipeline()
    .data(fashionMnist({ root: "data" }), { batchSize: 64, shuffle: true })
    .model(fromOnnx(path))
    .loss(crossEntropy())
    .optimizer(adam({ lr: 1e-4 }))
    .epochs(3);
}

if (import.meta.main) {
  const [path, ...flags] = Deno.args;
  // --help shows the run's flags under this script's usage line (MODEL.onnx first).
  const cli = { script: "pipelines/fmnist_finetune.ts MODEL.onnx" };
  if (path === "--help" || path === "-h") {
    await runCli(() => fmnistFinetune(""), ["--help"], cli);
    console.log(
      "\nThis pipeline: FashionMNIST, Adam lr 0.0001, batch 64, 3 epochs.\n" +
        "MODEL.onnx must take [N, 1, 28, 28] images and give [N, 10] logits; its float " +
        "initializers are\ntrained, named by their ONNX names.",
    );
  } else if (!path || path.startsWith("-")) {
    console.error(
      "usage: deno run -P pipelines/fmnist_finetune.ts MODEL.onnx [flags] (--help for flags)",
    );
    Deno.exit(2);
  } else {
    // A factory, so that an unreadable model is a one-line error like any other.
    await runCli(() => fmnistFinetune(path), flags, cli);
  }
}
