/**
 * Indexing and index-shaped ops that imported models use: Tile, CumSum, Trilu, GatherND,
 * GatherElements and Einsum, in their ai.onnx opset-17 forms. Shape rules and gradients.
 * @module
 */
import type { GraphBuilder } from "../graph_builder.ts";
import { broadcastShapes } from "../broadcast.ts";
import { dimsEqual } from "../dims.ts";
import { CompileError } from "../errors.ts";
import { type Dim, formatShape, type Shape, type TensorType, type Value } from "../types.ts";
import {
  arg,
  constInts,
  expectFloat,
  type GradArgs,
  normAxis,
  numAttr,
  type OpDef,
  strAttr,
} from "./op_def.ts";
import type { IndexOpName } from "./op_names.ts";
import { zeroTensor } from "./shape.ts";

/** A scalar (or one-element) int input known at compile time, or a CompileError naming the op. */
function constScalar(op: string, v: Value | null | undefined, what: string): number {
  const shapeOk = v && (v.type.shape.length === 0 ||
    (v.type.shape.length === 1 && v.type.shape[0] === 1));
  const intOk = v && (v.type.dtype === "int64" || v.type.dtype === "int32");
  const c = v?.constant?.data[0] ?? v?.type.known?.[0];
  if (!shapeOk || !intOk || c === undefined || typeof c === "string") {
    throw new CompileError(`${op} expects ${what} to be a scalar int constant`);
  }
  return Number(c);
}

/** Zeros of the shape and dtype of `like`, taken at run time so symbolic dimensions work. */
function zerosLike(b: GraphBuilder, like: Value): Value {
  return b.op1("ConstantOfShape", [b.op1("Shape", [like])], { value: zeroTensor(like.type.dtype) });
}

// ---- Einsum equations ----

/** One term of an Einsum equation: an optional leading ellipsis, then letters. */
interface Term {
  readonly ellipsis: boolean;
  readonly letters: readonly string[];
}

/** A parsed Einsum equation with its output made explicit. */
interface Equation {
  readonly inputs: readonly Term[];
  readonly output: Term;
}

function termText(t: Term): string {
  return (t.ellipsis ? "..." : "") + t.letters.join("");
}

function equationText(inputs: readonly Term[], output: Term): string {
  return `${inputs.map(termText).join(",")}->${termText(output)}`;
}

/**
 * Parses `equation` for `count` operands: terms of letters with an optional leading `...`, no
 * letter twice within a term. Without `->` the output is the letters used once, in ASCII order
 * (numpy's implicit mode).
 */
function parseEquation(equation: string, count: number): Equation {
  const bad = (why: string) => new CompileError(`Einsum equation '${equation}' ${why}`);
  const text = equation.replace(/\s+/g, "");
  const sides = text.split("->");
  if (sides.length > 2) throw bad("has more than one '->'");
  const term = (s: string): Term => {
    const m = /^(\.\.\.)?([A-Za-z]*)$/.exec(s);
    if (!m) throw bad(`has term '${s}': expected letters with an optional leading '...'`);
    const letters = [...m[2]];
    const twice = letters.find((l, i) => letters.indexOf(l) !== i);
    if (twice) throw bad(`repeats letter '${twice}' within term '${s}' (not supported)`);
    return { ellipsis: m[1] !== undefined, letters };
  };
  const inputs = sides[0].split(",").map(term);
  if (inputs.length !== count) {
    throw bad(`has ${inputs.length} operand term(s) but the node has ${count} input(s)`);
  }
  const anyEllipsis = inputs.some((t) => t.ellipsis);
  let output: Term;
  if (sides.length === 2) {
    output = term(sides[1]);
    const used = new Set(inputs.flatMap((t) => t.letters));
    const stray = output.letters.find((l) => !used.has(l));
    if (stray) throw bad(`has output letter '${stray}' that no operand has`);
    if (output.ellipsis !== anyEllipsis) {
      throw bad(
        anyEllipsis
          ? "must keep '...' in the output when an operand has it"
          : "has '...' in the output but in no operand",
      );
    }
  } else {
    const all = inputs.flatMap((t) => t.letters);
    const once = all.filter((l) => all.indexOf(l) === all.lastIndexOf(l)).sort();
    output = { ellipsis: anyEllipsis, letters: once };
  }
  return { inputs, output };
}

