/**
 * Reads ONNX models written by other tools (`torch.onnx.export` and the like) into an ONNX-free
 * description in the IR's terms: nodes with the IR's attribute values, graph inputs and outputs,
 * initializers as constant tensors, the opset. The IR uses `ai.onnx` op names 1:1, so this is
 * a near 1:1 read of the ModelProto, followed by one pass, {@linkcode normalizeExporterQuirks},
 * that rewrites what exporters write into the forms the IR's op rows take.
 * @module
 */
import onnxProto from "onnx-proto";
import { CompileError } from "../ir/errors.ts";
import { isOpName, OPS } from "../ir/ops/mod.ts";
import type { AttrValue, ConstTensor, Dim, DType, TensorType } from "../ir/types.ts";

const { onnx } = onnxProto;
type Long = { toNumber(): number };

/** The lowest and highest `ai.onnx` opsets the importer reads (their ops match the IR's rows). */
export const IMPORT_OPSETS: Readonly<{ min: number; max: number }> = Object.freeze({
  min: 13,
  // The newest opset onnxruntime 1.30 loads.
  max: 26,
});

/**
 * Where an imported model's external data comes from: a reader of the files its tensors name
 * (`location`, relative to the model's folder), given when the model was read from a path.
 */
export interface ImportOptions {
  /** Returns the bytes of an external data file, by its `location` in the model. */
  readonly externalData?: (location: string) => Uint8Array;
  /** Where the model came from (a path or "ONNX bytes"), for messages. */
  readonly source?: string;
}

/** One node of an imported graph, with inputs and outputs by value name ("" = omitted). */
export interface ImportedNode {
  /** The node's name in the model (or `op_index` where it has none), for messages. */
  readonly name: string;
  /** The op type, an `ai.onnx` op name where `domain` is absent. */
  readonly op: string;
  /** The op's domain where it is not `ai.onnx` (such as `com.microsoft`). */
  readonly domain?: string;
  /** Input value names after normalisation ("" for an omitted optional input). */
  readonly inputs: readonly string[];
  /**
   * The inputs as the model names them, where {@linkcode normalizeExporterQuirks} bypassed an
   * Identity (an exporter's alias of a deduplicated initializer keeps the source's name, such as
   * `ln2.weight` for `ln1.weight`).
   */
  readonly refs?: readonly string[];
  /** Output value names ("" for an omitted optional output). */
  readonly outputs: readonly string[];
  /** Attributes as the IR holds them (dtype attributes as dtype names, tensors as ConstTensor). */
  readonly attrs: Readonly<Record<string, AttrValue>>;
  /** Names of the attributes the model stores as FLOAT. */
  readonly floatAttrs: readonly string[];
}

/** An initializer deduplicated by the exporter: one tensor feeding several nodes. */
export interface SharedInitializer {
  /** The initializer's name. */
  readonly name: string;
  /** The nodes it feeds (directly or through Identity), by name, in graph order. */
  readonly consumers: readonly string[];
}

/** An imported graph in the IR's terms; no ONNX types. */
export interface ImportedGraph {
  /** The `ai.onnx` opset the model imports. */
  readonly opset: number;
  /** The producer named by the model, such as `pytorch 1.13.0`. */
  readonly producer: string;
  /** The data inputs (graph inputs that are not initializers). */
  readonly inputs: readonly { readonly name: string; readonly type: TensorType }[];
  /** The graph outputs' value names. */
  readonly outputs: readonly string[];
  /** Nodes in topological order. */
  readonly nodes: readonly ImportedNode[];
  /** Initializers by name, in the model's order: the candidates for training. */
  readonly initializers: ReadonlyMap<string, ConstTensor>;
  /** Constants the graph computes (`Constant` nodes), by output name: always frozen. */
  readonly constants: ReadonlyMap<string, ConstTensor>;
  /** Float initializers that feed more than one node after normalisation. */
  readonly shared: readonly SharedInitializer[];
  /** What {@linkcode normalizeExporterQuirks} rewrote, one line per kind of rewrite. */
  readonly notes: readonly string[];
}

