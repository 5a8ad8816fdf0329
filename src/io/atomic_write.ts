/**
 * Atomic file writes: a crash at any moment leaves either the old file or the new one, never a
 * torn one.
 * @module
 */
import { dirname } from "node:path";

/**
 * Writes `bytes` to `<path>.tmp`, flushes it to disk (fsync), then renames it over `path`.
 *
 * @param path The destination.
 * @param bytes The contents.
 * @returns Resolves once the file is in place.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  await Deno.mkdir(dirname(path) || ".", { recursive: true });
  const tmp = `${path}.tmp`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.sync();
  } finally {
    file.close();
  }
  await Deno.rename(tmp, path);
}
