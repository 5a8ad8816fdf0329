/**
 * The error of the MPI layer that the user can fix: Open MPI not installed, a process not started
 * by `mpirun`, a missing permission, a launcher's malformed variable.
 * @module
 */

/**
 * An error of distributed training the user can fix; its message is one line that names what
 * failed and how to fix it.
 *
 * @example
 * ```ts
 * import { DistributedError } from "./distributed_error.ts";
 * const e = new DistributedError("Cannot start MPI: this process was not started by mpirun");
 * if (e.name !== "DistributedError" || !(e instanceof Error)) throw new Error();
 * ```
 */
export class DistributedError extends Error {
  /**
   * Creates the error.
   *
   * @param message What failed and how to fix it, one line.
   */
  constructor(message: string) {
    super(message);
    this.name = "DistributedError";
  }
}
