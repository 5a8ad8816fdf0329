/**
 * The compiler: lowers a model, loss and optimizer to three IR graphs through an ordered list of
 * named passes — train step, eval step and inference model — validating before and after.
 * @module
 */
import type { Layer } from "../dsl/layers.ts";
import type { Loss } from "../dsl/losses.ts";
import type { Optimizer } from "../dsl/optimizers.ts";
import type { Augmentation } from "../dsl/pipeline.ts";
import { differentiate } from "../autodiff/differentiate.ts";
import { createGraphBuilder, type GraphBuilder } from "../ir/builder.ts";
import { CompileError } from "../ir/errors.ts";
import {
  type ConstTensor,
  formatShape,
  type Graph,
  type TensorType,
  type Value,
} from "../ir/types.ts";
import { validateGraph } from "../ir/validate.ts";
import { NAMES } from "./names.ts";
import { applyOptimizer } from "../optim/optimizer.ts";
import { fuseGemmUpdates } from "../optim/fuse_update.ts";
import { speedUpBroadcasts } from "./broadcasts.ts";
import { shareDuplicates } from "./share_nodes.ts";
import { lowerSmallConvs } from "./small_convs.ts";
import { lossLowering } from "./lower_loss.ts";
import { createLowerContext, lowerLayer, type Mode, type Registry } from "./lower_model.ts";
import {
  type BufferSpec,
  type HyperSpec,
  type LayerSummary,
  nextName,
  type ParamSpec,
  type RandomSpec,
  type StateSpec,
} from "./params.ts";
import { type DataSignature, inputType, targetType } from "./data_signature.ts";

export { type DataSignature, inputType, targetType } from "./data_signature.ts";

/** Whether an augmentation crops or flips at all. */
function augments(augment: Augmentation | undefined): augment is Augmentation {
  return augment !== undefined && (augment.randomCrop !== undefined || !!augment.horizontalFlip);
}

/**
 * Everything to compile.
 *
 * @example
 * ```ts
 * import { compileModel, linear, type ModelSpec, mse, sgd } from "../../mod.ts";
 * const spec: ModelSpec = {
 *   data: { sampleShape: [3], targetShape: [1] },
 *   model: linear(3, 1),
 *   loss: mse(),
 *   optimizer: sgd({ lr: 0.01 }),
 * };
 * if (compileModel(spec).targetType.dtype !== "float32") throw new Error();
 * ```
 */
export interface ModelSpec {
  /** The data's shapes and types. */
  readonly data: DataSignature;
  /** The model. */
  readonly model: Layer;
  /** The loss. */
  readonly loss: Loss;
  /** The optimizer. */
  readonly optimizer: Optimizer;
}

/**
 * Options of {@linkcode CompiledModel.inference}.
 *
 * @example
 * ```ts
 * import { compileModel, crossEntropy, type InferenceOptions, linear, sgd } from "../../mod.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [4], classes: 3 },
 *   model: linear(4, 3),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.1, momentum: 0.9 }),
 * });
 * const options: InferenceOptions = { raw: false };
 * const values = new Map(
 *   compiled.params.map((
 *     p,
 *   ) => [p.name, {
 *     dtype: "float32" as const,
 *     shape: p.shape,
 *     data: new Float32Array(p.shape.reduce((a, b) => a * b, 1)),
 *   }]),
 * );
 * const graph = compiled.inference(values, options);
 * if (graph.outputs[0].name !== "logits" || graph.inputs[0].name !== "input") throw new Error();
 * ```
 */
export interface InferenceOptions {
  /** Takes raw uint8 images and converts them in the graph (default false). */
  readonly raw?: boolean;
}

export { NAMES };

/**
 * The compiled graphs and what a trainer must feed them.
 *
 * @example
 * ```ts
 * import { compileModel, crossEntropy, linear, sgd, type CompiledModel } from "../../mod.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [4], classes: 3 },
 *   model: linear(4, 3),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.1, momentum: 0.9 }),
 * });
 * const c: CompiledModel = compiled;
 * if (c.inputType.shape.join() !== "N,4" || c.layers.length !== 1) throw new Error();
 * ```
 */
