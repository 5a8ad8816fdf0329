/**
 * Which errors are the user's to fix (printed as one line) and which are bugs (printed with their
 * stack).
 * @module
 */
import { isMarkedUserError } from "../util/user_error.ts";

/** Names of onnxtrain's error classes: each reports bad input (a setting, a file, the data). */
const USER_ERROR_NAMES = new Set([
  "CheckpointError",
  "DistributedError",
  "Cifar10Error",
  "CompileError",
  "CsvFormatError",
  "DeviceError",
  "FashionMnistError",
  "FileWriteError",
  "IdxDatasetError",
  "IdxFormatError",
  "ImageFolderError",
  "NonFiniteLossError",
  "NpyFormatError",
  "OutputPathError",
  "SafetensorsError",
  "TarFormatError",
  "WeightsFileError",
]);

/** Deno's errors of files, permissions and the network: each names its path or address. */
const systemErrors = () => [
  Deno.errors.NotFound,
  Deno.errors.PermissionDenied,
  Deno.errors.NotCapable,
  Deno.errors.AlreadyExists,
  Deno.errors.IsADirectory,
  Deno.errors.NotADirectory,
  Deno.errors.FilesystemLoop,
  Deno.errors.ConnectionRefused,
  Deno.errors.ConnectionReset,
  Deno.errors.ConnectionAborted,
  Deno.errors.NetworkUnreachable,
  Deno.errors.TimedOut,
];

/**
 * Whether an error reports the user's mistake (printed as one line) rather than a bug (printed
 * with its stack). It is one of onnxtrain's error classes (`CompileError`, `CsvFormatError`, …; the
 * engine never makes errors of those names), a `RangeError` or `TypeError` thrown as a
 * `UserRangeError` or `UserTypeError` (see `src/util/user_error.ts`), or Deno's error of a file,
 * a permission or the network (which names its path). Any other error — an engine `TypeError`
 * such as "Cannot read properties of undefined", an onnxruntime failure, a broken invariant — is
 * a bug.
 *
 * @param error Anything thrown.
 * @returns Whether it is the user's to fix.
 * @example
 * ```ts
 * import { isUserError } from "./cli.ts";
 * import { UserRangeError } from "../util/user_error.ts";
 * if (isUserError(new TypeError("Cannot read properties of undefined (reading 'x')"))) {
 *   throw new Error("an engine TypeError is a bug");
 * }
 * if (!isUserError(new UserRangeError("Invalid --lr: expected a number ≥ 0, got -1"))) {
 *   throw new Error();
 * }
 * ```
 */
export function isUserError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return isMarkedUserError(error) || USER_ERROR_NAMES.has(error.name) ||
    systemErrors().some((cls) => error instanceof cls);
}

/** A message as one line: its lines joined with "; ". */
export function oneLine(message: string): string {
  return message.split("\n").map((line) => line.trim()).filter((line) => line).join("; ");
}
