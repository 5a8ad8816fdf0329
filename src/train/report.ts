/**
 * What a run shows and records besides the tutorial's log: a JSON Lines metrics file, an SVG plot
 * of loss and accuracy per epoch, a live progress line on a terminal, and a quiet mode that logs
 * only the final test report. The run loop routes its log lines, steps and epochs through one
 * {@linkcode Reporter}.
 * @module
 */
import { writeFileAtomic } from "../io/atomic_write.ts";
import { testLines } from "./format.ts";
import type { BatchEvent, EpochResult } from "./run.ts";
import { UserRangeError } from "../util/user_error.ts";

/**
 * One logged training step in the metrics file: the steps the tutorial prints a loss line for
 * (batch index a multiple of `logEvery`).
 *
 * `{"type":"step","epoch":1,"step":100,"samples":6464,"loss":0.51234,"lr":0.001}`
 */
export interface StepRecord {
  readonly type: "step";
  /** The epoch, from 1. */
  readonly epoch: number;
  /** The batch's index within the epoch, from 0 (the tutorial's `batch`). */
  readonly step: number;
  /** Samples trained in the epoch up to and including this batch (the tutorial's `current`). */
  readonly samples: number;
  /** The batch's mean loss (null when not finite). */
  readonly loss: number | null;
  /** The step's learning rate, parameter group 0's (null when the optimizer has none). */
  readonly lr: number | null;
}

/**
 * One epoch in the metrics file.
 *
 * `{"type":"epoch","epoch":1,"train_loss":0.71,"test_loss":0.52,"accuracy":0.812,"train_accuracy":0.776,"seconds":9.871,
 * "data_seconds":0.213,"samples_per_s":6078.4,"lr":0.001}`
 */
export interface EpochRecord {
  readonly type: "epoch";
  /** The epoch, from 1. */
  readonly epoch: number;
  /** Mean of the epoch's batch losses. */
  readonly train_loss: number | null;
  /** The test report's "Avg loss". */
  readonly test_loss: number | null;
  /** Fraction of test samples right, 0 to 1 (null for regression losses). */
  readonly accuracy: number | null;
  /**
   * Fraction of the epoch's training samples right at their step, 0 to 1 (null for regression
   * losses; absent in records written before it was recorded).
   */
  readonly train_accuracy?: number | null;
  /** The validation report's "Avg loss" (absent without a validation split). */
  readonly validation_loss?: number | null;
  /** The validation accuracy, 0 to 1 (absent without a validation split). */
  readonly validation_accuracy?: number | null;
  /** Wall-clock seconds of the epoch's training (not its test), to the millisecond. */
  readonly seconds: number;
  /** Of `seconds`, those spent producing training batches, to the millisecond. */
  readonly data_seconds: number;
  /** Training samples per second over `seconds`, to 0.1. */
  readonly samples_per_s: number;
  /** The learning rate of the epoch's first step (null when the optimizer has none). */
  readonly lr: number | null;
}

/** A line of the metrics file. */
export type MetricsRecord = StepRecord | EpochRecord;

/** A writer the progress line is drawn on: a terminal's stdout or stderr. */
export interface ProgressWriter {
  writeSync(bytes: Uint8Array): number;
}