export interface CompiledModel {
  /** Inputs: input, target, parameters, buffers, masks, state, hyperparameters. Outputs: loss, `*.next`. */
  readonly train: Graph;
  /**
   * Inputs: input, target, parameters, buffers. Outputs: loss_sum, correct (absent for regression losses),
   * counted (per-position class targets only: the non-ignored positions), logits.
   */
  readonly eval: Graph;
  /** One sample's shape: the input is `[N, ...sampleShape]`. */
  readonly sampleShape: readonly number[];
  /** Type of the `input` graph input. */
  readonly inputType: TensorType;
  /** Type of the `target` graph input. */
  readonly targetType: TensorType;
  /** The normalisation the graphs apply to their input before the model (absent: none). */
  readonly normalize?: DataSignature["normalize"];
  /** Trainable parameters, by state_dict name. */
  readonly params: readonly ParamSpec[];
  /** Optimizer state tensors (moments, momentum buffers). */
  readonly state: readonly StateSpec[];
  /** Scalar hyperparameters fed each step (learning rates, β powers). */
  readonly hyper: readonly HyperSpec[];
  /** Buffers (batch norm running statistics), by state_dict name. */
  readonly buffers: readonly BufferSpec[];
  /** Random tensors (dropout masks) the trainer feeds the train graph each step. */
  readonly random: readonly RandomSpec[];
  /** One row per leaf layer: path, kind, output shape, parameter count. */
  readonly layers: readonly LayerSummary[];
  /** The model summary as a table with totals, as Keras's `model.summary()` prints it. */
  summary(): string;
  /**
   * The inference graph (input → logits) with the given parameter and buffer values as
   * initializers. With `raw`, its input is uint8 `[N, ...sampleShape]` (raw pixels) and the graph
   * applies ToTensor (Cast to float32, Div 255) before the normalisation and the model.
   */
  inference(values: ReadonlyMap<string, ConstTensor>, options?: InferenceOptions): Graph;
  /** The names of the passes that built the train graph, in order. */
  readonly passes: readonly string[];
  /**
   * What the compile wants the user told once, such as how an imported model was read (exporter
   * constants kept frozen, training-form BatchNormalization read as inference); `runCli` prints
   * them before training.
   */
  readonly notes: readonly string[];
}

/**
 * Declares a train step's figures as outputs: `loss`, and where the loss has them the batch's
 * `correct` count (for the epoch's training accuracy: a few ops on the logits) and, for
 * per-position class targets, the non-ignored positions it is out of (`counted`).
 */
export function outputStepFigures(
  b: GraphBuilder,
  loss: ReturnType<typeof lossLowering>,
  lossValue: Value,
  logits: Value,
  target: Value,
): void {
  b.output(NAMES.loss, lossValue);
  const correct = loss.correct?.(b, logits, target);
  if (correct) b.output(NAMES.correct, correct);
  const counted = correct && loss.counted?.(b, logits, target);
  if (counted) b.output(NAMES.counted, counted);
}

export function pass<T>(log: string[], name: string, fn: () => T): T {
  log.push(name);
  try {
    return fn();
  } catch (e) {
    if (e instanceof CompileError && !e.message.startsWith("Cannot compile model")) {
      throw new CompileError(`Cannot compile model: ${e.message}`);
    }
    throw e;
  }
}

interface Forward {
  readonly b: GraphBuilder;
  readonly input: Value;
  readonly target: Value;
  readonly logits: Value;
  readonly registry: Registry;
}

/**
 * The train graph's augmentation of raw image bytes `[N, C, H, W]`: zero-pad by `padding`, then
 * gather each sample's window with the fed indices (see the loader's `augmentIndices`): output
 * (i, c, r, q) is element `rows[i, r] + c·Hp·Wp + cols[i, q]` of the flattened padded batch. A
 * flip is a window whose column indices run backwards, so crop and flip are one Gather.
 */
