/**
 * CIFAR-10, binary version: download `cifar-10-binary.tar.gz` (MD5-checked, cached in the root),
 * extract it into `ROOT/cifar-10-batches-bin/` (the archive's own folder) with fflate's gunzip and
 * the tar reader of `tar.ts`, and parse the batch files.
 *
 * Each batch file (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`) holds 10 000
 * records of 3073 bytes: one label byte (0–9), then 3072 pixel bytes — the 1024 red values, the
 * 1024 green, the 1024 blue, each plane row by row — so an image is `[3, 32, 32]` (CHW) as stored.
 * (torchvision reads the python version, `cifar-10-batches-py`, whose pickles need Python.)
 * @module
 */

import { join } from "node:path";
import { gunzipSync } from "fflate";
import { describeFsError, writeFileAtomic } from "../io/atomic_write.ts";
import { CIFAR10_CLASSES } from "../dsl/datasets.ts";
import type { ImageSet } from "./idx.ts";
import {
  cachedMismatch,
  errorText,
  fetchBody,
  type IdxLoadOptions,
  type IdxResource,
  type IdxSplits,
  makeReporter,
  md5Hex,
  nestedRootProblem,
  readIfExists,
  type Report,
  rootProblem,
} from "./idx_download.ts";
import { rethrowIfNotCapable } from "../util/permission_error.ts";
import { readTar } from "./tar.ts";

/**
 * The archive and the MD5 sum published on the dataset's page (binary version).
 *
 * @example
 * ```ts
 * import { CIFAR10_ARCHIVE } from "./cifar10.ts";
 * if (CIFAR10_ARCHIVE.file !== "cifar-10-binary.tar.gz" || CIFAR10_ARCHIVE.md5.length !== 32) {
 *   throw new Error();
 * }
 * ```
 */
export const CIFAR10_ARCHIVE: IdxResource = Object.freeze({
  file: "cifar-10-binary.tar.gz",
  md5: "c32a1d4ab5d03f1284b67883e8d87530",
});

/**
 * Download base URLs, tried in order: the dataset authors' site.
 *
 * @example
 * ```ts
 * import { CIFAR10_MIRRORS } from "./cifar10.ts";
 * if (!CIFAR10_MIRRORS[0].startsWith("https://www.cs.toronto.edu/")) throw new Error();
 * ```
 */
export const CIFAR10_MIRRORS: readonly string[] = Object.freeze([
  "https://www.cs.toronto.edu/~kriz/",
]);

/**
 * The folder the archive extracts to, under the root.
 *
 * @example
 * ```ts
 * import { CIFAR10_FOLDER } from "./cifar10.ts";
 * if (CIFAR10_FOLDER !== "cifar-10-batches-bin") throw new Error();
 * ```
 */
export const CIFAR10_FOLDER = "cifar-10-batches-bin";

/**
 * The batch files of each split, in the order their records are concatenated.
 *
 * @example
 * ```ts
 * import { CIFAR10_FILES } from "./cifar10.ts";
 * if (CIFAR10_FILES.train.length !== 5 || CIFAR10_FILES.test[0] !== "test_batch.bin") {
 *   throw new Error();
 * }
 * ```
 */