/** How a {@linkcode Reporter} reports. */
export interface ReporterOptions {
  /** Receives the log lines shown (default: console.log). */
  readonly log?: (line: string) => void;
  /** The run's total epochs (shown as `Epoch 3/10`). */
  readonly epochs: number;
  /** Training batches per epoch (the loader's `batches`). */
  readonly batchesPerEpoch: number;
  /** Samples per training batch. */
  readonly batchSize: number;
  /** Training samples per epoch (the loader's `size`; default `batchesPerEpoch × batchSize`). */
  readonly samplesPerEpoch?: number;
  /** A step record is kept for every batch index that is a multiple of this (default 100). */
  readonly logEvery?: number;
  /** JSON Lines file of {@linkcode MetricsRecord}s, rewritten atomically at each epoch's end. */
  readonly metricsPath?: string;
  /** SVG plot ({@linkcode plotSvg}), rewritten atomically at each epoch's end. */
  readonly plotPath?: string;
  /** The plot's title (default "Loss and accuracy per epoch", or "Loss per epoch"). */
  readonly title?: string;
  /**
   * Shows only the final test report: every log line is dropped, and `close` logs the last
   * epoch's `Test Error: ` and figures lines. It also hides the progress line.
   */
  readonly quiet?: boolean;
  /** Draws a live progress line per epoch here (see {@linkcode formatProgress}). */
  readonly progress?: ProgressWriter;
  /** The progress line's most characters, one less than the terminal's width (default 79). */
  readonly columns?: number;
  /**
   * Records of an earlier run to continue (see {@linkcode readMetrics}); with `resumeAt`, only
   * those before that position are kept.
   */
  readonly initialRecords?: readonly MetricsRecord[];
  /** Where a resumed run starts: epochs completed and the next batch (a checkpoint's position). */
  readonly resumeAt?: { readonly epoch: number; readonly batch: number };
  /** The clock in milliseconds (default `performance.now`); for tests. */
  readonly now?: () => number;
}

/**
 * Receives a run's log lines, steps and epochs. Call `log` for every line the run logs, `onBatch`
 * after each training step, `onEpoch` (awaited) after each epoch's test, and `close` (awaited,
 * also when the run fails) at the end.
 */
export interface Reporter {
  /** Logs a line (unless quiet), clearing the progress line first and redrawing it after. */
  log(line: string): void;
  /** Records a logged step and advances the progress line. */
  onBatch(event: BatchEvent): void;
  /** Records the epoch and rewrites the metrics file and the plot. */
  onEpoch(result: EpochResult): Promise<void>;
  /**
   * Ends the progress line, rewrites the metrics file and the plot, and when quiet logs the final
   * test report. Calling it again does nothing.
   */
  close(): Promise<void>;
  /** The records so far (those kept from `initialRecords` first). */
  readonly records: readonly MetricsRecord[];
}

const finite = (x: number | undefined): number | null =>
  x !== undefined && Number.isFinite(x) ? x : null;
/** `x` to `digits` decimals, as a number. */
const round = (x: number, digits: number) => Number(x.toFixed(digits));

/**
 * Reads a metrics file written by a {@linkcode Reporter}.
 *
 * @param path The JSON Lines file.
 * @returns Its records, or none when the file does not exist.
 * @throws {RangeError} When a line is not a metrics record.
 */
export async function readMetrics(path: string): Promise<MetricsRecord[]> {
  let text;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return text.split("\n").flatMap((line, i) => {
    if (!line.trim()) return [];
    let record;
    try {
      record = JSON.parse(line);
    } catch {
      record = undefined;
    }
    if (record?.type !== "step" && record?.type !== "epoch") {
      throw new UserRangeError(
        `Cannot read metrics ${path}: line ${i + 1} is not a metrics record`,
      );
    }
    return [record as MetricsRecord];
  });
}

/** The least time between two progress redraws (at most 10 per second). */
const REDRAW_MS = 100;
const CLEAR = "\r\x1b[K";

/**
 * Creates the reporter a run routes its output through. The run loop, in order:
 * 1. before training, check the metrics and plot paths (`checkOutputFile` of
 *    `src/io/output_paths.ts`), and when resuming pass
 *    `initialRecords: await readMetrics(metricsPath)` with `resumeAt` the checkpoint's position;
 * 2. `createReporter({...})` once the training loader is known (`batchesPerEpoch`,
 *    `samplesPerEpoch`);
 * 3. `log(line)` for every line, the `Epoch N` header included (the progress line's clock starts at
 *    the last call before an epoch's first batch); `onBatch(event)` after each step;
 *    `await onEpoch(result)` after each epoch's test;
 * 4. `await close()` at the end, in a `finally` (an interrupted run keeps its records).
 *
 * @param options What to write and show.
 * @returns The reporter.
 * @example
 * ```ts
 * import { createReporter } from "./report.ts";
 * const lines: string[] = [];
 * const log = (line: string) => void lines.push(line);
 * const r = createReporter({ log, epochs: 1, batchesPerEpoch: 2, batchSize: 4 });
 * r.log("Epoch 1");
 * r.onBatch({ epoch: 1, batch: 0, loss: 0.5, lr: 0.1 });
 * if (lines[0] !== "Epoch 1" || r.records[0].type !== "step") throw new Error();
 * ```
 */
