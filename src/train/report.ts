/**
 * What a run shows and records besides the tutorial's log: a JSON Lines metrics file, an SVG plot
 * of loss and accuracy per epoch, a live progress line on a terminal, and a quiet mode that logs
 * only the final test report. The run loop routes its log lines, steps and epochs through one
 * {@linkcode Reporter}.
 * @module
 */
import { writeFileAtomic } from "../io/atomic_write.ts";
import { testLines } from "./format.ts";
import type { BatchEvent, EpochResult } from "./run_types.ts";
import type { MetricsRecord } from "./metrics_records.ts";
import { plotSvg } from "./plot.ts";
import { formatProgress } from "./progress.ts";

export * from "./metrics_records.ts";
export * from "./plot.ts";
export * from "./progress.ts";

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
  /** A line under the title: the run's settings. */
  readonly subtitle?: string;
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
  /** Rewrites the metrics file and the plot with the records so far (before a checkpoint). */
  flush(): Promise<void>;
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
  // The plot's training-loss line: the mean loss of every `chunk` batches (about 50 points an
  // epoch), after the kept records' logged steps of a resumed run.
  const chunk = Math.max(1, Math.ceil(batchesPerEpoch / 50));
  const stepPoints: [number, number][] = records.flatMap((r) =>
    r.type === "step" && r.loss !== null
      ? [[r.epoch - 1 + Math.min(1, r.samples / samplesPerEpoch), r.loss] as [number, number]]
      : []
  );
  let chunkSum = 0, chunkCount = 0;
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
        const svg = plotSvg(records, {
          title: options.title,
          subtitle: options.subtitle,
          samplesPerEpoch,
          steps: stepPoints,
        });
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
      if (Number.isFinite(loss)) {
        chunkSum += loss;
        chunkCount++;
      }
      if (((batch + 1) % chunk === 0 || batch + 1 >= batchesPerEpoch) && chunkCount > 0) {
        const done = Math.min(batch * batchSize + size, samplesPerEpoch);
        stepPoints.push([epoch - 1 + done / samplesPerEpoch, chunkSum / chunkCount]);
        chunkSum = chunkCount = 0;
      }
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
    async flush() {
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