const DTYPES: Partial<Record<number, DType>> = {
  [onnx.TensorProto.DataType.FLOAT]: "float32",
  [onnx.TensorProto.DataType.DOUBLE]: "float64",
  [onnx.TensorProto.DataType.INT64]: "int64",
  [onnx.TensorProto.DataType.INT32]: "int32",
  [onnx.TensorProto.DataType.UINT8]: "uint8",
  [onnx.TensorProto.DataType.BOOL]: "bool",
};

const fail = (message: string): never => {
  throw new CompileError(`Cannot import ONNX model: ${message}`);
};

const num = (v: number | Long | null | undefined): number =>
  v == null ? 0 : typeof v === "number" ? v : v.toNumber();

function dtypeOf(elemType: number, what: string): DType {
  const name = onnx.TensorProto.DataType[elemType] ?? String(elemType);
  return DTYPES[elemType] ?? fail(`${what} has element type ${name}, which the IR does not hold`);
}

/** The bytes of a tensor stored outside the model (`location`, `offset`, `length` entries). */
function externalBytes(
  t: onnxProto.onnx.ITensorProto,
  what: string,
  options: ImportOptions,
): Uint8Array {
  const entry = (key: string) => t.externalData?.find((e) => e.key === key)?.value ?? undefined;
  const location = entry("location");
  if (!location) return fail(`${what} is stored externally but names no location`);
  if (!options.externalData) {
    return fail(
      `${what} keeps its data in the external file ${location}, and only the model's bytes were given: pass fromOnnx the path of the .onnx file (with ${location} beside it), or the file's bytes as the externalData option`,
    );
  }
  if (/^(\/|[A-Za-z]:)/.test(location) || location.split(/[\\/]/).includes("..")) {
    return fail(`${what} names external file ${location}, outside the model's folder`);
  }
  const file = options.externalData(location);
  const offset = Number(entry("offset") ?? 0);
  const length = entry("length") !== undefined ? Number(entry("length")) : file.length - offset;
  if (offset + length > file.length) {
    return fail(
      `${what} reads bytes ${offset}–${
        offset + length
      } of ${location}, which holds ${file.length} (truncated?)`,
    );
  }
  return file.subarray(offset, offset + length);
}

/** Decodes a TensorProto (raw, typed or external data). */
function tensorOf(
  t: onnxProto.onnx.ITensorProto,
  what: string,
  options: ImportOptions = {},
): ConstTensor {
  const dtype = dtypeOf(t.dataType ?? 0, what);
  const shape = (t.dims ?? []).map(num);
  const n = shape.reduce((a, d) => a * d, 1);
  const external = t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL ||
    !!t.externalData?.length;
  const raw = external
    ? externalBytes(t, what, options)
    : t.rawData && t.rawData.length
    ? t.rawData
    : undefined;
  // Copies raw bytes to an aligned buffer (protobuf slices need not be aligned).
  const bytes = raw ? Uint8Array.from(raw).buffer : undefined;
  let data: ConstTensor["data"];
  switch (dtype) {
    case "float32":
      data = bytes ? new Float32Array(bytes) : Float32Array.from(t.floatData ?? []);
      break;
    case "float64":
      data = bytes ? new Float64Array(bytes) : Float64Array.from(t.doubleData ?? []);
      break;
    case "int64":
      data = bytes
        ? new BigInt64Array(bytes)
        : BigInt64Array.from(t.int64Data ?? [], (v) => BigInt(num(v)));
      break;
    case "int32":
      data = bytes ? new Int32Array(bytes) : Int32Array.from(t.int32Data ?? []);
      break;
    case "uint8":
    case "bool":
      data = bytes ? new Uint8Array(bytes) : Uint8Array.from(t.int32Data ?? []);
      break;
  }
  if (data.length !== n) {
    fail(`${what} holds ${data.length} values for shape [${shape.join(", ")}]`);
  }
  return Object.freeze({ dtype, shape: Object.freeze(shape), data });
}

