/**
 * The zoo yardstick for `fromOnnx`: for every model exported by `export_zoo.py`
 * (bench/zoo/manifest.json) with a PyTorch reference from `reference_zoo.py`
 * (`<model>_<exporter>.reference.json`), imports it with `fromOnnx(path, { shared: "untie" })`,
 * takes the reference's 3 SGD and 3 Adam steps on the same batch, and prints a markdown table:
 * whether it imports (or the first line of the error), the worst relative per-step loss
 * difference from PyTorch, and the milliseconds per step of onnxtrain and of PyTorch (2 threads).
 * The table is also written to bench/zoo/table.md. Each model runs on its own: a failure is a row.
 *
 *     /work/venv/bin/python bench/crosscheck/zoo/export_zoo.py
 *     /work/venv/bin/python bench/crosscheck/zoo/reference_zoo.py
 *     deno run -P bench/crosscheck/zoo/zoo.ts [--only NAME[,NAME]] [--dir bench/zoo]
 * @module
 */
import { parseArgs } from "node:util";
import {
  adam,
  compileModel,
  crossEntropy,
  type DataSignature,
  fromOnnx,
  type Optimizer,
  sgd,
} from "../../../mod.ts";
import { createTrainer } from "../../../src/train/trainer.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    only: { type: "string" },
    skip: { type: "string" },
    dir: { type: "string", default: "bench/zoo" },
  },
});
const dir = flags.dir!;
const only = flags.only ? new Set(flags.only.split(",")) : undefined;
const skip = new Set(flags.skip ? flags.skip.split(",") : []);

interface Entry {
  model: string;
  exporter: string;
  file: string;
  opset?: number;
  ops?: Record<string, number>;
  error?: string;
  torch?: string;
}

interface Reference {
  error?: string;
  file: string;
  sampleShape: number[];
  inputDtype: "float32" | "int64";
  kind: "class" | "lm";
  classes: number;
  targetShape: number[];
  x: number[];
  y: number[];
  size: number;
  sgdLr: number;
  adamLr: number;
  ortMatch: boolean;
  ortMaxAbsDiff: number;
  sgd: { losses: number[]; ms: number[] };
  adam: { losses: number[]; ms: number[] };
}

interface Row {
  model: string;
  exporter: string;
  opset: string;
  ops: string;
  imports: string;
  sgd: string;
  adam: string;
  ms: string;
  torchMs: string;
  ort: string;
}

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const firstLine = (e: unknown) =>
  (e instanceof Error ? e.message : String(e)).split("\n")[0].replaceAll("|", "\\|");

/** Trains the imported model for the reference's steps; returns the losses and ms per step. */
async function run(path: string, r: Reference, optimizer: Optimizer) {
  const data = {
    sampleShape: r.sampleShape,
    inputDtype: r.inputDtype,
    classes: r.classes,
    ...(r.kind === "lm" ? { labelShape: r.targetShape } : {}),
  } as DataSignature;
  const compiled = compileModel({
    data,
    model: fromOnnx(path, { shared: "untie" }),
    loss: r.kind === "lm" ? crossEntropy({ classAxis: -1 }) : crossEntropy(),
    optimizer,
  });
  const trainer = await createTrainer(compiled, { seed: 0 });
  const batch = {
    x: r.inputDtype === "int64" ? BigInt64Array.from(r.x.map(BigInt)) : Float32Array.from(r.x),
    y: BigInt64Array.from(r.y.map(BigInt)),
    size: r.size,
  };
  const losses: number[] = [], ms: number[] = [];
  try {
    for (let i = 0; i < r.sgd.losses.length; i++) {
      const start = performance.now();
      losses.push(await trainer.step(batch));
      ms.push(performance.now() - start);
    }
  } finally {
    await trainer.release();
  }
  return { losses, ms };
}

const lr = (v: number) => Number(v.toPrecision(3));

function worst(ours: number[], theirs: number[]): number {
  // A null (NaN) reference loss makes the difference NaN.
  return Math.max(...ours.map((l, i) => Math.abs(l - theirs[i]) / Math.abs(theirs[i] ?? NaN)));
}

