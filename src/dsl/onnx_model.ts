/**
 * `fromOnnx`: an ONNX model exported by another tool (`torch.onnx.export`, …) as a layer, so it
 * can be fine-tuned and followed by a new head. The layer only holds the model's bytes and the
 * options; the compiler decodes and inlines the model's nodes (no ONNX code here).
 * @module
 */
import { type LayerBase, makeLayer } from "./layer.ts";
import { UserRangeError, UserTypeError } from "../util/user_error.ts";

/**
 * Which initializers train: a name pattern, a predicate, or all float ones (`true`).
 *
 * @example
 * ```ts
 * import { fromOnnx, type TrainableSelector } from "./onnx_model.ts";
 * const head: TrainableSelector = (name) => name.startsWith("head.");
 * if (fromOnnx(Uint8Array.of(8, 8), { trainable: head }).trainable("body.weight")) {
 *   throw new Error();
 * }
 * ```
 */
export type TrainableSelector = RegExp | ((name: string) => boolean) | boolean;

/**
 * How to treat a trainable initializer that feeds several nodes (exporters deduplicate identical
 * tensors, which ties weights the source model trained separately): `"auto"` unties tensors
 * merged for holding equal values (reached through an Identity alias, or constant-valued) and
 * keeps distinct-valued ones tied (a source's tied weights), `"error"` refuses to compile and
 * names them, `"tie"` trains one tensor, `"untie"` trains a copy
 * per consuming node: a node reading it through an exporter's Identity alias trains the copy under
 * the alias's name (which keeps the source model's name, such as `ln2.weight` for a deduplicated
 * `ln1.weight`), further nodes reading it directly under `name.untied1`, `name.untied2`, ….
 * @example
 * ```ts
 * import { fromOnnx, type SharedPolicy } from "./onnx_model.ts";
 * const shared: SharedPolicy = "untie";
 * if (fromOnnx(Uint8Array.of(8, 8), { shared }).shared !== "untie") throw new Error();
 * ```
 */
export type SharedPolicy = "auto" | "error" | "tie" | "untie";

/**
 * An imported ONNX model used as a layer.
 *
 * @example
 * ```ts
 * import { fromOnnx, type OnnxModelLayer } from "./onnx_model.ts";
 * // The bytes are read when the pipeline compiles; a path is read at once.
 * const layer: OnnxModelLayer = fromOnnx(Uint8Array.of(8, 8), { trainable: /^fc\./ });
 * if (!layer.trainable("fc.weight") || layer.trainable("conv.weight")) throw new Error();
 * ```
 */
export interface OnnxModelLayer {
  /** Selects the `fromOnnx` lowering. */
  readonly kind: "onnx";
  /** The serialised ModelProto. */
  readonly bytes: Uint8Array;
  /** Where the bytes came from (a path, or `ONNX bytes`), for messages. */
  readonly source: string;
  /** Whether the float initializer of this ONNX name is trained (else it is a constant). */
  readonly trainable: (name: string) => boolean;
  /** Whether `trainable` was given explicitly (selecting a non-float initializer is an error). */
  readonly explicit: boolean;
  /**
   * Whether `trainable: true` asked for every float initializer, exporter constants included
   * (by default those stay frozen).
   */
  readonly trainAll: boolean;
  /** Reads an external data file by its location in the model (set when read from a path). */
  readonly externalData?: (location: string) => Uint8Array;
  /** Whether Dropout nodes exported in training form apply dropout in the train graph. */
  readonly trainDropout: boolean;
  /** What to do with a trainable initializer that feeds several nodes. */
  readonly shared: SharedPolicy;
  /** Whether exported BatchNormalization nodes train their running statistics (default false). */
  readonly trainBatchNorm: boolean;
  /** The ONNX value the layer returns: a graph output or a node's output (default: the first output). */
  readonly output?: string;
}

/**
 * Options of {@linkcode fromOnnx}.
 *
 * @example
 * ```ts
 * import { fromOnnx, type FromOnnxOptions } from "./onnx_model.ts";
 * const options: FromOnnxOptions = { trainable: false, shared: "tie" };
 * if (fromOnnx(Uint8Array.of(8, 8), options).shared !== "tie") throw new Error();
 * ```
 */
export interface FromOnnxOptions {
  /**
   * Which float initializers become parameters, by ONNX initializer name. The default trains
   * what the source model trained: every float initializer except BatchNormalization's running
   * statistics and the constants an exporter made (one-element tensors without a `state_dict`
   * name, such as an attention scale `val_70` or Clip's bounds, and masks holding infinities or
   * ±3.4e38); `true` trains every float initializer but the running statistics. The compile's
   * notes list what was frozen.
   */
  readonly trainable?: TrainableSelector;
  /**
   * External data of a model whose tensors live outside the `.onnx` file (`model.onnx.data`, as
   * PyTorch's dynamo exporter writes): the files' bytes by location, or a reader. Given a path,
   * `fromOnnx` reads them from the model's folder itself.
   */
  readonly externalData?:
    | Readonly<Record<string, Uint8Array>>
    | ((location: string) => Uint8Array);
  /**
   * Apply Dropout nodes exported in training form (`training=TrainingMode.TRAINING`, ratio > 0)
   * in the train graph, with host-drawn masks as the DSL's dropout (default false: they are
   * identities, and the compile says so). Inference-form Dropout is always the identity.
   */
  readonly trainDropout?: boolean;
  /**
   * What to do with a trainable initializer that feeds several nodes. Exporters merge tensors
   * that merely hold equal values (every fresh LayerNorm's ones), while a tensor of distinct
   * values feeding several nodes is one parameter of the source (tied embeddings). The default
   * `"auto"` unties the first kind (reached through an exporter's Identity alias, or
   * constant-valued) and keeps the second tied; the compile's notes say which. `"untie"` unties
   * all, `"tie"` ties all, `"error"` refuses to compile.
   */
  readonly shared?: SharedPolicy;
  /**
   * Which value the layer returns (default: the model's first output): a graph output, or any
   * node's output, which cuts the model there so that a new head can replace its own.
   */
  readonly output?: string;
  /**
   * Train exported BatchNormalization nodes as PyTorch's `module.train()` does: batch statistics
   * in the train graph and their running statistics, now buffers named by their initializers,
   * updated there (default false: the running statistics are frozen constants).
   */
  readonly trainBatchNorm?: boolean;
}

