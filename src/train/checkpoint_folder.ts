/**
 * A checkpoint folder belongs to one run. A run claims its folder before it reads or writes a
 * checkpoint there:
 * - an exclusive lock on `.onnxtrain.lock` (an OS file lock, `flock`, which the OS releases when
 *   the process ends, also after kill -9: a stale lock never blocks) refuses a second run on the
 *   same folder at the same time, naming the process that holds it;
 * - unfinished writes (`checkpoint-*.safetensors.<pid>-<tag>.tmp`) left by a killed process are
 *   removed — under the lock no other process is writing them;
 * - a fresh run (not `resume`) into a folder that holds checkpoints is refused, naming them and
 *   offering `--resume`, another folder, or `--overwrite`, which deletes them first.
 *
 * Each checkpoint records its run's id (`run_id`), and pruning (`keep`) deletes only files of the
 * run that writes (see `saveCheckpoint`).
 * @module
 */
import { hostname } from "node:os";
import { basename, join } from "node:path";
import { describeFsError } from "../io/atomic_write.ts";
import { UserRangeError } from "../util/user_error.ts";
import { listCheckpoints, readCheckpointMetadata } from "./checkpoint.ts";

/** The lock file's name inside a checkpoint folder. */
export const LOCK_FILE = ".onnxtrain.lock";
/** An unfinished atomic write of a checkpoint (see `tempPathFor`). */
const LEFTOVER = /^checkpoint-\d+\.safetensors(\..+)?\.tmp$/;

/**
 * A claimed checkpoint folder: locked for this run until `release`.
 *
 * @example
 * ```ts
 * import { claimCheckpointFolder, type CheckpointFolder } from "./checkpoint_folder.ts";
 * const dir = await Deno.makeTempDir();
 * const folder: CheckpointFolder = await claimCheckpointFolder(dir);
 * if (folder.runId.length !== 16) throw new Error();
 * folder.release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface CheckpointFolder {
  /** The folder. */
  readonly dir: string;
  /** A fresh id for a new run (a resumed run keeps its checkpoint's id instead). */
  readonly runId: string;
  /** Lines to log: what was cleaned up. */
  readonly notes: readonly string[];
  /** Unlocks the folder (idempotent). The OS unlocks it too when the process ends. */
  release(): void;
}

/** Options of {@linkcode claimCheckpointFolder}. */
export interface ClaimOptions {
  /** The run continues from the folder's newest checkpoint: its checkpoints are kept. */
  readonly resume?: boolean;
  /** A fresh run deletes the checkpoints already there instead of refusing. */
  readonly overwrite?: boolean;
}

/** Who holds a lock, as written into the lock file. */
interface Holder {
  readonly pid: number;
  readonly host: string;
  readonly started: string;
}

/** This machine's name, or "this host" without the `sys` permission to read it. */
function hostName(): string {
  try {
    return hostname();
  } catch {
    return "this host";
  }
}

/** "checkpoint-0000000188.safetensors, …, checkpoint-0000000938.safetensors (3 files)". */
function describeFiles(paths: readonly string[]): string {
  const names = paths.map((p) => basename(p));
  return names.length <= 3
    ? names.join(", ")
    : `${names.slice(0, 2).join(", ")}, …, ${names.at(-1)} (${names.length} files)`;
}

/** Where the newest checkpoint stands ("epoch 2, batch 0, step 938"), or "" when unreadable. */
async function describePosition(path: string): Promise<string> {
  const m = await readCheckpointMetadata(path).catch(() => undefined);
  if (!m || m.epoch === undefined) return "";
  const batch = Number(m.batch ?? 0);
  const at = batch > 0 ? `epoch ${Number(m.epoch) + 1}, batch ${batch}` : `after epoch ${m.epoch}`;
  return `; the newest, ${at}, step ${m.steps}`;
}

