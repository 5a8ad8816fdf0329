/**
 * Datasets of IDX files (MNIST and its relatives): download from mirrors, verify MD5 sums, cache
 * and parse, sharing torchvision's on-disk layout (`ROOT/<Name>/raw/`) so that an existing
 * PyTorch download is reused. Each dataset is one {@linkcode IdxDatasetConfig}.
 * @module
 */

import { createHash } from "node:crypto";
import { basename, join, normalize, resolve } from "node:path";
import { gunzipSync, gzipSync, unzipSync, zipSync } from "fflate";
import { describeFsError, writeFileAtomic } from "../io/atomic_write.ts";
import { rethrowIfNotCapable } from "../util/permission_error.ts";
import { encodeIdx, idxToImageSet, type ImageSet, parseIdx } from "./idx.ts";

/**
 * A downloadable file of a dataset and the MD5 sum torchvision publishes for it.
 *
 * @example
 * ```ts
 * import type { IdxResource } from "./idx_download.ts";
 * import { MNIST } from "./mnist.ts";
 * const first: IdxResource = MNIST.resources[0];
 * if (!first.file.endsWith(".gz") || first.md5.length !== 32) throw new Error();
 * ```
 */
export interface IdxResource {
  /** File name, e.g. `train-images-idx3-ubyte.gz`. */
  readonly file: string;
  /** Lower-case hex MD5 of the file. */
  readonly md5: string;
}

/**
 * The extracted IDX files of one split.
 *
 * @example
 * ```ts
 * import type { IdxSplitFiles } from "./idx_download.ts";
 * import { MNIST } from "./mnist.ts";
 * const test: IdxSplitFiles = MNIST.files.test;
 * if (test.labels !== "t10k-labels-idx1-ubyte") throw new Error();
 * ```
 */
export interface IdxSplitFiles {
  /** The images file (`[n, 28, 28]` unsigned bytes), e.g. `train-images-idx3-ubyte`. */
  readonly images: string;
  /** The labels file (`[n]` unsigned bytes), e.g. `train-labels-idx1-ubyte`. */
  readonly labels: string;
}

/**
 * Where a dataset's IDX files come from: one `.gz` per file (MNIST, FashionMNIST, KMNIST), or,
 * with `archive`, one ZIP archive holding a `.gz` per file (EMNIST's `gzip.zip`).
 * @example
 * ```ts
 * import { type IdxDatasetConfig, idxRawDir } from "./idx_download.ts";
 * import { MNIST } from "./mnist.ts";
 * // A copy of MNIST's layout under another folder name, for files of the same format.
 * const config: IdxDatasetConfig = { ...MNIST, name: "MyDigits", mirrors: [] };
 * if (!idxRawDir(config, "data").endsWith("MyDigits/raw")) throw new Error();
 * ```
 */
export interface IdxDatasetConfig {
  /** torchvision's class name: the folder under the root and the name in messages. */
  readonly name: string;
  /** The extracted files of each split, in `ROOT/<name>/raw/`. */
  readonly files: { readonly train: IdxSplitFiles; readonly test: IdxSplitFiles };
  /** The downloadable files and their MD5 sums. */
  readonly resources: readonly IdxResource[];
  /** Download base URLs, tried in order. */
  readonly mirrors: readonly string[];
  /** Number of classes; every label must be below it. */
  readonly classes: number;
  /**
   * When set, every `<file>.gz` is the member `<folder><file>.gz` of this ZIP archive (a file
   * of `resources`), which is cached in the raw folder as torchvision keeps it.
   */
  readonly archive?: { readonly file: string; readonly folder: string };
  /** The error class raised (default {@linkcode IdxDatasetError}). */
  readonly error?: new (message: string, options?: ErrorOptions) => Error;
}

/**
 * The file names MNIST, FashionMNIST and KMNIST share (`train-*` and `t10k-*`).
 *
 * @example
 * ```ts
 * import { MNIST_FILES } from "./idx_download.ts";
 * if (!MNIST_FILES.train.images.startsWith("train-images")) throw new Error();
 * ```
 */
