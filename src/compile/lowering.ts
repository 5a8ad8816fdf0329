/**
 * What a layer lowering works with: the lowering context (builder, mode, parameter and buffer
 * declarations), the registry of what a graph declared, and the types of the per-kind lowering
 * tables. `lower_model.ts` combines the tables of `lower_layers.ts`, `lower_conv.ts`,
 * `lower_norm.ts` and `lower_onnx.ts`, which import their contract from here.
 * @module
 */
import type { Layer, LayerKind } from "../dsl/layer_types.ts";
import type { GraphBuilder } from "../ir/builder.ts";
import type { Shape, Value } from "../ir/types.ts";
import type { BufferSpec, Init, LayerSummary, ParamSpec, RandomSpec } from "./params.ts";

/**
 * Whether a graph computes a training step or evaluation (dropout, batch norm differ).
 *
 * @example
 * ```ts
 * import { compileInputTransform, type Mode } from "../../mod.ts";
 * const mode: Mode = "eval";
 * const g = compileInputTransform({ sampleShape: [2], classes: 2 }, mode);
 * if (g.inputs[0].name !== "input") throw new Error();
 * ```
 */
export type Mode = "train" | "eval";

/** What a layer lowering can use. */
export interface LowerContext {
  readonly b: GraphBuilder;
  readonly mode: Mode;
  /** Declares (or reuses) a parameter and returns its value in the graph. */
  param(name: string, shape: readonly number[], init: Init): Value;
  /** Declares (or reuses) a buffer and returns its current value (the latest update, if any). */
  buffer(name: string, shape: readonly number[], init: Init, dtype?: "float32" | "int64"): Value;
  /** Sets a buffer's next value (train graph only); the graph outputs it as `${name}.next`. */
  updateBuffer(name: string, next: Value): void;
  /** Declares a dropout mask input of the train graph (drawn by the trainer each step). */
  mask(name: string, shape: Shape, p: number): Value;
  /** What has been declared so far, and the summary rows. */
  readonly registry: Registry;
}

/** A lowering of one layer kind. */
export type Lowering<K extends LayerKind> = (
  layer: Extract<Layer, { kind: K }>,
  x: Value,
  ctx: LowerContext,
  path: string,
) => Value;

/** A table of lowerings for some layer kinds. */
export type Lowerings<K extends LayerKind> = { readonly [P in K]: Lowering<P> };

/** `path.name`, or `name` at the top. */
export const join = (path: string, name: string | number): string =>
  path ? `${path}.${name}` : `${name}`;

/** What a graph's lowering declared: parameters, buffers, masks, and the summary rows. */
export interface Registry {
  readonly params: { spec: ParamSpec; value: Value }[];
  readonly buffers: { spec: BufferSpec; value: Value; next?: Value }[];
  readonly masks: { spec: RandomSpec; value: Value }[];
  readonly summary: LayerSummary[];
  /** What the lowering wants the user told once (how an imported model was read). */
  readonly notes: string[];
  counts(): { params: number; buffers: number };
}
