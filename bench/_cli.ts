/**
 * Command-line helpers of the bench scripts: one-line errors instead of stack traces, and checked
 * numeric flags.
 * @module
 */
import { isUserError } from "../src/cli/cli.ts";
import { describePermissionError } from "../src/util/permission_error.ts";
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
 * @param options `help`: the script answers `--help`, so a bad flag's line points to it.
 */
export function oneLineErrors(script: string, options: { readonly help?: boolean } = {}): void {
  const report = (error: unknown) => {
    const permission = describePermissionError(error);
    if (permission) {
      console.error(`${script}: ${permission}`);
      Deno.exit(1);
    }
    if (isUsersError(error)) {
      const message = error instanceof Error ? error.message : String(error);
      const code = (error as { code?: unknown })?.code;
      const hint = options.help && typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")
        ? " (--help lists the flags)"
        : "";
      console.error(`${script}: ${message.split("\n")[0]}${hint}`);
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

/**
 * A script's help text: its usage line, what it does, and a table of flags (`--name VALUE  help
 * (default …)`), ending with `-h, --help`.
 *
 * @param usage The usage line, e.g. `deno run -P bench/epoch.ts [flags]`.
 * @param about What the script does, one or more lines.
 * @param flags Each flag's name (without dashes), value placeholder (none: a switch), help and
 * default.
 * @returns The text.
 * @example
 * ```ts
 * import { helpText } from "./_cli.ts";
 * const text = helpText("deno run -P x.ts [flags]", "Does x.", {
 *   n: { value: "N", help: "how many", default: 3 },
 * });
 * if (!text.includes("\n  --n N       how many (default 3)\n")) throw new Error(text);
 * ```
 */
export function helpText(
  usage: string,
  about: string,
  flags: Readonly<
    Record<string, { readonly value?: string; readonly help: string; readonly default?: unknown }>
  >,
): string {
  const rows = Object.entries(flags).map(([name, f]) => [
    `--${name}${f.value ? ` ${f.value}` : ""}`,
    f.help + (f.default !== undefined && f.value ? ` (default ${f.default})` : ""),
  ]);
  rows.push(["-h, --help", "show this text"]);
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  return [
    `Usage: ${usage}`,
    "",
    about,
    "",
    "Flags:",
    ...rows.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`),
  ].join("\n");
}

/**
 * Parses a numeric flag's value: an integer of at least `min`.
 *
 * @param name The flag, as shown in the message.
 * @param text Its value.
 * @param min The least value allowed (default 1).
 * @returns The integer.
 * @example
 * ```ts
 * import { intArg } from "./_cli.ts";
 * if (intArg("--seed", "0", 0) !== 0) throw new Error();
 * ```
 */
export function intArg(name: string, text: string, min = 1): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(n) || n < min) {
    throw new UserRangeError(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(text)}`);
  }
  return n;
}
