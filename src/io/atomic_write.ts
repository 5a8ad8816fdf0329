/**
 * Atomic file writes: a crash at any moment leaves either the old file or the new one, never a
 * torn one; a failed write (a full disk, a folder where the file should be) leaves the old file
 * as it was and no temporary file behind.
 * @module
 */
import { basename, dirname, join } from "node:path";

/** A file that could not be written; the message names it and says why. */
export class FileWriteError extends Error {
  /** The file that was to be written. */
  readonly path: string;
  /**
   * Creates the error.
   *
   * @param path The file.
   * @param message What failed, naming the file.
   * @param options The underlying error as `cause`.
   */
  constructor(path: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FileWriteError";
    this.path = path;
  }
}

/**
 * A temporary file name next to `path`, unique to this process and call
 * (`<path>.<pid>-<random>.tmp`), so that two runs writing or downloading into the same folder at
 * once never share one.
 *
 * @param path The destination.
 * @returns The temporary file's path, in the same folder (so that the rename is atomic).
 */
export function tempPathFor(path: string): string {
  const random = crypto.getRandomValues(new Uint32Array(2));
  const tag = `${Deno.pid}-${random[0].toString(36)}${random[1].toString(36)}`;
  return join(dirname(path) || ".", `${basename(path)}.${tag}.tmp`);
}

/**
 * Says why a file system operation failed, in words: `the disk is full`, `permission denied`, …
 *
 * @param e The error thrown.
 * @returns A short reason (the error's own message where no plainer one is known).
 */
export function describeFsError(e: unknown): string {
  const code = (e as { code?: string } | null)?.code;
  if (code === "ENOSPC") return "the disk is full (no space left on device)";
  if (code === "EDQUOT") return "the disk quota is exceeded";
  if (code === "EROFS") return "the file system is read-only";
  if (e instanceof Deno.errors.NotFound) return "no such file or folder";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "it is a folder";
  if (e instanceof Deno.errors.NotADirectory) return "a part of the path is a file, not a folder";
  return e instanceof Error ? e.message : String(e);
}

/** Options of {@linkcode writeFileAtomic}. */
export interface AtomicWriteOptions {
  /**
   * Writes some bytes to the open temporary file and returns how many were written (default
   * `file.write`); injectable so that tests can simulate a full disk.
   */
  readonly write?: (file: Deno.FsFile, bytes: Uint8Array) => Promise<number>;
}

/**
 * Writes `bytes` to a temporary file next to `path` (unique per process and call, see
 * {@linkcode tempPathFor}), flushes it to disk (fsync), then renames it over `path`. Creates the
 * folder when missing. On failure the temporary file is removed and an existing file at `path`
 * is left as it was.
 *
 * @param path The destination.
 * @param bytes The contents.
 * @param options A replacement `write` (for tests).
 * @returns Resolves once the file is in place.
 * @throws {FileWriteError} Naming the path and why it could not be written (`the disk is full`, …).
 */
export async function writeFileAtomic(
  path: string,
  bytes: Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const fail = (e: unknown): never => {
    throw new FileWriteError(path, `Cannot write ${path}: ${describeFsError(e)}`, { cause: e });
  };
  try {
    if ((await Deno.stat(path)).isDirectory) fail(new Deno.errors.IsADirectory());
  } catch (e) {
    if (e instanceof FileWriteError) throw e;
    if (!(e instanceof Deno.errors.NotFound)) fail(e);
  }
  try {
    await Deno.mkdir(dirname(path) || ".", { recursive: true });
  } catch (e) {
    fail(e);
  }
  const tmp = tempPathFor(path);
  const write = options.write ?? ((file: Deno.FsFile, chunk: Uint8Array) => file.write(chunk));
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true });
    try {
      let written = 0;
      while (written < bytes.length) {
        const n = await write(file, bytes.subarray(written));
        if (n <= 0) throw new Deno.errors.WriteZero(`wrote 0 of ${bytes.length - written} bytes`);
        written += n;
      }
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    fail(e);
  }
}
