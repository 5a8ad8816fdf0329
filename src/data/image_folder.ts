/**
 * Folders of PNG images, one sub-folder per class (torchvision's `ImageFolder`), loaded into
 * {@linkcode ImageSet}s.
 * @module
 */
import { decode } from "fast-png";
import type { ImageFolderDataset } from "../dsl/datasets.ts";
import type { ImageSet } from "./idx.ts";
import { describeFsError } from "../io/atomic_write.ts";

/**
 * Raised when an image folder cannot be read or does not match its declaration.
 *
 * @example
 * ```ts
 * import { ImageFolderError, loadImageFolder } from "./image_folder.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${root}/stray.txt`, "not a class folder");
 * const error = await loadImageFolder(root, [2, 2], 1).catch((e) => e);
 * if (!(error instanceof ImageFolderError)) throw new Error();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class ImageFolderError extends Error {
  /** The error's name. */
  override name = "ImageFolderError";
}

/**
 * An {@linkcode ImageSet} read from an image folder, with its classes' names.
 *
 * @example
 * ```ts
 * import { encode } from "fast-png";
 * import { type ImageFolderSet, loadImageFolder } from "./image_folder.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.mkdir(`${root}/ok`);
 * await Deno.writeFile(
 *   `${root}/ok/a.png`,
 *   encode({ width: 1, height: 1, data: Uint8Array.of(9), channels: 1 }),
 * );
 * const set: ImageFolderSet = await loadImageFolder(root, [1, 1], 1);
 * if (set.files.length !== 1 || set.classNames[0] !== "ok" || set.images[0] !== 9) {
 *   throw new Error();
 * }
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export interface ImageFolderSet extends ImageSet {
  /** The class sub-folders' names, by class index (sorted). */
  readonly classNames: readonly string[];
  /** The image files' paths, image after image (class after class, each class's names sorted). */
  readonly files: readonly string[];
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const join = (dir: string, name: string) => (dir.endsWith("/") ? dir + name : `${dir}/${name}`);

/**
 * PIL's `convert("L")` of an RGB pixel: ITU-R 601-2 luma `0.299 R + 0.587 G + 0.114 B` in 16-bit
 * fixed point, rounded half up (Pillow's `L24(rgb) >> 16`).
 *
 * @param r Red, 0..255.
 * @param g Green, 0..255.
 * @param b Blue, 0..255.
 * @returns The gray value, 0..255.
 * @example
 * ```ts
 * import { rgbToGray } from "./image_folder.ts";
 * if (rgbToGray(255, 0, 0) !== 76 || rgbToGray(255, 255, 255) !== 255) throw new Error();
 * ```
 */
export function rgbToGray(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
}

/**
 * Decodes a PNG file into `channels × height × width` bytes (CHW), converting as PIL's
 * `convert("L")` / `convert("RGB")` do: alpha dropped, palettes looked up, gray repeated into RGB,
 * RGB to gray by {@linkcode rgbToGray}; 16-bit samples keep their high byte, and 1-, 2- and 4-bit
 * gray is scaled to 0..255.
 *
 * @param bytes The whole file.
 * @param name The file's name, for error messages.
 * @param size The expected `[height, width]`.
 * @param channels The channels wanted: 1 (gray) or 3 (RGB).
 * @returns The pixels, channel after channel.
 * @throws {ImageFolderError} When the bytes are not a PNG, cannot be decoded, or the image is not
 * `height × width`.
 * @example
 * ```ts
 * import { encode } from "fast-png";
 * import { decodePng } from "./image_folder.ts";
 * const data = Uint8Array.of(255, 0, 0, 0, 0, 255);
 * const png = encode({ width: 2, height: 1, data, channels: 3 });
 * if (decodePng(png, "a.png", [1, 2], 1).join() !== "76,29") throw new Error();
 * ```
 */
export function decodePng(
  bytes: Uint8Array,
  name: string,
  size: readonly [number, number],
  channels: 1 | 3,
): Uint8Array {
  if (bytes.length < 8 || PNG_SIGNATURE.some((v, i) => bytes[i] !== v)) {
    throw new ImageFolderError(`Cannot read image ${name}: not a PNG file (bad signature)`);
  }
  let png: ReturnType<typeof decode>;
  try {
    png = decode(bytes);
  } catch (e) {
    throw new ImageFolderError(`Cannot decode PNG ${name}: ${(e as Error).message}`);
  }
  const { width, height, depth, palette } = png;
  const [h, w] = size;
  if (height !== h || width !== w) {
    throw new ImageFolderError(
      `Image ${name} is ${height}x${width} (height x width), but the dataset declares ${h}x${w}; ` +
        "images are not resized",
    );
  }
  const n = h * w;
  const src = png.channels;
  const samples = unpack(png.data, depth, src, w, h, palette !== undefined, name);
  // RGB(A) values of each pixel, or gray values when there is no colour.
  const out = new Uint8Array(channels * n);
  const colour = palette !== undefined || src >= 3;
  for (let p = 0; p < n; p++) {
    let r: number, g: number, b: number;
    if (palette !== undefined) {
      const entry = palette[samples[p]];
      if (entry === undefined) {
        throw new ImageFolderError(
          `Cannot decode PNG ${name}: palette index ${samples[p]} beyond its ${palette.length} ` +
            "entries",
        );
      }
      [r, g, b] = entry;
    } else if (colour) {
      r = samples[p * src];
      g = samples[p * src + 1];
      b = samples[p * src + 2];
    } else {
      r = g = b = samples[p * src];
    }
    if (channels === 1) {
      out[p] = colour ? rgbToGray(r, g, b) : r;
    } else {
      out[p] = r;
      out[n + p] = g;
      out[2 * n + p] = b;
    }
  }
  return out;
}

