/** Quoting text from a user's file in a one-line message, capped. @module */

/**
 * Quotes text for an error message (as JSON: escapes shown), cut to its first `max` characters
 * with `…` and its length when longer, so that a huge cell or name is not echoed whole.
 *
 * @param text The text (a CSV cell, a column name, a dtype from a header, …).
 * @param max The most characters shown (default 60).
 * @returns `"text"`, or `"first 60 characters…" (5242880 characters)`.
 * @example
 * ```ts
 * import { quoteExcerpt } from "./quote.ts";
 * if (quoteExcerpt("abc") !== '"abc"') throw new Error();
 * const long = quoteExcerpt("x".repeat(100), 4);
 * if (long !== '"xxxx…" (100 characters)') throw new Error(long);
 * ```
 */
export function quoteExcerpt(text: string, max = 60): string {
  if (text.length <= max) return JSON.stringify(text);
  let head = text.slice(0, max);
  // Do not cut a surrogate pair in two.
  if (/[\uD800-\uDBFF]$/.test(head)) head = head.slice(0, -1);
  return `${JSON.stringify(`${head}…`)} (${text.length} characters)`;
}

/**
 * Lists items for a message: the first `max`, then `… (N in all)`.
 *
 * @param items The items, already quoted as wanted.
 * @param max The most shown (default 10).
 * @returns `a, b, c` or `a, b, … (40 in all)`.
 * @example
 * ```ts
 * import { listExcerpt } from "./quote.ts";
 * if (listExcerpt(["a", "b", "c"], 2) !== "a, b, … (3 in all)") throw new Error();
 * ```
 */
export function listExcerpt(items: readonly string[], max = 10): string {
  const shown = items.slice(0, max).join(", ");
  return items.length > max ? `${shown}, … (${items.length} in all)` : shown;
}
