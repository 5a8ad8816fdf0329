// Errors a newcomer can act on (issue 14): a forgotten -P names the permission and the fix; a failed
// download says how to train offline; a --data-dir one level too deep names the right root; a
// malformed layer names its path; a weights file with NaN, or one matching nothing, is refused
// before training; a huge CSV cell is not echoed whole; the exported batch-norm model carries no
// unused initializer; the bench, the browser server and the fine-tuning script answer --help, and
// the server names a taken port.
import { fileURLToPath } from "node:url";
import onnxProto from "onnx-proto";
import {
  batchNorm1d,
  crossEntropy,
  linear,
  module,
  pipeline,
  relu,
  sequential,
  sgd,
} from "../mod.ts";
import { loadCifar10 } from "../src/data/cifar10.ts";
import { parseCsv } from "../src/data/csv.ts";
import { loadFashionMnist } from "../src/data/fashion_mnist.ts";
import { loadMnist } from "../src/data/mnist.ts";
import { writeSyntheticFashionMnist } from "../src/data/synthetic.ts";
import { tensorDataset } from "../src/dsl/datasets.ts";
import { type SymbolicTensor, tensorOf } from "../src/dsl/layer.ts";
import { encodeSafetensors, type SafeTensor } from "../src/io/safetensors.ts";
import { CompileError } from "../src/ir/errors.ts";
import { createTrainer } from "../src/train/trainer.ts";
import { warmStart, WeightsFileError } from "../src/train/warm_start.ts";
import { describePermissionError } from "../src/util/permission_error.ts";
import { assert, assertRejectsMatch, assertThrowsMatch } from "./_assert.ts";
import { withTempDir } from "./_files.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const IN_REPO = new URL("../pipelines/train.ts", import.meta.url).href;
const ELSEWHERE = "file:///elsewhere/train.ts";

/**
 * Runs deno with `args` in the repository root; stdin, when given, is the script (`-`). A process
 * still running after a minute is killed (a server that failed to fail would otherwise hang).
 */
async function deno(args: string[], stdin?: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    signal: AbortSignal.timeout(60_000),
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const r = await child.output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: r.code, stdout: text(r.stdout), stderr: text(r.stderr) };
}

// 1. Permissions.

const notCapable = (kind: string, target?: string) =>
  new Deno.errors.NotCapable(
    `Requires ${kind} access${
      target === undefined ? "" : ` to "${target}"`
    }, run again with the --allow-${kind} flag`,
  );

Deno.test("permissions: a script elsewhere gets the exact --allow flag (a path's folder)", () => {
  const cases: [Error, string][] = [
    [
      notCapable("read", "/data/FashionMNIST/raw/train-images-idx3-ubyte"),
      "Missing read permission for /data/FashionMNIST/raw/train-images-idx3-ubyte: run with " +
      "--allow-read=/data/FashionMNIST/raw",
    ],
    [
      notCapable("write", "out/model.onnx.1-ab.tmp"),
      "Missing write permission for out/model.onnx.1-ab.tmp: run with --allow-write=out",
    ],
    [
      notCapable("net", "fashion-mnist.s3-website.eu-central-1.amazonaws.com:80"),
      "Missing net permission for fashion-mnist.s3-website.eu-central-1.amazonaws.com:80: run " +
      "with --allow-net=fashion-mnist.s3-website.eu-central-1.amazonaws.com:80",
    ],
    [notCapable("env", "HOME"), "Missing env permission for HOME: run with --allow-env=HOME"],
    [notCapable("env"), "Missing env permission: run with --allow-env"],
    [
      new Deno.errors.NotCapable(
        "Requires write access to <TMP>, run again with the --allow-write flag",
      ),
      "Missing write permission for the temporary folder: run with --allow-write",
    ],
  ];
  for (const [error, line] of cases) assert.equal(describePermissionError(error, ELSEWHERE), line);
});