function augmentImages(
  b: GraphBuilder,
  input: Value,
  data: DataSignature,
  augment: Augmentation,
): Value {
  const [channels, height, width] = data.sampleShape;
  const padding = augment.randomCrop?.padding ?? 0, size = augment.randomCrop?.size;
  if (
    data.sampleShape.length !== 3 ||
    (size !== undefined && (size > height + 2 * padding || size > width + 2 * padding))
  ) {
    throw new CompileError(
      `Cannot compile model: augmentation needs images [channels, height, width] and a crop ` +
        `that fits them padded by ${padding}, got sample shape ${formatShape(data.sampleShape)} ` +
        `and crop ${size}`,
    );
  }
  const rows = b.input(NAMES.augmentRows, { dtype: "int64", shape: ["N", 1, size ?? height, 1] });
  const cols = b.input(NAMES.augmentCols, { dtype: "int64", shape: ["N", 1, 1, size ?? width] });
  const padded = padding
    ? b.op1("Pad", [input, b.ints([0, 0, padding, padding, 0, 0, padding, padding])])
    : input;
  const plane = (height + 2 * padding) * (width + 2 * padding);
  const perChannel = b.constant({
    dtype: "int64",
    shape: [1, channels, 1, 1],
    data: BigInt64Array.from({ length: channels }, (_, c) => BigInt(c * plane)),
  });
  const index = b.op1("Add", [b.op1("Add", [rows, perChannel]), cols]);
  return b.op1("Gather", [b.op1("Reshape", [padded, b.ints([-1])]), index], { axis: 0 });
}

/**
 * The preamble before the model: augmentation of raw bytes (train graph), ToTensor for raw uint8
 * input, then Normalize, where asked.
 */
function preamble(
  b: GraphBuilder,
  input: Value,
  data: DataSignature,
  options: { readonly raw: boolean; readonly augment?: Augmentation },
): Value {
  const bytes = options.augment ? augmentImages(b, input, data, options.augment) : input;
  let x = options.raw
    ? b.op1("Div", [b.op1("Cast", [bytes], { to: "float32" }), b.scalar(255)])
    : bytes;
  const norm = data.normalize;
  if (norm) {
    const channels = data.sampleShape[0];
    if (norm.mean.length !== channels || norm.std.length !== channels) {
      throw new CompileError(
        `Cannot compile model: normalize needs one mean and std per channel (${channels}), got ` +
          `${norm.mean.length} and ${norm.std.length}`,
      );
    }
    const shape = [1, channels, ...data.sampleShape.slice(1).map(() => 1)];
    const perChannel = (v: readonly number[]) =>
      b.constant({ dtype: "float32", shape, data: Float32Array.from(v) });
    x = b.op1("Div", [b.op1("Sub", [x, perChannel(norm.mean)]), perChannel(norm.std)]);
  }
  return x;
}

/**
 * The input preamble alone as a graph, to inspect what the model sees: the data's batches in
 * (`input`, and in `"train"` mode the augmentation's `augment_rows` and `augment_cols`), the
 * model's input out (`x`: float32 after ToTensor, augmentation and normalisation).
 *
 * @param data The data signature.
 * @param mode `"train"` includes the augmentation; `"eval"` does not.
 * @returns The graph.
 * @example
 * ```ts
 * import { compileInputTransform } from "./compile.ts";
 * const g = compileInputTransform({ sampleShape: [1, 2, 2], classes: 2, inputDtype: "uint8" });
 * if (!g.nodes.some((n) => n.op === "Div")) throw new Error("ToTensor divides by 255");
 * ```
 */
export function compileInputTransform(data: DataSignature, mode: Mode = "train"): Graph {
  const b = createGraphBuilder();
  b.output("x", lowerInput(b, data, mode, "data").x);
  return validateGraph(b.build("input_transform"));
}

/**
 * Declares the graph's `input` and lowers the preamble. `input`: what the graph takes — the
 * data's batches (`"data"`: train and eval graphs), the model's tensors (`"tensor"`: float32
 * `[0, 1]` pixels for images) or raw bytes (`"raw"`), for the inference model.
 */