export const MNIST_FILES: IdxDatasetConfig["files"] = Object.freeze({
  train: Object.freeze({ images: "train-images-idx3-ubyte", labels: "train-labels-idx1-ubyte" }),
  test: Object.freeze({ images: "t10k-images-idx3-ubyte", labels: "t10k-labels-idx1-ubyte" }),
});

/**
 * Raised when a dataset cannot be found, downloaded, verified or parsed.
 *
 * @example
 * ```ts
 * import { IdxDatasetError, loadIdxDataset } from "./idx_download.ts";
 * import { MNIST } from "./mnist.ts";
 * const root = await Deno.makeTempDir();
 * const error = await loadIdxDataset(MNIST, { root, download: false }).catch((e) => e);
 * if (!(error instanceof IdxDatasetError)) throw new Error();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class IdxDatasetError extends Error {
  /** The error's name. */
  override name = "IdxDatasetError";
}

/**
 * How to find and download a dataset's files.
 *
 * @example
 * ```ts
 * import { type IdxLoadOptions, loadIdxDataset } from "./idx_download.ts";
 * import { MNIST } from "./mnist.ts";
 * const root = await Deno.makeTempDir();
 * const options: IdxLoadOptions = { root, download: false, progress: false };
 * const error = await loadIdxDataset(MNIST, options).catch((e) => e);
 * if (!(error instanceof Error)) {
 *   throw new Error("the files are missing and may not be downloaded");
 * }
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export interface IdxLoadOptions {
  /** Root directory; files live in `ROOT/<Name>/raw/` as with torchvision. */
  readonly root: string;
  /** Whether missing files may be downloaded (default `true`). */
  readonly download?: boolean;
  /** The `fetch` used for downloads (default `globalThis.fetch`); injectable for tests. */
  readonly fetch?: typeof fetch;
  /**
   * Download progress: a callback receiving messages, `true` to print on stderr, `false` for
   * silence. By default progress is printed on stderr only when stderr is a terminal.
   */
  readonly progress?: boolean | ((message: string) => void);
  /** Files and MD5 sums (default: the dataset's); for testing. */
  readonly resources?: readonly IdxResource[];
  /** Mirror base URLs (default: the dataset's); for testing. */
  readonly mirrors?: readonly string[];
}

/**
 * A dataset's train and test splits.
 *
 * @example
 * ```ts
 * import { type IdxSplits, loadIdxDataset, writeIdxFiles } from "./idx_download.ts";
 * import { MNIST } from "./mnist.ts";
 * import { syntheticFashionMnist } from "./synthetic.ts";
 * const root = await Deno.makeTempDir();
 * const { resources } = await writeIdxFiles(
 *   MNIST,
 *   root,
 *   syntheticFashionMnist({ train: 2, test: 1, seed: 1 }),
 * );
 * const splits: IdxSplits = await loadIdxDataset(MNIST, { root, download: false, resources });
 * if (splits.train.count !== 2 || splits.test.count !== 1) throw new Error();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export interface IdxSplits {
  /** The training images. */
  readonly train: ImageSet;
  /** The test images. */
  readonly test: ImageSet;
}

/**
 * Returns the directory holding a dataset's raw files, `ROOT/<Name>/raw`.
 *
 * @param config The dataset.
 * @param root The dataset root.
 * @returns The directory path.
 * @example
 * ```ts
 * import { idxRawDir } from "./idx_download.ts";
 * import { MNIST } from "./mnist.ts";
 * if (idxRawDir(MNIST, "data") !== "data/MNIST/raw") throw new Error();
 * ```
 */
export function idxRawDir(config: IdxDatasetConfig, root: string): string {
  return join(root, config.name, "raw");
}

/** The lower-case hex MD5 of some bytes (shared with the CIFAR-10 loader). */
export const md5Hex = (bytes: Uint8Array): string => createHash("md5").update(bytes).digest("hex");
/** An error's message, or the thrown value as text. */
export const errorText = (e: unknown): string => e instanceof Error ? e.message : String(e);

/**
 * A file's bytes, or null when it does not exist (other errors are thrown).
 *
 * @param path The file.
 * @returns Its bytes, or null.
 */
