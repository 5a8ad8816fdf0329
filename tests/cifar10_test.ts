import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { gunzipSync, gzipSync, strToU8 } from "fflate";
import {
  CIFAR10_ARCHIVE,
  CIFAR10_FILES,
  CIFAR10_MIRRORS,
  cifar10Dir,
  loadCifar10,
  parseCifar10,
} from "../src/data/cifar10.ts";
import { encodeTar, readTar } from "../src/data/tar.ts";
import { createLoader } from "../src/data/loader.ts";
import { loadDataset } from "../src/data/datasets.ts";
import { cifar10, CIFAR10_CLASSES } from "../src/dsl/datasets.ts";
import { cifar10Cnn } from "../pipelines/cifar10.ts";
import { listDir, withTempDir } from "./_files.ts";

const md5 = (bytes: Uint8Array) => createHash("md5").update(bytes).digest("hex");
const FOLDER = "cifar-10-batches-bin";
const BASE = "https://good.test/kriz/";

/** The generated pixel value of channel `c`, row `h`, column `w` of record `r` of file `f`. */
const pixel = (f: number, r: number, c: number, h: number, w: number) =>
  (f * 37 + r * 11 + c * 85 + h * 7 + w * 3) % 256;
const label = (f: number, r: number) => (3 * f + r) % 10;

/** A batch file of `records` records, label and pixels from `label` and `pixel` (CHW). */
function batchFile(f: number, records: number): Uint8Array {
  const bytes = new Uint8Array(records * 3073);
  for (let r = 0; r < records; r++) {
    bytes[r * 3073] = label(f, r);
    for (let c = 0; c < 3; c++) {
      for (let h = 0; h < 32; h++) {
        for (let w = 0; w < 32; w++) {
          bytes[r * 3073 + 1 + c * 1024 + h * 32 + w] = pixel(f, r, c, h, w);
        }
      }
    }
  }
  return bytes;
}

const ALL_FILES = [...CIFAR10_FILES.train, ...CIFAR10_FILES.test];
/** Records per generated file: data_batch_1..5 get 3, 4, 2, 5, 1; test_batch 6. */
const RECORDS = [3, 4, 2, 5, 1, 6];

/** A `cifar-10-binary.tar.gz` of generated batch files (with the folder and meta file). */
function archive(files: Record<string, Uint8Array> = {}): Uint8Array {
  const members = [
    { name: `${FOLDER}/` },
    { name: `${FOLDER}/batches.meta.txt`, data: strToU8(CIFAR10_CLASSES.join("\n") + "\n") },
    ...ALL_FILES.map((f, i) => ({ name: `${FOLDER}/${f}`, data: batchFile(i, RECORDS[i]) })),
    ...Object.entries(files).map(([name, data]) => ({ name, data })),
  ];
  return gzipSync(encodeTar(members), { level: 1, mtime: 0 });
}

/** Serves `body` at `BASE` + the archive's name; logs requested URLs. */
function fakeFetch(body: Uint8Array, log: string[]): typeof fetch {
  return (input) => {
    const url = String(input);
    log.push(url);
    if (url !== `${BASE}${CIFAR10_ARCHIVE.file}`) {
      return Promise.resolve(new Response("no such file", { status: 404 }));
    }
    const copy = new Uint8Array(body);
    return Promise.resolve(
      new Response(copy, { headers: { "content-length": String(copy.length) } }),
    );
  };
}

// ---- tar ---------------------------------------------------------------------------------------

// Made by GNU tar 1.34 (`tar --format=gnu` and `--format=pax`, owner 0, mtime 0, then gzip -9n)
// from a folder cifar-10-batches-bin/ holding readme.txt ("hello cifar\n") and a file whose name
// is 121 bytes long (content "x"), so the GNU archive uses an `L` member and the pax one a `path`.
const GNU_TAR_GZ =
  "H4sIAAAAAAACA+3VSw6DIAAEUNY9BRdQoYpuewDvQNDSauonQdrYnr7GXe3HjdrUzttAAgmLYSDND8o4nDmJsmmmGyfJK49Mi3UiIfqxMxyf59znUUCoIAs4N1YZSompa/tp39j6j0pf5W+02pfata2dLP8wCN7nz4NB/oKHglCG/GeX6aKoaX8LNgT+juu53i6uq2OcV6eZzhjr/5ZHg/7zkPmExuj/d95/JS/aXGXRXQtZqVLL2wLc7mT0cY35j/7/jD/23xc+/v9ltKgAAAAAAAAAAAAAAAAAwGrcAUMyLNQAKAAA";
