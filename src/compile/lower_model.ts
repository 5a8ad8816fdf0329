/**
 * Lowers DSL layers to IR nodes: one lowering per layer kind (the tables in `lower_layers.ts`,
 * `lower_conv.ts`, `lower_norm.ts`, `lower_onnx.ts`, written against `lowering.ts`), containers
 * (`sequential`, `module`) here, and the registry that declares parameters, buffers and dropout
 * masks under PyTorch's state_dict names.
 * @module
 */
import type { SymbolicTensor, TensorNode } from "../dsl/layer.ts";
import type { ModuleLayer } from "../dsl/graph.ts";
import { describeLayer, type Layer, type LayerKind } from "../dsl/layers.ts";
import { layerProblem } from "../dsl/_layer_fields.ts";
import type { GraphBuilder } from "../ir/builder.ts";
import { CompileError } from "../ir/errors.ts";
import { numElements, type Value } from "../ir/types.ts";
import { CONV_LOWERINGS } from "./lower_conv.ts";
import { BASIC_LOWERINGS } from "./lower_layers.ts";
import { NORM_LOWERINGS } from "./lower_norm.ts";
import { ONNX_LOWERINGS } from "./lower_onnx.ts";
import {
  join,
  type LowerContext,
  type Lowering,
  type Lowerings,
  type Mode,
  type Registry,
} from "./lowering.ts";

export {
  join,
  type LowerContext,
  type Lowering,
  type Lowerings,
  type Mode,
  type Registry,
} from "./lowering.ts";

const CONTAINERS: Lowerings<"sequential" | "module"> = {
  sequential: (layer, x, ctx, path) =>
    layer.layers.reduce((h, child, i) => lowerLayer(child, h, ctx, join(path, i)), x),
  module: (layer, x, ctx, path) => lowerModule(layer, x, ctx, path),
};

const LOWERINGS: Lowerings<LayerKind> = {
  ...BASIC_LOWERINGS,
  ...CONV_LOWERINGS,
  ...NORM_LOWERINGS,
  ...ONNX_LOWERINGS,
  ...CONTAINERS,
};

/** Layer kinds that own parameters or buffers, and so must be named children of a module. */
const STATEFUL: ReadonlySet<LayerKind> = new Set<LayerKind>([
  "linear",
  "conv1d",
  "conv2d",
  "embedding",
  "batch-norm-1d",
  "batch-norm-2d",
  "layer-norm",
  "onnx",
  "sequential",
  "module",
]);

function lowerModule(layer: ModuleLayer, x: Value, ctx: LowerContext, path: string): Value {
  const { b } = ctx;
  const names = new Map<unknown, string>();
  for (const [name, child] of Object.entries(layer.children)) {
    if (!names.has(child)) names.set(child, name);
  }
  const where = `module ${path || "(top)"}`;
  const memo = new Map<TensorNode, Value>([[layer.input.node, x]]);
  let inline = 0;
  const visit = (t: SymbolicTensor): Value => {
    const known = memo.get(t.node);
    if (known) return known;
    const node = t.node;
    let v: Value;
    switch (node.op) {
      case "input":
        throw new CompileError(
          `Cannot compile model: ${where} uses a symbolic tensor from another module's forward`,
        );
      case "apply": {
        const input = visit(node.input);
        const child = node.layer as Layer;
        const name = names.get(child);
        if (name !== undefined) {
          v = lowerLayer(child, input, ctx, join(path, name));
        } else if (STATEFUL.has(child.kind)) {
          throw new CompileError(
            `Cannot compile model: ${where} applies ${
              describeLayer(child)
            }, which has parameters or buffers, but it is not one of the module's children (${
              Object.keys(layer.children).join(", ")
            }); pass it in the children record so its parameters get names`,
          );
        } else {
          v = lowerLayer(child, input, ctx, join(path, `${child.kind}#${++inline}`));
        }
        break;
      }
      case "add":
      case "sub":
      case "mul": {
        const [l, r] = node.inputs.map(visit);
        const op = node.op === "add" ? "Add" : node.op === "sub" ? "Sub" : "Mul";
        v = b.scope(`${where} (${node.op})`, () => b.op1(op, [l, r]));
        break;
      }
      case "concat": {
        const inputs = node.inputs.map(visit);
        v = b.scope(`${where} (concat)`, () => b.op1("Concat", inputs, { axis: node.dim }));
        break;
      }
    }
    memo.set(node, v);
    return v;
  };
  return visit(layer.output);
}

