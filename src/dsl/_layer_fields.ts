/**
 * The fields each layer kind's description must have, and the check of a layer object against
 * them (a malformed layer, as built by hand or cast with `as any`, is a user error naming it).
 * @module
 */
import type { LayerKind } from "./layer_types.ts";

/** What a field of a layer description holds. */
type FieldType = "number" | "boolean" | "string" | "list" | "object" | "function";

type Fields = Readonly<Record<string, FieldType>>;
const N = "number", B = "boolean", S = "string", L = "list", O = "object", F = "function";
const CONV: Fields = {
  inChannels: N,
  outChannels: N,
  kernelSize: L,
  stride: L,
  dilation: L,
  groups: N,
};
const POOL: Fields = { kernelSize: L, stride: L, padding: L };
const NORM: Fields = { numFeatures: N, eps: N, momentum: N, affine: B };

/**
 * The fields every layer kind's description must have (a `Record` over the kinds, so a new kind
 * fails to compile until it is listed). Optional fields are left out.
 */
const LAYER_FIELDS: { readonly [K in LayerKind]: Fields } = {
  flatten: { startDim: N, endDim: N },
  reshape: { shape: L },
  linear: { inFeatures: N, outFeatures: N, bias: B },
  relu: {},
  sigmoid: {},
  tanh: {},
  silu: {},
  identity: {},
  gelu: { approximate: S },
  "leaky-relu": { negativeSlope: N },
  elu: { alpha: N },
  softmax: { dim: N },
  "log-softmax": { dim: N },
  dropout: { p: N },
  embedding: { numEmbeddings: N, embeddingDim: N },
  conv1d: { ...CONV, bias: B },
  conv2d: { ...CONV, bias: B },
  "max-pool-2d": { ...POOL, dilation: L },
  "avg-pool-2d": { ...POOL, countIncludePad: B },
  "adaptive-avg-pool-2d": { outputSize: L },
  "batch-norm-1d": NORM,
  "batch-norm-2d": NORM,
  "layer-norm": { normalizedShape: L, eps: N, elementwiseAffine: B },
  onnx: { bytes: O, source: S, trainable: F },
  sequential: { layers: L },
  module: { children: O, input: O, output: O },
};

const typeOf = (v: unknown): string =>
  v === null ? "null" : Array.isArray(v) ? "list" : typeof v === "function" ? "function" : typeof v;

/**
 * Why a value is not a well-formed layer description, or undefined when it is: not an object, no
 * `kind`, a kind onnxtrain does not know, or a field of its kind missing or of the wrong type (a
 * layer built by hand or cast with `as any`). The layer's own arguments are checked by its
 * factory; this catches what no factory made.
 *
 * @param layer Anything used as a layer.
 * @returns `is not a layer (got null)`, `has unknown kind "bogus" (…)`, `(linear) lacks
 * inFeatures (a number); build it with linear(…)`, …, to follow the layer's path; or undefined.
 * @example
 * ```ts
 * import { layerProblem } from "./_layer_fields.ts";
 * import { linear } from "./layers.ts";
 * if (layerProblem(linear(2, 2)) !== undefined) throw new Error();
 * const why = layerProblem({ kind: "linear", inFeatures: 2, bias: true });
 * if (why !== "(linear) lacks outFeatures (a number); build it with linear(…)") {
 *   throw new Error(why);
 * }
 * ```
 */
export function layerProblem(layer: unknown): string | undefined {
  if (layer === null || (typeof layer !== "object" && typeof layer !== "function")) {
    const got = typeof layer === "string" ? JSON.stringify(layer.slice(0, 60)) : String(layer);
    return `is not a layer (got ${typeOf(layer) === "null" ? "null" : `${typeOf(layer)} ${got}`})`;
  }
  const { kind } = layer as { kind?: unknown };
  const factories = "build layers with their factories, such as linear(…)";
  if (typeof kind !== "string") {
    const keys = Object.keys(layer).slice(0, 6);
    const what = keys.length ? `an object with ${keys.join(", ")}` : "an empty object";
    return `is not a layer: it has no kind (got ${what}); ${factories}`;
  }
  const fields = Object.hasOwn(LAYER_FIELDS, kind) ? LAYER_FIELDS[kind as LayerKind] : undefined;
  if (!fields) {
    return `has unknown kind ${JSON.stringify(kind.slice(0, 60))} (known kinds: ` +
      `${Object.keys(LAYER_FIELDS).join(", ")}); ${factories}`;
  }
  const factory = kind === "onnx" ? "fromOnnx" : kind.replace(/-(\w)/g, (_, c) => c.toUpperCase());
  for (const [name, type] of Object.entries(fields)) {
    const value = (layer as Record<string, unknown>)[name];
    const why = value === undefined
      ? `lacks ${name} (a ${type})`
      : typeOf(value) !== type
      ? `has ${name} of type ${typeOf(value)}, not a ${type}`
      : undefined;
    if (why) return `(${kind}) ${why}; build it with ${factory}(…)`;
  }
  return undefined;
}