function attrOf(
  a: onnxProto.onnx.IAttributeProto,
  op: string,
  where: string,
  options: ImportOptions,
): { value: AttrValue; isFloat: boolean } {
  const T = onnx.AttributeProto.AttributeType;
  const name = a.name ?? "";
  const def = isOpName(op) ? OPS[op] : undefined;
  switch (a.type) {
    case T.INT:
      if (def?.dtypeAttrs?.includes(name)) {
        return { value: dtypeOf(num(a.i), `attribute ${name} of ${where}`), isFloat: false };
      }
      return { value: num(a.i), isFloat: false };
    case T.FLOAT:
      return { value: a.f ?? 0, isFloat: true };
    case T.INTS:
      return { value: (a.ints ?? []).map(num), isFloat: false };
    case T.STRING:
      return { value: new TextDecoder().decode(a.s ?? new Uint8Array()), isFloat: false };
    case T.TENSOR:
      return {
        value: tensorOf(a.t ?? {}, `attribute ${name} of ${where}`, options),
        isFloat: false,
      };
    default:
      return fail(
        `attribute ${name} of ${where} has type ${T[a.type ?? 0]}, which the IR does not hold`,
      );
  }
}

function typeOf(v: onnxProto.onnx.IValueInfoProto): TensorType {
  const tt = v.type?.tensorType;
  if (!tt) return fail(`graph input ${v.name} is not a tensor`);
  const shape: Dim[] = (tt.shape?.dim ?? []).map((d, i) =>
    d.dimValue != null && num(d.dimValue) > 0 ? num(d.dimValue) : d.dimParam || `${v.name}_${i}`
  );
  return { dtype: dtypeOf(tt.elemType ?? 0, `graph input ${v.name}`), shape };
}

type NodeProto = onnxProto.onnx.INodeProto;
type FunctionProto = onnxProto.onnx.IFunctionProto;

/**
 * The graph's nodes with calls of the model's local functions (the dynamo exporter writes them)
 * replaced by the functions' bodies, recursively: body values are renamed under the call's name,
 * formal inputs and outputs bound to the call's, and attributes that refer to the caller's
 * (`ref_attr_name`) take the caller's values (an attribute the caller omits is dropped, so the
 * op's default applies).
 */
function inlineFunctions(
  nodes: readonly NodeProto[],
  functions: readonly FunctionProto[],
): NodeProto[] {
  if (!functions.length) return [...nodes];
  const byKey = new Map(functions.map((f) => [`${f.domain ?? ""}::${f.name}`, f]));
  const out: NodeProto[] = [];
  let calls = 0;
  const expand = (n: NodeProto, depth: number) => {
    const f = byKey.get(`${n.domain ?? ""}::${n.opType}`);
    if (!f) {
      out.push(n);
      return;
    }
    if (depth > 64) fail(`local function ${f.name} calls itself too deeply`);
    const prefix = `${n.name || `${f.name}_call`}#${calls++}/`;
    const bind = new Map<string, string>();
    (f.input ?? []).forEach((name, i) => bind.set(name, n.input?.[i] ?? ""));
    (f.output ?? []).forEach((name, i) => bind.set(name, n.output?.[i] ?? ""));
    const rename = (v: string) => (v === "" ? "" : bind.get(v) ?? prefix + v);
    const callerAttrs = new Map((n.attribute ?? []).map((a) => [a.name ?? "", a]));
    for (const inner of f.node ?? []) {
      const attribute = (inner.attribute ?? []).flatMap((a) => {
        if (!a.refAttrName) return [a];
        const given = callerAttrs.get(a.refAttrName);
        return given ? [{ ...given, name: a.name }] : [];
      });
      expand({
        ...inner,
        name: prefix + (inner.name ?? inner.opType),
        input: (inner.input ?? []).map(rename),
        output: (inner.output ?? []).map(rename),
        attribute,
      }, depth + 1);
    }
  };
  for (const n of nodes) expand(n, 0);
  return out;
}