/** Letter dims and the broadcast ellipsis dims of an Einsum node, checked against its shapes. */
function einsumDims(
  equation: string,
  eq: Equation,
  xs: readonly Value[],
): { dims: Map<string, Dim>; ellipsis: Shape; ellipsisRank: number } {
  const dims = new Map<string, Dim>();
  const ellipses: Shape[] = [];
  let ellipsisRank = -1;
  const shapes = () => xs.map((x) => formatShape(x.type.shape)).join(" and ");
  eq.inputs.forEach((t, i) => {
    const s = xs[i].type.shape;
    const rest = s.length - t.letters.length;
    if (rest < 0 || (!t.ellipsis && rest !== 0)) {
      throw new CompileError(
        `Einsum equation '${equation}': term '${termText(t)}' does not fit input ${i} of shape ${
          formatShape(s)
        }`,
      );
    }
    if (t.ellipsis) {
      if (ellipsisRank >= 0 && ellipsisRank !== rest) {
        throw new CompileError(
          `Einsum equation '${equation}' needs '...' to stand for the same number of dimensions ` +
            `in every operand, got shapes ${shapes()}`,
        );
      }
      ellipsisRank = rest;
      ellipses.push(s.slice(0, rest));
    }
    t.letters.forEach((l, j) => {
      const d = s[rest + j], seen = dims.get(l);
      if (seen === undefined) dims.set(l, d);
      else if (
        typeof seen === "number" && typeof d === "number"
          ? seen !== d
          : typeof seen === "string" && typeof d === "string" && !dimsEqual(seen, d)
      ) {
        throw new CompileError(
          `Einsum equation '${equation}' gives letter '${l}' sizes ${seen} and ${d}, got shapes ${shapes()}`,
        );
      } else if (typeof seen === "string" && typeof d === "number") dims.set(l, d);
    });
  });
  const ellipsis = ellipses.length ? broadcastShapes("Einsum", ellipses) : [];
  return { dims, ellipsis, ellipsisRank: Math.max(ellipsisRank, 0) };
}

