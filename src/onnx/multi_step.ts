/**
 * The K-step train graph: one ONNX `Loop` whose body is the one-step train graph, so a single
 * `session.run` takes K optimizer steps. Parameters, optimizer state and updated buffers are
 * loop-carried (they stay inside onnxruntime — on the device, for GPU providers — for K steps);
 * per-step inputs (batch, targets, dropout masks, learning rates) arrive as `[K, …]` slabs that the
 * body slices with `Gather(slab, iteration)`; per-step outputs (the loss) leave as `[K, …]` scan
 * outputs. The body runs the very nodes of the one-step graph, so results are the same bit for bit.
 * @module
 */
import onnxProto from "onnx-proto";
import type { Graph } from "../ir/types.ts";
import { emitGraph, encodeModel, valueInfo } from "./emit.ts";

/**
 * Which inputs and outputs of a one-step graph play which part in the loop.
 *
 * @example
 * ```ts
 * import type { MultiStepSpec } from "./multi_step.ts";
 * // A train step whose `input` and `target` are sliced per step and whose parameters are carried.
 * const spec: MultiStepSpec = {
 *   sliced: ["input", "target"],
 *   carried: [{ input: "weight", output: "weight.next" }],
 *   scanned: ["loss"],
 * };
 * if (spec.carried[0].output !== "weight.next") throw new Error();
 * ```
 */
export interface MultiStepSpec {
  /** Inputs fed one slice per step from a `[K, …]` slab of the same name. */
  readonly sliced: readonly string[];
  /** Loop-carried values: each input with the output that holds its next value. */
  readonly carried: readonly { readonly input: string; readonly output: string }[];
  /** Outputs stacked over the steps as `[K, …]` (the loss). */
  readonly scanned: readonly string[];
  /** Outputs of the one-step graph the K-step graph leaves out (such as an eval graph's logits). */
  readonly dropped?: readonly string[];
}

/** The symbolic dimension of the step count in slab and scan-output shapes. */
export const STEPS_DIM = "K";
/** Prefix of every value name inside the loop body (ONNX subgraphs may not reuse outer names). */
const BODY = "step/";

/**
 * Wraps a one-step graph into a K-step model: inputs are the sliced inputs as `[K, …]` slabs, the
 * carried inputs' initial values and any other input as in the one-step graph; outputs are the
 * carried values after K steps (under their one-step output names) and the scanned outputs as
 * `[K, …]`. K is the slabs' first dimension, chosen per run.
 *
 * @param graph The one-step graph.
 * @param spec The parts of its inputs and outputs.
 * @returns The serialised ModelProto.
 * @throws {RangeError} When the spec names a missing input or output, or leaves an output of the
 * graph neither carried nor scanned.
 * @example
 * ```ts
 * import { createGraphBuilder } from "../ir/builder.ts";
 * import { emitMultiStep } from "./multi_step.ts";
 * const b = createGraphBuilder();
 * const x = b.input("x", { dtype: "float32", shape: [] });
 * const total = b.input("total", { dtype: "float32", shape: [] });
 * b.output("total.next", b.op1("Add", [total, x]));
 * const bytes = emitMultiStep(b.build("step"), {
 *   sliced: ["x"],
 *   carried: [{ input: "total", output: "total.next" }],
 *   scanned: [],
 * });
 * if (bytes.length === 0) throw new Error();
 * ```
 */
