/**
 * Deno's permission errors (`Deno.errors.NotCapable`, as when `-P` is forgotten) as one line a
 * newcomer can act on: the permission, the path or host Deno names, and the fix — `-P` (the
 * permission set in `deno.json`) for a script of this repository, the exact `--allow-…` flag for a
 * script elsewhere.
 * @module
 */
import { dirname, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** This repository's root as a file URL ending in `/`, or undefined when loaded from elsewhere. */
const REPO_URL = import.meta.url.startsWith("file:")
  ? new URL("../../", import.meta.url).href
  : undefined;

/**
 * Deno's message: `Requires read access to "data", run again with the --allow-read flag`; the
 * target may also be a placeholder such as `<TMP>` (the temporary folder).
 */
const REQUIRES = /Requires (\w+) access(?: to (?:"((?:[^"\\]|\\.)*)"|<(\w+)>))?/;

/** Permissions whose target is a path: the fix grants the path's folder (temporary files, …). */
const PATH_KINDS = new Set(["read", "write", "ffi"]);

/** The scripts of this repository run with another permission set than the default. */
const SETS: Readonly<Record<string, string>> = { "pipelines/browser/server.ts": "browser" };

/** The NotCapable error in `error` or its chain of causes, if any. */
function findNotCapable(error: unknown): { readonly message: string } | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 8; depth++) {
    if (e instanceof Deno.errors.NotCapable || e.name === "NotCapable") return e;
    e = e.cause;
  }
  // A library that kept only the text (onnxruntime-web: "no available backend found. ERR: …").
  const text = error instanceof Error ? error.message : "";
  const quoted = text.match(
    /Requires \w+ access to "(?:[^"\\]|\\.)*", run again with the --allow-\w+ flag/,
  );
  return quoted ? { message: quoted[0] } : undefined;
}

/** Whether the process may read everything (true under `-P`, whose sets all grant `read`). */
function readGranted(): boolean {
  try {
    return Deno.permissions.querySync({ name: "read" }).state === "granted";
  } catch {
    return false;
  }
}

/**
 * The folder a path permission should name: for a native addon of an npm package, the project's
 * `node_modules` (`./node_modules` when under the working folder), else the path's folder.
 */
function pathScope(kind: string, target: string): string {
  const marker = `${sep}node_modules${sep}`, at = target.indexOf(marker);
  if (kind === "ffi" && at >= 0) {
    const modules = target.slice(0, at + marker.length - 1);
    const rel = relative(resolve("."), modules);
    return rel && !rel.startsWith("..") ? `./${rel}` : modules;
  }
  return dirname(target) || ".";
}

/** Whether a path (relative to the working folder) lies inside `root`. */
function inside(path: string, root: string): boolean {
  const abs = resolve(path), top = resolve(root);
  return abs === top || abs.startsWith(top.endsWith(sep) ? top : top + sep);
}

/**
 * Turns Deno's permission error into one line naming the permission, its path or host, and the
 * fix; other errors give undefined. The error may also be the `cause` of the error thrown (an
 * `IdxDatasetError` wrapping a failed read, …).
 *
 * The fix depends on where the script lives. A script inside this repository runs with `-P`, the
 * permission set in `deno.json` (`-P=browser` for the browser server); when that set cannot cover
 * the access (writing outside the repository, an environment variable, a host not in the set
 * while `-P` was given), the line names the flag to add after `-P`. A script elsewhere gets the
 * exact `--allow-…` flag: for a path, its folder (atomic writes go through a temporary file
 * beside the target).
 *
 * @param error Anything thrown.
 * @param script The main module's URL (default `Deno.mainModule`), which decides between `-P`
 * and `--allow-…`.
 * @returns The line, such as `Missing read permission for data: run with -P (the permission set
 * in deno.json)`, or undefined when the error is no permission error.
 * @example
 * ```ts
 * import { describePermissionError } from "./permission_error.ts";
 * const e = new Deno.errors.NotCapable(
 *   'Requires env access to "HOME", run again with the --allow-env flag',
 * );
 * const line = describePermissionError(e, "file:///elsewhere/train.ts");
 * if (line !== "Missing env permission for HOME: run with --allow-env=HOME") throw new Error(line);
 * if (describePermissionError(new Error("other")) !== undefined) throw new Error();
 * ```
 */
