import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { strToU8, zipSync } from "fflate";
import {
  type IdxDatasetConfig,
  idxRawDir,
  loadIdxDataset,
  writeIdxFiles,
} from "../src/data/idx_download.ts";
import {
  EMNIST_BALANCED,
  KMNIST,
  loadEmnist,
  loadKmnist,
  loadMnist,
  MNIST,
} from "../src/data/mnist.ts";
import { FASHION_MNIST, loadFashionMnist } from "../src/data/fashion_mnist.ts";
import { syntheticFashionMnist } from "../src/data/synthetic.ts";
import { loadDataset } from "../src/data/datasets.ts";
import {
  emnist,
  EMNIST_BALANCED_CLASSES,
  kmnist,
  KMNIST_CLASSES,
  mnist,
  MNIST_CLASSES,
} from "../src/dsl/datasets.ts";
import { mnistMlp } from "../pipelines/mnist.ts";
import { assertSameSet, listDir, withTempDir } from "./_files.ts";

const SMALL = { train: 40, test: 20, seed: 5 } as const;
const md5 = (bytes: Uint8Array) => createHash("md5").update(bytes).digest("hex");
const LOADERS = [
  { config: MNIST, load: loadMnist },
  { config: KMNIST, load: loadKmnist },
  { config: EMNIST_BALANCED, load: loadEmnist },
] as const;

/** Serves the downloadable files of `dir` under `base`; any other host fails like a dead one. */
async function fakeFetch(
  dir: string,
  files: readonly string[],
  base: string,
  log: string[],
): Promise<typeof fetch> {
  const bodies = new Map<string, Uint8Array<ArrayBuffer>>();
  for (const f of files) bodies.set(`${base}${f}`, await Deno.readFile(join(dir, f)));
  return (input) => {
    const url = String(input);
    log.push(url);
    if (!url.startsWith(base)) return Promise.reject(new TypeError("error sending request"));
    const body = bodies.get(url);
    if (!body) return Promise.resolve(new Response("no such file", { status: 404 }));
    return Promise.resolve(
      new Response(body, { headers: { "content-length": String(body.length) } }),
    );
  };
}

/** Writes synthetic data in `config`'s layout under a temporary source root, and serves it. */
async function withServedCopy(
  config: IdxDatasetConfig,
  fn: (served: {
    fetch: typeof fetch;
    log: string[];
    resources: Awaited<ReturnType<typeof writeIdxFiles>>["resources"];
  }) => Promise<void>,
): Promise<void> {
  await withTempDir(async (source) => {
    const { dir, resources } = await writeIdxFiles(config, source, syntheticFashionMnist(SMALL));
    const log: string[] = [];
    const fetch = await fakeFetch(dir, resources.map((r) => r.file), "https://good.test/d/", log);
    await fn({ fetch, log, resources });
  });
}

const extracted = (config: IdxDatasetConfig) =>
  [config.files.train, config.files.test].flatMap((f) => [f.images, f.labels]);

// ---- Configurations ----------------------------------------------------------------------------

Deno.test("datasets: torchvision's folder names, file names, sums and class counts", () => {
  assert.deepEqual(
    [FASHION_MNIST, MNIST, KMNIST, EMNIST_BALANCED].map((c) => [c.name, c.classes]),
    [["FashionMNIST", 10], ["MNIST", 10], ["KMNIST", 10], ["EMNIST", 47]],
  );
  assert.equal(idxRawDir(MNIST, "/r"), join("/r", "MNIST", "raw"));
  assert.deepEqual(MNIST.resources.map((r) => `${r.file} ${r.md5}`), [
    "train-images-idx3-ubyte.gz f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz 9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz ec29112dd5afa0611ce80d1b7f02629c",
  ]);
  assert.deepEqual(KMNIST.resources.map((r) => r.md5), [
    "bdb82020997e1d708af4cf47b453dcf7",
    "e144d726b3acfaa3e44228e80efcd344",
    "5c965bf0a639b31b8f53240b1b52f4d7",
    "7320c461ea6c1c855c0b718fb2a4b134",
  ]);
  assert.deepEqual(EMNIST_BALANCED.resources, [
    { file: "gzip.zip", md5: "58c8d27c78d21e728a6bc7b3cc06412e" },
  ]);
  assert.deepEqual(extracted(EMNIST_BALANCED), [
    "emnist-balanced-train-images-idx3-ubyte",
    "emnist-balanced-train-labels-idx1-ubyte",
    "emnist-balanced-test-images-idx3-ubyte",
    "emnist-balanced-test-labels-idx1-ubyte",
  ]);
});