Deno.test("permissions: a script of this repository is told to use -P, or what -P lacks", () => {
  const viaSet = "run with -P (the permission set in deno.json)";
  assert.equal(
    describePermissionError(notCapable("read", "data"), IN_REPO),
    `Missing read permission for data: ${viaSet}`,
  );
  assert.equal(
    describePermissionError(notCapable("ffi", `${ROOT}node_modules/x/binding.node`), IN_REPO),
    `Missing ffi permission for ${ROOT}node_modules/x/binding.node: ${viaSet}`,
  );
  // Wrapped (the data layer's errors keep Deno's as their cause).
  const wrapped = new Error("Cannot load FashionMNIST: cannot read data", {
    cause: notCapable("write", "data/FashionMNIST/raw/x.gz"),
  });
  assert.equal(
    describePermissionError(wrapped, IN_REPO),
    `Cannot load FashionMNIST: missing write permission for data/FashionMNIST/raw/x.gz: ${viaSet}`,
  );
  // A library that kept only Deno's text (onnxruntime-web's "no available backend found").
  const textOnly = new Error(
    "no available backend found. ERR: [wasm] TypeError: Requires read access to " +
      '"/p/node_modules/.deno/ort-wasm.wasm", run again with the --allow-read flag',
  );
  assert.equal(
    describePermissionError(textOnly, ELSEWHERE),
    "Missing read permission for /p/node_modules/.deno/ort-wasm.wasm: run with " +
      "--allow-read=/p/node_modules/.deno",
  );
  // Writing outside the repository: the set cannot allow it.
  assert.equal(
    describePermissionError(notCapable("write", "/tmp/out/model.onnx"), IN_REPO),
    "Missing write permission for /tmp/out/model.onnx: the permission set in deno.json (-P) " +
      "allows writing only inside the repository; write there, or run with -P --allow-write=.," +
      "/tmp/out",
  );
  // The sets never grant env; a host outside the set when read is granted (-P given).
  assert.equal(
    describePermissionError(notCapable("env", "HOME"), IN_REPO),
    "Missing env permission for HOME: run with -P --allow-env=HOME",
  );
  assert.equal(
    describePermissionError(notCapable("net", "example.com:443"), IN_REPO),
    "Missing net permission for example.com:443: run with -P --allow-net=example.com:443",
  );
  // The browser server has its own set.
  assert.equal(
    describePermissionError(
      notCapable("read", "pipelines/browser/index.html"),
      new URL("../pipelines/browser/server.ts", import.meta.url).href,
    ),
    "Missing read permission for pipelines/browser/index.html: run with -P=browser (the " +
      "permission set in deno.json)",
  );
  // Other errors are not permission errors (an OS-level EACCES included).
  assert.equal(describePermissionError(new Deno.errors.PermissionDenied("EACCES")), undefined);
  assert.equal(describePermissionError(new TypeError("x")), undefined);
  assert.equal(describePermissionError("text"), undefined);
});

Deno.test("permissions: Deno's real messages, and the data layer rethrows them unwrapped", async () => {
  // A script outside the repository, run without permissions: Deno's real message is parsed.
  await withTempDir(async (dir) => {
    const script = `${dir}/outside.ts`;
    await Deno.writeTextFile(
      script,
      `import { describePermissionError } from ${
        JSON.stringify(import.meta.resolve("../src/util/permission_error.ts"))
      };
try { Deno.readTextFileSync("/etc/hostname"); } catch (e) { console.log(describePermissionError(e)); }
try { Deno.env.get("HOME"); } catch (e) { console.log(describePermissionError(e)); }
`,
    );
    const r = await deno(["run", "-q", "--no-check", "--no-config", "--no-prompt", script]);
    assert.equal(r.stderr, "");
    assert.equal(
      r.stdout,
      "Missing read permission for /etc/hostname: run with --allow-read=/etc\n" +
        "Missing env permission for HOME: run with --allow-env=HOME\n",
    );
  });
  // In the repository (stdin's main module lies in the working folder), no permissions: the
  // dataset loader throws Deno's NotCapable itself, not "cannot read the data folder …".
  const r = await deno(
    ["run", "-q", "--no-check", "--no-prompt", "-"],
    `import { describePermissionError } from "./src/util/permission_error.ts";
import { loadFashionMnist } from "./src/data/fashion_mnist.ts";
const e = await loadFashionMnist({ root: "data", download: false }).catch((e) => e);
console.log(e.name, "|", describePermissionError(e));
`,
  );
  assert.equal(r.stderr, "");
  assert.equal(
    r.stdout,
    "NotCapable | Missing read permission for data: run with -P (the permission set in " +
      "deno.json)\n",
  );
});

