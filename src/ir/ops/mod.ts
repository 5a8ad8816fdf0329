/**
 * The op table: one row per op, holding its shape rule and its gradient rule together.
 * @module
 */
import { ACTIVATION_OPS } from "./activation.ts";
import { CONV_OPS } from "./conv.ts";
import { ELEMENTWISE_OPS } from "./elementwise.ts";
import { IMPORT_OPS } from "./import_ops.ts";
import { INDEX_OPS } from "./index_ops.ts";
import { LINALG_OPS } from "./linalg.ts";
import { MATH_OPS } from "./math.ts";
import { NN_OPS } from "./nn.ts";
import type { OpDef, OpName } from "./op_def.ts";
import { REDUCE_OPS } from "./reduce.ts";
import { RESAMPLE_OPS } from "./resample.ts";
import { SCATTER_OPS } from "./scatter.ts";
import { SHAPE_OPS } from "./shape.ts";

export type { GradArgs, GradRule, OpDef, OpName } from "./op_def.ts";

/** Op definitions by name; a name in OpName without a row here is a compile error. */
export const OPS: Readonly<Record<OpName, OpDef>> = Object.freeze({
  ...ELEMENTWISE_OPS,
  ...LINALG_OPS,
  ...SHAPE_OPS,
  ...REDUCE_OPS,
  ...NN_OPS,
  ...MATH_OPS,
  ...CONV_OPS,
  ...SCATTER_OPS,
  ...IMPORT_OPS,
  ...ACTIVATION_OPS,
  ...INDEX_OPS,
  ...RESAMPLE_OPS,
});

/** Whether `name` is an op the IR knows. */
export function isOpName(name: string): name is OpName {
  return Object.hasOwn(OPS, name);
}
