/**
 * Ops that models exported by other tools use and the DSL's own lowerings do not: Split (opset
 * 13 form, sizes as an input), LayerNormalization (opset 17) and Range (position ids). Shape
 * rules and gradients.
 * @module
 */
import type { GraphBuilder } from "../graph_builder.ts";
import { dimArith } from "../dims.ts";
import { CompileError } from "../errors.ts";
import { formatShape, type TensorType, type Value } from "../types.ts";
import {
  arg,
  constInts,
  expectFloat,
  type GradArgs,
  normAxis,
  numAttr,
  type OpDef,
} from "./op_def.ts";
import type { ImportOpName } from "./op_names.ts";
import { zeroTensor } from "./shape.ts";

/** The normalised axes of LayerNormalization: `axis` to the last. */
function lnAxes(x: Value, axis: number): number[] {
  const rank = x.type.shape.length;
  const a = normAxis("LayerNormalization", axis, rank);
  return Array.from({ length: rank - a }, (_, i) => a + i);
}

/**
 * The backward of normalising `x` over `axes` (biased variance, ε), shared by
 * LayerNormalization and InstanceNormalization: with x̂ = (x − μ)·r, r = 1/√(σ² + ε) and
 * h = dy·scale (`scale` broadcast against x),
 *   dx = r·(h − mean(h) − x̂·mean(h·x̂)).
 * Returns dx (null unless `needDx`) and x̂, from which the callers sum dscale = Σ dy·x̂.
 *
 * @param b The builder.
 * @param x The normalised input.
 * @param dy The output's gradient.
 * @param scale The scale, broadcastable to x.
 * @param axes The normalised axes.
 * @param epsilon ε.
 * @param needDx Whether to build dx.
 * @returns dx and x̂.
 */
export function normalizationBackward(
  b: GraphBuilder,
  x: Value,
  dy: Value,
  scale: Value,
  axes: readonly number[],
  epsilon: number,
  needDx: boolean,
): { dx: Value | null; xhat: Value } {
  const t = x.type.dtype;
  const eps = b.scalar(Math.fround(epsilon), t);
  const mean = (v: Value) => b.op1("ReduceMean", [v], { axes: [...axes], keepdims: 1 });
  const centered = b.op1("Sub", [x, mean(x)]);
  const variance = mean(b.op1("Mul", [centered, centered]));
  const r = b.op1("Div", [b.scalar(1, t), b.op1("Sqrt", [b.op1("Add", [variance, eps])])]);
  const xhat = b.op1("Mul", [centered, r]);
  if (!needDx) return { dx: null, xhat };
  const h = b.op1("Mul", [dy, scale]);
  const inner = b.op1("Sub", [
    b.op1("Sub", [h, mean(h)]),
    b.op1("Mul", [xhat, mean(b.op1("Mul", [h, xhat]))]),
  ]);
  return { dx: b.op1("Mul", [inner, r]), xhat };
}

