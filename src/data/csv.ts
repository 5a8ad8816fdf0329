/**
 * CSV files of the user's own tabular data: an RFC 4180 reader turning chosen numeric feature
 * columns and one target column into typed arrays, and feature standardisation from training
 * statistics.
 *
 * The reader is written by hand (the record splitter is about 70 lines): npm CSV parsers give
 * strings without the line numbers the error messages here need, and the format itself is small.
 * @module
 */
import { describeFsError } from "../io/atomic_write.ts";
import { listExcerpt, quoteExcerpt as q } from "../util/quote.ts";
import { UserRangeError } from "../util/user_error.ts";

/**
 * What the target column holds: numbers to regress on, or labels mapped to class indices.
 *
 * @example
 * ```ts
 * import { type CsvTargetKind, parseCsv } from "./csv.ts";
 * const targetKind: CsvTargetKind = "classes";
 * const t = parseCsv("x,label\n1,b\n2,a\n", { target: "label", targetKind });
 * if (t.classNames?.join() !== "a,b" || t.y[0] !== 1n) throw new Error();
 * ```
 */
export type CsvTargetKind = "float" | "classes";

/**
 * Options of {@linkcode parseCsv}.
 *
 * @example
 * ```ts
 * import { type CsvOptions, parseCsv } from "./csv.ts";
 * const options: CsvOptions<"float"> = {
 *   target: "price",
 *   targetKind: "float",
 *   features: ["area"],
 * };
 * const t = parseCsv("area,rooms,price\n50,2,100\n80,3,170\n", options);
 * if (t.featureNames.join() !== "area" || t.y[1] !== 170) throw new Error();
 * ```
 */
export interface CsvOptions<K extends CsvTargetKind = CsvTargetKind> {
  /** Name of the target column (as in the header row). */
  readonly target: string;
  /**
   * `"float"`: the target column holds numbers (`y` is a `Float32Array`); `"classes"`: it holds
   * labels (any text, numbers included), each mapped to a class index (`y` is a `BigInt64Array`).
   */
  readonly targetKind: K;
  /**
   * Feature columns, in this order. Default: every numeric column except the target, in header
   * order, where a column is numeric when at least one of its cells is a number (every cell of a
   * chosen column must then be one). Columns without any number (names, ids as text) are left out.
   */
  readonly features?: readonly string[];
  /**
   * The class names of a `"classes"` target in class-index order, for reading a test file with
   * the mapping of its training file; a label not in the list is an error. Default: the labels
   * found, sorted (numerically when every label is a number, otherwise by UTF-16 code units).
   */
  readonly classNames?: readonly string[];
  /** The file's name, put into error messages (`Cannot read CSV data.csv: ...`). */
  readonly name?: string;
}

/**
 * The columns read from a CSV file by {@linkcode parseCsv}.
 *
 * @example
 * ```ts
 * import { type CsvTable, parseCsv } from "./csv.ts";
 * const t: CsvTable<"float"> = parseCsv("a,b,y\n1,2,3\n4,5,6\n", {
 *   target: "y",
 *   targetKind: "float",
 * });
 * if (t.rows !== 2 || t.x.join() !== "1,2,4,5" || t.y.join() !== "3,6") throw new Error();
 * ```
 */
export interface CsvTable<K extends CsvTargetKind = CsvTargetKind> {
  /** Features, row-major `[rows, featureNames.length]`. */
  readonly x: Float32Array;
  /** Names of the feature columns, in the order of `x`'s columns. */
  readonly featureNames: readonly string[];
  /** One target per row: the number (`"float"`) or the class index (`"classes"`). */
  readonly y: K extends "classes" ? BigInt64Array : Float32Array;
  /** For a `"classes"` target: the label of each class index. */
  readonly classNames?: readonly string[];
  /** Number of data rows (the header not counted). */
  readonly rows: number;
}

/**
 * Raised when CSV text is malformed or does not hold the requested columns.
 *
 * @example
 * ```ts
 * import { CsvFormatError, parseCsv } from "./csv.ts";
 * let caught: unknown;
 * try {
 *   parseCsv("a,b\n1,2\n", { target: "missing", targetKind: "float" });
 * } catch (e) {
 *   caught = e;
 * }
 * if (!(caught instanceof CsvFormatError)) throw new Error();
 * ```
 */
