/**
 * Cross-check of `fromOnnx` fine-tuning with PyTorch on torchvision's resnet18: reads the models and
 * PyTorch's per-step losses written by `resnet18_reference.py` (bench/resnet18/), fine-tunes each
 * imported model for the same 20 SGD and 20 Adam steps on the same data, and prints the worst
 * relative per-step loss difference (target ≤ 1e-4).
 *
 * Free-running trajectories drift apart as float32 rounding differences are amplified by training.
 * With LOCKSTEP_DIR it also writes, for the opset-17 model, the parameters and optimizer state at
 * every step (safetensors) and the losses, for `resnet18_lockstep.py` to take each step in PyTorch
 * from identical state.
 *
 *     /usr/bin/python3 bench/crosscheck/resnet18_reference.py
 *     deno run -P bench/crosscheck/onnx_finetune.ts [DIR] [LOCKSTEP_DIR]
 *     /usr/bin/python3 bench/crosscheck/resnet18_lockstep.py DIR LOCKSTEP_DIR
 * @module
 */
import { adam, compileModel, crossEntropy, fromOnnx, type Optimizer, sgd } from "../../mod.ts";
import { encodeSafetensors, type SafeTensor } from "../../src/io/safetensors.ts";
import { createTrainer } from "../../src/train/trainer.ts";
import { describeFsError, writeFileAtomic } from "../../src/io/atomic_write.ts";
import { oneLineErrors } from "../_cli.ts";

oneLineErrors("onnx_finetune");
const [dir = "bench/resnet18", lockDir] = Deno.args;
if (lockDir) await Deno.mkdir(lockDir, { recursive: true });
const ref = JSON.parse(
  await Deno.readTextFile(`${dir}/reference.json`).catch((e) => {
    throw new Error(
      `Cannot read ${dir}/reference.json: ${describeFsError(e)} (run ` +
        "bench/crosscheck/resnet18_reference.py first)",
    );
  }),
);
for (const [name, r] of Object.entries<Record<string, never>>(ref.models)) {
  const bytes = await Deno.readFile(`${dir}/${r.file}`);
  const shared = (r.ops as string[]).includes("Identity") ? "untie" : "error";
  const batch = {
    x: Float32Array.from(r.x as number[]),
    y: BigInt64Array.from((r.y as number[]).map(BigInt)),
    size: (r.y as number[]).length,
  };
  for (
    const [label, optimizer] of [
      ["sgd", sgd({ lr: ref.sgdLr })],
      ["adam", adam({ lr: ref.adamLr })],
    ] as [string, Optimizer][]
  ) {
    const start = performance.now();
    const compiled = compileModel({
      data: { sampleShape: r.sampleShape, classes: r.classes },
      model: fromOnnx(bytes, { shared }),
      loss: crossEntropy(),
      optimizer,
    });
    const trainer = await createTrainer(compiled, { seed: 0 });
    const torch = r[label] as number[];
    let worst = 0, at = 0;
    const lock = lockDir && name.endsWith("17") ? `${lockDir}/${label}` : undefined;
    const snapshot = async (step: number) => {
      if (!lock) return;
      const tensors = new Map<string, SafeTensor>();
      for (const [k, t] of [...trainer.params, ...trainer.state]) {
        tensors.set(k, { dtype: "float32", shape: t.dims, data: t.data as Float32Array });
      }
      await writeFileAtomic(`${lock}_${step}.safetensors`, encodeSafetensors(tensors));
    };
    const losses: number[] = [];
    for (let step = 0; step < torch.length; step++) {
      await snapshot(step);
      const loss = await trainer.step(batch);
      losses.push(loss);
      const rel = Math.abs(loss - torch[step]) / Math.abs(torch[step]);
      if (rel > worst) [worst, at] = [rel, step];
    }
    await snapshot(torch.length);
    if (lock) {
      await writeFileAtomic(
        `${lock}_losses.json`,
        new TextEncoder().encode(JSON.stringify(losses)),
      );
    }
    await trainer.release();
    const params = compiled.params.reduce((n, p) => n + p.shape.reduce((a, d) => a * d, 1), 0);
    console.log(
      `${name} ${label}: ${torch.length} steps, ${compiled.params.length} parameter tensors ` +
        `(${params.toLocaleString("en-US")} values), ops ${(r.ops as string[]).join(" ")}; ` +
        `torch loss ${torch[0].toFixed(4)} → ${torch.at(-1)!.toFixed(4)}; ` +
        `max relative per-step loss difference ${worst.toExponential(2)} (step ${at}); ` +
        `${((performance.now() - start) / 1000).toFixed(1)} s`,
    );
  }
}
