/**
 * One epoch of a pipeline on one process or, under `mpirun -np N … --distributed`, on N processes,
 * recording every step's loss: rank 0 prints ONE JSON object (the losses, the test loss and
 * accuracy). Run it both ways and compare (`--compare A.json B.json` prints the worst per-step
 * relative difference and where it occurs).
 *
 *     deno run -P bench/crosscheck/distributed_epoch.ts fmnist|fmnist_cnn|fmnist_cnn_nobias ROOT [--distributed] > one.json
 *     mpirun -np 2 deno run -P bench/crosscheck/distributed_epoch.ts fmnist_cnn ROOT --distributed > two.json
 *     deno run -P bench/crosscheck/distributed_epoch.ts --compare one.json two.json
 * @module
 */
import { fmnist } from "../../pipelines/fmnist.ts";
import { cnn, fmnistCnn } from "../../pipelines/fmnist_cnn.ts";
import { conv2d, sequential } from "../../mod.ts";
import { oneLineErrors } from "../_cli.ts";

oneLineErrors("distributed_epoch");
if (Deno.args[0] === "--compare") {
  const [a, b] = Deno.args.slice(1, 3).map((p) => JSON.parse(Deno.readTextFileSync(p)));
  const rel = (x: number, y: number) => Math.abs(x - y) / Math.max(1, Math.abs(x), Math.abs(y));
  const diffs = a.losses.map((l: number, i: number) => rel(l, b.losses[i]));
  const worst = Math.max(...diffs);
  const over = diffs.filter((d: number) => d > 1e-6).length;
  console.log(JSON.stringify({
    steps: [a.losses.length, b.losses.length],
    worst_step_rel_diff: Number(worst.toExponential(2)),
    worst_at_step: diffs.indexOf(worst),
    steps_over_1e6: over,
    median_step_rel_diff: Number(
      [...diffs].sort((x, y) => x - y)[diffs.length >> 1].toExponential(2),
    ),
    test: [a.test, b.test],
  }));
} else {
  const [name, root] = Deno.args;
  // The CNN as PyTorch builds such nets: no bias in a convolution that a batch norm follows (its
  // gradient is 0 but for rounding, which Adam scales up to full steps).
  const noBias = sequential(
    ...cnn.layers.map((l) =>
      l.kind === "conv2d"
        ? conv2d(l.inChannels, l.outChannels, l.kernelSize[0], {
          padding: l.padding[0] as number,
          bias: false,
        })
        : l
    ),
  );
  const pipelines = {
    fmnist,
    fmnist_cnn: fmnistCnn,
    fmnist_cnn_nobias: fmnistCnn.model(noBias),
  } as const;
  const p = pipelines[name as keyof typeof pipelines];
  if (!p || !root) {
    throw new RangeError(
      "usage: distributed_epoch.ts fmnist|fmnist_cnn|fmnist_cnn_nobias ROOT [--distributed]",
    );
  }
  const losses: number[] = [];
  const result = await p.run({
    dataDir: root,
    epochs: 1,
    seed: 1,
    ...(Deno.args.includes("--threads1") ? { threads: 1 } : {}),
    quiet: true,
    log: () => {},
    distributed: Deno.args.includes("--distributed"),
    onBatch: (e) => void losses.push(e.loss),
  });
  const rank = Number(Deno.env.get("OMPI_COMM_WORLD_RANK") ?? 0);
  const e = result.epochs[0];
  if (rank === 0) console.log(JSON.stringify({ losses, test: [e.testLoss, e.accuracy] }));
}
