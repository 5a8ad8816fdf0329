import { zipSync } from "fflate";
import { CsvFormatError, loadCsv, parseCsv, standardize } from "../src/data/csv.ts";
import { loadNpy, loadNpz, NpyFormatError, parseNpy, parseNpz } from "../src/data/npy.ts";
import { assert, assertClose, assertRejectsMatch, assertThrowsMatch } from "./_assert.ts";

// ---------------------------------------------------------------------------------------------
// CSV

Deno.test("parseCsv reads quoted fields, doubled quotes, CRLF and quoted line breaks", () => {
  const text = [
    'id,"height, cm",note,"the ""y"""',
    '1,170.5,"plain",3',
    '2,"  -2e1 ","says ""hi"", twice",-0.25',
    '3,.5,"two\r\nlines",1e2',
    "4,7,,0",
    "",
  ].join("\r\n");
  const t = parseCsv(text, { target: 'the "y"', targetKind: "float" });
  assert.deepEqual(t.featureNames, ["id", "height, cm"]);
  assert.equal(t.rows, 4);
  assert.deepEqual([...t.x], [1, 170.5, 2, -20, 3, 0.5, 4, 7]);
  assert.ok(t.y instanceof Float32Array);
  assert.deepEqual([...t.y], [3, -0.25, 100, 0]);
  assert.equal(t.classNames, undefined);
  // LF line ends, a byte-order mark and no final newline read the same.
  const lf = "\uFEFFa,b\n1,2\n\n3,4";
  const u = parseCsv(lf, { target: "b", targetKind: "float" });
  assert.deepEqual([...u.x], [1, 3]);
  assert.deepEqual([...u.y], [2, 4]);
});

Deno.test("parseCsv maps a categorical target to sorted class indices", () => {
  const text = 'w,species,h\n1,dog,2\n3,cat,4\n5,dog,6\n7,"emu",8\n';
  const t = parseCsv(text, { target: "species", targetKind: "classes" });
  assert.deepEqual(t.classNames, ["cat", "dog", "emu"]);
  assert.ok(t.y instanceof BigInt64Array);
  assert.deepEqual([...t.y], [1n, 0n, 1n, 2n]);
  assert.deepEqual(t.featureNames, ["w", "h"]);
  assert.deepEqual([...t.x], [1, 2, 3, 4, 5, 6, 7, 8]);
  // Labels that are all numbers sort numerically (2 before 10), and keep their text.
  const n = parseCsv("x,grade\n0,10\n1,2\n2,-1\n3,2\n", { target: "grade", targetKind: "classes" });
  assert.deepEqual(n.classNames, ["-1", "2", "10"]);
  assert.deepEqual([...n.y], [2n, 1n, 0n, 1n]);
  // A test file read with the training file's mapping.
  const test = parseCsv("w,species,h\n0,emu,0\n0,cat,0\n", {
    target: "species",
    targetKind: "classes",
    classNames: t.classNames,
  });
  assert.deepEqual([...test.y], [2n, 0n]);
  assert.deepEqual(test.classNames, ["cat", "dog", "emu"]);
  assertThrowsMatch(
    () =>
      parseCsv("w,species\n0,cat\n0,yak\n", {
        target: "species",
        targetKind: "classes",
        classNames: ["cat", "dog"],
      }),
    CsvFormatError,
    'Cannot read CSV: line 3, column "species": label "yak" is not one of the class names ' +
      "(cat, dog)",
  );
});

