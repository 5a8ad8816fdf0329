import { parseCliArgs } from "../src/cli/cli.ts";
import { formatFixed, testLines, trainLine } from "../src/train/format.ts";
import { createGraphBuilder } from "../src/ir/builder.ts";
import { emitModel } from "../src/onnx/emit.ts";
import { createSession, DeviceError } from "../src/runtime/session.ts";
import { assert, assertRejectsMatch, assertThrowsMatch } from "./_assert.ts";

Deno.test("CLI flags parse into run options", () => {
  assert.deepEqual(
    parseCliArgs([
      "--data-dir",
      "/d",
      "--epochs",
      "3",
      "--batch-size=32",
      "--lr",
      "0.01",
      "--seed",
      "42",
      "--device",
      "cuda",
      "--threads",
      "2",
      "--export",
      "m.onnx",
      "--emit",
      "out",
    ]),
    {
      dataDir: "/d",
      epochs: 3,
      batchSize: 32,
      lr: 0.01,
      seed: 42,
      device: "cuda",
      threads: 2,
      exportPath: "m.onnx",
      emitDir: "out",
    },
  );
  assert.equal(parseCliArgs(["-h"]), "help");
  assertThrowsMatch(
    () => parseCliArgs(["--epochs", "0"]),
    RangeError,
    "Invalid --epochs: expected a positive integer, got '0'",
  );
  assertThrowsMatch(
    () => parseCliArgs(["--device", "tpu"]),
    RangeError,
    "Invalid --device: expected cpu or cuda, got 'tpu'",
  );
  assertThrowsMatch(
    () => parseCliArgs(["--lr", "fast"]),
    RangeError,
    "Invalid --lr: expected a number ≥ 0, got 'fast'",
  );
  assert.throws(() => parseCliArgs(["--epoch", "3"]), /Unknown option '--epoch'/);
});

Deno.test("log lines are formatted exactly as the tutorial's Python", () => {
  assert.equal(trainLine(2.2987298965454100, 64, 60000), "loss: 2.298730  [   64/60000]");
  assert.equal(trainLine(0.5, 57664, 60000), "loss: 0.500000  [57664/60000]");
  assert.deepEqual(testLines(0.509, 2.166725), [
    "Test Error: ",
    " Accuracy: 50.9%, Avg loss: 2.166725 ",
    "",
  ]);
  // Python rounds the exact binary value, ties to even: f"{50.25:.1f}" == "50.2", f"{0.125:.2f}" == "0.12".
  assert.equal(formatFixed(50.25, 1), "50.2");
  assert.equal(formatFixed(50.75, 1), "50.8");
  assert.equal(formatFixed(0.125, 2), "0.12");
  assert.equal(formatFixed(0.375, 2), "0.38");
  assert.equal(formatFixed(50.35, 1), "50.4"); // 50.35 is 50.350000000000001… in binary
  assert.equal(formatFixed(71.0, 1), "71.0");
});

Deno.test("--device cuda without the CUDA provider fails with one line saying how to get it", async () => {
  const b = createGraphBuilder();
  b.output("y", b.op1("Relu", [b.input("x", { dtype: "float32", shape: ["N", 2] })]));
  const model = emitModel(b.build("relu"));
  let cudaInstalled = false;
  try {
    await (await createSession(model, { device: "cuda" })).release();
    cudaInstalled = true;
  } catch (e) {
    assert.ok(e instanceof DeviceError, String(e));
  }
  if (cudaInstalled) return; // A machine with the CUDA provider: nothing to check here.
  const e = await assertRejectsMatch(
    () => createSession(model, { device: "cuda" }),
    DeviceError,
    /^Cannot use device cuda: .*ONNXRUNTIME_NODE_INSTALL=cuda12 deno install --allow-scripts=npm:onnxruntime-node/,
  );
  assert.ok(!e.message.includes("\n"), "one line");
});