/**
 * Decodes ModelProto bytes into an imported graph, as the model stores it (no rewriting but the
 * inlining of local functions).
 *
 * @param bytes A serialised ONNX model.
 * @param options Where external data comes from.
 * @returns The graph with `shared` empty and no notes.
 * @throws {CompileError} On an unreadable model, an opset outside 13–26, or a tensor the IR
 * cannot hold.
 */
export function decodeOnnx(bytes: Uint8Array, options: ImportOptions = {}): ImportedGraph {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    return fail(`the bytes are not a ModelProto (${(e as Error).message})`);
  }
  const g: onnxProto.onnx.IGraphProto = model.graph ?? fail("the model has no graph");
  const opsetEntry = model.opsetImport.find((o) => !o.domain || o.domain === "ai.onnx");
  const opset = num(opsetEntry?.version);
  if (!opsetEntry || opset < IMPORT_OPSETS.min || opset > IMPORT_OPSETS.max) {
    fail(
      `it uses ai.onnx opset ${
        opsetEntry ? opset : "(none)"
      }; supported are opsets ${IMPORT_OPSETS.min} to ${IMPORT_OPSETS.max}, the range onnxruntime 1.30 runs${
        opset < IMPORT_OPSETS.min ? " (re-export with opset_version=17 or newer)" : ""
      }`,
    );
  }
  if (g.sparseInitializer?.length) fail("sparse initializers are not supported");
  // Each external file is read once, however many tensors it holds.
  if (options.externalData) {
    const read = options.externalData, files = new Map<string, Uint8Array>();
    options = {
      ...options,
      externalData: (location) => {
        if (!files.has(location)) files.set(location, read(location));
        return files.get(location)!;
      },
    };
  }
  const initializers = new Map<string, ConstTensor>();
  for (const t of g.initializer ?? []) {
    initializers.set(t.name ?? "", tensorOf(t, `initializer ${t.name}`, options));
  }
  const nodes = inlineFunctions(g.node ?? [], model.functions ?? []).map((n, i): ImportedNode => {
    const op = n.opType ?? "";
    const name = n.name || `${op}_${i}`;
    const where = `node ${name} (${op})`;
    const attrs: Record<string, AttrValue> = {};
    const floatAttrs: string[] = [];
    for (const a of n.attribute ?? []) {
      if (a.refAttrName) fail(`${where} refers to a function attribute`);
      const { value, isFloat } = attrOf(a, op, where, options);
      attrs[a.name ?? ""] = value;
      if (isFloat) floatAttrs.push(a.name ?? "");
    }
    return Object.freeze({
      name,
      op,
      ...(n.domain && n.domain !== "ai.onnx" ? { domain: n.domain } : {}),
      inputs: Object.freeze([...(n.input ?? [])]),
      outputs: Object.freeze([...(n.output ?? [])]),
      attrs: Object.freeze(attrs),
      floatAttrs: Object.freeze(floatAttrs),
    });
  });
  return Object.freeze({
    opset,
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(" "),
    inputs: Object.freeze(
      (g.input ?? []).filter((v) => !initializers.has(v.name ?? "")).map((v) => ({
        name: v.name ?? "",
        type: typeOf(v),
      })),
    ),
    outputs: Object.freeze((g.output ?? []).map((v) => v.name ?? "")),
    nodes: Object.freeze(nodes),
    initializers,
    constants: new Map(),
    shared: Object.freeze([]),
    notes: Object.freeze([]),
  });
}

function scalarConstant(attrs: Readonly<Record<string, AttrValue>>, where: string): ConstTensor {
  const v = attrs.value;
  if (v !== undefined && typeof v === "object" && !Array.isArray(v)) return v as ConstTensor;
  if (typeof attrs.value_float === "number") {
    return { dtype: "float32", shape: [], data: Float32Array.of(attrs.value_float) };
  }
  if (typeof attrs.value_int === "number") {
    return { dtype: "int64", shape: [], data: BigInt64Array.of(BigInt(attrs.value_int)) };
  }
  const ints = attrs.value_ints ?? attrs.value_floats;
  if (Array.isArray(ints)) {
    return attrs.value_ints
      ? { dtype: "int64", shape: [ints.length], data: BigInt64Array.from(ints, BigInt) }
      : { dtype: "float32", shape: [ints.length], data: Float32Array.from(ints) };
  }
  return fail(`${where} has no value the importer reads`);
}

