/**
 * The child processes of `compare.ts`: each framework's command lines, running one with a time
 * limit and reading its JSON line, and probing what a Python framework has installed.
 * @module
 */
import { existsSync } from "node:fs";
import type { Framework } from "./_report.ts";

/** The repository root: children run there. */
export const ROOT: string = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
/** Threads every framework is given. */
export const THREADS = 2;
const DIR = "bench/compare/";

/** What one child process printed. */
export interface ChildOutput {
  readonly ok: boolean;
  /** Its last stdout line, parsed. */
  readonly json?: Record<string, unknown>;
  /** Why it failed: its last stderr line, or a timeout. */
  readonly error?: string;
  readonly wallS: number;
  /** CPU seconds it used, all threads, start to exit (where bash could measure them). */
  readonly cpuS?: number;
}

/**
 * Runs the command under bash and has bash print the CPU time of its children (`times`) on
 * stderr after it exits: a process's own count (os.times, process.cpuUsage) misses what it
 * spends after taking it, which for PyTorch's exit was over a second.
 */
const BASH = "/bin/bash";
const TIMED = '"$@"; rc=$?; times >&2; exit $rc';
const TIMES = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/;

/**
 * Runs a command in the repository root and parses its last stdout line as JSON.
 *
 * @param cmd The program and its arguments.
 * @param timeoutS Kill it after this many seconds.
 * @returns Its JSON line, or why there is none.
 */
export async function execute(cmd: readonly string[], timeoutS: number): Promise<ChildOutput> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutS * 1000);
  const start = performance.now();
  const timed = existsSync(BASH);
  const argv = timed ? [BASH, "-c", TIMED, "child", ...cmd] : cmd;
  try {
    const out = await new Deno.Command(argv[0], {
      args: argv.slice(1),
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      signal: abort.signal,
    }).output();
    const wallS = (performance.now() - start) / 1000;
    const lines = (b: Uint8Array) =>
      new TextDecoder().decode(b).split("\n").map((l) => l.trim()).filter((l) => l);
    const last = lines(out.stdout).at(-1), errors = lines(out.stderr);
    // times prints the shell's own user/sys line, then its children's.
    const children = timed ? errors.at(-1)?.match(TIMES) : undefined;
    if (children) errors.splice(-2);
    const cpuS = children
      ? Number(children[1]) * 60 + Number(children[2]) + Number(children[3]) * 60 +
        Number(children[4])
      : undefined;
    if (out.success && last?.startsWith("{")) {
      try {
        return { ok: true, json: JSON.parse(last), wallS, cpuS };
      } catch { /* reported below */ }
    }
    const notFound = timed && out.code === 127; // bash: no such program
    const why = abort.signal.aborted
      ? `killed after ${timeoutS} s (--timeout)`
      : notFound
      ? `${cmd[0]} not found`
      : errors.at(-1) ?? `exit ${out.code}, no JSON line on stdout`;
    return { ok: false, error: why.slice(0, 300), wallS, cpuS };
  } catch (e) {
    const wallS = (performance.now() - start) / 1000;
    if (e instanceof Deno.errors.NotFound) {
      return { ok: false, error: `${cmd[0]} not found`, wallS };
    }
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** What a framework has installed: why it cannot run at all or the zoo models, and versions. */
export interface Probe {
  readonly reason?: string;
  readonly zooReason?: string;
  readonly info: Readonly<Record<string, unknown>>;
}

/**
 * Probes a Python framework by running its script with `--probe`.
 *
 * @param python The interpreter (a path, or a name on PATH).
 * @param script `torch_steps.py` or `jax_steps.py`.
 * @returns The probe.
 */
export async function probePython(python: string, script: string): Promise<Probe> {
  if (python.includes("/") && !existsSync(python)) {
    return { reason: `${python} not found`, info: {} };
  }
  const out = await execute([python, `${DIR}${script}`, "--probe"], 300);
  if (!out.ok) {
    const reason = out.error?.endsWith("not found")
      ? out.error
      : `it does not import: ${out.error}`;
    return { reason, info: {} };
  }
  const info = out.json!;
  const zooReason = typeof info.torchvision_error === "string"
    ? `torchvision does not import: ${info.torchvision_error}`
    : undefined;
  return { info, zooReason };
}

/** How each child is run. */
export interface ChildSettings {
  readonly venvPython: string;
  readonly systemPython: string;
  readonly warmup: number;
  readonly seconds: number;
  readonly minSteps: number;
  readonly zooDir: string;
  /** The zoo models' image side. */
  readonly imageSize: number;
  /** onnxtrain's steps per onnxruntime run (default: its own choice). */
  readonly stepsPerRun?: string;
}

/**
 * The command lines of each framework: one timed run of a model, and the peak MatMul.
 *
 * @param s The settings.
 * @returns `steps(framework, model, batch)` and `peak(framework)`.
 */
export function commands(s: ChildSettings): {
  steps: (f: Framework, model: string, batch: number) => string[];
  peak: (f: Framework) => string[];
} {
  const deno = [Deno.execPath(), "run", "-q", "-P", `${DIR}onnxtrain_steps.ts`];
  const threads = ["--threads", String(THREADS)];
  const base: Record<Framework, string[]> = {
    onnxtrain: deno,
    torch2: [s.venvPython, `${DIR}torch_steps.py`, ...threads],
    torch1: [s.systemPython, `${DIR}torch_steps.py`, ...threads],
    jax: [s.venvPython, `${DIR}jax_steps.py`], // XLA's default threads
  };
  const extra: Record<Framework, string[]> = {
    onnxtrain: [
      ...threads,
      "--zoo-dir",
      s.zooDir,
      ...(s.stepsPerRun ? ["--steps-per-run", s.stepsPerRun] : []),
    ],
    torch2: [],
    torch1: [],
    jax: [],
  };
  return {
    steps: (f, model, batch) => [
      ...base[f],
      ...extra[f],
      ...(f === "jax" ? [] : ["--image-size", String(s.imageSize)]),
      ...["--model", model, "--batch", String(batch), "--warmup", String(s.warmup)],
      ...["--seconds", String(s.seconds), "--min-steps", String(s.minSteps)],
    ],
    peak: (f) => [...base[f], ...(f === "onnxtrain" ? threads : []), "--peak"],
  };
}

/**
 * How a torch build does its GEMMs, from its probe: the build's BLAS settings, MKL and oneDNN,
 * the BLAS library the process loaded, and OPENBLAS_CORETYPE as it saw it.
 *
 * @param info The probe's `info`.
 * @returns One line.
 */
export function blasSummary(info: Readonly<Record<string, unknown>>): string {
  const libs = (info.blas_libraries as string[] | undefined ?? [])
    .filter((l) => /blas/.test(l) && !/lapack/.test(l) && !l.includes("numpy.libs"));
  const lib = libs[0];
  const kind = /openblas/i.test(lib ?? "")
    ? "OpenBLAS"
    : /\/blas\/libblas\.so/.test(lib ?? "")
    ? "reference BLAS, netlib"
    : undefined;
  const env = (info.env ?? {}) as Record<string, string | null>;
  return [
    String(info.blas ?? ""),
    `MKL ${info.mkl_available ? "available" : "not available"}`,
    `oneDNN ${info.mkldnn_available ? "available" : "not available"}`,
    lib ? `BLAS library ${lib}${kind ? ` (${kind})` : ""}` : "",
    `OPENBLAS_CORETYPE=${env.OPENBLAS_CORETYPE ?? "unset"}`,
  ].filter((s) => s).join("; ");
}
