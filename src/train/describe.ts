/**
 * A pipeline in one line, for `--help` and the plot's title: what it trains, on what, and how.
 * @module
 */
import { basename, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { PipelineProps } from "../dsl/pipeline.ts";

const DATA_NAMES: Readonly<Record<string, string>> = {
  "fashion-mnist": "FashionMNIST",
  mnist: "MNIST",
  kmnist: "KMNIST",
  emnist: "EMNIST",
  cifar10: "CIFAR-10",
  tensor: "in-memory tensors",
  idx: "IDX files",
  "image-folder": "image folders",
};

const OPTIMIZER_NAMES: Readonly<Record<string, string>> = {
  sgd: "SGD",
  adam: "Adam",
  adamW: "AdamW",
  rmsprop: "RMSprop",
  adagrad: "Adagrad",
};

/** The model in a few words: "sequential of 5 layers", "ONNX model cnn.onnx", "linear". */
function describeModel(model: PipelineProps["model"]): string | undefined {
  if (model === undefined) return undefined;
  const m = model as { kind: string; layers?: readonly unknown[]; source?: string };
  if (m.kind === "sequential") return `sequential of ${m.layers?.length ?? 0} layers`;
  if (m.kind === "onnx") return `ONNX model ${basename(m.source ?? "")}`;
  return m.kind;
}

/**
 * The pipeline in one line: its data, model, loss, optimizer with its learning rate, batch size,
 * epochs and schedule, the parts given so far.
 *
 * @param props The pipeline's description (`pipeline().props`).
 * @param overrides Values that replace the pipeline's (the command line's `--lr`, `--epochs`, …).
 * @returns E.g. "FashionMNIST · sequential of 5 layers · cross-entropy · SGD lr 0.001 · batch 64 ·
 * 10 epochs".
 * @example
 * ```ts
 * import { crossEntropy, fashionMnist, linear, pipeline, sgd } from "../../mod.ts";
 * import { describePipeline } from "./describe.ts";
 * const p = pipeline().data(fashionMnist(), { batchSize: 64 }).model(linear(784, 10))
 *   .loss(crossEntropy()).optimizer(sgd({ lr: 1e-3 })).epochs(10);
 * const line = describePipeline(p.props);
 * if (line !== "FashionMNIST · linear · cross-entropy · SGD lr 0.001 · batch 64 · 10 epochs") {
 *   throw new Error(line);
 * }
 * ```
 */
export function describePipeline(
  props: PipelineProps,
  overrides: { readonly lr?: number; readonly epochs?: number; readonly batchSize?: number } = {},
): string {
  const optimizer = props.optimizer as { kind: string; lr?: number } | undefined;
  const lr = overrides.lr ?? optimizer?.lr;
  const epochs = overrides.epochs ?? props.epochs;
  const parts = [
    props.data && (DATA_NAMES[props.data.kind] ?? props.data.kind),
    describeModel(props.model),
    props.loss?.kind,
    optimizer &&
    `${OPTIMIZER_NAMES[optimizer.kind] ?? optimizer.kind}${lr === undefined ? "" : ` lr ${lr}`}`,
    props.schedule && `${props.schedule.kind} schedule`,
    `batch ${overrides.batchSize ?? props.batchSize}`,
    `${epochs} epoch${epochs === 1 ? "" : "s"}`,
  ];
  return parts.filter((p) => p).join(" · ");
}

/**
 * The running script, as the user would type it: relative to the working folder when inside it
 * (`pipelines/fmnist.ts`), else its file name; undefined when not run from a file.
 *
 * @returns The path, or undefined.
 * @example
 * ```ts
 * import { scriptName } from "./describe.ts";
 * const name = scriptName();
 * if (name !== undefined && !name.endsWith(".ts")) throw new Error(name);
 * ```
 */
export function scriptName(): string | undefined {
  if (!Deno.mainModule.startsWith("file:")) return undefined;
  const path = fileURLToPath(Deno.mainModule);
  let cwd: string;
  try {
    cwd = Deno.cwd();
  } catch {
    return basename(path);
  }
  const rel = relative(cwd, path);
  return rel.startsWith("..") ? basename(path) : rel;
}
