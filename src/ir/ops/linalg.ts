/** Matrix products and transposes: shape rules and gradients. @module */
import type { GraphBuilder } from "../graph_builder.ts";
import { broadcastShapes } from "../broadcast.ts";
import { CompileError } from "../errors.ts";
import { type Dim, formatShape, type Value } from "../types.ts";
import { arg, expectFloat, numAttr, type OpDef } from "./op_def.ts";
import type { LinalgOpName } from "./op_names.ts";

function sameDim(a: Dim, b: Dim): boolean {
  return a === b || typeof a === "string" || typeof b === "string";
}

/** Swaps the last two axes of `v`. */
function transposeLast2(b: GraphBuilder, v: Value): Value {
  const rank = v.type.shape.length;
  const perm = [...Array(rank).keys()];
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return b.op1("Transpose", [v], { perm });
}

/** Matrix-product op table. */
export const LINALG_OPS = {
  MatMul: {
    infer: (inputs) => {
      const a = arg("MatMul", inputs, 0), b = arg("MatMul", inputs, 1);
      expectFloat("MatMul", a);
      const sa = a.type.shape, sb = b.type.shape;
      if (sa.length < 2 || sb.length < 2) {
        throw new CompileError(
          `MatMul expects inputs of rank ≥ 2, got ${formatShape(sa)} and ${formatShape(sb)}`,
        );
      }
      const k1 = sa[sa.length - 1], k2 = sb[sb.length - 2];
      if (!sameDim(k1, k2)) {
        throw new CompileError(
          `MatMul expects inner dimensions to agree, got ${formatShape(sa)} and ${formatShape(sb)}`,
        );
      }
      const batch = broadcastShapes("MatMul", [sa.slice(0, -2), sb.slice(0, -2)]);
      return [{ dtype: a.type.dtype, shape: [...batch, sa[sa.length - 2], sb[sb.length - 1]] }];
    },
    grad: ({ b, node, dy, needs }) => {
      const [x, w] = node.inputs as Value[];
      const g = dy[0]!;
      return [
        needs[0] ? b.op1("MatMul", [g, transposeLast2(b, w)]) : null,
        needs[1] ? b.op1("MatMul", [transposeLast2(b, x), g]) : null,
      ];
    },
  },
  Gemm: {
    floatAttrs: ["alpha", "beta"],
    // Y = alpha · A' · B' + beta · C, where A' = transA ? Aᵀ : A and B' = transB ? Bᵀ : B.
    infer: (inputs, attrs) => {
      const a = arg("Gemm", inputs, 0), b = arg("Gemm", inputs, 1), c = inputs[2];
      expectFloat("Gemm", a);
      const sa = a.type.shape, sb = b.type.shape;
      if (sa.length !== 2 || sb.length !== 2) {
        throw new CompileError(
          `Gemm expects 2-D inputs, got ${formatShape(sa)} and ${formatShape(sb)}`,
        );
      }
      const [m, k1] = numAttr(attrs, "transA", 0) ? [sa[1], sa[0]] : [sa[0], sa[1]];
      const [k2, n] = numAttr(attrs, "transB", 0) ? [sb[1], sb[0]] : [sb[0], sb[1]];
      if (!sameDim(k1, k2)) {
        throw new CompileError(
          `Gemm expects inner dimensions to agree, got ${formatShape(sa)} and ${formatShape(sb)}`,
        );
      }
      const shape = c ? broadcastShapes("Gemm", [[m, n], c.type.shape]) : [m, n];
      if (shape.length !== 2 || !sameDim(shape[0], m) || !sameDim(shape[1], n)) {
        throw new CompileError(
          `Gemm cannot broadcast C ${formatShape(c!.type.shape)} to ${formatShape([m, n])}`,
        );
      }
      return [{ dtype: a.type.dtype, shape: [m, n] }];
    },
    grad: ({ b, node, dy, needs }) => {
      const [x, w] = node.inputs as Value[];
      const g = dy[0]!;
      const tA = numAttr(node.attrs, "transA", 0), tB = numAttr(node.attrs, "transB", 0);
      const alpha = numAttr(node.attrs, "alpha", 1), beta = numAttr(node.attrs, "beta", 1);
      // dA' = alpha · dY · B'ᵀ and dB' = alpha · A'ᵀ · dY, transposed back where A or B was.
      const dA = !needs[0]
        ? null
        : tA
        ? b.op1("Gemm", [w, g], { transA: tB, transB: 1, alpha })
        : b.op1("Gemm", [g, w], { transA: 0, transB: 1 - tB, alpha });
      const dB = !needs[1]
        ? null
        : tB
        ? b.op1("Gemm", [g, x], { transA: 1, transB: tA, alpha })
        : b.op1("Gemm", [x, g], { transA: 1 - tA, transB: 0, alpha });
      // beta is an ONNX FLOAT attribute, so the forward pass uses it rounded to float32.
      const dC = !needs[2]
        ? null
        : beta === 1
        ? g
        : b.op1("Mul", [g, b.scalar(Math.fround(beta), g.type.dtype)]);
      return [dA, dB, dC];
    },
  },
  Transpose: {
    infer: (inputs, attrs) => {
      const x = arg("Transpose", inputs, 0);
      const rank = x.type.shape.length;
      const perm = (attrs.perm as readonly number[] | undefined) ??
        [...Array(rank).keys()].reverse();
      if (perm.length !== rank || [...perm].sort((x, y) => x - y).some((p, i) => p !== i)) {
        throw new CompileError(
          `Transpose perm [${perm}] is not a permutation of rank ${rank}`,
        );
      }
      return [{ dtype: x.type.dtype, shape: perm.map((p) => x.type.shape[p]) }];
    },
    grad: ({ b, node, dy }) => {
      const rank = node.inputs[0]!.type.shape.length;
      const perm = (node.attrs.perm as readonly number[] | undefined) ??
        [...Array(rank).keys()].reverse();
      const inverse = new Array<number>(rank);
      perm.forEach((p, i) => (inverse[p] = i));
      return [b.op1("Transpose", [dy[0]], { perm: inverse })];
    },
  },
} satisfies Record<LinalgOpName, OpDef>;
