/**
 * The MPI layer (src/dist/) under Open MPI's launcher: each test starts
 * `mpirun --allow-run-as-root --oversubscribe -np N deno run <flags> tests/fixtures/mpi/<script>`
 * and checks what every rank prints — exact sums of all-reduces (lengths that are multiples of
 * nothing, a view into a buffer, float64, 2.7 MB), the root's bytes after a broadcast, an
 * asynchronous all-reduce that leaves the main thread free — and that one failing rank (an uncaught
 * error, an unhandled rejection, a plain non-zero exit, `kill -9`) ends the whole job within
 * seconds, non-zero, with its message. The start-up errors (no launcher, a missing permission, no
 * Open MPI at the path) run without `mpirun`.
 *
 * Needs Debian's Open MPI (`apt-get install openmpi-bin libopenmpi-dev`: /usr/bin/mpirun and
 * libmpi.so.40); without it the MPI tests are ignored.
 */
import { fileURLToPath } from "node:url";
import { stripVTControlCharacters } from "node:util";
import { defaultLibrary } from "../src/dist/_libmpi.ts";
import { LAUNCHER_ENV } from "../src/dist/mpi.ts";
import { assert } from "./_assert.ts";

const MPIRUN = "/usr/bin/mpirun";
const LIBMPI = defaultLibrary();
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FIXTURES = "tests/fixtures/mpi";
/** The flags every rank runs with: exactly the permissions the MPI layer needs. */
const RANK_FLAGS = [`--allow-ffi=${LIBMPI}`, `--allow-env=${LAUNCHER_ENV.join(",")}`];
/** The longest a failed job may take to end, from the failure to mpirun's exit. */
const END_WITHIN_MS = 4000;

const isFile = (path: string) => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
};
const hasMpi = isFile(MPIRUN) && isFile(LIBMPI);
if (!hasMpi) {
  console.log(
    `mpi_test: ${isFile(MPIRUN) ? LIBMPI : MPIRUN} not found, so the MPI tests are ignored ` +
      "(install Open MPI with: apt-get install openmpi-bin libopenmpi-dev)",
  );
}

