/** Errors raised while building or compiling graphs. @module */

/**
 * A compile-time error: a shape, type or rule problem, named by its layer path and shapes.
 *
 * @example
 * ```ts
 * import { CompileError } from "./errors.ts";
 * const e = new CompileError("Cannot compile linear 0: expected 4 input features, got 3");
 * if (e.name !== "CompileError" || !(e instanceof Error)) throw new Error();
 * ```
 */
export class CompileError extends Error {
  /**
   * Creates the error.
   *
   * @param message Sentence-case description: what failed, why, the values involved.
   */
  constructor(message: string) {
    super(message);
    this.name = "CompileError";
  }
}
