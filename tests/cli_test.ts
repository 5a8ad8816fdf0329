import { crossEntropy, linear, relu, sequential, sgd, tensorDataset } from "../mod.ts";
import { fmnist } from "../pipelines/fmnist.ts";
import {
  type CliIo,
  INTERNAL_ERROR_LINE,
  isUserError,
  parseCliArgs,
  runCli,
  USAGE,
  USAGE_HINT,
} from "../src/cli/cli.ts";
import type { CompiledModel } from "../src/compile/compile.ts";
import { createPipeline } from "../src/dsl/pipeline.ts";
import { CompileError } from "../src/ir/errors.ts";
import {
  compilePipeline,
  type RunOptions,
  type RunResult,
  TrainingInterrupted,
} from "../src/train/run.ts";
import { UserRangeError, UserTypeError } from "../src/util/user_error.ts";
import { formatFixed, testLines, trainLine } from "../src/train/format.ts";
import { createGraphBuilder } from "../src/ir/builder.ts";
import { emitModel } from "../src/onnx/emit.ts";
import { createSession, DeviceError } from "../src/runtime/session.ts";
import { assert, assertRejectsMatch, assertThrowsMatch } from "./_assert.ts";

Deno.test("CLI flags parse into run options", () => {
  assert.deepEqual(
    parseCliArgs([
      "--data-dir",
      "/d",
      "--epochs",
      "3",
      "--batch-size=32",
      "--lr",
      "0.01",
      "--seed",
      "42",
      "--device",
      "cuda",
      "--threads",
      "2",
      "--export",
      "m.onnx",
      "--emit",
      "out",
    ]),
    {
      dataDir: "/d",
      epochs: 3,
      batchSize: 32,
      lr: 0.01,
      seed: 42,
      device: "cuda",
      threads: 2,
      exportPath: "m.onnx",
      emitDir: "out",
    },
  );
  assert.equal(parseCliArgs(["-h"]), "help");
  assertThrowsMatch(
    () => parseCliArgs(["--epochs", "0"]),
    RangeError,
    "Invalid --epochs: expected a positive integer, got '0'",
  );
  assertThrowsMatch(
    () => parseCliArgs(["--device", "tpu"]),
    RangeError,
    "Invalid --device: expected cpu or cuda, got 'tpu'",
  );
  assertThrowsMatch(
    () => parseCliArgs(["--lr", "fast"]),
    RangeError,
    "Invalid --lr: expected a number ≥ 0, got 'fast'",
  );
  assert.throws(
    () => parseCliArgs(["--epoch", "3"]),
    /Unknown flag --epoch \(did you mean --epochs\?\)/,
  );
});

Deno.test("log lines are formatted exactly as the tutorial's Python", () => {
  assert.equal(trainLine(2.2987298965454100, 64, 60000), "loss: 2.298730  [   64/60000]");
  assert.equal(trainLine(0.5, 57664, 60000), "loss: 0.500000  [57664/60000]");
  assert.deepEqual(testLines(0.509, 2.166725), [
    "Test Error: ",
    " Accuracy: 50.9%, Avg loss: 2.166725 ",
    "",
  ]);
  // Python rounds the exact binary value, ties to even: f"{50.25:.1f}" == "50.2", f"{0.125:.2f}" == "0.12".
  assert.equal(formatFixed(50.25, 1), "50.2");
  assert.equal(formatFixed(50.75, 1), "50.8");
  assert.equal(formatFixed(0.125, 2), "0.12");
  assert.equal(formatFixed(0.375, 2), "0.38");
  assert.equal(formatFixed(50.35, 1), "50.4"); // 50.35 is 50.350000000000001… in binary
  assert.equal(formatFixed(71.0, 1), "71.0");
});

