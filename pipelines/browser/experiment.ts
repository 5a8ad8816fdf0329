/**
 * The browser example's experiment, shared by the page (bundled for the browser), the server and
 * tests/browser_test.ts: the seed MLP pipeline (pipelines/fmnist.ts's model: 784-512-512-10 ReLU,
 * cross-entropy, SGD), its settings and its batches. It imports only browser-safe modules (the
 * DSL, the compiler, the ONNX emitter, the trainer, the loader), not `mod.ts`, whose data and
 * checkpoint modules import `node:*` builtins.
 * @module
 */
import type { CompiledModel } from "../../src/compile/compile.ts";
import { type Batch, createLoader } from "../../src/data/loader.ts";
import type { ImageSet } from "../../src/data/idx.ts";
import { fashionMnist } from "../../src/dsl/datasets.ts";
import { sequential } from "../../src/dsl/graph.ts";
import { flatten, linear, relu } from "../../src/dsl/layers.ts";
import { crossEntropy } from "../../src/dsl/losses.ts";
import { sgd } from "../../src/dsl/optimizers.ts";
import { createPipeline, type Pipeline } from "../../src/dsl/pipeline.ts";
import { compilePipeline } from "../../src/train/compile_pipeline.ts";
import { UserRangeError } from "../../src/util/user_error.ts";

/** Settings of one browser run; the page reads overrides from its query string. */
export interface Settings {
  /** Optimizer steps to take (the loader's epochs repeat as needed). */
  readonly steps: number;
  /** Samples per batch. */
  readonly batchSize: number;
  /** SGD learning rate. */
  readonly lr: number;
  /** Seed of parameter initialisation and shuffling. */
  readonly seed: number;
  /** onnxruntime-web's WebAssembly threads (above 1 only where the page is cross-origin isolated). */
  readonly threads: number;
}

/** The defaults: a few hundred steps at a learning rate large enough to see the loss fall. */
export const DEFAULT_SETTINGS: Settings = Object.freeze({
  steps: 300,
  batchSize: 64,
  lr: 0.05,
  seed: 0,
  threads: 1,
});

/** Sizes and seed of the synthetic FashionMNIST-shaped set the server generates by default. */
export const DATA = Object.freeze({ train: 2000, test: 500, seed: 1 });

/** Names of the IDX files the server serves under `/data/`, as torchvision stores them. */
export const IDX_FILES = Object.freeze({
  trainImages: "train-images-idx3-ubyte",
  trainLabels: "train-labels-idx1-ubyte",
  testImages: "t10k-images-idx3-ubyte",
  testLabels: "t10k-labels-idx1-ubyte",
});

/**
 * The seed pipeline of pipelines/fmnist.ts (PyTorch's "Optimizing Model Parameters" tutorial:
 * FashionMNIST, 784-512-512-10 ReLU MLP, cross-entropy, SGD), with the given learning rate and
 * batch size, bound to the compiler only (training runs in the page).
 *
 * @param settings Learning rate and batch size.
 * @returns The complete pipeline; `compile()` gives the train, eval and inference graphs.
 */
export function browserPipeline(
  settings: Pick<Settings, "lr" | "batchSize">,
): Pipeline<"data" | "model" | "loss" | "optimizer", CompiledModel, never, never> {
  return createPipeline<CompiledModel, never, never>({
    compile: (spec) => compilePipeline(spec),
    run: () => Promise.reject(new Error("The browser pipeline trains in the page, not with run()")),
  })
    .data(fashionMnist({ root: "data" }), { batchSize: settings.batchSize })
    .model(sequential(
      flatten(),
      linear(28 * 28, 512),
      relu(),
      linear(512, 512),
      relu(),
      linear(512, 10),
    ))
    .loss(crossEntropy())
    .optimizer(sgd({ lr: settings.lr }));
}

/**
 * The first `steps` training batches: the loader's shuffled epochs (seeded by `seed`), repeated
 * as needed, as the tutorial's loop visits them.
 *
 * @param set The training images.
 * @param settings Steps, batch size and seed.
 * @returns The batches, in order.
 */
export function* trainBatches(set: ImageSet, settings: Settings): Generator<Batch> {
  const loader = createLoader(set, {
    batchSize: settings.batchSize,
    shuffle: true,
    seed: settings.seed,
  });
  if (loader.batches === 0) throw new UserRangeError("Cannot train: the training set is empty");
  let taken = 0;
  while (taken < settings.steps) {
    for (const batch of loader) {
      if (taken++ >= settings.steps) return;
      yield batch;
    }
  }
}

/**
 * The test batches, in order, unshuffled.
 *
 * @param set The test images.
 * @param batchSize Samples per batch.
 * @returns The loader.
 */
export function testBatches(set: ImageSet, batchSize: number): Iterable<Batch> {
  return createLoader(set, { batchSize });
}

/**
 * Images as the exported inference model takes them: float32 in [0, 1] (ToTensor).
 *
 * @param pixels uint8 pixels.
 * @returns The scaled values.
 */
export function toTensor(pixels: Uint8Array): Float32Array {
  return Float32Array.from(pixels, (v) => v / 255);
}

/** What the page reports when a run is done (also `window.onnxtrainResult`). */
export interface RunReport {
  readonly settings: Settings;
  /** Where the images came from: `synthetic` or the data folder's name. */
  readonly data: string;
  /** Each step's mean batch loss. */
  readonly losses: readonly number[];
  /** Milliseconds per training step (wall clock, averaged over all steps). */
  readonly msPerStep: number;
  /** Milliseconds to compile the pipeline's graphs in the page. */
  readonly compileMs: number;
  /** Test set average loss and accuracy (fraction) after training. */
  readonly test: { readonly avgLoss: number; readonly accuracy: number };
  /** Byte length of the downloadable model.onnx (read back from its Blob URL). */
  readonly modelBytes: number;
  /** Logits of the downloaded model on the first `logitsSamples` test images. */
  readonly logits: readonly number[];
  readonly logitsSamples: number;
  /** `navigator.userAgent`. */
  readonly userAgent: string;
}