const PAX_TAR_GZ =
  "H4sIAAAAAAACA+3W3U6DMBgGYI53Fb0BoKU/bAc799A7IB1WIeFngWrQq7cSEw2bEiLpMvc+J20oSUPa9/uI4ns93Bn9YLo+zstH3YWMhgdt88L04aFsgr+jjhJiHJ3pSGkqvuYfzxlXggVkCDx47q3u3PbBbeKUaFvWZs/SnVRsq3Y0om6m5JbyjVvNT1fZ52oAV+9c5OOV9xgjLuXP+Z/OmRCuJBDpM/9d29rf3ptbn37cNZ//t5bQubE2kR2sz/ovpUxR/1H/4SL5XyP0S/LPpvlXQsmAUJ/5v9H6X5iqasl4C5Bn5P+k/+vsxXSvWdU2T1mja5O9LTeXf55M8s95ojj6vw9MJuSobbE/exHWOP3FIrfzBv8lF8z/ysc+2/8pm+RfKfR/PwZEAAAAAAAAAAAA4N96B8tHrQ8AKAAA";

Deno.test("tar: reads GNU tar's gnu and pax archives (long names, directories)", () => {
  const long = `${FOLDER}/a_very_long_name_${"z".repeat(100)}.bin`;
  for (const b64 of [GNU_TAR_GZ, PAX_TAR_GZ]) {
    const entries = readTar(gunzipSync(Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0))));
    assert.deepEqual(
      entries.map((e) => [e.name, e.type, new TextDecoder().decode(e.data)]).sort(),
      [[`${FOLDER}/`, "5", ""], [`${FOLDER}/readme.txt`, "0", "hello cifar\n"], [long, "0", "x"]]
        .sort(),
    );
  }
});

Deno.test("tar: encodeTar writes ustar blocks that readTar reads back", () => {
  const data = Uint8Array.from({ length: 700 }, (_, i) => i % 251);
  const tar = encodeTar([{ name: "d/" }, { name: "d/x.bin", data }, {
    name: "e",
    data: strToU8(""),
  }]);
  // 3 headers, 2 data blocks for 700 bytes, 2 end blocks.
  assert.equal(tar.length, 512 * 7);
  assert.equal(new TextDecoder().decode(tar.subarray(257, 263)), "ustar\0");
  // The size field of the second header is octal 700 = 1274.
  assert.equal(new TextDecoder().decode(tar.subarray(512 + 124, 512 + 136)), "00000001274\0");
  const entries = readTar(tar);
  assert.deepEqual(entries.map((e) => [e.name, e.type, e.data.length]), [
    ["d/", "5", 0],
    ["d/x.bin", "0", 700],
    ["e", "0", 0],
  ]);
  assert.deepEqual(entries[1].data, data);
  assert.throws(() => encodeTar([{ name: "n".repeat(101) }]), RangeError);
});