Deno.test("parseCsv takes chosen features in order and leaves text columns out by default", () => {
  const text = "name,a,b,c,t\nann,1,2,3,9\nbob,4,5,6,8\n";
  const chosen = parseCsv(text, { target: "t", targetKind: "float", features: ["c", "a"] });
  assert.deepEqual(chosen.featureNames, ["c", "a"]);
  assert.deepEqual([...chosen.x], [3, 1, 6, 4]);
  assert.deepEqual([...chosen.y], [9, 8]);
  const all = parseCsv(text, { target: "a", targetKind: "float" });
  assert.deepEqual(all.featureNames, ["b", "c", "t"]);
  assert.deepEqual([...all.x], [2, 3, 9, 5, 6, 8]);
  assert.deepEqual([...all.y], [1, 4]);
  // A column without any number (all text, NaN or empty) is left out by default.
  const gaps = parseCsv("a,e,n,t\n1,,NaN,2\n3,,nan,4\n", { target: "t", targetKind: "float" });
  assert.deepEqual(gaps.featureNames, ["a"]);
  assertThrowsMatch(
    () => parseCsv("a,e,t\n1,,2\n", { target: "t", targetKind: "float", features: ["a", "e"] }),
    CsvFormatError,
    'Cannot read CSV: line 2, column "e": the cell is empty',
  );
  // A feature column's text is not read when the column is not chosen.
  const skip = parseCsv("a,junk,t\n1,x1,2\n", {
    target: "t",
    targetKind: "float",
    features: ["a"],
  });
  assert.deepEqual([...skip.x], [1]);
});

Deno.test("parseCsv errors name the line, the column and the text", () => {
  const P = "Cannot read CSV: ";
  const cases: [string, string][] = [
    // Line 7: the header is line 1 and the quoted note on line 3 spans two lines.
    [
      'id,age,note,t\n1,30,a,0\n2,31,"multi\nline",1\n3,32,b,0\n4,33,c,1\n5,12x,d,0\n',
      'line 7, column "age": "12x" is not a number',
    ],
    ["id,age,t\n1,,0\n2,5,0\n", 'line 2, column "age": the cell is empty'],
    ["id,age,t\n1,5,0\n2,   ,0\n", 'line 3, column "age": the cell is empty'],
    ["id,age,t\n1,5,0\n2,NaN,0\n", 'line 3, column "age": "NaN" is not a number'],
    ["id,age,t\n1,5,0\n2,inf,0\n", 'line 3, column "age": "inf" is not a number'],
    ["id,age,t\n1,5,0\n2,1e999,0\n", 'line 3, column "age": "1e999" is not a number'],
    ["id,age,t\n1,5,0\n2,0x10,0\n", 'line 3, column "age": "0x10" is not a number'],
    ["id,age,t\n1,5,0\n2,-,0\n", 'line 3, column "age": "-" is not a number'],
    ["id,age,t\n1,2,3 4\n", 'line 2, column "t": "3 4" is not a number'],
    ["id,age,t\n1,2,0\n3,4\n", "line 3 has 2 fields, the header has 3"],
    ["id,age,t\n1,2,0,9\n", "line 2 has 4 fields, the header has 3"],
    ['id,age,t\n1,"2,0\n', "line 2: quoted field is not closed before the end of the file"],
    ['id,age,t\n1,"2"x,0\n', 'line 2: unexpected text "x" after a closing quote'],
    ["id,age,id\n1,2,3\n", 'line 1: column name "id" appears twice'],
    ["id,age,t\n", "no data rows after the header"],
    ["", "the file is empty (a header row is required)"],
    ["id,age\n1,2\n", 'target column "t" is not in the header (columns: "id", "age")'],
  ];
  for (const [text, why] of cases) {
    assertThrowsMatch(
      () => parseCsv(text, { target: "t", targetKind: "float" }),
      CsvFormatError,
      P + why,
    );
  }
  const table = "a,b,t\n1,2,3\n";
  assertThrowsMatch(
    () => parseCsv(table, { target: "t", targetKind: "float", features: ["a", "z"] }),
    CsvFormatError,
    P + 'feature column "z" is not in the header (columns: "a", "b", "t")',
  );
  assertThrowsMatch(
    () => parseCsv(table, { target: "t", targetKind: "float", features: ["a", "t"] }),
    CsvFormatError,
    P + 'column "t" is both the target and a feature',
  );
  assertThrowsMatch(
    () => parseCsv(table, { target: "t", targetKind: "float", features: ["b", "b"] }),
    CsvFormatError,
    P + 'feature column "b" is listed twice',
  );
  assertThrowsMatch(
    () => parseCsv("a,t\n1,cat\n2, \n", { target: "t", targetKind: "classes" }),
    CsvFormatError,
    P + 'line 3, column "t": the label is empty',
  );
  assertThrowsMatch(
    () =>
      parseCsv("a,t\n1,x\n", { target: "t", targetKind: "classes", classNames: ["x", "y", "x"] }),
    CsvFormatError,
    P + "the given class names contain a duplicate",
  );
  // A quoted empty label is a row (not a blank line), so it is reported.
  assertThrowsMatch(
    () => parseCsv('t\nx\n""\n', { target: "t", targetKind: "classes" }),
    CsvFormatError,
    P + 'line 3, column "t": the label is empty',
  );
  assertThrowsMatch(
    () => parseCsv("a,t\n1,2\n", { target: "t", targetKind: "int" as "float" }),
    CsvFormatError,
    P + 'target kind must be "float" or "classes", got "int"',
  );
  assertThrowsMatch(
    () => parseCsv("a,t\n1,x\n", { target: "t", targetKind: "float", name: "data.csv" }),
    CsvFormatError,
    'Cannot read CSV data.csv: line 2, column "t": "x" is not a number',
  );
});

