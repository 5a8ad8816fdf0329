/**
 * A small reader and writer of tar archives, written by hand for CIFAR-10's
 * `cifar-10-binary.tar.gz` (no npm package needed beyond fflate's gunzip).
 *
 * An archive is a sequence of 512-byte blocks: each member is a header block (POSIX ustar: name,
 * octal mode, size and mtime, a checksum, a type flag, the `ustar` magic and a name prefix) and
 * its data padded to whole blocks; two zero blocks end the archive. The reader also accepts GNU
 * tar's variant (`ustar  ` magic, `L` long-name members, base-256 sizes) and POSIX pax `x`
 * headers (their `path` and `size` records); global `g` headers and GNU `K` long links are
 * skipped.
 * @module
 */
import { UserRangeError } from "../util/user_error.ts";

/**
 * One member of a tar archive.
 *
 * @example
 * ```ts
 * import { encodeTar, readTar, type TarEntry } from "./tar.ts";
 * const [entry]: TarEntry[] = readTar(
 *   encodeTar([{ name: "x.bin", data: Uint8Array.of(1, 2, 3) }]),
 * );
 * if (entry.type !== "0" || entry.data.length !== 3) throw new Error();
 * ```
 */
export interface TarEntry {
  /** The member's path, e.g. `cifar-10-batches-bin/data_batch_1.bin` (directories end in `/`). */
  readonly name: string;
  /** The type flag: `"0"` regular file, `"5"` directory, `"2"` symbolic link, … */
  readonly type: string;
  /** The member's contents (a view into the archive bytes; empty for non-files). */
  readonly data: Uint8Array;
}

/**
 * Raised when bytes are not a well-formed tar archive.
 *
 * @example
 * ```ts
 * import { readTar, TarFormatError } from "./tar.ts";
 * let caught: unknown;
 * try {
 *   readTar(new Uint8Array(100));
 * } catch (e) {
 *   caught = e;
 * }
 * if (!(caught instanceof TarFormatError)) throw new Error();
 * ```
 */
export class TarFormatError extends Error {
  /** The error's name. */
  override name = "TarFormatError";
}

const BLOCK = 512;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A NUL-terminated string field. */
function text(block: Uint8Array, at: number, length: number): string {
  const field = block.subarray(at, at + length);
  const end = field.indexOf(0);
  return decoder.decode(end < 0 ? field : field.subarray(0, end));
}

/** An octal number field (spaces and NULs around it allowed), or GNU's base-256 form. */
function number(block: Uint8Array, at: number, length: number, what: string, offset: number) {
  if (block[at] & 0x80) {
    let value = block[at] & 0x3f;
    for (let i = 1; i < length; i++) value = value * 256 + block[at + i];
    return value;
  }
  const field = text(block, at, length).trim();
  if (!/^[0-7]*$/.test(field)) {
    throw new TarFormatError(
      `Cannot read tar archive: header at offset ${offset} has a ${what} that is not an octal ` +
        `number (${JSON.stringify(field)})`,
    );
  }
  return field ? parseInt(field, 8) : 0;
}

/** The checksum as ustar defines it: the header's bytes summed, the checksum field as spaces. */
function checksum(block: Uint8Array, signed: boolean): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 32 : block[i];
    sum += signed && v > 127 ? v - 256 : v;
  }
  return sum;
}

/** The `path` and `size` records of a pax extended header (`"<length> <key>=<value>\n"`). */
function paxRecords(data: Uint8Array, offset: number): Map<string, string> {
  const records = new Map<string, string>();
  for (let at = 0; at < data.length;) {
    const space = data.indexOf(0x20, at);
    const length = space < 0 ? NaN : Number(decoder.decode(data.subarray(at, space)));
    if (!Number.isInteger(length) || length <= space - at || at + length > data.length) {
      throw new TarFormatError(
        `Cannot read tar archive: malformed pax record at byte ${at} of the extended header at ` +
          `offset ${offset}`,
      );
    }
    const record = decoder.decode(data.subarray(space + 1, at + length - 1));
    const eq = record.indexOf("=");
    if (eq > 0) records.set(record.slice(0, eq), record.slice(eq + 1));
    at += length;
  }
  return records;
}

/**
 * Reads the members of an (uncompressed) tar archive. Reading stops at the first zero block (the
 * end-of-archive marker) or at the end of the bytes.
 *
 * @param bytes The archive.
 * @returns The members in archive order, their data viewing `bytes`.
 * @throws {TarFormatError} When a header is truncated, its checksum or a number field is wrong,
 * or a member's data runs past the end of the archive; the message gives the byte offset.
 * @example
 * ```ts
 * import { encodeTar, readTar } from "./tar.ts";
 * const tar = encodeTar([{ name: "a/b.txt", data: new TextEncoder().encode("hi") }]);
 * const [entry] = readTar(tar);
 * if (entry.name !== "a/b.txt" || entry.type !== "0" || entry.data.length !== 2) throw new Error();
 * ```
 */
