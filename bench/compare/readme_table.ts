/**
 * README's speed table from `compare.ts --json` files: ms per training step of each model in each
 * framework (the median over rounds of each run's median step; quiet figures from the first file
 * that has them), each framework's 1024³ MatMul rate, and, where a file holds loaded runs, the
 * slowdown beside a busy process (loaded over quiet within that file, whose runs interleave). Prints the table, or with `--write FILE`
 * replaces the text between `<!-- speed-table:start -->` and `<!-- speed-table:end -->` there.
 *
 *     deno run -P=compare bench/compare/readme_table.ts out/compare.json [more.json] [--write README.md]
 * @module
 */
import { parseArgs } from "node:util";
import { helpText, oneLineErrors } from "../_cli.ts";
import type { SummaryRow } from "./_report.ts";
import { blasSummary } from "./_children.ts";
import { UserRangeError } from "../../src/util/user_error.ts";

/** Columns, in order: the framework key in the JSON and its heading. */
const FRAMEWORKS = [
  ["onnxtrain", "onnxtrain"],
  ["torch2", "PyTorch 2.13"],
  ["torch1", "PyTorch 1.13 (Debian)"],
  ["jax", "JAX"],
] as const;

const START = "<!-- speed-table:start -->", END = "<!-- speed-table:end -->";

/** What a `compare.ts --json` file holds that the table uses. */
interface CompareRecord {
  readonly date: string;
  readonly command: string;
  readonly machine: { readonly cpu?: string; readonly cores?: number };
  readonly peak_gflops: Readonly<Record<string, number | string>>;
  readonly summary: readonly SummaryRow[];
  /** What each framework's probe found (its `info`), or why it was skipped. */
  readonly frameworks?: Readonly<Record<string, { readonly info?: Record<string, unknown> }>>;
}

const fmt = (x: number | undefined) =>
  x === undefined ? "–" : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);

/**
 * The markdown of the speed table.
 *
 * @param records The parsed JSON files (later files' rows replace earlier ones').
 * @returns Markdown.
 */
export function speedTable(records: readonly CompareRecord[]): string {
  // Quiet figures from the first file that has them; slowdowns from within one file (its own
  // quiet and loaded runs, interleaved).
  const key = (r: SummaryRow) => `${r.model}|${r.batch}`;
  const find = (rec: CompareRecord, k: string, f: string, condition: string) =>
    rec.summary.find((r) => key(r) === k && r.framework === f && r.condition === condition)
      ?.median_ms;
  const order = ["mlp", "cnn", "resnet", "resnet18", "mobilenet_v2", "efficientnet_b0"];
  const rank = (k: string) => {
    const [model, batch] = k.split("|");
    const i = order.indexOf(model);
    return (i < 0 ? order.length : i) * 1e6 + Number(batch);
  };
  const keys = [...new Set(records.flatMap((r) => r.summary.map(key)))].sort((a, b) =>
    rank(a) - rank(b)
  );
  const cell = (k: string, f: string, condition: string) =>
    records.map((r) => find(r, k, f, condition)).find((v) => v !== undefined);
  const slowdown = (k: string, f: string) => {
    for (const r of records) {
      const q = find(r, k, f, "quiet"), l = find(r, k, f, "loaded");
      if (q !== undefined && l !== undefined) return { q, l };
    }
    return undefined;
  };
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  const out = [
    line(["model", "batch", ...FRAMEWORKS.map(([, h]) => `${h} ms`)]),
    line(["---", "---:", ...FRAMEWORKS.map(() => "---:")]),
  ];
  for (const key of keys) {
    const [model, batch] = key.split("|");
    if (!FRAMEWORKS.some(([f]) => cell(key, f, "quiet") !== undefined)) continue;
    out.push(line([model, batch, ...FRAMEWORKS.map(([f]) => fmt(cell(key, f, "quiet")))]));
  }
  const peaks = FRAMEWORKS.flatMap(([f, h]) => {
    const p = records.map((r) => r.peak_gflops[f]).find((v) => typeof v === "number");
    return p === undefined ? [] : [`${h} ${Math.round(p as number)}`];
  });
  out.push("", `1024³ float32 MatMul, GFLOP/s: ${peaks.join(", ")}.`);
  // How Debian's PyTorch did its GEMMs (its BLAS library, OPENBLAS_CORETYPE), as its probe saw it.
  const torch1 = records.map((r) => r.frameworks?.torch1?.info).find((i) => i?.torch);
  if (torch1 !== undefined) out.push("", `PyTorch 1.13 (Debian): ${blasSummary(torch1)}.`);
  const loaded = keys.filter((k) => FRAMEWORKS.some(([f]) => slowdown(k, f) !== undefined));
  if (loaded.length) {
    out.push(
      "",
      "Beside one CPU-bound process (ms per step, and loaded over quiet in the same rounds):",
      "",
      line(["model", "batch", ...FRAMEWORKS.map(([, h]) => h)]),
      line(["---", "---:", ...FRAMEWORKS.map(() => "---:")]),
    );
    for (const key of loaded) {
      const [model, batch] = key.split("|");
      out.push(line([
        model,
        batch,
        ...FRAMEWORKS.map(([f]) => {
          const m = slowdown(key, f);
          return m ? `${fmt(m.l)} (${(m.l / m.q).toFixed(2)}×)` : "–";
        }),
      ]));
    }
  }
  const dates = records.map((r) => r.date.slice(0, 10));
  out.push(
    "",
    `Measured ${[...new Set(dates)].join(", ")} on ${records[0].machine.cpu ?? "this machine"} ` +
      `(${records[0].machine.cores ?? "?"} cores) by \`${
        records.map((r) => r.command).join("`, `")
      }\`.`,
  );
  return out.join("\n");
}

if (import.meta.main) {
  oneLineErrors("readme_table", { help: true });
  const options = {
    write: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  } as const;
  const { values, positionals } = parseArgs({ args: Deno.args, options, allowPositionals: true });
  if (values.help) {
    console.log(helpText(
      "deno run -P=compare bench/compare/readme_table.ts FILE.json [FILE.json …] [flags]",
      "README's speed table from compare.ts --json files.",
      { write: { value: "FILE", help: "replace the table between the speed-table markers" } },
    ));
    Deno.exit(0);
  }
  if (positionals.length === 0) {
    throw new UserRangeError("Give at least one compare.ts --json file");
  }
  const records = await Promise.all(
    positionals.map(async (p) => JSON.parse(await Deno.readTextFile(p)) as CompareRecord),
  );
  const table = speedTable(records);
  if (values.write === undefined) {
    console.log(table);
  } else {
    const text = await Deno.readTextFile(values.write);
    const a = text.indexOf(START), b = text.indexOf(END);
    if (a < 0 || b < a) {
      throw new UserRangeError(`${values.write} has no ${START} … ${END} markers`);
    }
    await Deno.writeTextFile(
      values.write,
      `${text.slice(0, a + START.length)}\n${table}\n${text.slice(b)}`,
    );
  }
}