Deno.test("standardize uses training rows only and maps constant features to 0", () => {
  const csv = "a,b,c,t\n1,7,10,0\n2,7,20,0\n3,7,30,0\n4,7,40,0\n100,-5,0,0\n";
  const t = parseCsv(csv, { target: "t", targetKind: "float" });
  const trainRows = 4, f = t.featureNames.length;
  const train = t.x.subarray(0, trainRows * f), test = t.x.subarray(trainRows * f);
  const s = standardize(train, f);
  // numpy: x.mean(0), x.std(0) (population) over the first four rows.
  assertClose(s.mean, [2.5, 7, 25], 1e-6, "mean");
  assertClose(s.std, [Math.sqrt(1.25), 1, Math.sqrt(125)], 1e-6, "std");
  const z = s.apply(train);
  const k = 1 / Math.sqrt(1.25);
  assertClose(
    z,
    [-1.5 * k, 0, -1.5 * k, -0.5 * k, 0, -0.5 * k, 0.5 * k, 0, 0.5 * k, 1.5 * k, 0, 1.5 * k],
    1e-6,
    "train z",
  );
  assertClose(s.apply(test), [97.5 * k, -12, -25 / Math.sqrt(125)], 1e-5, "test z");
  assert.equal(test[0], 100, "apply does not change its input");
  assertThrowsMatch(
    () => s.apply(new Float32Array(4)),
    RangeError,
    "Cannot standardize: the array to standardize has 4 values, not a multiple of 3 features",
  );
  assertThrowsMatch(
    () => standardize(new Float32Array(0), 3),
    RangeError,
    "Cannot standardize: the training set has no rows",
  );
  assertThrowsMatch(
    () => standardize(new Float32Array(3), 0),
    RangeError,
    "Cannot standardize: features must be a positive integer, got 0",
  );
});

Deno.test("loadCsv reads a file and names it in errors", async () => {
  const path = await Deno.makeTempFile({ suffix: ".csv" });
  try {
    await Deno.writeTextFile(path, "a,t\n1.5,x\n2,y\n");
    const t = await loadCsv(path, { target: "t", targetKind: "classes" });
    assert.deepEqual([...t.x], [1.5, 2]);
    assert.deepEqual([...t.y], [0n, 1n]);
    await Deno.writeTextFile(path, "a,t\n1.5,x\n");
    await assertRejectsMatch(
      () => loadCsv(path, { target: "t", targetKind: "float" }),
      CsvFormatError,
      `Cannot read CSV ${path}: line 2, column "t": "x" is not a number`,
    );
  } finally {
    await Deno.remove(path);
  }
});

// ---------------------------------------------------------------------------------------------
// .npy and .npz

