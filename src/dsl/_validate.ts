/** Argument checks shared by the DSL's builders. @module */
import { UserRangeError } from "../util/user_error.ts";

/**
 * Returns `n` when it is a positive integer, else throws a RangeError naming the builder and value.
 *
 * @param context What was being built, such as `"Cannot create layer"`.
 * @param what The argument's name.
 * @param n Its value.
 * @returns `n`.
 */
export function positiveInt(context: string, what: string, n: number): number {
  if (!Number.isInteger(n) || n <= 0) {
    throw new UserRangeError(`${context}: ${what} must be a positive integer, got ${n}`);
  }
  return n;
}