const dirnameOf = (path: string): string => {
  const i = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return i < 0 ? "." : path.slice(0, i) || "/";
};
const joinPath = (dir: string, name: string): string => `${dir}/${name}`;

/**
 * The bytes of a model file (or of its external data, `of` naming the model), or a one-line
 * user error naming the path: missing, a directory, empty, or unreadable.
 */
function readModel(path: string, of?: string): Uint8Array {
  const what = of ? `external data file ${path} of ${of}` : `ONNX model ${path}`;
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    const reason = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Deno.errors.IsADirectory
      ? "it is a directory"
      : e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied
      ? "read access was denied (run with -P, or --allow-read)"
      : (e as Error).message;
    throw new UserRangeError(`Cannot create layer onnx: cannot read ${what}: ${reason}`, {
      cause: e,
    });
  }
  if (bytes.length === 0 && !of) {
    throw new UserRangeError(`Cannot create layer onnx: ${what} is empty`);
  }
  return bytes;
}

/**
 * An ONNX inference model as a trainable layer. Its float initializers become parameters named
 * by their ONNX initializer names (under the layer's path, like any child's parameters: at the
 * top of a model the names are the ONNX names; as child `0` of a sequential they are
 * `0.<onnx name>`); BatchNormalization nodes stay in their exported (inference) form with frozen
 * running statistics. Opsets 13 to 26 are read (local functions inlined, external data read beside a path); unsupported ops fail at compile time, all listed
 * with their counts.
 *
 * @param source A path to an `.onnx` file, or its bytes.
 * @param options trainable, shared, output.
 * @returns A layer of kind `"onnx"`.
 * @example
 * ```ts
 * import {
 *   compileModel,
 *   crossEntropy,
 *   emitModel,
 *   linear,
 *   relu,
 *   sequential,
 *   sgd,
 * } from "../../mod.ts";
 * import { fromOnnx } from "./onnx_model.ts";
 * // An exported 2-layer MLP (any ONNX model: `fromOnnx("mlp.onnx")` reads a file).
 * const spec = {
 *   data: { sampleShape: [4], classes: 3 },
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.1 }),
 * };
 * const mlp = compileModel({ ...spec, model: sequential(linear(4, 8), relu(), linear(8, 3)) });
 * const values = new Map(mlp.params.map((p) => [p.name, {
 *   dtype: "float32" as const,
 *   shape: p.shape,
 *   data: new Float32Array(p.shape.reduce((a, b) => a * b, 1)).fill(0.1),
 * }]));
 * const bytes = emitModel(mlp.inference(values));
 * // Fine-tune only its last layer, with a new 2-class head after it.
 * const model = sequential(fromOnnx(bytes, { trainable: /^2\./ }), linear(3, 2));
 * const tuned = compileModel({ ...spec, data: { sampleShape: [4], classes: 2 }, model });
 * if (tuned.params.map((p) => p.name).join() !== "0.2.weight,0.2.bias,1.weight,1.bias") {
 *   throw new Error(tuned.params.map((p) => p.name).join());
 * }
 * ```
 */
export function fromOnnx(
  source: string | Uint8Array,
  options: FromOnnxOptions = {},
): OnnxModelLayer & LayerBase<"onnx"> {
  const bytes = typeof source === "string" ? readModel(source) : source;
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) {
    throw new UserTypeError("Cannot create layer onnx: expected a path or non-empty ONNX bytes");
  }
  const given = options.externalData;
  const externalData = typeof given === "function" ? given : given
    ? (location: string) => {
      const data = given[location];
      if (!data) {
        throw new UserRangeError(
          `Cannot create layer onnx: the model's tensors are in ${location}, which externalData does not hold (it holds ${
            Object.keys(given).join(", ") || "nothing"
          })`,
        );
      }
      return data;
    }
    : typeof source === "string"
    ? (location: string) => readModel(joinPath(dirnameOf(source), location), source)
    : undefined;
  const t = options.trainable ?? true;
  const trainable = typeof t === "boolean"
    ? () => t
    : t instanceof RegExp
    ? (name: string) => new RegExp(t.source, t.flags.replace("g", "")).test(name)
    : t;
  const shared = options.shared ?? "auto";
  if (!["auto", "error", "tie", "untie"].includes(shared)) {
    throw new UserRangeError(
      `Cannot create layer onnx: shared must be "auto", "error", "tie" or "untie", got ${shared}`,
    );
  }
  return makeLayer({
    kind: "onnx" as const,
    bytes,
    source: typeof source === "string" ? source : "ONNX bytes",
    trainable,
    explicit: options.trainable !== undefined && options.trainable !== true,
    trainAll: options.trainable === true,
    trainDropout: options.trainDropout ?? false,
    ...(externalData ? { externalData } : {}),
    shared,
    trainBatchNorm: options.trainBatchNorm ?? false,
    ...(options.output !== undefined ? { output: options.output } : {}),
  });
}
