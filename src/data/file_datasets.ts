/**
 * In-memory datasets read from the user's own files: a CSV table ({@linkcode csvDataset}) or
 * NumPy arrays in `.npy`/`.npz` files ({@linkcode npyDataset}). Both read the files once and
 * return a `tensorDataset` description holding the arrays.
 * @module
 */
import {
  type ClassIndices,
  type ClassTensorDataset,
  type FloatTensorDataset,
  type TargetKind,
  type TensorDataset,
  tensorDataset,
} from "../dsl/datasets.ts";
import {
  CsvFormatError,
  type CsvTable,
  type CsvTargetKind,
  loadCsv,
  standardize as computeStandardizer,
  type Standardizer,
} from "./csv.ts";
import { holdOut } from "./loader.ts";
import { loadNpy, loadNpz, type NpyArray } from "./npy.ts";
import { listExcerpt, quoteExcerpt } from "../util/quote.ts";
import { UserRangeError, UserTypeError } from "../util/user_error.ts";

/**
 * Options of {@linkcode csvDataset}.
 *
 * @example
 * ```ts
 * import { csvDataset, type CsvDatasetOptions } from "./file_datasets.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/d.csv`, "x,y\n1,2\n3,6\n5,10\n7,14\n");
 * const options: CsvDatasetOptions<"float"> = {
 *   path: `${dir}/d.csv`,
 *   target: "y",
 *   testFraction: 0.25,
 *   standardize: false,
 * };
 * const ds = await csvDataset(options);
 * if (ds.train.count !== 3 || ds.test.count !== 1) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface CsvDatasetOptions<K extends CsvTargetKind = CsvTargetKind> {
  /** The CSV file of the training rows (a header row, then one sample per row). */
  readonly path: string;
  /**
   * A separate CSV file of test rows, read with the training file's feature columns and class
   * names (so its labels map to the same class indices) and standardised with the training
   * rows' statistics. Without it, `testFraction` of `path`'s rows are held out as the test split.
   */
  readonly testPath?: string;
  /**
   * Fraction of `path`'s rows held out as the test split when there is no `testPath`: the rows
   * `holdOut(rows, testFraction, splitSeed)` picks, `Math.round(testFraction · rows)` of them
   * (default 0.2). Not allowed together with `testPath`.
   */
  readonly testFraction?: number;
  /** Seed of the held-out draw (default 0), independent of a run's seed. */
  readonly splitSeed?: number;
  /** Name of the target column (as in the header row). */
  readonly target: string;
  /**
   * `"float"` (default): the target column holds numbers, one float target per row (target
   * shape `[1]`); `"classes"`: it holds labels, mapped to class indices (see `classNames`).
   */
  readonly targetKind?: K;
  /**
   * Feature columns, in this order. Default: every column of the training file except the
   * target that holds a number in at least one row (text columns such as names are left out).
   */
  readonly features?: readonly string[];
  /**
   * Standardise each feature with the mean and (population) standard deviation of the
   * training rows only, applied to the training and test rows alike (default `true`). The
   * statistics are kept as the dataset's `standardizer`, to apply at inference.
   */
  readonly standardize?: boolean;
  /**
   * For a `"classes"` target: the class names in class-index order (a label not in the list is
   * an error). Default: the training file's labels, sorted (numerically when all are numbers).
   */
  readonly classNames?: readonly string[];
}

/**
 * What a {@linkcode csvDataset} holds besides the splits: the columns and the statistics.
 *
 * @example
 * ```ts
 * import { csvDataset, type CsvDatasetColumns } from "./file_datasets.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/d.csv`, "x,y\n1,2\n3,6\n5,10\n7,14\n");
 * const columns: CsvDatasetColumns = await csvDataset({
 *   path: `${dir}/d.csv`,
 *   testPath: `${dir}/d.csv`,
 *   target: "y",
 * });
 * if (columns.featureNames.join() !== "x" || columns.standardizer?.mean[0] !== 4) {
 *   throw new Error();
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface CsvDatasetColumns {
  /** Names of the feature columns, in the order of each sample's features. */
  readonly featureNames: readonly string[];
  /**
   * The training rows' per-feature mean and standard deviation, in `featureNames` order, when
   * standardised; `standardizer.apply(rows)` standardises new rows (row-major float32) as the
   * dataset's were, e.g. before inference with an exported model.
   */
  readonly standardizer?: Standardizer;
}