/** The value of a one-element constant or initializer (bools as 0/1), else undefined. */
function scalarOf(
  name: string,
  constants: ReadonlyMap<string, ConstTensor>,
  initializers: ReadonlyMap<string, ConstTensor>,
): number | undefined {
  const t = constants.get(name) ?? initializers.get(name);
  return t && t.data.length === 1 ? Number(t.data[0]) : undefined;
}

/** Ops whose `axes` the IR takes as an input (ONNX opset 13+). */
const AXES_INPUT = new Set(["Squeeze", "Unsqueeze", "ReduceSum"]);
/** Ops whose `axes` the IR takes as an attribute (their form up to opset 17). */
const AXES_ATTR = new Set(["ReduceMean", "ReduceMax"]);

/**
 * The reductions in the IR's forms, whatever the model's opset: `axes` as an input for
 * ReduceSum, Squeeze and Unsqueeze (opset 13), as an attribute for ReduceMean and ReduceMax (opset
 * 17; opset 18 moved it to an input); `noop_with_empty_axes` resolved (no axes and noop → the node
 * is an identity, reported as `"identity"`; no axes otherwise → every axis).
 */
function reduceForm(
  n: ImportedNode,
  constants: Map<string, ConstTensor>,
  initializers: ReadonlyMap<string, ConstTensor>,
  note: (what: string) => void,
): ImportedNode | "identity" {
  const where = `node ${n.name} (${n.op})`;
  if (!AXES_INPUT.has(n.op) && !AXES_ATTR.has(n.op)) return n;
  let axes: number[] | undefined = Array.isArray(n.attrs.axes) ? [...n.attrs.axes] : undefined;
  if (n.inputs[1]) {
    const t = constants.get(n.inputs[1]) ?? initializers.get(n.inputs[1]);
    if (t && t.data instanceof BigInt64Array) axes = Array.from(t.data, Number);
    else if (AXES_ATTR.has(n.op) || n.op === "ReduceSum") {
      fail(`${where} takes its axes from a non-constant`);
    } else return n;
  }
  const { axes: _a, noop_with_empty_axes: noop, ...rest } = n.attrs;
  const isReduce = n.op.startsWith("Reduce");
  if (isReduce && (!axes || axes.length === 0)) {
    if (noop) {
      note(`${n.op} nodes without axes and noop_with_empty_axes=1 became Identity`);
      return "identity";
    }
    axes = undefined;
  }
  if (noop !== undefined) note(`${n.op} noop_with_empty_axes resolved`);
  if (AXES_ATTR.has(n.op)) {
    if (n.inputs[1]) note(`${n.op} axes moved from input to attribute (opset 18 form)`);
    return {
      ...n,
      inputs: [n.inputs[0]],
      refs: n.refs?.slice(0, 1),
      attrs: { ...rest, ...(axes ? { axes } : {}) },
    };
  }
  if (!Array.isArray(n.attrs.axes)) {
    return { ...n, inputs: axes ? n.inputs.slice(0, 2) : [n.inputs[0]], attrs: rest };
  }
  const name = `${n.name}/axes`;
  constants.set(name, {
    dtype: "int64",
    shape: [axes!.length],
    data: BigInt64Array.from(axes!, BigInt),
  });
  note(`${n.op} axes moved from attribute to input`);
  return { ...n, inputs: [n.inputs[0], name], refs: n.refs && [n.refs[0], name], attrs: rest };
}

/**
 * Attributes later opsets added with a default that keeps the opset-17 meaning are dropped (the
 * graphs are emitted at opset 17); a non-default value is refused, naming the node.
 */
const LATER_ATTRS: Readonly<Record<string, Readonly<Record<string, AttrValue>>>> = {
  Cast: { saturate: 1 },
  Reshape: { allowzero: 0 },
  AveragePool: { dilations: [] },
  Resize: { antialias: 0, keep_aspect_ratio_policy: "stretch" },
  Pad: {},
};

