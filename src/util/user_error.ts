/**
 * Errors that are the user's to fix — a bad flag, option, setting or file — as opposed to bugs.
 *
 * The command line (`runCli`) prints a user error as one line and exits with status 1, and any
 * other error as an internal error with its stack (status 70). A `RangeError` or `TypeError` alone
 * cannot say which it is: the engine throws them for bugs too ("Cannot read properties of
 * undefined"), and onnxtrain throws them for broken invariants that only a bug can reach. So a
 * throw site that reports the user's mistake says so by throwing one of these classes; they are
 * ordinary `RangeError`s and `TypeError`s otherwise (same `name`, `instanceof` and printed form).
 * @module
 */

/**
 * A `RangeError` for a value the user gave (a flag, an option, a setting, a file's content).
 *
 * @example
 * ```ts
 * import { UserRangeError } from "./user_error.ts";
 * const e = new UserRangeError("Invalid --epochs: expected an integer ≥ 1, got 0");
 * if (!(e instanceof RangeError) || e.name !== "RangeError") throw new Error();
 * ```
 */
export class UserRangeError extends RangeError {}

/**
 * A `TypeError` for a value of the wrong kind the user gave.
 *
 * @example
 * ```ts
 * import { UserTypeError } from "./user_error.ts";
 * const e = new UserTypeError("Cannot create tensor dataset: x must be a Float32Array");
 * if (!(e instanceof TypeError) || e.name !== "TypeError") throw new Error();
 * ```
 */
export class UserTypeError extends TypeError {}

/**
 * Whether an error was thrown on purpose to report the user's mistake (see the module doc).
 *
 * @param error Anything thrown.
 * @returns True for {@linkcode UserRangeError} and {@linkcode UserTypeError}.
 * @example
 * ```ts
 * import { isMarkedUserError, UserRangeError } from "./user_error.ts";
 * if (!isMarkedUserError(new UserRangeError("Invalid --lr: expected a number ≥ 0, got 'x'"))) {
 *   throw new Error();
 * }
 * if (isMarkedUserError(new TypeError("Cannot read properties of undefined"))) throw new Error();
 * ```
 */
export function isMarkedUserError(error: unknown): boolean {
  return error instanceof UserRangeError || error instanceof UserTypeError;
}
