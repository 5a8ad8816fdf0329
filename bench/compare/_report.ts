/**
 * The figures `compare.ts` reports: per-run records reduced to one row per (model, batch,
 * framework, condition), and that table as aligned text or markdown.
 * @module
 */

/** The frameworks compared. */
export const FRAMEWORKS = ["onnxtrain", "torch2", "torch1", "jax"] as const;
/** A framework. */
export type Framework = typeof FRAMEWORKS[number];
/** Quiet: the machine as it is; loaded: one CPU-bound busy loop alongside. */
export type Condition = "quiet" | "loaded";

/** One timed process: what it ran, and its figures or why it failed. */
export interface RunRecord {
  readonly model: string;
  readonly batch: number;
  readonly framework: Framework;
  readonly condition: Condition;
  /** The round, from 1. */
  readonly round: number;
  /** Its place in the round, from 1. */
  readonly position: number;
  /** The child's JSON line (step times in ms), absent when it failed. */
  readonly result?: Readonly<Record<string, unknown>> & {
    readonly median_ms: number;
    readonly mean_ms: number;
  };
  /** Why it failed. */
  readonly error?: string;
  /** Seconds the process ran. */
  readonly wall_s: number;
  /** Cores' worth of CPU other processes used meanwhile (see `_machine.ts`). */
  readonly other_load?: number;
  /** Cores' worth of time the hypervisor stole meanwhile. */
  readonly steal_load?: number;
  /** Seconds waited for the machine to be quiet first (`--max-load`). */
  readonly waited_s?: number;
}

/** One row of the table. */
export interface SummaryRow {
  readonly model: string;
  readonly batch: number;
  readonly framework: Framework;
  readonly condition: Condition;
  /** Runs that gave figures / all runs. */
  readonly runs: string;
  /** Median over runs of each run's median ms per step. */
  readonly median_ms?: number;
  readonly min_ms?: number;
  readonly max_ms?: number;
  /** Median over runs of each run's mean ms per step. */
  readonly mean_ms?: number;
  /** median_ms / onnxtrain's median_ms (same model, batch, condition): > 1 is slower. */
  readonly vs_onnxtrain?: number;
  /** onnxtrain's count of the step's GEMM/conv FLOPs over median_ms. */
  readonly gflops?: number;
  /** Trainable parameters, as the framework counts them. */
  readonly params?: number;
  /** onnxtrain's optimizer steps per onnxruntime run. */
  readonly steps_per_run?: number;
  /** Median over runs of the other processes' load, in cores. */
  readonly other_load?: number;
  /** Median over runs of the time the hypervisor stole, in cores. */
  readonly steal_load?: number;
  /** Why there are no figures: skipped or failed. */
  readonly note?: string;
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b), mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const key = (r: { model: string; batch: number; framework: string; condition: string }) =>
  `${r.model}|${r.batch}|${r.framework}|${r.condition}`;

/**
 * Reduces the runs to one row per (model, batch, framework, condition), in the order of `cells`.
 *
 * @param cells Every cell of the table, in order, with the reason it was skipped if it was.
 * @param runs Every run.
 * @returns The rows.
 */
export function summarize(
  cells: readonly {
    model: string;
    batch: number;
    framework: Framework;
    condition: Condition;
    skipped?: string;
  }[],
  runs: readonly RunRecord[],
): SummaryRow[] {
  const rows = cells.map((cell): SummaryRow => {
    const mine = runs.filter((r) => key(r) === key(cell));
    const ok = mine.filter((r) => r.result);
    const base = { ...cell, runs: `${ok.length}/${mine.length}` };
    delete (base as { skipped?: string }).skipped;
    if (cell.skipped) return { ...base, runs: "0/0", note: `skipped: ${cell.skipped}` };
    if (ok.length === 0) {
      const error = mine.find((r) => r.error)?.error ?? "not run";
      return { ...base, note: `failed: ${error}` };
    }
    const medians = ok.map((r) => r.result!.median_ms);
    const known = (xs: (number | undefined)[]) => xs.filter((x): x is number => x !== undefined);
    const loads = known(ok.map((r) => r.other_load)), steals = known(ok.map((r) => r.steal_load));
    const first = ok[0].result!;
    return {
      ...base,
      median_ms: median(medians),
      min_ms: Math.min(...medians),
      max_ms: Math.max(...medians),
      mean_ms: median(ok.map((r) => r.result!.mean_ms)),
      params: typeof first.params === "number" ? first.params : undefined,
      steps_per_run: typeof first.steps_per_run === "number" ? first.steps_per_run : undefined,
      other_load: loads.length ? median(loads) : undefined,
      steal_load: steals.length ? median(steals) : undefined,
      note: ok.length < mine.length
        ? `${mine.length - ok.length} run(s) failed: ${mine.find((r) => r.error)?.error}`
        : undefined,
    };
  });
  // Ratios and GFLOP/s against onnxtrain's row of the same model, batch and condition.
  const onnx = new Map(
    rows.filter((r) => r.framework === "onnxtrain").map((r) => [key(r), r] as const),
  );
  const flops = new Map<string, number>();
  for (const r of runs) {
    const g = r.result?.gflop_per_step;
    if (r.framework === "onnxtrain" && typeof g === "number") flops.set(`${r.model}|${r.batch}`, g);
  }
  return rows.map((r) => {
    if (r.median_ms === undefined) return r;
    const ref = onnx.get(key({ ...r, framework: "onnxtrain" }))?.median_ms;
    const g = flops.get(`${r.model}|${r.batch}`);
    return {
      ...r,
      vs_onnxtrain: ref === undefined ? undefined : r.median_ms / ref,
      gflops: g === undefined ? undefined : g / (r.median_ms / 1000),
    };
  });
}