function stripOpsetAttrs(n: ImportedNode, note: (what: string) => void): ImportedNode {
  const later = LATER_ATTRS[n.op];
  if (!later) return n;
  const attrs = { ...n.attrs };
  for (const [name, fallback] of Object.entries(later)) {
    const v = attrs[name];
    if (v === undefined) continue;
    const isDefault = Array.isArray(fallback)
      ? Array.isArray(v) && v.every((d) => d === 1)
      : v === fallback;
    // Reshape's allowzero only matters for a literal 0 in the target, which exporters do not write.
    if (!isDefault && !(n.op === "Reshape" && name === "allowzero")) {
      fail(`node ${n.name} (${n.op}) has ${name}=${v}, which the importer does not support`);
    }
    delete attrs[name];
    note(`${n.op} attribute ${name} (a later opset's) dropped`);
  }
  if (n.op === "Pad" && n.inputs[3]) {
    fail(
      `node ${n.name} (Pad) pads selected axes (opset 18 axes input), which the importer does not support`,
    );
  }
  if (n.op === "Resize" && attrs.axes !== undefined) {
    fail(
      `node ${n.name} (Resize) resizes selected axes (opset 18), which the importer does not support`,
    );
  }
  return { ...n, attrs };
}

/**
 * Whether an initializer's name is one an exporter gave a tensor it made (`val_12`,
 * `onnx::Mul_3`, `min_val_cast`, `/a/b_output_0`), not a source model's `state_dict` name.
 *
 * @param name An initializer name.
 * @returns Whether the exporter named it.
 */
export function isExporterName(name: string): boolean {
  return /^(val_\d+|onnx::)|_(cast|\d+)$|\//.test(name);
}

/**
 * Tied weights the exporter split: a rank-2 float initializer equal to another's transpose (the
 * dynamo exporter folds `W.T` of a weight that another node reads as `W`, such as GPT-2's
 * embedding and its tied output projection) becomes a Transpose node of that tensor, so both
 * uses train one tensor, as in the source. Constant-valued tensors are left alone.
 */
function retieTransposes(
  initializers: Map<string, ConstTensor>,
  note: (what: string) => void,
): ImportedNode[] {
  const mats = [...initializers].filter(([, t]) => {
    if (t.dtype !== "float32" || t.shape.length !== 2 || t.data.length < 2) return false;
    const d = t.data as Float32Array;
    return d.some((v) => v !== d[0]);
  });
  const out: ImportedNode[] = [];
  const gone = new Set<string>();
  for (const [b, tb] of mats) {
    if (!isExporterName(b)) continue;
    const [p, q] = tb.shape;
    const db = tb.data as Float32Array;
    const match = mats.find(([a, ta]) => {
      if (a === b || gone.has(a) || ta.shape[0] !== q || ta.shape[1] !== p) return false;
      const da = ta.data as Float32Array;
      for (let i = 0; i < p; i++) {
        for (let j = 0; j < q; j++) if (db[i * q + j] !== da[j * p + i]) return false;
      }
      return true;
    });
    if (!match) continue;
    gone.add(b);
    initializers.delete(b);
    out.push(Object.freeze({
      name: `${b}/retied`,
      op: "Transpose",
      inputs: [match[0]],
      outputs: [b],
      attrs: { perm: [1, 0] },
      floatAttrs: [],
    }));
    note("Folded transposes of a tensor were re-tied to it (Transpose nodes)");
  }
  return out;
}

/**
 * The one pass that rewrites what exporters write into the forms the IR's op rows take:
 *
 * - `Constant` nodes become `constants` (always frozen);
 * - `Dropout` in inference form (no mask output used, no training_mode input) becomes Identity;
 * - `Identity` nodes are removed, their consumers reading the Identity's input (so an
 *   initializer reached through an Identity chain is seen as that initializer), except where the
 *   output is a graph output;
 * - `axes` of Squeeze, Unsqueeze and ReduceSum given as an attribute move to an input (opset 13+
 *   form), and of ReduceMean and ReduceMax given as a constant input move to the attribute
 *   (the IR's opset-17 form);
 * - float initializers that feed several nodes (exporters deduplicate identical tensors) are
 *   detected and listed in `shared`.
 *
 * @param graph A decoded graph.
 * @returns The rewritten graph, with `notes` saying what was rewritten and `shared` filled in.
 */
