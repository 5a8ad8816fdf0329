/**
 * Writes a generated FashionMNIST-shaped set (60 000 + 10 000 images by default) in torchvision's
 * layout, for the benchmark and for trying the pipeline without the real data.
 *
 *     deno run -P bench/make_data.ts ROOT [--train N] [--test N] [--seed N]
 * @module
 */
import { parseArgs } from "node:util";
import { writeSyntheticFashionMnist } from "../src/data/synthetic.ts";

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
  train: Number(values.train),
  test: Number(values.test),
  seed: Number(values.seed),
});
console.log(`wrote ${values.train} + ${values.test} generated images to ${dir}`);
