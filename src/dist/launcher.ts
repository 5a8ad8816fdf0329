/**
 * Whether an MPI launcher started this process, read from the variables launchers set in each
 * rank's environment: Open MPI's `mpirun` (`OMPI_COMM_WORLD_RANK`, `OMPI_COMM_WORLD_SIZE`), a PMI
 * launcher such as MPICH's Hydra or Slurm's `srun --mpi=pmi2` (`PMI_RANK`, `PMI_SIZE`), and a PMIx
 * one, Slurm's `srun --mpi=pmix` (`PMIX_RANK`, with the count from `SLURM_NTASKS`: PMIx sets no
 * count variable).
 * @module
 */
import { DistributedError } from "./distributed_error.ts";

/** One launcher's variables: the rank and the number of ranks. */
interface LauncherVariables {
  readonly launcher: string;
  readonly rank: string;
  readonly size: string;
}

/** The launchers recognised, in the order they are tried. */
const LAUNCHERS: readonly LauncherVariables[] = [
  { launcher: "Open MPI", rank: "OMPI_COMM_WORLD_RANK", size: "OMPI_COMM_WORLD_SIZE" },
  { launcher: "PMI", rank: "PMI_RANK", size: "PMI_SIZE" },
  { launcher: "PMIx", rank: "PMIX_RANK", size: "SLURM_NTASKS" },
];

/**
 * The environment variables {@linkcode launchedByMpi} reads: grant them to each rank with
 * `--allow-env=` followed by this list joined with commas.
 *
 * @example
 * ```ts
 * import { LAUNCHER_ENV } from "./launcher.ts";
 * if (!LAUNCHER_ENV.includes("OMPI_COMM_WORLD_RANK")) throw new Error();
 * const flag = `--allow-env=${LAUNCHER_ENV.join(",")}`;
 * if (!flag.startsWith("--allow-env=OMPI_COMM_WORLD_RANK,")) throw new Error(flag);
 * ```
 */
export const LAUNCHER_ENV: readonly string[] = Object.freeze(
  LAUNCHERS.flatMap(({ rank, size }) => [rank, size]),
);

/** An environment to read: the process's (`Deno.env`) or a plain record. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** The process's value of `name`; a missing env permission is a one-line error. */
function readProcessEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch (error) {
    if (
      !(error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied)
    ) {
      throw error;
    }
    throw new DistributedError(
      `Cannot tell whether an MPI launcher started this process: reading ${name} needs the env ` +
        `permission; run with --allow-env=${LAUNCHER_ENV.join(",")}`,
    );
  }
}

/** `value` as an integer in [min, max), or a one-line error naming the variable. */
function parseCount(name: string, value: string, min: number, max: number): number {
  const n = /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!(Number.isSafeInteger(n) && n >= min && n < max)) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in [${min}, ${max})`;
    throw new DistributedError(
      `Invalid ${name}=${
        JSON.stringify(value)
      } set by the MPI launcher: expected an integer ${range}`,
    );
  }
  return n;
}

/**
 * Detects an MPI launcher from the environment: the rank of this process and the number of ranks,
 * or undefined when no launcher started it (a plain `deno run`).
 *
 * @param env The environment to read (default: the process's, which needs `--allow-env` for
 *   {@linkcode LAUNCHER_ENV}; without it this throws a {@linkcode DistributedError} naming the
 *   flag rather than answer "not launched").
 * @returns `{ rank, size, launcher }` (launcher: "Open MPI", "PMI" or "PMIx"), or undefined.
 * @throws {DistributedError} The env permission is missing, or a variable is not a valid count.
 * @example
 * ```ts
 * import { launchedByMpi } from "./launcher.ts";
 * const ompi = launchedByMpi({ OMPI_COMM_WORLD_RANK: "1", OMPI_COMM_WORLD_SIZE: "4" });
 * if (ompi?.rank !== 1 || ompi.size !== 4 || ompi.launcher !== "Open MPI") throw new Error();
 * const slurm = launchedByMpi({ PMIX_RANK: "0", SLURM_NTASKS: "2" });
 * if (slurm?.rank !== 0 || slurm.size !== 2) throw new Error();
 * if (launchedByMpi({ HOME: "/root" }) !== undefined) throw new Error();
 * ```
 */
export function launchedByMpi(
  env?: Environment,
): { readonly rank: number; readonly size: number; readonly launcher: string } | undefined {
  const get = env ? (name: string) => env[name] : readProcessEnv;
  // Every name is read, so that a missing permission shows on a plain `deno run` too.
  const values = new Map(LAUNCHER_ENV.map((name) => [name, get(name)]));
  for (const { launcher, rank, size } of LAUNCHERS) {
    const rankValue = values.get(rank), sizeValue = values.get(size);
    if (rankValue === undefined || sizeValue === undefined) continue;
    const n = parseCount(size, sizeValue, 1, Number.MAX_SAFE_INTEGER);
    return { rank: parseCount(rank, rankValue, 0, n), size: n, launcher };
  }
  return undefined;
}

/** The variables that give how many ranks share this rank's machine, by launcher. */
export const LOCAL_SIZE_ENV: readonly string[] = Object.freeze([
  "OMPI_COMM_WORLD_LOCAL_SIZE",
  "MPI_LOCALNRANKS",
  "SLURM_NTASKS_PER_NODE",
]);

/**
 * How many ranks of the job run on this machine, from the launcher's variables (Open MPI's
 * `OMPI_COMM_WORLD_LOCAL_SIZE`, MPICH's `MPI_LOCALNRANKS`, Slurm's `SLURM_NTASKS_PER_NODE`), so
 * that the ranks can share its cores instead of each taking all of them; undefined when none is
 * set or readable.
 *
 * @param env The environment (default: the process's).
 * @returns The count, or undefined.
 * @example
 * ```ts
 * import { localRanks } from "./launcher.ts";
 * if (localRanks({ OMPI_COMM_WORLD_LOCAL_SIZE: "4" }) !== 4) throw new Error();
 * if (localRanks({ SLURM_NTASKS_PER_NODE: "8(x2)" }) !== 8) throw new Error();
 * if (localRanks({}) !== undefined) throw new Error();
 * ```
 */
export function localRanks(env?: Environment): number | undefined {
  for (const name of LOCAL_SIZE_ENV) {
    let value: string | undefined;
    try {
      value = env ? env[name] : Deno.env.get(name);
    } catch {
      return undefined; // no env permission for it: the caller falls back
    }
    const n = Number.parseInt(value ?? "", 10);
    if (Number.isSafeInteger(n) && n >= 1) return n;
  }
  return undefined;
}