export function createReporter(options: ReporterOptions): Reporter {
  const sink = options.log ?? ((line: string) => console.log(line));
  const now = options.now ?? (() => performance.now());
  const { epochs, batchesPerEpoch, batchSize, quiet = false } = options;
  const samplesPerEpoch = options.samplesPerEpoch ?? batchesPerEpoch * batchSize;
  const logEvery = options.logEvery ?? 100;
  const columns = options.columns ?? 79;
  const progress = quiet ? undefined : options.progress;
  const encoder = new TextEncoder();
  const at = options.resumeAt;
  const records: MetricsRecord[] = (options.initialRecords ?? []).filter((r) =>
    !at || r.epoch <= at.epoch ||
    (r.type === "step" && r.epoch === at.epoch + 1 && r.step < at.batch)
  );
  let lastEpoch: EpochResult | undefined;
  // The clock starts at the last call before an epoch's first batch (the run logs its header).
  let mark = now();
  // The progress line of the epoch under way.
  let live: {
    epoch: number;
    start: number;
    firstBatch: number;
    done: number;
    samples: number;
    lossSum: number;
    losses: number;
    drawn: number;
    text: string;
    finished: boolean;
  } | undefined;
  let shown = false; // whether the live line is on the terminal
  let closed = false;
  let writing = Promise.resolve();

  const write = (text: string) => {
    if (!progress) return;
    const bytes = encoder.encode(text);
    for (let n = 0; n < bytes.length;) n += progress.writeSync(bytes.subarray(n));
  };
  const draw = (finished: boolean) => {
    if (!live) return;
    const seconds = (now() - live.start) / 1000;
    const batches = live.done - live.firstBatch;
    const rate = seconds > 0 ? live.samples / seconds : NaN;
    const left = batchesPerEpoch - live.done;
    live.text = formatProgress({
      epoch: live.epoch,
      epochs,
      done: live.done,
      total: batchesPerEpoch,
      samplesPerSecond: rate,
      loss: live.losses ? live.lossSum / live.losses : NaN,
      seconds: finished ? seconds : batches > 0 && seconds > 0 ? (left * seconds) / batches : NaN,
      finished,
      columns,
    });
    live.drawn = now();
    live.finished = finished;
    write(CLEAR + live.text + (finished ? "\n" : ""));
    shown = !finished;
  };
  const save = () => {
    const run = async () => {
      if (options.metricsPath) {
        const text = records.map((r) => JSON.stringify(r) + "\n").join("");
        await writeFileAtomic(options.metricsPath, encoder.encode(text));
      }
      if (options.plotPath) {
        const svg = plotSvg(records.filter((r) => r.type === "epoch"), { title: options.title });
        await writeFileAtomic(options.plotPath, encoder.encode(svg));
      }
    };
    // Writes follow one another: two at once would share the `.tmp` file.
    const next = writing.then(run);
    writing = next.catch(() => {});
    return next;
  };

  return {
    records,
    log(line) {
      mark = now();
      if (quiet) return;
      if (shown) write(CLEAR);
      sink(line);
      if (shown) write(live!.text);
    },
    onBatch({ epoch, batch, loss, lr }) {
      const size = Math.max(0, Math.min(batchSize, samplesPerEpoch - batch * batchSize));
      if (batch % logEvery === 0) {
        records.push({
          type: "step",
          epoch,
          step: batch,
          samples: Math.min(batch * batchSize + size, samplesPerEpoch),
          loss: finite(loss),
          lr: finite(lr),
        });
      }
      if (live?.epoch !== epoch) {
        live = {
          epoch,
          start: mark,
          firstBatch: batch,
          done: batch,
          samples: 0,
          lossSum: 0,
          losses: 0,
          drawn: -Infinity,
          text: "",
          finished: false,
        };
      }
      live.done = batch + 1;
      live.samples += size;
      if (Number.isFinite(loss)) {
        live.lossSum += loss;
        live.losses++;
      }
      if (!progress || live.finished) return;
      const finished = live.done >= batchesPerEpoch;
      if (finished || now() - live.drawn >= REDRAW_MS) draw(finished);
    },
    async onEpoch(result) {
      // Samples counted from this process's batches (a resumed epoch trains only its rest).
      const samples = live?.epoch === result.epoch ? live.samples : samplesPerEpoch;
      // An epoch shorter than `batchesPerEpoch` leaves its line as it stands.
      if (shown) write("\n");
      shown = false;
      live = undefined;
      lastEpoch = result;
      records.push({
        type: "epoch",
        epoch: result.epoch,
        train_loss: finite(result.trainLoss),
        test_loss: finite(result.testLoss),
        accuracy: finite(result.accuracy),
        train_accuracy: finite(result.trainAccuracy),
        ...(result.validationLoss === undefined ? {} : {
          validation_loss: finite(result.validationLoss),
          validation_accuracy: finite(result.validationAccuracy),
        }),
        seconds: round(result.trainSeconds, 3),
        data_seconds: round(result.dataSeconds, 3),
        samples_per_s: result.trainSeconds > 0 ? round(samples / result.trainSeconds, 1) : 0,
        lr: finite(result.lr),
      });
      mark = now();
      await save();
    },
    async close() {
      if (closed) return await writing;
      closed = true;
      if (shown) write("\n");
      shown = false;
      live = undefined;
      try {
        await save();
      } finally {
        if (quiet && lastEpoch) {
          for (const line of testLines(lastEpoch.accuracy, lastEpoch.testLoss).slice(0, 2)) {
            sink(line);
          }
        }
      }
    },
  };
}

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

