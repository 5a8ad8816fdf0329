/**
 * Side-by-side training speed: onnxtrain, PyTorch 2 (the venv), Debian's PyTorch 1.13 and JAX on
 * the same models, batch shapes, optimizers and thread count, one fresh process per run, the runs
 * interleaved round-robin over (model, batch, framework) for several rounds. Prints the median ms
 * per training step per (model, batch, framework), the spread over rounds, the ratio to
 * onnxtrain, and each framework's 1024³ float32 MatMul GFLOP/s. What is measured and the caveats
 * are in `bench/compare/README.md`.
 *
 *     deno run -P=compare bench/compare/compare.ts [--models mlp,cnn] [--frameworks ...]
 *       [--batch 32,64] [--rounds 3] [--hog quiet|loaded|both] [--json F] [--markdown F] [--quick]
 *
 * Each child (`onnxtrain_steps.ts`, `torch_steps.py`, `jax_steps.py`) prints one JSON line; a
 * framework that is not installed is reported as skipped, with the reason. Run it under
 * `flock /tmp/bench.lock` on a shared machine.
 * @module
 */
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { UserRangeError } from "../../src/util/user_error.ts";
import { helpText, intArg, oneLineErrors } from "../_cli.ts";
import {
  blasSummary,
  type ChildSettings,
  commands,
  execute,
  type Probe,
  probePython,
  ROOT,
  THREADS,
} from "./_children.ts";
import {
  cpuSnapshot,
  type MachineInfo,
  machineInfo,
  otherLoad,
  startHog,
  waitForQuiet,
} from "./_machine.ts";
import {
  type Condition,
  degradation,
  type Framework,
  FRAMEWORKS,
  renderReport,
  type Report,
  type RunRecord,
  summarize,
  tableCells,
} from "./_report.ts";

const SMALL = ["mlp", "cnn", "resnet"];
const ZOO = ["resnet18", "mobilenet_v2", "efficientnet_b0"];

/** The flags (node:util parseArgs options). */
const OPTIONS = {
  models: { type: "string", default: [...SMALL, ...ZOO].join(",") },
  frameworks: { type: "string", default: FRAMEWORKS.join(",") },
  batch: { type: "string" },
  rounds: { type: "string", default: "3" },
  hog: { type: "string", default: "quiet" },
  json: { type: "string" },
  markdown: { type: "string" },
  quick: { type: "boolean", default: false },
  warmup: { type: "string", default: "8" },
  seconds: { type: "string", default: "4" },
  "min-steps": { type: "string", default: "10" },
  "steps-per-run": { type: "string" },
  "max-load": { type: "string" },
  timeout: { type: "string", default: "900" },
  "venv-python": { type: "string", default: "/work/venv/bin/python" },
  "system-python": { type: "string", default: "/usr/bin/python3" },
  "zoo-dir": { type: "string" },
  "image-size": { type: "string", default: "64" },
} as const;

