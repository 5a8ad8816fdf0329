/**
 * (Being filled in.) Ops that imported models use.
 * @module
 */
import type { OpDef } from "./op_def.ts";

/** The ops this file defines. */
export type ResampleOpName = never;

/** Resample op table. */
export const RESAMPLE_OPS = {} satisfies Record<ResampleOpName, OpDef>;
