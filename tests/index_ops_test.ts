/**
 * Index ops (Tile, CumSum, Trilu, GatherND, GatherElements, Einsum): forward values from
 * onnxruntime against small JS reference implementations (numpy's / ONNX's semantics), gradients
 * against float64 central finite differences, and the CompileErrors of unsupported forms.
 */
import { createGraphBuilder, type GraphBuilder } from "../src/ir/builder.ts";
import { CompileError } from "../src/ir/errors.ts";
import type { DType, Value } from "../src/ir/types.ts";
import { assert, assertClose, assertThrowsMatch } from "./_assert.ts";
import { checkGradients, type InputSpec, product, runGraph, tensor, values } from "./_harness.ts";

// ---- a tiny n-d array for the references ----

/** A dense row-major array. */
interface Nd {
  readonly dims: readonly number[];
  readonly data: readonly number[];
}

function strides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

/** Every index tuple of `dims`, row-major. */
function* positions(dims: readonly number[]): Generator<number[]> {
  const n = product(dims);
  for (let flat = 0; flat < n; flat++) {
    const p = new Array<number>(dims.length);
    let r = flat;
    for (let i = dims.length - 1; i >= 0; i--) {
      p[i] = r % dims[i];
      r = Math.floor(r / dims[i]);
    }
    yield p;
  }
}

function at(a: Nd, p: readonly number[]): number {
  const s = strides(a.dims);
  return a.data[p.reduce((o, v, i) => o + v * s[i], 0)];
}

/** Builds an Nd of `dims` from a function of the position. */
function fill(dims: readonly number[], f: (p: number[]) => number): Nd {
  return { dims, data: [...positions(dims)].map(f) };
}

/** Deterministic, distinct-ish test values. */
function ramp(dims: readonly number[], seed = 1): Nd {
  return { dims, data: Array.from({ length: product(dims) }, (_, i) => ((i * 7 + seed) % 13) - 6) };
}

// ---- references (numpy / ONNX semantics) ----

function tileRef(x: Nd, reps: readonly number[]): Nd {
  return fill(x.dims.map((d, i) => d * reps[i]), (p) => at(x, p.map((v, i) => v % x.dims[i])));
}

function cumsumRef(x: Nd, axis: number, exclusive: boolean, reverse: boolean): Nd {
  const n = x.dims[axis];
  return fill(x.dims, (p) => {
    let s = 0;
    for (let j = 0; j < n; j++) {
      const inc = reverse ? j > p[axis] : j < p[axis];
      if (inc || (!exclusive && j === p[axis])) s += at(x, p.map((v, i) => (i === axis ? j : v)));
    }
    return s;
  });
}

function triluRef(x: Nd, upper: boolean, k: number): Nd {
  const r = x.dims.length;
  return fill(x.dims, (p) => {
    const diff = p[r - 1] - p[r - 2];
    return (upper ? diff >= k : diff <= k) ? at(x, p) : 0;
  });
}

function gatherNdRef(data: Nd, idx: Nd, bd: number): Nd {
  const m = idx.dims[idx.dims.length - 1];
  const lead = idx.dims.slice(0, -1), rest = data.dims.slice(bd + m);
  return fill([...lead, ...rest], (p) => {
    const q = p.slice(0, lead.length);
    const tuple = Array.from({ length: m }, (_, j) => {
      const v = at(idx, [...q, j]);
      return v < 0 ? v + data.dims[bd + j] : v;
    });
    return at(data, [...q.slice(0, bd), ...tuple, ...p.slice(lead.length)]);
  });
}

function gatherElementsRef(data: Nd, idx: Nd, axis: number): Nd {
  return fill(idx.dims, (p) => {
    const v = at(idx, p);
    return at(data, p.map((c, i) => (i === axis ? (v < 0 ? v + data.dims[axis] : v) : c)));
  });
}

/**
 * numpy's einsum for explicit equations of lowercase letters with a leading '...' (which becomes
 * uppercase letters, right-aligned, size-1 dimensions broadcast).
 */
