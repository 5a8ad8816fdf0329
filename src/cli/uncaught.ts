/**
 * A script's uncaught user error prints as one line, as `runCli` prints it: an onnxtrain error
 * raised while the script builds its pipeline at the top level, before `runCli` (a bad layer
 * argument, a model file that does not exist), or from a `p.run()` that is not inside `runCli`.
 * The handler prints `error: …` and exits with status 1; any other uncaught error (a bug, the
 * script's own) keeps Deno's report with its stack. It is installed once, when the command line
 * module loads, and never in test files (`*_test.ts`), whose failures keep their stacks.
 * @module
 */
import { describePermissionError } from "../util/permission_error.ts";
import { isUserError, oneLine } from "./errors.ts";

/** The status of a user error (as `EXIT_USER_ERROR`). */
const STATUS = 1;

/**
 * The line an uncaught error is reported with, when it is the user's to fix.
 *
 * @param error Anything thrown.
 * @returns `error: <one line>`, or undefined for an error that keeps Deno's report.
 * @example
 * ```ts
 * import { uncaughtLine } from "./uncaught.ts";
 * import { UserRangeError } from "../util/user_error.ts";
 * const line = uncaughtLine(new UserRangeError("Cannot create layer linear: bad\nsize"));
 * if (line !== "error: Cannot create layer linear: bad; size") throw new Error(line);
 * if (uncaughtLine(new TypeError("x is undefined")) !== undefined) throw new Error();
 * ```
 */
export function uncaughtLine(error: unknown): string | undefined {
  const permission = describePermissionError(error);
  if (permission) return `error: ${permission}`;
  return isUserError(error) ? `error: ${oneLine((error as Error).message)}` : undefined;
}

let installed = false;

/**
 * Installs the handler (see the module doc) once per process.
 *
 * @param mainModule The main module's URL (default `Deno.mainModule`); test files are skipped.
 * @returns Whether the handler is installed now.
 * @example
 * ```ts
 * import { installUncaughtHandler } from "./uncaught.ts";
 * if (installUncaughtHandler("file:///repo/tests/cli_test.ts")) throw new Error("not in tests");
 * ```
 */
export function installUncaughtHandler(mainModule: string = Deno.mainModule): boolean {
  if (installed) return true;
  if (/(_test|\.test)\.[cm]?[jt]sx?$/.test(mainModule)) return false;
  if (typeof globalThis.addEventListener !== "function") return false;
  const handle = (event: Event, error: unknown) => {
    const line = uncaughtLine(error);
    if (line === undefined) return;
    event.preventDefault();
    console.error(line);
    Deno.exit(STATUS);
  };
  globalThis.addEventListener("error", (e) => handle(e, (e as ErrorEvent).error));
  globalThis.addEventListener(
    "unhandledrejection",
    (e) => handle(e, (e as PromiseRejectionEvent).reason),
  );
  installed = true;
  return true;
}
