/** The PyTorch tutorial's log lines, formatted as Python formats them. @module */

/**
 * Formats `x` with `digits` decimals as Python's `format(x, ".{digits}f")` does: the exact binary
 * value, ties rounded half to even (JavaScript's `toFixed` rounds ties up).
 *
 * @param x The number.
 * @param digits Decimals.
 * @returns The formatted number.
 * @example
 * ```ts
 * import { formatFixed } from "./format.ts";
 * if (formatFixed(0.125, 2) !== "0.12" || formatFixed(2.5, 0) !== "2") throw new Error();
 * ```
 */
export function formatFixed(x: number, digits: number): string {
  const exact = x.toFixed(100);
  const dot = exact.indexOf(".");
  const rest = exact.slice(dot + 1 + digits);
  if (/^50*$/.test(rest)) {
    // An exact tie: keep the truncated value when its last digit is even.
    const truncated = exact.slice(0, digits ? dot + 1 + digits : dot);
    const last = Number(truncated[truncated.length - 1]);
    if (last % 2 === 0) return truncated;
  }
  return x.toFixed(digits);
}

/** `Epoch N` and the dashed rule under it. */
export function epochHeader(epoch: number): string[] {
  return [`Epoch ${epoch}`, "-------------------------------"];
}

/** `loss: 2.298730  [   64/60000]`, as `f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]"`. */
export function trainLine(loss: number, current: number, size: number): string {
  return `loss: ${formatFixed(loss, 6).padStart(7)}  [${String(current).padStart(5)}/${
    String(size).padStart(5)
  }]`;
}

/** A report block: its title line, the figures line, a blank line. */
function reportLines(title: string, accuracy: number, avgLoss: number): string[] {
  const loss = `Avg loss: ${formatFixed(avgLoss, 6).padStart(8)} `;
  return [
    title,
    Number.isNaN(accuracy) ? ` ${loss}` : ` Accuracy: ${formatFixed(100 * accuracy, 1)}%, ${loss}`,
    "",
  ];
}

/**
 * The test report: `Test Error: `, ` Accuracy: 50.9%, Avg loss: 2.166725 ` and a blank line. A
 * model without an accuracy (a regression loss; `accuracy` NaN) reports ` Avg loss: 0.123456 `.
 */
export function testLines(accuracy: number, avgLoss: number): string[] {
  return reportLines("Test Error: ", accuracy, avgLoss);
}

/**
 * The validation report, logged before the test report: `Validation: ` and the figures in the
 * test report's format (` Accuracy: 83.1%, Avg loss: 0.471234 `, or ` Avg loss: 0.123456 `).
 */
export function validationLines(accuracy: number, avgLoss: number): string[] {
  return reportLines("Validation: ", accuracy, avgLoss);
}
