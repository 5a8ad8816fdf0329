/**
 * The web backend (onnxruntime-web on WebAssembly) against the node backend (onnxruntime-node):
 * the tutorial's MLP trained 20 steps and a CNN with batch norm, dropout and Adam trained a few
 * steps on identical batches give the same losses, parameters, buffers and evaluation totals; a
 * `deno run` with read access to onnxruntime-web's folder only (no --allow-ffi) trains on it; cuda
 * on the web backend and unknown backends fail with one line; `--backend` parses.
 */
import { fmnist } from "../pipelines/fmnist.ts";
import { dirname } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import {
  adam,
  compileModel,
  crossEntropy,
  flatten,
  linear,
  relu,
  sequential,
  sgd,
} from "../mod.ts";
import { cnn } from "../pipelines/fmnist_cnn.ts";
import { parseCliArgs } from "../src/cli/cli.ts";
import type { CompiledModel } from "../src/compile/compile.ts";
import type { Batch } from "../src/data/loader.ts";
import { createGraphBuilder } from "../src/ir/builder.ts";
import { emitModel } from "../src/onnx/emit.ts";
import { type Backend, createSession, DeviceError } from "../src/runtime/session.ts";
import { createTrainer, type Trainer } from "../src/train/trainer.ts";
import { createRng } from "../src/util/random.ts";
import { assert, assertClose, assertRejectsMatch, assertThrowsMatch } from "./_assert.ts";

/** Batches of uniform [0, 1) inputs and random class labels, the same for every call. */
function batches(count: number, size: number, sample: number, seed: number): Batch[] {
  const rng = createRng(seed);
  return Array.from({ length: count }, () => ({
    x: Float32Array.from({ length: size * sample }, () => rng.nextFloat()),
    y: BigInt64Array.from({ length: size }, () => BigInt(Math.floor(rng.nextFloat() * 10))),
    size,
  }));
}

/** Asserts |actual − expected| ≤ rel·max(|expected|, floor) elementwise. */
function assertRelClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rel: number,
  floor: number,
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    const tol = rel * Math.max(Math.abs(expected[i]), floor);
    if (!(d <= tol)) {
      throw new assert.AssertionError({
        message: `${what}[${i}]: ${actual[i]} vs ${expected[i]} (diff ${d} > ${tol})`,
      });
    }
  }
}

/** One trainer per backend, same seed. */
async function trainers(compiled: CompiledModel): Promise<Record<Backend, Trainer>> {
  return {
    node: await createTrainer(compiled, { seed: 7, backend: "node", threads: 1 }),
    web: await createTrainer(compiled, { seed: 7, backend: "web", threads: 1 }),
  };
}

/** Trains both on the same batches; returns each step's losses. */
async function trainBoth(
  t: Record<Backend, Trainer>,
  data: readonly Batch[],
): Promise<Record<Backend, number[]>> {
  const losses: Record<Backend, number[]> = { node: [], web: [] };
  for (const batch of data) {
    losses.node.push(await t.node.step(batch));
    losses.web.push(await t.web.step(batch));
  }
  return losses;
}

/**
 * Compares parameters, optimizer state and buffers of the two trainers: elementwise within
 * `rel`·max(|node's|, `floor`), or within `loose` (absolute) for the names it matches.
 */
function assertSameValues(
  t: Record<Backend, Trainer>,
  rel: number,
  floor: number,
  loose?: { names: RegExp; tol: number },
): void {
  for (const kind of ["params", "state", "buffers"] as const) {
    assert.deepEqual([...t.web[kind].keys()], [...t.node[kind].keys()], kind);
    for (const [name, n] of t.node[kind]) {
      const w = t.web[kind].get(name)!;
      assert.equal(w.dtype, n.dtype, `${name} dtype`);
      assert.deepEqual(w.dims, n.dims, `${name} dims`);
      if (n.dtype === "int64") assert.deepEqual(w.data, n.data, name);
      else if (loose?.names.test(name)) {
        assertClose(w.data as Float32Array, n.data as Float32Array, loose.tol, name);
      } else assertRelClose(w.data as Float32Array, n.data as Float32Array, rel, floor, name);
    }
  }
}

const MLP = compileModel({
  data: { sampleShape: [1, 28, 28], classes: 10 },
  model: fmnist.props.model!,
  loss: crossEntropy(),
  optimizer: sgd({ lr: 1e-3 }),
});