/** `mpirun -np N deno run <RANK_FLAGS> <fixture> <args>`, started in the repository's root. */
function mpirun(np: number, fixture: string, args: readonly string[] = []): Deno.ChildProcess {
  return new Deno.Command(MPIRUN, {
    args: [
      "--allow-run-as-root",
      "--oversubscribe",
      "-np",
      String(np),
      Deno.execPath(),
      "run",
      ...RANK_FLAGS,
      `${FIXTURES}/${fixture}`,
      ...args,
    ],
    cwd: ROOT,
    // Docker's default seccomp profile forbids the cross-memory attach of Open MPI's shared-memory
    // transport (process_vm_readv); copy through the shared segment instead.
    env: { NO_COLOR: "1", OMPI_MCA_btl_vader_single_copy_mechanism: "none" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Waits for the job; its status, stdout and stderr together, and when it ended. */
async function finish(
  child: Deno.ChildProcess,
): Promise<{ code: number; out: string; end: number }> {
  const { code, stdout, stderr } = await child.output();
  const end = Date.now();
  const text = (b: Uint8Array) => stripVTControlCharacters(new TextDecoder().decode(b));
  return { code, out: text(stdout) + text(stderr), end };
}

/** What each rank printed as `RESULT <json>`, by rank. */
function results(out: string): Record<string, unknown>[] {
  const found = out.split("\n").filter((line) => line.startsWith("RESULT "))
    .map((line) => JSON.parse(line.slice("RESULT ".length)) as Record<string, unknown>);
  return found.sort((a, b) => (a.rank as number) - (b.rank as number));
}

for (const size of [2, 3]) {
  Deno.test({
    name:
      `every one of ${size} ranks gets the exact all-reduced sums and the root's broadcast bytes`,
    ignore: !hasMpi,
    async fn() {
      const { code, out } = await finish(mpirun(size, "collectives.ts"));
      assert.equal(code, 0, out);
      const ranks = results(out);
      assert.deepEqual(ranks.map((r) => r.rank), [...Array(size).keys()], out);
      const factor = size * (size + 1) / 2; // Σ (r + 1) over the ranks
      const root = size - 1;
      for (const r of ranks) {
        assert.equal(r.size, size);
        assert.deepEqual(r.small, Array.from({ length: 13 }, (_, i) => factor * (i + 1)));
        assert.deepEqual(r.base, [-1, -1, -1, ...Array(5).fill(factor), -1, -1, -1]);
        assert.deepEqual(r.f64, [factor * 2 ** -40, factor * 1e15 + size, -factor + size]);
        assert.equal(r.bigWrong, 0, "elements of the 2.7 MB all-reduce that differ");
        assert.equal(r.bigLast, factor * (675_000 % 1009));
        assert.deepEqual(r.bytes, Array.from({ length: 10 }, (_, i) => root * 10 + i));
        assert.equal(r.manyWrong, 0, "bytes of the 1 000 003-byte broadcast that differ");
        assert.deepEqual(r.first, [factor, 0.5 * size]);
        assert.deepEqual(r.second, [10 * factor]);
        assert.equal(
          r.refused,
          "Cannot call barrier while allreduceSumAsync is still running: await its promise " +
            "first (MPI calls of one process may not overlap)",
        );
      }
      // Rank 0 waited ≈ 300 ms for rank 1 inside allreduceSumAsync: its 10 ms timer ran meanwhile.
      assert.ok((ranks[0].ticksWhileWaiting as number) >= 10, JSON.stringify(ranks[0]));
    },
  });
}

/** The time the last rank printed `FAILING <ms>`, just before it failed. */
function failedAt(out: string): number {
  const match = out.match(/^FAILING (\d+)$/m);
  assert.ok(match, out);
  return Number(match[1]);
}

Deno.test({
  name: "with installAbortOnError, a rank's uncaught error ends all 3 ranks at once, in one line",
  ignore: !hasMpi,
  async fn() {
    const { code, out, end } = await finish(mpirun(3, "fail.ts", ["abort"]));
    assert.equal(code, 1, out);
    assert.match(out, /^rank 2 of 3 failed: Cannot read batch 3: file truncated$/m);
    assert.doesNotMatch(out, /was not stopped/);
    const ms = end - failedAt(out);
    assert.ok(ms < END_WITHIN_MS, `the job ended ${ms} ms after the failure`);
  },
});

Deno.test({
  name: "with installAbortOnError, an unhandled rejection ends both ranks, in one line",
  ignore: !hasMpi,
  async fn() {
    const { code, out, end } = await finish(mpirun(2, "fail.ts", ["reject"]));
    assert.equal(code, 1, out);
    assert.match(out, /^rank 1 of 2 failed: Loss is NaN at step 7$/m);
    assert.doesNotMatch(out, /was not stopped/);
    const ms = end - failedAt(out);
    assert.ok(ms < END_WITHIN_MS, `the job ended ${ms} ms after the failure`);
  },
});

Deno.test({
  name: "without a handler, mpirun ends the job when a rank exits with status 1",
  ignore: !hasMpi,
  async fn() {
    const { code, out, end } = await finish(mpirun(2, "fail.ts", ["throw"]));
    assert.equal(code, 1, out);
    assert.match(out, /Uncaught \(in promise\) Error: Cannot read batch 3:/);
    assert.match(out, /mpirun detected that one or more processes exited with non-zero status/);
    assert.doesNotMatch(out, /was not stopped/);
    const ms = end - failedAt(out);
    assert.ok(ms < END_WITHIN_MS, `the job ended ${ms} ms after the failure`);
  },
});

Deno.test({
  name: "mpirun ends the job when a rank is killed with SIGKILL",
  ignore: !hasMpi,
  async fn() {
    const child = mpirun(2, "fail.ts", ["kill"]);
    const stderr = new Response(child.stderr).text();
    // Read stdout until the last rank prints its process id, then keep draining it.
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    let pid: number | undefined;
    while (pid === undefined) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
      const match = out.match(/^PID (\d+)$/m);
      if (match) pid = Number(match[1]);
    }
    if (pid === undefined) assert.fail(`no PID line:\n${out}${await stderr}`);
    const rest = (async () => {
      for (let r = await reader.read(); !r.done; r = await reader.read()) out += r.value;
    })();
    const killed = Date.now();
    Deno.kill(pid, "SIGKILL");
    const { code } = await child.status;
    const ms = Date.now() - killed;
    await rest;
    out += await stderr;
    assert.equal(code, 137, out);
    assert.match(
      out,
      /mpirun noticed that process rank 1 with PID \d+ on node .* exited on signal 9/,
    );
    assert.doesNotMatch(out, /was not stopped/);
    assert.ok(ms < END_WITHIN_MS, `the job ended ${ms} ms after the kill`);
  },
});

/** Runs init_error.ts without mpirun: what initMpi threw, as `<name>: <message>`. */
async function initError(
  flags: readonly string[],
  env: Record<string, string>,
  library?: string,
): Promise<string> {
  const { stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, `${FIXTURES}/init_error.ts`, ...(library ? [library] : [])],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(stdout).trim() || new TextDecoder().decode(stderr);
}

Deno.test("initMpi's start-up errors are one line naming the fix", async () => {
  const launched = { OMPI_COMM_WORLD_RANK: "0", OMPI_COMM_WORLD_SIZE: "2" };
  const env = `--allow-env=${LAUNCHER_ENV.join(",")}`;
  const install = "install Open MPI (apt-get install openmpi-bin libopenmpi-dev) or pass the " +
    "path of its libmpi as the library option";
  const [notLaunched, noEnv, noFfi, missing, badSize] = await Promise.all([
    initError(RANK_FLAGS, {}),
    initError([`--allow-ffi=${LIBMPI}`], {}),
    initError([env], launched),
    initError(
      [env, "--allow-ffi=/nonexistent/libmpi.so.40"],
      launched,
      "/nonexistent/libmpi.so.40",
    ),
    initError(RANK_FLAGS, { PMI_RANK: "2", PMI_SIZE: "2" }),
  ]);
  assert.equal(
    notLaunched,
    "DistributedError: Cannot start MPI: this process was not started by an MPI launcher (none " +
      "of OMPI_COMM_WORLD_RANK, PMI_RANK, PMIX_RANK is set); start every rank with " +
      "`mpirun -np N deno run … <script>` (as root in a container: " +
      "`mpirun --allow-run-as-root -np N …`), or train in one process without MPI",
  );
  assert.equal(
    noEnv,
    "DistributedError: Cannot tell whether an MPI launcher started this process: reading " +
      "OMPI_COMM_WORLD_RANK needs the env permission; run with --allow-env=OMPI_COMM_WORLD_RANK," +
      "OMPI_COMM_WORLD_SIZE,PMI_RANK,PMI_SIZE,PMIX_RANK,SLURM_NTASKS",
  );
  assert.equal(
    noFfi,
    `DistributedError: Cannot load Open MPI from ${LIBMPI}: the ffi permission is missing; ` +
      `run with --allow-ffi=${LIBMPI}`,
  );
  assert.equal(
    missing,
    `DistributedError: Cannot load Open MPI: /nonexistent/libmpi.so.40 was not found; ${install}`,
  );
  assert.equal(
    badSize,
    'DistributedError: Invalid PMI_RANK="2" set by the MPI launcher: expected an integer in [0, 2)',
  );
});

Deno.test({
  name: "initMpi refuses a library that is not Open MPI's libmpi",
  ignore: !hasMpi || !isFile("/usr/lib/x86_64-linux-gnu/libz.so.1"),
  async fn() {
    const libz = "/usr/lib/x86_64-linux-gnu/libz.so.1";
    const out = await initError(
      [`--allow-env=${LAUNCHER_ENV.join(",")}`, `--allow-ffi=${libz}`],
      { OMPI_COMM_WORLD_RANK: "0", OMPI_COMM_WORLD_SIZE: "1" },
      libz,
    );
    assert.match(
      out,
      new RegExp(
        `^DistributedError: Cannot load Open MPI from ${libz}: it has no function MPI_\\w+, so ` +
          "it is not Open MPI's libmpi; install Open MPI",
      ),
    );
  },
});
