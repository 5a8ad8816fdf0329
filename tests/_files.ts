/** Test helpers for dataset files: temporary folders, listings, image-set comparison. @module */
import type { ImageSet } from "../src/data/idx.ts";
import { assert } from "./_assert.ts";

/** Runs `fn` with a fresh temporary folder, removed afterwards. */
export async function withTempDir(
  fn: (dir: string) => Promise<void>,
  prefix = "onnxtrain_data_",
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The names in a folder, sorted. */
export const listDir = (dir: string): string[] =>
  [...Deno.readDirSync(dir)].map((e) => e.name).sort();

/**
 * Asserts two image sets hold the same counts, sizes, pixels and labels, and class counts unless
 * `classes` is false (a generated stand-in may declare another class count than the real set).
 */
export function assertSameSet(
  actual: ImageSet,
  expected: ImageSet,
  { classes = true }: { readonly classes?: boolean } = {},
): void {
  const dims = (s: ImageSet) => [s.count, s.height, s.width, ...(classes ? [s.classes] : [])];
  assert.deepEqual(dims(actual), dims(expected));
  assert.deepEqual(actual.images, expected.images);
  assert.deepEqual(actual.labels, expected.labels);
}