// ---------------------------------------------------------------------------------------------
// The plot

/** Tick values: a round step (1, 2 or 5 × 10^k) and the ticks covering [lo, hi]. */
interface Scale {
  readonly lo: number;
  readonly hi: number;
  readonly ticks: readonly number[];
  readonly decimals: number;
}

/**
 * A scale with round ticks covering `[lo, hi]`, extended outward to whole steps.
 *
 * @param lo The least value.
 * @param hi The greatest value.
 * @param count About how many intervals.
 * @returns The scale's ends, ticks and the decimals its labels need.
 */
export function niceScale(lo: number, hi: number, count = 5): Scale {
  if (hi - lo <= Math.abs(hi) * 1e-9) {
    const pad = Math.abs(lo) * 0.1 || 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const f = raw / magnitude;
  const step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * magnitude;
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const first = Math.floor(lo / step + 1e-9), last = Math.ceil(hi / step - 1e-9);
  const ticks = [];
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toFixed(decimals)));
  return { lo: ticks[0], hi: ticks[ticks.length - 1], ticks, decimals };
}

/** Epoch ticks: whole epochs, every 1, 2, 5, 10, … so that at most about 10 show. */
function epochScale(first: number, last: number): Scale {
  if (first === last) return { lo: first - 0.5, hi: first + 0.5, ticks: [first], decimals: 0 };
  const step = Math.max(1, niceScale(0, last - first, 10).ticks[1]);
  const ticks = [];
  for (let e = Math.ceil(first / step) * step; e <= last; e += step) ticks.push(e);
  if (ticks[0] !== first && (ticks[0] - first) / step > 0.5) ticks.unshift(first);
  const pad = (last - first) * 0.03;
  return { lo: first - pad, hi: last + pad, ticks, decimals: 0 };
}