Deno.test("--device cuda without the CUDA provider fails with one line saying how to get it", async () => {
  const b = createGraphBuilder();
  b.output("y", b.op1("Relu", [b.input("x", { dtype: "float32", shape: ["N", 2] })]));
  const model = emitModel(b.build("relu"));
  let cudaInstalled = false;
  try {
    await (await createSession(model, { device: "cuda" })).release();
    cudaInstalled = true;
  } catch (e) {
    assert.ok(e instanceof DeviceError, String(e));
  }
  if (cudaInstalled) return; // A machine with the CUDA provider: nothing to check here.
  const e = await assertRejectsMatch(
    () => createSession(model, { device: "cuda" }),
    DeviceError,
    /^Cannot use device cuda: .*ONNXRUNTIME_NODE_INSTALL=cuda12 deno install --allow-scripts=npm:onnxruntime-node/,
  );
  assert.ok(!e.message.includes("\n"), "one line");
});

// ---- The command line: one definition of the flags, their help and their errors. ----

/** A pipeline whose executor records the options it is run with (and compiles for real). */
function recorded(data = tiny()) {
  const seen: RunOptions[] = [];
  const p = createPipeline<CompiledModel, RunOptions, RunResult>({
    compile: (props) => compilePipeline(props),
    run: (_props, options = {}) => {
      seen.push(options);
      return Promise.resolve({ epochs: [], seed: 0, exportModel: () => new Uint8Array() });
    },
  })
    .data(data, { batchSize: 4 })
    .model(sequential(linear(3, 5), relu(), linear(5, 2)))
    .loss(crossEntropy())
    .optimizer(sgd({ lr: 0.05 }))
    .epochs(7)
    .seed(11);
  return { p, seen };
}

function tiny() {
  const x = Float32Array.from({ length: 12 }, (_, i) => i / 12);
  return tensorDataset({
    train: { x, y: [0, 1, 0, 1] },
    test: { x, y: [1, 0, 1, 0] },
    sampleShape: [3],
  });
}

class Exited extends Error {
  constructor(readonly status: number) {
    super(`exit ${status}`);
  }
}

/** Runs runCli in-process, collecting stdout and stderr lines and the exit status. */
async function cli(
  pipeline: Parameters<typeof runCli>[0],
  args: string[],
  io: CliIo = {},
  flags?: Record<string, string>,
) {
  const out: string[] = [], err: string[] = [];
  let status = 0;
  try {
    await runCli(pipeline, args, {
      flags,
      io: {
        out: (l) => out.push(l),
        err: (l) => err.push(l),
        exit: (s) => {
          throw new Exited(s);
        },
        progress: undefined,
        ...io,
      },
    });
  } catch (e) {
    if (!(e instanceof Exited)) throw e;
    status = e.status;
  }
  return { out, err, status };
}

