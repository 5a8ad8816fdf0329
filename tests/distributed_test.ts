// Data-parallel training under `mpirun`: 2 and 3 processes (an uneven batch) give the per-step
// losses, test figures and exported parameters of one process on the whole batch; killing one
// rank ends the job, and the run resumes from its last checkpoint on another number of processes.
// Needs Debian's Open MPI (apt-get install openmpi-bin libopenmpi-dev); without it these tests are
// ignored, saying so.
import { fileURLToPath } from "node:url";
import onnxProto from "onnx-proto";
import { listCheckpoints, readCheckpoint } from "../src/train/checkpoint.ts";
import { assert } from "./_assert.ts";
import { withTempDir } from "./_files.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MPIRUN = "/usr/bin/mpirun";
const LIBMPI = "/usr/lib/x86_64-linux-gnu/libmpi.so.40";
const exists = (path: string) => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
};
const haveMpi = Deno.build.os === "linux" && exists(MPIRUN) && exists(LIBMPI);
if (!haveMpi) {
  console.log(
    `distributed_test: ${exists(MPIRUN) ? LIBMPI : MPIRUN} not found, so the distributed tests ` +
      "are ignored (install Open MPI: apt-get install openmpi-bin libopenmpi-dev)",
  );
}
const SCRIPT = "tests/fixtures/distributed/train.ts";
const FLAGS = ["run", "-q", "--allow-read", "--allow-write", "--allow-ffi", "--allow-env"];

/** The fixture in one process, or under `mpirun -np N` with --distributed. */
function command(np: number, args: string[]): Deno.Command {
  const deno = [Deno.execPath(), ...FLAGS, SCRIPT, ...args];
  const [cmd, ...rest] = np === 1 ? deno : [
    MPIRUN,
    "--allow-run-as-root",
    "--oversubscribe",
    "-np",
    String(np),
    ...deno,
    "--distributed",
  ];
  return new Deno.Command(cmd, { args: rest, cwd: ROOT, stdout: "piped", stderr: "piped" });
}

async function run(np: number, args: string[] = []) {
  const out = await command(np, args).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  const last = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!;
  return JSON.parse(last) as { losses: number[]; epochs: number[][] };
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(1, Math.abs(a), Math.abs(b));

/** The float initializers of an ONNX model, by name. */
function initializers(path: string): Map<string, Float32Array> {
  const model = onnxProto.onnx.ModelProto.decode(Deno.readFileSync(path));
  return new Map(model.graph!.initializer!.flatMap((t) => {
    if (t.dataType !== 1) return [];
    const raw = t.rawData!;
    const data = raw.length
      ? new Float32Array(raw.slice().buffer)
      : Float32Array.from(t.floatData as number[]);
    return [[t.name!, data] as const];
  }));
}

Deno.test({
  name: "mpirun -np 2 and -np 3 (uneven shards) train as one process on the whole batch",
  ignore: !haveMpi,
  async fn() {
    await withTempDir(async (dir) => {
      for (const [np, batch] of [[2, 12], [3, 10]]) {
        const args = ["--batch", String(batch)];
        const one = await run(1, [...args, "--export", `${dir}/one.onnx`]);
        const many = await run(np, [...args, "--export", `${dir}/many.onnx`]);
        assert.equal(many.losses.length, one.losses.length);
        const worst = Math.max(...one.losses.map((l, i) => rel(l, many.losses[i])));
        assert.ok(worst < 1e-6, `-np ${np}: per-step losses differ by ${worst} (relative)`);
        one.epochs.forEach(([trainLoss, testLoss, accuracy], e) => {
          const [t, l, a] = many.epochs[e];
          assert.ok(rel(t, trainLoss) < 1e-6 && rel(l, testLoss) < 1e-6, `epoch ${e + 1}`);
          assert.equal(a, accuracy);
        });
        const a = initializers(`${dir}/one.onnx`), b = initializers(`${dir}/many.onnx`);
        assert.deepEqual([...b.keys()], [...a.keys()]);
        for (const [name, values] of a) {
          const other = b.get(name)!;
          values.forEach((v, i) => assert.ok(rel(v, other[i]) < 1e-5, `${name}[${i}]`));
        }
      }
    });
  },
});

Deno.test({
  name:
    "mpirun -np 2: the FashionMNIST CNN (synchronised batch norm, dropout, a schedule) trains as one process",
  ignore: !haveMpi,
  async fn() {
    const args = ["--model", "cnn", "--optimizer", "sgd", "--batch", "12"];
    const one = await run(1, args), many = await run(2, args);
    assert.equal(many.losses.length, one.losses.length);
    const worst = Math.max(...one.losses.map((l, i) => rel(l, many.losses[i])));
    assert.ok(worst < 2e-6, `per-step losses differ by ${worst} (relative)`);
    one.epochs.forEach(([trainLoss, testLoss, accuracy], e) => {
      const [t, l, a] = many.epochs[e];
      assert.ok(rel(t, trainLoss) < 1e-6, `epoch ${e + 1} train loss ${t} vs ${trainLoss}`);
      // The test pass uses the running statistics, synchronised as in one process.
      assert.ok(rel(l, testLoss) < 1e-5, `epoch ${e + 1} test loss ${l} vs ${testLoss}`);
      assert.equal(a, accuracy);
    });
  },
});

Deno.test({
  name: "killing one rank ends the job at once, naming it; --resume continues on 1 process",
  ignore: !haveMpi,
  async fn() {
    await withTempDir(async (dir) => {
      const ckpt = `${dir}/ckpt`;
      const args = ["--checkpoint", ckpt, "--every", "2", "--pause", "40", "--epochs", "3"];
      const child = command(2, args).spawn();
      // Rank 1's pid, then a mid-run checkpoint.
      const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      let text = "", pid: number | undefined;
      while (pid === undefined) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
        pid = Number(text.match(/rank 1 pid (\d+)/)?.[1]) || undefined;
      }
      assert.ok(pid, text);
      for (let i = 0; i < 500 && (await listCheckpoints(ckpt)).length < 2; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const killedAt = performance.now();
      Deno.kill(pid, "SIGKILL");
      const rest = (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          text += value;
        }
      })();
      const status = await child.status;
      const seconds = (performance.now() - killedAt) / 1000;
      await rest;
      await child.stdout.cancel();
      assert.notEqual(status.code, 0);
      assert.ok(seconds < 10, `the job took ${seconds.toFixed(1)} s to end`);
      assert.match(text, /rank 1/);
      const from = await readCheckpoint((await listCheckpoints(ckpt)).at(-1)!);
      assert.ok(from.steps >= 2 && from.steps < 24, `resumes from step ${from.steps}`);
      // One process continues from the last checkpoint to the uninterrupted run's figures.
      const resumed = await run(1, ["--checkpoint", ckpt, "--resume", "--epochs", "3"]);
      const whole = await run(1, ["--epochs", "3"]);
      const tail = whole.losses.slice(from.steps);
      assert.equal(resumed.losses.length, tail.length);
      resumed.losses.forEach((l, i) =>
        assert.ok(rel(l, tail[i]) < 1e-5, `step ${from.steps + i}: ${l} vs ${tail[i]}`)
      );
      const [trainLoss, testLoss, accuracy] = whole.epochs.at(-1)!;
      const [t, l, a] = resumed.epochs.at(-1)!;
      assert.ok(rel(t, trainLoss) < 1e-5 && rel(l, testLoss) < 1e-5);
      assert.equal(a, accuracy);
    });
  },
});