const ascii = (s: string) => new TextEncoder().encode(s);
const fromBase64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** A .npy file as NumPy (1.24) writes it: the header padded with spaces, the data at 64·k. */
function npy(
  descr: string,
  shape: readonly number[],
  data: Uint8Array,
  { fortran = false, version = 1 } = {},
): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  const dict = `{'descr': '${descr}', 'fortran_order': ${fortran ? "True" : "False"}, ` +
    `'shape': ${shapeText}, }`;
  // numpy leaves room for the growing axis to reach 21 digits, then aligns the data to 64 bytes.
  const growing = shape.length ? String(shape[fortran ? shape.length - 1 : 0]).length : 21;
  const unpadded = dict + " ".repeat(21 - growing), pre = version === 1 ? 10 : 12;
  const pad = 64 - ((pre + unpadded.length + 1) % 64);
  return rawNpy(unpadded + " ".repeat(pad) + "\n", data, version);
}

/** A .npy file with the given header text, unpadded. */
function rawNpy(header: string, data: Uint8Array, version = 1, minor = 0): Uint8Array {
  const head = ascii(header), pre = version === 1 ? 10 : 12;
  const out = new Uint8Array(pre + head.length + data.length);
  out.set([0x93, ...ascii("NUMPY"), version, minor]);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, head.length, true);
  else view.setUint32(8, head.length, true);
  out.set(head, pre);
  out.set(data, pre + head.length);
  return out;
}

type Setter = "setFloat32" | "setFloat64" | "setInt32" | "setUint16" | "setInt16" | "setInt8";

/** The bytes of `values` written with a DataView setter in either byte order. */
function bytesOf(values: number[], setter: Setter, size: number, littleEndian: boolean) {
  const out = new Uint8Array(values.length * size), view = new DataView(out.buffer);
  values.forEach((v, i) => view[setter](i * size, v, littleEndian));
  return out;
}

function bigBytes(values: bigint[], littleEndian: boolean) {
  const out = new Uint8Array(values.length * 8), view = new DataView(out.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, v, littleEndian));
  return out;
}

Deno.test("parseNpy decodes little- and big-endian floats and integers", () => {
  const f = [1.5, -2.25, 3e-3, 1e20];
  for (const little of [true, false]) {
    const o = little ? "<" : ">";
    const f4 = parseNpy(npy(`${o}f4`, [4], bytesOf(f, "setFloat32", 4, little)));
    assert.equal(f4.dtype, "float32");
    assert.deepEqual(f4.shape, [4]);
    assert.ok(f4.data instanceof Float32Array);
    assert.deepEqual([...f4.data], [...Float32Array.from(f)]);
    const f8 = parseNpy(npy(`${o}f8`, [2, 2], bytesOf(f, "setFloat64", 8, little)));
    assert.equal(f8.dtype, "float64");
    assert.deepEqual(f8.shape, [2, 2]);
    assert.deepEqual([...f8.data], f);
    const i = [-3n, 2n ** 40n, -(2n ** 63n), 7n];
    const i8 = parseNpy(npy(`${o}i8`, [4], bigBytes(i, little)));
    assert.equal(i8.dtype, "int64");
    assert.ok(i8.data instanceof BigInt64Array);
    assert.deepEqual([...i8.data], i);
    const i4 = parseNpy(
      npy(`${o}i4`, [3], bytesOf([-1, 65536, 2 ** 31 - 1], "setInt32", 4, little)),
    );
    assert.equal(i4.dtype, "int32");
    assert.deepEqual([...i4.data], [-1, 65536, 2 ** 31 - 1]);
    const u2 = parseNpy(npy(`${o}u2`, [2], bytesOf([258, 65535], "setUint16", 2, little)));
    assert.equal(u2.dtype, "uint16");
    assert.deepEqual([...u2.data], [258, 65535]);
    const i2 = parseNpy(npy(`${o}i2`, [2], bytesOf([-258, 300], "setInt16", 2, little)));
    assert.equal(i2.dtype, "int16");
    assert.deepEqual([...i2.data], [-258, 300]);
  }
  const u1 = parseNpy(npy("|u1", [2, 3], new Uint8Array([0, 1, 127, 128, 254, 255])));
  assert.equal(u1.dtype, "uint8");
  assert.deepEqual(u1.shape, [2, 3]);
  assert.deepEqual([...u1.data], [0, 1, 127, 128, 254, 255]);
  const i1 = parseNpy(npy("|i1", [3], new Uint8Array([0, 255, 128])));
  assert.equal(i1.dtype, "int8");
  assert.deepEqual([...i1.data], [0, -1, -128]);
  const b1 = parseNpy(npy("|b1", [2], new Uint8Array([1, 0])));
  assert.equal(b1.dtype, "bool");
  assert.deepEqual([...b1.data], [1, 0]);
  // A scalar and an empty array.
  const scalar = parseNpy(npy("<f8", [], bytesOf([2.5], "setFloat64", 8, true)));
  assert.deepEqual(scalar.shape, []);
  assert.deepEqual([...scalar.data], [2.5]);
  const empty = parseNpy(npy("<f4", [0, 3], new Uint8Array(0)));
  assert.deepEqual(empty.shape, [0, 3]);
  assert.equal(empty.data.length, 0);
});

