/**
 * Lowering of `fromOnnx` layers: inlines the imported model's nodes into the graph through the
 * builder (so each op's shape rule runs), its data input mapped to the layer's input. Trainable
 * initializers become parameters (initial values: the stored tensors), the others constants;
 * BatchNormalization keeps its exported inference form, its running statistics frozen.
 * @module
 */
import type { OnnxModelLayer } from "../dsl/onnx_model.ts";
import { CompileError } from "../ir/errors.ts";
import type { OpName } from "../ir/ops/mod.ts";
import type { GraphBuilder } from "../ir/builder.ts";
import { type Dim, formatShape, formatType, type Value } from "../ir/types.ts";
import { type ImportedGraph, type ImportedNode, importOnnx } from "../onnx/import.ts";
import { join, type LowerContext, type Lowerings } from "./lower_model.ts";
import { batchNorm } from "./lower_norm.ts";

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
      ? ` (the model has a fixed batch size ${m[0]}: export it with a dynamic batch axis)`
      : "";
    throw new CompileError(
      `expects input ${formatType(x.type)} to fit the ONNX model's input ${name} ${
        formatType(type)
      }${fixed}`,
    );
  }
  return name;
}

/** Split without sizes splits evenly into one piece per output (ONNX's rule). */
function equalSplit(b: GraphBuilder, x: Value | null, n: ImportedNode): Value {
  const s = x?.type.shape ?? [];
  const axis = Number(n.attrs.axis ?? 0), k = n.outputs.length;
  const d = s[axis < 0 ? axis + s.length : axis];
  if (typeof d !== "number" || d % k !== 0) {
    throw new CompileError(
      `Split into ${k} equal pieces needs a static dimension divisible by ${k}, got ${
        formatShape(s)
      }`,
    );
  }
  return b.ints(Array(k).fill(d / k));
}

const FOLD: Readonly<Record<string, (a: bigint, b: bigint) => bigint>> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => a / b,
};

/**
 * Tracks the values of small int64 tensors through the shape arithmetic exporters write
 * (`Shape → Gather → Unsqueeze → Concat → Reshape`, `d // heads` as Div and Cast), as ONNX's
 * data propagation does, where the IR's rows do not: known elements may be symbolic (`N`).
 * Arithmetic on numbers only is folded to constants; a Reshape's target holding symbols becomes a
 * constant with 0 (copy the input's dimension) or −1 in their place.
 */