export function emitMultiStep(graph: Graph, spec: MultiStepSpec): Uint8Array {
  const inputs = new Map(graph.inputs.map((p) => [p.name, p.value.type]));
  const outputs = new Map(graph.outputs.map((p) => [p.name, p.value.type]));
  const sliced = new Set(spec.sliced), carried = new Set(spec.carried.map((c) => c.input));
  for (const name of [...sliced, ...carried]) {
    if (!inputs.has(name)) {
      throw new RangeError(`Cannot build the K-step graph: ${graph.name} has no input ${name}`);
    }
  }
  const stepOutputs = [...spec.carried.map((c) => c.output), ...spec.scanned];
  for (const name of stepOutputs) {
    if (!outputs.has(name)) {
      throw new RangeError(`Cannot build the K-step graph: ${graph.name} has no output ${name}`);
    }
  }
  const dropped = new Set(spec.dropped ?? []);
  const left = [...outputs.keys()].filter((name) =>
    !stepOutputs.includes(name) && !dropped.has(name)
  );
  if (left.length) {
    throw new RangeError(
      `Cannot build the K-step graph: outputs ${
        left.join(", ")
      } are neither carried, scanned nor dropped`,
    );
  }
  // Inputs that are neither sliced nor carried (constant during the run) stay outer-scope names.
  const outer = new Set(
    [...inputs.keys()].filter((name) => !sliced.has(name) && !carried.has(name)),
  );
  const rename = (name: string) => (name === "" || outer.has(name) ? name : BODY + name);
  const one = emitGraph(graph);
  const iteration = `${BODY}iteration`, cond = `${BODY}cond`, condOut = `${BODY}cond.next`;
  const T = onnxProto.onnx.AttributeProto.AttributeType;
  const body: onnxProto.onnx.IGraphProto = {
    name: `${graph.name}_body`,
    node: [
      ...spec.sliced.map((name, i) => ({
        name: `slice_${i}`,
        opType: "Gather",
        input: [name, iteration],
        output: [BODY + name],
        attribute: [{ name: "axis", type: T.INT, i: 0 }],
      })),
      ...(one.node ?? []).map((n) => ({
        ...n,
        input: (n.input ?? []).map(rename),
        output: (n.output ?? []).map(rename),
      })),
      { name: "cond_next", opType: "Identity", input: [cond], output: [condOut] },
    ],
    input: [
      valueInfo(iteration, { dtype: "int64", shape: [] }),
      valueInfo(cond, { dtype: "bool", shape: [] }),
      ...spec.carried.map((c) => valueInfo(BODY + c.input, inputs.get(c.input)!)),
    ],
    output: [
      valueInfo(condOut, { dtype: "bool", shape: [] }),
      ...stepOutputs.map((name) => valueInfo(BODY + name, outputs.get(name)!)),
    ],
    initializer: (one.initializer ?? []).map((t) => ({ ...t, name: rename(t.name ?? "") })),
  };
  const first = spec.sliced[0];
  if (first === undefined) {
    throw new RangeError("Cannot build the K-step graph: no sliced input gives the step count");
  }
  const graphProto: onnxProto.onnx.IGraphProto = {
    name: `${graph.name}_k`,
    node: [
      { name: "steps_shape", opType: "Shape", input: [first], output: ["loop/shape"] },
      {
        name: "steps_count",
        opType: "Gather",
        input: ["loop/shape", "loop/zero"],
        output: ["loop/steps"],
        attribute: [{ name: "axis", type: T.INT, i: 0 }],
      },
      {
        name: "loop",
        opType: "Loop",
        input: ["loop/steps", "", ...spec.carried.map((c) => c.input)],
        output: stepOutputs,
        attribute: [{ name: "body", type: T.GRAPH, g: body }],
      },
    ],
    input: graph.inputs.map((p) =>
      valueInfo(
        p.name,
        sliced.has(p.name)
          ? { ...p.value.type, shape: [STEPS_DIM, ...p.value.type.shape] }
          : p.value.type,
      )
    ),
    output: [
      ...spec.carried.map((c) => valueInfo(c.output, outputs.get(c.output)!)),
      ...spec.scanned.map((name) => {
        const type = outputs.get(name)!;
        return valueInfo(name, { ...type, shape: [STEPS_DIM, ...type.shape] });
      }),
    ],
    initializer: [{
      name: "loop/zero",
      dataType: onnxProto.onnx.TensorProto.DataType.INT64,
      dims: [],
      rawData: new Uint8Array(8),
    }],
  };
  return encodeModel(graphProto);
}