function einsumRef(equation: string, ops: readonly Nd[]): Nd {
  const [lhs, rhs] = equation.split("->");
  const terms = lhs.split(",");
  const ell = (t: string) => t.startsWith("...");
  const e = Math.max(0, ...terms.map((t, i) => ell(t) ? ops[i].dims.length - t.length + 3 : 0));
  const expand = (t: string, rank: number) =>
    ell(t) ? "ABCDEFGH".slice(e - (rank - t.length + 3), e) + t.slice(3) : t;
  const ins = terms.map((t, i) => expand(t, ops[i].dims.length));
  const out = ell(rhs) ? "ABCDEFGH".slice(0, e) + rhs.slice(3) : rhs;
  const size = new Map<string, number>();
  ins.forEach((t, i) =>
    [...t].forEach((l, j) => size.set(l, Math.max(size.get(l) ?? 1, ops[i].dims[j])))
  );
  const letters = [...size.keys()];
  const outDims = [...out].map((l) => size.get(l)!);
  const acc = new Array<number>(product(outDims)).fill(0);
  const os = strides(outDims);
  for (const p of positions(letters.map((l) => size.get(l)!))) {
    const val = (l: string) => p[letters.indexOf(l)];
    const term = ins.reduce(
      (prod, t, i) => prod * at(ops[i], [...t].map((l, j) => (ops[i].dims[j] === 1 ? 0 : val(l)))),
      1,
    );
    acc[[...out].reduce((o, l, j) => o + val(l) * os[j], 0)] += term;
  }
  return { dims: outDims, data: acc };
}

// ---- running graphs ----

/** A fixed graph input: dims, values and dtype (default float64). */
interface Fixed extends Nd {
  readonly dtype?: DType;
}

/** Runs `f` on fixed inputs in onnxruntime and returns its output. */
async function forward(
  inputs: Readonly<Record<string, Fixed>>,
  f: (b: GraphBuilder, x: Readonly<Record<string, Value>>) => Value,
): Promise<Nd> {
  const b = createGraphBuilder();
  const x: Record<string, Value> = {};
  const feeds: Record<string, ReturnType<typeof tensor>> = {};
  for (const [name, t] of Object.entries(inputs)) {
    const dtype = t.dtype ?? "float64";
    x[name] = b.input(name, { dtype, shape: t.dims });
    feeds[name] = tensor(dtype, t.dims, t.data);
  }
  b.output("y", f(b, x));
  const y = (await runGraph(b.build("forward"), feeds)).y;
  return { dims: [...y.dims], data: values(y) };
}

function assertNd(actual: Nd, expected: Nd, what: string): void {
  assert.deepEqual(actual.dims, expected.dims, `${what}: dims`);
  assertClose(actual.data, expected.data, 1e-9, what);
}

const float = (shape: InputSpec["shape"], dims?: readonly number[]): InputSpec => ({
  shape,
  ...(dims ? { dims } : {}),
});
const ints = (idx: Nd): InputSpec => ({ shape: idx.dims, dtype: "int64", data: idx.data });

// ---- Tile ----

Deno.test("Tile forward matches numpy.tile", async () => {
  for (const [dims, reps] of [[[2, 3], [2, 1]], [[2, 3], [1, 3]], [[2, 1, 3], [2, 2, 1]]]) {
    const x = ramp(dims);
    const y = await forward({ x }, (b, v) => b.op1("Tile", [v.x, b.ints(reps)]));
    assertNd(y, tileRef(x, reps), `Tile ${dims} × ${reps}`);
  }
});

Deno.test("Tile gradient: sums over the repeats", async () => {
  for (const [dims, reps] of [[[2, 3], [2, 3]], [[3], [4]], [[2, 1, 3], [1, 2, 2]]]) {
    await checkGradients({
      inputs: { x: float(dims) },
      wrt: ["x"],
      build: (b, v) => b.op1("Tile", [v.x, b.ints(reps)]),
    });
  }
});

Deno.test("Tile with a symbolic batch repeated once: shape and gradient", async () => {
  const { graph } = await checkGradients({
    inputs: { x: float(["N", 3]) },
    wrt: ["x"],
    build: (b, v) => b.op1("Tile", [v.x, b.ints([1, 2])]),
    runs: [{ x: [2, 3] }, { x: [5, 3] }],
  });
  const tile = graph.nodes.find((n) => n.op === "Tile")!;
  assert.deepEqual(tile.outputs[0].type.shape, ["N", 6]);
});

