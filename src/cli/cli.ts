/**
 * Command-line front end shared by the pipelines in `pipelines/`: one table of flags gives the
 * parser, the `--help` text (with the pipeline's own defaults) and the checks of which flags apply
 * to a pipeline.
 *
 * Exit statuses: 0 done; 1 a user error (one line on stderr: what failed, why, the value or path);
 * 2 a bad command line (one line naming the flag and value, then a hint to run `--help`); 70 an
 * internal error (a bug: printed with its stack); 130 interrupted by Ctrl-C (with `--checkpoint`,
 * after saving a checkpoint).
 * @module
 */
import type { Dataset } from "../dsl/datasets.ts";
import type { PipelineProps } from "../dsl/pipeline.ts";
import type { TrainingPipeline } from "../pipeline.ts";
import { type Backend, BACKENDS, type Device } from "../runtime/session.ts";
import { type RunOptions, type RunResult, TrainingInterrupted } from "../train/run.ts";
import { isMarkedUserError, UserRangeError, UserTypeError } from "../util/user_error.ts";

/**
 * A complete pipeline, as `runCli` runs it.
 *
 * @example
 * ```ts
 * import {
 *   crossEntropy,
 *   fashionMnist,
 *   flatten,
 *   linear,
 *   pipeline,
 *   sequential,
 *   sgd,
 * } from "../../mod.ts";
 * import type { CliPipeline } from "./cli.ts";
 * const p: CliPipeline = pipeline()
 *   .data(fashionMnist())
 *   .model(sequential(flatten(), linear(784, 10)))
 *   .loss(crossEntropy())
 *   .optimizer(sgd({ lr: 1e-3 }));
 * if (p.props.epochs !== 10) throw new Error();
 * ```
 */
export type CliPipeline = TrainingPipeline<"data" | "model" | "loss" | "optimizer">;

/**
 * The values of a script's own flags (see {@linkcode CliOptions}), undefined when not given.
 *
 * @example
 * ```ts
 * import type { CliFlags } from "./cli.ts";
 * // What a pipeline function given to `runCli` receives for `--csv data.csv`.
 * const flags: CliFlags = { csv: "data.csv", target: undefined };
 * if (flags.csv !== "data.csv" || flags.target !== undefined) throw new Error();
 * ```
 */
export type CliFlags = Readonly<Record<string, string | undefined>>;

/**
 * Where {@linkcode runCli} writes, how it exits, and what it knows of the machine.
 *
 * @example
 * ```ts
 * import type { CliIo } from "./cli.ts";
 * const lines: string[] = [];
 * const io: CliIo = { out: (line) => lines.push(line), err: (line) => lines.push(line), cores: 2 };
 * io.out?.("Done!");
 * if (lines[0] !== "Done!") throw new Error();
 * ```
 */
export interface CliIo {
  /** Writes a line to stdout (default `console.log`). */
  readonly out?: (line: string) => void;
  /** Writes a line to stderr (default `console.error`). */
  readonly err?: (line: string) => void;
  /** Ends the process with a status (default `Deno.exit`). */
  readonly exit?: (status: number) => never;
  /** The number of cores `--threads` is capped to (default `navigator.hardwareConcurrency`). */
  readonly cores?: number;
  /**
   * Where the live progress line goes, unless `--quiet` (default `Deno.stdout` when it is a
   * terminal, else none).
   */
  readonly progress?: { writeSync(bytes: Uint8Array): number };
}

/**
 * Options of {@linkcode runCli}.
 *
 * @example
 * ```ts
 * import type { CliOptions } from "./cli.ts";
 * const options: CliOptions = {
 *   flags: { csv: "PATH  the CSV file", target: "NAME  the target column" },
 * };
 * if (Object.keys(options.flags ?? {}).join() !== "csv,target") throw new Error();
 * ```
 */
export interface CliOptions {
  /**
   * The script's own string-valued flags, by name without the dashes, each with its usage text
   * (shown by `--help` after `--NAME `), e.g. `{ csv: "PATH  the CSV file" }`. Their values go to
   * the pipeline function given to `runCli`.
   */
  readonly flags?: Readonly<Record<string, string>>;
  /** Output, exit and machine overrides (for tests and embedding; defaults are the process's). */
  readonly io?: CliIo;
  /**
   * Run options the script sets itself, under the flags' (such as an `onEpoch` that prints a
   * figure of its own after each epoch's report).
   */
  readonly runOptions?: Pick<RunOptions, "onEpoch" | "onBatch">;
}

/** Exit status of a user error (bad setting, file or data). */
export const EXIT_USER_ERROR = 1;
/** Exit status of a bad command line (unknown flag, missing or malformed value). */
export const EXIT_USAGE = 2;
/** Exit status of an internal error (a bug in onnxtrain), as BSD's `EX_SOFTWARE`. */
export const EXIT_INTERNAL_ERROR = 70;
/** Exit status after Ctrl-C (128 + SIGINT). */
export const EXIT_INTERRUPTED = 130;
/** Exit status of a run stopped by SIGTERM (128 + 15), after saving as for Ctrl-C. */
export const EXIT_TERMINATED = 143;
/** The signals that stop a run cleanly (Windows has no SIGTERM listener). */
const STOP_SIGNALS: readonly Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT"]
  : ["SIGINT", "SIGTERM"];