Deno.test("parseNpy transposes Fortran-order arrays into C order", () => {
  // a = arange(6).reshape(2, 3) in Fortran order stores a[0,0], a[1,0], a[0,1], a[1,1], ...
  const f2 = parseNpy(
    npy(">f4", [2, 3], bytesOf([0, 3, 1, 4, 2, 5], "setFloat32", 4, false), { fortran: true }),
  );
  assert.deepEqual(f2.shape, [2, 3]);
  assert.deepEqual([...f2.data], [0, 1, 2, 3, 4, 5]);
  // arange(24).reshape(2, 3, 4): element (i, j, k) = 12i + 4j + k at Fortran offset i + 2j + 6k.
  const stored: number[] = [];
  for (let k = 0; k < 4; k++) {
    for (let j = 0; j < 3; j++) for (let i = 0; i < 2; i++) stored.push(12 * i + 4 * j + k);
  }
  const built = npy("<i4", [2, 3, 4], bytesOf(stored, "setInt32", 4, true), { fortran: true });
  // The same bytes numpy writes: np.save(f, np.asfortranarray(np.arange(24, dtype="<i4")
  // .reshape(2, 3, 4))) with numpy 1.24.
  const numpyBytes = fromBase64(
    "k05VTVBZAQB2AHsnZGVzY3InOiAnPGk0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMywgNCks" +
      "IH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAADAAAAAQA" +
      "AAAQAAAACAAAABQAAAABAAAADQAAAAUAAAARAAAACQAAABUAAAACAAAADgAAAAYAAAASAAAACgAAABYAAAADAAAADwAA" +
      "AAcAAAATAAAACwAAABcAAAA=",
  );
  assert.deepEqual(built, numpyBytes);
  const f3 = parseNpy(built);
  assert.deepEqual(f3.shape, [2, 3, 4]);
  assert.deepEqual([...f3.data], Array.from({ length: 24 }, (_, i) => i));
  // A 1-D Fortran-order array is already in C order.
  const f1 = parseNpy(npy("<i4", [3], bytesOf([5, 6, 7], "setInt32", 4, true), { fortran: true }));
  assert.deepEqual([...f1.data], [5, 6, 7]);
});

