/**
 * Writes a generated FashionMNIST-shaped set (60 000 + 10 000 images by default) in torchvision's
 * layout, for the benchmark and for trying the pipeline without the real data.
 *
 *     deno run -P bench/make_data.ts ROOT [--train N] [--test N] [--seed N]
 * @module
 */
import { parseArgs } from "node:util";
import { intArg, oneLineErrors } from "./_cli.ts";
import { writeSyntheticFashionMnist } from "../src/data/synthetic.ts";

oneLineErrors("make_data");
const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    train: { type: "string", default: "60000" },
    test: { type: "string", default: "10000" },
    seed: { type: "string", default: "1" },
  },
});
const root = positionals[0] ?? "bench/data";
const { dir } = await writeSyntheticFashionMnist(root, {
  train: intArg("--train", values.train),
  test: intArg("--test", values.test),
  seed: intArg("--seed", values.seed, 0),
});
console.log(`wrote ${values.train} + ${values.test} generated images to ${dir}`);
