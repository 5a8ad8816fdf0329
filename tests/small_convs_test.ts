// Convolutions with few positions an image run as one GEMM over the batch (lowerSmallConvs): the
// same values as onnxruntime's Conv and ConvTranspose, for strides, pads, dilations, bias,
// output padding, a symbolic batch, and only where they are small.
import { lowerSmallConvs } from "../src/compile/small_convs.ts";
import type { Attrs } from "../src/ir/types.ts";
import { createRng } from "../src/util/random.ts";
import { assert, assertClose } from "./_assert.ts";
import { buildGraph, countOps, product, runGraph, tensor, uniform, values } from "./_harness.ts";

interface Case {
  readonly op: "Conv" | "ConvTranspose";
  readonly x: readonly number[];
  readonly w: readonly number[];
  readonly bias?: boolean;
  readonly attrs?: Attrs;
}

/** Runs one Conv/ConvTranspose node plain and rewritten; returns how many nodes it became. */
async function check(c: Case, batch = c.x[0]): Promise<number> {
  const rng = createRng(product(c.x) + product(c.w));
  const group = Number(c.attrs?.group ?? 1);
  const outChannels = c.op === "Conv" ? c.w[0] : c.w[1] * group;
  const graph = buildGraph("conv", (b) => {
    const x = b.input("x", { dtype: "float32", shape: ["N", ...c.x.slice(1)] });
    const w = b.input("w", { dtype: "float32", shape: [...c.w] });
    const bias = c.bias ? b.input("b", { dtype: "float32", shape: [outChannels] }) : null;
    b.output("y", b.op1(c.op, bias ? [x, w, bias] : [x, w], c.attrs ?? {}));
  });
  const lowered = lowerSmallConvs(graph);
  const random = (dims: readonly number[]) =>
    tensor("float32", dims, Array.from({ length: product(dims) }, () => uniform(rng)));
  const feeds = {
    x: random([batch, ...c.x.slice(1)]),
    w: random(c.w),
    ...(c.bias ? { b: random([outChannels]) } : {}),
  };
  const want = (await runGraph(graph, feeds)).y, got = (await runGraph(lowered, feeds)).y;
  assert.deepEqual(got.dims, want.dims);
  assertClose(values(got), values(want), 1e-5, `${c.op} ${JSON.stringify(c)}`);
  return lowered.nodes.length;
}

Deno.test("small convs: a Conv with P < 16 positions is one GEMM over the batch, same values", async () => {
  const cases: Case[] = [
    { op: "Conv", x: [3, 4, 2, 2], w: [5, 4, 3, 3], bias: true, attrs: { pads: [1, 1, 1, 1] } },
    {
      op: "Conv",
      x: [2, 3, 4, 4],
      w: [6, 3, 3, 3],
      attrs: { strides: [2, 2], pads: [1, 1, 1, 1] },
    },
    { op: "Conv", x: [2, 3, 5, 5], w: [4, 3, 3, 3], bias: true, attrs: { dilations: [2, 2] } },
    { op: "Conv", x: [2, 3, 3, 3], w: [4, 3, 1, 1], attrs: {} },
    { op: "Conv", x: [2, 3, 6], w: [4, 3, 3], attrs: { strides: [2], pads: [1, 0] } },
  ];
  for (const c of cases) assert.ok((await check(c)) > 1, "rewritten");
  // A symbolic batch, run with another N than the shapes suggest.
  await check(cases[0], 7);
});

Deno.test("small convs: a ConvTranspose with P < 16 input positions, same values", async () => {
  const cases: Case[] = [
    {
      op: "ConvTranspose",
      x: [3, 5, 2, 2],
      w: [5, 4, 3, 3],
      bias: true,
      attrs: { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] },
    },
    { op: "ConvTranspose", x: [2, 4, 3, 3], w: [4, 2, 1, 1], attrs: { strides: [2, 2] } },
    { op: "ConvTranspose", x: [2, 3, 2, 3], w: [3, 2, 3, 2], attrs: { dilations: [2, 1] } },
  ];
  for (const c of cases) assert.ok((await check(c)) > 1, "rewritten");
});

Deno.test("small convs: grouped and depthwise ones with P ≤ 16 are one batched MatMul, same values", async () => {
  const pads = [1, 1, 1, 1];
  const cases: Case[] = [
    { op: "Conv", x: [3, 4, 2, 2], w: [6, 2, 3, 3], bias: true, attrs: { group: 2, pads } },
    { op: "Conv", x: [2, 5, 4, 4], w: [5, 1, 3, 3], attrs: { group: 5, pads } }, // depthwise, 16
    {
      op: "Conv",
      x: [2, 4, 8, 8],
      w: [8, 1, 3, 3],
      bias: true,
      attrs: { group: 4, strides: [2, 2], pads },
    },
    { op: "Conv", x: [2, 3, 4, 4], w: [3, 1, 5, 5], attrs: { group: 3, pads: [2, 2, 2, 2] } },
    {
      op: "ConvTranspose",
      x: [3, 4, 2, 2],
      w: [4, 1, 3, 3],
      bias: true,
      attrs: { group: 4, strides: [2, 2], pads, output_padding: [1, 1] },
    },
    { op: "ConvTranspose", x: [2, 6, 3, 3], w: [6, 2, 3, 3], attrs: { group: 3, pads } },
  ];
  for (const c of cases) assert.ok((await check(c)) > 1, "rewritten");
  await check(cases[1], 5); // another batch than the shapes suggest
});

Deno.test("small convs: larger convolutions stay Conv nodes", () => {
  const keeps: Case[] = [
    { op: "Conv", x: [2, 3, 4, 4], w: [4, 3, 1, 1] }, // 16 positions
    { op: "Conv", x: [2, 4, 5, 5], w: [4, 1, 3, 3], attrs: { group: 4, pads: [1, 1, 1, 1] } },
    { op: "ConvTranspose", x: [2, 3, 4, 4], w: [3, 2, 3, 3] },
    { op: "ConvTranspose", x: [2, 4, 5, 5], w: [4, 1, 3, 3], attrs: { group: 4 } },
  ];
  for (const c of keeps) {
    const graph = buildGraph("conv", (b) => {
      const x = b.input("x", { dtype: "float32", shape: [...c.x] });
      const w = b.input("w", { dtype: "float32", shape: [...c.w] });
      b.output("y", b.op1(c.op, [x, w], c.attrs ?? {}));
    });
    assert.equal(lowerSmallConvs(graph), graph, JSON.stringify(c));
    assert.equal(countOps(graph, c.op), 1);
  }
});