/**
 * A dataset read from CSV files: a `tensorDataset` (class-index targets with `classNames`, or
 * float targets of shape `[1]`) with its feature names and standardisation statistics.
 * @example
 * ```ts
 * import { type CsvDataset, csvDataset } from "./file_datasets.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/d.csv`, "x,y\n1,2\n3,6\n5,10\n7,14\n");
 * const ds: CsvDataset<"float"> = await csvDataset({
 *   path: `${dir}/d.csv`,
 *   testPath: `${dir}/d.csv`,
 *   target: "y",
 * });
 * if (ds.targets !== "float" || ds.train.y.join() !== "2,6,10,14") throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export type CsvDataset<K extends CsvTargetKind = CsvTargetKind> =
  & TensorDataset<K>
  & CsvDatasetColumns;

/** Copies rows `indices` of a row-major array with `width` values per row. */
function pickRows<T extends Float32Array | BigInt64Array>(
  src: T,
  width: number,
  indices: Uint32Array,
): T {
  const out = new (src.constructor as new (n: number) => T)(indices.length * width);
  // Both arrays are of one type; viewed as Float32Array only to satisfy `set`'s signature.
  const from = src as Float32Array, to = out as Float32Array;
  indices.forEach((r, i) => to.set(from.subarray(r * width, (r + 1) * width), i * width));
  return out;
}