export const CIFAR10_FILES: {
  readonly train: readonly string[];
  readonly test: readonly string[];
} = Object.freeze({
  train: Object.freeze([1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`)),
  test: Object.freeze(["test_batch.bin"]),
});

/**
 * Bytes per record: one label byte and a 3×32×32 image.
 *
 * @example
 * ```ts
 * import { CIFAR10_RECORD_BYTES } from "./cifar10.ts";
 * if (CIFAR10_RECORD_BYTES !== 3073) throw new Error();
 * ```
 */
export const CIFAR10_RECORD_BYTES: number = 1 + 3 * 32 * 32;

/**
 * Raised when CIFAR-10 cannot be found, downloaded, verified, extracted or parsed.
 *
 * @example
 * ```ts
 * import { Cifar10Error, parseCifar10 } from "./cifar10.ts";
 * let caught: unknown;
 * try {
 *   parseCifar10([{ name: "data_batch_1.bin", bytes: new Uint8Array(10) }]);
 * } catch (e) {
 *   caught = e;
 * }
 * if (!(caught instanceof Cifar10Error)) throw new Error();
 * ```
 */
export class Cifar10Error extends Error {
  /** The error's name. */
  override name = "Cifar10Error";
}

function fail(why: string, cause?: unknown): never {
  throw new Cifar10Error(`Cannot load CIFAR-10: ${why}`, { cause });
}

/** A file's bytes, or null when it does not exist; other failures name the file. */
async function read(path: string): Promise<Uint8Array | null> {
  try {
    return await readIfExists(path);
  } catch (e) {
    return fail(`cannot read ${path}: ${describeFsError(e)}`, e);
  }
}

/**
 * Returns the directory holding the extracted batch files, `ROOT/cifar-10-batches-bin`.
 *
 * @param root The dataset root.
 * @returns The directory path.
 * @example
 * ```ts
 * import { cifar10Dir } from "./cifar10.ts";
 * if (cifar10Dir("data") !== "data/cifar-10-batches-bin") throw new Error();
 * ```
 */
export function cifar10Dir(root: string): string {
  return join(root, CIFAR10_FOLDER);
}

/**
 * Parses batch files into one image set, their records concatenated in the given order.
 *
 * @param files The batch files' names (for messages) and bytes.
 * @returns The images (`channels` 3, 32×32, CHW bytes) and labels.
 * @throws {Cifar10Error} When a file is empty or not a whole number of 3073-byte records, or a
 * label is not below 10; the message names the file (and the record).
 * @example
 * ```ts
 * import { parseCifar10 } from "./cifar10.ts";
 * const record = new Uint8Array(3073).fill(200);
 * record[0] = 7;
 * const set = parseCifar10([{ name: "test_batch.bin", bytes: record }]);
 * if (set.count !== 1 || set.labels[0] !== 7 || set.images[3071] !== 200) throw new Error();
 * ```
 */
export function parseCifar10(
  files: readonly { readonly name: string; readonly bytes: Uint8Array }[],
): ImageSet {
  const pixels = CIFAR10_RECORD_BYTES - 1, classes = CIFAR10_CLASSES.length;
  let count = 0;
  for (const { name, bytes } of files) {
    if (bytes.length === 0 || bytes.length % CIFAR10_RECORD_BYTES !== 0) {
      fail(
        `${name} has ${bytes.length} bytes, not a whole positive number of ` +
          `${CIFAR10_RECORD_BYTES}-byte records (1 label byte and 3072 pixel bytes each)`,
      );
    }
    count += bytes.length / CIFAR10_RECORD_BYTES;
  }
  const images = new Uint8Array(count * pixels), labels = new Uint8Array(count);
  let n = 0;
  for (const { name, bytes } of files) {
    for (let r = 0, at = 0; at < bytes.length; r++, n++, at += CIFAR10_RECORD_BYTES) {
      if (bytes[at] >= classes) {
        fail(`${name}: label ${bytes[at]} of record ${r} is not below the class count ${classes}`);
      }
      labels[n] = bytes[at];
      images.set(bytes.subarray(at + 1, at + CIFAR10_RECORD_BYTES), n * pixels);
    }
  }
  return Object.freeze({ images, labels, count, channels: 3, height: 32, width: 32, classes });
}

/** The verified archive: cached in the root, else downloaded (when allowed) and cached. */
async function archive(options: IdxLoadOptions, report: Report): Promise<Uint8Array> {
  const resource = (options.resources ?? [CIFAR10_ARCHIVE]).find((r) =>
    r.file === CIFAR10_ARCHIVE.file
  );
  if (!resource) return fail(`no checksum known for ${CIFAR10_ARCHIVE.file}`);
  const path = join(options.root, resource.file);
  const cached = await read(path);
  const cachedMd5 = cached && md5Hex(cached);
  if (cached && cachedMd5 === resource.md5) return cached;
  if (!(options.download ?? true)) {
    if (cached) {
      fail(
        `checksum mismatch for ${path} (expected ${resource.md5}, got ${cachedMd5}) and ` +
          `downloading is disabled; delete the file or allow downloading`,
      );
    }
    fail(
      `${cifar10Dir(options.root)} lacks batch files, ${path} not found, and downloading is ` +
        `disabled; pass --data-dir pointing at a directory that contains ${CIFAR10_FOLDER}/, ` +
        `or allow downloading`,
    );
  }
  const cachedNote = cachedMismatch(path, resource.md5, cachedMd5);
  const failures: string[] = [];
  for (const mirror of options.mirrors ?? CIFAR10_MIRRORS) {
    const url = new URL(resource.file, mirror).href;
    let body: Uint8Array;
    try {
      body = await fetchBody(options.fetch ?? fetch, url, resource.file, report);
    } catch (e) {
      rethrowIfNotCapable(e); // no net permission: the fix is the permission, not a mirror
      failures.push(`${url} (${errorText(e)})`);
      report(`Downloading ${resource.file} from ${url} failed: ${errorText(e)}`);
      continue;
    }
    const got = md5Hex(body);
    if (got !== resource.md5) {
      fail(
        `${cachedNote}checksum mismatch for ${resource.file} from ${url} (expected ` +
          `${resource.md5}, got ${got})`,
      );
    }
    report(`Downloaded ${resource.file} (${(body.length / 1e6).toFixed(1)} MB)`);
    await Deno.mkdir(options.root, { recursive: true });
    await writeFileAtomic(path, body);
    return body;
  }
  return fail(
    `${cachedNote}cannot download ${resource.file} from any mirror: ` +
      `${failures.join("; ") || "no mirrors"}; ${CIFAR10_OFFLINE_HINT}`,
  );
}

/** What a failed download message ends with: the layout of an existing copy. */
const CIFAR10_OFFLINE_HINT = "to train without downloading, pass --data-dir ROOT where " +
  `ROOT/${CIFAR10_FOLDER}/ holds ${CIFAR10_FILES.train.join(", ")} and ` +
  `${CIFAR10_FILES.test.join(", ")} (the binary version), or ROOT/${CIFAR10_ARCHIVE.file} is ` +
  "the archive itself";

/**
 * Extracts the archive's files of `cifar-10-batches-bin/` that are missing on disk, and returns
 * them by name. Members outside that folder (or in subfolders of it) are ignored.
 */
async function extract(
  options: IdxLoadOptions,
  report: Report,
  wanted: readonly string[],
): Promise<Map<string, Uint8Array>> {
  const gz = await archive(options, report);
  const file = CIFAR10_ARCHIVE.file;
  let entries;
  try {
    entries = readTar(gunzipSync(gz));
  } catch (e) {
    return fail(`cannot extract ${file}: ${errorText(e)}`, e);
  }
  const members = new Map<string, Uint8Array>();
  const pattern = new RegExp(`^(?:\\./)?${CIFAR10_FOLDER}/([^/]+)$`);
  for (const entry of entries) {
    const name = entry.name.match(pattern)?.[1];
    if (name && name !== "." && name !== ".." && (entry.type === "0" || entry.type === "7")) {
      members.set(name, entry.data);
    }
  }
  const absent = wanted.filter((name) => !members.has(name));
  if (absent.length) {
    fail(`${file} has no member ${absent.map((n) => `${CIFAR10_FOLDER}/${n}`).join(", ")}`);
  }
  const dir = cifar10Dir(options.root);
  await Deno.mkdir(dir, { recursive: true });
  for (const [name, data] of members) {
    if (!(await readIfExists(join(dir, name)))) await writeFileAtomic(join(dir, name), data);
  }
  report(`Extracted ${members.size} files of ${file} into ${dir}`);
  return members;
}

/**
 * Loads CIFAR-10 (binary version) from `ROOT/cifar-10-batches-bin/`.
 *
 * Extracted batch files are used as they are (unverified, as torchvision does). When one is
 * missing, `ROOT/cifar-10-binary.tar.gz` is used if its MD5 matches; otherwise it is downloaded
 * from each mirror in turn (when allowed), verified and cached there. The archive is then
 * gunzipped, and its files in `cifar-10-batches-bin/` that are missing on disk are written there.
 *
 * `options.resources` may replace the archive's MD5 (`{ file: "cifar-10-binary.tar.gz", md5 }`)
 * and `options.mirrors` the download URLs; for tests.
 *
 * @param options Where the data lives and how to get it.
 * @returns 50 000 training images (the five data batches in order) and 10 000 test images, each
 * `[3, 32, 32]`.
 * @throws {Cifar10Error} When a file is missing and cannot be downloaded, the archive's checksum
 * does not match, the archive is malformed or lacks a batch file, or a batch file is malformed.
 * @example
 * ```ts
 * import { CIFAR10_FILES, cifar10Dir, loadCifar10 } from "./cifar10.ts";
 * // Offline: one record per batch file in the extracted folder.
 * const root = await Deno.makeTempDir();
 * const dir = cifar10Dir(root);
 * await Deno.mkdir(dir, { recursive: true });
 * for (const name of [...CIFAR10_FILES.train, ...CIFAR10_FILES.test]) {
 *   await Deno.writeFile(`${dir}/${name}`, new Uint8Array(3073));
 * }
 * const { train, test } = await loadCifar10({ root, download: false });
 * if (train.count !== 5 || test.count !== 1 || train.channels !== 3) throw new Error();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function loadCifar10(options: IdxLoadOptions): Promise<IdxSplits> {
  const rootWhy = await rootProblem(options.root, options.download ?? true);
  if (rootWhy) fail(rootWhy);
  const dir = cifar10Dir(options.root);
  const wanted = [...CIFAR10_FILES.train, ...CIFAR10_FILES.test];
  // One level too deep (ROOT/cifar-10-batches-bin given as the root), before any download.
  const nested = await nestedRootProblem(options.root, [CIFAR10_FOLDER], wanted);
  if (nested) fail(nested);
  const files = new Map<string, Uint8Array>();
  for (const name of wanted) {
    const bytes = await read(join(dir, name));
    if (bytes) files.set(name, bytes);
  }
  if (files.size < wanted.length) {
    const members = await extract(options, makeReporter(options.progress), wanted);
    for (const name of wanted) if (!files.has(name)) files.set(name, members.get(name)!);
  }
  const split = (names: readonly string[]) =>
    parseCifar10(names.map((name) => ({ name, bytes: files.get(name)! })));
  return Object.freeze({ train: split(CIFAR10_FILES.train), test: split(CIFAR10_FILES.test) });
}
