/**
 * What `compare.ts` records about the machine: the CPU, the CPU time all processes used during a
 * run (to tell how much of it went to processes other than the benchmark), and the busy-loop
 * process that loads the machine in `--hog` runs. Deno refuses to read `/proc` without
 * `--allow-all`, so its files are read through `cat`.
 * @module
 */

/** Clock ticks per second of `/proc/stat` (USER_HZ, 100 on Linux). */
const TICKS = 100;

/** The text of a `/proc` file, or undefined where it cannot be read (not Linux). */
export async function procFile(path: string): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "null" })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout) : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds the whole machine spent busy and stolen by the hypervisor, since boot. */
export interface CpuSnapshot {
  /** user + nice + system + irq + softirq, all cores. */
  readonly busyS: number;
  /** Time the hypervisor ran something else while this VM wanted the CPU, all cores. */
  readonly stealS: number;
  /** When it was taken (performance.now(), ms). */
  readonly at: number;
}

/** A snapshot of `/proc/stat`'s totals, or undefined where it cannot be read. */
export async function cpuSnapshot(): Promise<CpuSnapshot | undefined> {
  const text = await procFile("/proc/stat");
  const f = text?.split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  if (!f || f.length < 8 || f.some((x) => !Number.isFinite(x))) return undefined;
  const [user, nice, system, , , irq, softirq, steal] = f;
  return {
    busyS: (user + nice + system + irq + softirq) / TICKS,
    stealS: steal / TICKS,
    at: performance.now(),
  };
}

/**
 * Cores' worth of CPU the rest of the machine used between two snapshots: all busy time less
 * the CPU seconds of the processes we know of (the benchmark's child, the hog), over the wall
 * time; and the stolen time over the wall time.
 *
 * @param before The snapshot before the run.
 * @param after The snapshot after it.
 * @param ownS CPU seconds of our processes in between.
 * @returns `other` and `steal` in cores (0 = none, 1 = one whole core).
 */
export function otherLoad(
  before: CpuSnapshot,
  after: CpuSnapshot,
  ownS: number,
): { other: number; steal: number } {
  const wallS = (after.at - before.at) / 1000;
  return {
    other: Math.max(0, (after.busyS - before.busyS - ownS) / wallS),
    steal: (after.stealS - before.stealS) / wallS,
  };
}

/** The machine, as the report's header shows it. */
export interface MachineInfo {
  readonly cpu: string;
  readonly cores: number;
  /** The SIMD extensions that matter for GEMM kernels, as /proc/cpuinfo lists them. */
  readonly isa: readonly string[];
  readonly memory_gb?: number;
  readonly kernel?: string;
  readonly deno: string;
  readonly onnxruntime_node?: string;
  readonly load_at_start?: string;
}

/** The CPU model, cores, SIMD flags, memory, kernel and runtime versions. */
export async function machineInfo(root: string): Promise<MachineInfo> {
  const cpuinfo = await procFile("/proc/cpuinfo") ?? "";
  const field = (name: string) =>
    cpuinfo.match(new RegExp(`^${name}\\s*:\\s*(.*)$`, "m"))?.[1].trim();
  const flags = new Set((field("flags") ?? "").split(/\s+/));
  const wanted = ["avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile"];
  const mem = (await procFile("/proc/meminfo"))?.match(/^MemTotal:\s+(\d+) kB/m)?.[1];
  let ort: string | undefined;
  try {
    const pkg = `${root}/node_modules/onnxruntime-node/package.json`;
    ort = JSON.parse(Deno.readTextFileSync(pkg)).version;
  } catch { /* not installed with a node_modules folder */ }
  return {
    cpu: field("model name") ?? "unknown",
    cores: navigator.hardwareConcurrency,
    isa: wanted.filter((f) => flags.has(f)),
    ...(mem ? { memory_gb: Math.round(Number(mem) / 2 ** 20) } : {}),
    kernel: (await procFile("/proc/sys/kernel/osrelease"))?.trim(),
    deno: Deno.version.deno,
    onnxruntime_node: ort,
    load_at_start: (await procFile("/proc/loadavg"))?.split(" ").slice(0, 3).join(" "),
  };
}

/** A running busy-loop process; `stop` ends it and returns its CPU seconds when known. */
export interface Hog {
  stop(): Promise<number | undefined>;
}

/**
 * Python's `while True: pass` that prints its CPU seconds when sent SIGTERM; `sh`'s `while :`
 * loop (CPU time unknown) where no Python runs.
 */
const HOG_PY = [
  "import os, signal, sys",
  "def stop(*_):",
  "    t = os.times(); print(t.user + t.system, flush=True); sys.exit(0)",
  "signal.signal(signal.SIGTERM, stop)",
  "while True: pass",
].join("\n");

/**
 * Starts one CPU-bound busy loop and waits 200 ms for it to be running.
 *
 * @param python A Python interpreter to run it with, or undefined for `sh`.
 * @returns The hog.
 */
export async function startHog(python: string | undefined): Promise<Hog> {
  const child = new Deno.Command(python ?? "sh", {
    args: python ? ["-c", HOG_PY] : ["-c", "while :; do :; done"],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  await new Promise((resolve) => setTimeout(resolve, 200));
  return {
    async stop() {
      child.kill(python ? "SIGTERM" : "SIGKILL");
      const out = await child.output();
      const cpu = Number(new TextDecoder().decode(out.stdout).trim());
      return python && out.stdout.length && Number.isFinite(cpu) ? cpu : undefined;
    },
  };
}

/**
 * Waits until the machine's busy CPU, sampled over 1 s, is below `cores`, for at most 10
 * minutes (nothing of ours runs meanwhile, so all of it is other processes').
 *
 * @param cores The most other processes may use.
 * @param progress Receives a line per wait.
 * @returns The seconds waited.
 */
export async function waitForQuiet(
  cores: number,
  progress: (line: string) => void,
): Promise<number> {
  const start = performance.now();
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  while (performance.now() - start < 600_000) {
    const a = await cpuSnapshot();
    await sleep(1000);
    const b = await cpuSnapshot();
    if (!a || !b) return 0;
    const busy = otherLoad(a, b, 0).other;
    // The first 1 s sample is not counted as waiting.
    if (busy < cores) return Math.max(0, Math.round((performance.now() - start) / 1000 - 1));
    progress(`waiting: other processes use ${busy.toFixed(2)} cores (--max-load ${cores})`);
    await sleep(4000);
  }
  return Math.round((performance.now() - start) / 1000);
}