const FLAG_HELP: Record<keyof typeof OPTIONS, { value?: string; help: string }> = {
  models: { value: "LIST", help: `models, from ${[...SMALL, ...ZOO].join(", ")}` },
  frameworks: {
    value: "LIST",
    help: "onnxtrain, torch2 (--venv-python), torch1 (--system-python), jax",
  },
  batch: {
    value: "LIST",
    help: "batch sizes (default: 64 for mlp, cnn, resnet; 32,64 for the zoo models)",
  },
  rounds: { value: "N", help: "rounds; each runs every (model, batch, framework) once" },
  hog: { value: "quiet|loaded|both", help: "loaded: one busy-loop process beside every run" },
  json: { value: "FILE", help: "also write every run and the summary as JSON" },
  markdown: { value: "FILE", help: "also write the report as markdown" },
  quick: { help: "smoke test: 2 warm-up steps, 0.2 s timed, 1 round unless --rounds" },
  warmup: { value: "N", help: "untimed steps per run (onnxtrain: rounded up to whole runs of K)" },
  seconds: { value: "S", help: "timed seconds per run (at least)" },
  "min-steps": { value: "N", help: "timed steps per run (at least)" },
  "steps-per-run": { value: "K", help: "onnxtrain's steps per onnxruntime run (default: auto)" },
  "max-load": {
    value: "CORES",
    help: "before each run, wait (≤ 10 min) until other processes use fewer cores than this",
  },
  timeout: { value: "S", help: "kill a run after this many seconds" },
  "venv-python": { value: "PATH", help: "Python with torch 2 and jax" },
  "system-python": { value: "PATH", help: "Python with Debian's torch 1.13" },
  "zoo-dir": {
    value: "DIR",
    help: "the <model>_dynamo.onnx files of export_zoo.py (bench/zoo, or bench/zoo<side>)",
  },
  "image-size": {
    value: "SIDE",
    help: "the zoo models' image side (64; export_zoo.py --image-size SIDE writes bench/zoo<SIDE>)",
  },
};

/** The text `--help` prints. */
export const USAGE: string = helpText(
  "deno run -P=compare bench/compare/compare.ts [flags]",
  "Times training steps of the same models in onnxtrain, PyTorch 2, PyTorch 1.13 and JAX,\n" +
    "interleaved over rounds, and prints the median ms per step and the ratio to onnxtrain.",
  Object.fromEntries(
    Object.entries(FLAG_HELP).map(([name, f]) => [
      name,
      { ...f, default: (OPTIONS[name as keyof typeof OPTIONS] as { default?: unknown }).default },
    ]),
  ),
);

/** The parsed flags. */
interface Settings extends ChildSettings {
  readonly models: readonly string[];
  readonly frameworks: readonly Framework[];
  readonly batches?: readonly number[];
  readonly rounds: number;
  readonly conditions: readonly Condition[];
  readonly quick: boolean;
  readonly maxLoad?: number;
  readonly timeout: number;
  readonly json?: string;
  readonly markdown?: string;
}

/** A comma list of distinct values. */
function list(flag: string, text: string, allowed?: readonly string[]): string[] {
  const items = [...new Set(text.split(",").map((s) => s.trim()).filter((s) => s))];
  if (items.length === 0) throw new UserRangeError(`--${flag} is empty`);
  const bad = allowed && items.find((s) => !allowed.includes(s));
  if (bad) throw new UserRangeError(`Unknown --${flag} value '${bad}': use ${allowed!.join(", ")}`);
  return items;
}

/** The settings from the flags, or undefined after printing the help. */
function parseSettings(args: string[]): Settings | undefined {
  const { values } = parseArgs({
    args,
    options: { ...OPTIONS, help: { type: "boolean", short: "h", default: false } },
  });
  if (values.help) {
    console.log(USAGE);
    return undefined;
  }
  const hog = values.hog;
  if (hog !== "quiet" && hog !== "loaded" && hog !== "both") {
    throw new UserRangeError(`Unknown --hog ${hog}: use quiet, loaded or both`);
  }
  const number = (flag: string, text: string | undefined, positive: boolean) => {
    const n = Number(text);
    if (text === undefined || text.trim() === "" || !(positive ? n > 0 : n >= 0)) {
      throw new UserRangeError(
        `--${flag} must be a number ${positive ? ">" : "≥"} 0, got "${text}"`,
      );
    }
    return n;
  };
  const roundsGiven = args.some((a) => a === "--rounds" || a.startsWith("--rounds="));
  const quick = values.quick;
  if (values["steps-per-run"] !== undefined) intArg("--steps-per-run", values["steps-per-run"]);
  return {
    models: list("models", values.models, [...SMALL, ...ZOO]),
    frameworks: list("frameworks", values.frameworks, FRAMEWORKS) as Framework[],
    batches: values.batch === undefined
      ? undefined
      : list("batch", values.batch).map((b) => intArg("--batch", b)),
    rounds: quick && !roundsGiven ? 1 : intArg("--rounds", values.rounds),
    conditions: hog === "both" ? ["quiet", "loaded"] : [hog],
    quick,
    warmup: quick ? 2 : intArg("--warmup", values.warmup, 0),
    minSteps: quick ? 2 : intArg("--min-steps", values["min-steps"]),
    seconds: quick ? 0.2 : number("seconds", values.seconds, false),
    stepsPerRun: values["steps-per-run"],
    maxLoad: values["max-load"] === undefined
      ? undefined
      : number("max-load", values["max-load"], true),
    timeout: intArg("--timeout", values.timeout),
    venvPython: values["venv-python"],
    systemPython: values["system-python"],
    imageSize: intArg("--image-size", values["image-size"]),
    zooDir: values["zoo-dir"] ??
      (values["image-size"] === "64" ? "bench/zoo" : `bench/zoo${values["image-size"]}`),
    json: values.json,
    markdown: values.markdown,
  };
}