/** The samples as 8-bit values, one per channel per pixel (palette indices left as they are). */
function unpack(
  data: ArrayLike<number>,
  depth: number,
  channels: number,
  w: number,
  h: number,
  indexed: boolean,
  name: string,
): ArrayLike<number> {
  if (depth === 8) return data;
  if (depth === 16) return Uint8Array.from(data as ArrayLike<number>, (v) => v >>> 8);
  if (depth === 1 || depth === 2 || depth === 4) {
    // Rows are packed, most significant bits first, each row padded to a whole byte.
    const rowBytes = Math.ceil((w * channels * depth) / 8);
    const max = (1 << depth) - 1;
    const scale = indexed ? 1 : 255 / max;
    const out = new Uint8Array(w * h * channels);
    for (let y = 0; y < h; y++) {
      for (let i = 0; i < w * channels; i++) {
        const bit = i * depth;
        const byte = data[y * rowBytes + (bit >> 3)];
        out[y * w * channels + i] = ((byte >> (8 - depth - (bit & 7))) & max) * scale;
      }
    }
    return out;
  }
  throw new ImageFolderError(`Cannot decode PNG ${name}: unsupported bit depth ${depth}`);
}

/** The visible entries of a folder, sorted by name; hidden entries (`.name`) are skipped. */
async function listFolder(path: string, what: string): Promise<Deno.DirEntry[]> {
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const e of Deno.readDir(path)) if (!e.name.startsWith(".")) entries.push(e);
  } catch (e) {
    const why = e instanceof Deno.errors.NotADirectory
      ? "it is a file, not a folder"
      : describeFsError(e);
    throw new ImageFolderError(`Cannot read ${what} ${path}: ${why}`, { cause: e });
  }
  return entries.sort((a, b) => byCodeUnit(a.name, b.name));
}

/** Whether an entry is a folder, following symbolic links. */
async function isFolder(path: string, entry: Deno.DirEntry): Promise<boolean> {
  if (!entry.isSymlink) return entry.isDirectory;
  return (await Deno.stat(path)).isDirectory;
}

