/**
 * FashionMNIST: download, verify, cache and parse, sharing torchvision's on-disk layout
 * (`ROOT/FashionMNIST/raw/`) so that an existing PyTorch download is reused.
 * @module
 */

import { FASHION_MNIST_CLASSES } from "../dsl/datasets.ts";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "fflate";
import { writeFileAtomic } from "../io/atomic_write.ts";
import { encodeIdx, idxToImageSet, type ImageSet, parseIdx } from "./idx.ts";

export type { ImageSet } from "./idx.ts";

/** A file of the dataset and the MD5 sum of its gzipped form. */
export interface FashionMnistResource {
  /** File name of the gzipped file, e.g. `train-images-idx3-ubyte.gz`. */
  readonly file: string;
  /** Lower-case hex MD5 of the gzipped file. */
  readonly md5: string;
}

/** The four files with torchvision's published MD5 sums (`FashionMNIST.resources`). */
export const FASHION_MNIST_RESOURCES: readonly FashionMnistResource[] = Object.freeze([
  Object.freeze({ file: "train-images-idx3-ubyte.gz", md5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d" }),
  Object.freeze({ file: "train-labels-idx1-ubyte.gz", md5: "25c81989df183df01b3e8a0aad5dffbe" }),
  Object.freeze({ file: "t10k-images-idx3-ubyte.gz", md5: "bef4ecab320f06d8554ea6380940ec79" }),
  Object.freeze({ file: "t10k-labels-idx1-ubyte.gz", md5: "bb300cfdad3c16e7a12a480ee83cd310" }),
]);

/** Download mirrors, tried in order (torchvision's first). */
export const FASHION_MNIST_MIRRORS: readonly string[] = Object.freeze([
  "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
  "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
]);

const FILES = {
  train: { images: "train-images-idx3-ubyte", labels: "train-labels-idx1-ubyte" },
  test: { images: "t10k-images-idx3-ubyte", labels: "t10k-labels-idx1-ubyte" },
} as const;

/** Raised when the dataset cannot be found, downloaded, verified or parsed. */
export class FashionMnistError extends Error {
  override name = "FashionMnistError";
}

/** Options of {@linkcode loadFashionMnist}. */
export interface LoadFashionMnistOptions {
  /** Root directory; files live in `ROOT/FashionMNIST/raw/` as with torchvision. */
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
  /** Files and MD5 sums (default {@linkcode FASHION_MNIST_RESOURCES}); for testing. */
  readonly resources?: readonly FashionMnistResource[];
  /** Mirror base URLs (default {@linkcode FASHION_MNIST_MIRRORS}); for testing. */
  readonly mirrors?: readonly string[];
}

/** The train and test splits. */
export interface FashionMnist {
  /** 60 000 training images. */
  readonly train: ImageSet;
  /** 10 000 test images. */
  readonly test: ImageSet;
}

/**
 * Returns the directory holding the raw files, `ROOT/FashionMNIST/raw`.
 *
 * @param root The dataset root.
 * @returns The directory path.
 */
export function fashionMnistRawDir(root: string): string {
  return join(root, "FashionMNIST", "raw");
}

const fail = (why: string, cause?: unknown): never => {
  throw new FashionMnistError(`Cannot load FashionMNIST: ${why}`, { cause });
};
const md5Hex = (bytes: Uint8Array) => createHash("md5").update(bytes).digest("hex");
const errorText = (e: unknown) => e instanceof Error ? e.message : String(e);

async function readIfExists(path: string): Promise<Uint8Array | null> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

function gunzip(bytes: Uint8Array, file: string): Uint8Array {
  try {
    return gunzipSync(bytes);
  } catch (e) {
    return fail(`cannot decompress ${file}: ${errorText(e)}`, e);
  }
}

type Report = (message: string, done?: boolean) => void;

function makeReporter(progress: LoadFashionMnistOptions["progress"]): Report {
  if (typeof progress === "function") return (message) => progress(message);
  if (!(progress ?? Deno.stderr.isTerminal())) return () => {};
  const encoder = new TextEncoder();
  const live = Deno.stderr.isTerminal();
  return (message, done = true) => {
    const text = live ? `\r\x1b[K${message}${done ? "\n" : ""}` : done ? `${message}\n` : "";
    if (text) Deno.stderr.writeSync(encoder.encode(text));
  };
}

async function fetchBody(fetcher: typeof fetch, url: string, file: string, report: Report) {
  const response = await fetcher(url);
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new Error(`HTTP ${response.status} ${response.statusText}`.trim());
  }
  const total = Number(response.headers.get("content-length")) || 0;
  const chunks: Uint8Array[] = [];
  let received = 0, shown = -1;
  for await (const chunk of response.body) {
    chunks.push(chunk);
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
  const body = new Uint8Array(received);
  chunks.reduce((offset, c) => (body.set(c, offset), offset + c.length), 0);
  return body;
}

async function download(
  resource: FashionMnistResource,
  mirrors: readonly string[],
  fetcher: typeof fetch,
  report: Report,
): Promise<Uint8Array> {
  const failures: string[] = [];
  for (const mirror of mirrors) {
    const url = new URL(resource.file, mirror).href;
    let body: Uint8Array;
    try {
      body = await fetchBody(fetcher, url, resource.file, report);
    } catch (e) {
      failures.push(`${url} (${errorText(e)})`);
      report(`Downloading ${resource.file} from ${url} failed: ${errorText(e)}`);
      continue;
    }
    const got = md5Hex(body);
    if (got !== resource.md5) {
      fail(
        `checksum mismatch for ${resource.file} from ${url} (expected ${resource.md5}, got ${got})`,
      );
    }
    report(`Downloaded ${resource.file} (${(body.length / 1e6).toFixed(1)} MB)`);
    return body;
  }
  return fail(
    `cannot download ${resource.file} from any mirror: ${failures.join("; ") || "no mirrors"}`,
  );
}

async function obtain(
  name: string,
  dir: string,
  options: LoadFashionMnistOptions,
  report: Report,
): Promise<Uint8Array> {
  const path = join(dir, name);
  const existing = await readIfExists(path);
  if (existing) return existing;
  const gzFile = `${name}.gz`, gzPath = join(dir, gzFile);
  const resource = (options.resources ?? FASHION_MNIST_RESOURCES).find((r) => r.file === gzFile);
  if (!resource) return fail(`no checksum known for ${gzFile}`);
  const cached = await readIfExists(gzPath);
  const cachedMd5 = cached && md5Hex(cached);
  let gz: Uint8Array;
  if (cached && cachedMd5 === resource.md5) {
    gz = cached;
  } else if (options.download ?? true) {
    gz = await download(
      resource,
      options.mirrors ?? FASHION_MNIST_MIRRORS,
      options.fetch ?? fetch,
      report,
    );
    await Deno.mkdir(dir, { recursive: true });
    await writeFileAtomic(gzPath, gz);
  } else if (cached) {
    return fail(
      `checksum mismatch for ${gzPath} (expected ${resource.md5}, got ${cachedMd5}) and ` +
        `downloading is disabled; delete the file or allow downloading`,
    );
  } else {
    return fail(
      `${path} not found and downloading is disabled; pass --data-dir pointing at a directory ` +
        `that contains FashionMNIST/raw/, or allow downloading`,
    );
  }
  const raw = gunzip(gz, gzFile);
  await writeFileAtomic(path, raw);
  return raw;
}

/**
 * Loads FashionMNIST from `ROOT/FashionMNIST/raw/`, downloading missing files when allowed.
 *
 * Per file: an extracted file is used as is (unverified, as torchvision does); otherwise a cached
 * `.gz` with the right MD5 is extracted; otherwise the `.gz` is downloaded from each mirror in
 * turn, verified, cached and extracted.
 *
 * @param options Where the data lives and how to get it.
 * @returns The train and test sets.
 * @throws {FashionMnistError} When a file is missing and cannot be downloaded, a checksum does
 * not match, or a file is malformed.
 */
export async function loadFashionMnist(options: LoadFashionMnistOptions): Promise<FashionMnist> {
  const dir = fashionMnistRawDir(options.root);
  const report = makeReporter(options.progress);
  const load = async (split: "train" | "test") => {
    const names = FILES[split];
    const images = await obtain(names.images, dir, options, report);
    const labels = await obtain(names.labels, dir, options, report);
    try {
      return idxToImageSet(
        parseIdx(images, names.images),
        parseIdx(labels, names.labels),
        names,
        [28, 28],
        FASHION_MNIST_CLASSES.length,
      );
    } catch (e) {
      const text = errorText(e);
      return fail(text.charAt(0).toLowerCase() + text.slice(1), e);
    }
  };
  const train = await load("train");
  return Object.freeze({ train, test: await load("test") });
}

/**
 * Writes train and test sets into `ROOT/FashionMNIST/raw/` in torchvision's layout, both
 * extracted and gzipped, so that {@linkcode loadFashionMnist} can read them.
 *
 * @param root The dataset root.
 * @param sets The sets to write.
 * @returns The directory written and the MD5 sums of the `.gz` files written.
 */
export async function writeIdxDataset(
  root: string,
  sets: { readonly train: ImageSet; readonly test: ImageSet },
): Promise<{ readonly dir: string; readonly resources: readonly FashionMnistResource[] }> {
  const dir = fashionMnistRawDir(root);
  await Deno.mkdir(dir, { recursive: true });
  const resources: FashionMnistResource[] = [];
  for (const split of ["train", "test"] as const) {
    const set = sets[split];
    const files = [
      [FILES[split].images, encodeIdx([set.count, set.height, set.width], set.images)],
      [FILES[split].labels, encodeIdx([set.count], set.labels)],
    ] as const;
    for (const [name, bytes] of files) {
      const gz = gzipSync(bytes, { level: 1, mtime: 0 });
      await writeFileAtomic(join(dir, name), bytes);
      await writeFileAtomic(join(dir, `${name}.gz`), gz);
      resources.push(Object.freeze({ file: `${name}.gz`, md5: md5Hex(gz) }));
    }
  }
  return Object.freeze({ dir, resources: Object.freeze(resources) });
}
