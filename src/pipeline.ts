/**
 * `pipeline()`: the DSL's builder bound to the compiler and the training loop.
 * @module
 */
import type { CompiledModel } from "./compile/compile.ts";
import { createPipeline, type Pipeline } from "./dsl/pipeline.ts";
import { compilePipeline, type RunOptions, runPipeline, type RunResult } from "./train/run.ts";

/**
 * A pipeline bound to onnxtrain's compiler and trainer.
 *
 * @example
 * ```ts
 * import { linear, pipeline, type TrainingPipeline } from "../mod.ts";
 * const p: TrainingPipeline<"model"> = pipeline().model(linear(2, 2));
 * if (p.props.model?.kind !== "linear") throw new Error();
 * ```
 */
export type TrainingPipeline<Set extends "data" | "model" | "loss" | "optimizer" = never> =
  Pipeline<
    Set,
    CompiledModel,
    RunOptions,
    RunResult
  >;

/**
 * Starts a pipeline: set data, model, loss and optimizer, then `run()` or `compile()`.
 *
 * @returns An empty pipeline.
 * @example
 * ```ts
 * import {
 *   crossEntropy,
 *   fashionMnist,
 *   flatten,
 *   linear,
 *   pipeline,
 *   relu,
 *   sequential,
 *   sgd,
 * } from "../mod.ts";
 * const p = pipeline()
 *   .data(fashionMnist({ root: "data" }), { batchSize: 64 })
 *   .model(sequential(flatten(), linear(784, 512), relu(), linear(512, 10)))
 *   .loss(crossEntropy())
 *   .optimizer(sgd({ lr: 1e-3 }));
 * const compiled = p.compile();
 * if (compiled.params.map((q) => q.name).join() !== "1.weight,1.bias,3.weight,3.bias") {
 *   throw new Error("unexpected parameters");
 * }
 * ```
 */
export function pipeline(): TrainingPipeline {
  return createPipeline({
    compile: (props) => compilePipeline(props),
    run: (props, options) => runPipeline(props, options),
  });
}