Deno.test("parseNpy reads format versions 2.0 and 3.0 and numpy-written files", () => {
  const data = bytesOf([0, 1, 2], "setFloat32", 4, true);
  const v2 = npy("<f4", [3], data, { version: 2 });
  // np.lib.format.write_array(f, np.arange(3, dtype="<f4"), version=(2, 0)) with numpy 1.24.
  assert.deepEqual(
    v2,
    fromBase64(
      "k05VTVBZAgB0AAAAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywpLCB9" +
        "ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPwAA" +
        "AEA=",
    ),
  );
  assert.deepEqual([...parseNpy(v2).data], [0, 1, 2]);
  const v3 = parseNpy(npy("<f4", [3], data, { version: 3 }));
  assert.deepEqual([...v3.data], [0, 1, 2]);
  // np.save(f, np.array([[1.5, -2], [3, 4e10]], dtype=">f8")) with numpy 1.24.
  const f8 = parseNpy(fromBase64(
    "k05VTVBZAQB2AHsnZGVzY3InOiAnPmY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDIpLCB9" +
      "ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo/+AAAAAAAAMAA" +
      "AAAAAAAAQAgAAAAAAABCIqBfIAAAAA==",
  ));
  assert.equal(f8.dtype, "float64");
  assert.deepEqual(f8.shape, [2, 2]);
  assert.deepEqual([...f8.data], [1.5, -2, 3, 4e10]);
  // Headers written by Python 2 (long integers), with double quotes and without padding.
  const py2 = parseNpy(rawNpy(
    `{"descr":"<i4","shape":(2L,),"fortran_order":False}\n`,
    bytesOf([4, 5], "setInt32", 4, true),
  ));
  assert.deepEqual(py2.shape, [2]);
  assert.deepEqual([...py2.data], [4, 5]);
  // The elements are copied out of the file's buffer.
  const file = npy("<f4", [3], data);
  const copy = parseNpy(file);
  file.fill(0);
  assert.deepEqual([...copy.data], [0, 1, 2]);
});

Deno.test("parseNpy errors name the problem and its byte offset", () => {
  const P = "Cannot read .npy: ";
  const four = bytesOf([1, 2], "setFloat32", 4, true);
  const header = (descr: string, shape = "(2,)", fortran = "False") =>
    `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }\n`;
  const good = npy("<f4", [2], four);
  const cases: [Uint8Array, string][] = [
    [
      Uint8Array.from(good, (b, i) => (i === 1 ? 0x6e : b)),
      'bad magic string at byte 0 (expected 93 4e 55 4d 50 59, "\\x93NUMPY"; got 93 6e 55 4d 50 59)',
    ],
    [good.subarray(0, 8), "the file has 8 bytes, too few for a .npy header"],
    [
      good.subarray(0, good.length - 1),
      "data at byte 128 has 7 bytes, but shape (2) of float32 needs 8",
    ],
    [
      new Uint8Array([...good, 0]),
      "data at byte 128 has 9 bytes, but shape (2) of float32 needs 8",
    ],
    [
      good.subarray(0, 30),
      "header at byte 10 is 118 bytes long, but the file has only 20 bytes after byte 10",
    ],
    [
      rawNpy(header("<f4"), four, 4),
      "format version 4.0 at byte 6 is not supported (1.0, 2.0 and 3.0 are)",
    ],
    [
      rawNpy(header("<f4"), four, 1, 1),
      "format version 1.1 at byte 6 is not supported (1.0, 2.0 and 3.0 are)",
    ],
    [rawNpy("['descr']\n", four), "header at byte 10 is not a Python dict literal"],
    [rawNpy("  {'descr': <f4}\n", four, 2), 'header at byte 24 has "<" where a value should be'],
    [rawNpy("{'descr' '<f4'}", four), 'header at byte 19 has "\'" where ":" should be'],
    [rawNpy("{'descr': '<f4' 'x'}", four), 'header at byte 26 has "\'" where "," or "}" should be'],
    [rawNpy("{'descr': '<f4}", four), "header at byte 25 has a string that is not closed"],
    [rawNpy("{1: '<f4'}", four), "header at byte 11 has a dict key that is not a string"],
    [rawNpy("{'descr': '<f4'} x", four), 'header at byte 27 has "x" after the dict'],
    [
      rawNpy("{'descr': '<f4', 'shape': (2,)}", four),
      "header at byte 10 has keys descr, shape; expected descr, fortran_order, shape",
    ],
    [
      rawNpy(header("<f2"), four),
      `header at byte 10: dtype "<f2" is not supported (supported: float32/64, int8/16/32/64, ` +
      `uint8/16/32/64 and bool, e.g. '<f4', '>f8', '<i8', '|u1')`,
    ],
    [
      rawNpy(header("<U3"), four),
      `header at byte 10: dtype "<U3" is not supported (supported: float32/64, int8/16/32/64, ` +
      `uint8/16/32/64 and bool, e.g. '<f4', '>f8', '<i8', '|u1')`,
    ],
    [
      rawNpy(header("|O"), four),
      `header at byte 10: dtype "|O" is not supported (supported: float32/64, int8/16/32/64, ` +
      `uint8/16/32/64 and bool, e.g. '<f4', '>f8', '<i8', '|u1')`,
    ],
    [
      rawNpy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", four),
      "header at byte 10: descr is not a string but a list (structured dtypes are not supported)",
    ],
    [
      rawNpy(header("|f4"), four),
      'header at byte 10: dtype "|f4" has no byte order ("<" or ">" is needed)',
    ],
    [
      rawNpy(header("<f4", "(2,)", "0"), four),
      "header at byte 10: fortran_order is not True or False",
    ],
    [
      rawNpy(header("<f4", "(-2,)"), four),
      "header at byte 10: shape is not a tuple of non-negative integers",
    ],
    [
      rawNpy(header("<f4", "2"), four),
      "header at byte 10: shape is not a tuple of non-negative integers",
    ],
  ];
  for (const [bytes, why] of cases) {
    assertThrowsMatch(() => parseNpy(bytes), NpyFormatError, P + why);
  }
  assertThrowsMatch(
    () => parseNpy(good.subarray(0, 63), "weights.npy"),
    NpyFormatError,
    "Cannot read weights.npy: header at byte 10 is 118 bytes long, but the file has only 53 bytes " +
      "after byte 10",
  );
});

