/**
 * Lowering of `fromOnnx` layers: inlines the imported model's nodes into the graph through the
 * builder (so each op's shape rule runs), its data input mapped to the layer's input. Trainable
 * initializers become parameters (initial values: the stored tensors), the others constants;
 * BatchNormalization keeps its exported inference form, its running statistics frozen.
 * @module
 */
import type { OnnxModelLayer } from "../dsl/onnx_model.ts";
import { CompileError } from "../ir/errors.ts";
import type { GraphBuilder } from "../ir/builder.ts";
import type { OpName } from "../ir/ops/mod.ts";
import { formatShape, formatType, type Value } from "../ir/types.ts";
import {
  type ImportedGraph,
  type ImportedNode,
  importOnnx,
  isExporterName,
} from "../onnx/import.ts";
import { join, type LowerContext, type Lowerings } from "./lowering.ts";
import { batchNorm } from "./lower_norm.ts";
import { shapeTracker } from "./shape_tracker.ts";
import { geluOf } from "./lower_layers.ts";
import { groupNormalization } from "../ir/ops/resample.ts";

/** Initializers read as BatchNormalization's running statistics: frozen. */
function runningStats(g: ImportedGraph): Set<string> {
  return new Set(
    g.nodes.filter((n) => n.op === "BatchNormalization").flatMap((n) => n.inputs.slice(3, 5)),
  );
}

function checkInput(g: ImportedGraph, x: Value): string {
  if (g.inputs.length !== 1) {
    throw new CompileError(
      `expects an ONNX model with one data input, got ${g.inputs.length} (${
        g.inputs.map((i) => i.name).join(", ")
      })`,
    );
  }
  const { name, type } = g.inputs[0];
  const s = x.type.shape, m = type.shape;
  const fits = x.type.dtype === type.dtype && s.length === m.length &&
    m.every((d, i) => typeof d === "string" || d === s[i]);
  if (!fits) {
    const fixed = typeof m[0] === "number" && typeof s[0] === "string"
      ? ` (the model was exported with a fixed batch size ${
        m[0]
      }, which its Reshape targets may bake in too: re-export it with a dynamic batch axis, torch.onnx.export(model, args, f, dynamic_shapes=({0: torch.export.Dim("batch")},)) with the dynamo exporter, or dynamic_axes={"${name}": {0: "batch"}} with dynamo=False)`
      : "";
    throw new CompileError(
      `expects input ${formatType(x.type)} to fit the ONNX model's input ${name} ${
        formatType(type)
      }${fixed}`,
    );
  }
  return name;
}

/**
 * Split without sizes: one piece per output (opset 13), or `num_outputs` pieces of ⌈d/k⌉, the
 * last smaller (opset 18); both need a static dimension. The attribute is consumed.
 */
function equalSplit(b: GraphBuilder, x: Value | null, n: ImportedNode): Value {
  const s = x?.type.shape ?? [];
  const axis = Number(n.attrs.axis ?? 0), k = Number(n.attrs.num_outputs ?? n.outputs.length);
  const d = s[axis < 0 ? axis + s.length : axis];
  const even = n.attrs.num_outputs === undefined;
  if (typeof d !== "number" || (even && d % k !== 0)) {
    throw new CompileError(
      `Split into ${k} ${even ? "equal " : ""}pieces needs a static dimension${
        even ? ` divisible by ${k}` : ""
      }, got ${formatShape(s)}`,
    );
  }
  const size = Math.ceil(d / k);
  return b.ints(Array.from({ length: k }, (_, i) => Math.min(size, d - i * size)));
}

/** What a composite's lowering receives. */
interface CompositeArgs {
  readonly b: GraphBuilder;
  readonly n: ImportedNode;
  readonly inputs: readonly (Value | null)[];
  readonly ctx: LowerContext;
  readonly path: string;
  readonly layer: OnnxModelLayer;
  readonly opset: number;
  readonly note: (line: string) => void;
}

const input = (n: ImportedNode, inputs: readonly (Value | null)[], i: number): Value => {
  const v = inputs[i];
  if (!v) throw new CompileError(`${n.op} is missing required input ${i}`);
  return v;
};

/**
 * A reduction the IR has no row for, built from ReduceSum/ReduceMax: `axes` as an attribute (to
 * opset 17) or a constant input (18+), `keepdims`, and `noop_with_empty_axes` (no axes: the
 * identity) as ONNX defines them. `body` gets a sum over the axes and ReduceMax's attributes.
 */
