/**
 * Checks, before a run starts, that the files and folders it will write can be written: a run
 * that trains for an hour and then cannot save its model or its metrics has lost that hour.
 * @module
 */
import { basename, dirname, join, resolve, sep } from "node:path";
import { describeFsError, tempPathFor } from "./atomic_write.ts";
import { rethrowIfNotCapable } from "../util/permission_error.ts";

/** An output path that cannot be written; the message names the path and the option. */
export class OutputPathError extends Error {
  /** The path checked. */
  readonly path: string;
  /**
   * Creates the error.
   *
   * @param path The path.
   * @param message What is wrong, naming the path and the option.
   */
  constructor(path: string, message: string) {
    super(message);
    this.name = "OutputPathError";
    this.path = path;
  }
}

async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/**
 * Why a folder cannot be created or written, or undefined when it can. `self`: the folder is
 * the output itself (a file there is "it"), not a file's folder. `create`: create it when
 * missing; otherwise a missing folder is checked through its nearest existing ancestor.
 */
async function folderProblem(
  dir: string,
  self: boolean,
  create: boolean,
): Promise<string | undefined> {
  // The nearest existing ancestor tells a file in the way from a folder that can be created.
  let existing = resolve(dir);
  for (;; existing = dirname(existing)) {
    const info = await statOrNull(existing).catch((e) => {
      rethrowIfNotCapable(e);
      return null;
    });
    if (info) {
      if (!info.isDirectory) {
        return self && existing === resolve(dir)
          ? "it is a file, not a folder"
          : `${existing} is a file, not a folder`;
      }
      break;
    }
    if (dirname(existing) === existing) break;
  }
  let where = existing;
  if (create) {
    try {
      await Deno.mkdir(dir, { recursive: true });
    } catch (e) {
      rethrowIfNotCapable(e);
      return `cannot create the folder ${dir}: ${describeFsError(e)}`;
    }
    where = dir;
  }
  const probe = tempPathFor(join(where, ".onnxtrain-write-check"));
  try {
    (await Deno.open(probe, { write: true, createNew: true })).close();
  } catch (e) {
    rethrowIfNotCapable(e);
    return `cannot create files in ${where}: ${describeFsError(e)}`;
  }
  await Deno.remove(probe).catch(() => {});
  return undefined;
}

/**
 * Why a file cannot be written at `path` (atomically: through a temporary file in its folder),
 * or undefined when it can. Creates the file's folder when missing; writes nothing else.
 *
 * @param path The file to be written.
 * @returns The reason, such as `it is a folder`, or undefined.
 */
export async function outputFileProblem(path: string): Promise<string | undefined> {
  let info;
  try {
    info = await statOrNull(path);
  } catch (e) {
    rethrowIfNotCapable(e);
    if (!(e instanceof Deno.errors.NotADirectory)) return describeFsError(e);
  }
  if (info?.isDirectory) return "it is a folder";
  if (info && !info.isFile) return "it is not a regular file";
  return await folderProblem(dirname(path) || ".", false, true);
}

/**
 * Why files cannot be written into the folder `path`, or undefined when they can. A missing
 * folder is not created: its nearest existing ancestor must be a folder where it can be.
 *
 * @param path The folder.
 * @returns The reason, such as `it is a file, not a folder`, or undefined.
 */
export function outputDirProblem(path: string): Promise<string | undefined> {
  return folderProblem(path, true, false);
}

/**
 * Checks that a file can be written at `path`: not a folder, its folder exists or can be
 * created, and files can be created there. Creates the folder when missing; leaves an existing
 * file as it is.
 *
 * @param path The file.
 * @param what The output and its option, such as `the metrics (metricsPath, --metrics)`.
 * @returns Resolves when the path is writable.
 * @throws {OutputPathError} `Cannot write <what> to <path>: <why> (checked before training)`.
 */
export async function checkOutputFile(path: string, what: string): Promise<void> {
  const why = await outputFileProblem(path);
  if (why !== undefined) {
    throw new OutputPathError(
      path,
      `Cannot write ${what} to ${path}: ${why} (checked before training)`,
    );
  }
}

/**
 * Checks that files can be written into the folder `path`: not a file, exists or can be created,
 * and writable. Creates nothing (the writers create the folder); leaves its contents as they are.
 *
 * @param path The folder.
 * @param what The output and its option, such as `checkpoints (checkpointDir, --checkpoint)`.
 * @returns Resolves when the folder is writable.
 * @throws {OutputPathError} `Cannot write <what> into <path>: <why> (checked before training)`.
 */
export async function checkOutputDir(path: string, what: string): Promise<void> {
  const why = await outputDirProblem(path);
  if (why !== undefined) {
    throw new OutputPathError(
      path,
      `Cannot write ${what} into ${path}: ${why} (checked before training)`,
    );
  }
}

/** A file or folder a run reads or writes, for {@linkcode checkDistinctPaths}. */
export interface RunPath {
  /** The path as given. */
  readonly path: string;
  /** What it is and its option, such as `the metrics (metricsPath, --metrics)`. */
  readonly what: string;
  /** A folder (checkpoints, graphs, data) rather than a file. */
  readonly folder?: boolean;
}

/** The absolute path with symlinks resolved where the path (or its folder) exists. */
async function canonical(path: string): Promise<string> {
  const abs = resolve(path);
  try {
    return await Deno.realPath(abs);
  } catch (e) {
    rethrowIfNotCapable(e);
    try {
      return join(await Deno.realPath(dirname(abs)), basename(abs));
    } catch (e) {
      rethrowIfNotCapable(e);
      return abs;
    }
  }
}

const within = (inner: string, outer: string) =>
  inner === outer || inner.startsWith(outer.endsWith(sep) ? outer : outer + sep);

/**
 * Refuses outputs that would destroy an input or another output: two outputs at one path, an
 * output file at an input file (`--export` onto `--init`), and an output file at an existing file
 * inside an input folder (onto a training IDX file under `--data-dir`). Relative paths and
 * symlinks are resolved first.
 *
 * @param outputs What the run writes.
 * @param inputs What the run reads.
 * @returns Resolves when no two collide.
 * @throws {OutputPathError} `Cannot write <what> to <path>: it is also <other> (<path>)`.
 */
export async function checkDistinctPaths(
  outputs: readonly RunPath[],
  inputs: readonly RunPath[],
): Promise<void> {
  const real = async (p: RunPath) => ({ ...p, real: await canonical(p.path) });
  const outs = await Promise.all(outputs.map(real));
  const ins = await Promise.all(inputs.map(real));
  const clash = (o: (typeof outs)[number], other: (typeof outs)[number]) => {
    throw new OutputPathError(
      o.path,
      `Cannot write ${o.what} to ${o.path}: it is also ${other.what} (${other.path}), which it would destroy (checked before training)`,
    );
  };
  for (const [i, o] of outs.entries()) {
    for (const other of outs.slice(i + 1)) if (o.real === other.real) clash(other, o);
    const existing = !o.folder && (await Deno.stat(o.real).catch((e) => {
      rethrowIfNotCapable(e);
      return undefined;
    }))?.isFile;
    for (const input of ins) {
      if (o.real === input.real || (existing && input.folder && within(o.real, input.real))) {
        clash(o, input);
      }
    }
  }
}