/** loaded / quiet median per (model, batch, framework), where both were measured. */
export function degradation(
  rows: readonly SummaryRow[],
): { model: string; batch: number; framework: Framework; ratio: number }[] {
  const out = [];
  for (const q of rows) {
    if (q.condition !== "quiet" || q.median_ms === undefined) continue;
    const l = rows.find((r) =>
      r.condition === "loaded" && r.model === q.model && r.batch === q.batch &&
      r.framework === q.framework
    );
    if (l?.median_ms !== undefined) {
      out.push({
        model: q.model,
        batch: q.batch,
        framework: q.framework,
        ratio: l.median_ms / q.median_ms,
      });
    }
  }
  return out;
}

/** A number with `digits` significant decimals (at least 0), or "". */
function fmt(x: number | undefined, digits = 2): string {
  if (x === undefined || !Number.isFinite(x)) return "";
  return x >= 100 ? x.toFixed(1) : x >= 10 ? x.toFixed(Math.min(digits, 2)) : x.toFixed(digits);
}

/** The table's header and rows as strings; `label` names each framework. */
export function tableCells(
  rows: readonly SummaryRow[],
  label: (f: Framework) => string,
  conditions: boolean,
): string[][] {
  const head = [
    "model",
    "batch",
    "framework",
    ...(conditions ? ["condition"] : []),
    "median ms/step",
    "min",
    "max",
    "mean",
    "× onnxtrain",
    "GFLOP/s",
    "params",
    "K",
    "runs",
    "other load",
    "steal",
    "note",
  ];
  const body = rows.map((r) => [
    r.model,
    String(r.batch),
    label(r.framework),
    ...(conditions ? [r.condition] : []),
    fmt(r.median_ms),
    fmt(r.min_ms),
    fmt(r.max_ms),
    fmt(r.mean_ms),
    r.vs_onnxtrain === undefined ? "" : `${r.vs_onnxtrain.toFixed(2)}×`,
    fmt(r.gflops, 1),
    r.params === undefined ? "" : r.params.toLocaleString("en-US"),
    r.steps_per_run === undefined ? "" : String(r.steps_per_run),
    r.runs,
    fmt(r.other_load),
    fmt(r.steal_load),
    r.note ?? "",
  ]);
  return [head, ...body];
}

/** Columns that hold numbers (right-aligned). */
const NUMERIC = new Set([
  "batch",
  "median ms/step",
  "min",
  "max",
  "mean",
  "× onnxtrain",
  "GFLOP/s",
  "params",
  "K",
  "runs",
  "other load",
  "steal",
]);

/** Cells as aligned plain text. */
export function textTable(cells: readonly string[][]): string {
  const widths = cells[0].map((_, c) => Math.max(...cells.map((row) => row[c].length)));
  return cells.map((row) =>
    row.map((cell, c) =>
      NUMERIC.has(cells[0][c]) ? cell.padStart(widths[c]) : cell.padEnd(widths[c])
    ).join("  ").trimEnd()
  ).join("\n");
}

/** Cells as a markdown table. */
export function markdownTable(cells: readonly string[][]): string {
  const escape = (s: string) => s.replaceAll("|", "\\|");
  const line = (row: readonly string[]) => `| ${row.map(escape).join(" | ")} |`;
  const rule = cells[0].map((h) => (NUMERIC.has(h) ? "---:" : "---"));
  return [line(cells[0]), `| ${rule.join(" | ")} |`, ...cells.slice(1).map(line)].join("\n");
}

/** The report's parts. */
export interface Report {
  readonly title: string;
  /** Lines before the table: the machine, rounds, peak MatMul. */
  readonly header: readonly string[];
  /** The table's cells, header row first (`tableCells`). */
  readonly table: readonly string[][];
  /** loaded/quiet lines, when both were measured. */
  readonly contention: readonly string[];
  /** Lines after the table: what the columns mean, caveats. */
  readonly notes: readonly string[];
}

/**
 * The report as plain text or markdown.
 *
 * @param r The parts.
 * @param format `text` (aligned columns) or `markdown`.
 * @returns The text.
 */
export function renderReport(r: Report, format: "text" | "markdown"): string {
  const md = format === "markdown";
  const contention = r.contention.length
    ? [
      "Under contention (one busy loop beside each run):",
      ...(md ? ["", ...r.contention.map((c) => `- ${c}`)] : r.contention.map((c) => `  ${c}`)),
      "",
    ]
    : [];
  return [
    md ? `## ${r.title}` : r.title,
    "",
    ...r.header.map((h) => (md ? `${h}  ` : h)),
    "",
    md ? markdownTable(r.table) : textTable(r.table),
    "",
    ...contention,
    ...r.notes.map((n) => (md ? `- ${n}` : n)),
    "",
  ].join("\n");
}
