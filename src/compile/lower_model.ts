/** Lowers DSL layers to IR nodes; one lowering per layer kind. @module */
import { describeLayer, type Layer, type LayerKind } from "../dsl/layers.ts";
import type { GraphBuilder } from "../ir/builder.ts";
import { CompileError } from "../ir/errors.ts";
import { formatShape, type Value } from "../ir/types.ts";
import type { Init, ParamSpec } from "./params.ts";

/** Whether a graph computes a training step or evaluation (dropout, batch norm differ). */
export type Mode = "train" | "eval";

/** What a layer lowering can use. */
export interface LowerContext {
  readonly b: GraphBuilder;
  readonly mode: Mode;
  /** Declares (or reuses) a parameter and returns its value in the graph. */
  param(name: string, shape: readonly number[], init: Init): Value;
}

type Lowering<K extends LayerKind> = (
  layer: Extract<Layer, { kind: K }>,
  x: Value,
  ctx: LowerContext,
  path: string,
) => Value;

const join = (path: string, name: string | number) => (path ? `${path}.${name}` : `${name}`);

const LOWERINGS: { readonly [K in LayerKind]: Lowering<K> } = {
  flatten: (_layer, x, { b }) => b.op1("Flatten", [x], { axis: 1 }),
  relu: (_layer, x, { b }) => b.op1("Relu", [x]),
  linear: (layer, x, { b, param }, path) => {
    const s = x.type.shape;
    if (s.length !== 2) {
      throw new CompileError(
        `expects input of shape [N, ${layer.inFeatures}], got ${
          formatShape(s)
        } (add flatten() before it?)`,
      );
    }
    if (s[1] !== layer.inFeatures) {
      throw new CompileError(
        `expects ${layer.inFeatures} input features, got ${s[1]} (input shape ${formatShape(s)})`,
      );
    }
    // PyTorch's default: kaiming_uniform_(a=√5) for the weight, i.e. U(±1/√fan_in), and the same
    // bound for the bias.
    const bound = 1 / Math.sqrt(layer.inFeatures);
    const w = param(join(path, "weight"), [layer.outFeatures, layer.inFeatures], {
      kind: "uniform",
      bound,
    });
    const bias = layer.bias
      ? param(join(path, "bias"), [layer.outFeatures], { kind: "uniform", bound })
      : null;
    return b.op1("Gemm", bias ? [x, w, bias] : [x, w], { transB: 1 });
  },
  sequential: (layer, x, ctx, path) =>
    layer.layers.reduce((h, child, i) => lowerLayer(child, h, ctx, join(path, i)), x),
};

/**
 * Lowers a layer applied to `x`, naming nodes and errors by the layer's path.
 *
 * @param layer The layer.
 * @param x Its input.
 * @param ctx Builder, mode and parameter registry.
 * @param path Position in the model, such as `3` or `1.0`.
 * @returns The layer's output.
 */
export function lowerLayer(layer: Layer, x: Value, ctx: LowerContext, path: string): Value {
  const lower = LOWERINGS[layer.kind] as Lowering<LayerKind>;
  if (layer.kind === "sequential") return lower(layer, x, ctx, path);
  const origin = `layer ${path || "0"} (${describeLayer(layer)})`;
  return ctx.b.scope(origin, () => {
    try {
      return lower(layer, x, ctx, path);
    } catch (e) {
      if (e instanceof CompileError && !e.message.startsWith(origin)) {
        throw new CompileError(`${origin} ${e.message}`);
      }
      throw e;
    }
  });
}

/**
 * A parameter registry for one graph: declares each parameter as a graph input once.
 *
 * @param b The builder.
 * @returns The `param` function for a LowerContext and the list of declared parameters.
 */
export function createParamRegistry(
  b: GraphBuilder,
): { param: LowerContext["param"]; params: { spec: ParamSpec; value: Value }[] } {
  const params: { spec: ParamSpec; value: Value }[] = [];
  const param: LowerContext["param"] = (name, shape, init) => {
    const found = params.find((p) => p.spec.name === name);
    if (found) return found.value;
    const value = b.input(name, { dtype: "float32", shape });
    params.push({ spec: Object.freeze({ name, shape: Object.freeze([...shape]), init }), value });
    return value;
  };
  return { param, params };
}