/**
 * Lowers a layer applied to `x`, naming nodes and errors by the layer's path.
 *
 * @param layer The layer.
 * @param x Its input.
 * @param ctx Builder, mode and registry.
 * @param path Position in the model, such as `3` or `block.conv1`.
 * @returns The layer's output.
 */
export function lowerLayer(layer: Layer, x: Value, ctx: LowerContext, path: string): Value {
  // A layer no factory made (`{ kind: "bogus" } as any`) is the user's error, named by its path.
  const problem = layerProblem(layer);
  if (problem) {
    throw new CompileError(
      `Cannot compile model: ${path ? `layer ${path}` : "the model"} ${problem}`,
    );
  }
  const lower = LOWERINGS[layer.kind] as Lowering<LayerKind>;
  if (layer.kind === "sequential" || layer.kind === "module") return lower(layer, x, ctx, path);
  const origin = `layer ${path || "0"} (${describeLayer(layer)})`;
  const { registry } = ctx;
  const before = registry.counts();
  const out = ctx.b.scope(origin, () => {
    try {
      return lower(layer, x, ctx, path);
    } catch (e) {
      if (e instanceof CompileError && !e.message.startsWith(origin)) {
        throw new CompileError(`${origin} ${e.message}`);
      }
      throw e;
    }
  });
  const after = registry.counts();
  registry.summary.push(Object.freeze({
    path: path || "0",
    layer: describeLayer(layer),
    outputShape: out.type.shape,
    params: after.params - before.params,
    buffers: after.buffers - before.buffers,
  }));
  return out;
}

/**
 * A lowering context for one graph: declares each parameter, buffer and mask as a graph input
 * once, and records the summary rows.
 *
 * @param b The builder.
 * @param mode Train or eval.
 * @returns The context and its registry.
 */
export function createLowerContext(
  b: GraphBuilder,
  mode: Mode,
): { ctx: LowerContext; registry: Registry } {
  const registry: Registry = {
    params: [],
    buffers: [],
    masks: [],
    summary: [],
    notes: [],
    counts: () => ({
      params: registry.params.reduce((n, p) => n + numElements(p.spec.shape), 0),
      buffers: registry.buffers.reduce((n, p) => n + numElements(p.spec.shape), 0),
    }),
  };
  const ctx: LowerContext = {
    b,
    mode,
    registry,
    param(name, shape, init) {
      const found = registry.params.find((p) => p.spec.name === name);
      if (found) return found.value;
      const value = b.input(name, { dtype: "float32", shape });
      registry.params.push({
        spec: Object.freeze({ name, shape: Object.freeze([...shape]), init }),
        value,
      });
      return value;
    },
    buffer(name, shape, init, dtype = "float32") {
      const found = registry.buffers.find((p) => p.spec.name === name);
      if (found) return found.next ?? found.value;
      const value = b.input(name, { dtype, shape });
      registry.buffers.push({
        spec: Object.freeze({ name, dtype, shape: Object.freeze([...shape]), init }),
        value,
      });
      return value;
    },
    updateBuffer(name, next) {
      const found = registry.buffers.find((p) => p.spec.name === name);
      if (!found) throw new CompileError(`Cannot update buffer ${name}: it is not declared`);
      if (mode !== "train") throw new CompileError(`Cannot update buffer ${name} in ${mode} mode`);
      found.next = next;
    },
    mask(name, shape, p) {
      if (mode !== "train") throw new CompileError(`Cannot draw mask ${name} in ${mode} mode`);
      const value = b.input(name, { dtype: "float32", shape });
      registry.masks.push({
        spec: Object.freeze({ name, shape: Object.freeze([...shape]), p }),
        value,
      });
      return value;
    },
  };
  return { ctx, registry };
}