Deno.test("Tile errors: repeats unknown at compile time, a symbolic dimension repeated", () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float32", shape: ["N", 3] });
  const reps = b.input("reps", { dtype: "int64", shape: [2] });
  assertThrowsMatch(
    () => b.op1("Tile", [x, reps]),
    CompileError,
    "Tile expects repeats to be a constant",
  );
  assertThrowsMatch(
    () => b.op1("Tile", [x, b.ints([2, 1])]),
    CompileError,
    "Tile cannot repeat symbolic dimension N of [N, 3] 2 times",
  );
  assertThrowsMatch(
    () => b.op1("Tile", [x, b.ints([1])]),
    CompileError,
    "Tile expects 2 non-negative repeats for shape [N, 3], got [1]",
  );
});

// ---- CumSum ----

const cumsumModes = [[0, 0], [1, 0], [0, 1], [1, 1]] as const;

Deno.test("CumSum forward: every exclusive/reverse mode, positive and negative axes", async () => {
  const x = ramp([2, 3, 4]);
  for (const [exclusive, reverse] of cumsumModes) {
    for (const axis of [0, 1, -1]) {
      const y = await forward(
        { x },
        (b, v) => b.op1("CumSum", [v.x, b.scalar(axis, "int64")], { exclusive, reverse }),
      );
      const a = axis < 0 ? axis + 3 : axis;
      assertNd(y, cumsumRef(x, a, !!exclusive, !!reverse), `CumSum ${axis} ${exclusive}${reverse}`);
    }
  }
  // A hand-checked row: [1, 2, 3] → inclusive [1, 3, 6], exclusive reverse [5, 3, 0].
  const row = { dims: [3], data: [1, 2, 3] };
  const inc = await forward({ x: row }, (b, v) => b.op1("CumSum", [v.x, b.scalar(0, "int64")]));
  assert.deepEqual(inc.data, [1, 3, 6]);
  const exRev = await forward(
    { x: row },
    (b, v) => b.op1("CumSum", [v.x, b.scalar(0, "int64")], { exclusive: 1, reverse: 1 }),
  );
  assert.deepEqual(exRev.data, [5, 3, 0]);
});

Deno.test("CumSum gradient: every mode, including a symbolic batch N", async () => {
  for (const [exclusive, reverse] of cumsumModes) {
    await checkGradients({
      inputs: { x: float([3, 4]) },
      wrt: ["x"],
      build: (b, v) => b.op1("CumSum", [v.x, b.scalar(1, "int64")], { exclusive, reverse }),
    });
    // Along the symbolic batch axis itself and across it.
    for (const axis of [0, 1]) {
      await checkGradients({
        inputs: { x: float(["N", 3]) },
        wrt: ["x"],
        build: (b, v) => b.op1("CumSum", [v.x, b.scalar(axis, "int64")], { exclusive, reverse }),
        runs: [{ x: [1, 3] }, { x: [4, 3] }],
      });
    }
  }
});

Deno.test("CumSum errors: an axis unknown at compile time or out of range", () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float32", shape: [2, 3] });
  const axis = b.input("axis", { dtype: "int64", shape: [] });
  assertThrowsMatch(
    () => b.op1("CumSum", [x, axis]),
    CompileError,
    "CumSum expects axis to be a scalar int constant",
  );
  assertThrowsMatch(
    () => b.op1("CumSum", [x, b.scalar(2, "int64")]),
    CompileError,
    "CumSum axis 2 is out of range for rank 2",
  );
});

// ---- Trilu ----

const triluCases = [[1, null], [0, null], [1, 1], [0, -1], [1, -2], [0, 2]] as const;

Deno.test("Trilu forward: upper and lower, default and explicit k", async () => {
  for (const [upper, k] of triluCases) {
    for (const dims of [[3, 4], [2, 4, 3]]) {
      const x = ramp(dims);
      const y = await forward(
        { x },
        (b, v) => b.op1("Trilu", k === null ? [v.x] : [v.x, b.scalar(k, "int64")], { upper }),
      );
      assertNd(y, triluRef(x, upper === 1, k ?? 0), `Trilu upper ${upper} k ${k} ${dims}`);
    }
  }
  // The default attribute is upper = 1.
  const x = { dims: [2, 2], data: [1, 2, 3, 4] };
  assert.deepEqual((await forward({ x }, (b, v) => b.op1("Trilu", [v.x]))).data, [1, 2, 0, 4]);
});