export function lowerInput(
  b: GraphBuilder,
  data: DataSignature,
  mode: Mode,
  input: "data" | "tensor" | "raw",
): { readonly input: Value; readonly x: Value } {
  const dtype = data.inputDtype ?? "float32";
  if (input === "raw" && dtype !== "float32" && dtype !== "uint8") {
    throw new CompileError(
      `Cannot compile model: a raw (uint8) export needs image input, got ${dtype}`,
    );
  }
  const raw = input === "raw" || (input === "data" && dtype === "uint8");
  const type = inputType(data);
  const graphInput = b.input(
    NAMES.input,
    { ...type, dtype: raw ? "uint8" : input === "tensor" && dtype === "uint8" ? "float32" : dtype },
  );
  const augment = input === "data" && mode === "train" && augments(data.augment)
    ? data.augment
    : undefined;
  if (augment && dtype !== "uint8") {
    throw new CompileError(
      `Cannot compile model: augmentation needs raw image input (uint8), got ${dtype}`,
    );
  }
  return { input: graphInput, x: preamble(b, graphInput, data, { raw, augment }) };
}

/** Lowers the input, the preamble and the model (see {@linkcode lowerInput} for `input`). */
export function lowerForward(
  spec: ModelSpec,
  mode: Mode,
  withTarget: boolean,
  input: "data" | "tensor" | "raw" = "data",
): Forward {
  const b = createGraphBuilder();
  const { input: graphInput, x } = lowerInput(b, spec.data, mode, input);
  const crop = spec.data.augment?.randomCrop, [, height, width] = spec.data.sampleShape;
  if (crop && (crop.size !== height || crop.size !== width)) {
    throw new CompileError(
      `Cannot compile model: augment.randomCrop size ${crop.size} differs from the ` +
        `${height}x${width} images; validation and test images are not cropped`,
    );
  }
  let target = withTarget ? b.input(NAMES.target, targetType(spec.data)) : graphInput;
  const { ctx, registry } = createLowerContext(b, mode);
  const logits = lowerLayer(spec.model, x, ctx, "");
  let lossData = spec.data;
  if (withTarget && spec.data.oneHot) {
    const classes = spec.data.classes;
    if (classes === undefined) {
      throw new CompileError("Cannot compile model: oneHot needs class-index targets");
    }
    const values = b.constant({ dtype: "float32", shape: [2], data: Float32Array.of(0, 1) });
    target = b.op1("OneHot", [target, b.ints([classes]), values], { axis: -1 });
    lossData = {
      ...spec.data,
      classes: undefined,
      labelShape: undefined,
      targetShape: [...(spec.data.labelShape ?? []), classes],
    };
  }
  if (withTarget) lossLowering(spec.loss).check(logits, target, lossData);
  return { b, input: graphInput, target, logits, registry };
}

/** Formats summary rows as Keras's `model.summary()` does, with totals. */
function formatSummary(rows: readonly LayerSummary[]): string {
  const fmt = (n: number) => n.toLocaleString("en-US");
  const table = [
    ["Layer (path)", "Kind", "Output shape", "Params"],
    ...rows.map((r) => [r.path, r.layer, formatShape(r.outputShape), fmt(r.params)]),
  ];
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  const line = (row: string[]) =>
    row.map((cell, c) => c === 3 ? cell.padStart(widths[c]) : cell.padEnd(widths[c])).join("  ")
      .trimEnd();
  const rule = "=".repeat(widths.reduce((a, w) => a + w + 2, -2));
  const params = rows.reduce((n, r) => n + r.params, 0);
  const buffers = rows.reduce((n, r) => n + r.buffers, 0);
  return [
    line(table[0]),
    rule,
    ...table.slice(1).map(line),
    rule,
    `Total params: ${fmt(params)}`,
    `Trainable params: ${fmt(params)}`,
    `Non-trainable buffers: ${fmt(buffers)}`,
  ].join("\n");
}

/**
 * Compiles a model, loss and optimizer into train, eval and inference graphs.
 *
 * @param spec Data signature, model, loss and optimizer.
 * @returns The compiled model.
 * @throws {CompileError} "Cannot compile model: layer 5 (linear 512→10) expects 512 input
 * features, got 784 …" and the like.
 * @example
 * ```ts
 * import { compileModel, crossEntropy, linear, sgd } from "../../mod.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [4], classes: 3 },
 *   model: linear(4, 3),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.1 }),
 * });
 * if (compiled.params.map((p) => p.name).join() !== "weight,bias") throw new Error();
 * if (!compiled.train.outputs.some((o) => o.name === "loss")) throw new Error();
 * ```
 */
