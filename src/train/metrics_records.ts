/**
 * The metrics file's records (JSON Lines: a record per logged step and per epoch) and its reader.
 * @module
 */
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
