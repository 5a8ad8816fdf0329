/** Multidirectional (NumPy-style) broadcasting of shapes, as ONNX defines it. @module */
import { CompileError } from "./errors.ts";
import { type Dim, formatShape, type Shape } from "./types.ts";

/**
 * The broadcast shape of several shapes, or a CompileError naming both shapes.
 *
 * @param op The op name, for the message.
 * @param shapes The input shapes.
 * @returns The result shape.
 */
export function broadcastShapes(op: string, shapes: readonly Shape[]): Shape {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let dim: Dim = 1;
    for (const s of shapes) {
      const d = s[s.length - rank + i] ?? 1;
      if (d === 1 || d === dim) continue;
      if (dim === 1) dim = d;
      else if (typeof d === "number" && typeof dim === "number") {
        throw new CompileError(
          `${op} cannot broadcast shapes ${shapes.map(formatShape).join(" and ")}`,
        );
      } else if (typeof dim === "string") dim = d;
    }
    out.push(dim);
  }
  return out;
}