export async function readIfExists(path: string): Promise<Uint8Array | null> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/**
 * Why a dataset root cannot be used, or undefined when it can: a root that is a file, or one that
 * does not exist while downloading is off (with downloading on, a missing root is created).
 *
 * @param root The dataset root (the CLI's `--data-dir`).
 * @param download Whether downloading is allowed.
 * @returns `the data folder ROOT does not exist …`, or undefined.
 */
export async function rootProblem(root: string, download: boolean): Promise<string | undefined> {
  try {
    const info = await Deno.stat(root);
    return info.isDirectory ? undefined : `the data folder ${root} is a file, not a folder`;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return download ? undefined : `the data folder ${root} does not exist (and downloading is ` +
        `disabled); check --data-dir or the dataset's root`;
    }
    rethrowIfNotCapable(e); // a missing permission is reported as such, not as unreadable data
    return `cannot read the data folder ${root}: ${describeFsError(e)}`;
  }
}

/** Whether a path exists (a missing permission is thrown, other failures read as absent). */
async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    rethrowIfNotCapable(e);
    return false;
  }
}

/**
 * Why a data folder looks like one given a level too deep — the dataset's own folder (or a folder
 * inside it) instead of the root that holds it — or undefined. Checked before any download, so a
 * mistaken `--data-dir ROOT/FashionMNIST` is not answered by downloading into
 * `ROOT/FashionMNIST/FashionMNIST/raw/`. Nothing is reported when the expected folder exists, or
 * when the root does not (it is still to be created).
 *
 * @param root The data folder given.
 * @param levels The folders from the root to the files, e.g. `["FashionMNIST", "raw"]`.
 * @param files Names of the dataset's files (as they lie in the last level), to recognise a copy
 * in another layout.
 * @returns `the data folder ROOT/FashionMNIST looks like the FashionMNIST folder itself; pass
 * --data-dir ROOT (its parent)`, or undefined.
 * @example
 * ```ts
 * import { nestedRootProblem } from "./idx_download.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.mkdir(`${root}/FashionMNIST/raw`, { recursive: true });
 * const why = await nestedRootProblem(`${root}/FashionMNIST`, ["FashionMNIST", "raw"], []);
 * const expected = `the data folder ${root}/FashionMNIST looks like the FashionMNIST folder ` +
 *   `itself; pass --data-dir ${root} (its parent)`;
 * if (why !== expected) throw new Error(why);
 * if (await nestedRootProblem(root, ["FashionMNIST", "raw"], []) !== undefined) throw new Error();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function nestedRootProblem(
  root: string,
  levels: readonly string[],
  files: readonly string[],
): Promise<string | undefined> {
  if (!(await exists(root)) || await exists(join(root, ...levels))) return undefined;
  const up = (k: number) => normalize(join(root, ...Array(k).fill("..")));
  // By name: ROOT/FashionMNIST or ROOT/FashionMNIST/raw given as the root.
  for (let k = levels.length; k >= 1; k--) {
    let path = resolve(root), match = true;
    for (let i = k - 1; i >= 0 && match; i--, path = resolve(path, "..")) {
      match = basename(path) === levels[i];
    }
    if (match) {
      return `the data folder ${root} looks like the ${levels.slice(0, k).join("/")} folder ` +
        `itself; pass --data-dir ${up(k)} (${k === 1 ? "its parent" : `${k} levels up`})`;
    }
  }
  // By content: the dataset's files directly in the root, or in a differently named folder.
  const layout = join("ROOT", ...levels);
  for (const file of files) {
    if (await exists(join(root, file))) {
      return `the data folder ${root} holds ${file} itself, but the files belong in ` +
        `${join(root, ...levels)}/ (torchvision's layout, ${layout}/): move them there, or ` +
        `pass the folder above that layout as --data-dir`;
    }
  }
  if (levels.length > 1) {
    const inner = levels.slice(1);
    for (const file of files) {
      const found = join(...inner, file);
      if (await exists(join(root, found))) {
        return `the data folder ${root} holds ${found}, so it looks like a ${levels[0]} folder ` +
          `under another name; rename it to ${levels[0]} and pass its parent as --data-dir ` +
          `(the layout is ${layout}/)`;
      }
    }
  }
  return undefined;
}

/**
 * What a failed download message ends with: how to train from an existing copy (the folder layout
 * `--data-dir ROOT` must have) and, for FashionMNIST, how to generate a stand-in set.
 *
 * @param config The dataset.
 * @returns `to train without downloading, pass --data-dir ROOT where …`.
 * @example
 * ```ts
 * import { offlineHint } from "./idx_download.ts";
 * import { MNIST } from "./mnist.ts";
 * if (!offlineHint(MNIST).includes("ROOT/MNIST/raw/ holds train-images-idx3-ubyte")) {
 *   throw new Error();
 * }
 * ```
 */