export function normalizeExporterQuirks(graph: ImportedGraph): ImportedGraph {
  const initializers = new Map(graph.initializers);
  const constants = new Map(graph.constants);
  const alias = new Map<string, string>();
  const resolve = (name: string): string => {
    let n = name;
    while (alias.has(n)) n = alias.get(n)!;
    return n;
  };
  const counts = new Map<string, number>();
  const note = (what: string) => counts.set(what, (counts.get(what) ?? 0) + 1);
  const graphOutputs = new Set(graph.outputs);
  const used = new Set(graph.nodes.flatMap((n) => n.inputs).concat(graph.outputs));
  const nodes: ImportedNode[] = retieTransposes(initializers, note);
  for (const node of graph.nodes) {
    const inputs = node.inputs.map((i) => (i ? resolve(i) : i));
    let n: ImportedNode = inputs.some((i, k) => i !== node.inputs[k])
      ? { ...node, inputs, refs: node.refs ?? node.inputs }
      : node;
    const where = `node ${n.name} (${n.op})`;
    if (n.domain) {
      nodes.push(n);
      continue;
    }
    if (n.op === "Constant") {
      constants.set(n.outputs[0], scalarConstant(n.attrs, where));
      note("Constant nodes became constants");
      continue;
    }
    if (n.op === "Dropout") {
      if (n.outputs.slice(1).some((o) => o && used.has(o))) {
        fail(`${where} has its mask output used, which the importer does not support`);
      }
      const ratio = n.inputs[1] ? scalarOf(n.inputs[1], constants, initializers) : 0.5;
      const training = n.inputs[2] ? scalarOf(n.inputs[2], constants, initializers) : 0;
      if (ratio === undefined || training === undefined) {
        fail(`${where} takes its ratio or training_mode from a computed value`);
      }
      if (!training || ratio === 0) {
        n = { ...n, op: "Identity", inputs: [n.inputs[0]], refs: undefined, attrs: {} };
        note(
          training
            ? "Dropout nodes in training form with ratio 0 became Identity"
            : "Dropout nodes (inference form) became Identity",
        );
      } else {
        // Training form, ratio > 0: the lowering applies it as the DSL's dropout where asked.
        n = { ...n, inputs: [n.inputs[0]], refs: undefined, attrs: { ratio: ratio! } };
      }
      n = { ...n, outputs: [n.outputs[0]] };
    }
    // Training form: training_mode=1 (opset 14+), or running statistics as outputs (opset 13).
    if (
      n.op === "BatchNormalization" &&
      (n.attrs.training_mode || n.outputs.slice(1).some((o) => o))
    ) {
      if (n.outputs.slice(1).some((o) => o && used.has(o))) {
        fail(`${where} (training form) has its running-statistics outputs used`);
      }
      // The lowering reads it as its inference form, or trains it with trainBatchNorm.
      n = { ...n, outputs: [n.outputs[0]], attrs: { ...n.attrs, training_mode: 1 } };
      note("BatchNormalization nodes in training form were found");
    }
    if (n.op === "Identity" && !graphOutputs.has(n.outputs[0])) {
      alias.set(n.outputs[0], n.inputs[0]);
      note("Identity nodes were bypassed");
      continue;
    }
    const reduced = reduceForm(n, constants, initializers, note);
    if (reduced === "identity") {
      alias.set(n.outputs[0], n.inputs[0]);
      continue;
    }
    n = stripOpsetAttrs(reduced, note);
    nodes.push(n);
  }
  const outputs = graph.outputs.map(resolve);
  const consumers = new Map<string, string[]>();
  for (const n of nodes) {
    for (const i of new Set(n.inputs)) {
      if (initializers.get(i)?.dtype === "float32") {
        consumers.set(i, [...(consumers.get(i) ?? []), n.name]);
      }
    }
  }
  const shared = [...consumers].filter(([, c]) => c.length > 1).map(([name, c]) =>
    Object.freeze({ name, consumers: Object.freeze(c) })
  );
  // Only what the rewritten graph still reads.
  const read = new Set(nodes.flatMap((n) => n.inputs).concat(outputs));
  for (const map of [initializers, constants]) {
    for (const name of [...map.keys()]) if (!read.has(name)) map.delete(name);
  }
  return Object.freeze({
    ...graph,
    outputs: Object.freeze(outputs),
    nodes: Object.freeze(nodes),
    initializers,
    constants,
    shared: Object.freeze(shared),
    notes: Object.freeze([...counts].map(([what, k]) => `${what} (${k})`)),
  });
}