Deno.test("the tutorial's MLP trains the same on the web backend as on the node backend", async () => {
  const t = await trainers(MLP);
  try {
    // Same seed, same initial parameters.
    assertSameValues(t, 0, 1);
    const losses = await trainBoth(t, batches(20, 64, 784, 1));
    assertRelClose(losses.web, losses.node, 1e-5, 0, "loss");
    // Random labels: the loss starts near ln 10 and the 20 steps move it.
    assert.ok(Math.abs(losses.node[0] - Math.log(10)) < 0.1, `first loss ${losses.node[0]}`);
    assert.ok(losses.node[19] < losses.node[0], `loss ${losses.node[0]} → ${losses.node[19]}`);
    assertSameValues(t, 1e-4, 1e-2);
    const n = await t.node.evaluate(batches(2, 64, 784, 2));
    const w = await t.web.evaluate(batches(2, 64, 784, 2));
    assertRelClose([w.lossSum, w.batchLossSum], [n.lossSum, n.batchLossSum], 1e-5, 0, "eval");
    assert.deepEqual([w.correct, w.batches, w.samples], [n.correct, 2, 128]);
  } finally {
    await t.node.release();
    await t.web.release();
  }
});

Deno.test("the FashionMNIST CNN (batch norm, dropout, Adam) trains and evaluates the same on both backends", async () => {
  const compiled = compileModel({
    data: { sampleShape: [1, 28, 28], classes: 10 },
    model: cnn,
    loss: crossEntropy(),
    optimizer: adam({ lr: 1e-3 }),
  });
  const t = await trainers(compiled);
  try {
    const losses = await trainBoth(t, batches(4, 16, 784, 3));
    assertRelClose(losses.web, losses.node, 1e-5, 0, "loss");
    // Running statistics (and num_batches_tracked, int64) moved the same way.
    assert.deepEqual(t.web.buffers.get("1.num_batches_tracked")!.data, BigInt64Array.of(4n));
    // The convolutions' biases (0.bias, 4.bias) feed batch norms, which subtract each channel's
    // mean: their true gradient is zero and the computed one is float rounding noise, which Adam
    // scales up to steps of about ±lr whatever its size, so they (their Adam moments, and the
    // running means that average them in) differ by up to ~2·lr per step, as they would between
    // any two builds of onnxruntime. Everything else agrees to rounding.
    const noise = t.node.state.get("0.bias.exp_avg")!.data as Float32Array;
    assert.ok(noise.every((g) => Math.abs(g) < 1e-6), `0.bias.exp_avg ${noise}`);
    assertSameValues(t, 1e-4, 1e-2, {
      names: /^(0\.bias|4\.bias|1\.running_mean|5\.running_mean)/,
      tol: 2 * 1e-3 * 4,
    });
    // Eval mode uses the running means, which (unlike the training losses) see those biases:
    // evaluate both on node's values.
    t.web.load({ params: t.node.params, buffers: t.node.buffers });
    const n = await t.node.evaluate(batches(2, 16, 784, 4));
    const w = await t.web.evaluate(batches(2, 16, 784, 4));
    assertRelClose([w.lossSum, w.batchLossSum], [n.lossSum, n.batchLossSum], 1e-5, 0, "eval");
    assert.deepEqual([w.correct, w.batches, w.samples], [n.correct, 2, 32]);
  } finally {
    await t.node.release();
    await t.web.release();
  }
});

/** A one-op model: y = relu(x). */
function reluModel(): Uint8Array {
  const b = createGraphBuilder();
  b.output("y", b.op1("Relu", [b.input("x", { dtype: "float32", shape: ["N", 2] })]));
  return emitModel(b.build("relu"));
}

Deno.test("the web backend runs on the CPU only: cuda fails with one line", async () => {
  const e = await assertRejectsMatch(
    () => createSession(reluModel(), { backend: "web", device: "cuda" }),
    DeviceError,
    "Cannot use device cuda on the web backend: onnxruntime-web runs on WebAssembly (CPU) only " +
      "here; use the node backend for cuda",
  );
  assert.ok(!e.message.includes("\n"), "one line");
  await assertRejectsMatch(
    () => createSession(reluModel(), { backend: "wasm" as Backend }),
    RangeError,
    "Cannot create a session: unknown backend 'wasm' (expected node or web)",
  );
});

