/**
 * Command-line helpers of the bench scripts: one-line errors instead of stack traces, and checked
 * numeric flags.
 * @module
 */

/**
 * Makes any uncaught error of the script print one line, `<script>: <message>`, on stderr and
 * exit with status 1 (a bad flag, a missing data folder, an unreadable file: the messages name
 * what failed). Call it first, at the top of the script.
 *
 * @param script The script's name, as shown before the message.
 */
export function oneLineErrors(script: string): void {
  const report = (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`${script}: ${message.split("\n")[0]}`);
    Deno.exit(1);
  };
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    report(e.error ?? e.message);
  });
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    report(e.reason);
  });
}

/**
 * Parses an integer flag or argument.
 *
 * @param name The flag as the user writes it, such as `--epochs` or `STEPS`.
 * @param text Its text.
 * @param min The least value allowed (default 1).
 * @returns The integer.
 * @throws {RangeError} `--epochs must be an integer ≥ 1, got "x"`.
 */
export function intArg(name: string, text: string, min = 1): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(n) || n < min) {
    throw new RangeError(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(text)}`);
  }
  return n;
}
