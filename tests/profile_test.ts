// bench/profile.ts: onnxruntime's profile of one training step, attributed to forward layers,
// their backward (∂) and the optimizer.
import { fileURLToPath } from "node:url";
import { assert } from "./_assert.ts";

Deno.test("bench/profile.ts attributes kernel time to forward, backward (∂ layer) and optimizer", async () => {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      "-P",
      "bench/profile.ts",
      "--model",
      "mlp",
      "--batch-size",
      "8",
      "--steps",
      "2",
      "--warmup",
      "1",
      "--threads",
      "1",
      "--top",
      "40",
      "--json",
    ],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const report = JSON.parse(new TextDecoder().decode(out.stdout));
  try {
    assert.deepEqual([report.model, report.batch, report.steps], ["mlp", 8, 2]);
    for (const part of ["forward", "backward", "optimizer"]) {
      assert.ok(report.by_kind[part] > 0, `${part}: ${JSON.stringify(report.by_kind)}`);
    }
    // The MLP's Gemms: forward ones name their layer, backward ones its ∂.
    const gemms = report.top_nodes.filter((n: { op: string }) => /Gemm$/.test(n.op));
    assert.ok(
      gemms.some((n: { kind: string; origin: string }) =>
        n.kind === "forward" && /^layer \d+ \(linear 784→512\)$/.test(n.origin)
      ),
      JSON.stringify(gemms),
    );
    const backward = report.top_nodes.filter((n: { kind: string }) => n.kind === "backward");
    assert.ok(backward.length > 0);
    for (const n of backward) assert.match(n.origin, /^∂ /);
    assert.ok(
      backward.some((n: { origin: string }) => /^∂ layer 1 \(linear 784→512\)/.test(n.origin)),
    );
    const sum = Object.values(report.by_kind as Record<string, number>).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - report.kernel_ms_per_step) < 0.01 + 1e-3 * sum);
  } finally {
    await Deno.remove(`${root}/${report.profile}`).catch(() => {});
  }
});

Deno.test("bench/profile.ts --onnx profiles an imported classifier", async () => {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const { compileModel, createTrainer, crossEntropy, linear, relu, sequential, sgd } = await import(
    "../mod.ts"
  );
  const compiled = compileModel({
    data: { sampleShape: [4], classes: 3 },
    model: sequential(linear(4, 8), relu(), linear(8, 3)),
    loss: crossEntropy(),
    optimizer: sgd({ lr: 0.1 }),
  });
  const trainer = await createTrainer(compiled, { seed: 1 });
  const dir = `${root}/out`;
  await Deno.mkdir(dir, { recursive: true });
  const path = await Deno.makeTempFile({ dir, prefix: "profile-test-", suffix: ".onnx" });
  await Deno.writeFile(path, trainer.exportModel());
  await trainer.release();
  let report: { model: string; by_kind: Record<string, number>; profile: string } | undefined;
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-q",
        "-P",
        "bench/profile.ts",
        "--onnx",
        path,
        "--input-shape",
        "4",
        "--classes",
        "3",
        "--batch-size",
        "8",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--threads",
        "1",
        "--json",
      ],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    report = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(report!.model, path.replace(/^.*\//, "").replace(/\.onnx$/, ""));
    for (const part of ["forward", "backward", "optimizer"]) {
      assert.ok(report!.by_kind[part] > 0, `${part}: ${JSON.stringify(report!.by_kind)}`);
    }
  } finally {
    await Deno.remove(path);
    if (report) await Deno.remove(`${root}/${report.profile}`).catch(() => {});
  }
});