Deno.test("parseNpz reads stored and deflated entries, including numpy's own archives", () => {
  const x = npy("<f4", [2, 2], bytesOf([1, 2, 3, 4], "setFloat32", 4, true));
  const y = npy(">i8", [3], bigBytes([0n, 2n, 1n], false));
  const zip = zipSync({ "x.npy": [x, { level: 0 }], "labels.npy": [y, { level: 9 }] });
  const arrays = parseNpz(zip);
  assert.deepEqual([...arrays.keys()], ["x", "labels"]);
  assert.deepEqual(arrays.get("x")!.shape, [2, 2]);
  assert.deepEqual([...arrays.get("x")!.data], [1, 2, 3, 4]);
  assert.equal(arrays.get("labels")!.dtype, "int64");
  assert.deepEqual([...arrays.get("labels")!.data], [0n, 2n, 1n]);

  // np.savez(f, x=np.arange(3, dtype="<f4"), y=np.array([1, 2], dtype="<i8")) and the same with
  // np.savez_compressed, numpy 1.24 (entries written with zip64 extra fields).
  const saved = fromBase64(
    "UEsDBBQAAAAAAAAAIQC2jIZTjAAAAIwAAAAFABQAeC5ucHkBABAAjAAAAAAAAACMAAAAAAAAAJNOVU1QWQEAdgB7J2Rl" +
      "c2NyJzogJzxmNCcsICdmb3J0cmFuX29yZGVyJzogRmFsc2UsICdzaGFwZSc6ICgzLCksIH0gICAgICAgICAgICAgICAg" +
      "ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAKAAAAAAAAgD8AAABAUEsDBBQAAAAAAAAA" +
      "IQAM/BzpkAAAAJAAAAAFABQAeS5ucHkBABAAkAAAAAAAAACQAAAAAAAAAJNOVU1QWQEAdgB7J2Rlc2NyJzogJzxpOCcs" +
      "ICdmb3J0cmFuX29yZGVyJzogRmFsc2UsICdzaGFwZSc6ICgyLCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAg" +
      "ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAKAQAAAAAAAAACAAAAAAAAAFBLAQIUAxQAAAAAAAAAIQC2jIZT" +
      "jAAAAIwAAAAFAAAAAAAAAAAAAACAAQAAAAB4Lm5weVBLAQIUAxQAAAAAAAAAIQAM/BzpkAAAAJAAAAAFAAAAAAAAAAAA" +
      "AACAAcMAAAB5Lm5weVBLBQYAAAAAAgACAGYAAACKAQAAAAA=",
  );
  const compressed = fromBase64(
    "UEsDBBQAAAAIAAAAIQC2jIZTSwAAAIwAAAAFABQAeC5ucHkBABAAjAAAAAAAAABLAAAAAAAAAJvsF+obEMnIUMZQrZ6S" +
      "WpxcpG6loG6TZqKuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GsY6mjoKtQoUAC4GMGiwBxIOAFBLAwQUAAAA" +
      "CAAAACEADPwc6UoAAACQAAAABQAUAHkubnB5AQAQAJAAAAAAAAAASgAAAAAAAACb7BfqGxDJyFDGUK2eklqcXKRupaBu" +
      "k2mhrqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC+RpGOpo6CrUKFAAuRgYIYILSAFBLAQIUAxQAAAAIAAAAIQC2" +
      "jIZTSwAAAIwAAAAFAAAAAAAAAAAAAACAAQAAAAB4Lm5weVBLAQIUAxQAAAAIAAAAIQAM/BzpSgAAAJAAAAAFAAAAAAAA" +
      "AAAAAACAAYIAAAB5Lm5weVBLBQYAAAAAAgACAGYAAAADAQAAAAA=",
  );
  for (const file of [saved, compressed]) {
    const a = parseNpz(file);
    assert.deepEqual([...a.keys()], ["x", "y"]);
    assert.equal(a.get("x")!.dtype, "float32");
    assert.deepEqual([...a.get("x")!.data], [0, 1, 2]);
    assert.equal(a.get("y")!.dtype, "int64");
    assert.deepEqual([...a.get("y")!.data], [1n, 2n]);
  }

  assertThrowsMatch(
    () => parseNpz(zipSync({ "ok.npy": x, "bad.npy": x.subarray(0, 134) })),
    NpyFormatError,
    'Cannot read .npz entry "bad.npy": data at byte 128 has 6 bytes, but shape (2, 2) of float32 ' +
      "needs 16",
  );
  assertThrowsMatch(
    () => parseNpz(x),
    NpyFormatError,
    /^Cannot read \.npz: not a readable zip archive \(.+\)$/,
  );
});

