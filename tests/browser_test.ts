/**
 * The browser example (pipelines/browser/): its server bundles the page's script, headless
 * Chromium opens the page, which compiles the seed MLP pipeline, trains it 300 steps on
 * onnxruntime-web and posts its losses, test totals and the downloaded model's logits back; the
 * test runs the same steps in Deno on the web backend (the same WebAssembly build: equal losses
 * within 1e-5 relative, every step) and on the node backend (native kernels: within 1e-5 for the
 * first 150 steps, after which ReLU sign flips let float rounding differences grow to about 1e-3),
 * and checks that the loss falls and that the download is the trained model. The page's pipeline
 * also compiles to the same train graph as pipelines/fmnist.ts's.
 *
 * Needs Debian's chromium at /usr/bin/chromium (`.ci/run` installs it); without it the Chromium
 * test is ignored.
 */
import { fileURLToPath } from "node:url";
import { FASHION_MNIST_CLASSES, sgd } from "../mod.ts";
import { fmnist } from "../pipelines/fmnist.ts";
import {
  browserPipeline,
  DATA,
  DEFAULT_SETTINGS,
  type RunReport,
  testBatches,
  toTensor,
  trainBatches,
} from "../pipelines/browser/experiment.ts";
import { RESULT_PREFIX } from "../pipelines/browser/server.ts";
import { syntheticFashionMnist } from "../src/data/synthetic.ts";
import { emitModel } from "../src/onnx/emit.ts";
import { type Backend, createSession } from "../src/runtime/session.ts";
import { createTrainer } from "../src/train/trainer.ts";
import { assert, assertClose } from "./_assert.ts";

const CHROMIUM = "/usr/bin/chromium";
const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** The longest the browser run may take, page load to posted result. */
const TIMEOUT_MS = 60_000;
/** Steps over which the node backend's losses stay within 1e-5 of WebAssembly's. */
const EXACT_NODE_STEPS = 150;

const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
if (!hasChromium) {
  console.log(
    `browser_test: ${CHROMIUM} not found, so the Chromium test is ignored ` +
      "(install it with: apt-get install chromium)",
  );
}

/** Yields a process's output lines as they arrive. */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  const decoder = new TextDecoderStream() as TransformStream<Uint8Array, string>;
  for await (const chunk of stream.pipeThrough(decoder)) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    yield* parts;
  }
  if (rest) yield rest;
}

/** Rejects after `ms` with `what`; `clear` stops the timer. */
function deadline(ms: number, what: string): { promise: Promise<never>; clear: () => void } {
  let id: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<never>((_, reject) => {
    id = setTimeout(() => reject(new Error(`Timed out after ${ms} ms ${what}`)), ms);
  });
  return { promise, clear: () => clearTimeout(id) };
}

