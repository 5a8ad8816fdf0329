/**
 * Datasets of IDX files (MNIST and its relatives): download from mirrors, verify MD5 sums, cache
 * and parse, sharing torchvision's on-disk layout (`ROOT/<Name>/raw/`) so that an existing
 * PyTorch download is reused. Each dataset is one {@linkcode IdxDatasetConfig}.
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { gunzipSync, gzipSync, unzipSync, zipSync } from "fflate";
import { writeFileAtomic } from "../io/atomic_write.ts";
import { encodeIdx, idxToImageSet, type ImageSet, parseIdx } from "./idx.ts";

/** A downloadable file of a dataset and the MD5 sum torchvision publishes for it. */
export interface IdxResource {
  /** File name, e.g. `train-images-idx3-ubyte.gz`. */
  readonly file: string;
  /** Lower-case hex MD5 of the file. */
  readonly md5: string;
}

/** The extracted IDX files of one split. */
export interface IdxSplitFiles {
  /** The images file (`[n, 28, 28]` unsigned bytes), e.g. `train-images-idx3-ubyte`. */
  readonly images: string;
  /** The labels file (`[n]` unsigned bytes), e.g. `train-labels-idx1-ubyte`. */
  readonly labels: string;
}

/**
 * Where a dataset's IDX files come from: one `.gz` per file (MNIST, FashionMNIST, KMNIST), or,
 * with `archive`, one ZIP archive holding a `.gz` per file (EMNIST's `gzip.zip`).
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

/** The file names MNIST, FashionMNIST and KMNIST share (`train-*` and `t10k-*`). */
export const MNIST_FILES: IdxDatasetConfig["files"] = Object.freeze({
  train: Object.freeze({ images: "train-images-idx3-ubyte", labels: "train-labels-idx1-ubyte" }),
  test: Object.freeze({ images: "t10k-images-idx3-ubyte", labels: "t10k-labels-idx1-ubyte" }),
});

/** Raised when a dataset cannot be found, downloaded, verified or parsed. */
export class IdxDatasetError extends Error {
  override name = "IdxDatasetError";
}

/** How to find and download a dataset's files. */
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

/** A dataset's train and test splits. */
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
  let body = new Uint8Array(total || 1 << 20), received = 0, shown = -1;
  for await (const chunk of response.body) {
    if (received + chunk.length > body.length) {
      const grown = new Uint8Array(Math.max(2 * body.length, received + chunk.length));
      grown.set(body.subarray(0, received));
      body = grown;
    }
    body.set(chunk, received);
    received += chunk.length;
    const percent = total ? Math.floor((100 * received) / total) : -1;
    if (percent !== shown || !total) {
      shown = percent;
      const mb = (n: number) => (n / 1e6).toFixed(1);
      report(
        total
          ? `Downloading ${file}: ${percent}% (${mb(received)}/${mb(total)} MB)`
          : `Downloading ${file}: ${mb(received)} MB`,
        false,
      );
    }
  }
  return received === body.length ? body : body.slice(0, received);
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

  async #download(resource: IdxResource): Promise<Uint8Array> {
    const failures: string[] = [];
    for (const mirror of this.#options.mirrors ?? this.#config.mirrors) {
      const url = new URL(resource.file, mirror).href;
      let body: Uint8Array;
      try {
        body = await fetchBody(this.#options.fetch ?? fetch, url, resource.file, this.#report);
      } catch (e) {
        failures.push(`${url} (${errorText(e)})`);
        this.#report(`Downloading ${resource.file} from ${url} failed: ${errorText(e)}`);
        continue;
      }
      const got = md5Hex(body);
      if (got !== resource.md5) {
        this.fail(
          `checksum mismatch for ${resource.file} from ${url} (expected ${resource.md5}, ` +
            `got ${got})`,
        );
      }
      this.#report(`Downloaded ${resource.file} (${(body.length / 1e6).toFixed(1)} MB)`);
      return body;
    }
    return this.fail(
      `cannot download ${resource.file} from any mirror: ${failures.join("; ") || "no mirrors"}`,
    );
  }

  /** A verified downloadable file: from the cache, else downloaded and cached. */
  async #resource(file: string, wanted: string): Promise<Uint8Array> {
    const resource = (this.#options.resources ?? this.#config.resources).find((r) =>
      r.file === file
    );
    if (!resource) return this.fail(`no checksum known for ${file}`);
    const path = join(this.#dir, file);
    const cached = await readIfExists(path);
    const cachedMd5 = cached && md5Hex(cached);
    if (cached && cachedMd5 === resource.md5) return cached;
    if (this.#options.download ?? true) {
      const body = await this.#download(resource);
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
    const existing = await readIfExists(path);
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
 */
export async function loadIdxDataset(
  config: IdxDatasetConfig,
  options: IdxLoadOptions,
): Promise<IdxSplits> {
  const load = new IdxLoad(config, options);
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