/** Index op table. */
export const INDEX_OPS = {
  Tile: {
    // y repeats x repeats[i] times along axis i (repeats: a constant int64 vector, one per axis).
    // A symbolic dimension may only be repeated once.
    infer: (inputs): TensorType[] => {
      const op = "Tile";
      const x = arg(op, inputs, 0);
      const s = x.type.shape;
      const reps = constInts(op, arg(op, inputs, 1), "repeats");
      if (reps.length !== s.length || reps.some((r) => r < 0)) {
        throw new CompileError(
          `${op} expects ${s.length} non-negative repeats for shape ${formatShape(s)}, got [${
            reps.join(", ")
          }]`,
        );
      }
      const shape = s.map((d, i) => {
        if (typeof d === "number") return d * reps[i];
        if (reps[i] === 1) return d;
        throw new CompileError(
          `${op} cannot repeat symbolic dimension ${d} of ${formatShape(s)} ${reps[i]} times`,
        );
      });
      return [{ dtype: x.type.dtype, shape }];
    },
    grad: ({ b, node, dy, needs }: GradArgs) => {
      // dy viewed as [r0, d0, r1, d1, …] (axes with repeat 1 stay whole) and summed over the
      // repeat axes. A symbolic dimension (repeat 1) becomes the Reshape's -1, so one at most.
      if (!needs[0]) return [null, null];
      const x = node.inputs[0]!;
      const s = x.type.shape;
      const reps = constInts("Tile", node.inputs[1], "repeats");
      if (reps.every((r) => r === 1)) return [dy[0], null];
      if (s.filter((d) => typeof d === "string").length > 1) {
        throw new CompileError(
          `Tile gradient supports at most one symbolic dimension, got ${formatShape(s)}`,
        );
      }
      const target: number[] = [], axes: number[] = [];
      s.forEach((d, i) => {
        if (reps[i] !== 1) {
          axes.push(target.length);
          target.push(reps[i]);
        }
        target.push(typeof d === "number" ? d : -1);
      });
      const split = b.op1("Reshape", [dy[0], b.ints(target)]);
      return [b.op1("ReduceSum", [split, b.ints(axes)], { keepdims: 0 }), null];
    },
  },
  CumSum: {
    // Running sums along `axis` (a scalar int input known at compile time); `exclusive` leaves
    // out the element itself, `reverse` sums from the end.
    infer: (inputs): TensorType[] => {
      const op = "CumSum";
      const x = arg(op, inputs, 0);
      if (x.type.dtype === "bool" || x.type.dtype === "uint8") {
        throw new CompileError(`${op} expects a float or int input, got ${x.type.dtype}`);
      }
      normAxis(op, constScalar(op, arg(op, inputs, 1), "axis"), x.type.shape.length);
      return [{ dtype: x.type.dtype, shape: x.type.shape }];
    },
    grad: ({ b, node, dy, needs }: GradArgs) => {
      // Each x_i reaches the outputs on its other side: dx = CumSum(dy) with `reverse` flipped
      // and the same `exclusive`.
      if (!needs[0]) return [null, null];
      expectFloat("CumSum", node.inputs[0]!);
      const attrs = {
        exclusive: numAttr(node.attrs, "exclusive", 0),
        reverse: 1 - numAttr(node.attrs, "reverse", 0),
      };
      return [b.op1("CumSum", [dy[0], node.inputs[1]], attrs), null];
    },
  },
  Trilu: {
    // Keeps the upper (upper = 1) or lower triangle of the last two axes, from diagonal k (an
    // optional scalar int64 input known at compile time, default 0), zeroing the rest.
    infer: (inputs): TensorType[] => {
      const op = "Trilu";
      const x = arg(op, inputs, 0);
      if (x.type.shape.length < 2) {
        throw new CompileError(
          `${op} expects an input of rank ≥ 2, got ${formatShape(x.type.shape)}`,
        );
      }
      if (inputs[1]) constScalar(op, inputs[1], "k");
      return [{ dtype: x.type.dtype, shape: x.type.shape }];
    },
    // The mask is linear: dx = Trilu(dy) with the same k and upper.
    grad: ({ b, node, dy, needs }: GradArgs) => [
      needs[0]
        ? b.op1("Trilu", node.inputs[1] ? [dy[0], node.inputs[1]] : [dy[0]], {
          upper: numAttr(node.attrs, "upper", 1),
        })
        : null,
      null,
    ],
  },
  GatherND: {
    // Slices of data addressed by the last axis of int64 indices [..., m]; the first
    // batch_dims axes of both are shared batch axes. y: indices[:-1] ++ data[batch_dims + m:].
    infer: (inputs, attrs): TensorType[] => {
      const op = "GatherND";
      const data = arg(op, inputs, 0), idx = arg(op, inputs, 1);
      const s = data.type.shape, q = idx.type.shape;
      const bd = numAttr(attrs, "batch_dims", 0);
      if (idx.type.dtype !== "int64") {
        throw new CompileError(`${op} expects int64 indices, got ${idx.type.dtype}`);
      }
      const m = q[q.length - 1];
      const fail = () =>
        new CompileError(
          `${op} with batch_dims ${bd} cannot index data ${formatShape(s)} with indices ${
            formatShape(q)
          }`,
        );
      if (bd < 0 || bd >= Math.min(s.length, q.length)) throw fail();
      if (typeof m !== "number") {
        throw new CompileError(
          `${op} needs a static last dimension of indices, got ${formatShape(q)}`,
        );
      }
      if (m < 1 || m > s.length - bd) throw fail();
      for (let k = 0; k < bd; k++) {
        if (typeof s[k] === "number" && typeof q[k] === "number" && s[k] !== q[k]) throw fail();
      }
      return [{ dtype: data.type.dtype, shape: [...q.slice(0, -1), ...s.slice(bd + m)] }];
    },
    grad: ({ b, node, dy, needs }: GradArgs) => {
      // dData = a scatter-add of dy into zeros at the gathered positions (repeats accumulate).
      // With batch_dims b the indices first gain the b batch coordinates, each an exclusive
      // CumSum of ones along its axis, so the scatter is the batch_dims = 0 form.
      if (!needs[0]) return [null, null];
      const [data, idx] = node.inputs as Value[];
      const bd = numAttr(node.attrs, "batch_dims", 0);
      let full = idx;
      if (bd > 0) {
        const q = idx.type.shape.length;
        const lead = b.op1("Gather", [b.op1("Shape", [idx]), b.ints([...Array(q - 1).keys()])], {
          axis: 0,
        });
        const one = { dtype: "int64", shape: [1], data: BigInt64Array.of(1n) } as const;
        const ones = b.op1("Unsqueeze", [
          b.op1("ConstantOfShape", [lead], { value: one }),
          b.ints([-1]),
        ]);
        const coords = [...Array(bd).keys()].map((k) =>
          b.op1("CumSum", [ones, b.scalar(k, "int64")], { exclusive: 1 })
        );
        full = b.op1("Concat", [...coords, idx], { axis: -1 });
      }
      return [
        b.op1("ScatterND", [zerosLike(b, data), full, dy[0]], { reduction: "add" }),
        null,
      ];
    },
  },
  GatherElements: {
    // y[i][j][k] = data[index[i][j][k]][j][k] (axis 0; likewise for other axes): y has the
    // indices' shape.
    infer: (inputs, attrs): TensorType[] => {
      const op = "GatherElements";
      const data = arg(op, inputs, 0), idx = arg(op, inputs, 1);
      const s = data.type.shape, q = idx.type.shape;
      normAxis(op, numAttr(attrs, "axis", 0), s.length);
      if (idx.type.dtype !== "int64" && idx.type.dtype !== "int32") {
        throw new CompileError(`${op} expects int64 or int32 indices, got ${idx.type.dtype}`);
      }
      if (q.length !== s.length) {
        throw new CompileError(
          `${op} expects indices of the data's rank, got data ${formatShape(s)} and indices ${
            formatShape(q)
          }`,
        );
      }
      return [{ dtype: data.type.dtype, shape: q }];
    },
    // dData = ScatterElements(zeros, indices, dy) with reduction add along the same axis.
    grad: ({ b, node, dy, needs }: GradArgs) => [
      needs[0]
        ? b.op1("ScatterElements", [zerosLike(b, node.inputs[0]!), node.inputs[1], dy[0]], {
          axis: numAttr(node.attrs, "axis", 0),
          reduction: "add",
        })
        : null,
      null,
    ],
  },
  Einsum: {
    // Sums of products over the letters the output drops, e.g. "bij,bjk->bik" (batched MatMul).
    // Terms are letters with an optional leading '...' (the same count of dimensions in every
    // operand that has one, broadcast); no letter twice within a term; letters of one size.
    infer: (inputs, attrs): TensorType[] => {
      const op = "Einsum";
      const equation = strAttr(attrs, "equation", "");
      const xs = inputs.map((_, i) => arg(op, inputs, i));
      if (xs.length === 0) throw new CompileError(`${op} expects at least one input`);
      const dtype = xs[0].type.dtype;
      if (!["float32", "float64", "int32", "int64"].includes(dtype)) {
        throw new CompileError(`${op} expects float or int inputs, got ${dtype}`);
      }
      if (xs.some((x) => x.type.dtype !== dtype)) {
        throw new CompileError(
          `${op} expects inputs of one dtype, got ${xs.map((x) => x.type.dtype).join(" and ")}`,
        );
      }
      const eq = parseEquation(equation, xs.length);
      const { dims, ellipsis } = einsumDims(equation, eq, xs);
      const shape = [
        ...(eq.output.ellipsis ? ellipsis : []),
        ...eq.output.letters.map((l) => dims.get(l)!),
      ];
      return [{ dtype, shape }];
    },
    grad: ({ b, node, dy, needs }: GradArgs) => {
      // d operand i = Einsum of dy with the other operands to operand i's term, e.g. for
      // "bhid,bhjd->bhij": dA = einsum("bhij,bhjd->bhid", dy, B). The '...' dimensions are summed
      // away where operand i has none; a letter found only in operand i (summed by the forward
      // pass) is put back by Unsqueeze and Expand to operand i's shape.
      const xs = node.inputs as Value[];
      const equation = strAttr(node.attrs, "equation", "");
      const eq = parseEquation(equation, xs.length);
      const { ellipsisRank } = einsumDims(equation, eq, xs);
      return xs.map((x, i) => {
        if (!needs[i]) return null;
        expectFloat("Einsum", x);
        const own = eq.inputs[i];
        const srcTerms = [eq.output, ...eq.inputs.filter((_, j) => j !== i)];
        const srcs = [dy[0]!, ...xs.filter((_, j) => j !== i)];
        const avail = new Set(srcTerms.flatMap((t) => t.letters));
        const target: Term = {
          ellipsis: eq.output.ellipsis,
          letters: own.letters.filter((l) => avail.has(l)),
        };
        let g = srcs.length === 1 && termText(srcTerms[0]) === termText(target)
          ? srcs[0]
          : b.op1("Einsum", srcs, { equation: equationText(srcTerms, target) });
        if (target.ellipsis && !own.ellipsis && ellipsisRank > 0) {
          g = b.op1("ReduceSum", [g, b.ints([...Array(ellipsisRank).keys()])], { keepdims: 0 });
        }
        const offset = own.ellipsis ? x.type.shape.length - own.letters.length : 0;
        const missing = own.letters.flatMap((l, j) => (avail.has(l) ? [] : [offset + j]));
        if (missing.length === 0) return g;
        const unsqueezed = b.op1("Unsqueeze", [g, b.ints(missing)]);
        return b.op1("Expand", [unsqueezed, b.op1("Shape", [x])]);
      });
    },
  },
} satisfies Record<IndexOpName, OpDef>;