/**
 * Reads a CSV file of the user's own tabular data into an in-memory dataset: the chosen numeric
 * feature columns (every numeric column but the target by default) become float32 samples of
 * shape `[features]`, the target column float targets of shape `[1]` or class indices.
 *
 * The test split is a separate file (`testPath`) or rows held out of the training file
 * (`testFraction`, default 0.2, drawn with `holdOut(rows, testFraction, splitSeed ?? 0)`). By
 * default features are standardised with the training rows' statistics only, which are returned
 * as `standardizer`. A `"classes"` target's label → index mapping is kept as `classNames`.
 *
 * @param options The file(s), the target column and its kind, the features, the test split and
 * whether to standardise.
 * @returns The dataset description, with `featureNames` and (when standardised) `standardizer`.
 * @throws {CsvFormatError} When a file is malformed, lacks a named column, has a non-numeric
 * feature cell or an unknown label (naming the file and 1-based line), or has no feature column.
 * @throws {RangeError} When `testFraction` is not in (0, 1) or leaves either split without rows.
 * @throws {TypeError} When both `testPath` and `testFraction` are given.
 *
 * @example
 * ```ts
 * import { csvDataset } from "./file_datasets.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/train.csv`, "name,x,kind\nann,1,cat\nbob,3,dog\ncy,5,cat\n");
 * await Deno.writeTextFile(`${dir}/test.csv`, "name,x,kind\ndee,7,dog\n");
 * const ds = await csvDataset({
 *   path: `${dir}/train.csv`,
 *   testPath: `${dir}/test.csv`,
 *   target: "kind",
 *   targetKind: "classes",
 * });
 * // Standardised with the training rows' mean 3 and standard deviation √(8/3).
 * if (ds.classNames?.join() !== "cat,dog" || ds.featureNames.join() !== "x") throw new Error();
 * const z = ds.test.x[0] as number; // (7 − 3) / √(8/3)
 * if (ds.standardizer?.mean[0] !== 3 || Math.abs(z - 4 / Math.sqrt(8 / 3)) > 1e-6) {
 *   throw new Error();
 * }
 * if (ds.test.y[0] !== 1n) throw new Error("dog is class 1 in both files");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function csvDataset<K extends CsvTargetKind = "float">(
  options: CsvDatasetOptions<K>,
): Promise<CsvDataset<K>> {
  const { path, testPath, target } = options;
  const targetKind = (options.targetKind ?? "float") as K;
  const CREATE = `Cannot create CSV dataset from ${path}`;
  if (testPath !== undefined && options.testFraction !== undefined) {
    throw new UserTypeError(
      `${CREATE}: give testPath (a test file) or testFraction (rows held out), not both`,
    );
  }
  const train = await loadCsv(path, {
    target,
    targetKind,
    ...(options.features ? { features: options.features } : {}),
    ...(options.classNames ? { classNames: options.classNames } : {}),
  });
  const featureNames = Object.freeze([...train.featureNames]);
  const width = featureNames.length;
  if (width === 0) {
    throw new CsvFormatError(
      `Cannot read CSV ${path}: no feature column (${
        options.features
          ? "features is empty"
          : `no column besides the target ${JSON.stringify(target)} holds numbers`
      })`,
    );
  }

  let trainPart: { x: Float32Array; y: Float32Array | BigInt64Array };
  let testPart: { x: Float32Array; y: Float32Array | BigInt64Array };
  if (testPath !== undefined) {
    const test: CsvTable = await loadCsv(testPath, {
      target,
      targetKind,
      features: featureNames,
      ...(train.classNames ? { classNames: train.classNames } : {}),
    });
    trainPart = train;
    testPart = test;
  } else {
    const fraction = options.testFraction ?? 0.2;
    if (!(typeof fraction === "number" && fraction > 0 && fraction < 1)) {
      throw new UserRangeError(
        `${CREATE}: testFraction must be a number in (0, 1), got ${fraction}`,
      );
    }
    const held = Math.round(fraction * train.rows);
    if (held < 1 || held >= train.rows) {
      throw new UserRangeError(
        `${CREATE}: testFraction ${fraction} of its ${train.rows} rows holds out ${held} and ` +
          `leaves ${train.rows - held} for training; each split needs at least one row`,
      );
    }
    const split = holdOut(train.rows, fraction, options.splitSeed ?? 0);
    const part = (indices: Uint32Array) => ({
      x: pickRows(train.x, width, indices),
      y: pickRows<Float32Array | BigInt64Array>(train.y, 1, indices),
    });
    trainPart = part(split.train);
    testPart = part(split.heldOut);
  }

  const standardizer = options.standardize === false
    ? undefined
    : Object.freeze(computeStandardizer(trainPart.x, width));
  const x = (part: { x: Float32Array }) => standardizer ? standardizer.apply(part.x) : part.x;
  const columns: CsvDatasetColumns = standardizer ? { featureNames, standardizer } : {
    featureNames,
  };
  const data: TensorDataset = targetKind === "classes"
    ? tensorDataset({
      train: { x: x(trainPart), y: trainPart.y as BigInt64Array },
      test: { x: x(testPart), y: testPart.y as BigInt64Array },
      sampleShape: [width],
      classNames: train.classNames!,
    })
    : tensorDataset({
      train: { x: x(trainPart), y: trainPart.y as Float32Array },
      test: { x: x(testPart), y: testPart.y as Float32Array },
      sampleShape: [width],
      targetShape: [1],
    });
  const sources = testPath === undefined ? [path] : [path, testPath];
  return Object.freeze({ ...data, ...columns, sources }) as unknown as CsvDataset<K>;
}

/**
 * The `.npy` files of one split: inputs and targets.
 *
 * @example
 * ```ts
 * import type { NpyFilePair } from "./file_datasets.ts";
 * const train: NpyFilePair = { x: "x_train.npy", y: "y_train.npy" };
 * if (!train.x.endsWith(".npy")) throw new Error();
 * ```
 */
