/**
 * The command line's flags: one table gives the parser, the `--help` text (with the pipeline's
 * own defaults) and the checks of which flags apply to a pipeline.
 * @module
 */
import type { Dataset } from "../dsl/datasets.ts";
import type { PipelineProps } from "../dsl/pipeline.ts";
import { type Backend, BACKENDS, type Device } from "../runtime/session.ts";
import { describePipeline } from "../train/describe.ts";
import type { RunOptions } from "../train/run_types.ts";
import { UserRangeError, UserTypeError } from "../util/user_error.ts";

/**
 * The values of a script's own flags (see {@linkcode CliOptions}), undefined when not given.
 *
 * @example
 * ```ts
 * import type { CliFlags } from "./flags.ts";
 * // What a pipeline function given to `runCli` receives for `--csv data.csv`.
 * const flags: CliFlags = { csv: "data.csv", target: undefined };
 * if (flags.csv !== "data.csv" || flags.target !== undefined) throw new Error();
 * ```
 */
export type CliFlags = Readonly<Record<string, string | undefined>>;

/** A bad command line: an unknown flag, a missing or malformed value, a flag that does not apply. */
export class FlagError extends UserRangeError {}

/** One flag of the table. */
interface FlagSpec {
  readonly name: string;
  /** The value's placeholder in the help (`N`, `PATH`); absent for a switch. */
  readonly value?: string;
  readonly help: string;
  /** The default shown by `--help`, from the pipeline when known. */
  readonly default?: (p: PipelineProps | undefined) => string;
  /** Why the flag does not apply to a pipeline (then `--help` leaves it out); undefined if it does. */
  readonly inapplicable?: (p: PipelineProps) => string | undefined;
}

const fromPipeline = (f: (p: PipelineProps) => string | number | undefined) =>
(
  p: PipelineProps | undefined,
) => p === undefined ? "the pipeline's" : String(f(p) ?? "none");

function dataRoot(data: Dataset | undefined): string | undefined {
  return data !== undefined && "root" in data ? data.root : undefined;
}

function describeData(data: Dataset | undefined): string {
  switch (data?.kind) {
    case "tensor":
      return "an in-memory tensorDataset";
    case "idx":
      return "IDX files at fixed paths";
    case "image-folder":
      return "image folders at fixed paths";
    default:
      return `a ${data?.kind} dataset`;
  }
}

/** Every flag of the CLI, in the order `--help` lists them. */
const FLAGS: readonly FlagSpec[] = [
  { name: "epochs", value: "N", help: "number of epochs", default: fromPipeline((p) => p.epochs) },
  {
    name: "batch-size",
    value: "N",
    help: "samples per batch",
    default: fromPipeline((p) => p.batchSize),
  },
  {
    name: "lr",
    value: "X",
    help: "learning rate, a number ≥ 0",
    default: fromPipeline((p) => p.optimizer?.lr),
  },
  {
    name: "seed",
    value: "N",
    help: "seed of initialisation and shuffling",
    default: (p) => p === undefined ? "the pipeline's or random" : String(p.seed ?? "random"),
  },
  {
    name: "data-dir",
    value: "ROOT",
    help: "dataset root in torchvision's layout (ROOT/FashionMNIST/raw/, …)",
    default: (p) => p === undefined ? "the pipeline's" : dataRoot(p.data) ?? "none",
    inapplicable: (p) =>
      dataRoot(p.data) === undefined
        ? `this pipeline's data is ${describeData(p.data)}, which has no dataset root`
        : undefined,
  },
  { name: "device", value: "cpu|cuda", help: "execution device", default: () => "cpu" },
  {
    name: "backend",
    value: "node|web",
    help: "onnxruntime-node (native) or -web (WebAssembly: CPU only)",
    default: () => "node",
  },
  {
    name: "threads",
    value: "N",
    help: "onnxruntime threads, at most the core count",
    default: () => "one per core; web: 1",
  },
  {
    name: "steps-per-run",
    value: "K",
    help: "optimizer steps per onnxruntime run (same results)",
    default: () => "16 on CPU, 64 on CUDA",
  },
  {
    name: "spin",
    help: "onnxruntime's idle threads spin for work (off: steadier beside other busy processes)",
  },
  {
    name: "worker-loader",
    help: "build training batches on a worker thread",
  },
  {
    name: "distributed",
    help: "train data-parallel across the processes of an MPI job (mpirun -np N …)",
  },
  {
    name: "local-sgd",
    value: "H",
    help: "with --distributed: local SGD, average the parameters every H steps",
    default: () => "off",
  },
  {
    name: "export",
    value: "PATH",
    help: "write the trained inference model (ONNX) to PATH, atomically",
  },
  {
    name: "export-raw",
    help: "with --export: the model takes raw uint8 images [N, C, H, W]",
    inapplicable: (p) =>
      p.data?.kind === "tensor"
        ? `this pipeline's data is ${describeData(p.data)}; a raw model needs image data`
        : undefined,
  },
  {
    name: "emit",
    value: "DIR",
    help: "write the train, eval and inference graphs (ONNX) to DIR",
  },
  {
    name: "metrics",
    value: "PATH",
    help: "write JSON Lines: a record per logged step and per epoch",
  },
  {
    name: "plot",
    value: "PATH.svg",
    help: "write an SVG plot of loss and accuracy per epoch",
  },
  { name: "summary", help: "print the model summary (layers, shapes, parameters), then train" },
  { name: "quiet", help: "log only the final test report (no step lines, no progress line)" },
  {
    name: "init",
    value: "PATH",
    help: "warm start from a checkpoint, safetensors or ONNX file, by name",
  },
  { name: "init-partial", help: "with --init: load the tensors that match, list those skipped" },
  {
    name: "checkpoint",
    value: "DIR",
    help: "save a checkpoint in DIR every epoch; Ctrl-C saves one and exits",
  },
  {
    name: "checkpoint-every",
    value: "N",
    help: "with --checkpoint: also save every N steps",
    default: () => "each epoch only",
  },
  {
    name: "keep",
    value: "N",
    help: "with --checkpoint: keep the last N checkpoints",
    default: () => "2",
  },
  {
    name: "resume",
    help: "with --checkpoint: continue from DIR's latest (--epochs: the total)",
  },
  {
    name: "overwrite",
    help: "with --checkpoint: delete the checkpoints of an earlier run in DIR, start afresh",
  },
];