function shapeTracker(b: GraphBuilder) {
  const side = new Map<number, readonly Dim[]>();
  const knownOf = (v: Value | null | undefined): readonly Dim[] | undefined =>
    v && v.type.dtype === "int64" && v.type.shape.length <= 1
      ? v.type.known ?? side.get(v.id)
      : undefined;
  const numeric = (k: readonly Dim[] | undefined): k is readonly number[] =>
    !!k && k.every((d) => typeof d === "number");
  const make = (shape: readonly Dim[], values: readonly number[]) =>
    b.constant({
      dtype: "int64",
      shape: shape.length ? [values.length] : [],
      data: BigInt64Array.from(values, BigInt),
    });

  /** A constant replacing node `n`'s output, where its inputs are all known numbers. */
  function fold(n: ImportedNode, inputs: readonly (Value | null)[]): Value | undefined {
    const ks = inputs.map(knownOf);
    if (inputs.length === 0 || !ks.every(numeric)) return undefined;
    const [p, q] = ks as (readonly number[])[];
    const shape0 = inputs[0]!.type.shape;
    if ((n.op === "Cast" && n.attrs.to === "int64") || n.op === "Identity") return make(shape0, p);
    const f = FOLD[n.op];
    if (!f || ks.length !== 2) return undefined;
    const len = Math.max(p.length, q.length);
    if ((p.length !== len && p.length !== 1) || (q.length !== len && q.length !== 1)) {
      return undefined;
    }
    const at = (k: readonly number[], i: number) => BigInt(k[k.length === 1 ? 0 : i]);
    const shape = shape0.length >= inputs[1]!.type.shape.length ? shape0 : inputs[1]!.type.shape;
    return make(shape, Array.from({ length: len }, (_, i) => Number(f(at(p, i), at(q, i)))));
  }

  /** Records the known elements of node `n`'s outputs that the IR's shape rules left out. */
  function track(n: ImportedNode, inputs: readonly (Value | null)[], outs: readonly Value[]) {
    const y = outs[0];
    if (!y || y.type.known || y.type.dtype !== "int64" || y.type.shape.length > 1) return;
    const ks = inputs.map(knownOf);
    let k: readonly Dim[] | undefined;
    if (["Unsqueeze", "Squeeze", "Identity", "Cast"].includes(n.op)) k = ks[0];
    else if (n.op === "Concat" && ks.every((v) => v)) k = ks.flatMap((v) => v!);
    else if (n.op === "Gather" && ks[0] && numeric(ks[1])) {
      k = ks[1].map((i) => ks[0]![i < 0 ? i + ks[0]!.length : i]);
    }
    if (k) side.set(y.id, k);
  }

  /** Inputs the IR needs as compile-time constants, made so from tracked values. */
  function constInputs(n: ImportedNode, inputs: (Value | null)[]): void {
    const slot = n.op === "ConstantOfShape" ? 0 : ["Reshape", "Expand"].includes(n.op) ? 1 : -1;
    const v = inputs[slot];
    if (slot < 0 || !v || v.type.known) return;
    const k = side.get(v.id);
    if (!k) return;
    if (numeric(k)) {
      inputs[slot] = make(v.type.shape, k);
    } else if (n.op === "Reshape") {
      const xs = inputs[0]!.type.shape;
      const target = k.map((d, i) => (typeof d === "number" ? d : d === xs[i] ? 0 : -1));
      if (target.filter((d) => d === -1).length <= 1) inputs[slot] = make(v.type.shape, target);
    }
  }
  return { fold, track, constInputs };
}

function lowerOnnx(layer: OnnxModelLayer, x: Value, ctx: LowerContext, path: string): Value {
  const g = importOnnx(layer.bytes);
  const { b } = ctx;
  const inputName = checkInput(g, x);
  const stats = runningStats(g);
  const isParam = (name: string): boolean => {
    const t = g.initializers.get(name);
    if (!t || stats.has(name) || !layer.trainable(name)) return false;
    if (t.dtype === "float32") return true;
    if (layer.explicit) {
      throw new CompileError(
        `selects initializer ${name} (${t.dtype}) as trainable; only float32 initializers train`,
      );
    }
    return false;
  };
  const shared = new Map(g.shared.filter((s) => isParam(s.name)).map((s) => [s.name, s]));
  if (shared.size && layer.shared === "error") {
    throw new CompileError(
      `imports ${layer.source}, whose trainable initializers ${
        [...shared.values()].map((s) => `${s.name} (feeds ${s.consumers.join(", ")})`).join("; ")
      } each feed several nodes: exporters deduplicate identical tensors, so training them ties weights the source model may have trained separately; pass shared: "untie" to train a copy per node, or shared: "tie" to train one tensor`,
    );
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
    if (layer.shared !== "untie" || !node || !shared.has(name)) return name;
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
  for (const n of g.nodes) {
    if (!needed.has(n)) continue;
    const inputs = n.inputs.map((
      i,
      k,
    ) => (i && !(trainStats(n) && k >= 3) ? valueOf(i, n, k) : null));
    const outs = b.scope(`${origin} ONNX node ${n.name} (${n.op})`, () => {
      if (trainStats(n)) return [importedBatchNorm(n, inputs)];
      if (n.op === "Split" && !inputs[1]) inputs[1] = equalSplit(b, inputs[0], n);
      const folded = shapes.fold(n, inputs);
      if (folded) return [folded];
      shapes.constInputs(n, inputs);
      const ys = b.op(n.op as OpName, inputs, n.attrs, { outputs: n.outputs.length });
      shapes.track(n, inputs, ys);
      return ys;
    });
    n.outputs.forEach((o, i) => {
      if (o && outs[i]) env.set(o, outs[i]);
    });
  }
  return valueOf(out);
}

/** The `fromOnnx` lowering. */
export const ONNX_LOWERINGS: Lowerings<"onnx"> = { onnx: lowerOnnx };