Deno.test("Trilu gradient: the same mask on dy", async () => {
  for (const [upper, k] of triluCases) {
    await checkGradients({
      inputs: { x: float([2, 3, 4]) },
      wrt: ["x"],
      build: (b, v) => b.op1("Trilu", k === null ? [v.x] : [v.x, b.scalar(k, "int64")], { upper }),
    });
  }
});

Deno.test("Trilu errors: rank below 2, k unknown at compile time", () => {
  const b = createGraphBuilder();
  const v = b.input("v", { dtype: "float32", shape: [3] });
  const x = b.input("x", { dtype: "float32", shape: [3, 3] });
  const k = b.input("k", { dtype: "int64", shape: [] });
  assertThrowsMatch(
    () => b.op1("Trilu", [v]),
    CompileError,
    "Trilu expects an input of rank ≥ 2, got [3]",
  );
  assertThrowsMatch(
    () => b.op1("Trilu", [x, k]),
    CompileError,
    "Trilu expects k to be a scalar int constant",
  );
});

// ---- GatherND ----

/** [data dims, indices, batch_dims]: elements, rows, repeats, negatives and batch_dims 1. */
const gatherNdCases: [number[], Nd, number][] = [
  [[3, 4], { dims: [3, 2], data: [0, 1, 2, 3, 0, 1] }, 0],
  [[3, 4], { dims: [4, 1], data: [2, 0, 2, -1] }, 0],
  [[2, 3, 4], { dims: [2, 2, 2], data: [0, 1, 1, 2, 1, 0, 0, 1] }, 0],
  [[2, 3, 4], { dims: [2, 1], data: [2, 0] }, 1],
  [[2, 3, 4], { dims: [2, 3, 2], data: [0, 1, 2, 3, 0, 1, 1, 0, 1, 0, 2, 2] }, 1],
  [[2, 2, 3, 4], { dims: [2, 2, 1], data: [1, 0, 2, 2] }, 2],
];

Deno.test("GatherND forward matches the ONNX definition, batch_dims 0, 1 and 2", async () => {
  for (const [dims, idx, batch_dims] of gatherNdCases) {
    const data = ramp(dims);
    const y = await forward(
      { data, idx: { ...idx, dtype: "int64" } },
      (b, v) => b.op1("GatherND", [v.data, v.idx], { batch_dims }),
    );
    assertNd(y, gatherNdRef(data, idx, batch_dims), `GatherND ${dims} ${idx.dims} ${batch_dims}`);
  }
  // By hand: rows 1 and 0 of [[1, 2], [3, 4]], then element (1, 0).
  const data = { dims: [2, 2], data: [1, 2, 3, 4] };
  const rows = await forward(
    { data, idx: { dims: [2, 1], data: [1, 0], dtype: "int64" } },
    (b, v) => b.op1("GatherND", [v.data, v.idx]),
  );
  assert.deepEqual(rows.data, [3, 4, 1, 2]);
});

Deno.test("GatherND gradient: scatter-add, repeats accumulate, batch_dims 0, 1 and 2", async () => {
  for (const [dims, idx, batch_dims] of gatherNdCases) {
    await checkGradients({
      inputs: { data: float(dims), idx: ints(idx) },
      wrt: ["data"],
      build: (b, v) => b.op1("GatherND", [v.data, v.idx], { batch_dims }),
    });
  }
});

Deno.test("GatherND batch_dims 1 with a symbolic batch (last-token pooling)", async () => {
  // hidden [N, T, H] and per-row positions [N, 1] → [N, H], as a classification head pools.
  const { graph } = await checkGradients({
    inputs: {
      h: float(["N", 3, 2], [3, 3, 2]),
      idx: { shape: ["N", 1], dims: [3, 1], dtype: "int64", data: [2, 0, 2] },
    },
    wrt: ["h"],
    build: (b, v) => b.op1("GatherND", [v.h, v.idx], { batch_dims: 1 }),
  });
  const node = graph.nodes.find((n) => n.op === "GatherND")!;
  assert.deepEqual(node.outputs[0].type.shape, ["N", 2]);
});

