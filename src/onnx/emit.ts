/**
 * Serialises IR graphs to ONNX ModelProto bytes with onnx-proto.
 * @module
 */
import onnxProto from "onnx-proto";
import { OPS } from "../ir/ops/mod.ts";
import type { AttrValue, ConstTensor, DType, Graph, TensorType, Value } from "../ir/types.ts";

const { onnx } = onnxProto;

/** The ONNX opset the emitted graphs use. */
export const OPSET_VERSION = 17;
/** The ONNX IR version of emitted models (onnx 1.12, opset 17). */
export const IR_VERSION = 8;

const ELEM_TYPES: Record<DType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  uint8: onnx.TensorProto.DataType.UINT8,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** The ONNX element type number of a dtype. */
export function onnxElemType(dtype: DType): number {
  return ELEM_TYPES[dtype];
}

function tensorProto(name: string, t: ConstTensor): onnxProto.onnx.ITensorProto {
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return { name, dataType: ELEM_TYPES[t.dtype], dims: [...t.shape], rawData: bytes.slice() };
}

/** The ONNX value info of a named tensor of the given type. */
export function valueInfo(name: string, type: TensorType): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM_TYPES[type.dtype],
        shape: {
          dim: type.shape.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })),
        },
      },
    },
  };
}

function attribute(
  op: string,
  name: string,
  value: AttrValue,
): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  const def = OPS[op as keyof typeof OPS];
  if (def?.dtypeAttrs?.includes(name)) return { name, type: T.INT, i: ELEM_TYPES[value as DType] };
  if (typeof value === "number") {
    return def?.floatAttrs?.includes(name)
      ? { name, type: T.FLOAT, f: value }
      : { name, type: T.INT, i: value };
  }
  if (typeof value === "string") {
    return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  }
  if (Array.isArray(value)) return { name, type: T.INTS, ints: [...value] };
  return { name, type: T.TENSOR, t: tensorProto("", value as ConstTensor) };
}

/**
 * Options for {@linkcode emitModel}.
 *
 * @example
 * ```ts
 * import { createGraphBuilder } from "../ir/builder.ts";
 * import { emitModel, type EmitOptions } from "./emit.ts";
 * const b = createGraphBuilder();
 * b.output("y", b.op1("Neg", [b.input("x", { dtype: "float32", shape: [2] })]));
 * const options: EmitOptions = { docString: "negates", metadata: { class_names: "[]" } };
 * if (emitModel(b.build("neg"), options).length === 0) throw new Error();
 * ```
 */
export interface EmitOptions {
  /** Stored as the model's doc string. */
  readonly docString?: string;
  /** Stored as the model's producer version (the producer name is `onnxtrain`). */
  readonly producerVersion?: string;
  /** Stored as the model's metadata_props (key → value), such as class names. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/**
 * Encodes an IR graph as an ONNX GraphProto (nodes, inputs, outputs, initializers).
 *
 * @param graph The graph; its initializers that some node reads become ONNX initializers.
 * @returns The GraphProto fields.
 */
export function emitGraph(graph: Graph): onnxProto.onnx.IGraphProto {
  // ONNX names a graph output by its value. A value a node computes takes its output port's name
  // (onnxruntime would otherwise copy it through an Identity: 7 ms a step for resnet18's updated
  // weights); a port on a graph input, on a value already named by another port, or whose name
  // another value has, gets an Identity.
  const names = new Set([
    ...graph.inputs.map((p) => p.value.name),
    ...graph.initializers.map((i) => i.value.name),
    ...graph.nodes.flatMap((n) => n.outputs.map((v) => v.name)),
  ]);
  const computed = new Set(graph.nodes.flatMap((n) => n.outputs.map((v) => v.id)));
  const portNamed = new Map<number, string>();
  for (const port of graph.outputs) {
    const v = port.value;
    if (port.name === v.name || portNamed.has(v.id) || !computed.has(v.id)) continue;
    if (names.has(port.name)) continue;
    portNamed.set(v.id, port.name);
  }
  const nameOf = (v: Value) => portNamed.get(v.id) ?? v.name;
  const nodes: onnxProto.onnx.INodeProto[] = graph.nodes.map((n, i) => ({
    name: `${n.op}_${i}`,
    opType: n.op,
    input: n.inputs.map((v) => (v ? nameOf(v) : "")),
    output: n.outputs.map(nameOf),
    attribute: Object.entries(n.attrs).map(([k, v]) => attribute(n.op, k, v)),
    ...(n.origin ? { docString: n.origin } : {}),
  }));
  for (const port of graph.outputs) {
    if (port.name !== nameOf(port.value)) {
      nodes.push({
        name: `out_${port.name}`,
        opType: "Identity",
        input: [nameOf(port.value)],
        output: [port.name],
      });
    }
  }
  // An initializer that no node reads (a batch norm's num_batches_tracked in the inference
  // model) is left out: onnxruntime would warn "Removing initializer …" on every load.
  const used = new Set([
    ...nodes.flatMap((n) => n.input ?? []),
    ...graph.outputs.map((p) => nameOf(p.value)),
  ]);
  return {
    name: graph.name,
    node: nodes,
    input: graph.inputs.map((p) => valueInfo(p.name, p.value.type)),
    output: graph.outputs.map((p) => valueInfo(p.name, p.value.type)),
    initializer: graph.initializers
      .filter((init) => used.has(init.value.name))
      .map((init) => tensorProto(init.value.name, init.tensor)),
  };
}

/**
 * Encodes an ONNX GraphProto as a model (IR version 8, opset 17).
 *
 * @param graph The graph's fields.
 * @param options Optional metadata.
 * @returns The serialised ModelProto.
 */
export function encodeModel(
  graph: onnxProto.onnx.IGraphProto,
  options: EmitOptions = {},
): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: "onnxtrain",
    ...(options.producerVersion ? { producerVersion: options.producerVersion } : {}),
    opsetImport: [{ domain: "", version: OPSET_VERSION }],
    ...(options.docString ? { docString: options.docString } : {}),
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

/**
 * Encodes an IR graph as an ONNX model (IR version 8, opset 17).
 *
 * @param graph The graph; its initializers become ONNX initializers.
 * @param options Optional metadata.
 * @returns The serialised ModelProto.
 * @example
 * ```ts
 * import { createGraphBuilder } from "../ir/builder.ts";
 * import { emitModel } from "./emit.ts";
 * const b = createGraphBuilder();
 * const x = b.input("x", { dtype: "float32", shape: ["N", 2] });
 * b.output("y", b.op1("Relu", [x]));
 * const bytes = emitModel(b.build("relu"));
 * if (bytes.length === 0) throw new Error();
 * ```
 */
export function emitModel(graph: Graph, options: EmitOptions = {}): Uint8Array {
  return encodeModel(emitGraph(graph), options);
}