export function readTar(bytes: Uint8Array): TarEntry[] {
  const entries: TarEntry[] = [];
  let longName: string | null = null, pax: Map<string, string> | null = null;
  for (let offset = 0; offset < bytes.length;) {
    if (bytes.length - offset < BLOCK) {
      throw new TarFormatError(
        `Cannot read tar archive: truncated header at offset ${offset} (${
          bytes.length - offset
        } of 512 bytes)`,
      );
    }
    const block = bytes.subarray(offset, offset + BLOCK);
    if (block.every((b) => b === 0)) break;
    const stored = number(block, 148, 8, "checksum", offset);
    if (stored !== checksum(block, false) && stored !== checksum(block, true)) {
      throw new TarFormatError(
        `Cannot read tar archive: header at offset ${offset} has a bad checksum (stored ` +
          `${stored}, computed ${checksum(block, false)})`,
      );
    }
    const type = String.fromCharCode(block[156] || 0x30);
    const paxSize = pax?.get("size");
    const size = paxSize !== undefined && /^\d+$/.test(paxSize)
      ? Number(paxSize)
      : number(block, 124, 12, "size", offset);
    const start = offset + BLOCK;
    if (start + size > bytes.length) {
      throw new TarFormatError(
        `Cannot read tar archive: member at offset ${offset} needs ${size} bytes of data, only ` +
          `${bytes.length - start} remain`,
      );
    }
    const data = bytes.subarray(start, start + size);
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
    if (type === "L") {
      longName = text(data, 0, data.length);
      continue;
    }
    if (type === "x") {
      pax = paxRecords(data, start - BLOCK);
      continue;
    }
    if (type === "g" || type === "K") continue;
    const posix = text(block, 257, 6) === "ustar" && block[262] === 0;
    const prefix = posix ? text(block, 345, 155) : "";
    const name = pax?.get("path") ?? longName ??
      (prefix ? `${prefix}/${text(block, 0, 100)}` : text(block, 0, 100));
    const isFile = type === "0" || type === "7";
    entries.push(Object.freeze({ name, type, data: isFile ? data : data.subarray(0, 0) }));
    longName = null;
    pax = null;
  }
  return entries;
}

/**
 * Writes a POSIX ustar archive (mode 0644 for files and 0755 for directories, mtime 0, owner 0),
 * ending with two zero blocks; for tests and generated data.
 *
 * @param entries The members: a name ending in `/` (and no data) is a directory.
 * @returns The archive bytes.
 * @throws {RangeError} When a name is longer than 100 bytes.
 * @example
 * ```ts
 * import { encodeTar, readTar } from "./tar.ts";
 * const tar = encodeTar([{ name: "dir/" }, { name: "dir/a.txt", data: Uint8Array.of(104, 105) }]);
 * if (tar.length % 512 !== 0) throw new Error();
 * const [d, f] = readTar(tar);
 * if (d.type !== "5" || f.name !== "dir/a.txt" || f.data[1] !== 105) throw new Error();
 * ```
 */
export function encodeTar(
  entries: readonly { readonly name: string; readonly data?: Uint8Array }[],
): Uint8Array {
  const size = entries.reduce(
    (n, e) => n + BLOCK + Math.ceil((e.data?.length ?? 0) / BLOCK) * BLOCK,
    2 * BLOCK,
  );
  const out = new Uint8Array(size);
  let offset = 0;
  for (const { name, data = new Uint8Array(0) } of entries) {
    const nameBytes = encoder.encode(name);
    if (nameBytes.length > 100) {
      throw new UserRangeError(
        `Cannot encode tar archive: the name ${name} is ${nameBytes.length} bytes long ` +
          `(at most 100)`,
      );
    }
    const block = out.subarray(offset, offset + BLOCK);
    const isDir = name.endsWith("/");
    const field = (at: number, value: string) => block.set(encoder.encode(value), at);
    block.set(nameBytes, 0);
    field(100, isDir ? "0000755\0" : "0000644\0");
    field(108, "0000000\0");
    field(116, "0000000\0");
    field(124, `${data.length.toString(8).padStart(11, "0")}\0`);
    field(136, "00000000000\0");
    field(156, isDir ? "5" : "0");
    field(257, "ustar\x0000");
    field(148, `${checksum(block, false).toString(8).padStart(6, "0")}\0 `);
    out.set(data, offset + BLOCK);
    offset += BLOCK + Math.ceil(data.length / BLOCK) * BLOCK;
  }
  return out;
}
