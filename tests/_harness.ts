/**
 * Test helpers: build IR graphs, emit them, run them in onnxruntime, and check gradients from
 * {@linkcode differentiate} against central finite differences.
 * @module
 */
import assert from "node:assert/strict";
import { differentiate } from "../src/autodiff/differentiate.ts";
import { createGraphBuilder, type GraphBuilder } from "../src/ir/builder.ts";
import type { DType, Graph, Shape, TensorData, Value } from "../src/ir/types.ts";
import { validateGraph } from "../src/ir/validate.ts";
import { emitModel } from "../src/onnx/emit.ts";
import { createSession, type HostTensor, type Session } from "../src/runtime/session.ts";
import { createRng, type Rng } from "../src/util/random.ts";

export type { HostTensor, Session };

/** A typed array of `dtype` holding `values` (numbers; bools as 0/1). */
export function typedArray(dtype: DType, values: ArrayLike<number>): TensorData {
  switch (dtype) {
    case "float32":
      return Float32Array.from(values);
    case "float64":
      return Float64Array.from(values);
    case "int64":
      return BigInt64Array.from(Array.from(values), (v) => BigInt(v));
    case "int32":
      return Int32Array.from(values);
    case "uint8":
    case "bool":
      return Uint8Array.from(values);
  }
}

/** A host tensor of `dtype` and `dims` holding `values`. */
export function tensor(
  dtype: DType,
  dims: readonly number[],
  values: ArrayLike<number>,
): HostTensor {
  const data = typedArray(dtype, values);
  assert.equal(
    data.length,
    product(dims),
    `tensor of dims [${dims}] needs ${product(dims)} values`,
  );
  return { dtype, dims, data };
}

