/**
 * Regression on a CSV file: an MLP (features → 64 → 64 → 1, ReLU) trained with MSE and Adam on
 * the column named by `--target`, every other numeric column a feature. Flags and log are those of
 * `pipelines/fmnist.ts`; each epoch's test report (` Avg loss: X`) is the held-out rows' loss.
 *
 *     deno run -P pipelines/regression_csv.ts --csv PATH --target COLUMN [--epochs N] [--lr X]
 *
 * The held-out rows are 20 % of the file (`holdOut(rows, 0.2, 0)`: a fixed draw, so runs with any
 * `--seed` are scored on the same rows), kept as the dataset's test split rather than as a
 * `validation` fraction: features are standardised with the statistics of the training rows only,
 * which must be known when the dataset is built, before `run()` draws a validation split.
 * @module
 */
import {
  adam,
  type CliFlags,
  csvDataset,
  linear,
  mse,
  pipeline,
  relu,
  runCli,
  sequential,
  UserRangeError,
} from "../mod.ts";

/** Options of {@linkcode regressionCsv}. */
export interface RegressionCsvOptions {
  /** The CSV file (a header row, then one sample per row). */
  readonly csv: string;
  /** The column to predict; every other numeric column is a feature. */
  readonly target: string;
  /** Fraction of rows held out as the test split (default 0.2). */
  readonly heldOut?: number;
  /** Seed of the held-out draw (default 0). */
  readonly splitSeed?: number;
}

/**
 * The regression pipeline for a CSV file: reads it with {@linkcode csvDataset}, which holds out
 * rows as the test split and standardises the features with the training rows' mean and
 * standard deviation.
 *
 * @param options The file, the target column and the held-out part.
 * @returns The pipeline (batch 32, shuffled; Adam at lr 1e-3; 10 epochs).
 * @throws {CsvFormatError} When the file is malformed, has no such target column or no numeric
 * feature column (naming it).
 */
export async function regressionCsv(options: RegressionCsvOptions) {
  const { csv, target } = options;
  const data = await csvDataset({
    path: csv,
    target,
    testFraction: options.heldOut ?? 0.2,
    splitSeed: options.splitSeed ?? 0,
  });
  const width = data.featureNames.length;
  return pipeline()
    .data(data, { batchSize: 32, shuffle: true })
    .model(sequential(linear(width, 64), relu(), linear(64, 64), relu(), linear(64, 1)))
    .loss(mse())
    .optimizer(adam({ lr: 1e-3 }))
    .epochs(10);
}

/** The script's own flags, with their usage text. */
export const REGRESSION_CSV_FLAGS: Readonly<Record<string, string>> = Object.freeze({
  csv: "PATH          the CSV file (a header row, numeric feature columns)",
  target: "COLUMN     the column to predict (every other numeric column is a feature)",
});

/**
 * The pipeline for the command line's `--csv` and `--target` values.
 *
 * @param flags The flags' values.
 * @returns The pipeline.
 * @throws {RangeError} When a flag is missing.
 */
export function regressionCsvFromFlags(flags: CliFlags) {
  const { csv, target } = flags;
  if (csv === undefined) {
    throw new UserRangeError("Missing --csv: give the CSV file with --csv PATH");
  }
  if (target === undefined) {
    throw new UserRangeError(
      `Missing --target: give the column of ${csv} to predict with --target COLUMN`,
    );
  }
  return regressionCsv({ csv, target });
}

if (import.meta.main) {
  await runCli(regressionCsvFromFlags, Deno.args, { flags: REGRESSION_CSV_FLAGS });
}