Deno.test("permissions: a pipeline run without -P prints one line naming -P, exit 1", async () => {
  // Needs src/cli/cli.ts to print describePermissionError's line for a NotCapable error.
  const r = await deno(["run", "-q", "--no-check", "--no-prompt", "pipelines/fmnist.ts"]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /^error: Missing read permission for \S*data: run with -P \(the permission set in deno\.json\)\n$/,
  );
});

// 2. A failed download says how to go on without one.

const offline = (() => Promise.reject(new TypeError("fetch failed"))) as unknown as typeof fetch;
const mustNotDownload = (() => {
  throw new Error("must not download");
}) as unknown as typeof fetch;

Deno.test("offline: the download failure names the layout of an existing copy and the stand-in set", async () => {
  await withTempDir(async (root) => {
    await assertRejectsMatch(
      () =>
        loadFashionMnist({ root, fetch: offline, mirrors: ["https://a.test/"], progress: false }),
      Error,
      "Cannot load FashionMNIST: cannot download train-images-idx3-ubyte.gz from any mirror: " +
        "https://a.test/train-images-idx3-ubyte.gz (fetch failed); to train without downloading, " +
        "pass --data-dir ROOT where ROOT/FashionMNIST/raw/ holds train-images-idx3-ubyte, " +
        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (or their " +
        ".gz files, as torchvision downloads them); or generate a stand-in set (in onnxtrain's " +
        "repository: deno run -P bench/make_data.ts bench/data) and pass --data-dir bench/data",
    );
    await assertRejectsMatch(
      () => loadMnist({ root, fetch: offline, mirrors: ["https://a.test/"], progress: false }),
      Error,
      "Cannot load MNIST: cannot download train-images-idx3-ubyte.gz from any mirror: " +
        "https://a.test/train-images-idx3-ubyte.gz (fetch failed); to train without downloading, " +
        "pass --data-dir ROOT where ROOT/MNIST/raw/ holds train-images-idx3-ubyte, " +
        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (or their " +
        ".gz files, as torchvision downloads them)",
    );
    await assertRejectsMatch(
      () => loadCifar10({ root, fetch: offline, mirrors: ["https://a.test/"], progress: false }),
      Error,
      "Cannot load CIFAR-10: cannot download cifar-10-binary.tar.gz from any mirror: " +
        "https://a.test/cifar-10-binary.tar.gz (fetch failed); to train without downloading, " +
        "pass --data-dir ROOT where ROOT/cifar-10-batches-bin/ holds data_batch_1.bin, " +
        "data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin and " +
        "test_batch.bin (the binary version), or ROOT/cifar-10-binary.tar.gz is the archive itself",
    );
  });
});

Deno.test("offline: a missing net permission is reported as such, not as a mirror failure", async () => {
  const denied = (() => Promise.reject(notCapable("net", "a.test:443"))) as unknown as typeof fetch;
  await withTempDir(async (root) => {
    await assertRejectsMatch(
      () =>
        loadFashionMnist({ root, fetch: denied, mirrors: ["https://a.test/"], progress: false }),
      Deno.errors.NotCapable,
      'Requires net access to "a.test:443", run again with the --allow-net flag',
    );
  });
});

// 3. --data-dir one level too deep.

Deno.test("data folder: the dataset's own folder, or its raw folder, names the right root before any download", async () => {
  await withTempDir(async (root) => {
    await writeSyntheticFashionMnist(root, { train: 4, test: 2, seed: 1 });
    const load = (dir: string) =>
      loadFashionMnist({ root: dir, fetch: mustNotDownload, progress: false });
    await assertRejectsMatch(
      () => load(`${root}/FashionMNIST`),
      Error,
      `Cannot load FashionMNIST: the data folder ${root}/FashionMNIST looks like the ` +
        `FashionMNIST folder itself; pass --data-dir ${root} (its parent)`,
    );
    await assertRejectsMatch(
      () => load(`${root}/FashionMNIST/raw/`),
      Error,
      `Cannot load FashionMNIST: the data folder ${root}/FashionMNIST/raw/ looks like the ` +
        `FashionMNIST/raw folder itself; pass --data-dir ${root} (2 levels up)`,
    );
    // The right root loads.
    assert.equal((await load(root)).train.count, 4);
    // Another name: recognised by its files.
    await Deno.rename(`${root}/FashionMNIST`, `${root}/fmnist`);
    await assertRejectsMatch(
      () => load(`${root}/fmnist`),
      Error,
      `Cannot load FashionMNIST: the data folder ${root}/fmnist holds raw/train-images-idx3-ubyte, ` +
        "so it looks like a FashionMNIST folder under another name; rename it to FashionMNIST and " +
        "pass its parent as --data-dir (the layout is ROOT/FashionMNIST/raw/)",
    );
    await assertRejectsMatch(
      () => load(`${root}/fmnist/raw`),
      Error,
      `Cannot load FashionMNIST: the data folder ${root}/fmnist/raw holds ` +
        "train-images-idx3-ubyte itself, but the files belong in " +
        `${root}/fmnist/raw/FashionMNIST/raw/ (torchvision's layout, ROOT/FashionMNIST/raw/): ` +
        "move them there, or pass the folder above that layout as --data-dir",
    );
  });
});

Deno.test("data folder: CIFAR-10's batch folder as the root names its parent", async () => {
  await withTempDir(async (root) => {
    const dir = `${root}/cifar-10-batches-bin`;
    await Deno.mkdir(dir);
    await Deno.writeFile(`${dir}/data_batch_1.bin`, new Uint8Array(3073));
    await assertRejectsMatch(
      () => loadCifar10({ root: dir, fetch: mustNotDownload, progress: false }),
      Error,
      `Cannot load CIFAR-10: the data folder ${dir} looks like the cifar-10-batches-bin folder ` +
        `itself; pass --data-dir ${root} (its parent)`,
    );
  });
});

Deno.test("data folder: the CLI reports --data-dir ROOT/FashionMNIST in one line, exit 1", async () => {
  await withTempDir(async (root) => {
    await writeSyntheticFashionMnist(root, { train: 4, test: 2, seed: 1 });
    const r = await deno([
      "run",
      "-q",
      "--no-check",
      "-P",
      "pipelines/fmnist.ts",
      "--data-dir",
      `${root}/FashionMNIST`,
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(
      r.stderr,
      `error: Cannot load FashionMNIST: the data folder ${root}/FashionMNIST looks like the ` +
        `FashionMNIST folder itself; pass --data-dir ${root} (its parent)\n`,
    );
  });
});

// 4. Malformed layers.

const tiny = tensorDataset({
  train: { x: new Float32Array(8), y: [0, 1, 0, 1] },
  test: { x: new Float32Array(8), y: [0, 1, 0, 1] },
  sampleShape: [2],
});
const compileWith = (model: unknown) => () =>
  pipeline()
    .data(tiny, { batchSize: 2 })
    // deno-lint-ignore no-explicit-any
    .model(model as any)
    .loss(crossEntropy())
    .optimizer(sgd({ lr: 0.1 }))
    .compile();

Deno.test("layers: a malformed layer is a CompileError naming its path and what is wrong", () => {
  // deno-lint-ignore no-explicit-any
  const bad = (layer: unknown) => layer as any;
  // A callable layer no factory made (module() accepts only callables as children).
  const forged = (props: object) => {
    const layer = Object.assign(
      (x: SymbolicTensor) => tensorOf({ op: "apply", layer: bad(layer), input: x }),
      props,
    );
    return bad(layer);
  };
  const factories = "build layers with their factories, such as linear(…)";
  const cases: [unknown, string][] = [
    [
      sequential(linear(2, 2), bad({ kind: "bogus" })),
      'layer 1 has unknown kind "bogus" (known kinds: flatten, reshape, linear, relu, sigmoid, ' +
      "tanh, silu, identity, gelu, leaky-relu, elu, softmax, log-softmax, dropout, embedding, " +
      "conv1d, conv2d, max-pool-2d, avg-pool-2d, adaptive-avg-pool-2d, batch-norm-1d, " +
      `batch-norm-2d, layer-norm, onnx, sequential, module); ${factories}`,
    ],
    [
      sequential(linear(2, 2), bad({})),
      `layer 1 is not a layer: it has no kind (got an empty object); ${factories}`,
    ],
    [sequential(linear(2, 2), bad(null)), "layer 1 is not a layer (got null)"],
    [
      sequential(linear(2, 2), sequential(relu(), bad({ kind: "conv2d", inChannels: 2 }))),
      "layer 1.1 (conv2d) lacks outChannels (a number); build it with conv2d(…)",
    ],
    [
      sequential(bad({ kind: "batch-norm-1d", numFeatures: "2", eps: 1e-5, momentum: 0.1 })),
      "layer 0 (batch-norm-1d) has numFeatures of type string, not a number; build it with " +
      "batchNorm1d(…)",
    ],
    [
      module({ head: forged({ kind: "linear", inFeatures: 2, bias: true }) }, (x, m) => m.head(x)),
      "layer head (linear) lacks outFeatures (a number); build it with linear(…)",
    ],
    [
      bad({ layers: [] }),
      `the model is not a layer: it has no kind (got an object with layers); ${factories}`,
    ],
  ];
  for (const [model, why] of cases) {
    assertThrowsMatch(compileWith(model), CompileError, `Cannot compile model: ${why}`);
  }
});

// 5. Warm start: non-finite values, and a partial load of nothing.

const wsPipe = () =>
  pipeline()
    .data(tiny, { batchSize: 2 })
    .model(sequential(linear(2, 3), relu(), linear(3, 2)))
    .loss(crossEntropy())
    .optimizer(sgd({ lr: 0.1 }));

Deno.test("warm start: NaN or infinite values are refused before training, naming tensor and counts", async () => {
  await withTempDir(async (dir) => {
    const trainer = await createTrainer(wsPipe().compile(), { seed: 1, threads: 1 });
    const tensors = new Map<string, SafeTensor>();
    for (const [name, t] of trainer.params) {
      const data = new Float32Array(t.data.length).fill(0.5);
      if (name === "0.weight") data.set([NaN, NaN, Infinity]);
      if (name === "2.bias") data[1] = -Infinity;
      tensors.set(name, { dtype: "float32", shape: t.dims, data });
    }
    const file = `${dir}/diverged.safetensors`;
    await Deno.writeFile(file, encodeSafetensors(tensors));
    const before = [...trainer.params.get("0.bias")!.data];
    await assertRejectsMatch(
      () => warmStart(trainer, file, { log: () => {} }),
      WeightsFileError,
      `Cannot initialise from ${file} (safetensors): 2 tensors hold non-finite values (NaN or ` +
        "infinite): 0.weight (2 NaN, 1 infinite of 6 values), 2.bias (1 infinite of 2 values); " +
        "the run that wrote the file diverged — initialise from an earlier checkpoint of it",
    );
    // Nothing was loaded.
    assert.deepEqual([...trainer.params.get("0.bias")!.data], before);
    await trainer.release();
  });
});

Deno.test("warm start: --init-partial matching no tensor is an error listing names of both", async () => {
  await withTempDir(async (dir) => {
    const trainer = await createTrainer(wsPipe().compile(), { seed: 1, threads: 1 });
    const t = (...shape: number[]): SafeTensor => ({
      dtype: "float32",
      shape,
      data: new Float32Array(shape.reduce((a, b) => a * b, 1)),
    });
    const file = `${dir}/other.safetensors`;
    await Deno.writeFile(
      file,
      encodeSafetensors(
        new Map([
          ["fc1.weight", t(3, 2)],
          ["fc1.bias", t(3)],
          ["fc2.weight", t(2, 3)],
          ["fc2.bias", t(2)],
          ["fc3.weight", t(2, 2)],
          ["fc3.bias", t(2)],
          ["0.bias", t(4)],
        ]),
      ),
    );
    const lines: string[] = [];
    await assertRejectsMatch(
      () => warmStart(trainer, file, { partial: true, log: (l) => lines.push(l) }),
      WeightsFileError,
      `Cannot initialise from ${file} (safetensors): no tensor of the file matches the model, so ` +
        "--init-partial would load nothing; the file holds 0.bias, fc1.bias, fc1.weight, " +
        "fc2.bias, fc2.weight, … (7 in all), the model has 0.weight, 0.bias, 2.weight, 2.bias; " +
        "1 share a name with the model but not its shape (0.bias: file float32 [4], model " +
        "float32 [3])",
    );
    assert.deepEqual(lines, []);
    await trainer.release();
  });
});

// 6. A huge CSV cell is quoted in part.

Deno.test("csv: a 5 MB cell is quoted as 60 characters and its length", () => {
  const huge = "z".repeat(5_000_000);
  const error = assertThrowsMatch(
    () => parseCsv(`x,y\n1,2\n${huge},3\n`, { target: "y", targetKind: "float", name: "d.csv" }),
    Error,
    `Cannot read CSV d.csv: line 3, column "x": "${"z".repeat(60)}…" (5000000 characters) is ` +
      "not a number",
  );
  assert.ok(error.message.length < 200);
  // A huge header name, and a huge label.
  assertThrowsMatch(
    () => parseCsv(`${huge},y\n1,2\n`, { target: "t", targetKind: "float" }),
    Error,
    `Cannot read CSV: target column "t" is not in the header (columns: "${"z".repeat(60)}…" ` +
      '(5000000 characters), "y")',
  );
  assertThrowsMatch(
    () =>
      parseCsv(`x,y\n1,${huge}\n`, { target: "y", targetKind: "classes", classNames: ["a", "b"] }),
    Error,
    `Cannot read CSV: line 2, column "y": label "${"z".repeat(60)}…" (5000000 characters) is ` +
      "not one of the class names (a, b)",
  );
});

// 7. The exported batch-norm model carries no unused initializer.

Deno.test("export: every initializer of an exported batch-norm model is read by a node", async () => {
  const compiled = pipeline()
    .data(tiny, { batchSize: 2 })
    .model(sequential(linear(2, 3), batchNorm1d(3), linear(3, 2)))
    .loss(crossEntropy())
    .optimizer(sgd({ lr: 0.1 }))
    .compile();
  const trainer = await createTrainer(compiled, { seed: 1, threads: 1 });
  const model = onnxProto.onnx.ModelProto.decode(trainer.exportModel());
  await trainer.release();
  const graph = model.graph!;
  const read = new Set(graph.node!.flatMap((n) => n.input ?? []));
  const names = graph.initializer!.map((t) => t.name!);
  assert.deepEqual(names.filter((n) => !read.has(n)), []);
  assert.deepEqual(names.sort(), [
    "0.bias",
    "0.weight",
    "1.bias",
    "1.running_mean",
    "1.running_var",
    "1.weight",
    "2.bias",
    "2.weight",
  ]);
});

Deno.test("export: onnxruntime loads the exported batch-norm model without a warning", async () => {
  // The control (an unused initializer added back) shows that the warning would be seen.
  const script = (control: boolean) =>
    `import * as ort from "onnxruntime-node";
import onnxProto from "onnx-proto";
import { batchNorm1d, crossEntropy, linear, pipeline, sequential, sgd, tensorDataset } from "./mod.ts";
import { createTrainer } from "./src/train/trainer.ts";
const x = new Float32Array(8), y = [0, 1, 0, 1];
const data = tensorDataset({ train: { x, y }, test: { x, y }, sampleShape: [2] });
const compiled = pipeline().data(data, { batchSize: 2 })
  .model(sequential(linear(2, 3), batchNorm1d(3), linear(3, 2)))
  .loss(crossEntropy()).optimizer(sgd({ lr: 0.1 })).compile();
const trainer = await createTrainer(compiled, { seed: 1, threads: 1 });
let bytes = trainer.exportModel();
await trainer.release();
if (${control}) {
  const model = onnxProto.onnx.ModelProto.decode(bytes);
  model.graph.initializer.push({ name: "unused", dataType: 7, dims: [], rawData: new Uint8Array(8) });
  bytes = onnxProto.onnx.ModelProto.encode(model).finish();
}
await ort.InferenceSession.create(bytes, { logSeverityLevel: 2 });
console.log("loaded");
`;
  const exported = await deno(["run", "-q", "--no-check", "-P", "-"], script(false));
  assert.equal(exported.stdout, "loaded\n", exported.stderr);
  assert.ok(!/Removing initializer/.test(exported.stderr), exported.stderr);
  const control = await deno(["run", "-q", "--no-check", "-P", "-"], script(true));
  assert.match(control.stdout + control.stderr, /Removing initializer 'unused'/);
});

// 8. --help, and a taken port.

Deno.test("help: bench/epoch.ts, the browser server and fmnist_finetune.ts answer --help, exit 0", async () => {
  const bench = await deno(["run", "-q", "--no-check", "-P", "bench/epoch.ts", "--help"]);
  assert.equal(bench.code, 0, bench.stderr);
  assert.equal(bench.stderr, "");
  const lines = bench.stdout.split("\n");
  assert.equal(lines[0], "Usage: deno run -P bench/epoch.ts [flags]");
  const flags = lines.filter((l) => l.startsWith("  -")).map((l) => l.trim().split(/\s{2,}/)[0]);
  assert.deepEqual(flags, [
    "--model mlp|cnn|resnet",
    "--batch-size N",
    "--epochs N",
    "--backend node|web",
    "--steps-per-run K",
    "--threads N",
    "--device cpu|cuda",
    "--data-dir ROOT",
    "--peak-gemm",
    "--spin on|off",
    "-h, --help",
  ]);
  assert.ok(bench.stdout.includes("  --batch-size N          samples per batch (default 64)\n"));

  const server = await deno([
    "run",
    "-q",
    "--no-check",
    "-P=browser",
    "--unstable-bundle",
    "pipelines/browser/server.ts",
    "-h",
  ]);
  assert.equal(server.code, 0, server.stderr);
  assert.match(
    server.stdout,
    /^Usage: deno run -P=browser --unstable-bundle pipelines\/browser\/server\.ts \[flags\]\n/,
  );
  for (const flag of ["--port N", "--data-dir ROOT", "--train N", "--test N", "-h, --help"]) {
    assert.ok(server.stdout.includes(`\n  ${flag} `), flag);
  }

  const finetune = await deno([
    "run",
    "-q",
    "--no-check",
    "-P",
    "pipelines/fmnist_finetune.ts",
    "--help",
  ]);
  assert.equal(finetune.code, 0, finetune.stderr);
  assert.match(
    finetune.stdout,
    /^Usage: deno run -P pipelines\/fmnist_finetune\.ts MODEL\.onnx \[flags\]\n\nFlags:\n {2}--epochs N /,
  );
  assert.ok(finetune.stdout.includes("\n  --init PATH "));
  assert.ok(
    finetune.stdout.endsWith(
      "\nThis pipeline: FashionMNIST, Adam lr 0.0001, batch 64, 3 epochs.\n" +
        "MODEL.onnx must take [N, 1, 28, 28] images and give [N, 10] logits; its float " +
        "initializers are\ntrained, named by their ONNX names.\n",
    ),
  );
});

Deno.test("browser server: a taken port is one line naming it and --port, exit 1", async () => {
  // The port is held by another process (the tests have no net permission; deno eval has all).
  const holder = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "const l = Deno.listen({ hostname: '127.0.0.1', port: 0 }); " +
      "console.log(l.addr.port); await l.accept();",
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let first = "";
    while (!first.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the port holder exited");
      first += value;
    }
    const port = Number(first.trim());
    const r = await deno([
      "run",
      "-q",
      "--no-check",
      "-P=browser",
      "--unstable-bundle",
      "pipelines/browser/server.ts",
      "--port",
      String(port),
    ]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.equal(
      r.stderr,
      `Cannot start the browser example: port ${port} on 127.0.0.1 is already in use; pass ` +
        "--port N for another port (--port 0 picks a free one)\n",
    );
  } finally {
    try {
      holder.kill();
    } catch {
      // it had exited already
    }
    await reader.cancel();
    await holder.status;
  }
});

// 9. Errors raised before runCli (a pipeline built at the top level) and from a bare p.run().
Deno.test("a script's uncaught onnxtrain error is one line (exit 1); its own bugs keep their stack", async () => {
  const script = (body: string) =>
    `import { crossEntropy, csvDataset, linear, pipeline, sgd } from "./mod.ts";\n${body}\n`;
  const flags = ["run", "-q", "--allow-read", "--allow-ffi", "-"];
  const bad = await deno(flags, script("const model = linear(784, 0);"));
  assert.deepEqual(
    [bad.code, bad.stderr],
    [1, "error: Cannot create layer: outFeatures must be a positive integer, got 0\n"],
  );
  const run = await deno(
    flags,
    script(
      'const data = await csvDataset({ path: "no/such.csv", target: "y" });\n' +
        "await pipeline().data(data).model(linear(2, 2)).loss(crossEntropy())" +
        ".optimizer(sgd({ lr: 0.1 })).run();",
    ),
  );
  assert.equal(run.code, 1);
  assert.match(run.stderr, /^error: Cannot read no\/such\.csv: no such file or folder\n$/);
  const own = await deno(flags, script('throw new TypeError("a bug of the script");'));
  assert.equal(own.code, 1);
  assert.match(own.stderr, /Uncaught \(in promise\) TypeError: a bug of the script\n[^]*at /);
});