Deno.test("tar: malformed archives are errors naming the offset", () => {
  const tar = encodeTar([{ name: "a", data: strToU8("abc") }, { name: "b", data: strToU8("12") }]);
  const badSum = tar.slice();
  badSum[1024] ^= 1; // the second header's name
  assert.throws(() => readTar(badSum), {
    name: "TarFormatError",
    message:
      /^Cannot read tar archive: header at offset 1024 has a bad checksum \(stored \d+, comp/,
  });
  assert.throws(() => readTar(tar.subarray(0, 1536 + 1)), {
    name: "TarFormatError",
    message: "Cannot read tar archive: member at offset 1024 needs 2 bytes of data, only 1 remain",
  });
  assert.throws(() => readTar(tar.subarray(0, 1024 + 100)), {
    name: "TarFormatError",
    message: "Cannot read tar archive: truncated header at offset 1024 (100 of 512 bytes)",
  });
  const badSize = tar.slice();
  badSize.set(strToU8("0000000009x\0"), 124);
  let sum = 0; // a valid checksum for the changed header
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : badSize[i];
  badSize.set(strToU8(`${sum.toString(8).padStart(6, "0")}\0 `), 148);
  assert.throws(() => readTar(badSize), {
    name: "TarFormatError",
    message: "Cannot read tar archive: header at offset 0 has a size that is not an octal number " +
      '("0000000009x")',
  });
  // Without the end blocks the archive still reads; a zero block ends it early.
  assert.equal(readTar(tar.subarray(0, 2048)).length, 2);
  assert.deepEqual(readTar(new Uint8Array(1024)), []);
});

// ---- Loading -----------------------------------------------------------------------------------

Deno.test("CIFAR-10: the archive's URL, MD5, folder and torchvision's class names", () => {
  assert.deepEqual(CIFAR10_ARCHIVE, {
    file: "cifar-10-binary.tar.gz",
    md5: "c32a1d4ab5d03f1284b67883e8d87530",
  });
  assert.equal(
    new URL(CIFAR10_ARCHIVE.file, CIFAR10_MIRRORS[0]).href,
    "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
  );
  assert.equal(cifar10Dir("/r"), join("/r", "cifar-10-batches-bin"));
  assert.deepEqual(ALL_FILES, [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
  ]);
  const ds = cifar10({ root: "/d", download: false });
  assert.deepEqual(
    [ds.kind, ds.root, ds.download, ds.sampleShape, ds.classes],
    ["cifar10", "/d", false, [3, 32, 32], 10],
  );
  assert.deepEqual(ds.classNames, [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
  ]);
  assert.equal(cifar10().root, "data");
  const config = JSON.parse(Deno.readTextFileSync(new URL("../deno.json", import.meta.url)));
  assert.ok(config.permissions.default.net.includes("www.cs.toronto.edu"));
});

Deno.test("CIFAR-10: downloads, verifies, extracts into ROOT/cifar-10-batches-bin/", async () => {
  await withTempDir(async (root) => {
    const body = archive(), log: string[] = [], messages: string[] = [];
    const options = {
      root,
      fetch: fakeFetch(body, log),
      mirrors: ["https://dead.test/", BASE],
      resources: [{ file: CIFAR10_ARCHIVE.file, md5: md5(body) }],
      progress: (m: string) => messages.push(m),
    };
    const { train, test } = await loadCifar10(options);
    assert.deepEqual(log, [
      `https://dead.test/${CIFAR10_ARCHIVE.file}`,
      `${BASE}${CIFAR10_ARCHIVE.file}`,
    ]);
    assert.deepEqual(listDir(root), ["cifar-10-batches-bin", "cifar-10-binary.tar.gz"]);
    assert.deepEqual(listDir(cifar10Dir(root)), ["batches.meta.txt", ...ALL_FILES].sort());
    assert.deepEqual(await Deno.readFile(join(root, CIFAR10_ARCHIVE.file)), body);
    assert.deepEqual(
      await Deno.readFile(join(cifar10Dir(root), "data_batch_2.bin")),
      batchFile(1, 4),
    );
    assert.ok(
      messages.includes(`Extracted 7 files of cifar-10-binary.tar.gz into ${cifar10Dir(root)}`),
    );
    assert.ok(
      messages.some((m) =>
        m.startsWith("Downloading cifar-10-binary.tar.gz from https://dead.test/")
      ),
    );

    // The five data batches in order, then the test batch; labels and CHW pixels as written.
    assert.deepEqual([train.count, train.channels, train.height, train.width, train.classes], [
      15,
      3,
      32,
      32,
      10,
    ]);
    assert.deepEqual([test.count, test.channels], [6, 3]);
    const origin = RECORDS.slice(0, 5).flatMap((n, f) =>
      Array.from({ length: n }, (_, r) => [f, r])
    );
    assert.deepEqual([...train.labels], origin.map(([f, r]) => label(f, r)));
    assert.deepEqual([...test.labels], [5, 6, 7, 8, 9, 0]);
    for (const [i, [f, r]] of origin.entries()) {
      for (const [c, h, w] of [[0, 0, 0], [1, 5, 17], [2, 31, 31], [2, 0, 1]]) {
        assert.equal(train.images[i * 3072 + c * 1024 + h * 32 + w], pixel(f, r, c, h, w));
      }
    }
    assert.deepEqual(train.images.subarray(3 * 3072, 4 * 3072), batchFile(1, 1).subarray(1));

    // A second load reads the extracted files and fetches nothing.
    const again = await loadCifar10({ ...options, mirrors: [] });
    assert.deepEqual(again.train.images, train.images);
    assert.deepEqual(again.test.labels, test.labels);
    assert.equal(log.length, 2);

    // A missing batch file is extracted again from the cached archive, without a download.
    await Deno.remove(join(cifar10Dir(root), "test_batch.bin"));
    await Deno.writeTextFile(join(cifar10Dir(root), "batches.meta.txt"), "kept");
    const third = await loadCifar10({ ...options, download: false });
    assert.deepEqual(third.test.images, test.images);
    assert.equal(await Deno.readTextFile(join(cifar10Dir(root), "batches.meta.txt")), "kept");
    assert.equal(log.length, 2);
  });
});

Deno.test("CIFAR-10: batches hold raw pixels in CHW order and int64 labels", async () => {
  await withTempDir(async (root) => {
    const body = archive();
    await Deno.writeFile(join(root, CIFAR10_ARCHIVE.file), body);
    const { test } = await loadCifar10({
      root,
      download: false,
      resources: [{ file: CIFAR10_ARCHIVE.file, md5: md5(body) }],
    });
    const [first, second] = createLoader(test, { batchSize: 4 });
    assert.deepEqual([first.size, first.x.length, second.size, second.x.length], [
      4,
      4 * 3072,
      2,
      2 * 3072,
    ]);
    assert.deepEqual([...second.y], [9n, 0n]);
    for (let r = 0; r < 4; r++) {
      for (const [c, h, w] of [[0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [2, 31, 30]]) {
        assert.equal(
          first.x[r * 3072 + c * 1024 + h * 32 + w],
          pixel(5, r, c, h, w),
        );
      }
    }
    // Pixel (record 1, green, row 2, column 3) = (5·37 + 11 + 85 + 14 + 9) mod 256 = 48.
    assert.equal(first.x[3072 + 1024 + 2 * 32 + 3], 48);
    const dispatched = await loadDataset(cifar10({ root: "/nonexistent", download: false }), {
      root,
    });
    assert.deepEqual(dispatched.train.labels, (await loadCifar10({ root })).train.labels);
  });
});

Deno.test("CIFAR-10: a checksum mismatch is an error naming the file", async () => {
  await withTempDir(async (root) => {
    const body = archive(), log: string[] = [];
    const wrong = "0".repeat(32);
    await assert.rejects(
      loadCifar10({
        root,
        fetch: fakeFetch(body, log),
        mirrors: [BASE],
        resources: [{ file: CIFAR10_ARCHIVE.file, md5: wrong }],
        progress: false,
      }),
      {
        name: "Cifar10Error",
        message: `Cannot load CIFAR-10: checksum mismatch for cifar-10-binary.tar.gz from ` +
          `${BASE}cifar-10-binary.tar.gz (expected ${wrong}, got ${md5(body)})`,
      },
    );
    assert.deepEqual(listDir(root), []);
    // The default MD5 is the real archive's: a cached generated archive does not match it.
    await Deno.writeFile(join(root, CIFAR10_ARCHIVE.file), body);
    const path = join(root, CIFAR10_ARCHIVE.file);
    await assert.rejects(loadCifar10({ root, download: false }), {
      name: "Cifar10Error",
      message: `Cannot load CIFAR-10: checksum mismatch for ${path} (expected ` +
        `c32a1d4ab5d03f1284b67883e8d87530, got ${md5(body)}) and downloading is disabled; ` +
        `delete the file or allow downloading`,
    });
  });
});

Deno.test("CIFAR-10: missing data, malformed archives and batch files are errors", async () => {
  await withTempDir(async (root) => {
    await assert.rejects(loadCifar10({ root, download: false }), {
      name: "Cifar10Error",
      message: `Cannot load CIFAR-10: ${cifar10Dir(root)} lacks batch files, ` +
        `${join(root, CIFAR10_ARCHIVE.file)} not found, and downloading is disabled; pass ` +
        `--data-dir pointing at a directory that contains cifar-10-batches-bin/, or allow ` +
        `downloading`,
    });
    const offline = (bytes: Uint8Array) => {
      Deno.writeFileSync(join(root, CIFAR10_ARCHIVE.file), bytes);
      return loadCifar10({
        root,
        download: false,
        resources: [{ file: CIFAR10_ARCHIVE.file, md5: md5(bytes) }],
      });
    };
    await assert.rejects(offline(strToU8("not gzip at all")), {
      name: "Cifar10Error",
      message: /^Cannot load CIFAR-10: cannot extract cifar-10-binary\.tar\.gz: /,
    });
    const corrupt = encodeTar([{ name: `${FOLDER}/data_batch_1.bin`, data: batchFile(0, 1) }]);
    corrupt[0] = 0x41;
    await assert.rejects(offline(gzipSync(corrupt)), {
      name: "Cifar10Error",
      message: new RegExp(
        "^Cannot load CIFAR-10: cannot extract cifar-10-binary\\.tar\\.gz: Cannot read tar " +
          "archive: header at offset 0 has a bad checksum",
      ),
    });
    const partial = encodeTar(
      ALL_FILES.slice(0, 5).map((f) => ({ name: `other/${f}`, data: batchFile(0, 1) })),
    );
    await assert.rejects(offline(gzipSync(partial)), {
      name: "Cifar10Error",
      message: "Cannot load CIFAR-10: cifar-10-binary.tar.gz has no member " +
        ALL_FILES.map((f) => `${FOLDER}/${f}`).join(", "),
    });
    assert.deepEqual(listDir(root), [CIFAR10_ARCHIVE.file]);

    // Batch files: a partial record, an empty file, a label out of range.
    const oneByteMore = new Uint8Array([...batchFile(0, 2), 7]);
    await assert.rejects(offline(archive({ [`${FOLDER}/data_batch_3.bin`]: oneByteMore })), {
      name: "Cifar10Error",
      message: "Cannot load CIFAR-10: data_batch_3.bin has 6147 bytes, not a whole positive " +
        "number of 3073-byte records (1 label byte and 3072 pixel bytes each)",
    });
  });
  const records = (bytes: Uint8Array) => () => parseCifar10([{ name: "test_batch.bin", bytes }]);
  assert.throws(records(new Uint8Array(0)), {
    name: "Cifar10Error",
    message: /^Cannot load CIFAR-10: test_batch\.bin has 0 bytes, not a whole positive number/,
  });
  const badLabel = batchFile(0, 3);
  badLabel[2 * 3073] = 10;
  assert.throws(records(badLabel), {
    name: "Cifar10Error",
    message: "Cannot load CIFAR-10: test_batch.bin: label 10 of record 2 is not below the class " +
      "count 10",
  });
});

// ---- pipelines/cifar10.ts ----------------------------------------------------------------------

/** Learnable generated records: each class a colour per channel and quadrant, plus noise. */
function learnable(records: number, seed: number): Uint8Array {
  let state = seed >>> 0;
  const next = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const bytes = new Uint8Array(records * 3073);
  for (let r = 0; r < records; r++) {
    const k = Math.floor(next() * 10), at = r * 3073;
    bytes[at] = k;
    for (let c = 0; c < 3; c++) {
      for (let h = 0; h < 32; h++) {
        for (let w = 0; w < 32; w++) {
          const quadrant = (h < 16 ? 0 : 2) + (w < 16 ? 0 : 1);
          const mean = 40 + 44 * ((k * 7 + c * 3 + quadrant * 5) % 5);
          bytes[at + 1 + c * 1024 + h * 32 + w] = Math.max(
            0,
            Math.min(255, mean + (next() - 0.5) * 120),
          );
        }
      }
    }
  }
  return bytes;
}

const avgLosses = (lines: readonly string[]) =>
  lines.flatMap((l) => l.match(/^ Accuracy: [\d.]+%, Avg loss: (\d+\.\d+) $/)?.slice(1) ?? [])
    .map(Number);

Deno.test("pipelines/cifar10.ts trains on generated CIFAR-10 data (download: false)", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(cifar10Dir(root));
    for (const [i, f] of ALL_FILES.entries()) {
      await Deno.writeFile(join(cifar10Dir(root), f), learnable(i < 5 ? 64 : 96, 11 + i));
    }
    const offline = cifar10Cnn.data(cifar10({ root: join(root, "missing"), download: false }), {
      batchSize: 32,
    });
    const lines: string[] = [];
    await offline.run({ dataDir: root, epochs: 3, seed: 1, log: (l) => lines.push(l) });
    const losses = avgLosses(lines);
    assert.equal(losses.length, 3, lines.join("\n"));
    assert.ok(losses[0] > losses[1] && losses[1] > losses[2], `${losses}`);
    assert.ok(losses[2] < 0.5 * Math.log(10), `${losses}`); // half the loss of a uniform guess
    assert.ok(lines.includes("Epoch 1") && lines.includes("Done!"), lines.join("\n"));

    // The script itself, through the CLI.
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-P", "pipelines/cifar10.ts", "--data-dir", root, "--epochs", "2"],
      cwd: new URL("..", import.meta.url),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const cli = avgLosses(stdout.split("\n"));
    assert.equal(cli.length, 2, stdout);
    assert.ok(cli[0] > cli[1], `${cli}`);
  });
});