export interface NpyFilePair {
  /** Inputs: an array of shape `[N, ...sampleShape]`. */
  readonly x: string;
  /** Targets: `[N]` (or `[N, 1]`) class indices, or float targets `[N, ...targetShape]`. */
  readonly y: string;
}

/**
 * Names of the four arrays in a `.npz` file (defaults as in Keras' `mnist.npz`).
 *
 * @example
 * ```ts
 * import type { NpzKeys } from "./file_datasets.ts";
 * const keys: NpzKeys = { trainX: "images", trainY: "labels" };
 * if (keys.testX !== undefined) throw new Error("unset keys default to Keras' names (x_test)");
 * ```
 */
export interface NpzKeys {
  /** Training inputs (default `"x_train"`). */
  readonly trainX?: string;
  /** Training targets (default `"y_train"`). */
  readonly trainY?: string;
  /** Test inputs (default `"x_test"`). */
  readonly testX?: string;
  /** Test targets (default `"y_test"`). */
  readonly testY?: string;
}

/**
 * Options of {@linkcode npyDataset} shared by `.npy` files and a `.npz` file.
 *
 * @example
 * ```ts
 * import type { NpyDatasetCommonOptions } from "./file_datasets.ts";
 * const common: NpyDatasetCommonOptions<"classes"> = {
 *   targetKind: "classes",
 *   classes: 10,
 *   divideBy: 255,
 * };
 * if (common.divideBy !== 255) throw new Error();
 * ```
 */
export interface NpyDatasetCommonOptions<K extends TargetKind> {
  /**
   * `"classes"`: `y` holds class indices (integers ≥ 0; float arrays must hold whole numbers);
   * `"float"`: `y` holds float targets. Default: `"classes"` for integer and bool `y`, `"float"`
   * for float `y`.
   */
  readonly targetKind?: K;
  /** Number of classes of class targets; default: `classNames`' length, else the largest + 1. */
  readonly classes?: number;
  /** The classes' names, by class index (stored in exported models' metadata). */
  readonly classNames?: readonly string[];
  /**
   * Model input type: `"float32"` (default; `x` of any numeric dtype is converted) or `"int64"`
   * (token ids for `embedding`; `x` must be of an integer dtype).
   */
  readonly inputDtype?: "float32" | "int64";
  /**
   * Divides every float32 input by this number, e.g. `255` to turn uint8 pixels into [0, 1] as
   * torchvision's `ToTensor` and Keras' `x / 255.0` do (each value is `float32(x) / divideBy`,
   * rounded to float32). Default: no scaling; inputs keep their values (uint8 pixels stay
   * 0–255).
   */
  readonly divideBy?: number;
}

/**
 * {@linkcode npyDataset} options reading one `.npy` file per array.
 *
 * @example
 * ```ts
 * import type { NpyFilesOptions } from "./file_datasets.ts";
 * const options: NpyFilesOptions = {
 *   train: { x: "x_train.npy", y: "y_train.npy" },
 *   test: { x: "x_test.npy", y: "y_test.npy" },
 *   divideBy: 255,
 * };
 * if (options.npz !== undefined) throw new Error();
 * ```
 */
export interface NpyFilesOptions<K extends TargetKind = TargetKind>
  extends NpyDatasetCommonOptions<K> {
  /** The training split's files. */
  readonly train: NpyFilePair;
  /** The test split's files. */
  readonly test: NpyFilePair;
  /** Absent: the arrays come from `.npy` files. */
  readonly npz?: undefined;
  /** Absent: the arrays come from `.npy` files. */
  readonly keys?: undefined;
}

/**
 * {@linkcode npyDataset} options reading the four arrays from one `.npz` file.
 *
 * @example
 * ```ts
 * import type { NpzFileOptions } from "./file_datasets.ts";
 * const options: NpzFileOptions = { npz: "mnist.npz", targetKind: "classes", divideBy: 255 };
 * if (options.train !== undefined) throw new Error();
 * ```
 */
