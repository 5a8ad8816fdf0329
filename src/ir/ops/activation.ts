/**
 * (Being filled in.) Ops that imported models use.
 * @module
 */
import type { OpDef } from "./op_def.ts";

/** The ops this file defines. */
export type ActivationOpName = never;

/** Activation op table. */
export const ACTIVATION_OPS = {} satisfies Record<ActivationOpName, OpDef>;
