/** Small assertion helpers (JSR's @std/assert is unreachable here). @module */
import assert from "node:assert/strict";

export { assert };

/** Asserts |actual − expected| ≤ tol elementwise. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what = "values",
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= tol)) {
      throw new assert.AssertionError({
        message: `${what}[${i}]: ${actual[i]} vs expected ${expected[i]} (diff ${d} > ${tol})`,
      });
    }
  }
}

type ErrorClass = abstract new (...args: never[]) => Error;

function checkError(e: unknown, cls: ErrorClass, pattern: RegExp | string): Error {
  assert.ok(e instanceof cls, `expected ${cls.name}, got ${e}`);
  if (typeof pattern === "string") assert.equal(e.message, pattern);
  else assert.match(e.message, pattern);
  return e;
}

/** Asserts that `fn` throws an error of class `cls` whose message matches `pattern`. */
export function assertThrowsMatch(
  fn: () => unknown,
  cls: abstract new (...args: never[]) => Error,
  pattern: RegExp | string,
): Error {
  try {
    fn();
  } catch (e) {
    return checkError(e, cls, pattern);
  }
  throw new assert.AssertionError({ message: `expected ${cls.name} to be thrown` });
}

/** Async version of {@linkcode assertThrowsMatch}. */
export async function assertRejectsMatch(
  fn: () => Promise<unknown>,
  cls: abstract new (...args: never[]) => Error,
  pattern: RegExp | string,
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return checkError(e, cls, pattern);
  }
  throw new assert.AssertionError({ message: `expected ${cls.name} to be rejected` });
}
