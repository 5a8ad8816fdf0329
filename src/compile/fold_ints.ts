/**
 * Constant folding of small integer tensors of any rank, for the shape arithmetic exporters
 * write with more than one dimension (PyTorch's legacy `F.pad` builds its pads as
 * `Concat → Reshape([-1, 2]) → Slice(step −1) → Transpose → Reshape([-1])`): an op whose inputs
 * are all constants is evaluated here, row-major, and replaced by its value. The output's type
 * comes from the op's own shape rule; only the values are computed here.
 * @module
 */
import type { Attrs, ConstTensor, TensorType } from "../ir/types.ts";

/** The largest tensor folded (elements). */
const LIMIT = 4096;
const INTS = new Set(["int64", "int32", "bool"]);

const BINARY: Readonly<Record<string, (a: number, b: number) => number>> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  // ONNX's integer division truncates, as C does.
  Div: (a, b) => Math.trunc(a / b),
  Equal: (a, b) => Number(a === b),
  Less: (a, b) => Number(a < b),
  Greater: (a, b) => Number(a > b),
  LessOrEqual: (a, b) => Number(a <= b),
  GreaterOrEqual: (a, b) => Number(a >= b),
  And: (a, b) => Number(a && b),
  Or: (a, b) => Number(a || b),
  Max: Math.max,
  Min: Math.min,
};

const strides = (shape: readonly number[]) => {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
};
const count = (shape: readonly number[]) => shape.reduce((a, d) => a * d, 1);
const valuesOf = (t: ConstTensor) => Array.from(t.data as ArrayLike<number | bigint>, Number);

/** The multi-index of flat position `i` in `shape`. */
function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let a = shape.length - 1; a >= 0; a--) {
    idx[a] = i % shape[a];
    i = Math.floor(i / shape[a]);
  }
  return idx;
}

/** The value of `t` at output multi-index `idx` under numpy broadcasting. */
function broadcastAt(t: ConstTensor, v: number[], idx: readonly number[]): number {
  const s = t.shape, st = strides(s), off = idx.length - s.length;
  let flat = 0;
  for (let a = 0; a < s.length; a++) flat += (s[a] === 1 ? 0 : idx[a + off]) * st[a];
  return v[flat];
}