const header =
  "| model | exporter | opset | #ops | imports? | SGD worst rel. loss diff | Adam worst rel. loss diff | ms/step onnxtrain | ms/step PyTorch | OnnxInTorch = ORT |";
const tablePath = `${dir}/${only || skip.size ? "table.partial.md" : "table.md"}`;

/** The table so far (written after every row, so that a killed run keeps its rows). */
function table(rows: Row[]): string {
  return [
    header,
    "|" + " --- |".repeat(10),
    ...rows.map((r) =>
      `| ${r.model} | ${r.exporter} | ${r.opset} | ${r.ops} | ${r.imports} | ${r.sgd} | ${r.adam} | ${r.ms} | ${r.torchMs} | ${r.ort} |`
    ),
  ].join("\n") + "\n";
}

const manifest: Entry[] = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`));
const rows: Row[] = [];
for (const e of manifest) {
  if (only && !only.has(e.model) && !only.has(`${e.model}_${e.exporter}`)) continue;
  if (skip.has(e.model) || skip.has(`${e.model}_${e.exporter}`)) continue;
  const ops = e.ops ? Object.values(e.ops).reduce((a, b) => a + b, 0) : undefined;
  const row: Row = {
    model: e.model,
    exporter: e.exporter + (e.torch ? ` (torch ${e.torch.replace(/a0$|\+cpu$/, "")})` : ""),
    opset: e.opset ? String(e.opset) : "",
    ops: ops !== undefined ? `${ops} (${Object.keys(e.ops!).length} types)` : "",
    imports: "",
    sgd: "",
    adam: "",
    ms: "",
    torchMs: "",
    ort: "",
  };
  rows.push(row);
  if (e.error) {
    row.imports = `export failed: ${e.error.replaceAll("|", "\\|").slice(0, 160)}`;
    console.error(`${e.model} ${e.exporter}: ${row.imports}`);
    continue;
  }
  const path = `${dir}/${e.file}`;
  let r: Reference;
  try {
    // Python's json writes a diverged loss as NaN, which JSON.parse refuses.
    const text = await Deno.readTextFile(`${dir}/${e.model}_${e.exporter}.reference.json`);
    r = JSON.parse(text.replace(/\bNaN\b/g, "null"));
  } catch {
    row.imports = "no reference (run reference_zoo.py)";
    continue;
  }
  let external = "";
  if (!r.error) {
    row.torchMs = median(r.sgd.ms).toFixed(0);
    row.ort = r.ortMatch ? "✓" : `✗ ${r.ortMaxAbsDiff.toExponential(1)}`;
  }
  try {
    let source = path;
    let sgdRun;
    try {
      sgdRun = await run(path, r, sgd({ lr: r.sgdLr ?? 0.01 }));
    } catch (err) {
      const inline = path.replace(/\.onnx$/, ".inline.onnx");
      if (!/external/i.test(firstLine(err)) || !(await exists(inline))) throw err;
      // External data refused: the rest of the row is for the same model inlined in one file.
      external = "external data refused; inlined: ";
      source = inline;
      sgdRun = await run(source, r, sgd({ lr: r.sgdLr ?? 0.01 }));
    }
    row.imports = external + "yes";
    const adamRun = await run(source, r, adam({ lr: r.adamLr ?? 1e-3 }));
    if (r.error) {
      row.sgd = row.adam = `no reference: ${firstLine(r.error).slice(0, 80)}`;
    } else {
      row.sgd = `${worst(sgdRun.losses, r.sgd.losses).toExponential(1)} (lr ${lr(r.sgdLr)})`;
      row.adam = `${worst(adamRun.losses, r.adam.losses).toExponential(1)} (lr ${lr(r.adamLr)})`;
    }
    row.ms = median(sgdRun.ms).toFixed(0);
  } catch (err) {
    const msg = external + firstLine(err);
    row.imports = r.kind === "lm" && /label|target|loss|classAxis|cross-entropy/i.test(msg)
      ? `needs sequence loss (${msg.slice(0, 200)})`
      : msg.slice(0, 300);
  }
  console.error(`${e.model} ${e.exporter}: ${row.imports} ${row.sgd} ${row.adam}`);
  await Deno.writeTextFile(tablePath, table(rows));
}

console.log(table(rows));
await Deno.writeTextFile(tablePath, table(rows));