function reduction(
  body: (
    b: GraphBuilder,
    x: Value,
    sum: (v: Value) => Value,
    maxAttrs: { axes?: number[]; keepdims: number },
  ) => Value,
): (a: CompositeArgs) => Value[] {
  return ({ b, n, inputs }) => {
    const x = input(n, inputs, 0);
    const given = inputs[1];
    const known = given && (given.type.known ?? undefined);
    if (given && (!known || known.some((d) => typeof d !== "number"))) {
      throw new CompileError(`${n.op} expects its axes known at compile time`);
    }
    const axes = Array.isArray(n.attrs.axes) ? n.attrs.axes : known as number[] | undefined;
    if ((!axes || axes.length === 0) && n.attrs.noop_with_empty_axes) return [x];
    const keepdims = Number(n.attrs.keepdims ?? 1);
    const sum = (v: Value) =>
      b.op1("ReduceSum", axes?.length ? [v, b.ints(axes)] : [v], { keepdims });
    return [body(b, x, sum, { ...(axes?.length ? { axes: [...axes] } : {}), keepdims })];
  };
}

/**
 * Ops lowered as compositions of the IR's ops ({@linkcode IMPORT_COMPOSITES}): those newer than
 * the emitted graphs' opset 17, written as their ONNX function bodies, CastLike, and Dropout in
 * training form.
 */
const COMPOSITES: Readonly<Record<string, (a: CompositeArgs) => Value[]>> = {
  // Opset 20: x·Φ(x), exact or with the tanh approximation, as the DSL's gelu.
  Gelu: ({ b, n, inputs }) => [
    geluOf(b, input(n, inputs, 0), n.attrs.approximate === "tanh" ? "tanh" : "none"),
  ],
  // Opset 18: x·tanh(softplus(x)).
  Mish: ({ b, n, inputs }) => {
    const x = input(n, inputs, 0);
    return [b.op1("Mul", [x, b.op1("Tanh", [b.op1("Softplus", [x])])])];
  },
  // Opset 18 (scale and bias per group) and 21 (per channel).
  GroupNormalization: ({ b, n, inputs, opset }) => [
    groupNormalization(
      b,
      input(n, inputs, 0),
      input(n, inputs, 1),
      input(n, inputs, 2),
      Number(n.attrs.num_groups),
      Number(n.attrs.epsilon ?? 1e-5),
      opset < 21,
    ),
  ],
  ReduceL1: reduction((b, x, sum) => sum(b.op1("Abs", [x]))),
  ReduceL2: reduction((b, x, sum) => b.op1("Sqrt", [sum(b.op1("Mul", [x, x]))])),
  ReduceSumSquare: reduction((_b, x, sum) => sum(_b.op1("Mul", [x, x]))),
  ReduceMin: reduction((b, x, _sum, attrs) =>
    b.op1("Neg", [b.op1("ReduceMax", [b.op1("Neg", [x])], attrs)])
  ),
  // log Σ exp(x − m) + m, m the maximum, as PyTorch's logsumexp.
  ReduceLogSumExp: reduction((b, x, sum, attrs) => {
    const m = b.op1("ReduceMax", [x], { ...attrs, keepdims: 1 });
    const top = attrs.keepdims ? m : b.op1("ReduceMax", [x], attrs);
    return b.op1("Add", [b.op1("Log", [sum(b.op1("Exp", [b.op1("Sub", [x, m])]))]), top]);
  }),
  CastLike: ({ b, n, inputs }) => [
    b.op1("Cast", [input(n, inputs, 0)], { to: input(n, inputs, 1).type.dtype }),
  ],
  // Training form with ratio > 0 (the normalisation folded the others into Identity): the DSL's
  // dropout with host-drawn masks where trainDropout asks for it, else the identity.
  Dropout: ({ b, n, inputs, ctx, path, layer, note }) => {
    const x = input(n, inputs, 0), p = Number(n.attrs.ratio);
    if (!layer.trainDropout) {
      note(
        `Dropout nodes exported in training form are read as inference (identity); pass trainDropout: true to train with dropout as module.train() does`,
      );
      return [x];
    }
    if (ctx.mode !== "train") return [x];
    return [b.op1("Mul", [x, ctx.mask(join(path, `${n.name}.dropout_mask`), x.type.shape, p)])];
  },
};

/**
 * Float initializers an exporter made that the source model did not train, frozen unless the
 * user asks (`trainable: true` or a selector): one-element tensors with an exporter's name (an
 * attention scale `val_70`, Clip's bounds `min_val_cast`, `onnx::Mul_12`, a folded
 * `/layer/Constant_output_0`), and tensors holding non-finite or ±3.4e38-scale values
 * (attention masks).
 */