Deno.test("CLI: malformed, missing and unknown flags fail with one line naming flag and value", () => {
  const cases: [string[], string][] = [
    [["--lr="], "Missing value for --lr: give it as --lr X"],
    [["--lr"], "Missing value for --lr: give it as --lr X"],
    [["--lr", "--epochs", "3"], "Missing value for --lr: give it as --lr X"],
    [["--export"], "Missing value for --export: give it as --export PATH"],
    [["--lr", "abc"], "Invalid --lr: expected a number ≥ 0, got 'abc'"],
    [["--lr", "-1"], "Invalid --lr: expected a number ≥ 0, got '-1'"],
    [["--lr", "NaN"], "Invalid --lr: expected a number ≥ 0, got 'NaN'"],
    [["--lr=Infinity"], "Invalid --lr: expected a number ≥ 0, got 'Infinity'"],
    [["--lr", "0x10"], "Invalid --lr: expected a number ≥ 0, got '0x10'"],
    [["--lr", " 1"], "Invalid --lr: expected a number ≥ 0, got ' 1'"],
    [["--epochs", "1.5"], "Invalid --epochs: expected a positive integer, got '1.5'"],
    [["--epochs", "0"], "Invalid --epochs: expected a positive integer, got '0'"],
    [["--epochs", "1e3"], "Invalid --epochs: expected a positive integer, got '1e3'"],
    [["--batch-size", "-4"], "Invalid --batch-size: expected a positive integer, got '-4'"],
    [["--threads", "0"], "Invalid --threads: expected a positive integer, got '0'"],
    [["--steps-per-run", "two"], "Invalid --steps-per-run: expected a positive integer, got 'two'"],
    [["--seed", "1.5"], "Invalid --seed: expected an integer, got '1.5'"],
    [["--device", "tpu"], "Invalid --device: expected cpu or cuda, got 'tpu'"],
    [["--backend", "wasm"], "Invalid --backend: expected node or web, got 'wasm'"],
    [
      ["--device", "cuda", "--backend", "web"],
      "Invalid --device cuda with --backend web: the web backend runs on the CPU only " +
      "(use --backend node for CUDA)",
    ],
    [["--plot", "loss.png"], "Invalid --plot: expected a path ending in .svg, got 'loss.png'"],
    [["--epoch", "3"], "Unknown flag --epoch (did you mean --epochs?)"],
    [["--sumary"], "Unknown flag --sumary (did you mean --summary?)"],
    [["--frobnicate"], "Unknown flag --frobnicate"],
    [["--quiet=yes"], "Invalid --quiet=yes: --quiet takes no value"],
    [["--epochs", "2", "--epochs", "3"], "Invalid --epochs: given twice"],
    [["model.onnx"], "Unexpected argument 'model.onnx': flags start with -- (e.g. --epochs 3)"],
    [["-e", "3"], "Unexpected argument '-e': flags start with -- (e.g. --epochs 3)"],
  ];
  for (const [args, message] of cases) {
    const e = assertThrowsMatch(() => parseCliArgs(args), RangeError, message);
    assert.equal(e.message, message, args.join(" "));
    assert.ok(isUserError(e), "a user error");
  }
});

Deno.test("CLI: new flags parse into run options; values may start with a dash", () => {
  assert.deepEqual(
    parseCliArgs(["--metrics", "out/m.jsonl", "--plot=out/loss.svg", "--quiet", "--lr", "0"]),
    {
      dataDir: undefined,
      epochs: undefined,
      batchSize: undefined,
      lr: 0,
      seed: undefined,
      device: undefined,
      threads: undefined,
      exportPath: undefined,
      emitDir: undefined,
      metricsPath: "out/m.jsonl",
      plotPath: "out/loss.svg",
      quiet: true,
    },
  );
  const o = parseCliArgs(["--seed", "-3", "--lr=1e-3", "--steps-per-run", "4", "--summary"]);
  assert.ok(o !== "help");
  assert.deepEqual([o.seed, o.lr, o.stepsPerRun, "summary" in o], [-3, 0.001, 4, false]);
  assert.equal(parseCliArgs(["--epochs", "0", "--help"]), "help");
});