Deno.test("GatherND errors: indices that do not fit the data", () => {
  const b = createGraphBuilder();
  const data = b.input("data", { dtype: "float32", shape: [2, 3] });
  const deep = b.input("deep", { dtype: "int64", shape: [4, 3] });
  const wrong = b.input("wrong", { dtype: "int64", shape: [3, 1] });
  const i32 = b.input("i32", { dtype: "int32", shape: [2, 1] });
  assertThrowsMatch(
    () => b.op1("GatherND", [data, deep]),
    CompileError,
    "GatherND with batch_dims 0 cannot index data [2, 3] with indices [4, 3]",
  );
  assertThrowsMatch(
    () => b.op1("GatherND", [data, wrong], { batch_dims: 1 }),
    CompileError,
    "GatherND with batch_dims 1 cannot index data [2, 3] with indices [3, 1]",
  );
  assertThrowsMatch(
    () => b.op1("GatherND", [data, i32]),
    CompileError,
    "GatherND expects int64 indices, got int32",
  );
});

// ---- GatherElements ----

const gatherElementsCases: [number[], Nd, number][] = [
  [[3, 4], { dims: [2, 4], data: [0, 1, 2, 0, 2, 2, -1, 1] }, 0],
  [[3, 4], { dims: [3, 2], data: [3, 0, 1, 1, -4, 2] }, 1],
  [[2, 3, 2], { dims: [2, 2, 2], data: [1, 0, 1, 1, 0, 0, 1, 0] }, -1],
];

Deno.test("GatherElements forward matches torch.gather", async () => {
  for (const [dims, idx, axis] of gatherElementsCases) {
    const data = ramp(dims);
    const y = await forward(
      { data, idx: { ...idx, dtype: "int64" } },
      (b, v) => b.op1("GatherElements", [v.data, v.idx], { axis }),
    );
    const a = axis < 0 ? axis + dims.length : axis;
    assertNd(y, gatherElementsRef(data, idx, a), `GatherElements ${dims} axis ${axis}`);
  }
});

Deno.test("GatherElements gradient: scatter-add along the axis", async () => {
  for (const [dims, idx, axis] of gatherElementsCases) {
    await checkGradients({
      inputs: { data: float(dims), idx: ints(idx) },
      wrt: ["data"],
      build: (b, v) => b.op1("GatherElements", [v.data, v.idx], { axis }),
    });
  }
});

Deno.test("GatherElements errors: indices of another rank", () => {
  const b = createGraphBuilder();
  const data = b.input("data", { dtype: "float32", shape: [2, 3] });
  const idx = b.input("idx", { dtype: "int64", shape: [2] });
  assertThrowsMatch(
    () => b.op1("GatherElements", [data, idx]),
    CompileError,
    "GatherElements expects indices of the data's rank, got data [2, 3] and indices [2]",
  );
});

// ---- Einsum ----

/** [equation, operand shapes]. */
const einsumCases: [string, number[][]][] = [
  ["bij,bjk->bik", [[2, 3, 4], [2, 4, 2]]],
  ["bhid,bhjd->bhij", [[2, 2, 3, 4], [2, 2, 2, 4]]],
  ["...ij,...jk->...ik", [[2, 3, 4], [2, 4, 3]]],
  ["...ij,...jk->...ik", [[2, 1, 3, 4], [1, 3, 4, 2]]],
  ["...ij,...jk->...ik", [[3, 4], [4, 2]]],
  ["...ij,jk->...ik", [[2, 3, 4], [4, 2]]],
  ["ij->ji", [[3, 4]]],
  ["bi,bi->b", [[3, 4], [3, 4]]],
  ["ij->i", [[3, 4]]],
  ["ij->", [[3, 4]]],
  ["i,j->ij", [[3], [4]]],
  ["ij,jk,kl->il", [[2, 3], [3, 4], [4, 2]]],
  ["bij,k->bki", [[2, 3, 4], [2]]],
];

Deno.test("Einsum forward matches numpy.einsum", async () => {
  for (const [equation, shapes] of einsumCases) {
    const ops = shapes.map((s, i) => ramp(s, i + 1));
    const y = await forward(
      Object.fromEntries(ops.map((o, i) => [`x${i}`, o])),
      (b, v) => b.op1("Einsum", ops.map((_, i) => v[`x${i}`]), { equation }),
    );
    assertNd(y, einsumRef(equation, ops), `Einsum ${equation}`);
  }
  // Implicit output (no '->'): the letters used once, in order — "ij,jk" is a matrix product.
  const a = { dims: [2, 2], data: [1, 2, 3, 4] }, c = { dims: [2, 2], data: [5, 6, 7, 8] };
  const mm = await forward({ a, c }, (b, v) => b.op1("Einsum", [v.a, v.c], { equation: "ij,jk" }));
  assert.deepEqual(mm.data, [19, 22, 43, 50]);
});