function exporterConstants(g: ImportedGraph): Set<string> {
  const frozen = new Set<string>();
  for (const [name, t] of g.initializers) {
    if (t.dtype !== "float32") continue;
    const data = t.data as Float32Array;
    const scalarConstant = data.length <= 1 && isExporterName(name);
    if (scalarConstant || data.some((v) => !Number.isFinite(v) || Math.abs(v) >= 1e30)) {
      frozen.add(name);
    }
  }
  return frozen;
}

function lowerOnnx(layer: OnnxModelLayer, x: Value, ctx: LowerContext, path: string): Value {
  const g = importOnnx(layer.bytes, {
    source: layer.source,
    ...(layer.externalData ? { externalData: layer.externalData } : {}),
  });
  const { b } = ctx;
  const said = new Set<string>();
  const note = (line: string) => {
    if (said.has(line)) return;
    said.add(line);
    ctx.registry.notes.push(`layer ${path || "0"} (onnx): ${line}`);
  };
  const inputName = checkInput(g, x);
  const stats = runningStats(g);
  const frozen = exporterConstants(g);
  const isParam = (name: string): boolean => {
    const t = g.initializers.get(name);
    if (!t || stats.has(name) || !layer.trainable(name)) return false;
    if (t.dtype === "float32") return layer.explicit || layer.trainAll || !frozen.has(name);
    if (layer.explicit) {
      throw new CompileError(
        `selects initializer ${name} (${t.dtype}) as trainable; only float32 initializers train`,
      );
    }
    return false;
  };
  if (!layer.explicit && !layer.trainAll) {
    const kept = [...frozen].filter((name) => layer.trainable(name));
    if (kept.length) {
      note(
        `kept ${kept.length} exporter constant${kept.length > 1 ? "s" : ""} frozen (${
          kept.slice(0, 6).join(", ")
        }${
          kept.length > 6 ? ", …" : ""
        }: one-element tensors without a state_dict name, or masks); trainable: true trains them too`,
      );
    }
  }
  const candidates = g.shared.filter((s) => isParam(s.name));
  if (candidates.length && layer.shared === "error") {
    throw new CompileError(
      `imports ${layer.source}, whose trainable initializers ${
        candidates.map((s) => `${s.name} (feeds ${s.consumers.join(", ")})`).join("; ")
      } each feed several nodes: exporters deduplicate identical tensors, so training them ties weights the source model may have trained separately; pass shared: "untie" to train a copy per node, or shared: "tie" to train one tensor`,
    );
  }
  // "auto": a tensor the exporter merged because its values happened to be equal (reached
  // through an Identity alias, or constant-valued like a fresh LayerNorm's ones) is untied; a
  // tensor of distinct values feeding several nodes is one parameter of the source (tied
  // embeddings) and stays tied.
  const aliased = new Set(
    g.nodes.flatMap((n) => n.inputs.filter((i, k) => n.refs?.[k] !== undefined && n.refs[k] !== i)),
  );
  const untie = (name: string): boolean => {
    if (layer.shared !== "auto") return layer.shared === "untie";
    const data = g.initializers.get(name)!.data as Float32Array;
    return aliased.has(name) || data.every((v) => v === data[0]);
  };
  const shared = new Map(candidates.filter((s) => untie(s.name)).map((s) => [s.name, s]));
  const tied = candidates.filter((s) => !untie(s.name));
  const list = (xs: readonly { name: string; consumers: readonly string[] }[]) =>
    xs.map((s) => `${s.name} (feeds ${s.consumers.join(", ")})`).join("; ");
  if (shared.size) {
    note(
      `untied ${
        list([...shared.values()])
      }: the exporter merged equal tensors, each node trains its own copy (shared: "tie" trains one)`,
    );
  }
  if (tied.length && layer.shared === "auto") {
    note(`kept tied ${list(tied)}: one tensor of the source model (shared: "untie" unties it)`);
  }
  // Untied, a consumer reaching the tensor through an exporter's Identity alias trains it under
  // the alias's name (the source's own name); further direct consumers get `name.untiedK`.
  const direct = new Map<string, string[]>();
  for (const n of g.nodes) {
    n.inputs.forEach((i, k) => {
      if (shared.has(i) && (n.refs?.[k] ?? i) === i && !direct.get(i)?.includes(n.name)) {
        direct.set(i, [...(direct.get(i) ?? []), n.name]);
      }
    });
  }
  const paramName = (name: string, node?: ImportedNode, slot = 0): string => {
    if (!node || !shared.has(name)) return name;
    const ref = node.refs?.[slot] ?? name;
    if (ref !== name) return ref;
    const k = direct.get(name)!.indexOf(node.name);
    return k > 0 ? `${name}.untied${k}` : name;
  };
  const env = new Map<string, Value>([[inputName, x]]);
  const valueOf = (name: string, node?: ImportedNode, slot = 0): Value => {
    const init = g.initializers.get(name);
    if (init && isParam(name)) {
      return ctx.param(join(path, paramName(name, node, slot)), init.shape, {
        kind: "tensor",
        data: init.data as Float32Array,
      });
    }
    const known = env.get(name);
    if (known) return known;
    const t = init ?? g.constants.get(name);
    if (!t) {
      throw new CompileError(
        `reads ONNX value ${name}${
          node ? ` in node ${node.name} (${node.op})` : ""
        }, which no supported node output produces`,
      );
    }
    const v = b.constant(t, name);
    env.set(name, v);
    return v;
  };
  const shapes = shapeTracker(b);
  const origin = `layer ${path || "0"} (onnx)`;
  // With trainBatchNorm, an exported (inference-form) BatchNormalization trains as PyTorch's
  // module.train() does: batch statistics in the train graph, its running statistics buffers
  // (named by their initializers) updated there and used by the eval and inference graphs.
  const trainStats = (n: ImportedNode) => layer.trainBatchNorm && n.op === "BatchNormalization";
  const importedBatchNorm = (n: ImportedNode, inputs: (Value | null)[]): Value => {
    const [xv, scale, bias] = inputs;
    const stat = (name: string) => {
      const t = g.initializers.get(name);
      if (!t || t.dtype !== "float32" || t.shape.length !== 1) {
        throw new CompileError(
          `cannot train the running statistics of ONNX node ${n.name}: ${name} is not a float32 [C] initializer`,
        );
      }
      return ctx.buffer(join(path, name), t.shape, {
        kind: "tensor",
        data: t.data as Float32Array,
      });
    };
    const [meanName, varName] = [n.inputs[3]!, n.inputs[4]!];
    const running = {
      mean: stat(meanName),
      variance: stat(varName),
      meanName: join(path, meanName),
      varName: join(path, varName),
    };
    // ONNX's momentum weighs the running statistics; PyTorch's weighs the batch's.
    const momentum = 1 - Number(n.attrs.momentum ?? 0.9);
    return batchNorm(ctx, xv!, scale!, bias!, running, Number(n.attrs.epsilon ?? 1e-5), momentum);
  };
  // The layer's output: a graph output, or any node's output (cutting the model there, to replace
  // its head). Only the nodes it depends on are inlined, so a cut-off head costs nothing.
  const out = layer.output ?? g.outputs[0];
  const producers = new Map<string, ImportedNode>();
  for (const n of g.nodes) for (const o of n.outputs) if (o) producers.set(o, n);
  if (!g.outputs.includes(out) && !producers.has(out)) {
    throw new CompileError(
      `has no ONNX value ${out}; the model's outputs are ${g.outputs.join(", ")}`,
    );
  }
  const needed = new Set<ImportedNode>();
  const pending = [out];
  while (pending.length) {
    const n = producers.get(pending.pop()!);
    if (!n || needed.has(n)) continue;
    needed.add(n);
    for (const i of n.inputs) if (i) pending.push(i);
  }
  for (let n of g.nodes) {
    if (!needed.has(n)) continue;
    const inputs = n.inputs.map((
      i,
      k,
    ) => (i && !(trainStats(n) && k >= 3) ? valueOf(i, n, k) : null));
    const outs = b.scope(`${origin} ONNX node ${n.name} (${n.op})`, () => {
      if (trainStats(n)) return [importedBatchNorm(n, inputs)];
      const composite = COMPOSITES[n.op];
      if (composite) return composite({ b, n, inputs, ctx, path, layer, opset: g.opset, note });
      if (n.op === "Split" && !inputs[1]) {
        inputs[1] = equalSplit(b, inputs[0], n);
        const { num_outputs: _, ...attrs } = n.attrs;
        n = { ...n, attrs };
      }
      if (n.op === "BatchNormalization" && n.attrs.training_mode) {
        // Read as its inference form: running statistics, frozen (trainBatchNorm trains it).
        note(
          `BatchNormalization nodes exported in training form (training_mode=1) use their running statistics, frozen; pass trainBatchNorm: true to train them as module.train() does`,
        );
        const { training_mode: _, ...attrs } = n.attrs;
        n = { ...n, attrs };
      }
      return shapes.lower(n, inputs, (known) =>
        b.op(n.op as OpName, inputs, n.attrs, {
          outputs: n.outputs.length,
          ...(known ? { known } : {}),
        }));
    });
    n.outputs.forEach((o, i) => {
      if (o && outs[i]) env.set(o, outs[i]);
    });
  }
  return valueOf(out);
}

/** The `fromOnnx` lowering. */
export const ONNX_LOWERINGS: Lowerings<"onnx"> = { onnx: lowerOnnx };
