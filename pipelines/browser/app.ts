/// <reference lib="dom" />
/**
 * The page's script (bundled for the browser by server.ts): builds and compiles the seed MLP
 * pipeline in the page, trains it on onnxruntime-web (WebAssembly) on the images the server
 * serves, plots the loss, evaluates, and offers the trained inference model as a download.
 *
 * Query parameters: `steps`, `lr`, `batch`, `seed`, `threads` override the settings; `autostart=1` trains on
 * load; `report=1` posts the result to the server (which prints it), for tests/browser_test.ts.
 * @module
 */
import { FASHION_MNIST_CLASSES } from "../../src/dsl/datasets.ts";
import { idxToImageSet, parseIdx } from "../../src/data/idx.ts";
import type { ImageSet } from "../../src/data/idx.ts";
import { createSession } from "../../src/runtime/session.ts";
import { createTrainer } from "../../src/train/trainer.ts";
import {
  browserPipeline,
  DEFAULT_SETTINGS,
  IDX_FILES,
  type RunReport,
  type Settings,
  testBatches,
  toTensor,
  trainBatches,
} from "./experiment.ts";
import { UserRangeError } from "../../src/util/user_error.ts";

declare global {
  /** The finished run's report, or `{ error }` when it failed (`window.onnxtrainResult`). */
  var onnxtrainResult: RunReport | { readonly error: string } | undefined;
}