const FLAG_NAMES = new Set(["help", ...FLAGS.map((f) => f.name)]);

/**
 * The help text: every flag with its one-line description and default, the pipeline's values
 * where the pipeline is known, and the script's own flags.
 *
 * @param props The pipeline's description (undefined: a pipeline built from the script's flags).
 * @param own The script's own flags, as {@linkcode CliOptions.flags}.
 * @param script The script's path as typed (default `PIPELINE.ts`).
 * @returns The text.
 * @example
 * ```ts
 * import { usage } from "./cli.ts";
 * const text = usage(undefined, { csv: "PATH  the CSV file" });
 * if (!text.includes("--epochs") || !text.includes("--csv PATH")) throw new Error(text);
 * ```
 */
export function usage(
  props?: PipelineProps,
  own: Readonly<Record<string, string>> = {},
  script?: string,
): string {
  const rows: [string, string][] = FLAGS
    .filter((f) => props === undefined || f.inapplicable?.(props) === undefined)
    .map((f) => [
      `--${f.name}${f.value ? ` ${f.value}` : ""}`,
      f.help + (f.default ? ` (default ${f.default(props)})` : ""),
    ]);
  rows.push(["-h, --help", "show this text"]);
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  const table = rows.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`);
  const ownRows = Object.entries(own).map(([f, text]) => `  --${f} ${text}`);
  return [
    `Usage: deno run -P ${script ?? "PIPELINE.ts"} [flags]`,
    ...(props === undefined ? [] : ["", `Trains: ${describePipeline(props)}`]),
    "",
    "Flags:",
    ...table,
    ...(ownRows.length ? ["", "Pipeline flags:", ...ownRows] : []),
    "",
    "--init is strict: missing, unexpected or mis-shaped tensors are an error.",
    "Optimizer state is not loaded (that is --resume's job).",
    "--summary prints the model summary, then trains.",
    "A --checkpoint folder belongs to one run: a fresh run into one holding checkpoints is",
    "refused (--resume continues that run, --overwrite deletes them).",
    "Exit status: 0 done, 1 error, 2 bad flags, 70 internal error (a bug), 130 interrupted",
    "(Ctrl-C), 143 terminated (SIGTERM).",
  ].join("\n");
}

/** The help text of a pipeline not yet known (defaults shown as "the pipeline's"). */
export const USAGE: string = usage();

/** Edit distance, for suggesting a flag name. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

function unknownFlag(name: string, known: readonly string[]): FlagError {
  const best = known
    .map((k) => [k, distance(name, k)] as const)
    .filter(([k, d]) => d <= 2 || k.startsWith(name))
    .sort((x, y) => x[1] - y[1])[0];
  return new FlagError(`Unknown flag --${name}${best ? ` (did you mean --${best[0]}?)` : ""}`);
}

const DECIMAL = /^\+?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\+?\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) {
    throw new FlagError(`Invalid ${flag}: expected a positive integer, got '${value}'`);
  }
  return n;
}

/** What the command line says. */
export interface Parsed {
  readonly options: RunOptions | "help";
  /** The script's own flags' values. */
  readonly flags: CliFlags;
  /** `--summary`: print the model summary before training. */
  readonly summary: boolean;
}

/**
 * Parses command-line flags into run options.
 *
 * @param args The arguments (e.g. `Deno.args`).
 * @returns The options, or `"help"` when help was asked for.
 * @throws {RangeError} On an unknown flag, a missing, empty or malformed value, or flags that do
 * not go together, naming the flag and the value.
 * @example
 * ```ts
 * import { parseCliArgs } from "./cli.ts";
 * const o = parseCliArgs(["--epochs", "3", "--lr=0.01"]);
 * if (o === "help" || o.epochs !== 3 || o.lr !== 0.01) throw new Error();
 * ```
 */
export function parseCliArgs(args: readonly string[]): RunOptions | "help" {
  return parseWithFlags(args, {}).options;
}

/** Splits the arguments into flag values (strings, `true` for switches). */
function scan(
  args: readonly string[],
  extra: Readonly<Record<string, string>>,
): Map<string, string | true> | "help" {
  if (args.includes("-h") || args.includes("--help")) return "help";
  const takesValue = new Map<string, string | undefined>([
    ...FLAGS.map((f) => [f.name, f.value] as const),
    ...Object.entries(extra).map(([f, text]) =>
      [f, text.trim().split(/\s+/)[0] || "VALUE"] as const
    ),
  ]);
  const values = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("--") || arg.length === 2) {
      throw new FlagError(`Unexpected argument '${arg}': flags start with -- (e.g. --epochs 3)`);
    }
    const eq = arg.indexOf("=");
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    if (!takesValue.has(name)) throw unknownFlag(name, [...takesValue.keys()]);
    if (values.has(name)) throw new FlagError(`Invalid --${name}: given twice`);
    const placeholder = takesValue.get(name);
    if (placeholder === undefined) {
      if (eq >= 0) throw new FlagError(`Invalid ${arg}: --${name} takes no value`);
      values.set(name, true);
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (i + 1 < args.length && !args[i + 1].startsWith("--")) value = args[++i];
    if (value === undefined || value === "") {
      throw new FlagError(`Missing value for --${name}: give it as --${name} ${placeholder}`);
    }
    values.set(name, value);
  }
  return values;
}

/** Parses the run's flags and a script's own string flags (`own`: name → usage text). */
export function parseWithFlags(
  args: readonly string[],
  own: Readonly<Record<string, string>>,
): Parsed {
  const extra = Object.keys(own);
  const clash = extra.find((f) => FLAG_NAMES.has(f));
  if (clash) throw new UserTypeError(`Cannot declare the flag --${clash}: the CLI already has it`);
  const scanned = scan(args, own);
  const str = (name: string) => {
    const v = scanned === "help" ? undefined : scanned.get(name);
    return typeof v === "string" ? v : undefined;
  };
  const flags = Object.fromEntries(extra.map((f) => [f, str(f)]));
  if (scanned === "help") return { options: "help", flags, summary: false };
  const on = (name: string) => scanned.get(name) === true;
  let lr: number | undefined;
  const lrText = str("lr");
  if (lrText !== undefined) {
    lr = Number(lrText);
    if (!DECIMAL.test(lrText) || !Number.isFinite(lr)) {
      throw new FlagError(`Invalid --lr: expected a number ≥ 0, got '${lrText}'`);
    }
  }
  const seedText = str("seed");
  const seed = seedText === undefined ? undefined : Number(seedText);
  if (seedText !== undefined && !(/^[+-]?\d+$/.test(seedText) && Number.isSafeInteger(seed))) {
    throw new FlagError(`Invalid --seed: expected an integer, got '${seedText}'`);
  }
  const device = str("device");
  if (device !== undefined && device !== "cpu" && device !== "cuda") {
    throw new FlagError(`Invalid --device: expected cpu or cuda, got '${device}'`);
  }
  const backend = str("backend");
  if (backend !== undefined && !BACKENDS.includes(backend as Backend)) {
    throw new FlagError(`Invalid --backend: expected node or web, got '${backend}'`);
  }
  if (device === "cuda" && backend === "web") {
    throw new FlagError(
      "Invalid --device cuda with --backend web: the web backend runs on the CPU only " +
        "(use --backend node for CUDA)",
    );
  }
  const checkpointDir = str("checkpoint");
  for (const flag of ["resume", "overwrite"]) {
    if (on(flag) && checkpointDir === undefined) {
      throw new FlagError(`Invalid --${flag}: give the checkpoint folder with --checkpoint DIR`);
    }
  }
  if (on("resume") && on("overwrite")) {
    throw new FlagError(
      "Invalid --resume with --overwrite: --resume continues the run in the folder, --overwrite " +
        "deletes its checkpoints; give one",
    );
  }
  if (on("export-raw") && str("export") === undefined) {
    throw new FlagError("Invalid --export-raw: give the model's path with --export PATH");
  }
  if (on("init-partial") && str("init") === undefined) {
    throw new FlagError("Invalid --init-partial: give the weights file with --init PATH");
  }
  if (str("local-sgd") !== undefined && !on("distributed")) {
    throw new FlagError("Invalid --local-sgd: it needs --distributed");
  }
  for (const flag of ["checkpoint-every", "keep"]) {
    if (str(flag) !== undefined && checkpointDir === undefined) {
      throw new FlagError(`Invalid --${flag}: it needs --checkpoint DIR`);
    }
  }
  const plot = str("plot");
  if (plot !== undefined && !plot.toLowerCase().endsWith(".svg")) {
    throw new FlagError(`Invalid --plot: expected a path ending in .svg, got '${plot}'`);
  }
  const metrics = str("metrics");
  const checkpoint: RunOptions = checkpointDir === undefined ? {} : {
    checkpointDir,
    checkpointEvery: positiveInt("--checkpoint-every", str("checkpoint-every")),
    keep: positiveInt("--keep", str("keep")),
    resume: on("resume"),
    ...(on("overwrite") ? { overwrite: true } : {}),
  };
  const stepsPerRun = positiveInt("--steps-per-run", str("steps-per-run"));
  const init = str("init");
  const options: RunOptions = {
    ...checkpoint,
    dataDir: str("data-dir"),
    epochs: positiveInt("--epochs", str("epochs")),
    batchSize: positiveInt("--batch-size", str("batch-size")),
    lr,
    seed,
    device: device as Device | undefined,
    threads: positiveInt("--threads", str("threads")),
    ...(backend === undefined ? {} : { backend: backend as Backend }),
    ...(on("spin") ? { spinning: true } : {}),
    ...(on("worker-loader") ? { prefetch: "worker" as const } : {}),
    ...(on("distributed") ? { distributed: true } : {}),
    ...(str("local-sgd") === undefined
      ? {}
      : { localSgd: positiveInt("--local-sgd", str("local-sgd")) }),
    ...(stepsPerRun === undefined ? {} : { stepsPerRun }),
    exportPath: str("export"),
    ...(on("export-raw") ? { exportRaw: true } : {}),
    ...(init === undefined ? {} : { init, initPartial: on("init-partial") }),
    emitDir: str("emit"),
    ...(metrics === undefined ? {} : { metricsPath: metrics }),
    ...(plot === undefined ? {} : { plotPath: plot }),
    ...(on("quiet") ? { quiet: true } : {}),
  };
  return { options, flags, summary: on("summary") };
}

/**
 * Rejects flags that do not apply to the pipeline, such as `--data-dir` for in-memory data.
 *
 * @param options The parsed options.
 * @param props The pipeline's description.
 * @throws {RangeError} Naming the flag and why it does not apply.
 */
export function checkApplicable(options: RunOptions, props: PipelineProps): void {
  const given: Record<string, boolean> = {
    "data-dir": options.dataDir !== undefined,
    "export-raw": options.exportRaw === true,
  };
  for (const f of FLAGS) {
    const why = given[f.name] ? f.inapplicable?.(props) : undefined;
    if (why) throw new FlagError(`Invalid --${f.name}: ${why}`);
  }
}
