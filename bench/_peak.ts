/**
 * The machine's float32 MatMul rate in onnxruntime, which `bench/epoch.ts --peak-gemm` and
 * `bench/compare/` report beside training speeds.
 * @module
 */
import { createGraphBuilder } from "../src/ir/builder.ts";
import type { Graph } from "../src/ir/types.ts";
import { emitModel } from "../src/onnx/emit.ts";
import { type Backend, createSession, type Device } from "../src/runtime/session.ts";

/**
 * GFLOP/s of a float32 MatMul `[n, n] × [n, n]` on one session of the given backend: the best of
 * `repeats` timed runs after two warm-up runs.
 */
export async function peakGemmGflops(
  options: { backend?: Backend; threads?: number; device?: Device },
  n = 1024,
  repeats = 10,
): Promise<number> {
  const b = createGraphBuilder();
  const type = { dtype: "float32" as const, shape: [n, n] };
  b.output("y", b.op1("MatMul", [b.input("a", type), b.input("b", type)]));
  const graph: Graph = b.build("peak_gemm");
  const session = await createSession(emitModel(graph), options);
  try {
    const data = new Float32Array(n * n).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
    const feeds = {
      a: { dtype: "float32" as const, dims: [n, n], data },
      b: { dtype: "float32" as const, dims: [n, n], data },
    };
    let best = Infinity;
    for (let r = 0; r < repeats + 2; r++) {
      const t = performance.now();
      await session.run(feeds);
      if (r >= 2) best = Math.min(best, (performance.now() - t) / 1000);
    }
    return 2 * n ** 3 / best / 1e9;
  } finally {
    await session.release();
  }
}