function compute(
  op: string,
  inputs: readonly (ConstTensor | null)[],
  attrs: Attrs,
  out: readonly number[],
): number[] | undefined {
  const [x] = inputs;
  if (!x) return undefined;
  const xv = valuesOf(x);
  const n = count(out);
  switch (op) {
    case "Identity":
    case "Reshape":
    case "Unsqueeze":
    case "Squeeze":
    case "Flatten":
      return xv;
    case "Cast":
      return attrs.to === "bool" ? xv.map((v) => Number(v !== 0)) : xv.map(Math.trunc);
    case "Neg":
      return xv.map((v) => -v);
    case "Mod": {
      // fmod 0: the sign of the divisor (Python's %); fmod 1: of the dividend (C's fmod).
      const [a, b] = inputs as ConstTensor[];
      const bv = valuesOf(b), c = Number(attrs.fmod ?? 0);
      return Array.from({ length: n }, (_, i) => {
        const idx = unravel(i, out);
        const p = broadcastAt(a, xv, idx), q = broadcastAt(b, bv, idx);
        const r = p % q;
        return c || r === 0 || (r < 0) === (q < 0) ? r : r + q;
      });
    }
    case "Not":
      return xv.map((v) => Number(!v));
    case "Expand":
      return Array.from({ length: n }, (_, i) => broadcastAt(x, xv, unravel(i, out)));
    case "Where": {
      const [c, a, b] = inputs as ConstTensor[];
      const [cv, av, bv] = [c, a, b].map(valuesOf);
      return Array.from({ length: n }, (_, i) => {
        const idx = unravel(i, out);
        return broadcastAt(c, cv, idx) ? broadcastAt(a, av, idx) : broadcastAt(b, bv, idx);
      });
    }
    case "Transpose": {
      const r = x.shape.length;
      const perm = (attrs.perm as number[] | undefined) ?? [...Array(r).keys()].reverse();
      const st = strides(x.shape);
      return Array.from({ length: n }, (_, i) => {
        const idx = unravel(i, out);
        return xv[idx.reduce((f, v, a) => f + v * st[perm[a]], 0)];
      });
    }
    case "Concat": {
      const r = x.shape.length;
      const axis = ((Number(attrs.axis ?? 0)) % r + r) % r;
      const parts = inputs as ConstTensor[];
      return Array.from({ length: n }, (_, i) => {
        const idx = unravel(i, out);
        let k = 0, at = idx[axis];
        while (at >= parts[k].shape[axis]) at -= parts[k++].shape[axis];
        const p = parts[k], st = strides(p.shape);
        return valuesOf(p)[idx.reduce((f, v, a) => f + (a === axis ? at : v) * st[a], 0)];
      });
    }
    case "Gather": {
      const idxT = inputs[1]!;
      const iv = valuesOf(idxT), r = x.shape.length;
      const axis = ((Number(attrs.axis ?? 0)) % r + r) % r;
      const q = idxT.shape.length, st = strides(x.shape), ist = strides(idxT.shape);
      return Array.from({ length: n }, (_, i) => {
        const idx = unravel(i, out);
        const j = idx.slice(axis, axis + q).reduce((f, v, a) => f + v * ist[a], 0);
        const g = iv[j] < 0 ? iv[j] + x.shape[axis] : iv[j];
        const src = [...idx.slice(0, axis), g, ...idx.slice(axis + q)];
        return xv[src.reduce((f, v, a) => f + v * st[a], 0)];
      });
    }
    case "Slice": {
      const [starts, ends, axesT, stepsT] = inputs.slice(1).map((t) => (t ? valuesOf(t) : null));
      if (!starts || !ends) return undefined;
      const r = x.shape.length, st = strides(x.shape);
      const first = new Array<number>(r).fill(0), step = new Array<number>(r).fill(1);
      starts.forEach((s0, j) => {
        const a = ((axesT?.[j] ?? j) % r + r) % r, d = x.shape[a], k = stepsT?.[j] ?? 1;
        const s = s0 < 0 ? s0 + d : s0;
        first[a] = k > 0 ? Math.min(Math.max(s, 0), d) : Math.min(Math.max(s, 0), d - 1);
        step[a] = k;
      });
      return Array.from({ length: n }, (_, i) => {
        const idx = unravel(i, out);
        return xv[idx.reduce((f, v, a) => f + (first[a] + v * step[a]) * st[a], 0)];
      });
    }
  }
  const f = BINARY[op];
  if (f && inputs.length === 2 && inputs[1]) {
    const [a, b] = inputs as ConstTensor[];
    const [av, bv] = [a, b].map(valuesOf);
    return Array.from({ length: n }, (_, i) => {
      const idx = unravel(i, out);
      return f(broadcastAt(a, av, idx), broadcastAt(b, bv, idx));
    });
  }
  return undefined;
}

/**
 * The value of an op on constant integer tensors, or undefined where it is not folded (an input
 * that is not a small integer constant, an output that is not a small static integer tensor, or
 * an op this evaluator does not know).
 *
 * @param op The op.
 * @param inputs Its inputs' constant values (null for an omitted optional input).
 * @param attrs Its attributes, as the IR holds them.
 * @param type Its output's type, from the op's shape rule.
 * @returns The folded tensor.
 */
export function foldInts(
  op: string,
  inputs: readonly (ConstTensor | null | undefined)[],
  attrs: Attrs,
  type: TensorType,
): ConstTensor | undefined {
  if (!INTS.has(type.dtype) || type.shape.some((d) => typeof d !== "number")) return undefined;
  const shape = type.shape as number[];
  if (count(shape) > LIMIT) return undefined;
  if (inputs.some((t) => t === undefined || (t && (!INTS.has(t.dtype) || t.data.length > LIMIT)))) {
    return undefined;
  }
  const values = compute(op, inputs as (ConstTensor | null)[], attrs, shape);
  if (!values || values.length !== count(shape)) return undefined;
  const data = type.dtype === "int64"
    ? BigInt64Array.from(values, BigInt)
    : type.dtype === "int32"
    ? Int32Array.from(values)
    : Uint8Array.from(values, (v) => Number(v !== 0));
  return { dtype: type.dtype, shape, data };
}
