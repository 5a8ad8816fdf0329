/**
 * The live progress line a run draws on a terminal: `Epoch 3/10 [████░░] 412/938 …`.
 * @module
 */

/** What {@linkcode formatProgress} shows. */
export interface ProgressState {
  /** The epoch, from 1, and the run's total. */
  readonly epoch: number;
  readonly epochs: number;
  /** Batches done in the epoch, and its total. */
  readonly done: number;
  readonly total: number;
  /** Training throughput (NaN when not measured yet). */
  readonly samplesPerSecond: number;
  /** The mean loss of the epoch's batches so far (NaN when none). */
  readonly loss: number;
  /** Seconds left (ETA), or the epoch's seconds when `finished` (NaN when unknown). */
  readonly seconds: number;
  /** Whether the epoch's training is done: a full bar and the time it took. */
  readonly finished?: boolean;
  /** The most characters (default 79); the bar narrows, then the line is cut. */
  readonly columns?: number;
}

/** The characters the progress line keeps for what follows its bar. */
const TAIL_BUDGET = 52;

/** `12,345`: a count rounded to an integer, with thousands separators. */
export function formatCount(x: number): string {
  return String(Math.round(x)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** `0:07`, `12:34`, `1:02:03`: seconds as [h:]m:ss (`-:--` when unknown). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "-:--";
  const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/**
 * The progress line: `Epoch 3/10  [====>       ] 412/938  12,345 samples/s  loss 0.5123  ETA 0:12`
 * (batches done, throughput, the epoch's mean loss so far, time left), and when finished
 * `Epoch 3/10  [============] 938/938  12,345 samples/s  loss 0.5123  in 0:45` (the time taken).
 * The bar is 10 to 30 characters wide by `columns`; narrower terminals get no bar.
 *
 * @param state What to show.
 * @returns The line, at most `columns` characters.
 * @example
 * ```ts
 * import { formatProgress } from "./report.ts";
 * const line = formatProgress({
 *   epoch: 3, epochs: 10, done: 412, total: 938, samplesPerSecond: 12345, loss: 0.51234,
 *   seconds: 12,
 * });
 * if (line !== "Epoch 3/10  [====>       ] 412/938  12,345 samples/s  loss 0.5123  ETA 0:12") {
 *   throw new Error(line);
 * }
 * ```
 */
export function formatProgress(state: ProgressState): string {
  const { epoch, epochs, done, total, loss, finished = false, columns = 79 } = state;
  const rate = Number.isFinite(state.samplesPerSecond) ? formatCount(state.samplesPerSecond) : "-";
  const lossText = !Number.isFinite(loss)
    ? "-"
    : Math.abs(loss) >= 1e4
    ? loss.toExponential(3)
    : loss.toFixed(4);
  const time = finished
    ? `in ${formatDuration(state.seconds)}`
    : `ETA ${formatDuration(state.seconds)}`;
  const head = `Epoch ${epoch}/${epochs}  `;
  const tail = ` ${done}/${total}  ${rate} samples/s  loss ${lossText}  ${time}`;
  // The bar's width depends on the columns and the run's epochs only, so that it does not jump as
  // the figures change.
  const widest = `Epoch ${epochs}/${epochs}  `.length;
  const width = Math.min(30, Math.max(10, columns - widest - 2 - TAIL_BUDGET));
  const filled = Math.min(width, Math.floor((width * done) / Math.max(total, 1)));
  const bar = filled >= width
    ? "=".repeat(width)
    : "=".repeat(Math.max(filled - 1, 0)) + (filled > 0 ? ">" : "") + " ".repeat(width - filled);
  const line = `${head}[${bar}]${tail}`;
  // A narrow terminal: no bar, then a cut line (a line that wraps cannot be redrawn).
  return (line.length <= columns ? line : `Epoch ${epoch}/${epochs}${tail}`).slice(0, columns);
}