Deno.test("datasets: every mirror's host is in deno.json's default net permissions", async () => {
  const json = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  const hosts: string[] = json.permissions.default.net;
  for (const config of [FASHION_MNIST, MNIST, KMNIST, EMNIST_BALANCED]) {
    for (const mirror of config.mirrors) {
      assert.ok(hosts.includes(new URL(mirror).hostname), `${mirror} allowed`);
    }
  }
});

Deno.test("datasets: DSL descriptions carry torchvision's classes", () => {
  const m = mnist(), k = kmnist({ root: "/k", download: false }), e = emnist({ split: "balanced" });
  assert.deepEqual([m.kind, m.root, m.download, m.classes], ["mnist", "data", true, 10]);
  assert.deepEqual([k.kind, k.root, k.download, k.classes], ["kmnist", "/k", false, 10]);
  assert.deepEqual([e.kind, e.split, e.classes], ["emnist", "balanced", 47]);
  for (const ds of [m, k, e]) {
    assert.deepEqual(ds.sampleShape, [1, 28, 28]);
    assert.ok(Object.isFrozen(ds) && Object.isFrozen(ds.classNames));
  }
  assert.equal(m.classNames, MNIST_CLASSES);
  assert.deepEqual([MNIST_CLASSES[0], MNIST_CLASSES[9]], ["0 - zero", "9 - nine"]);
  assert.equal(k.classNames, KMNIST_CLASSES);
  assert.equal(KMNIST_CLASSES.join(" "), "o ki su tsu na ha ma ya re wo");
  assert.equal(e.classNames, EMNIST_BALANCED_CLASSES);
  // sorted(set(digits + letters) - {c i j k l m o p s u v w x y z}), as torchvision builds it.
  assert.equal(
    EMNIST_BALANCED_CLASSES.join(""),
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabdefghnqrt",
  );
  assert.throws(
    () => emnist({ split: "letters" as "balanced" }),
    /^RangeError: Cannot create EMNIST dataset: split must be "balanced" \(the only split supported\), got "letters"$/,
  );
});

// ---- Downloads ---------------------------------------------------------------------------------