/** Import op table. */
export const IMPORT_OPS = {
  Split: {
    // Splits input 0 along `axis` into pieces of the sizes held by input 1 (one per output).
    infer: (inputs, attrs): TensorType[] => {
      const op = "Split";
      const x = arg(op, inputs, 0);
      const s = x.type.shape;
      const axis = normAxis(op, numAttr(attrs, "axis", 0), s.length);
      if (!inputs[1]) {
        throw new CompileError(`${op} expects its sizes as input 1 (opset 13 form)`);
      }
      const sizes = constInts(op, inputs[1], "split sizes");
      const total = sizes.reduce((a, d) => a + d, 0);
      if (typeof s[axis] === "number" && total !== s[axis]) {
        throw new CompileError(
          `${op} sizes [${sizes.join(", ")}] do not add up to dimension ${axis} of ${
            formatShape(s)
          }`,
        );
      }
      return sizes.map((d) => ({
        dtype: x.type.dtype,
        shape: s.map((v, i) => (i === axis ? d : v)),
      }));
    },
    grad: ({ b, node, dy, needs }: GradArgs) => {
      // dx is the pieces' gradients concatenated; a piece without one contributes zeros.
      if (!needs[0]) return [null, null];
      const axis = numAttr(node.attrs, "axis", 0);
      const parts = node.outputs.map((y, i) =>
        dy[i] ??
          b.op1("ConstantOfShape", [b.op1("Shape", [y])], { value: zeroTensor(y.type.dtype) })
      );
      return [b.op1("Concat", parts, { axis }), null];
    },
  },
  LayerNormalization: {
    // y = (x − μ)/√(σ² + ε)·scale + B over the axes from `axis` to the last, μ and σ² (biased)
    // per leading index. Only the output Y is supported.
    floatAttrs: ["epsilon"],
    infer: (inputs, attrs): TensorType[] => {
      const op = "LayerNormalization";
      const x = arg(op, inputs, 0);
      expectFloat(op, x);
      const axes = lnAxes(x, numAttr(attrs, "axis", -1));
      const tail = axes.map((a) => x.type.shape[a]);
      for (const i of [1, 2]) {
        const v = i === 1 ? arg(op, inputs, 1) : inputs[2];
        if (!v) continue;
        const ok = v.type.shape.length <= tail.length &&
          v.type.shape.every((d, j) => {
            const t = tail[tail.length - v.type.shape.length + j];
            return d === 1 || typeof t === "string" || typeof d === "string" || d === t;
          });
        if (!ok) {
          throw new CompileError(
            `${op} expects ${i === 1 ? "scale" : "bias"} broadcastable to ${
              formatShape(tail)
            }, got ${formatShape(v.type.shape)}`,
          );
        }
      }
      return [x.type];
    },
    grad: ({ b, node, dy, needs }: GradArgs) => {
      // With x̂ = (x − μ)·r, r = 1/√(σ² + ε) and h = dy·scale over the normalised axes:
      //   dx = r·(h − mean(h) − x̂·mean(h·x̂)),  dscale = Σ dy·x̂,  dB = Σ dy
      // (the reverse walk sums dscale and dB over the leading axes).
      if (dy.slice(1).some((d) => d)) {
        throw new CompileError("LayerNormalization has no gradient rule for Mean and InvStdDev");
      }
      const [x, scale] = node.inputs as Value[];
      const g = dy[0]!;
      const axes = lnAxes(x, numAttr(node.attrs, "axis", -1));
      const eps = numAttr(node.attrs, "epsilon", 1e-5);
      const { dx, xhat } = normalizationBackward(b, x, g, scale, axes, eps, needs[0]);
      return [
        dx,
        needs[1] ? b.op1("Mul", [g, xhat]) : null,
        needs[2] ? g : null,
      ];
    },
  },
  Range: {
    // start, start + delta, … below limit (scalars known at compile time); no gradient (its
    // output does not depend smoothly on its inputs).
    infer: (inputs): TensorType[] => {
      const op = "Range";
      const xs = [0, 1, 2].map((i) => arg(op, inputs, i));
      const dtype = xs[0].type.dtype;
      if (xs.some((v) => v.type.dtype !== dtype || v.type.shape.length !== 0)) {
        throw new CompileError(`${op} expects three scalars of one dtype`);
      }
      const [start, limit, delta] = xs.map((v) => {
        const c = v.constant?.data[0] ?? v.type.known?.[0];
        if (c === undefined) {
          throw new CompileError(`${op} expects start, limit and delta known at compile time`);
        }
        return typeof c === "string" ? c : Number(c);
      });
      if (typeof start === "string" || typeof delta === "string") {
        throw new CompileError(`${op} expects start and delta known as numbers`);
      }
      if (delta === 0) throw new CompileError(`${op} expects a non-zero delta`);
      if (typeof limit === "string") {
        // A symbolic limit (arange(N) over the batch): |delta| = 1 keeps the length a dimension.
        const n = Math.abs(delta) === 1
          ? dimArith("Mul", dimArith("Sub", limit, start)!, delta)
          : undefined;
        if (n === undefined) {
          throw new CompileError(`${op} with a symbolic limit ${limit} expects a delta of ±1`);
        }
        return [{ dtype, shape: [n] }];
      }
      const n = Math.max(Math.ceil((limit - start) / delta), 0);
      const known = dtype === "int64"
        ? { known: Array.from({ length: n }, (_, i) => start + i * delta) }
        : {};
      return [{ dtype, shape: [n], ...known }];
    },
  },
} satisfies Record<ImportOpName, OpDef>;