for (const [equation, shapes] of einsumCases) {
  Deno.test(`Einsum gradient: ${equation} ${shapes.map((s) => `[${s}]`).join(" ")}`, async () => {
    await checkGradients({
      inputs: Object.fromEntries(shapes.map((s, i) => [`x${i}`, float(s)])),
      wrt: shapes.map((_, i) => `x${i}`),
      build: (b, v) => b.op1("Einsum", shapes.map((_, i) => v[`x${i}`]), { equation }),
    });
  });
}

Deno.test("Einsum with a symbolic batch N: shapes and gradients", async () => {
  const cases: [string, (string | number)[][], string[]][] = [
    ["bij,bjk->bik", [["N", 3, 4], ["N", 4, 2]], ["N", "3", "2"]],
    ["bi,bi->b", [["N", 4], ["N", 4]], ["N"]],
    ["ij->i", [["N", 3]], ["N"]],
    ["ij->j", [["N", 3]], ["3"]],
    ["...ij,jk->...ik", [["N", 3, 4], [4, 2]], ["N", "3", "2"]],
  ];
  for (const [equation, shapes, expected] of cases) {
    const { graph } = await checkGradients({
      inputs: Object.fromEntries(shapes.map((s, i) => [`x${i}`, float(s)])),
      wrt: shapes.map((_, i) => `x${i}`),
      build: (b, v) => b.op1("Einsum", shapes.map((_, i) => v[`x${i}`]), { equation }),
      runs: [1, 3].map((n) =>
        Object.fromEntries(
          shapes.map((s, i) => [`x${i}`, s.map((d) => (typeof d === "string" ? n : d))]),
        )
      ),
    });
    const node = graph.nodes.find((n) => n.op === "Einsum")!;
    assert.deepEqual(node.outputs[0].type.shape.map(String), expected, equation);
  }
});

Deno.test("Einsum errors name the equation", () => {
  const b = createGraphBuilder();
  const x = b.input("x", { dtype: "float32", shape: [3, 3] });
  const y = b.input("y", { dtype: "float32", shape: [4, 2] });
  const z = b.input("z", { dtype: "float32", shape: [2, 3, 3] });
  const cases: [string, Value[], string][] = [
    ["ii->i", [x], "Einsum equation 'ii->i' repeats letter 'i' within term 'ii' (not supported)"],
    [
      "i2->i",
      [x],
      "Einsum equation 'i2->i' has term 'i2': expected letters with an optional leading '...'",
    ],
    [
      "ij,jk->ik",
      [x, y],
      "Einsum equation 'ij,jk->ik' gives letter 'j' sizes 3 and 4, got " +
      "shapes [3, 3] and [4, 2]",
    ],
    ["ij->k", [x], "Einsum equation 'ij->k' has output letter 'k' that no operand has"],
    [
      "...ij->ij",
      [z],
      "Einsum equation '...ij->ij' must keep '...' in the output when an " +
      "operand has it",
    ],
    ["ij->...ij", [x], "Einsum equation 'ij->...ij' has '...' in the output but in no operand"],
    [
      "ij,jk->ik",
      [x],
      "Einsum equation 'ij,jk->ik' has 2 operand term(s) but the node has 1 " +
      "input(s)",
    ],
    ["ijk->i", [x], "Einsum equation 'ijk->i': term 'ijk' does not fit input 0 of shape [3, 3]"],
    [
      "...ij,...jk->...ik",
      [z, x],
      "Einsum equation '...ij,...jk->...ik' needs '...' to stand " +
      "for the same number of dimensions in every operand, got shapes [2, 3, 3] and [3, 3]",
    ],
    ["i->j->k", [x], "Einsum equation 'i->j->k' has more than one '->'"],
  ];
  for (const [equation, inputs, message] of cases) {
    assertThrowsMatch(() => b.op1("Einsum", inputs, { equation }), CompileError, message);
  }
});
