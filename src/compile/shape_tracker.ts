/**
 * Compile-time values of the shape arithmetic in imported graphs: ONNX data propagation over
 * small integer tensors, symbolic in the batch (`N*4`, `N+1`), and constant folding of integer
 * tensors of any rank ({@linkcode foldInts}). Used by the `fromOnnx` lowering.
 * @module
 */
import type { GraphBuilder } from "../ir/builder.ts";
import { dimArith } from "../ir/dims.ts";
import { type OpName, OPS } from "../ir/ops/mod.ts";
import type { Dim, Value } from "../ir/types.ts";
import type { ImportedNode } from "../onnx/import.ts";
import { foldInts } from "./fold_ints.ts";

/** A known element: a number (bools as 0/1), a symbolic dimension, or unknown. */
type Known = readonly Dim[];

const ARITH = new Set(["Add", "Sub", "Mul", "Div"]);
const COMPARE: Readonly<Record<string, (a: number, b: number) => boolean>> = {
  Equal: (a, b) => a === b,
  Less: (a, b) => a < b,
  Greater: (a, b) => a > b,
  LessOrEqual: (a, b) => a <= b,
  GreaterOrEqual: (a, b) => a >= b,
};
const INT_TYPES = new Set(["int64", "int32", "bool"]);

/**
 * ONNX data propagation over the shape arithmetic exporters write (`Shape → Gather/Slice →
 * Unsqueeze → Concat → Add/Sub/Mul/Div → Cast → Reshape/Expand/ConstantOfShape`, and the
 * `Where(Equal(shape, −1), 1, shape)` of `expand(N, −1, −1)`), as onnxruntime's symbolic shape
 * inference does, where the IR's rows do not: elements are numbers or dimension expressions over
 * the batch symbols (`N`, `4*N`, `N+1`, {@linkcode dimArith}). Values known as numbers become
 * constants; values known symbolically keep their nodes (the graph computes them at run time) and
 * carry the expressions as their type's `known`, so Reshape, Expand and ConstantOfShape get
 * symbolic output shapes.
 */
