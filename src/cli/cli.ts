/**
 * Command-line front end shared by the pipelines in `pipelines/`.
 * @module
 */
import { parseArgs } from "node:util";
import type { TrainingPipeline } from "../pipeline.ts";
import { type Backend, BACKENDS, type Device } from "../runtime/session.ts";
import { type RunOptions, type RunResult, TrainingInterrupted } from "../train/run.ts";

/** The usage text. */
export const USAGE = `Usage: deno run -P PIPELINE.ts [options]

Options:
  --data-dir ROOT     dataset root, in torchvision's layout (e.g. ROOT/FashionMNIST/raw/)
  --epochs N          number of epochs
  --batch-size N      samples per batch
  --lr X              learning rate
  --seed N            seed for initialisation and shuffling (reproducible bit for bit)
  --device cpu|cuda   execution device (default cpu)
  --threads N         onnxruntime intra-op threads (default: one per core; web: 1)
  --backend node|web  onnxruntime package: node (native, the default) or web (WebAssembly,
                      CPU only, runs without --allow-ffi)
  --steps-per-run K   optimizer steps per onnxruntime run (default 16; 1: one per run); the
                      results are the same for every K
  --worker-loader     build training batches on a worker thread while onnxruntime computes
                      (pays only when batches are costly to build and a core is free)
  --export PATH       write the trained inference model (ONNX) to PATH, atomically; PATH is
                      checked to be writable before training starts
  --export-raw        with --export: the model takes raw uint8 images [N, C, H, W] and applies
                      ToTensor (and the data's normalize) itself
  --init PATH         warm start: load parameters and buffers from a checkpoint, a safetensors
                      file or an ONNX model's initializers, matched by name; strict (missing,
                      unexpected and mis-shaped tensors are an error). Optimizer state is not
                      loaded (that is --resume's job)
  --init-partial      with --init: load the tensors that match and print the ones skipped
  --emit DIR          write train_step.onnx, eval_step.onnx and inference.onnx to DIR
  --checkpoint DIR    save a checkpoint (safetensors) in DIR after every epoch; Ctrl-C saves
                      one and exits with status 130
  --checkpoint-every N  also save every N training steps
  --keep N            keep the last N checkpoints (default 2)
  --resume            continue from the latest checkpoint in DIR (--epochs stays the total)
  -h, --help          show this text`;

const EXPECTED_ERRORS = new Set([
  "CheckpointError",
  "CompileError",
  "CsvFormatError",
  "WeightsFileError",
  "DeviceError",
  "FashionMnistError",
  "IdxDatasetError",
  "IdxFormatError",
  "NpyFormatError",
  "RangeError",
  "SafetensorsError",
  "TypeError",
  "NotCapable",
  "PermissionDenied",
  "NotFound",
]);

function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new RangeError(`Invalid ${flag}: expected a positive integer, got '${value}'`);
  }
  return n;
}

/** A complete pipeline, as `runCli` runs it. */
export type CliPipeline = TrainingPipeline<"data" | "model" | "loss" | "optimizer">;

/** The values of a script's own flags (see {@linkcode CliOptions}), undefined when not given. */
export type CliFlags = Readonly<Record<string, string | undefined>>;

/** Options of {@linkcode runCli}. */
export interface CliOptions {
  /**
   * The script's own string-valued flags, by name without the dashes, each with its usage text
   * (shown by `--help` after `--NAME `), e.g. `{ csv: "PATH  the CSV file" }`. Their values go to
   * the pipeline function given to `runCli`.
   */
  readonly flags?: Readonly<Record<string, string>>;
}

/**
 * Parses command-line flags into run options.
 *
 * @param args The arguments (e.g. `Deno.args`).
 * @returns The options, or `"help"` when help was asked for.
 * @throws {RangeError} On a malformed value, naming the flag.
 */
export function parseCliArgs(args: readonly string[]): RunOptions | "help" {
  return parseWithFlags(args, []).options;
}

const BUILT_IN = [
  "data-dir",
  "epochs",
  "batch-size",
  "lr",
  "seed",
  "device",
  "threads",
  "backend",
  "steps-per-run",
  "worker-loader",
  "export",
  "export-raw",
  "init",
  "init-partial",
  "emit",
  "checkpoint",
  "checkpoint-every",
  "keep",
  "resume",
  "help",
];