/** The elements of a tensor as plain numbers. */
export function values(t: HostTensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

/** The product of `dims` (1 for a scalar). */
export function product(dims: readonly number[]): number {
  return dims.reduce((a, d) => a * d, 1);
}

/** Uniform in [-1, 1). */
export const uniform = (rng: Rng): number => 2 * rng.nextFloat() - 1;

/** Uniform in ±[lo, hi): bounded away from zero, for Relu kinks and Div denominators. */
export const awayFromZero = (lo: number, hi: number) => (rng: Rng): number =>
  (rng.nextFloat() < 0.5 ? -1 : 1) * (lo + (hi - lo) * rng.nextFloat());

/** Builds a graph with a fresh builder; `fn` declares inputs, nodes and outputs. */
export function buildGraph(name: string, fn: (b: GraphBuilder) => void): Graph {
  const b = createGraphBuilder();
  fn(b);
  return b.build(name);
}

/** Validates and emits `graph`, then loads it into a single-threaded CPU session. */
export function openGraph(graph: Graph): Promise<Session> {
  return createSession(emitModel(validateGraph(graph)), { threads: 1 });
}

/** Runs `graph` once on `feeds` and returns every output by name. */
export async function runGraph(
  graph: Graph,
  feeds: Readonly<Record<string, HostTensor>>,
): Promise<Record<string, HostTensor>> {
  const session = await openGraph(graph);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

/** How many nodes of `graph` run `op`. */
export function countOps(graph: Graph, op: string): number {
  return graph.nodes.filter((n) => n.op === op).length;
}

/** One input of a gradient check. */
export interface InputSpec {
  /** Declared shape; may hold symbolic dimensions such as "N". */
  readonly shape: Shape;
  /** Element type (default: the check's dtype). */
  readonly dtype?: DType;
  /** Run-time dims (default: `shape`, which must then be static). */
  readonly dims?: readonly number[];
  /** Fixed values (required for non-float inputs such as labels and masks). */
  readonly data?: ArrayLike<number>;
  /** Draws each element where `data` is absent (default: uniform in [-1, 1)). */
  readonly sample?: (rng: Rng) => number;
}

/** What {@linkcode checkGradients} checks. */
export interface GradCheckSpec {
  /** The graph inputs, by name. */
  readonly inputs: Readonly<Record<string, InputSpec>>;
  /** The inputs to differentiate with respect to (float inputs only). */
  readonly wrt: readonly string[];
  /**
   * Builds `f(inputs)`. A non-scalar result is turned into the scalar loss
   * `ReduceSum(f · w)` with a fixed random weight `w`, so every element counts with its own weight.
   */
  readonly build: (b: GraphBuilder, x: Readonly<Record<string, Value>>) => Value;
  /** Float type of inputs without their own dtype (default float64). */
  readonly dtype?: "float32" | "float64";
  /** Seed of the random point and weights. */
  readonly seed?: number;
  /** Finite-difference step (default 1e-6 in float64, 1e-2 in float32). */
  readonly h?: number;
  /** Absolute tolerance (default 1e-6 in float64, 1e-3 in float32). */
  readonly atol?: number;
  /** Relative tolerance (default 1e-5 in float64, 1e-2 in float32). */
  readonly rtol?: number;
  /** Run-time dims of symbolic inputs, one entry per point to check (default: one point). */
  readonly runs?: readonly Readonly<Record<string, readonly number[]>>[];
}

/** What {@linkcode checkGradients} computed at its (last) point. */
export interface GradCheckResult {
  readonly graph: Graph;
  readonly feeds: Readonly<Record<string, HostTensor>>;
  readonly loss: number;
  /** Analytic gradients by input name. */
  readonly grads: Readonly<Record<string, HostTensor>>;
  /** Finite-difference gradients by input name. */
  readonly numeric: Readonly<Record<string, Float64Array>>;
}

const WEIGHT = "__loss_weight";

/** Run-time dims of a declared shape, binding symbols from `symbols` ("N", "3*N"). */
function resolveDims(shape: Shape, symbols: ReadonlyMap<string, number>): number[] {
  return shape.map((d) => {
    if (typeof d === "number") return d;
    return d.split("*").reduce((acc, t) => {
      const v = /^\d+$/.test(t) ? Number(t) : symbols.get(t);
      if (v === undefined) throw new Error(`gradient check: cannot resolve dimension ${d}`);
      return acc * v;
    }, 1);
  });
}

/**
 * Checks the gradients `differentiate` appends against central finite differences.
 *
 * Builds one graph with outputs `loss` and `grad_<name>` for each `wrt` input, runs it at a random
 * point, then re-runs it (fetching only the loss) with each element of each `wrt` input moved
 * by ±h. Fails with the worst elements when `|analytic − numeric| > atol + rtol·|numeric|`.
 *
 * @param spec The function, its inputs and the tolerances.
 * @returns The analytic and numeric gradients at the last point checked.
 */
export async function checkGradients(spec: GradCheckSpec): Promise<GradCheckResult> {
  const dtype = spec.dtype ?? "float64";
  const f64 = dtype === "float64";
  const h = spec.h ?? (f64 ? 1e-6 : 1e-2);
  const atol = spec.atol ?? (f64 ? 1e-6 : 1e-3);
  const rtol = spec.rtol ?? (f64 ? 1e-5 : 1e-2);
  const rng = createRng(spec.seed ?? 1234);

  const b = createGraphBuilder();
  const x: Record<string, Value> = {};
  for (const [name, s] of Object.entries(spec.inputs)) {
    x[name] = b.input(name, { dtype: s.dtype ?? dtype, shape: s.shape });
  }
  const y = spec.build(b, x);
  const weighted = y.type.shape.length > 0;
  const loss = weighted
    ? b.op1("ReduceSum", [b.op1("Mul", [y, b.input(WEIGHT, y.type)])], { keepdims: 0 })
    : y;
  assert.deepEqual(loss.type.shape, [], "the loss must be a scalar");
  const grads = differentiate(b, loss, spec.wrt.map((n) => x[n]));
  b.output("loss", loss);
  grads.forEach((g, i) => {
    assert.ok(g, `no gradient for ${spec.wrt[i]}`);
    b.output(`grad_${spec.wrt[i]}`, g);
  });
  const graph = b.build("gradcheck");
  const session = await openGraph(graph);

  let result: GradCheckResult | undefined;
  try {
    for (const run of spec.runs ?? [{}]) {
      result = await checkAt(run);
    }
  } finally {
    await session.release();
  }
  return result!;

  async function checkAt(run: Readonly<Record<string, readonly number[]>>) {
    const feeds: Record<string, HostTensor> = {};
    const symbols = new Map<string, number>();
    for (const [name, s] of Object.entries(spec.inputs)) {
      const dims = run[name] ?? s.dims ?? resolveDims(s.shape, symbols);
      assert.equal(dims.length, s.shape.length, `dims of ${name}`);
      s.shape.forEach((d, i) => {
        if (typeof d === "string") symbols.set(d, dims[i]);
      });
      const n = product(dims);
      const data = s.data ?? Array.from({ length: n }, () => (s.sample ?? uniform)(rng));
      feeds[name] = tensor(s.dtype ?? dtype, dims, data);
    }
    if (weighted) {
      const dims = resolveDims(y.type.shape, symbols);
      feeds[WEIGHT] = tensor(
        y.type.dtype,
        dims,
        Array.from({ length: product(dims) }, () => uniform(rng)),
      );
    }

    const out = await session.run(feeds);
    const analytic: Record<string, HostTensor> = {};
    const numeric: Record<string, Float64Array> = {};
    const failures: string[] = [];
    for (const name of spec.wrt) {
      const g = out[`grad_${name}`];
      const input = feeds[name];
      assert.equal(g.dtype, input.dtype, `dtype of grad_${name}`);
      assert.deepEqual([...g.dims], [...input.dims], `dims of grad_${name}`);
      analytic[name] = g;
      const data = input.data as Float32Array | Float64Array;
      const fd = new Float64Array(data.length);
      for (let i = 0; i < data.length; i++) {
        const x0 = data[i];
        data[i] = x0 + h;
        const up = data[i];
        const lossUp = values((await session.run(feeds, ["loss"])).loss)[0];
        data[i] = x0 - h;
        const down = data[i];
        const lossDown = values((await session.run(feeds, ["loss"])).loss)[0];
        data[i] = x0;
        fd[i] = (lossUp - lossDown) / (up - down);
        const a = Number(g.data[i]);
        const err = Math.abs(a - fd[i]);
        if (!(err <= atol + rtol * Math.abs(fd[i]))) {
          failures.push(`${name}[${i}]: analytic ${a}, numeric ${fd[i]}, error ${err}`);
        }
      }
      numeric[name] = fd;
    }
    if (failures.length) {
      const dims = Object.entries(feeds).map(([k, t]) => `${k}[${t.dims}]`).join(", ");
      assert.fail(
        `${failures.length} gradient element(s) off (${dtype}, ${dims}, atol ${atol}, ` +
          `rtol ${rtol}):\n  ${failures.slice(0, 8).join("\n  ")}`,
      );
    }
    return { graph, feeds, loss: values(out.loss)[0], grads: analytic, numeric };
  }
}

/** A fixed input of an exact run: dims, values and dtype (default float64). */
export interface Fixed {
  readonly dims: readonly number[];
  readonly data: readonly number[];
  readonly dtype?: DType;
}

/** Graph inputs and their feeds for fixed tensors (float64 unless given). */
export function declareFixed(
  b: GraphBuilder,
  inputs: Readonly<Record<string, Fixed>>,
): { x: Record<string, Value>; feeds: Record<string, HostTensor> } {
  const x: Record<string, Value> = {};
  const feeds: Record<string, HostTensor> = {};
  for (const [name, t] of Object.entries(inputs)) {
    const dtype = t.dtype ?? "float64";
    x[name] = b.input(name, { dtype, shape: t.dims });
    feeds[name] = tensor(dtype, t.dims, t.data);
  }
  return { x, feeds };
}

/**
 * Runs `f` on fixed inputs and differentiates `Σ f(x) · dy` with respect to `wrt`: returns the
 * forward value `y` and the exact gradient of each `wrt` input, for hand-checked numbers.
 */
export async function exactGradients(
  inputs: Readonly<Record<string, Fixed>>,
  wrt: readonly string[],
  f: (b: GraphBuilder, x: Readonly<Record<string, Value>>) => Value,
  dy?: readonly number[],
): Promise<{ y: number[]; grads: Record<string, number[]> }> {
  const b = createGraphBuilder();
  const { x, feeds } = declareFixed(b, inputs);
  const y = f(b, x);
  const dims = y.type.shape as number[];
  const w = b.input("dy", y.type);
  feeds.dy = tensor(y.type.dtype, dims, dy ?? new Array(product(dims)).fill(1));
  const loss = b.op1("ReduceSum", [b.op1("Mul", [y, w])], { keepdims: 0 });
  const grads = differentiate(b, loss, wrt.map((n) => x[n]));
  b.output("y", y);
  grads.forEach((g, i) => {
    assert.ok(g, `no gradient for ${wrt[i]}`);
    b.output(`grad_${wrt[i]}`, g);
  });
  const out = await runGraph(b.build("exact"), feeds);
  return {
    y: values(out.y),
    grads: Object.fromEntries(wrt.map((n) => [n, values(out[`grad_${n}`])])),
  };
}