/** Starts the server on a free port, opens the page in headless Chromium, returns its report. */
async function runInChromium(): Promise<RunReport> {
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-P=browser",
      "--unstable-bundle",
      "pipelines/browser/server.ts",
      "--port",
      "0",
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(server.stderr).text();
  const profile = await Deno.makeTempDir({ prefix: "onnxtrain_chromium_" });
  let browser: Deno.ChildProcess | undefined;
  const out = lines(server.stdout);
  const timer = deadline(TIMEOUT_MS, "waiting for the browser run");
  try {
    // Reads with next(), not for-await, whose early exit would close the shared generator.
    const read = async (prefix: string): Promise<string> => {
      for (let r = await out.next(); !r.done; r = await out.next()) {
        if (r.value.startsWith(prefix)) return r.value.slice(prefix.length);
      }
      throw new Error(`The server exited before printing "${prefix}…": ${await stderr}`);
    };
    const url = await Promise.race([read("onnxtrain browser example: "), timer.promise]);
    browser = new Deno.Command(CHROMIUM, {
      args: [
        "--headless=new",
        "--no-sandbox", // needed as root (CI containers); the page is our own
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        `--user-data-dir=${profile}`,
        `${url}?autostart=1&report=1`,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const report = JSON.parse(await Promise.race([read(RESULT_PREFIX), timer.promise]));
    if ("error" in report) throw new Error(`The page failed: ${report.error}`);
    return report;
  } finally {
    timer.clear();
    for (const child of [browser, server]) {
      if (!child) continue;
      try {
        child.kill("SIGTERM");
      } catch { /* already exited */ }
      await child.status;
    }
    await out.return(undefined);
    await stderr.catch(() => "");
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

/** The page's run replayed in Deno: losses, test totals, export size and logits. */
async function runInDeno(backend: Backend) {
  const settings = DEFAULT_SETTINGS, data = syntheticFashionMnist(DATA);
  const trainer = await createTrainer(browserPipeline(settings).compile(), {
    seed: settings.seed,
    backend,
    threads: 1,
    metadata: { class_names: JSON.stringify(FASHION_MNIST_CLASSES) },
  });
  const losses: number[] = [];
  const t0 = performance.now();
  for (const batch of trainBatches(data.train, settings)) losses.push(await trainer.step(batch));
  const msPerStep = (performance.now() - t0) / losses.length;
  const ev = await trainer.evaluate(testBatches(data.test, settings.batchSize));
  const model = trainer.exportModel();
  await trainer.release();
  const n = 8, session = await createSession(model, { backend });
  const out = await session.run({
    input: {
      dtype: "float32",
      dims: [n, 1, 28, 28],
      data: toTensor(data.test.images.subarray(0, n * 784)),
    },
  });
  await session.release();
  return {
    losses,
    msPerStep,
    test: { avgLoss: ev.lossSum / ev.samples, accuracy: ev.correct / ev.samples },
    modelBytes: model.length,
    logits: Array.from(out.logits.data as Float32Array),
  };
}

function assertRelative(
  actual: readonly number[],
  expected: readonly number[],
  tol: number,
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  actual.forEach((a, i) => {
    const e = expected[i], d = Math.abs(a - e) / Math.abs(e);
    assert.ok(d <= tol, `${what}[${i}]: ${a} vs ${e} (relative difference ${d} > ${tol})`);
  });
}

Deno.test("the page's pipeline compiles to pipelines/fmnist.ts's graphs", () => {
  const { lr, batchSize } = DEFAULT_SETTINGS;
  const ours = browserPipeline({ lr, batchSize }).compile();
  const seed = fmnist.optimizer(sgd({ lr })).compile();
  for (const graph of ["train", "eval"] as const) {
    assert.deepEqual(emitModel(ours[graph]), emitModel(seed[graph]), `${graph} graph`);
  }
  assert.deepEqual(ours.params.map((p) => p.name), seed.params.map((p) => p.name));
});

Deno.test({
  name: "headless Chromium trains the seed MLP on onnxruntime-web as Deno does",
  ignore: !hasChromium,
  async fn() {
    // One after another, so that the printed timings do not share the CPU.
    const node = await runInDeno("node"), web = await runInDeno("web");
    const browser = await runInChromium();
    const steps = DEFAULT_SETTINGS.steps;
    assert.equal(browser.losses.length, steps);
    assert.match(browser.userAgent, /Chrom/);

    // Same WebAssembly kernels: the same run, step for step.
    assertRelative(browser.losses, web.losses, 1e-5, "browser vs Deno web loss");
    assertRelative([browser.test.avgLoss], [web.test.avgLoss], 1e-5, "test avg loss (web)");
    assert.equal(browser.test.accuracy, web.test.accuracy);
    assertClose(browser.logits, web.logits, 1e-4, "downloaded model's logits vs Deno web");

    // Native kernels round differently; equal within 1e-5 until ReLU flips amplify it.
    assertRelative(
      browser.losses.slice(0, EXACT_NODE_STEPS),
      node.losses.slice(0, EXACT_NODE_STEPS),
      1e-5,
      "browser vs node loss",
    );
    assertRelative(browser.losses, node.losses, 5e-3, "browser vs node loss (all steps)");
    assert.ok(Math.abs(browser.test.accuracy - node.test.accuracy) <= 0.01);
    assertClose(browser.logits, node.logits, 0.05, "downloaded model's logits vs node");

    // The loss falls: from ln 10 at the start to well below it.
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    assertClose([browser.losses[0]], [Math.log(10)], 0.05, "first loss");
    assert.ok(mean(browser.losses.slice(-20)) < 1.2, `last losses ${browser.losses.slice(-20)}`);
    assert.ok(browser.test.accuracy > 0.5, `test accuracy ${browser.test.accuracy}`);

    // The download is the trained inference model: same size as Deno's export.
    assert.equal(browser.modelBytes, node.modelBytes);
    assert.equal(browser.logits.length, 8 * 10);

    const identical = browser.losses.filter((l, i) => l === web.losses[i]).length;
    console.log(
      `browser ${browser.msPerStep.toFixed(1)} ms/step (${browser.userAgent.match(/Chrom\S+/)}), ` +
        `Deno web ${web.msPerStep.toFixed(1)}, Deno node ${node.msPerStep.toFixed(1)} ` +
        `(1 thread each); loss ${browser.losses[0].toFixed(4)} → ` +
        `${browser.losses.at(-1)!.toFixed(4)}, test accuracy ${browser.test.accuracy}; ` +
        `compiled in the page in ${browser.compileMs.toFixed(0)} ms; ${identical}/${steps} ` +
        "losses bit-identical to Deno web's",
    );
  },
});