/**
 * The class sub-folders of an image folder, sorted. Every visible entry must be a folder.
 *
 * @param root The image folder.
 * @returns The class names, sorted by code unit.
 * @throws {ImageFolderError} When the folder cannot be read, holds a visible file, or holds no
 * class folder.
 * @example
 * ```ts
 * import { encode } from "fast-png";
 * const root = await Deno.makeTempDir();
 * for (const [cls, value] of [["cat", 0], ["dog", 255]] as const) {
 *   await Deno.mkdir(`${root}/${cls}`);
 *   const png = encode({ width: 2, height: 2, data: new Uint8Array(4).fill(value), channels: 1 });
 *   await Deno.writeFile(`${root}/${cls}/0.png`, png);
 * }
 * import { findClasses } from "./image_folder.ts";
 * if ((await findClasses(root)).join() !== "cat,dog") throw new Error();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function findClasses(root: string): Promise<string[]> {
  const names: string[] = [];
  for (const e of await listFolder(root, "image folder")) {
    if (!(await isFolder(join(root, e.name), e))) {
      throw new ImageFolderError(
        `Image folder ${root} holds the file ${join(root, e.name)}; it must hold only class ` +
          "folders (hidden files are skipped)",
      );
    }
    names.push(e.name);
  }
  if (names.length === 0) throw new ImageFolderError(`Image folder ${root} has no class folders`);
  return names;
}

/**
 * Loads one image folder: every visible file in each class sub-folder must be a PNG of the given
 * size (hidden files are skipped; nested folders are an error).
 *
 * @param root The image folder.
 * @param size `[height, width]` of every image.
 * @param channels 1 (gray) or 3 (RGB), converted as in {@linkcode decodePng}.
 * @param classNames The class sub-folders, when known (else found with {@linkcode findClasses}).
 * @returns The images, labelled by class index.
 * @throws {ImageFolderError} On an unreadable folder, a non-PNG or corrupt file, a size mismatch,
 * an empty class folder, or more than 256 classes.
 * @example
 * ```ts
 * import { encode } from "fast-png";
 * const root = await Deno.makeTempDir();
 * for (const [cls, value] of [["cat", 0], ["dog", 255]] as const) {
 *   await Deno.mkdir(`${root}/${cls}`);
 *   const png = encode({ width: 2, height: 2, data: new Uint8Array(4).fill(value), channels: 1 });
 *   await Deno.writeFile(`${root}/${cls}/0.png`, png);
 * }
 * import { loadImageFolder } from "./image_folder.ts";
 * const set = await loadImageFolder(root, [2, 2], 1);
 * if (set.count !== 2 || set.classNames.join() !== "cat,dog" || set.images[4] !== 255) {
 *   throw new Error();
 * }
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function loadImageFolder(
  root: string,
  size: readonly [number, number],
  channels: 1 | 3,
  classNames?: readonly string[],
): Promise<ImageFolderSet> {
  const names = classNames ?? await findClasses(root);
  if (names.length > 256) {
    throw new ImageFolderError(
      `Image folder ${root} has ${names.length} classes; at most 256 are supported (labels are ` +
        "bytes)",
    );
  }
  const images: Uint8Array[] = [];
  const labels: number[] = [];
  const files: string[] = [];
  for (const [label, cls] of names.entries()) {
    const dir = join(root, cls);
    const entries = await listFolder(dir, "class folder");
    for (const e of entries) {
      const file = join(dir, e.name);
      if (await isFolder(file, e)) {
        throw new ImageFolderError(
          `Class folder ${dir} holds the folder ${file}; nested folders are not supported`,
        );
      }
      let bytes: Uint8Array;
      try {
        bytes = await Deno.readFile(file);
      } catch (err) {
        throw new ImageFolderError(`Cannot read image ${file}: ${describeFsError(err)}`, {
          cause: err,
        });
      }
      images.push(decodePng(bytes, file, size, channels));
      labels.push(label);
      files.push(file);
    }
    if (entries.length === 0) {
      throw new ImageFolderError(`Class folder ${dir} holds no images`);
    }
  }
  const per = channels * size[0] * size[1];
  const all = new Uint8Array(per * images.length);
  images.forEach((img, i) => all.set(img, i * per));
  return Object.freeze({
    images: all,
    labels: Uint8Array.from(labels),
    count: images.length,
    channels,
    height: size[0],
    width: size[1],
    classes: names.length,
    classNames: Object.freeze([...names]),
    files: Object.freeze(files),
  });
}

/**
 * Loads an image-folder dataset's train and test splits, checking that both hold the same class
 * folders and that they match the declared classes.
 *
 * @param ds The dataset description.
 * @returns The train and test image sets.
 * @throws {ImageFolderError} When the class folders differ between the splits or from the
 * declaration, or on any error of {@linkcode loadImageFolder}.
 * @example
 * ```ts
 * import { encode } from "fast-png";
 * const root = await Deno.makeTempDir();
 * for (const [cls, value] of [["cat", 0], ["dog", 255]] as const) {
 *   await Deno.mkdir(`${root}/${cls}`);
 *   const png = encode({ width: 2, height: 2, data: new Uint8Array(4).fill(value), channels: 1 });
 *   await Deno.writeFile(`${root}/${cls}/0.png`, png);
 * }
 * import { imageFolder } from "../dsl/datasets.ts";
 * import { loadImageFolderDataset } from "./image_folder.ts";
 * const ds = imageFolder({
 *   train: root,
 *   test: root,
 *   imageSize: [2, 2],
 *   channels: 1,
 *   classNames: ["cat", "dog"],
 * });
 * const { train, test } = await loadImageFolderDataset(ds);
 * if (train.count !== 2 || test.labels[1] !== 1) throw new Error();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function loadImageFolderDataset(
  ds: ImageFolderDataset,
): Promise<{ readonly train: ImageFolderSet; readonly test: ImageFolderSet }> {
  const [channels, h, w] = ds.sampleShape;
  const train = await findClasses(ds.train);
  const test = await findClasses(ds.test);
  const onlyTrain = train.filter((c) => !test.includes(c));
  const onlyTest = test.filter((c) => !train.includes(c));
  if (onlyTrain.length || onlyTest.length) {
    const list = (l: string[]) => l.length ? l.map((c) => JSON.stringify(c)).join(", ") : "none";
    throw new ImageFolderError(
      `The class folders of train (${ds.train}) and test (${ds.test}) differ: only in train: ` +
        `${list(onlyTrain)}; only in test: ${list(onlyTest)}`,
    );
  }
  if (ds.classNames && ds.classNames.join("\0") !== train.join("\0")) {
    throw new ImageFolderError(
      `The class folders of ${ds.train} are ${JSON.stringify(train)}, but the dataset declares ` +
        `${JSON.stringify(ds.classNames)}`,
    );
  }
  if (train.length !== ds.classes) {
    throw new ImageFolderError(
      `${ds.train} has ${train.length} class folders (${JSON.stringify(train)}), but the dataset ` +
        `declares ${ds.classes} classes`,
    );
  }
  const size = [h, w] as const;
  return Object.freeze({
    train: await loadImageFolder(ds.train, size, channels as 1 | 3, train),
    test: await loadImageFolder(ds.test, size, channels as 1 | 3, test),
  });
}
