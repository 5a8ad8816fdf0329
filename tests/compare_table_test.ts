// bench/compare/readme_table.ts: README's speed table from compare.ts --json records.
import { speedTable } from "../bench/compare/readme_table.ts";
import type { SummaryRow } from "../bench/compare/_report.ts";
import { assert } from "./_assert.ts";

type Row = Pick<SummaryRow, "model" | "batch" | "framework" | "condition" | "median_ms">;
const row = (
  model: string,
  batch: number,
  framework: Row["framework"],
  condition: Row["condition"],
  median_ms: number,
): SummaryRow => ({ model, batch, framework, condition, median_ms, runs: "2/2" });

const quietRecord = {
  date: "2026-12-03T07:00:00Z",
  command: "compare.ts --models mlp,resnet18",
  machine: { cpu: "AMD EPYC", cores: 2 },
  peak_gflops: { onnxtrain: 99.4, torch2: 118.2, torch1: "failed", jax: 126.6 },
  summary: [
    row("resnet18", 32, "onnxtrain", "quiet", 512.3),
    row("resnet18", 32, "torch1", "quiet", 531.9),
    row("mlp", 64, "onnxtrain", "quiet", 4.6049),
    row("mlp", 64, "torch2", "quiet", 12.345),
    row("mlp", 64, "jax", "quiet", 4.77),
  ],
  frameworks: {
    onnxtrain: { info: {} },
    torch1: {
      info: {
        torch: "1.13.0a0",
        blas: "BLAS_INFO=generic",
        mkldnn_available: true,
        blas_libraries: ["/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"],
        env: { OPENBLAS_CORETYPE: null },
      },
    },
  },
};
const hogRecord = {
  date: "2026-12-04T07:00:00Z",
  command: "compare.ts --hog both",
  machine: { cpu: "AMD EPYC", cores: 2 },
  peak_gflops: { onnxtrain: 90, torch1: 117.6 },
  summary: [
    row("mlp", 64, "onnxtrain", "quiet", 5),
    row("mlp", 64, "onnxtrain", "loaded", 5.75),
    row("mlp", 64, "torch1", "quiet", 8),
    row("mlp", 64, "torch1", "loaded", 16),
  ],
};

Deno.test("speed table: quiet medians from the first file that has them, models in order", () => {
  const lines = speedTable([quietRecord, hogRecord]).split("\n");
  const cells = (line: string) => line.split("|").slice(1, -1).map((c) => c.trim());
  assert.deepEqual(cells(lines[0]), [
    "model",
    "batch",
    "onnxtrain ms",
    "PyTorch 2.13 ms",
    "PyTorch 1.13 (Debian) ms",
    "JAX ms",
  ]);
  // mlp before resnet18, whatever the files' order; 3 significant figures; the second file's
  // quiet mlp figures (5, 8) do not replace the first's; its torch1 mlp fills the empty cell.
  assert.deepEqual(cells(lines[2]), ["mlp", "64", "4.60", "12.3", "8.00", "4.77"]);
  assert.deepEqual(cells(lines[3]), ["resnet18", "32", "512", "–", "532", "–"]);
  // Peaks: numbers only, rounded, from the first file that has one.
  assert.ok(
    lines.includes(
      "1024³ float32 MatMul, GFLOP/s: onnxtrain 99, PyTorch 2.13 118, PyTorch 1.13 (Debian) 118, JAX 127.",
    ),
    lines.join("\n"),
  );
  assert.ok(lines.includes(
    "PyTorch 1.13 (Debian): BLAS_INFO=generic; MKL not available; oneDNN available; BLAS library " +
      "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 (OpenBLAS); OPENBLAS_CORETYPE=unset.",
  ));
  // Slowdown: loaded over quiet within the file that has both.
  const mlpLoaded = lines.filter((l) => l.startsWith("| mlp")).at(-1)!;
  assert.deepEqual(cells(mlpLoaded), ["mlp", "64", "5.75 (1.15×)", "–", "16.0 (2.00×)", "–"]);
  assert.match(lines.at(-1)!, /^Measured 2026-12-03, 2026-12-04 on AMD EPYC \(2 cores\) by/);
});