const escapeXml = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const px = (x: number) => String(Math.round(x * 10) / 10);

interface Series {
  readonly name: string;
  readonly color: string;
  readonly dash?: string;
  readonly points: readonly (readonly [number, number])[];
}

/** The colours of the splits: train blue, test orange, validation green. */
const COLORS = { train: "#1f77b4", test: "#e6550d", validation: "#2ca02c" } as const;

/** The plot's geometry. */
const W = 900, LEFT = 80, PLOT_W = 600, LEGEND_X = LEFT + PLOT_W + 24;

/**
 * An SVG plot of the epoch records: a loss panel (train, test and, with a validation split,
 * validation loss) above an accuracy panel (test and validation accuracy in %), the latter left
 * out when no epoch has an accuracy (regression). Hand-written SVG, no dependency: axes, round
 * ticks, grid lines, axis labels, a legend, points joined by lines (one `<polyline>` per series,
 * one point per epoch; each point a `<circle>` with its value as a tooltip).
 *
 * @param epochs The epoch records, in order.
 * @param options The title (default "Loss and accuracy per epoch", or "Loss per epoch").
 * @returns The SVG document.
 */
export function plotSvg(
  epochs: readonly EpochRecord[],
  options: { readonly title?: string } = {},
): string {
  const series = (
    name: string,
    color: string,
    value: (r: EpochRecord) => number | null | undefined,
    scale = 1,
    dash?: string,
  ): Series => ({
    name,
    color,
    dash,
    points: epochs.flatMap((r) => {
      const v = value(r);
      return typeof v === "number" && Number.isFinite(v) ? [[r.epoch, v * scale] as const] : [];
    }),
  });
  const losses = [
    series("train loss", COLORS.train, (r) => r.train_loss),
    series("test loss", COLORS.test, (r) => r.test_loss),
    series("validation loss", COLORS.validation, (r) => r.validation_loss, 1, "6 4"),
  ].filter((s) => s.points.length);
  const accuracies = [
    series("train accuracy", COLORS.train, (r) => r.train_accuracy, 100),
    series("test accuracy", COLORS.test, (r) => r.accuracy, 100),
    series("validation accuracy", COLORS.validation, (r) => r.validation_accuracy, 100, "6 4"),
  ].filter((s) => s.points.length);

  const title = options.title ??
    (accuracies.length ? "Loss and accuracy per epoch" : "Loss per epoch");
  const panelH = accuracies.length ? 210 : 300;
  const top1 = 64, top2 = top1 + panelH + 62;
  const height = (accuracies.length ? top2 + panelH : top1 + panelH) + 58;
  const numbers = epochs.map((r) => r.epoch);
  const x = numbers.length
    ? epochScale(Math.min(...numbers), Math.max(...numbers))
    : epochScale(1, 1);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" ` +
    `viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${W}" height="${height}" fill="white"/>`,
    `<text x="${LEFT + PLOT_W / 2}" y="30" text-anchor="middle" font-size="16" ` +
    `font-weight="bold">${escapeXml(title)}</text>`,
  ];
  const panel = (
    top: number,
    yLabel: string,
    all: readonly Series[],
    percent: boolean,
  ) => {
    const bounds = percent ? { lo: 0, hi: 100 } : undefined;
    const values = all.flatMap((s) => s.points.map((p) => p[1]));
    let lo = values.length ? Math.min(...values) : 0, hi = values.length ? Math.max(...values) : 1;
    // A margin, so that no point lies on an axis.
    const margin = 0.04 * (hi - lo || Math.abs(hi) * 0.1 || 1);
    // Losses and accuracies are never negative: the scale starts at 0 at the lowest.
    [lo, hi] = [lo >= 0 ? Math.max(0, lo - margin) : lo - margin, hi + margin];
    if (bounds) [lo, hi] = [Math.max(bounds.lo, lo), Math.min(bounds.hi, hi)];
    let y = niceScale(lo, hi, 5);
    if (bounds) {
      const ticks = y.ticks.filter((t) => t >= bounds.lo && t <= bounds.hi);
      y = { ...y, ticks, lo: ticks[0], hi: ticks[ticks.length - 1] };
    }
    const sx = (e: number) => LEFT + ((e - x.lo) / (x.hi - x.lo)) * PLOT_W;
    const sy = (v: number) => top + panelH - ((v - y.lo) / (y.hi - y.lo)) * panelH;
    const bottom = top + panelH;
    out.push(`<g class="panel" data-panel="${escapeXml(yLabel)}">`);
    for (const t of y.ticks) {
      out.push(
        `<line class="grid" x1="${LEFT}" x2="${LEFT + PLOT_W}" y1="${px(sy(t))}" y2="${
          px(sy(t))
        }" stroke="#e3e3e3"/>`,
        `<text class="tick y" x="${LEFT - 8}" y="${px(sy(t) + 4)}" text-anchor="end">${
          t.toFixed(y.decimals)
        }</text>`,
      );
    }
    for (const t of x.ticks) {
      out.push(
        `<line class="tick-mark" x1="${px(sx(t))}" x2="${px(sx(t))}" y1="${bottom}" y2="${
          bottom + 5
        }" stroke="#333"/>`,
        `<text class="tick x" x="${px(sx(t))}" y="${bottom + 19}" text-anchor="middle">${t}</text>`,
      );
    }
    out.push(
      `<line class="axis x" x1="${LEFT}" x2="${LEFT + PLOT_W}" y1="${bottom}" y2="${bottom}" ` +
        `stroke="#333"/>`,
      `<line class="axis y" x1="${LEFT}" x2="${LEFT}" y1="${top}" y2="${bottom}" stroke="#333"/>`,
      `<text class="label y" transform="translate(${LEFT - 52} ${
        top + panelH / 2
      }) rotate(-90)" text-anchor="middle" font-size="13">${escapeXml(yLabel)}</text>`,
      `<text class="label x" x="${LEFT + PLOT_W / 2}" y="${bottom + 40}" text-anchor="middle" ` +
        `font-size="13">Epoch</text>`,
    );
    const radius = epochs.length > 40 ? 2 : 3.5;
    const format = (v: number) => percent ? `${v.toFixed(1)}%` : v.toPrecision(4);
    for (const s of all) {
      const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : "";
      out.push(
        `<polyline class="series" data-series="${s.name}" fill="none" stroke="${s.color}" ` +
          `stroke-width="2"${dash} points="${
            s.points.map(([e, v]) => `${px(sx(e))},${px(sy(v))}`).join(" ")
          }"/>`,
      );
      for (const [e, v] of s.points) {
        out.push(
          `<circle class="point" data-series="${s.name}" cx="${px(sx(e))}" cy="${px(sy(v))}" ` +
            `r="${radius}" fill="${s.color}"><title>${s.name}, epoch ${e}: ${
              format(v)
            }</title></circle>`,
        );
      }
    }
    all.forEach((s, i) => {
      const ly = top + 12 + 22 * i, dash = s.dash ? ` stroke-dasharray="${s.dash}"` : "";
      out.push(
        `<g class="legend" data-series="${s.name}">`,
        `<line x1="${LEGEND_X}" x2="${LEGEND_X + 28}" y1="${ly}" y2="${ly}" stroke="${s.color}" ` +
          `stroke-width="2"${dash}/>`,
        `<circle cx="${LEGEND_X + 14}" cy="${ly}" r="3.5" fill="${s.color}"/>`,
        `<text x="${LEGEND_X + 36}" y="${ly + 4}">${s.name} ${format(s.points.at(-1)![1])}</text>`,
        `</g>`,
      );
    });
    out.push(`</g>`);
  };
  panel(top1, "Loss", losses, false);
  if (accuracies.length) panel(top2, "Accuracy (%)", accuracies, true);
  out.push(`</svg>`, "");
  return out.join("\n");
}