for (const { config, load } of LOADERS) {
  Deno.test(`${config.name}: downloads into ROOT/${config.name}/raw/, falling back to the second mirror`, async () => {
    await withServedCopy(config, async ({ fetch, log, resources }) => {
      await withTempDir(async (root) => {
        const messages: string[] = [];
        const loaded = await load({
          root,
          fetch,
          resources,
          mirrors: ["http://dead.test/", "https://good.test/d/"],
          progress: (m) => messages.push(m),
        });
        const expected = syntheticFashionMnist(SMALL);
        assertSameSet(loaded.train, expected.train, { classes: false });
        assertSameSet(loaded.test, expected.test, { classes: false });
        assert.equal(loaded.train.classes, config.classes);
        const first = resources[0].file;
        assert.deepEqual(log.slice(0, 2), [
          `http://dead.test/${first}`,
          `https://good.test/d/${first}`,
        ]);
        // One .gz per file, or one archive for all of them.
        assert.equal(log.length, 2 * resources.length);
        const dir = join(root, config.name, "raw");
        assert.deepEqual(listDir(join(root, config.name)), ["raw"]);
        assert.deepEqual(
          listDir(dir),
          [...extracted(config), ...resources.map((r) => r.file)].sort(),
        );
        assert.ok(messages.some((m) => m.startsWith(`Downloading ${first}: 100%`)));
        assert.ok(messages.some((m) => m.includes("http://dead.test/") && m.includes("failed")));
        // Loading again reads the extracted files and fetches nothing.
        assertSameSet((await load({ root, fetch, mirrors: [] })).test, expected.test, {
          classes: false,
        });
        assert.equal(log.length, 2 * resources.length);
      });
    });
  });

  Deno.test(`${config.name}: a download whose MD5 differs from torchvision's is an error naming the file`, async () => {
    await withServedCopy(config, async ({ fetch, resources }) => {
      await withTempDir(async (root) => {
        const file = resources[0].file;
        await assert.rejects(
          load({ root, fetch, mirrors: ["https://good.test/d/"], progress: false }),
          {
            name: "IdxDatasetError",
            message: `Cannot load ${config.name}: checksum mismatch for ${file} from ` +
              `https://good.test/d/${file} (expected ${config.resources[0].md5}, got ` +
              `${resources[0].md5})`,
          },
        );
        assert.deepEqual(listDir(root), []);
      });
    });
  });

  Deno.test(`${config.name}: missing files with downloading disabled name the folder`, async () => {
    await withTempDir(async (root) => {
      const path = join(root, config.name, "raw", config.files.train.images);
      await assert.rejects(load({ root, download: false }), {
        name: "IdxDatasetError",
        message: `Cannot load ${config.name}: ${path} not found and downloading is disabled; ` +
          `pass --data-dir pointing at a directory that contains ${config.name}/raw/, or allow ` +
          "downloading",
      });
    });
  });
}

Deno.test("EMNIST: a cached gzip.zip is verified and only the balanced files are extracted", async () => {
  await withTempDir(async (root) => {
    const { dir, resources } = await writeIdxFiles(
      EMNIST_BALANCED,
      root,
      syntheticFashionMnist(SMALL),
    );
    for (const f of extracted(EMNIST_BALANCED)) await Deno.remove(join(dir, f));
    const loaded = await loadEmnist({ root, download: false, resources });
    assertSameSet(loaded.train, syntheticFashionMnist(SMALL).train, { classes: false });
    assert.deepEqual(listDir(dir), [...extracted(EMNIST_BALANCED), "gzip.zip"].sort());
    // With torchvision's MD5 the synthetic archive is rejected, naming the cached file.
    for (const f of extracted(EMNIST_BALANCED)) await Deno.remove(join(dir, f));
    await assert.rejects(loadEmnist({ root, download: false }), {
      name: "IdxDatasetError",
      message: `Cannot load EMNIST: checksum mismatch for ${join(dir, "gzip.zip")} (expected ` +
        `58c8d27c78d21e728a6bc7b3cc06412e, got ${resources[0].md5}) and downloading is ` +
        "disabled; delete the file or allow downloading",
    });
  });
});

Deno.test("EMNIST: an archive without the balanced files, or not a ZIP, is an error", async () => {
  await withTempDir(async (root) => {
    const dir = join(root, "EMNIST", "raw");
    await Deno.mkdir(dir, { recursive: true });
    const zip = zipSync({ "gzip/emnist-letters-train-images-idx3-ubyte.gz": strToU8("x") });
    await Deno.writeFile(join(dir, "gzip.zip"), zip);
    await assert.rejects(
      loadEmnist({ root, download: false, resources: [{ file: "gzip.zip", md5: md5(zip) }] }),
      {
        name: "IdxDatasetError",
        message: "Cannot load EMNIST: gzip.zip has no member " +
          "gzip/emnist-balanced-train-images-idx3-ubyte.gz",
      },
    );
    const garbage = strToU8("not a zip file");
    await Deno.writeFile(join(dir, "gzip.zip"), garbage);
    await assert.rejects(
      loadEmnist({ root, download: false, resources: [{ file: "gzip.zip", md5: md5(garbage) }] }),
      { name: "IdxDatasetError", message: /^Cannot load EMNIST: cannot unzip gzip\.zip: / },
    );
  });
});