export function describePermissionError(
  error: unknown,
  script: string = Deno.mainModule,
): string | undefined {
  const e = findNotCapable(error);
  if (!e) return undefined;
  const line = describeNotCapable(e, script);
  // What onnxtrain was doing when it wrapped the error: "Cannot export the model to m.onnx: …".
  const top = error instanceof Error && error !== e ? error.message : "";
  const context = top.match(/^(Cannot [^:]{1,120}):/)?.[1];
  return context ? `${context}: ${line[0].toLowerCase()}${line.slice(1)}` : line;
}

function describeNotCapable(e: { readonly message: string }, script: string): string {
  const inRepo = REPO_URL !== undefined && script.startsWith(REPO_URL);
  const match = e.message.match(REQUIRES);
  if (!match) {
    return inRepo ? `${e.message}; run with -P (the permission set in deno.json)` : e.message;
  }
  const [, kind, quoted, placeholder] = match;
  if (placeholder !== undefined) {
    // No path to name (Deno.makeTempDir): the whole permission.
    const what = `Missing ${kind} permission for the ${
      placeholder === "TMP" ? "temporary folder" : placeholder
    }`;
    return inRepo
      ? `${what}: run with -P --allow-${kind} (the permission set in deno.json does not cover it)`
      : `${what}: run with --allow-${kind}`;
  }
  const target = quoted?.replace(/\\(.)/g, "$1");
  const scope = target === undefined
    ? ""
    : PATH_KINDS.has(kind)
    ? `=${pathScope(kind, target)}`
    : `=${target}`;
  const flag = `--allow-${kind}${scope}`;
  const what = `Missing ${kind} permission${target === undefined ? "" : ` for ${target}`}`;
  if (!inRepo) return `${what}: run with ${flag}`;

  const root = fileURLToPath(REPO_URL);
  const set = SETS[script.slice(REPO_URL.length)];
  const dashP = set ? `-P=${set}` : "-P";
  const viaSet = `run with ${dashP} (the permission set in deno.json)`;
  if (kind === "write" && target !== undefined && !inside(target, root)) {
    const here = relative(resolve("."), root) || ".";
    return `${what}: the permission set in deno.json (${dashP}) allows writing only inside the ` +
      `repository; write there, or run with ${dashP} --allow-write=${here},${dirname(target)}`;
  }
  // deno.json's sets grant read, write and ffi inside the repository, and net to some hosts;
  // never env, sys or run. A missing net permission under -P (read granted) is a host outside
  // the set.
  const covered = kind === "read" ||
    (PATH_KINDS.has(kind) && target !== undefined && inside(target, root)) ||
    (kind === "net" && !readGranted());
  return covered ? `${what}: ${viaSet}` : `${what}: run with ${dashP} ${flag}`;
}

/**
 * Throws `error` again when it is Deno's permission error, so that a `catch` meant for a missing
 * or unreadable file (`stat(…).catch(() => undefined)`) does not turn a missing permission into
 * "does not exist".
 *
 * @param error The error caught.
 * @throws {Deno.errors.NotCapable} `error` itself, when it is one.
 * @example
 * ```ts
 * import { rethrowIfNotCapable } from "./permission_error.ts";
 * rethrowIfNotCapable(new Deno.errors.NotFound("gone")); // returns
 * let thrown = false;
 * try {
 *   rethrowIfNotCapable(new Deno.errors.NotCapable('Requires read access to "x"'));
 * } catch {
 *   thrown = true;
 * }
 * if (!thrown) throw new Error();
 * ```
 */
export function rethrowIfNotCapable(error: unknown): void {
  if (error instanceof Deno.errors.NotCapable) throw error;
}