/** One cell of the table: a (model, batch, framework, condition), or why it is skipped. */
interface Cell {
  readonly model: string;
  readonly batch: number;
  readonly framework: Framework;
  readonly condition: Condition;
  readonly skipped?: string;
}

/** Every cell, in table order. */
function planCells(s: Settings, probes: Partial<Record<Framework, Probe>>): Cell[] {
  const skipReason = (model: string, f: Framework): string | undefined => {
    const p = probes[f]!;
    if (p.reason) return p.reason;
    if (!ZOO.includes(model)) return undefined;
    if (f === "jax") return "JAX versions of the torchvision models are not written";
    if (f !== "onnxtrain") return p.zooReason;
    const file = `${s.zooDir}/${model}_dynamo.onnx`;
    if (existsSync(file.startsWith("/") ? file : `${ROOT}/${file}`)) return undefined;
    return `${file} is missing (${s.venvPython} bench/crosscheck/zoo/export_zoo.py --only ` +
      `${model} --exporter dynamo --image-size ${s.imageSize})`;
  };
  return s.models.flatMap((model) =>
    (s.batches ?? (ZOO.includes(model) ? [32, 64] : [64])).flatMap((batch) =>
      s.frameworks.flatMap((framework) =>
        s.conditions.map((condition) => ({
          model,
          batch,
          framework,
          condition,
          skipped: skipReason(model, framework),
        }))
      )
    )
  );
}