Deno.test("datasets: FashionMNIST is one configuration of the same machinery", async () => {
  await withTempDir(async (root) => {
    const sets = syntheticFashionMnist(SMALL);
    const { resources } = await writeIdxFiles(FASHION_MNIST, root, sets);
    const viaConfig = await loadIdxDataset(FASHION_MNIST, { root, download: false, resources });
    assertSameSet(viaConfig.test, (await loadFashionMnist({ root, download: false })).test, {
      classes: false,
    });
    await assert.rejects(
      loadIdxDataset(FASHION_MNIST, { root: join(root, "x"), download: false }),
      {
        name: "FashionMnistError",
      },
    );
  });
});

Deno.test("loadDataset: dispatches each kind to its folder, --data-dir replacing the root", async () => {
  await withTempDir(async (root) => {
    const sets = syntheticFashionMnist(SMALL);
    for (const config of [MNIST, KMNIST, EMNIST_BALANCED]) {
      await writeIdxFiles(config, root, sets);
    }
    for (const ds of [mnist, kmnist, () => emnist({ split: "balanced" })]) {
      const { train, test } = await loadDataset(
        ds({ root: "/nonexistent", download: false } as never),
        { root },
      );
      assertSameSet(train, sets.train, { classes: false });
      assertSameSet(test, sets.test, { classes: false });
    }
  });
});

// ---- pipelines/mnist.ts ------------------------------------------------------------------------

const avgLosses = (lines: readonly string[]) =>
  lines.flatMap((l) => l.match(/^ Accuracy: [\d.]+%, Avg loss: (\d+\.\d+) $/)?.slice(1) ?? [])
    .map(Number);

Deno.test("pipelines/mnist.ts trains on generated MNIST data (download: false, --data-dir)", async () => {
  await withTempDir(async (root) => {
    await writeIdxFiles(MNIST, root, syntheticFashionMnist({ train: 1280, test: 320, seed: 3 }));
    // In process, with downloading disabled and the root given as the CLI's --data-dir gives it.
    const offline = mnistMlp.data(mnist({ root: join(root, "missing"), download: false }), {
      batchSize: 64,
    });
    const lines: string[] = [];
    await offline.run({ dataDir: root, epochs: 3, lr: 0.2, seed: 1, log: (l) => lines.push(l) });
    const inProcess = avgLosses(lines);
    assert.equal(inProcess.length, 3, lines.join("\n"));
    assert.ok(inProcess[0] > inProcess[1] && inProcess[1] > inProcess[2], `${inProcess}`);
    assert.ok(inProcess[2] < inProcess[0] - 0.1, `${inProcess}`);

    // The script itself, through the CLI.
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-P",
        "pipelines/mnist.ts",
        "--data-dir",
        root,
        "--epochs",
        "2",
        "--lr",
        "0.2",
      ],
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

Deno.test("datasets: a download without (or with a wrong) content-length arrives whole", async () => {
  await withServedCopy(MNIST, async ({ fetch: serve, resources }) => {
    for (const length of [null, "10"]) {
      // The same bytes in 1000-byte chunks, with no size or a size far too small.
      const fetch: typeof globalThis.fetch = async (input) => {
        const bytes = new Uint8Array(await (await serve(input)).arrayBuffer());
        const stream = new ReadableStream<Uint8Array>({
          start(controller) {
            for (let i = 0; i < bytes.length; i += 1000) {
              controller.enqueue(bytes.slice(i, i + 1000));
            }
            controller.close();
          },
        });
        return new Response(stream, { headers: length ? { "content-length": length } : {} });
      };
      await withTempDir(async (root) => {
        const messages: string[] = [];
        const loaded = await loadMnist({
          root,
          fetch,
          resources,
          mirrors: ["https://good.test/d/"],
          progress: (m) => messages.push(m),
        });
        assertSameSet(loaded.train, syntheticFashionMnist(SMALL).train, { classes: false });
        const size = (await Deno.stat(join(root, "MNIST", "raw", resources[0].file))).size;
        assert.ok(size > 10_000, `${size}`);
        assert.ok(
          messages.includes(`Downloaded ${resources[0].file} (${(size / 1e6).toFixed(1)} MB)`),
        );
      });
    }
  });
});