/** Test images whose logits the page reads back from the downloaded model. */
const LOGITS_SAMPLES = 8;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function readSettings(query: URLSearchParams): Settings {
  const num = (key: string, fallback: number) => {
    const v = query.get(key);
    if (v === null) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) {
      throw new UserRangeError(`Invalid ${key}=${v}: expected > 0`);
    }
    return n;
  };
  return Object.freeze({
    steps: Math.floor(num("steps", DEFAULT_SETTINGS.steps)),
    batchSize: Math.floor(num("batch", DEFAULT_SETTINGS.batchSize)),
    lr: num("lr", DEFAULT_SETTINGS.lr),
    seed: Math.floor(Number(query.get("seed") ?? DEFAULT_SETTINGS.seed)),
    threads: Math.floor(num("threads", DEFAULT_SETTINGS.threads)),
  });
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`Cannot fetch ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** Fetches one split's IDX files from the server. */
async function fetchSet(images: string, labels: string): Promise<ImageSet> {
  const [x, y] = await Promise.all([fetchBytes(`data/${images}`), fetchBytes(`data/${labels}`)]);
  return idxToImageSet(parseIdx(x, images), parseIdx(y, labels), { images, labels }, [28, 28], 10);
}

/** Draws the losses as an SVG polyline, 0 at the bottom. */
function plot(losses: readonly number[], steps: number): void {
  const svg = $("plot"), line = svg.querySelector("polyline")!;
  const width = 600, height = 240, top = Math.max(2.5, ...losses);
  const points = losses.map((l, i) =>
    `${(i / Math.max(1, steps - 1) * width).toFixed(1)},${(height - l / top * height).toFixed(1)}`
  );
  line.setAttribute("points", points.join(" "));
  $("ymax").textContent = top.toFixed(1);
  $("xmax").textContent = `step ${steps}`;
}

const nextFrame = () => new Promise((resolve) => setTimeout(resolve, 0));

async function train(settings: Settings, report: boolean): Promise<void> {
  const status = $("status"), log = (s: string) => (status.textContent = s);
  $("train").setAttribute("disabled", "");
  log("Fetching the images…");
  const source = await (await fetch("data/source")).text();
  const [trainSet, testSet] = await Promise.all([
    fetchSet(IDX_FILES.trainImages, IDX_FILES.trainLabels),
    fetchSet(IDX_FILES.testImages, IDX_FILES.testLabels),
  ]);
  $("data").textContent = `${trainSet.count} training and ${testSet.count} test images (${source})`;

  log("Compiling the pipeline…");
  const t0 = performance.now();
  const compiled = browserPipeline(settings).compile();
  const compileMs = performance.now() - t0;
  log("Loading the graphs into onnxruntime-web…");
  const trainer = await createTrainer(compiled, {
    seed: settings.seed,
    backend: "web",
    threads: settings.threads,
    metadata: { class_names: JSON.stringify(FASHION_MNIST_CLASSES) },
  });

  const losses: number[] = [];
  let stepMs = 0;
  for (const batch of trainBatches(trainSet, settings)) {
    const t = performance.now();
    losses.push(await trainer.step(batch));
    stepMs += performance.now() - t;
    if (losses.length % 5 === 0 || losses.length === settings.steps) {
      log(`step ${losses.length}/${settings.steps}  loss ${losses.at(-1)!.toFixed(6)}`);
      plot(losses, settings.steps);
      await nextFrame(); // let the page paint
    }
  }
  const msPerStep = stepMs / losses.length;

  log("Evaluating on the test images…");
  const ev = await trainer.evaluate(testBatches(testSet, settings.batchSize));
  const test = { avgLoss: ev.lossSum / ev.samples, accuracy: ev.correct / ev.samples };

  const link = $<HTMLAnchorElement>("download");
  link.href = URL.createObjectURL(
    new Blob([trainer.exportModel() as Uint8Array<ArrayBuffer>], { type: "application/onnx" }),
  );
  link.download = "model.onnx";
  link.hidden = false;
  await trainer.release();

  // Read the download back from its Blob URL and run it, as a user's onnxruntime would.
  const model = await fetchBytes(link.href);
  const session = await createSession(model, { backend: "web" });
  const n = Math.min(LOGITS_SAMPLES, testSet.count), pixels = 28 * 28;
  const out = await session.run({
    input: {
      dtype: "float32",
      dims: [n, 1, 28, 28],
      data: toTensor(testSet.images.subarray(0, n * pixels)),
    },
  });
  await session.release();

  const result: RunReport = {
    settings,
    data: source,
    losses,
    msPerStep,
    compileMs,
    test,
    modelBytes: model.length,
    logits: Array.from(out.logits.data as Float32Array),
    logitsSamples: n,
    userAgent: navigator.userAgent,
  };
  $("summary").textContent = `loss ${losses[0].toFixed(4)} → ${losses.at(-1)!.toFixed(4)} in ` +
    `${losses.length} steps, ${msPerStep.toFixed(1)} ms/step; test accuracy ` +
    `${(100 * test.accuracy).toFixed(1)}%, avg loss ${test.avgLoss.toFixed(4)}; ` +
    `model.onnx ${(model.length / 1e6).toFixed(2)} MB (compiled in ${compileMs.toFixed(0)} ms)`;
  log("Done.");
  finish(result, report);
}

function finish(result: RunReport | { readonly error: string }, report: boolean): void {
  globalThis.onnxtrainResult = result;
  if (report) {
    fetch("result", { method: "POST", body: JSON.stringify(result) }).catch(() => {});
  }
}

function main(): void {
  const query = new URLSearchParams(location.search);
  const report = query.get("report") === "1";
  let settings: Settings;
  try {
    settings = readSettings(query);
  } catch (e) {
    $("status").textContent = String(e);
    finish({ error: String(e) }, report);
    return;
  }
  $("settings").textContent = `SGD lr ${settings.lr}, batch ${settings.batchSize}, ` +
    `${settings.steps} steps, seed ${settings.seed}, ${settings.threads} thread(s)` +
    (settings.threads > 1 && !crossOriginIsolated ? " (not cross-origin isolated: 1 thread)" : "");
  const start = () =>
    train(settings, report).catch((e: unknown) => {
      const error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      $("status").textContent = `Failed: ${error}`;
      finish({ error }, report);
    });
  $("train").addEventListener("click", start);
  if (query.get("autostart") === "1") start();
}

main();