Deno.test("loadNpy and loadNpz read files and name them in errors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const x = npy("<f8", [2], bytesOf([0.5, -1], "setFloat64", 8, true));
    await Deno.writeFile(`${dir}/x.npy`, x);
    await Deno.writeFile(`${dir}/a.npz`, zipSync({ "x.npy": x }));
    assert.deepEqual([...(await loadNpy(`${dir}/x.npy`)).data], [0.5, -1]);
    assert.deepEqual([...(await loadNpz(`${dir}/a.npz`)).get("x")!.data], [0.5, -1]);
    await Deno.writeFile(`${dir}/bad.npy`, x.subarray(0, 134));
    await assertRejectsMatch(
      () => loadNpy(`${dir}/bad.npy`),
      NpyFormatError,
      `Cannot read ${dir}/bad.npy: data at byte 128 has 6 bytes, but shape (2) of float64 needs 16`,
    );
    await Deno.writeFile(`${dir}/bad.npz`, zipSync({ "x.npy": x.subarray(0, 134) }));
    await assertRejectsMatch(
      () => loadNpz(`${dir}/bad.npz`),
      NpyFormatError,
      `Cannot read ${dir}/bad.npz entry "x.npy": data at byte 128 has 6 bytes, but shape (2) of ` +
        "float64 needs 16",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