export interface NpzFileOptions<K extends TargetKind = TargetKind>
  extends NpyDatasetCommonOptions<K> {
  /** The `.npz` file (`numpy.savez` or `numpy.savez_compressed`). */
  readonly npz: string;
  /** The arrays' names in it; each defaults as in Keras' `mnist.npz` (`x_train`, …). */
  readonly keys?: NpzKeys;
  /** Absent: the arrays come from the `.npz` file. */
  readonly train?: undefined;
  /** Absent: the arrays come from the `.npz` file. */
  readonly test?: undefined;
}

/**
 * Options of {@linkcode npyDataset}: `.npy` files per array, or one `.npz` file.
 *
 * @example
 * ```ts
 * import type { NpyDatasetOptions } from "./file_datasets.ts";
 * const options: NpyDatasetOptions[] = [
 *   { npz: "mnist.npz" },
 *   { train: { x: "a.npy", y: "b.npy" }, test: { x: "c.npy", y: "d.npy" } },
 * ];
 * if (options.filter((o) => o.npz !== undefined).length !== 1) throw new Error();
 * ```
 */
export type NpyDatasetOptions<K extends TargetKind = TargetKind> =
  | NpyFilesOptions<K>
  | NpzFileOptions<K>;

/** An array and where it came from, for error messages. */
interface Named {
  readonly array: NpyArray;
  /** E.g. `train x (x.npy)` or `train y (data.npz array "y_train")`. */
  readonly what: string;
}

const NPY_CREATE = "Cannot create npy dataset";
const shapeText = (shape: readonly number[]) => `[${shape.join(", ")}]`;
const isFloat = (a: NpyArray) => a.dtype === "float32" || a.dtype === "float64";
const described = (n: Named) => `${n.what}, ${n.array.dtype} of shape ${shapeText(n.array.shape)}`;

/** Rows and the shape of one row of an array, checking it has at least one row. */
function rowsOf(n: Named): [number, number[]] {
  const { shape } = n.array;
  if (shape.length === 0) {
    throw new UserRangeError(
      `${NPY_CREATE}: ${described(n)} is a scalar; expected one row per sample`,
    );
  }
  if (shape[0] === 0) throw new UserRangeError(`${NPY_CREATE}: ${described(n)} has no rows`);
  return [shape[0], shape.slice(1)];
}

/**
 * The array as float32 (a new array when converted or divided, so an array read once and used
 * for two splits is not divided twice), each value divided by `divideBy` when given.
 */
function toFloat32(a: NpyArray, divideBy: number | undefined): Float32Array {
  const d = a.data;
  if (d instanceof Float32Array && divideBy === undefined) return d;
  const out = new Float32Array(d.length);
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
  } else out.set(d);
  if (divideBy !== undefined) { for (let i = 0; i < out.length; i++) out[i] = out[i] / divideBy; }
  return out;
}

/** Integer inputs (token ids) as int32 when they are int32 already, else int64. */
function toIds(n: Named): Int32Array | BigInt64Array {
  const d = n.array.data;
  if (isFloat(n.array)) {
    throw new UserTypeError(
      `${NPY_CREATE}: inputDtype "int64" needs integer token ids, but ${described(n)} is float`,
    );
  }
  if (d instanceof Int32Array || d instanceof BigInt64Array) return d;
  if (d instanceof BigUint64Array) return BigInt64Array.from(d, (v) => BigInt.asIntN(64, v));
  return Int32Array.from(d as ArrayLike<number>);
}