/** Parses the run's flags and a script's own string flags (`extra`, names without dashes). */
function parseWithFlags(
  args: readonly string[],
  extra: readonly string[],
): { options: RunOptions | "help"; flags: CliFlags } {
  const clash = extra.find((f) => BUILT_IN.includes(f));
  if (clash) throw new TypeError(`Cannot declare the flag --${clash}: the CLI already has it`);
  const { values: all } = parseArgs({
    args: [...args],
    strict: true,
    options: {
      ...Object.fromEntries(extra.map((f) => [f, { type: "string" as const }])),
      "data-dir": { type: "string" },
      epochs: { type: "string" },
      "batch-size": { type: "string" },
      lr: { type: "string" },
      seed: { type: "string" },
      device: { type: "string" },
      threads: { type: "string" },
      backend: { type: "string" },
      "steps-per-run": { type: "string" },
      "worker-loader": { type: "boolean" },
      export: { type: "string" },
      "export-raw": { type: "boolean" },
      init: { type: "string" },
      "init-partial": { type: "boolean" },
      emit: { type: "string" },
      checkpoint: { type: "string" },
      "checkpoint-every": { type: "string" },
      keep: { type: "string" },
      resume: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  const values = all as typeof all & Record<string, string | boolean | undefined>;
  const flags = Object.fromEntries(extra.map((f) => [f, values[f] as string | undefined]));
  if (values.help) return { options: "help", flags };
  let lr: number | undefined;
  if (values.lr !== undefined) {
    lr = Number(values.lr);
    if (!Number.isFinite(lr) || lr < 0) {
      throw new RangeError(`Invalid --lr: expected a number ≥ 0, got '${values.lr}'`);
    }
  }
  const seedText = values.seed;
  const seed = seedText === undefined ? undefined : Number(seedText);
  if (seed !== undefined && !Number.isSafeInteger(seed)) {
    throw new RangeError(`Invalid --seed: expected an integer, got '${seedText}'`);
  }
  if (values.device !== undefined && values.device !== "cpu" && values.device !== "cuda") {
    throw new RangeError(`Invalid --device: expected cpu or cuda, got '${values.device}'`);
  }
  if (values.backend !== undefined && !BACKENDS.includes(values.backend as Backend)) {
    throw new RangeError(`Invalid --backend: expected node or web, got '${values.backend}'`);
  }
  if (values.resume && values.checkpoint === undefined) {
    throw new RangeError("Invalid --resume: give the checkpoint folder with --checkpoint DIR");
  }
  if (values["export-raw"] && values.export === undefined) {
    throw new RangeError("Invalid --export-raw: give the model's path with --export PATH");
  }
  if (values["init-partial"] && values.init === undefined) {
    throw new RangeError("Invalid --init-partial: give the weights file with --init PATH");
  }
  for (const flag of ["checkpoint-every", "keep"] as const) {
    if (values[flag] !== undefined && values.checkpoint === undefined) {
      throw new RangeError(`Invalid --${flag}: it needs --checkpoint DIR`);
    }
  }
  const checkpoint: RunOptions = values.checkpoint === undefined ? {} : {
    checkpointDir: values.checkpoint,
    checkpointEvery: positiveInt("--checkpoint-every", values["checkpoint-every"]),
    keep: positiveInt("--keep", values.keep),
    resume: values.resume ?? false,
  };
  const options: RunOptions = {
    ...checkpoint,
    dataDir: values["data-dir"],
    epochs: positiveInt("--epochs", values.epochs),
    batchSize: positiveInt("--batch-size", values["batch-size"]),
    lr,
    seed,
    device: values.device as Device | undefined,
    threads: positiveInt("--threads", values.threads),
    ...(values.backend === undefined ? {} : { backend: values.backend as Backend }),
    ...(values["worker-loader"] ? { prefetch: "worker" as const } : {}),
    ...(values["steps-per-run"] === undefined
      ? {}
      : { stepsPerRun: positiveInt("--steps-per-run", values["steps-per-run"]) }),
    exportPath: values.export,
    ...(values["export-raw"] ? { exportRaw: true } : {}),
    ...(values.init === undefined
      ? {}
      : { init: values.init, initPartial: values["init-partial"] ?? false }),
    emitDir: values.emit,
  };
  return { options, flags };
}

/**
 * Runs a pipeline with flags from the command line; on an error prints one line to stderr and
 * exits with status 1. With `--checkpoint`, Ctrl-C (SIGINT) stops after the current step, saves
 * a checkpoint and exits with status 130.
 *
 * A script with flags of its own (such as `--csv PATH`) declares them in `cliOptions.flags` and
 * gives a function that builds the pipeline from their values; its errors are reported like the
 * CLI's.
 *
 * @param pipeline A complete pipeline, or a function building one from the script's own flags.
 * @param args The arguments (default `Deno.args`).
 * @param cliOptions The script's own flags.
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
  try {
    const declared = cliOptions.flags ?? {};
    const { options, flags } = parseWithFlags(args, Object.keys(declared));
    if (options === "help") {
      const own = Object.entries(declared).map(([f, text]) => `  --${f} ${text}`);
      console.log(own.length ? `${USAGE}\n\nPipeline options:\n${own.join("\n")}` : USAGE);
      return undefined;
    }
    const p = typeof pipeline === "function" ? await pipeline(flags) : pipeline;
    if (!options.checkpointDir) return await p.run(options);
    const controller = new AbortController();
    const onInterrupt = () => controller.abort();
    Deno.addSignalListener("SIGINT", onInterrupt);
    try {
      return await p.run({ ...options, signal: controller.signal });
    } finally {
      Deno.removeSignalListener("SIGINT", onInterrupt);
    }
  } catch (e) {
    if (e instanceof TrainingInterrupted) {
      console.error(e.message);
      Deno.exit(130);
    }
    // Expected failures (bad flags, shapes, data, devices, permissions) are one line; anything
    // else is a bug and keeps its stack.
    const expected = e instanceof Error && EXPECTED_ERRORS.has(e.name);
    console.error(expected ? `error: ${(e as Error).message}` : e);
    Deno.exit(1);
  }
}