export class CsvFormatError extends Error {
  /** The error's name. */
  override name = "CsvFormatError";
}

/** A record of the file: its fields and the 1-based line each field starts on. */
interface CsvRecord {
  readonly fields: string[];
  readonly lines: number[];
}

/**
 * Splits CSV text into records (RFC 4180): fields separated by commas; a field in double quotes
 * may hold commas, line breaks and doubled quotes (`""` for `"`); records end with LF or CRLF.
 * Blank lines are skipped. A quote inside an unquoted field is kept as text.
 */
function splitRecords(text: string, fail: (why: string) => never): CsvRecord[] {
  const records: CsvRecord[] = [];
  let fields: string[] = [], lines: number[] = [];
  let line = 1, i = 0;
  const n = text.length;
  const endRecord = () => {
    // A record holding a single empty unquoted field is a blank line.
    if (!(fields.length === 1 && fields[0] === "" && lines[0] > 0)) {
      records.push({ fields, lines: lines.map(Math.abs) });
    }
    fields = [];
    lines = [];
  };
  while (i <= n) {
    const start = line;
    if (text[i] === '"') {
      let value = "";
      for (i++;;) {
        const quote = text.indexOf('"', i);
        if (quote < 0) fail(`line ${start}: quoted field is not closed before the end of the file`);
        const chunk = text.slice(i, quote);
        for (let k = chunk.indexOf("\n"); k >= 0; k = chunk.indexOf("\n", k + 1)) line++;
        value += chunk;
        i = quote + 1;
        if (text[i] !== '"') break;
        value += '"'; // a doubled quote
        i++;
      }
      const after = text[i];
      if (i < n && after !== "," && after !== "\n" && !(after === "\r" && text[i + 1] === "\n")) {
        fail(`line ${line}: unexpected text ${JSON.stringify(after)} after a closing quote`);
      }
      fields.push(value);
      lines.push(-start); // negative: quoted, so an empty value is not a blank line
    } else {
      let j = i;
      while (j < n && text[j] !== "," && text[j] !== "\n") j++;
      let end = j;
      if (text[j] === "\n" && text[j - 1] === "\r" && j > i) end = j - 1;
      fields.push(text.slice(i, end));
      lines.push(start);
      i = j;
    }
    if (i >= n) {
      endRecord();
      break;
    }
    if (text[i] === ",") {
      i++;
      if (i === n) {
        fields.push("");
        lines.push(line);
        endRecord();
        break;
      }
    } else {
      i += text[i] === "\r" ? 2 : 1;
      line++;
      endRecord();
      if (i === n) break;
    }
  }
  return records;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** The value of a decimal number (spaces and tabs around it allowed), or `null` if not one. */
function toNumber(text: string): number | null {
  const t = text.trim();
  if (!NUMBER.test(t)) return null;
  const v = Number(t);
  return Number.isFinite(v) ? v : null;
}

function sortLabels(labels: string[]): string[] {
  const numbers = labels.map(toNumber);
  if (numbers.every((v) => v !== null)) {
    const order = labels.map((_, i) => i).sort((a, b) => numbers[a]! - numbers[b]!);
    return order.map((i) => labels[i]);
  }
  return [...labels].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Reads CSV text with a header row into a feature matrix and a target vector.
 *
 * Numbers are decimal (`-1`, `2.5`, `.5`, `1e-3`; spaces around them allowed); empty cells,
 * `NaN`, `inf` and text after a number are errors. A `"classes"` target maps each label (spaces
 * around it removed) to its index in `classNames`.
 *
 * @param text The whole file (a leading byte-order mark is ignored).
 * @param options The target column and its kind, and optionally the feature columns.
 * @returns Row-major float32 features, the targets, the feature names and the class names.
 * @throws {CsvFormatError} On malformed CSV (unclosed quote, a row whose field count differs from
 * the header's), unknown or duplicate column names, no data rows, a cell that is not a number
 * (naming the 1-based line, the header being line 1, the column and the text), or a label not in
 * the given `classNames`.
 *
 * @example
 * ```ts
 * import { parseCsv } from "./csv.ts";
 * const csv = 'name,age,"height, cm",species\nAnn,31,170.5,cat\nBob,12,140,dog\nCy,40,180,cat\n';
 * const t = parseCsv(csv, { target: "species", targetKind: "classes" });
 * if (t.featureNames.join("|") !== "age|height, cm") throw new Error("features");
 * if (t.x[3] !== 140 || t.y[1] !== 1n || t.classNames?.join() !== "cat,dog") throw new Error();
 * ```
 */
export function parseCsv<K extends CsvTargetKind>(
  text: string,
  options: CsvOptions<K>,
): CsvTable<K> {
  const { target, targetKind, name } = options;
  const fail = (why: string): never => {
    throw new CsvFormatError(`Cannot read CSV${name ? ` ${name}` : ""}: ${why}`);
  };
  if (targetKind !== "float" && targetKind !== "classes") {
    fail(`target kind must be "float" or "classes", got ${q(String(targetKind))}`);
  }
  const records = splitRecords(text.startsWith("\uFEFF") ? text.slice(1) : text, fail);
  if (records.length === 0) fail("the file is empty (a header row is required)");
  const header = records[0].fields.map((h) => h.trim());
  const columnOf = new Map<string, number>();
  header.forEach((h, c) => {
    if (columnOf.has(h)) fail(`line 1: column name ${q(h)} appears twice`);
    columnOf.set(h, c);
  });
  const data = records.slice(1);
  for (const r of data) {
    if (r.fields.length !== header.length) {
      fail(`line ${r.lines[0]} has ${r.fields.length} fields, the header has ${header.length}`);
    }
  }
  if (data.length === 0) fail("no data rows after the header");
  const find = (col: string, role: string): number =>
    columnOf.get(col) ??
      fail(
        `${role} column ${q(col)} is not in the header (columns: ` +
          `${listExcerpt(header.map((h) => q(h)), 20)})`,
      );
  const targetColumn = find(target, "target");

  let featureColumns: number[];
  if (options.features) {
    featureColumns = options.features.map((f) => find(f, "feature"));
    if (featureColumns.includes(targetColumn)) {
      fail(`column ${q(target)} is both the target and a feature`);
    }
    const seen = new Set<number>();
    for (const c of featureColumns) {
      if (seen.has(c)) fail(`feature column ${q(header[c])} is listed twice`);
      seen.add(c);
    }
  } else {
    featureColumns = header.map((_, c) => c).filter((c) =>
      c !== targetColumn && data.some((r) => toNumber(r.fields[c]) !== null)
    );
  }

  const cellNumber = (r: CsvRecord, c: number): number => {
    const cell = r.fields[c];
    const v = toNumber(cell);
    if (v !== null) return v;
    const where = `line ${r.lines[c]}, column ${q(header[c])}`;
    if (cell.trim() === "") return fail(`${where}: the cell is empty`);
    return fail(`${where}: ${q(cell)} is not a number`);
  };

  const rows = data.length, width = featureColumns.length;
  const x = new Float32Array(rows * width);
  data.forEach((r, i) => featureColumns.forEach((c, j) => x[i * width + j] = cellNumber(r, c)));
  const featureNames = featureColumns.map((c) => header[c]);

  if (targetKind === "float") {
    const y = Float32Array.from(data, (r) => cellNumber(r, targetColumn));
    return { x, featureNames, y, rows } as CsvTable as CsvTable<K>;
  }
  const labels = data.map((r) => r.fields[targetColumn].trim());
  data.forEach((r, i) => {
    if (labels[i] === "") {
      fail(`line ${r.lines[targetColumn]}, column ${q(target)}: the label is empty`);
    }
  });
  const classNames = options.classNames
    ? [...options.classNames]
    : sortLabels([...new Set(labels)]);
  const index = new Map(classNames.map((c, i) => [c, i]));
  if (index.size !== classNames.length) fail("the given class names contain a duplicate");
  const y = BigInt64Array.from(data, (r, i) => {
    const k = index.get(labels[i]);
    if (k === undefined) {
      return fail(
        `line ${r.lines[targetColumn]}, column ${q(target)}: label ${q(labels[i])} is not ` +
          `one of the class names (${
            listExcerpt(classNames.map((c) => c.length > 60 ? q(c) : c), 20)
          })`,
      );
    }
    return BigInt(k);
  });
  return { x, featureNames, y, classNames, rows } as CsvTable as CsvTable<K>;
}

/**
 * Reads a CSV file; see {@linkcode parseCsv}. Error messages name the file.
 *
 * @param path The file's path.
 * @param options As for {@linkcode parseCsv} (`name` defaults to `path`).
 * @returns The features and targets.
 * @throws {CsvFormatError} On malformed contents, or when the file cannot be read.
 * @example
 * ```ts
 * import { loadCsv } from "./csv.ts";
 * const path = await Deno.makeTempFile({ suffix: ".csv" });
 * await Deno.writeTextFile(path, "x,y\n1,2\n3,4\n");
 * const t = await loadCsv(path, { target: "y", targetKind: "float" });
 * if (t.x.join() !== "1,3" || t.y.join() !== "2,4") throw new Error();
 * await Deno.remove(path);
 * ```
 */
export async function loadCsv<K extends CsvTargetKind>(
  path: string,
  options: CsvOptions<K>,
): Promise<CsvTable<K>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new CsvFormatError(`Cannot read ${path}: ${describeFsError(e)}`, { cause: e });
  }
  return parseCsv(text, { name: path, ...options });
}

/**
 * Per-feature statistics of training rows, and their application to any rows.
 *
 * @example
 * ```ts
 * import { standardize, type Standardizer } from "./csv.ts";
 * const s: Standardizer = standardize(Float32Array.of(1, 3), 1);
 * if (s.mean[0] !== 2 || s.std[0] !== 1 || s.apply(Float32Array.of(4))[0] !== 2) throw new Error();
 * ```
 */
export interface Standardizer {
  /** Mean of each feature over the training rows. */
  readonly mean: Float32Array;
  /** Population standard deviation of each feature over the training rows (0 replaced by 1). */
  readonly std: Float32Array;
  /** Returns a new array of rows with `(value - mean) / std` per feature. */
  apply(x: Float32Array): Float32Array;
}

/**
 * Computes each feature's mean and standard deviation over training rows (in float64; the
 * population standard deviation, as scikit-learn's `StandardScaler`), to apply to the training,
 * validation and test rows alike. A constant feature gets standard deviation 1 (it becomes 0).
 *
 * @param trainX Training rows, row-major `[rows, features]`.
 * @param features Number of features per row.
 * @returns The statistics and a function standardising rows with them.
 * @throws {RangeError} When `features` is not a positive integer, `trainX` holds no rows, or an
 * array given to it or to `apply` is not a whole number of rows.
 *
 * @example
 * ```ts
 * import { standardize } from "./csv.ts";
 * const s = standardize(new Float32Array([1, 5, 3, 5]), 2);
 * const z = s.apply(new Float32Array([2, 7]));
 * if (s.mean[0] !== 2 || s.std[0] !== 1 || s.std[1] !== 1 || z[0] !== 0 || z[1] !== 2) {
 *   throw new Error();
 * }
 * ```
 */
export function standardize(trainX: Float32Array, features: number): Standardizer {
  const check = (x: Float32Array, what: string) => {
    if (x.length % features !== 0) {
      throw new UserRangeError(
        `Cannot standardize: ${what} has ${x.length} values, not a multiple of ${features} ` +
          `features`,
      );
    }
  };
  if (!Number.isSafeInteger(features) || features <= 0) {
    throw new UserRangeError(
      `Cannot standardize: features must be a positive integer, got ${features}`,
    );
  }
  check(trainX, "the training set");
  const rows = trainX.length / features;
  if (rows === 0) throw new UserRangeError("Cannot standardize: the training set has no rows");
  const sum = new Float64Array(features), sq = new Float64Array(features);
  for (let i = 0; i < trainX.length; i++) sum[i % features] += trainX[i];
  const mean64 = sum.map((s) => s / rows);
  for (let i = 0; i < trainX.length; i++) {
    const d = trainX[i] - mean64[i % features];
    sq[i % features] += d * d;
  }
  const std64 = sq.map((s) => Math.sqrt(s / rows) || 1);
  const mean = Float32Array.from(mean64), std = Float32Array.from(std64);
  return {
    mean,
    std,
    apply(x: Float32Array): Float32Array {
      check(x, "the array to standardize");
      const out = new Float32Array(x.length);
      for (let i = 0; i < x.length; i++) {
        const j = i % features;
        out[i] = (x[i] - mean64[j]) / std64[j];
      }
      return out;
    },
  };
}
