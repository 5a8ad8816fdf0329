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
import type { TrainingPipeline } from "../pipeline.ts";
import { scriptName } from "../train/describe.ts";
import { type RunOptions, type RunResult, TrainingInterrupted } from "../train/run.ts";
import { describePermissionError } from "../util/permission_error.ts";
import { isUserError, oneLine } from "./errors.ts";
import { installUncaughtHandler } from "./uncaught.ts";
import { checkApplicable, type CliFlags, FlagError, parseWithFlags, usage } from "./flags.ts";

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
  /** The script's path as `--help` shows it (default: the main module, relative to the cwd). */
  readonly script?: string;
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

export { type CliFlags, FlagError, parseCliArgs, USAGE, usage } from "./flags.ts";
export { isUserError } from "./errors.ts";

// A script's uncaught onnxtrain error (a pipeline built before runCli, a bare p.run()) is one line.
installUncaughtHandler();

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
      out(
        usage(
          typeof pipeline === "function" ? undefined : pipeline.props,
          declared,
          cliOptions.script ?? scriptName(),
        ),
      );
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
    // Under mpirun every rank's stdout is a pty, whatever mpirun's own is: no live line there.
    if (progress && !options.quiet && !options.distributed) options = { ...options, progress };
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
    // Under --distributed (several processes): lines name the rank, and a failure ends every
    // rank of the job at once (MPI_Abort) instead of leaving the others blocked.
    const comm = io.exit ? undefined : await jobCommunicator(args);
    const say = (line: string) => err(comm ? `rank ${comm.rank} of ${comm.size}: ${line}` : line);
    const fail = (status: number) => comm ? comm.abort(status) : exit(status);
    if (e instanceof TrainingInterrupted) {
      // Every rank stopped at the same step; rank 0 speaks for the job.
      if (!comm || comm.rank === 0) err(e.message);
      comm?.finalize();
      return exit(received === "SIGTERM" ? EXIT_TERMINATED : EXIT_INTERRUPTED);
    }
    if (e instanceof FlagError) {
      say(`error: ${oneLine(e.message)}`);
      err(USAGE_HINT);
      return fail(EXIT_USAGE);
    }
    // Deno's permission errors (a forgotten -P), also wrapped: the permission and the fix.
    const permission = describePermissionError(e);
    if (permission) {
      say(`error: ${permission}`);
      return fail(EXIT_USER_ERROR);
    }
    if (isUserError(e)) {
      say(`error: ${oneLine((e as Error).message)}`);
      return fail(EXIT_USER_ERROR);
    }
    say(INTERNAL_ERROR_LINE);
    err(e instanceof Error ? e.stack ?? String(e) : String(e));
    return fail(EXIT_INTERNAL_ERROR);
  }
}

/** The MPI job's communicator when `--distributed` was given and MPI runs with several ranks. */
async function jobCommunicator(
  args: readonly string[],
): Promise<{ rank: number; size: number; abort(s: number): never; finalize(): void } | undefined> {
  if (!args.includes("--distributed")) return undefined;
  try {
    const { initMpi } = await import("../dist/mpi.ts");
    const comm = initMpi();
    return comm.size > 1 ? comm : undefined;
  } catch {
    return undefined; // not started under a launcher: the error says so already
  }
}