/**
 * Ops the importer lowers as compositions of the IR's ops (`src/compile/lower_onnx.ts`): ops newer
 * than opset 17, which the emitted graphs use (Gelu 20, Mish 18, GroupNormalization 18), CastLike,
 * Dropout in training form, and the reductions the IR has no row for (ReduceL1, ReduceL2,
 * ReduceSumSquare, ReduceMin, ReduceLogSumExp).
 */
export const IMPORT_COMPOSITES: ReadonlySet<string> = new Set([
  "Gelu",
  "Mish",
  "GroupNormalization",
  "CastLike",
  "Dropout",
  "ReduceL1",
  "ReduceL2",
  "ReduceSumSquare",
  "ReduceMin",
  "ReduceLogSumExp",
]);

/**
 * The ops of a graph the IR has no row for, with counts, as a CompileError listing all of them;
 * also FLOAT attributes the IR's row does not declare FLOAT (they could not be emitted).
 *
 * @param graph An imported graph.
 * @throws {CompileError} "Cannot import ONNX model: unsupported ops: Split ×2, Range ×1".
 */
export function checkSupported(graph: ImportedGraph): void {
  const unsupported = new Map<string, number>();
  for (const n of graph.nodes) {
    const key = n.domain ? `${n.domain}.${n.op}` : n.op;
    if (n.domain || !(isOpName(n.op) || IMPORT_COMPOSITES.has(n.op))) {
      unsupported.set(key, (unsupported.get(key) ?? 0) + 1);
    }
  }
  if (unsupported.size) {
    fail(
      `unsupported ops: ${[...unsupported].map(([op, k]) => `${op} ×${k}`).join(", ")} (${
        [...unsupported.values()].reduce((a, k) => a + k, 0)
      } nodes; the model uses ai.onnx opset ${graph.opset})`,
    );
  }
  for (const n of graph.nodes) {
    if (IMPORT_COMPOSITES.has(n.op)) continue;
    const def = OPS[n.op as keyof typeof OPS];
    for (const a of n.floatAttrs) {
      if (!def.floatAttrs?.includes(a)) {
        fail(
          `node ${n.name} (${n.op}) has FLOAT attribute ${a}, which the IR's ${n.op} does not take`,
        );
      }
    }
  }
}

const cache = new WeakMap<Uint8Array, ImportedGraph>();

/**
 * Decodes, normalises ({@linkcode normalizeExporterQuirks}) and checks an ONNX model; cached per
 * byte array, so the train, eval and inference lowerings decode it once.
 *
 * @param bytes A serialised ONNX model.
 * @param options Where external data comes from.
 * @returns The imported graph.
 * @throws {CompileError} On an unsupported opset, unsupported ops (all listed with counts) or a
 * tensor the IR cannot hold.
 */
export function importOnnx(bytes: Uint8Array, options: ImportOptions = {}): ImportedGraph {
  const known = cache.get(bytes);
  if (known) return known;
  const graph = normalizeExporterQuirks(decodeOnnx(bytes, options));
  checkSupported(graph);
  cache.set(bytes, graph);
  return graph;
}
