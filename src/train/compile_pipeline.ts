/**
 * Compiles a complete pipeline description: the one step from the DSL's pipeline to the compiler
 * that knows about datasets (uint8 images, augmentation, normalisation, one-hot targets) and
 * schedules. It imports no `node:` module, so the browser example bundles it.
 * @module
 */
import { type CompiledModel, compileModel, type ModelSpec } from "../compile/compile.ts";
import type { CompletePipelineProps } from "../dsl/pipeline.ts";
import { scheduledOptimizer } from "./schedule.ts";

/**
 * Compiles a pipeline for its dataset's sample shape: image datasets give uint8 batches that the
 * graphs convert (ToTensor, any augmentation and normalisation in the graphs).
 *
 * @param spec The pipeline.
 * @param lr Overrides the optimizer's learning rate.
 * @returns The compiled graphs.
 * @example
 * ```ts
 * import { crossEntropy, linear, pipeline, sgd, tensorDataset } from "../../mod.ts";
 * import { compilePipeline } from "./compile_pipeline.ts";
 * const xs = Float32Array.of(0, 1, 1, 0);
 * const data = tensorDataset({
 *   train: { x: xs, y: [0, 1] },
 *   test: { x: xs, y: [0, 1] },
 *   sampleShape: [2],
 * });
 * const p = pipeline().data(data).model(linear(2, 2)).loss(crossEntropy()).optimizer(
 *   sgd({ lr: 0.1 }),
 * );
 * const compiled = compilePipeline(p.props as Parameters<typeof compilePipeline>[0], 0.1);
 * if (compiled.sampleShape.join() !== "2") throw new Error();
 * ```
 */
export function compilePipeline(spec: CompletePipelineProps, lr?: number): CompiledModel {
  return compileModel(pipelineModelSpec(spec, lr));
}

/**
 * What a pipeline compiles: its data signature, model, loss and (scheduled) optimizer.
 *
 * @param spec The complete pipeline.
 * @param lr A learning rate replacing the optimizer's (the command line's `--lr`).
 * @returns The model spec `compileModel` and `compileDataParallel` take.
 */
export function pipelineModelSpec(spec: CompletePipelineProps, lr?: number): ModelSpec {
  const optimizer = lr === undefined ? spec.optimizer : { ...spec.optimizer, lr };
  return {
    data: {
      ...spec.data,
      // Image sets stay uint8 until the graphs convert them (ToTensor, augmentation in-graph).
      ...(spec.data.kind === "tensor" ? {} : { inputDtype: "uint8" as const }),
      ...(spec.augment ? { augment: spec.augment } : {}),
      ...(spec.normalize ? { normalize: spec.normalize } : {}),
      ...(spec.oneHot ? { oneHot: true } : {}),
    },
    model: spec.model,
    loss: spec.loss,
    optimizer: scheduledOptimizer(optimizer, spec.schedule),
  };
}