/** The line printed after a bad command line. */
export const USAGE_HINT = "Run with --help to see the flags.";

/** The first line of an internal error's report. */
export const INTERNAL_ERROR_LINE = "Internal error (a bug in onnxtrain — please report it):";

/** A bad command line: an unknown flag, a missing or malformed value, a flag that does not apply. */
class FlagError extends UserRangeError {}

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
    name: "worker-loader",
    help: "build training batches on a worker thread",
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
];

const FLAG_NAMES = new Set(["help", ...FLAGS.map((f) => f.name)]);

/**
 * The help text: every flag with its one-line description and default, the pipeline's values
 * where the pipeline is known, and the script's own flags.
 *
 * @param props The pipeline's description (undefined: a pipeline built from the script's flags).
 * @param own The script's own flags, as {@linkcode CliOptions.flags}.
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
    "Usage: deno run -P PIPELINE.ts [flags]",
    "",
    "Flags:",
    ...table,
    ...(ownRows.length ? ["", "Pipeline flags:", ...ownRows] : []),
    "",
    "--init is strict: missing, unexpected or mis-shaped tensors are an error.",
    "Optimizer state is not loaded (that is --resume's job).",
    "--summary prints the model summary, then trains.",
    "Exit status: 0 done, 1 error, 2 bad flags, 70 internal error (a bug), 130 interrupted.",
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
interface Parsed {
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
function parseWithFlags(
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
  if (on("resume") && checkpointDir === undefined) {
    throw new FlagError("Invalid --resume: give the checkpoint folder with --checkpoint DIR");
  }
  if (on("export-raw") && str("export") === undefined) {
    throw new FlagError("Invalid --export-raw: give the model's path with --export PATH");
  }
  if (on("init-partial") && str("init") === undefined) {
    throw new FlagError("Invalid --init-partial: give the weights file with --init PATH");
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
    ...(on("worker-loader") ? { prefetch: "worker" as const } : {}),
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
function checkApplicable(options: RunOptions, props: PipelineProps): void {
  const given: Record<string, boolean> = {
    "data-dir": options.dataDir !== undefined,
    "export-raw": options.exportRaw === true,
  };
  for (const f of FLAGS) {
    const why = given[f.name] ? f.inapplicable?.(props) : undefined;
    if (why) throw new FlagError(`Invalid --${f.name}: ${why}`);
  }
}

/** Names of onnxtrain's error classes: each reports bad input (a setting, a file, the data). */
const USER_ERROR_NAMES = new Set([
  "CheckpointError",
  "Cifar10Error",
  "CompileError",
  "CsvFormatError",
  "DeviceError",
  "FashionMnistError",
  "FileWriteError",
  "IdxDatasetError",
  "IdxFormatError",
  "ImageFolderError",
  "NonFiniteLossError",
  "NpyFormatError",
  "OutputPathError",
  "SafetensorsError",
  "TarFormatError",
  "WeightsFileError",
]);

/** Deno's errors of files, permissions and the network: each names its path or address. */
const systemErrors = () => [
  Deno.errors.NotFound,
  Deno.errors.PermissionDenied,
  Deno.errors.NotCapable,
  Deno.errors.AlreadyExists,
  Deno.errors.IsADirectory,
  Deno.errors.NotADirectory,
  Deno.errors.FilesystemLoop,
  Deno.errors.ConnectionRefused,
  Deno.errors.ConnectionReset,
  Deno.errors.ConnectionAborted,
  Deno.errors.NetworkUnreachable,
  Deno.errors.TimedOut,
];

/**
 * Whether an error reports the user's mistake (printed as one line) rather than a bug (printed
 * with its stack). It is one of onnxtrain's error classes (`CompileError`, `CsvFormatError`, …; the
 * engine never makes errors of those names), a `RangeError` or `TypeError` thrown as a
 * `UserRangeError` or `UserTypeError` (see `src/util/user_error.ts`), or Deno's error of a file,
 * a permission or the network (which names its path). Any other error — an engine `TypeError`
 * such as "Cannot read properties of undefined", an onnxruntime failure, a broken invariant — is
 * a bug.
 *
 * @param error Anything thrown.
 * @returns Whether it is the user's to fix.
 * @example
 * ```ts
 * import { isUserError } from "./cli.ts";
 * import { UserRangeError } from "../util/user_error.ts";
 * if (isUserError(new TypeError("Cannot read properties of undefined (reading 'x')"))) {
 *   throw new Error("an engine TypeError is a bug");
 * }
 * if (!isUserError(new UserRangeError("Invalid --lr: expected a number ≥ 0, got -1"))) {
 *   throw new Error();
 * }
 * ```
 */