/** A list rotated left by `n` places. */
function rotate<T>(xs: readonly T[], n: number): T[] {
  const k = xs.length ? n % xs.length : 0;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

/**
 * Every job once per round, each round's order rotated by ⌈jobs / rounds⌉ places (so a job
 * does not always follow the same one), with the hog beside loaded runs and the other processes'
 * CPU measured around each run.
 */
async function runRounds(
  s: Settings,
  jobs: readonly Cell[],
  hogPython: string | undefined,
  progress: (line: string) => void,
): Promise<RunRecord[]> {
  const runs: RunRecord[] = [];
  const { steps } = commands(s);
  const shift = Math.max(1, Math.ceil(jobs.length / s.rounds));
  for (let round = 1; round <= s.rounds; round++) {
    const order = rotate(jobs, (round - 1) * shift);
    for (const [i, job] of order.entries()) {
      const waited = s.maxLoad === undefined ? 0 : await waitForQuiet(s.maxLoad, progress);
      const before = await cpuSnapshot();
      const hog = job.condition === "loaded" ? await startHog(hogPython) : undefined;
      const out = await execute(steps(job.framework, job.model, job.batch), s.timeout);
      const hogCpu = hog ? await hog.stop() : 0;
      const after = await cpuSnapshot();
      const childCpu = out.cpuS ?? Number(out.json?.cpu_s);
      const load = before && after && hogCpu !== undefined && Number.isFinite(childCpu)
        ? otherLoad(before, after, childCpu + hogCpu)
        : undefined;
      const record: RunRecord = {
        model: job.model,
        batch: job.batch,
        framework: job.framework,
        condition: job.condition,
        round,
        position: i + 1,
        ...(out.ok ? { result: out.json as RunRecord["result"] } : { error: out.error }),
        wall_s: Number(out.wallS.toFixed(2)),
        ...(load ? { other_load: Number(load.other.toFixed(3)) } : {}),
        ...(load ? { steal_load: Number(load.steal.toFixed(3)) } : {}),
        ...(waited ? { waited_s: waited } : {}),
      };
      runs.push(record);
      const r = record.result;
      progress(
        `[round ${round}/${s.rounds}, ${i + 1}/${order.length}] ${job.model} b${job.batch} ` +
          `${job.framework} ${job.condition}: ` +
          (r
            ? `${r.median_ms.toFixed(3)} ms/step median, ${r.timed_steps} steps, ` +
              `other load ${record.other_load ?? "?"}`
            : `failed: ${record.error}`),
      );
    }
  }
  return runs;
}

/** The report's header, table and notes. */
function buildReport(
  s: Settings,
  machine: MachineInfo,
  probes: Partial<Record<Framework, Probe>>,
  peak: Partial<Record<Framework, number | string>>,
  rows: ReturnType<typeof summarize>,
): Report {
  const label = (f: Framework): string => {
    const info = probes[f]?.info ?? {};
    if (f === "onnxtrain") return `onnxtrain (onnxruntime-node ${machine.onnxruntime_node ?? "?"})`;
    if (f === "jax") return `jax ${info.jax ?? "?"}`;
    if (f === "torch2") return info.torch ? `torch ${info.torch}` : "torch2 (venv)";
    return `${info.torch ? `torch ${info.torch}` : "torch1"} (Debian)${info.torch ? "¹" : ""}`;
  };
  const peaks = s.frameworks.filter((f) => peak[f] !== undefined).map((f) => {
    const p = peak[f];
    return `${label(f)} ${typeof p === "number" ? `${p.toFixed(1)} GFLOP/s` : p}`;
  });
  const usable = (f: Framework) => probes[f] && !probes[f]!.reason;
  return {
    title: "Training step time: onnxtrain and its peers on the same models, shapes, optimizers",
    header: [
      `Machine: ${machine.cpu}, ${machine.cores} cores (${machine.isa.join(" ") || "no AVX"})` +
      `${machine.memory_gb ? `, ${machine.memory_gb} GB` : ""}, kernel ${machine.kernel ?? "?"}` +
      `, deno ${machine.deno}; load average at start ${machine.load_at_start ?? "?"}.`,
      `Rounds: ${s.rounds}, interleaved; conditions: ${s.conditions.join(", ")}` +
      `${s.quick ? "; --quick (a smoke test: the figures mean nothing)" : ""}.`,
      `MatMul 1024³ float32 peak (best of 10): ${peaks.join(", ") || "none"}.`,
    ],
    table: tableCells(rows, label, s.conditions.length > 1 || s.conditions[0] === "loaded"),
    contention: degradation(rows).map((d) =>
      `${d.model} b${d.batch} ${label(d.framework)}: loaded/quiet ${d.ratio.toFixed(2)}×`
    ),
    notes: [
      `Threads: ${THREADS} in every framework (torch.set_num_threads(${THREADS}); onnxruntime ` +
      `intra-op threads ${THREADS}; JAX: XLA's default on this ${machine.cores}-core machine).`,
      "ms/step: forward, backward, optimizer update, host → framework batch, loss read back. " +
      "median: over rounds, of each run's median step; min/max: of those run medians; mean: " +
      "median over rounds of each run's mean step.",
      "K: onnxtrain trains through pipeline.run, K optimizer steps per onnxruntime run; each " +
      "step is given 1/K of its run's time, so its median is a median of K-step averages.",
      "× onnxtrain: median / onnxtrain's median (above 1: slower than onnxtrain). GFLOP/s: " +
      "onnxtrain's count of the step's GEMM/conv FLOPs / median (the networks are the same).",
      "other load: cores' worth of CPU that processes other than the benchmark used during the " +
      "runs (median), above ~0.1 the figures are disturbed; steal: cores' worth of time the " +
      "hypervisor gave to other guests while this VM wanted to run (/proc/stat; it grows with " +
      "how busy a framework keeps both cores, e.g. spinning thread pools).",
      ...(s.models.some((m) => ZOO.includes(m))
        ? [
          `Zoo models (3×${s.imageSize}×${s.imageSize}, 10 classes, SGD lr 0.01 momentum 0.9): ` +
          "the dynamo export folds " +
          "every BatchNorm into its convolution and has no Dropout; onnxtrain trains that file, " +
          "PyTorch the same folded network (torch.fx fuse, dropout off). No JAX versions.",
        ]
        : []),
      ...(usable("torch1")
        ? [`¹ torch 1.13 (Debian python3-torch): ${blasSummary(probes.torch1!.info)}.`]
        : []),
      ...(usable("torch2") ? [`torch 2 (venv): ${blasSummary(probes.torch2!.info)}.`] : []),
    ],
  };
}

async function main(): Promise<void> {
  const s = parseSettings(Deno.args);
  if (!s) return;
  const progress = (line: string) => console.error(line);

  // What is installed; onnxtrain's peak MatMul run doubles as its probe.
  const machine = await machineInfo(ROOT);
  const probes: Partial<Record<Framework, Probe>> = {};
  const pythonOf = { torch2: s.venvPython, torch1: s.systemPython, jax: s.venvPython } as const;
  for (const f of s.frameworks) {
    probes[f] = f === "onnxtrain"
      ? { info: {} }
      : await probePython(pythonOf[f], f === "jax" ? "jax_steps.py" : "torch_steps.py");
  }
  const peak: Partial<Record<Framework, number | string>> = {};
  for (const f of s.frameworks.filter((f) => !probes[f]!.reason)) {
    if (s.maxLoad !== undefined) await waitForQuiet(s.maxLoad, progress);
    const out = await execute(commands(s).peak(f), s.timeout);
    peak[f] = out.ok ? Number(out.json!.peak_gflops) : `failed: ${out.error}`;
    if (f === "onnxtrain" && !out.ok) probes.onnxtrain = { reason: out.error, info: {} };
    progress(`peak ${f}: ${typeof peak[f] === "number" ? `${peak[f]} GFLOP/s` : peak[f]}`);
  }

  const cells = planCells(s, probes);
  const skipped = cells.filter((c) => c.skipped && c.condition === s.conditions[0]);
  for (const c of skipped) progress(`skipped ${c.model} b${c.batch} ${c.framework}: ${c.skipped}`);
  const hogPython = [s.systemPython, s.venvPython].find((p) => existsSync(p));
  const runs = await runRounds(s, cells.filter((c) => !c.skipped), hogPython, progress);

  const rows = summarize(cells, runs);
  const report = buildReport(s, machine, probes, peak, rows);
  console.log(renderReport(report, "text"));
  if (s.markdown) await Deno.writeTextFile(s.markdown, renderReport(report, "markdown"));
  if (s.json) {
    const record = {
      command: ["bench/compare/compare.ts", ...Deno.args].join(" "),
      date: new Date().toISOString(),
      machine,
      settings: s,
      frameworks: probes,
      peak_gflops: peak,
      summary: rows,
      degradation: degradation(rows),
      runs,
    };
    await Deno.writeTextFile(s.json, JSON.stringify(record, null, 1) + "\n");
  }
}

if (import.meta.main) {
  oneLineErrors("compare", { help: true });
  await main();
}