Deno.test("the web backend's thread pool is sized once per process", async () => {
  // The trainers above started it with 1 thread (or this does, when run alone).
  const session = await createSession(reluModel(), { backend: "web", threads: 1 });
  const out = await session.run({
    x: { dtype: "float32", dims: [2, 2], data: Float32Array.of(1, -2, 3, -4) },
  });
  assert.deepEqual(out.y, { dtype: "float32", dims: [2, 2], data: Float32Array.of(1, 0, 3, 0) });
  await session.release();
  await assertRejectsMatch(
    () => createSession(reluModel(), { backend: "web", threads: 3 }),
    RangeError,
    "Cannot use 3 threads on the web backend: its WebAssembly runtime was started with 1 by " +
      "this process's first web session, and its thread pool is sized once",
  );
});

Deno.test("--backend parses to the run's backend", () => {
  const options = parseCliArgs(["--backend", "web", "--threads", "2"]) as Record<string, unknown>;
  assert.equal(options.backend, "web");
  assert.equal(options.threads, 2);
  assert.equal((parseCliArgs(["--backend=node"]) as { backend?: string }).backend, "node");
  assert.equal("backend" in (parseCliArgs([]) as object), false);
  assertThrowsMatch(
    () => parseCliArgs(["--backend", "wasm"]),
    RangeError,
    "Invalid --backend: expected node or web, got 'wasm'",
  );
});

const ROOT = new URL("../", import.meta.url);

/** A script that trains the MLP 3 steps on a backend and prints the losses as JSON. */
const SCRIPT = `
import { createTrainer } from "${new URL("src/train/trainer.ts", ROOT).href}";
import { compileModel, crossEntropy, flatten, linear, relu, sequential, sgd } from "${
  new URL("mod.ts", ROOT).href
}";
const compiled = compileModel({
  data: { sampleShape: [4], classes: 3 },
  model: sequential(flatten(), linear(4, 8), relu(), linear(8, 3)),
  loss: crossEntropy(),
  optimizer: sgd({ lr: 0.1 }),
});
const t = await createTrainer(compiled, { seed: 3, backend: Deno.args[0] });
const batch = { x: Float32Array.from({ length: 20 }, (_, i) => Math.sin(i)), y: BigInt64Array.from([0n, 1n, 2n, 1n, 0n]), size: 5 };
const losses = [];
for (let i = 0; i < 3; i++) losses.push(await t.step(batch));
await t.release();
console.log(JSON.stringify(losses));
`;

Deno.test("deno run with read access to onnxruntime-web's folder only trains on the web backend", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/train.ts`;
    await Deno.writeTextFile(script, SCRIPT);
    // No --allow-ffi, --allow-env, --allow-write or --allow-net; read only where the .wasm lies.
    const wasmDir = dirname(fromFileUrl(import.meta.resolve("onnxruntime-web")));
    const run = async (backend: Backend) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-prompt",
          "--config",
          fromFileUrl(new URL("deno.json", ROOT)),
          `--allow-read=${wasmDir}`,
          script,
          backend,
        ],
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
      return {
        code: out.code,
        stdout: new TextDecoder().decode(out.stdout),
        stderr: new TextDecoder().decode(out.stderr),
      };
    };
    const web = await run("web");
    assert.equal(web.code, 0, web.stderr);
    const losses: number[] = JSON.parse(web.stdout);
    // The same training in this process on the node backend.
    const compiled = compileModel({
      data: { sampleShape: [4], classes: 3 },
      model: sequential(flatten(), linear(4, 8), relu(), linear(8, 3)),
      loss: crossEntropy(),
      optimizer: sgd({ lr: 0.1 }),
    });
    const t = await createTrainer(compiled, { seed: 3 });
    const batch = {
      x: Float32Array.from({ length: 20 }, (_, i) => Math.sin(i)),
      y: BigInt64Array.from([0n, 1n, 2n, 1n, 0n]),
      size: 5,
    };
    const expected = [];
    for (let i = 0; i < 3; i++) expected.push(await t.step(batch));
    await t.release();
    assertRelClose(losses, expected, 1e-5, 0, "losses");
    assert.ok(expected[2] < expected[0], `loss ${expected[0]} → ${expected[2]}`);
    // The node backend needs --allow-ffi: its native addon is what the web backend avoids.
    const node = await run("node");
    assert.notEqual(node.code, 0);
    assert.match(
      node.stderr,
      /Missing ffi permission for .*onnxruntime_binding\.node: run with .*--allow-ffi=/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