export function compileModel(spec: ModelSpec): CompiledModel {
  const passes: string[] = [];
  const loss = lossLowering(spec.loss);

  const fwd = pass(passes, "lower model", () => lowerForward(spec, "train", true));
  const { b } = fwd;
  const lossValue = pass(passes, "attach loss", () => loss.train(b, fwd.logits, fwd.target));
  pass(passes, "validate forward", () => validateGraph(b.build("train_forward")));
  const grads = pass(
    passes,
    "differentiate",
    () => differentiate(b, lossValue, fwd.registry.params.map((p) => p.value)),
  );
  const step = pass(
    passes,
    "apply optimizer",
    () =>
      applyOptimizer(
        b,
        spec.optimizer,
        fwd.registry.params.map((p, i) => ({ ...p, grad: grads[i] })),
      ),
  );
  const train = pass(passes, "validate train step", () => {
    outputStepFigures(b, loss, lossValue, fwd.logits, fwd.target);
    fwd.registry.params.forEach((p, i) => b.output(nextName(p.spec.name), step.updated[i]));
    for (const s of step.state) b.output(nextName(s.spec.name), s.next);
    for (const buf of fwd.registry.buffers) {
      if (buf.next) b.output(nextName(buf.spec.name), buf.next);
    }
    return validateGraph(b.build("train_step"));
  });
  const fusedTrain = pass(
    passes,
    "fuse updates into gradient Gemms",
    () =>
      validateGraph(shareDuplicates(speedUpBroadcasts(lowerSmallConvs(fuseGemmUpdates(train))))),
  );

  const evalGraph = pass([], "lower eval step", () => {
    const e = lowerForward(spec, "eval", true);
    const m = loss.eval(e.b, e.logits, e.target);
    e.b.output(NAMES.lossSum, m.lossSum);
    // Regression losses have no correct count; the eval graph then has no `correct` output.
    if (m.correct) e.b.output(NAMES.correct, m.correct);
    if (m.counted) e.b.output(NAMES.counted, m.counted);
    e.b.output(NAMES.logits, e.logits);
    return validateGraph(
      shareDuplicates(speedUpBroadcasts(lowerSmallConvs(e.b.build("eval_step")))),
    );
  });

  return Object.freeze({
    train: fusedTrain,
    eval: evalGraph,
    sampleShape: Object.freeze([...spec.data.sampleShape]),
    inputType: inputType(spec.data),
    targetType: targetType(spec.data),
    ...(spec.data.normalize ? { normalize: spec.data.normalize } : {}),
    params: Object.freeze(fwd.registry.params.map((p) => p.spec)),
    buffers: Object.freeze(fwd.registry.buffers.map((p) => p.spec)),
    random: Object.freeze(fwd.registry.masks.map((p) => p.spec)),
    layers: Object.freeze([...fwd.registry.summary]),
    summary: () =>
      [formatSummary(fwd.registry.summary), ...fwd.registry.notes.map((n) => `note: ${n}`)]
        .join("\n"),
    state: Object.freeze(step.state.map((s) => s.spec)),
    hyper: Object.freeze([...step.hyper]),
    passes: Object.freeze(passes),
    notes: Object.freeze([...fwd.registry.notes]),
    inference(values: ReadonlyMap<string, ConstTensor>, options: InferenceOptions = {}): Graph {
      return pass([], "lower inference model", () => {
        const f = lowerForward(spec, "eval", false, options.raw ? "raw" : "tensor");
        f.b.output(NAMES.logits, f.logits);
        const graph = f.b.build("inference");
        const stored = [...f.registry.params, ...f.registry.buffers];
        const initializers = stored.map(({ spec: p, value }) => {
          const tensor = values.get(p.name);
          if (!tensor) {
            throw new CompileError(`Cannot export model: no value for ${p.name}`);
          }
          return { value, tensor };
        });
        const isParam = new Set(stored.map((p) => p.value.id));
        return validateGraph({
          ...graph,
          inputs: graph.inputs.filter((p) => !isParam.has(p.value.id)),
          initializers: Object.freeze(initializers),
        });
      });
    },
  });
}