export function shapeTracker(b: GraphBuilder): {
  lower(
    n: ImportedNode,
    inputs: readonly (Value | null)[],
    emit: (known?: readonly Dim[]) => Value[],
  ): Value[];
} {
  const knownOf = (v: Value | null | undefined): Known | undefined => {
    if (!v || v.type.shape.length > 1 || !INT_TYPES.has(v.type.dtype)) return undefined;
    if (v.type.known) return v.type.known;
    const c = v.constant;
    return c && c.data.length <= 64
      ? Array.from(c.data as ArrayLike<number | bigint>, Number)
      : undefined;
  };
  const numeric = (k: Known | undefined): k is readonly number[] =>
    !!k && k.every((d) => typeof d === "number");
  /** Elementwise over broadcast one-dimensional operands. */
  const zip = (ks: Known[], f: (xs: Dim[]) => Dim | undefined): Known | undefined => {
    const len = Math.max(...ks.map((k) => k.length));
    if (ks.some((k) => k.length !== len && k.length !== 1)) return undefined;
    const out: Dim[] = [];
    for (let i = 0; i < len; i++) {
      const d = f(ks.map((k) => k[k.length === 1 ? 0 : i]));
      if (d === undefined) return undefined;
      out.push(d);
    }
    return out;
  };
  /** A comparison with a symbolic side: dimensions are ≥ 1, which settles comparisons with ≤ 0. */
  const compare = (op: string, a: Dim, c: Dim): Dim | undefined => {
    if (typeof a === "number" && typeof c === "number") return COMPARE[op](a, c) ? 1 : 0;
    if (a === c) return ["Equal", "LessOrEqual", "GreaterOrEqual"].includes(op) ? 1 : 0;
    const [sym, n, flipped] = typeof a === "string" ? [a, c, false] : [c as string, a, true];
    // A product of symbols with a positive coefficient is at least 1.
    if (
      typeof n !== "number" || n > 0 || !/^(\d+\*)?[A-Za-z_][\w.:]*(\*[A-Za-z_][\w.:]*)*$/.test(sym)
    ) {
      return undefined;
    }
    // sym ≥ 1 > n
    const greater = !flipped;
    switch (op) {
      case "Equal":
        return 0;
      case "Greater":
      case "GreaterOrEqual":
        return greater ? 1 : 0;
      default:
        return greater ? 0 : 1;
    }
  };

  /** The values of node `n`'s first output where its inputs' values are known. */
  function evaluate(n: ImportedNode, inputs: readonly (Value | null)[]): Known | undefined {
    const ks = inputs.map(knownOf);
    const k0 = ks[0];
    switch (n.op) {
      case "Identity":
      case "Squeeze":
      case "Unsqueeze":
        return k0;
      case "Reshape":
        // A shape vector reshaped to one dimension (`Reshape(Concat(…), [-1])`) or a scalar.
        return ks[1] && ks[1].length <= 1 ? k0 : undefined;
      case "Cast":
        if (!k0 || !INT_TYPES.has(String(n.attrs.to))) return undefined;
        return n.attrs.to === "bool" ? (numeric(k0) ? k0.map((d) => (d ? 1 : 0)) : undefined) : k0;
      case "Concat":
        return ks.every((k) => k) ? ks.flatMap((k) => k!) : undefined;
      case "Gather": {
        const i = ks[1];
        if (!k0 || !numeric(i) || inputs[0]!.type.shape.length !== 1) return undefined;
        const picked = i.map((j) => k0[j < 0 ? j + k0.length : j]);
        return picked.some((d) => d === undefined) ? undefined : picked;
      }
      case "Slice": {
        const [, starts, ends, axes, steps] = ks;
        if (!k0 || !numeric(starts) || !numeric(ends) || starts.length !== 1) return undefined;
        if (
          (axes && (!numeric(axes) || axes[0] !== 0 && axes[0] !== -1)) ||
          (steps && !numeric(steps))
        ) {
          return undefined;
        }
        const step = steps ? steps[0] : 1, len = k0.length;
        const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
        const norm = (v: number) => (v < 0 ? v + len : v);
        const out: Dim[] = [];
        if (step > 0) {
          for (
            let i = clamp(norm(starts[0]), 0, len);
            i < clamp(norm(ends[0]), 0, len);
            i += step
          ) {
            out.push(k0[i]);
          }
        } else if (step < 0) {
          for (
            let i = clamp(norm(starts[0]), -1, len - 1);
            i > clamp(norm(ends[0]), -1, len - 1);
            i += step
          ) out.push(k0[i]);
        } else return undefined;
        return out;
      }
      case "Neg":
        return k0 && zip([k0], ([a]) => dimArith("Mul", a, -1));
      case "Not":
        return numeric(k0) ? k0.map((d) => (d ? 0 : 1)) : undefined;
      case "Where":
        return ks.every((k) => k) && numeric(k0)
          ? zip(ks as Known[], ([c, x, y]) => (c ? x : y))
          : undefined;
      case "ConstantOfShape": {
        const t = n.attrs.value as { data?: ArrayLike<number | bigint> } | undefined;
        if (!numeric(k0) || k0.length > 1 || (k0[0] ?? 1) > 64) return undefined;
        const fill = t?.data ? Number(t.data[0]) : 0;
        return Array(k0[0] ?? 1).fill(fill);
      }
      case "Max":
      case "Min":
        return ks.every(numeric)
          ? zip(ks as Known[], (xs) => (n.op === "Max" ? Math.max : Math.min)(...(xs as number[])))
          : undefined;
    }
    if (ARITH.has(n.op) && ks.length === 2 && ks.every((k) => k)) {
      return zip(ks as Known[], ([a, c]) => dimArith(n.op as "Add", a, c));
    }
    if (n.op in COMPARE && ks.length === 2 && ks.every((k) => k)) {
      return zip(ks as Known[], ([a, c]) => compare(n.op, a, c));
    }
    return undefined;
  }

  /**
   * A constant for node `n`'s output where its value is known as numbers (the node is then not
   * emitted), else the node, its output annotated with what is known.
   */
  function lower(
    n: ImportedNode,
    inputs: readonly (Value | null)[],
    emit: (known?: Known) => Value[],
  ): Value[] {
    if (n.outputs.length !== 1) return emit();
    // Every input a small integer constant: fold whatever the rank.
    if (inputs.some((v) => v) && inputs.every((v) => !v || v.constant)) {
      const [type] = OPS[n.op as OpName]?.infer(inputs, n.attrs) ?? [];
      const folded = type && foldInts(n.op, inputs.map((v) => v && v.constant), n.attrs, type);
      if (folded) return [b.constant(folded)];
    }
    const k = evaluate(n, inputs);
    if (!k) return emit();
    if (numeric(k)) {
      const [type] = OPS[n.op as OpName]?.infer(inputs, n.attrs) ?? [];
      if (type && INT_TYPES.has(type.dtype) && type.shape.length <= 1) {
        const shape = type.shape.length ? [k.length] : [];
        const data = type.dtype === "int64"
          ? BigInt64Array.from(k, BigInt)
          : type.dtype === "int32"
          ? Int32Array.from(k)
          : Uint8Array.from(k);
        return [b.constant({ dtype: type.dtype, shape, data })];
      }
    }
    return emit(k);
  }
  return { lower };
}
