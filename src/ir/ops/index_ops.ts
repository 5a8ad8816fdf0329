/**
 * (Being filled in.) Ops that imported models use.
 * @module
 */
import type { OpDef } from "./op_def.ts";

/** The ops this file defines. */
export type IndexOpName = never;

/** Index op table. */
export const INDEX_OPS = {} satisfies Record<IndexOpName, OpDef>;