/**
 * Claims a checkpoint folder for one run (see the module doc): creates it when missing, locks it,
 * removes unfinished writes, and refuses a fresh run where checkpoints exist unless `overwrite`.
 *
 * @param dir The folder.
 * @param options Whether the run resumes, or may overwrite.
 * @returns The claim; call `release` when the run ends.
 * @throws {RangeError} When another process holds the folder, or a fresh run would mix with the
 * checkpoints there (a `UserRangeError`, naming them and the way on).
 * @example
 * ```ts
 * import { claimCheckpointFolder } from "./checkpoint_folder.ts";
 * const dir = await Deno.makeTempDir();
 * const folder = await claimCheckpointFolder(dir);
 * let refused = false;
 * try {
 *   await claimCheckpointFolder(dir);
 * } catch (e) {
 *   refused = (e as Error).message.includes("another run is using it");
 * }
 * folder.release();
 * if (!refused) throw new Error("a second claim while the first holds the folder is refused");
 * (await claimCheckpointFolder(dir)).release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function claimCheckpointFolder(
  dir: string,
  options: ClaimOptions = {},
): Promise<CheckpointFolder> {
  const fail = (why: string, cause?: unknown): never => {
    throw new UserRangeError(`Cannot use the checkpoint folder ${dir}: ${why}`, { cause });
  };
  if (options.resume) {
    // Nothing to resume: say so without creating the folder.
    const found = await Deno.stat(dir).then(() => true, (e) => {
      if (e instanceof Deno.errors.NotFound) return false;
      throw e;
    });
    if (!found) throw new UserRangeError(`Cannot resume: no checkpoint in ${dir}`);
  }
  await Deno.mkdir(dir, { recursive: true }).catch((e) => fail(describeFsError(e), e));
  const lockPath = join(dir, LOCK_FILE);
  const file = await Deno.open(lockPath, { read: true, write: true, create: true })
    .catch((e) => fail(`cannot open its lock file ${lockPath}: ${describeFsError(e)}`, e));
  let locked = false;
  try {
    locked = await file.tryLock(true);
    if (!locked) {
      let holder: Partial<Holder> = {};
      try {
        holder = JSON.parse(await Deno.readTextFile(lockPath));
      } catch {
        // Being written this moment, or not ours: the lock alone says it is in use.
      }
      const who = holder.pid === undefined
        ? "another process"
        : `process ${holder.pid} on ${holder.host}, started ${holder.started}`;
      fail(
        `another run is using it (${who}); wait for that run to end, or choose another folder ` +
          `(--checkpoint DIR)`,
      );
    }
    const holder: Holder = { pid: Deno.pid, host: hostName(), started: new Date().toISOString() };
    await file.truncate(0);
    await file.write(new TextEncoder().encode(JSON.stringify(holder) + "\n"));
    const notes: string[] = [];
    const leftovers: string[] = [];
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && LEFTOVER.test(e.name)) leftovers.push(e.name);
    }
    for (const name of leftovers) await Deno.remove(join(dir, name)).catch(() => {});
    if (leftovers.length > 0) {
      notes.push(
        `Removed ${leftovers.length} unfinished checkpoint write${
          leftovers.length === 1 ? "" : "s"
        } left in ${dir} by an interrupted run (${leftovers.sort().join(", ")})`,
      );
    }
    if (!options.resume) {
      const existing = await listCheckpoints(dir);
      if (existing.length > 0 && !options.overwrite) {
        fail(
          `it holds the checkpoints of an earlier run (${
            describeFiles(existing)
          }${await describePosition(
            existing.at(-1)!,
          )}); continue that run with --resume, choose another folder, or pass --overwrite to ` +
            `delete them and start afresh`,
        );
      }
      for (const path of existing) await Deno.remove(path);
      if (existing.length > 0) {
        notes.push(
          `Deleted the ${existing.length} checkpoint${
            existing.length === 1 ? "" : "s"
          } of an earlier run in ${dir} (--overwrite): ${describeFiles(existing)}`,
        );
      }
    }
    const random = crypto.getRandomValues(new Uint8Array(8));
    const runId = [...random].map((b) => b.toString(16).padStart(2, "0")).join("");
    let released = false;
    return {
      dir,
      runId,
      notes,
      release() {
        if (released) return;
        released = true;
        // The file stays: removing it could let two runs lock two different files.
        try {
          file.truncateSync(0);
          file.unlockSync();
        } finally {
          file.close();
        }
      },
    };
  } catch (e) {
    if (locked) {
      file.truncateSync(0);
      file.unlockSync();
    }
    file.close();
    throw e;
  }
}
