/** Errors raised while building or compiling graphs. @module */

/** A compile-time error: a shape, type or rule problem, named by its layer path and shapes. */
export class CompileError extends Error {
  /**
   * @param message Sentence-case description: what failed, why, the values involved.
   */
  constructor(message: string) {
    super(message);
    this.name = "CompileError";
  }
}