/** Class indices from `[N]` or `[N, 1]` targets, each checked to be a whole number ≥ 0. */
function toClasses(n: Named, classes: number | undefined): BigInt64Array {
  const [rows, rest] = rowsOf(n);
  if (rest.length > 1 || (rest.length === 1 && rest[0] !== 1)) {
    throw new UserRangeError(
      `${NPY_CREATE}: ${described(n)} holds class targets, which need shape [N] or [N, 1]`,
    );
  }
  const d = n.array.data, out = new BigInt64Array(rows);
  for (let i = 0; i < rows; i++) {
    const v = d[i];
    const ok = typeof v === "bigint"
      ? v >= 0n && (classes === undefined || v < BigInt(classes))
      : Number.isInteger(v) && v >= 0 && (classes === undefined || v < classes);
    if (!ok) {
      const why = classes === undefined || (typeof v === "number" && !Number.isInteger(v))
        ? "class indices must be whole numbers ≥ 0"
        : `class indices must be in [0, ${classes})`;
      throw new UserRangeError(`${NPY_CREATE}: ${described(n)} holds ${v} at row ${i}; ${why}`);
    }
    out[i] = typeof v === "bigint" ? v : BigInt(v);
  }
  return out;
}

/**
 * Reads NumPy arrays from `.npy` files (one per array) or one `.npz` file into an in-memory
 * dataset, as `np.load` gives them to a PyTorch or Keras script.
 *
 * - Inputs `x`: shape `[N, ...sampleShape]` (a 1-D `[N]` array is `N` samples of shape `[1]`),
 *   any numeric dtype, converted to float32. Values are kept: uint8 images stay 0–255 unless
 *   `divideBy: 255` is given (the built-in image datasets, unlike this, apply `ToTensor`).
 *   With `inputDtype: "int64"`, integer `x` are token ids instead.
 * - Targets `y`: integer (or bool) arrays are class indices, shape `[N]` or `[N, 1]` (as Keras'
 *   CIFAR-10 labels); `classes` defaults to the largest index + 1. Float arrays are float
 *   targets with `targetShape = y.shape.slice(1)`, where a 1-D `[N]` array gets targetShape `[1]`
 *   so that a model's `[N, 1]` output and its targets agree (PyTorch's `MSELoss` would otherwise
 *   broadcast `[N, 1]` against `[N]`). `targetKind` overrides the choice.
 *
 * @param options `train` and `test` `.npy` file pairs, or `npz` with optional `keys` (defaults
 * `x_train`, `y_train`, `x_test`, `y_test`, as in Keras' `mnist.npz`); optionally `targetKind`,
 * `classes`, `classNames`, `inputDtype` and `divideBy`.
 * @returns The dataset description.
 * @throws {NpyFormatError} When a file is not a valid `.npy`/`.npz` file (naming it).
 * @throws {RangeError} When an array is missing from the `.npz` (listing those it holds), is a
 * scalar or empty, the splits' `x` and `y` row counts differ, train and test sample or target
 * shapes differ, or a class target is not a whole number ≥ 0 (below `classes`); messages name the
 * file, dtype and shape.
 * @throws {TypeError} When the options are inconsistent (both or neither of `npz` and
 * `train`/`test`, `classNames` with float targets, `inputDtype: "int64"` with float `x`).
 *
 * @example
 * ```ts
 * import { npyDataset } from "./file_datasets.ts";
 * // A .npy file: magic, version 1.0, header length, header, then the elements.
 * const npy = (descr: string, shape: string, data: Uint8Array) => {
 *   const header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }\n`;
 *   const head = new TextEncoder().encode(header);
 *   return new Uint8Array([0x93, 78, 85, 77, 80, 89, 1, 0, head.length, 0, ...head, ...data]);
 * };
 * const dir = await Deno.makeTempDir();
 * const pixels = new Uint8Array([0, 255, 51, 102, 1, 2, 3, 4]);
 * await Deno.writeFile(`${dir}/x.npy`, npy("|u1", "(2, 2, 2)", pixels));
 * await Deno.writeFile(`${dir}/y.npy`, npy("|u1", "(2,)", new Uint8Array([3, 1])));
 * const files = { x: `${dir}/x.npy`, y: `${dir}/y.npy` };
 * const ds = await npyDataset({ train: files, test: files, divideBy: 255 });
 * if (ds.targets !== "classes" || ds.classes !== 4 || ds.sampleShape.join() !== "2,2") {
 *   throw new Error();
 * }
 * if (ds.train.x[1] !== 1 || ds.train.x[2] !== Math.fround(51 / 255)) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function npyDataset<K extends TargetKind = TargetKind>(
  options: NpyDatasetOptions<K>,
): Promise<TensorDataset<K>> {
  const fromNpz = options.npz !== undefined;
  if (fromNpz === (options.train !== undefined || options.test !== undefined)) {
    throw new UserTypeError(
      `${NPY_CREATE}: give either npz (one .npz file) or train and test (.npy file pairs)`,
    );
  }
  const { divideBy, inputDtype = "float32" } = options;
  if (inputDtype !== "float32" && inputDtype !== "int64") {
    throw new UserTypeError(
      `${NPY_CREATE}: inputDtype must be "float32" or "int64", got ${JSON.stringify(inputDtype)}`,
    );
  }
  if (divideBy !== undefined) {
    if (!(typeof divideBy === "number" && Number.isFinite(divideBy) && divideBy !== 0)) {
      throw new UserRangeError(
        `${NPY_CREATE}: divideBy must be a finite non-zero number, got ${divideBy}`,
      );
    }
    if (inputDtype === "int64") {
      throw new UserTypeError(`${NPY_CREATE}: divideBy scales float inputs, not int64 token ids`);
    }
  }
  const kind = options.targetKind;
  if (kind !== undefined && kind !== "classes" && kind !== "float") {
    throw new UserTypeError(
      `${NPY_CREATE}: targetKind must be "classes" or "float", got ${JSON.stringify(kind)}`,
    );
  }

  let arrays: { trainX: Named; trainY: Named; testX: Named; testY: Named };
  const files = options as Partial<NpyFilesOptions<K>>;
  const sources = options.npz !== undefined
    ? [options.npz]
    : [files.train?.x, files.train?.y, files.test?.x, files.test?.y].filter((p) =>
      typeof p === "string"
    ) as string[];
  if (options.npz !== undefined) {
    const path = options.npz;
    const keys = {
      trainX: options.keys?.trainX ?? "x_train",
      trainY: options.keys?.trainY ?? "y_train",
      testX: options.keys?.testX ?? "x_test",
      testY: options.keys?.testY ?? "y_test",
    };
    const all = await loadNpz(path);
    const get = (role: keyof NpzKeys, what: string): Named => {
      const key = keys[role], array = all.get(key);
      if (!array) {
        const held = listExcerpt([...all.keys()].map((k) => quoteExcerpt(k)), 20) || "none";
        throw new UserRangeError(
          `${NPY_CREATE}: ${path} has no array ${JSON.stringify(key)} for ${what} (arrays: ` +
            `${held}); name it with keys.${role}`,
        );
      }
      return { array, what: `${what} (${path} array ${JSON.stringify(key)})` };
    };
    arrays = {
      trainX: get("trainX", "train x"),
      trainY: get("trainY", "train y"),
      testX: get("testX", "test x"),
      testY: get("testY", "test y"),
    };
  } else {
    const { train, test } = options as NpyFilesOptions<K>;
    for (const [split, pair] of [["train", train], ["test", test]] as const) {
      if (typeof pair?.x !== "string" || typeof pair?.y !== "string") {
        throw new UserTypeError(
          `${NPY_CREATE}: ${split} needs the paths of an x file and a y file ({ x, y })`,
        );
      }
    }
    const load = async (path: string, what: string): Promise<Named> => ({
      array: await loadNpy(path),
      what: `${what} (${path})`,
    });
    arrays = {
      trainX: await load(train.x, "train x"),
      trainY: await load(train.y, "train y"),
      testX: await load(test.x, "test x"),
      testY: await load(test.y, "test y"),
    };
  }
  const { trainX, trainY, testX, testY } = arrays;

  // Shapes: rows agree within a split; sample and target shapes agree across splits.
  const [trainRows, trainSample] = rowsOf(trainX), [testRows, testSample] = rowsOf(testX);
  const [trainYRows, trainTarget] = rowsOf(trainY), [testYRows, testTarget] = rowsOf(testY);
  for (
    const [x, y, xRows, yRows] of [
      [trainX, trainY, trainRows, trainYRows],
      [testX, testY, testRows, testYRows],
    ] as const
  ) {
    if (xRows !== yRows) {
      throw new UserRangeError(
        `${NPY_CREATE}: ${described(x)} has ${xRows} rows but ${described(y)} has ${yRows}; ` +
          `they need one row per sample each`,
      );
    }
  }
  if (shapeText(trainSample) !== shapeText(testSample)) {
    throw new UserRangeError(
      `${NPY_CREATE}: samples of ${described(trainX)} have shape ${shapeText(trainSample)} but ` +
        `those of ${described(testX)} have ${shapeText(testSample)}`,
    );
  }
  if (trainSample.includes(0)) {
    throw new UserRangeError(`${NPY_CREATE}: ${described(trainX)} has empty samples`);
  }
  const sampleShape = trainSample.length ? trainSample : [1];

  const x = (n: Named) => inputDtype === "int64" ? toIds(n) : toFloat32(n.array, divideBy);
  const targets = kind ?? (isFloat(trainY.array) ? "float" : "classes");
  if (kind === undefined && isFloat(trainY.array) !== isFloat(testY.array)) {
    throw new UserRangeError(
      `${NPY_CREATE}: ${described(trainY)} and ${described(testY)} differ in kind (float ` +
        `targets or integer class indices); set targetKind or save both alike`,
    );
  }

  if (targets === "float") {
    if (options.classes !== undefined || options.classNames !== undefined) {
      throw new UserTypeError(
        `${NPY_CREATE}: ${options.classes !== undefined ? "classes" : "classNames"} was given but ${
          described(trainY)
        } holds float targets; save class indices as ` +
          `integers or set targetKind: "classes"`,
      );
    }
    if (shapeText(trainTarget) !== shapeText(testTarget)) {
      throw new UserRangeError(
        `${NPY_CREATE}: targets of ${described(trainY)} have shape ${shapeText(trainTarget)} ` +
          `but those of ${described(testY)} have ${shapeText(testTarget)}`,
      );
    }
    if (trainTarget.includes(0)) {
      throw new UserRangeError(`${NPY_CREATE}: ${described(trainY)} has empty targets`);
    }
    const data: FloatTensorDataset = tensorDataset({
      train: { x: x(trainX), y: toFloat32(trainY.array, undefined) },
      test: { x: x(testX), y: toFloat32(testY.array, undefined) },
      sampleShape,
      targetShape: trainTarget.length ? trainTarget : [1],
    });
    const withSources: FloatTensorDataset = Object.freeze({ ...data, sources });
    return withSources as TensorDataset<K>;
  }

  const names = options.classNames;
  const classes = options.classes ?? names?.length;
  const ys: ClassIndices[] = [toClasses(trainY, classes), toClasses(testY, classes)];
  const data: ClassTensorDataset = tensorDataset({
    train: { x: x(trainX), y: ys[0] },
    test: { x: x(testX), y: ys[1] },
    sampleShape,
    ...(classes !== undefined ? { classes } : {}),
    ...(names !== undefined ? { classNames: names } : {}),
  });
  const withSources: ClassTensorDataset = Object.freeze({ ...data, sources });
  return withSources as TensorDataset<K>;
}