export function offlineHint(config: IdxDatasetConfig): string {
  const { train, test } = config.files;
  const files = [train.images, train.labels, test.images, test.labels];
  const copy =
    `to train without downloading, pass --data-dir ROOT where ROOT/${config.name}/raw/ ` +
    `holds ${files.slice(0, -1).join(", ")} and ${files.at(-1)} (` +
    (config.archive
      ? `or the archive ${config.archive.file}, as torchvision downloads it)`
      : "or their .gz files, as torchvision downloads them)");
  return config.name === "FashionMNIST"
    ? `${copy}; or generate a stand-in set (in onnxtrain's repository: deno run -P ` +
      "bench/make_data.ts bench/data) and pass --data-dir bench/data"
    : copy;
}

/**
 * The part of a message that says a cached file failed its checksum, or "" when it did not.
 *
 * @param path The cached file.
 * @param expected The MD5 expected.
 * @param actual The cached file's MD5, or null when there is no cached file.
 * @returns `checksum mismatch for the cached file PATH (expected …, got …), and `, or "".
 */
export function cachedMismatch(path: string, expected: string, actual: string | null): string {
  return actual === null || actual === expected
    ? ""
    : `checksum mismatch for the cached file ${path} (expected ${expected}, got ${actual}), and `;
}

/** Shows a progress message; `done: false` marks a transient line (overwritten on a terminal). */
export type Report = (message: string, done?: boolean) => void;

/**
 * Turns a `progress` option into a reporter (shared with the CIFAR-10 loader).
 *
 * @param progress A callback, `true` (stderr), `false` (silence) or `undefined` (stderr when it is
 * a terminal).
 * @returns The reporter.
 */
export function makeReporter(progress: IdxLoadOptions["progress"]): Report {
  if (typeof progress === "function") return (message) => progress(message);
  if (!(progress ?? Deno.stderr.isTerminal())) return () => {};
  const encoder = new TextEncoder();
  const live = Deno.stderr.isTerminal();
  return (message, done = true) => {
    const text = live ? `\r\x1b[K${message}${done ? "\n" : ""}` : done ? `${message}\n` : "";
    if (text) Deno.stderr.writeSync(encoder.encode(text));
  };
}

/**
 * Downloads one URL whole, reporting progress (shared with the CIFAR-10 loader).
 *
 * @param fetcher The `fetch` to use.
 * @param url The URL.
 * @param file The file name shown in progress messages.
 * @param report The progress reporter.
 * @returns The body.
 * @throws {Error} When the response is not OK (`HTTP <status> <text>`) or the transfer fails.
 */
export async function fetchBody(
  fetcher: typeof fetch,
  url: string,
  file: string,
  report: Report,
): Promise<Uint8Array> {
  const response = await fetcher(url);
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new Error(`HTTP ${response.status} ${response.statusText}`.trim());
  }
  const total = Number(response.headers.get("content-length")) || 0;
  // One buffer of the announced size (EMNIST's archive is 560 MB), grown if the size was wrong.
  let body = new Uint8Array(total || 1 << 20), received = 0, shown = -1, shownAt = -Infinity;
  const start = performance.now();
  for await (const chunk of response.body) {
    if (received + chunk.length > body.length) {
      const grown = new Uint8Array(Math.max(2 * body.length, received + chunk.length));
      grown.set(body.subarray(0, received));
      body = grown;
    }
    body.set(chunk, received);
    received += chunk.length;
    const percent = total ? Math.floor((100 * received) / total) : -1;
    const now = performance.now();
    // At most 10 messages a second, and every percent.
    if ((percent !== shown || !total) && (now - shownAt >= 100 || percent === 100)) {
      shown = percent;
      shownAt = now;
      report(downloadMessage(file, received, total, (now - start) / 1000), false);
    }
  }
  return received === body.length ? body : body.slice(0, received);
}