export function isUserError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return isMarkedUserError(error) || USER_ERROR_NAMES.has(error.name) ||
    systemErrors().some((cls) => error instanceof cls);
}

/** A message as one line: its lines joined with "; ". */
function oneLine(message: string): string {
  return message.split("\n").map((line) => line.trim()).filter((line) => line).join("; ");
}

/**
 * Runs a pipeline with flags from the command line.
 *
 * Flags that do not apply to the pipeline (`--data-dir` or `--export-raw` for in-memory data) are
 * rejected; `--threads` above the number of cores is capped to it with a warning; `--summary`
 * prints the compiled model's summary, then trains; when stdout is a terminal and `--quiet` is
 * not given, a live progress line is shown.
 *
 * Failures: a bad command line prints one line naming the flag and the value, then a hint to run
 * `--help`, and exits with status 2; a user error (see {@linkcode isUserError}) prints one line
 * and exits with status 1; any other error is a bug: it prints "Internal error …" and its stack
 * and exits with status 70. With `--checkpoint`, Ctrl-C (SIGINT) stops after the current step,
 * saves a checkpoint and exits with status 130.
 *
 * A script with flags of its own (such as `--csv PATH`) declares them in `cliOptions.flags` and
 * gives a function that builds the pipeline from their values; its errors are reported like the
 * CLI's.
 *
 * @param pipeline A complete pipeline, or a function building one from the script's own flags.
 * @param args The arguments (default `Deno.args`).
 * @param cliOptions The script's own flags, and output overrides.
 * @returns The run's result (undefined after `--help`).
 * @example
 * ```ts ignore
 * await runCli((flags) => regression(flags.csv), Deno.args, { flags: { csv: "PATH  the data" } });
 * ```
 */
export async function runCli(
  pipeline: CliPipeline | ((flags: CliFlags) => CliPipeline | Promise<CliPipeline>),
  args: readonly string[] = Deno.args,
  cliOptions: CliOptions = {},
): Promise<RunResult | undefined> {
  const io = cliOptions.io ?? {};
  const out = io.out ?? ((line: string) => console.log(line));
  const err = io.err ?? ((line: string) => console.error(line));
  const exit = io.exit ?? ((status: number) => Deno.exit(status));
  let received: Deno.Signal | undefined;
  try {
    const declared = cliOptions.flags ?? {};
    const parsed = parseWithFlags(args, declared);
    if (parsed.options === "help") {
      out(usage(typeof pipeline === "function" ? undefined : pipeline.props, declared));
      return undefined;
    }
    let options: RunOptions = { ...cliOptions.runOptions, ...parsed.options };
    const p = typeof pipeline === "function" ? await pipeline(parsed.flags) : pipeline;
    checkApplicable(options, p.props);
    const cores = io.cores ?? navigator.hardwareConcurrency;
    if (options.threads !== undefined && cores > 0 && options.threads > cores) {
      err(
        `warning: --threads ${options.threads} exceeds the ${cores} cores; using ${cores} ` +
          "(oversubscribed onnxruntime threads slow training by orders of magnitude)",
      );
      options = { ...options, threads: cores };
    }
    const progress = "progress" in io
      ? io.progress
      : Deno.stdout.isTerminal()
      ? Deno.stdout
      : undefined;
    if (progress && !options.quiet) options = { ...options, progress };
    if (parsed.summary) out(p.compile().summary());
    // Ctrl-C and SIGTERM (docker stop, systemd, Kubernetes, SLURM) stop the run after its current
    // run of steps: a checkpoint when a folder is set, the metrics written, status 130 or 143. A
    // second signal ends the process at once.
    const controller = new AbortController();
    const listeners = STOP_SIGNALS.map((sig) => {
      const listener = () => {
        if (received) return exit(sig === "SIGTERM" ? EXIT_TERMINATED : EXIT_INTERRUPTED);
        received = sig;
        controller.abort();
      };
      Deno.addSignalListener(sig, listener);
      return [sig, listener] as const;
    });
    try {
      return await p.run({ ...options, signal: controller.signal });
    } finally {
      for (const [sig, listener] of listeners) Deno.removeSignalListener(sig, listener);
    }
  } catch (e) {
    if (e instanceof TrainingInterrupted) {
      err(e.message);
      return exit(received === "SIGTERM" ? EXIT_TERMINATED : EXIT_INTERRUPTED);
    }
    if (e instanceof FlagError) {
      err(`error: ${oneLine(e.message)}`);
      err(USAGE_HINT);
      return exit(EXIT_USAGE);
    }
    if (isUserError(e)) {
      err(`error: ${oneLine((e as Error).message)}`);
      return exit(EXIT_USER_ERROR);
    }
    err(INTERNAL_ERROR_LINE);
    err(e instanceof Error ? e.stack ?? String(e) : String(e));
    return exit(EXIT_INTERNAL_ERROR);
  }
}
