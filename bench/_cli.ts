/**
 * Command-line helpers of the bench scripts: one-line errors instead of stack traces, and checked
 * numeric flags.
 * @module
 */
import { isUserError } from "../src/cli/cli.ts";
import { UserRangeError } from "../src/util/user_error.ts";

/** Whether an error is the user's (a bad flag, missing data) rather than a bug in the script. */
function isUsersError(error: unknown): boolean {
  // node:util parseArgs reports unknown or malformed flags with ERR_PARSE_ARGS_* codes.
  const code = (error as { code?: unknown })?.code;
  return isUserError(error) || (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"));
}

/**
 * Makes an uncaught user error of the script (a bad flag, a missing data folder, an unreadable
 * file: the messages name what failed) print one line, `<script>: <message>`, on stderr and exit
 * with status 1, as the CLI does; anything else is a bug: it prints "Internal error" with its
 * stack and exits with status 70. Call it first, at the top of the script.
 *
 * @param script The script's name, as shown before the message.
 */
export function oneLineErrors(script: string): void {
  const report = (error: unknown) => {
    if (isUsersError(error)) {
      const message = error instanceof Error ? error.message : String(error);
      console.error(`${script}: ${message.split("\n")[0]}`);
      Deno.exit(1);
    }
    console.error(`${script}: Internal error (a bug — please report it):`);
    console.error(error instanceof Error ? error.stack ?? error.message : String(error));
    Deno.exit(70);
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

export function intArg(name: string, text: string, min = 1): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(n) || n < min) {
    throw new UserRangeError(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(text)}`);
  }
  return n;
}
