/**
 * Convolution and pooling: Conv, ConvTranspose, MaxPool, AveragePool, GlobalAveragePool.
 * @module
 */
import type { OpDef } from "./op_def.ts";

/** The ops this file defines. */
export type ConvOpName = never;

/** Convolution and pooling op table. */
export const CONV_OPS = {} satisfies Record<ConvOpName, OpDef>;