/**
 * A download's progress: `Downloading f.gz: 42% (11.1/26.4 MB, 3.2 MB/s, ETA 0:05)`, or without a
 * known size `Downloading f.gz: 11.1 MB (3.2 MB/s)`.
 *
 * @param file The file name.
 * @param received Bytes received.
 * @param total Bytes expected (0 when unknown).
 * @param seconds Seconds since the download started.
 * @returns The message.
 * @example
 * ```ts
 * import { downloadMessage } from "./idx_download.ts";
 * const m = downloadMessage("f.gz", 11.1e6, 26.4e6, 3.5);
 * if (m !== "Downloading f.gz: 42% (11.1/26.4 MB, 3.2 MB/s, ETA 0:05)") throw new Error(m);
 * ```
 */
export function downloadMessage(
  file: string,
  received: number,
  total: number,
  seconds: number,
): string {
  const mb = (n: number) => (n / 1e6).toFixed(1);
  const rate = seconds > 0 ? received / seconds : 0;
  const speed = rate > 0 ? `${mb(rate)} MB/s` : "";
  if (!total) return `Downloading ${file}: ${mb(received)} MB${speed ? ` (${speed})` : ""}`;
  const left = rate > 0 ? Math.round((total - received) / rate) : -1;
  const eta = left >= 0 ? `ETA ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}` : "";
  const figures = [`${mb(received)}/${mb(total)} MB`, speed, eta].filter((f) => f).join(", ");
  return `Downloading ${file}: ${Math.floor((100 * received) / total)}% (${figures})`;
}

/** One load of one dataset: the options resolved, and the archive unzipped at most once. */
class IdxLoad {
  readonly #config: IdxDatasetConfig;
  readonly #options: IdxLoadOptions;
  readonly #dir: string;
  readonly #report: Report;
  #members?: Promise<Record<string, Uint8Array>>;

  constructor(config: IdxDatasetConfig, options: IdxLoadOptions) {
    this.#config = config;
    this.#options = options;
    this.#dir = idxRawDir(config, options.root);
    this.#report = makeReporter(options.progress);
  }

  fail(why: string, cause?: unknown): never {
    const ErrorClass = this.#config.error ?? IdxDatasetError;
    throw new ErrorClass(`Cannot load ${this.#config.name}: ${why}`, { cause });
  }