Deno.test("CLI: --help lists every flag with the pipeline's defaults", async () => {
  const { out, err, status } = await cli(fmnist, ["--help"]);
  assert.deepEqual([err, status], [[], 0]);
  const help = out.join("\n");
  const row = (flag: string, text: string) =>
    assert.match(help, new RegExp(`\\n  ${flag} +${text}\\n`), flag);
  row("--epochs N", "number of epochs \\(default 10\\)");
  row("--batch-size N", "samples per batch \\(default 64\\)");
  row("--lr X", "learning rate, a number ≥ 0 \\(default 0\\.001\\)");
  row("--seed N", "seed of initialisation and shuffling \\(default random\\)");
  row(
    "--data-dir ROOT",
    "dataset root in torchvision's layout \\(ROOT/FashionMNIST/raw/, …\\) \\(default data\\)",
  );
  row("--device cpu\\|cuda", "execution device \\(default cpu\\)");
  row("--backend node\\|web", "[^\\n]* \\(default node\\)");
  row(
    "--threads N",
    "onnxruntime threads, at most the core count \\(default one per core; web: 1\\)",
  );
  row("--steps-per-run K", "[^\\n]* \\(default 16 on CPU, 64 on CUDA\\)");
  row("--keep N", "with --checkpoint: keep the last N checkpoints \\(default 2\\)");
  for (
    const flag of [
      "--spin",
      "--worker-loader",
      "--distributed",
      "--local-sgd H",
      "--export PATH",
      "--export-raw",
      "--emit DIR",
      "--metrics PATH",
      "--plot PATH.svg",
      "--summary",
      "--quiet",
      "--init PATH",
      "--init-partial",
      "--checkpoint DIR",
      "--checkpoint-every N",
      "--resume",
      "--overwrite",
      "-h, --help",
    ]
  ) row(flag, "[^\\n]+");
  const rows = help.split("\n").filter((l) => /^ {2}-/.test(l));
  assert.equal(rows.length, 28, "every flag, one line each");
  // It names the script and what the pipeline trains.
  assert.match(
    help,
    /^Usage: deno run -P \S+\.ts \[flags\]\n\nTrains: FashionMNIST · sequential of \d+ layers · cross-entropy · SGD lr 0\.001 · batch 64 · 10 epochs\n/,
  );
  assert.ok(rows.every((l) => l.length <= 110), "lines fit a terminal");
  // The pipeline's own values; in-memory data leaves out the flags that do not apply to it.
  const own = (await cli(recorded().p, ["-h"])).out.join("\n");
  assert.match(own, /--epochs N +number of epochs \(default 7\)/);
  assert.match(own, /--batch-size N +samples per batch \(default 4\)/);
  assert.match(own, /--lr X +learning rate, a number ≥ 0 \(default 0\.05\)/);
  assert.match(own, /--seed N +seed of initialisation and shuffling \(default 11\)/);
  assert.ok(!own.includes("--data-dir") && !own.includes("--export-raw"), own);
  // Without a pipeline (a script that builds it from its own flags): the pipeline's values.
  assert.match(USAGE, /--epochs N +number of epochs \(default the pipeline's\)/);
  assert.match(USAGE, /Exit status: 0 done, 1 error, 2 bad flags, 70 internal error/);
  assert.match(USAGE, /^Usage: deno run -P PIPELINE\.ts \[flags\]\n\nFlags:/);
});

Deno.test("CLI: a bad flag prints one line and the hint, status 2; nothing runs", async () => {
  const { p, seen } = recorded();
  for (
    const [args, line] of [
      [["--epochs", "0"], "error: Invalid --epochs: expected a positive integer, got '0'"],
      [["--lr="], "error: Missing value for --lr: give it as --lr X"],
      [
        ["--data-dir", "/d"],
        "error: Invalid --data-dir: this pipeline's data is an in-memory tensorDataset, which has " +
        "no dataset root",
      ],
      [
        ["--export", "m.onnx", "--export-raw"],
        "error: Invalid --export-raw: this pipeline's data is an in-memory tensorDataset; a raw " +
        "model needs image data",
      ],
    ] as const
  ) {
    const r = await cli(p, [...args]);
    assert.deepEqual(r, { out: [], err: [line, USAGE_HINT], status: 2 }, args.join(" "));
  }
  assert.equal(seen.length, 0);
  // A script's own flags stay as they are; they must not clash with the CLI's.
  const own = await cli(
    (flags) => {
      assert.deepEqual(flags, { csv: "a.csv", target: undefined });
      return p;
    },
    ["--csv", "a.csv", "--epochs", "2"],
    {},
    { csv: "PATH  the file", target: "COLUMN  y" },
  );
  assert.deepEqual([own.err, own.status, seen.at(-1)?.epochs], [[], 0, 2]);
  const missing = await cli(() => p, ["--csv"], {}, { csv: "PATH  the file" });
  assert.deepEqual(missing.err, [
    "error: Missing value for --csv: give it as --csv PATH",
    USAGE_HINT,
  ]);
  const clash = await cli(p, [], {}, { epochs: "N  mine" });
  assert.deepEqual(clash.err, ["error: Cannot declare the flag --epochs: the CLI already has it"]);
  assert.equal(clash.status, 1);
});

Deno.test("CLI: --threads above the cores is capped with a warning; progress, quiet, summary", async () => {
  const { p, seen } = recorded();
  const capped = await cli(p, ["--threads", "64"], { cores: 2 });
  assert.deepEqual(capped.err, [
    "warning: --threads 64 exceeds the 2 cores; using 2 (oversubscribed onnxruntime threads " +
    "slow training by orders of magnitude)",
  ]);
  assert.deepEqual([capped.status, seen.at(-1)?.threads], [0, 2]);
  const fits = await cli(p, ["--threads", "2"], { cores: 2 });
  assert.deepEqual([fits.err, seen.at(-1)?.threads], [[], 2]);
  // A terminal gets the live progress line, unless --quiet.
  const terminal = { writeSync: (b: Uint8Array) => b.length };
  await cli(p, [], { progress: terminal });
  assert.equal(seen.at(-1)?.progress, terminal);
  await cli(p, ["--quiet"], { progress: terminal });
  assert.deepEqual([seen.at(-1)?.progress, seen.at(-1)?.quiet], [undefined, true]);
  await cli(p, []);
  assert.equal(seen.at(-1)?.progress, undefined);
  // --summary prints the compiled model's summary, then trains.
  const runs = seen.length;
  const summary = await cli(p, ["--summary", "--epochs", "1"]);
  assert.deepEqual(summary.out, [p.compile().summary()]);
  assert.match(summary.out[0], /Total params: 32\b/);
  assert.deepEqual([seen.length, seen.at(-1)?.epochs], [runs + 1, 1]);
});

Deno.test("CLI: user errors are one line (status 1); engine errors are internal (status 70)", async () => {
  const { p } = recorded();
  const failing = (error: () => unknown) =>
    cli(() => {
      throw error();
    }, []);
  // A deliberate user error, one of onnxtrain's error classes, and a file that is not there.
  const user = await failing(() => new UserRangeError("Missing --csv: give the CSV file"));
  assert.deepEqual(user, { out: [], err: ["error: Missing --csv: give the CSV file"], status: 1 });
  const dir = await Deno.makeTempDir();
  try {
    const missing = `${dir}/nope.csv`;
    const notFound = await cli(async () => {
      await Deno.readFile(missing);
      return p;
    }, []);
    assert.deepEqual(notFound.err, [
      `error: No such file or directory (os error 2): readfile '${missing}'`,
    ]);
    assert.equal(notFound.status, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const bad = recorded().p.model(sequential(linear(4, 5), relu(), linear(5, 2)));
  const compile = await cli(bad, ["--summary"]);
  assert.equal(compile.status, 1);
  assert.equal(compile.err.length, 1);
  assert.match(compile.err[0], /^error: [^\n]*linear/);
  // A bug: the engine's TypeError, a RangeError not marked as the user's, a thrown string.
  const engine = await cli(() => {
    const layers: { name: string }[] | undefined = undefined;
    return layers![0].name as unknown as typeof p;
  }, []);
  assert.equal(engine.status, 70);
  assert.equal(engine.err[0], INTERNAL_ERROR_LINE);
  assert.match(
    engine.err[1],
    /^TypeError: Cannot read properties of undefined \(reading '0'\)\n {4}at /,
  );
  const invariant = await failing(() => new RangeError("Cannot build the K-step graph: no input"));
  assert.deepEqual([invariant.status, invariant.err[0]], [70, INTERNAL_ERROR_LINE]);
  assert.match(invariant.err[1], /^RangeError: Cannot build the K-step graph: no input\n {4}at /);
  const text = await failing(() => "oops");
  assert.deepEqual(text, { out: [], err: [INTERNAL_ERROR_LINE, "oops"], status: 70 });
  // Ctrl-C's interruption keeps its status.
  const stop = await failing(() => new TrainingInterrupted("Training interrupted after epoch 1"));
  assert.deepEqual(stop, { out: [], err: ["Training interrupted after epoch 1"], status: 130 });
});

Deno.test("isUserError tells deliberate errors from bugs", () => {
  let engine: unknown;
  try {
    (null as unknown as { x: () => void }).x();
  } catch (e) {
    engine = e;
  }
  let typedArray: unknown;
  try {
    new Float32Array(-1);
  } catch (e) {
    typedArray = e;
  }
  const cases: [unknown, boolean][] = [
    [new UserRangeError("Invalid --lr: expected a number ≥ 0, got 'x'"), true],
    [new UserTypeError("Cannot create module: child 'a' is not a layer"), true],
    [new CompileError("Cannot lower linear: expected 3 features"), true],
    [new DeviceError("Cannot use device cuda: no provider"), true],
    [new Deno.errors.NotFound("No such file or directory (os error 2): open 'x'"), true],
    [new Deno.errors.NotCapable('Requires read access to "x"'), true],
    [engine, false],
    [typedArray, false],
    [new RangeError("Cannot build the K-step graph: no input"), false],
    [new TypeError("Cannot read properties of undefined (reading 'x')"), false],
    [new Error("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION"), false],
    [new DOMException("could not be cloned", "DataCloneError"), false],
    [new Deno.errors.BadResource("Bad resource ID"), false],
    ["a string", false],
  ];
  for (const [error, expected] of cases) assert.equal(isUserError(error), expected, String(error));
  // Marked errors are ordinary RangeErrors and TypeErrors otherwise.
  const e = new UserRangeError("Invalid --keep: it needs --checkpoint DIR");
  assert.deepEqual([e instanceof RangeError, e.name, String(e)], [
    true,
    "RangeError",
    "RangeError: Invalid --keep: it needs --checkpoint DIR",
  ]);
  assert.equal(new UserTypeError("x").name, "TypeError");
});

// A real process: Deno.exit's statuses and the exact stderr.
const canRunDeno =
  Deno.permissions.querySync({ name: "run", command: Deno.execPath() }).state === "granted";

Deno.test({
  name: "CLI process: a bad flag exits 2 with two lines; a bug exits 70 with its stack",
  ignore: !canRunDeno,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const script = `${dir}/train.ts`;
      await Deno.writeTextFile(
        script,
        `import { runCli, tensorDataset, pipeline, linear, mse, sgd } from ${
          JSON.stringify(import.meta.resolve("../mod.ts"))
        };
const x = Float32Array.of(1, 2);
const data = tensorDataset({ train: { x, y: x }, test: { x, y: x }, sampleShape: [1], targetShape: [1] });
await runCli((flags) => {
  if (flags.crash) (undefined as unknown as { f(): void }).f();
  return pipeline().data(data).model(linear(1, 1)).loss(mse()).optimizer(sgd({ lr: 0.1 }));
}, Deno.args, { flags: { crash: "YES  fail with a bug" } });
`,
      );
      const run = async (...args: string[]) => {
        const r = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--no-check",
            `--config=${new URL("../deno.json", import.meta.url).pathname}`,
            "--allow-read",
            "--allow-env",
            "--allow-sys",
            "--allow-ffi",
            script,
            ...args,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        return { code: r.code, stderr: new TextDecoder().decode(r.stderr) };
      };
      assert.deepEqual(await run("--epochs", "0"), {
        code: 2,
        stderr: "error: Invalid --epochs: expected a positive integer, got '0'\n" +
          "Run with --help to see the flags.\n",
      });
      assert.deepEqual(await run("--data-dir", "data"), {
        code: 2,
        stderr: "error: Invalid --data-dir: this pipeline's data is an in-memory tensorDataset, " +
          "which has no dataset root\nRun with --help to see the flags.\n",
      });
      const bug = await run("--crash", "yes");
      assert.equal(bug.code, 70, bug.stderr);
      assert.match(
        bug.stderr,
        /^Internal error \(a bug in onnxtrain — please report it\):\nTypeError: Cannot read properties of undefined \(reading 'f'\)\n {4}at .*train\.ts:\d+:\d+/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
