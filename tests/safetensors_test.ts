// The safetensors codec: byte-exact header layout, round trips of every dtype, and the checks
// the reference reader makes. An independent reader in Python's standard library (struct + json,
// no torch needed) reads what we write.
import { existsSync } from "node:fs";
import {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  type SafeTensor,
  SafetensorsError,
} from "../src/io/safetensors.ts";
import { writeFileAtomic } from "../src/io/atomic_write.ts";
import { assert, assertThrowsMatch } from "./_assert.ts";

const tensors = (entries: [string, SafeTensor][]) => new Map(entries);
const fixture = () =>
  tensors([
    ["a", { dtype: "float32", shape: [1, 2], data: Float32Array.of(0.5, -1) }],
    ["b", { dtype: "int64", shape: [2], data: BigInt64Array.of(1n, -2n) }],
  ]);

/** Builds a file from a header object and a data buffer, padded like the format says. */
function rawFile(header: unknown, data: number[] = []): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

Deno.test("safetensors: the header is byte-exact (length, layout, padding, metadata first)", () => {
  const bytes = encodeSafetensors(fixture(), { step: "3" });
  const json = '{"__metadata__":{"step":"3"},' +
    '"b":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},' +
    '"a":{"dtype":"F32","shape":[1,2],"data_offsets":[16,24]}}';
  assert.equal(json.length, 140);
  const padded = json + "    "; // 144 = 18 × 8
  const expected = [
    ...[144, 0, 0, 0, 0, 0, 0, 0],
    ...new TextEncoder().encode(padded),
    ...[1, 0, 0, 0, 0, 0, 0, 0], // int64 1
    ...[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // int64 −2
    ...[0, 0, 0, 0x3f], // float32 0.5
    ...[0, 0, 0x80, 0xbf], // float32 −1
  ];
  assert.deepEqual([...bytes], expected);
  // Without metadata the key is left out.
  const plain = new TextDecoder().decode(encodeSafetensors(fixture()).subarray(8, 16));
  assert.equal(plain, '{"b":{"d');
});

Deno.test("safetensors: every dtype round trips, data copied, empty tensors and scalars kept", () => {
  const all = tensors([
    ["f32", { dtype: "float32", shape: [2, 2], data: Float32Array.of(1.5, -0, NaN, 3e38) }],
    ["f64", { dtype: "float64", shape: [1], data: Float64Array.of(Math.PI) }],
    ["i64", { dtype: "int64", shape: [], data: BigInt64Array.of(-(2n ** 62n)) }],
    ["i32", { dtype: "int32", shape: [3], data: Int32Array.of(-1, 0, 2147483647) }],
    ["u8", { dtype: "uint8", shape: [1, 1, 2], data: Uint8Array.of(0, 255) }],
    ["bool", { dtype: "bool", shape: [3], data: Uint8Array.of(1, 0, 1) }],
    ["empty", { dtype: "float32", shape: [0, 4], data: new Float32Array(0) }],
  ]);
  const bytes = encodeSafetensors(all, { a: "1", "ü": "ß" });
  assert.equal(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8, 0);
  const back = decodeSafetensors(bytes);
  assert.deepEqual(back.metadata, { a: "1", "ü": "ß" });
  assert.deepEqual(new Set(back.tensors.keys()), new Set(all.keys()));
  for (const [name, t] of all) {
    const got = back.tensors.get(name)!;
    assert.equal(got.dtype, t.dtype, name);
    assert.deepEqual(got.shape, t.shape, name);
    assert.equal(got.data.constructor, t.data.constructor, name);
    assert.deepEqual(
      new Uint8Array(got.data.buffer, got.data.byteOffset, got.data.byteLength),
      new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      name,
    );
  }
  // Decoded tensors own their bytes.
  (back.tensors.get("f64")!.data as Float64Array)[0] = 0;
  assert.equal(decodeSafetensors(bytes).tensors.get("f64")!.data[0], Math.PI);
  // A view into a larger buffer is written from its own offset.
  const big = Float32Array.of(9, 8, 7, 6);
  const view = tensors([["v", { dtype: "float32", shape: [2], data: big.subarray(1, 3) }]]);
  assert.deepEqual([...decodeSafetensors(encodeSafetensors(view)).tensors.get("v")!.data], [8, 7]);
});

Deno.test("safetensors: malformed files are refused, naming the file and the problem", () => {
  const f32 = (offsets: number[], shape = [1]) => ({ dtype: "F32", shape, data_offsets: offsets });
  const cases: [Uint8Array, string][] = [
    [Uint8Array.of(1, 2, 3), "the file is truncated: 3 bytes, fewer than the 8-byte header length"],
    [
      Uint8Array.of(200, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d),
      "the file is truncated: its header length 200 exceeds the 2 bytes after it",
    ],
    [rawFile([1]), "the header is not a JSON object"],
    [rawFile({ x: { ...f32([0, 4]), dtype: "F16" } }, [0, 0, 0, 0]), 'tensor x has dtype "F16"'],
    [
      rawFile({ x: f32([0, 4], [-1]) }, [0, 0, 0, 0]),
      "tensor x has shape [-1], not a list of sizes",
    ],
    [rawFile({ x: f32([0, 8]) }, new Array(8).fill(0)), "tensor x (F32 [1]) needs 4 bytes"],
    [
      rawFile({ x: f32([4, 8]) }, [0, 0, 0, 0]),
      "the file is truncated: tensor x ends at byte 8 of a 4-byte data buffer",
    ],
    [
      rawFile({ x: f32([4, 8]) }, new Array(8).fill(0)),
      "bytes 0..4 of the data buffer belong to no tensor",
    ],
    [
      rawFile({ x: f32([0, 4]) }, new Array(6).fill(0)),
      "bytes 4..6 of the data buffer belong to no tensor",
    ],
    [
      rawFile({ x: f32([0, 4]), y: { ...f32([2, 6]) } }, new Array(6).fill(0)),
      "tensor y overlaps the tensor before it at byte 2",
    ],
    [rawFile({ __metadata__: { n: 1 } }), "__metadata__ value of n is not a string"],
    [
      rawFile({ x: { ...f32([0, 4]), data_offsets: [0] } }, [0, 0, 0, 0]),
      "tensor x has data_offsets [0]",
    ],
  ];
  for (const [bytes, why] of cases) {
    const e = assertThrowsMatch(
      () => decodeSafetensors(bytes, "model.safetensors"),
      SafetensorsError,
      new RegExp(`^Cannot read model\\.safetensors: ${why.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`),
    );
    // A file that ends before its header or its tensors do is flagged truncated.
    assert.equal((e as SafetensorsError).truncated, why.startsWith("the file is truncated"), why);
  }
  assertThrowsMatch(
    () =>
      encodeSafetensors(
        tensors([["w", { dtype: "float32", shape: [3], data: new Float32Array(2) }]]),
      ),
    SafetensorsError,
    "Cannot encode safetensors: tensor w of shape [3] needs 3 values, got 2",
  );
});

Deno.test("safetensors: an independent Python reader (struct + json) reads our file", async () => {
  const python = "/usr/bin/python3";
  if (!existsSync(python)) return; // optional cross-check
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/t.safetensors`;
    await writeFileAtomic(path, encodeSafetensors(fixture(), { epoch: "2" }));
    assert.equal(existsSync(`${path}.tmp`), false);
    assert.deepEqual([...(await readSafetensors(path)).tensors.get("b")!.data], [1n, -2n]);
    const script = `
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
fmt = {"F32": "f", "I64": "q"}
out = {"__metadata__": header.pop("__metadata__")}
for name, e in header.items():
    b, end = e["data_offsets"]
    k = fmt[e["dtype"]]
    out[name] = [e["shape"], list(struct.unpack("<%d%s" % ((end - b) // struct.calcsize(k), k), data[b:end]))]
print(json.dumps(out, sort_keys=True))
`;
    const { code, stdout, stderr } = await new Deno.Command(python, { args: ["-c", script, path] })
      .output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(stdout)), {
      __metadata__: { epoch: "2" },
      a: [[1, 2], [0.5, -1]],
      b: [[2], [1, -2]],
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