  /** A file's bytes, or null when it does not exist; other failures name the file. */
  async #read(path: string): Promise<Uint8Array | null> {
    try {
      return await readIfExists(path);
    } catch (e) {
      return this.fail(`cannot read ${path}: ${describeFsError(e)}`, e);
    }
  }

  /**
   * Checks the root once: a file, missing while downloading is off, or one level too deep (the
   * dataset's own folder) is an error.
   */
  async checkRoot(): Promise<void> {
    const { root } = this.#options;
    const why = await rootProblem(root, this.#options.download ?? true);
    if (why) this.fail(why);
    const { train, test } = this.#config.files, archive = this.#config.archive;
    const names = [train.images, train.labels, test.images, test.labels];
    const files = [...names, ...names.map((n) => `${n}.gz`), ...(archive ? [archive.file] : [])];
    const nested = await nestedRootProblem(root, [this.#config.name, "raw"], files);
    if (nested) this.fail(nested);
  }

  async #download(resource: IdxResource, cachedNote = ""): Promise<Uint8Array> {
    const failures: string[] = [];
    for (const mirror of this.#options.mirrors ?? this.#config.mirrors) {
      const url = new URL(resource.file, mirror).href;
      let body: Uint8Array;
      try {
        body = await fetchBody(this.#options.fetch ?? fetch, url, resource.file, this.#report);
      } catch (e) {
        rethrowIfNotCapable(e); // no net permission: the fix is the permission, not a mirror
        failures.push(`${url} (${errorText(e)})`);
        this.#report(`Downloading ${resource.file} from ${url} failed: ${errorText(e)}`);
        continue;
      }
      const got = md5Hex(body);
      if (got !== resource.md5) {
        this.fail(
          `${cachedNote}checksum mismatch for ${resource.file} from ${url} (expected ` +
            `${resource.md5}, got ${got})`,
        );
      }
      this.#report(`Downloaded ${resource.file} (${(body.length / 1e6).toFixed(1)} MB)`);
      return body;
    }
    return this.fail(
      `${cachedNote}cannot download ${resource.file} from any mirror: ` +
        `${failures.join("; ") || "no mirrors"}; ${offlineHint(this.#config)}`,
    );
  }

  /** A verified downloadable file: from the cache, else downloaded and cached. */
  async #resource(file: string, wanted: string): Promise<Uint8Array> {
    const resource = (this.#options.resources ?? this.#config.resources).find((r) =>
      r.file === file
    );
    if (!resource) return this.fail(`no checksum known for ${file}`);
    const path = join(this.#dir, file);
    const cached = await this.#read(path);
    const cachedMd5 = cached && md5Hex(cached);
    if (cached && cachedMd5 === resource.md5) return cached;
    if (this.#options.download ?? true) {
      const body = await this.#download(resource, cachedMismatch(path, resource.md5, cachedMd5));
      await Deno.mkdir(this.#dir, { recursive: true });
      await writeFileAtomic(path, body);
      return body;
    }
    if (cached) {
      return this.fail(
        `checksum mismatch for ${path} (expected ${resource.md5}, got ${cachedMd5}) and ` +
          `downloading is disabled; delete the file or allow downloading`,
      );
    }
    return this.fail(
      `${join(this.#dir, wanted)} not found and downloading is disabled; pass --data-dir ` +
        `pointing at a directory that contains ${this.#config.name}/raw/, or allow downloading`,
    );
  }

  /** The `.gz` members of the archive that hold the dataset's files. */
  #unzip(archive: { readonly file: string; readonly folder: string }, wanted: string) {
    this.#members ??= this.#resource(archive.file, wanted).then((zip) => {
      const { train, test } = this.#config.files;
      const names = new Set(
        [train.images, train.labels, test.images, test.labels].map((f) =>
          `${archive.folder}${f}.gz`
        ),
      );
      try {
        return unzipSync(zip, { filter: (f) => names.has(f.name) });
      } catch (e) {
        return this.fail(`cannot unzip ${archive.file}: ${errorText(e)}`, e);
      }
    });
    return this.#members;
  }

  /** An extracted file: as found, else extracted from its verified `.gz` (or the archive). */
  async file(name: string): Promise<Uint8Array> {
    const path = join(this.#dir, name);
    const existing = await this.#read(path);
    if (existing) return existing;
    const gzFile = `${name}.gz`, archive = this.#config.archive;
    let gz: Uint8Array;
    if (archive) {
      const member = `${archive.folder}${gzFile}`;
      const found = (await this.#unzip(archive, name))[member];
      if (!found) return this.fail(`${archive.file} has no member ${member}`);
      gz = found;
    } else {
      gz = await this.#resource(gzFile, name);
    }
    let raw: Uint8Array;
    try {
      raw = gunzipSync(gz);
    } catch (e) {
      return this.fail(`cannot decompress ${gzFile}: ${errorText(e)}`, e);
    }
    await writeFileAtomic(path, raw);
    return raw;
  }
}

/**
 * Loads an IDX dataset from `ROOT/<Name>/raw/`, downloading missing files when allowed.
 *
 * Per file: an extracted file is used as is (unverified, as torchvision does); otherwise a cached
 * `.gz` (or archive) with the right MD5 is extracted; otherwise the `.gz` (or archive) is
 * downloaded from each mirror in turn, verified, cached and extracted.
 *
 * @param config The dataset.
 * @param options Where the data lives and how to get it.
 * @returns The train and test sets.
 * @throws {IdxDatasetError} (or the dataset's error class) When a file is missing and cannot be
 * downloaded, a checksum does not match, or a file is malformed.
 * @example
 * ```ts
 * import { loadIdxDataset, writeIdxFiles } from "./idx_download.ts";
 * import { MNIST } from "./mnist.ts";
 * import { syntheticFashionMnist } from "./synthetic.ts";
 * const root = await Deno.makeTempDir();
 * const { resources } = await writeIdxFiles(
 *   MNIST,
 *   root,
 *   syntheticFashionMnist({ train: 3, test: 2, seed: 1 }),
 * );
 * const { test } = await loadIdxDataset(MNIST, { root, download: false, resources });
 * if (test.count !== 2 || test.height !== 28) throw new Error();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function loadIdxDataset(
  config: IdxDatasetConfig,
  options: IdxLoadOptions,
): Promise<IdxSplits> {
  const load = new IdxLoad(config, options);
  await load.checkRoot();
  const split = async (names: IdxSplitFiles) => {
    const images = await load.file(names.images);
    const labels = await load.file(names.labels);
    try {
      return idxToImageSet(
        parseIdx(images, names.images),
        parseIdx(labels, names.labels),
        names,
        [28, 28],
        config.classes,
      );
    } catch (e) {
      const text = errorText(e);
      return load.fail(text.charAt(0).toLowerCase() + text.slice(1), e);
    }
  };
  const train = await split(config.files.train);
  return Object.freeze({ train, test: await split(config.files.test) });
}

/**
 * Writes train and test sets into `ROOT/<Name>/raw/` in torchvision's layout, extracted and
 * gzipped (or, for an archive dataset, zipped into its archive), so that
 * {@linkcode loadIdxDataset} can read them; for tests and offline runs.
 *
 * @param config The dataset whose layout to write.
 * @param root The dataset root.
 * @param sets The sets to write.
 * @returns The directory written and the MD5 sums of the downloadable files written.
 * @example
 * ```ts
 * import { loadIdxDataset, writeIdxFiles } from "./idx_download.ts";
 * import { MNIST } from "./mnist.ts";
 * import { syntheticFashionMnist } from "./synthetic.ts";
 * const root = await Deno.makeTempDir();
 * const { resources } = await writeIdxFiles(
 *   MNIST,
 *   root,
 *   syntheticFashionMnist({ train: 3, test: 2, seed: 1 }),
 * );
 * const { train } = await loadIdxDataset(MNIST, { root, download: false, resources });
 * if (train.count !== 3) throw new Error();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function writeIdxFiles(
  config: IdxDatasetConfig,
  root: string,
  sets: { readonly train: ImageSet; readonly test: ImageSet },
): Promise<{ readonly dir: string; readonly resources: readonly IdxResource[] }> {
  const dir = idxRawDir(config, root);
  await Deno.mkdir(dir, { recursive: true });
  const resources: IdxResource[] = [];
  const members: Record<string, Uint8Array> = {};
  for (const split of ["train", "test"] as const) {
    const set = sets[split], names = config.files[split];
    const files = [
      [names.images, encodeIdx([set.count, set.height, set.width], set.images)],
      [names.labels, encodeIdx([set.count], set.labels)],
    ] as const;
    for (const [name, bytes] of files) {
      const gz = gzipSync(bytes, { level: 1, mtime: 0 });
      await writeFileAtomic(join(dir, name), bytes);
      if (config.archive) {
        members[`${config.archive.folder}${name}.gz`] = gz;
      } else {
        await writeFileAtomic(join(dir, `${name}.gz`), gz);
        resources.push(Object.freeze({ file: `${name}.gz`, md5: md5Hex(gz) }));
      }
    }
  }
  if (config.archive) {
    const zip = zipSync(members, { level: 0, mtime: new Date(1980, 0, 1) });
    await writeFileAtomic(join(dir, config.archive.file), zip);
    resources.push(Object.freeze({ file: config.archive.file, md5: md5Hex(zip) }));
  }
  return Object.freeze({ dir, resources: Object.freeze(resources) });
}
