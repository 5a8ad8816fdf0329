/**
 * Serves the browser example on 127.0.0.1: the page, its script (app.ts with the DSL, compiler,
 * ONNX emitter and trainer, bundled for the browser at start with `Deno.bundle`), onnxruntime-web's
 * WebAssembly build from node_modules, and FashionMNIST-shaped IDX files: generated synthetic
 * images by default, or the first images of a real copy with `--data-dir`.
 *
 *     deno run -P=browser --unstable-bundle pipelines/browser/server.ts [--port 8000]
 *       [--data-dir ROOT] [--train 2000] [--test 500]
 *
 * A page opened with `?report=1` posts its result to `/result`; the server prints it as one line,
 * `onnxtrain-browser-result {json}`, after a one-line summary.
 * @module
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { gunzipSync } from "fflate";
import { encodeIdx, type ImageSet, parseIdx } from "../../src/data/idx.ts";
import { syntheticFashionMnist } from "../../src/data/synthetic.ts";
import { DATA, IDX_FILES, type RunReport } from "./experiment.ts";
import { describePermissionError } from "../../src/util/permission_error.ts";
import { UserRangeError } from "../../src/util/user_error.ts";

/** The prefix of the line the server prints for each posted result. */
export const RESULT_PREFIX = "onnxtrain-browser-result ";

/** The files of onnxruntime-web's `dist` folder that the page loads (the WebAssembly build). */
const ORT_FILES = ["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"];

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  wasm: "application/wasm",
  txt: "text/plain; charset=utf-8",
};

/** The subset of the unstable `Deno.bundle` API used here. */
type BundleFn = (options: {
  entrypoints: string[];
  outputDir: string;
  platform: "browser";
  format: "esm";
  codeSplitting: boolean;
  external: string[];
  write: boolean;
}) => Promise<{
  success: boolean;
  errors: { text: string }[];
  outputFiles?: { path: string; contents: Uint8Array }[];
}>;

/**
 * Bundles app.ts for the browser, in memory. The trainer's runtime imports its backend modules
 * on first use; code splitting keeps each in its own chunk, so the page never loads the node
 * backend's chunk (which imports onnxruntime-node and `node:*` builtins, left external). The web
 * chunk imports `onnxruntime-web`, which the page's import map points at the files served
 * under `/ort/`.
 *
 * @returns The bundle's files by name.
 */
async function bundleApp(): Promise<Map<string, Uint8Array>> {
  const bundle = (Deno as unknown as { bundle?: BundleFn }).bundle;
  if (typeof bundle !== "function") {
    throw new Error(
      "Cannot bundle the page's script: Deno.bundle is not available; run the server with " +
        "--unstable-bundle (deno run -P=browser --unstable-bundle pipelines/browser/server.ts)",
    );
  }
  const here = fileURLToPath(new URL(".", import.meta.url));
  const result = await bundle({
    entrypoints: [fileURLToPath(new URL("./app.ts", import.meta.url))],
    outputDir: `${here}bundle`,
    platform: "browser",
    format: "esm",
    codeSplitting: true,
    external: ["onnxruntime-node", "onnxruntime-web"],
    write: false,
  });
  if (!result.success || !result.outputFiles) {
    throw new Error(
      `Cannot bundle the page's script: ${result.errors.map((e) => e.text).join("; ")}`,
    );
  }
  return new Map(result.outputFiles.map((f) => [f.path.split(/[\\/]/).at(-1)!, f.contents]));
}

/** Reads an IDX file from a torchvision raw folder, extracted or as `.gz`. */
async function readIdxFile(dir: string, name: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(`${dir}/${name}`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  try {
    return gunzipSync(await Deno.readFile(`${dir}/${name}.gz`));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`Cannot serve FashionMNIST: neither ${dir}/${name} nor ${name}.gz exists`);
    }
    throw e;
  }
}

/** The first `count` images and labels of a split, as IDX files. */
function idxPair(set: ImageSet, count: number): [Uint8Array, Uint8Array] {
  const n = Math.min(count, set.count), pixels = set.height * set.width;
  return [
    encodeIdx([n, set.height, set.width], set.images.subarray(0, n * pixels)),
    encodeIdx([n], set.labels.subarray(0, n)),
  ];
}

/** Slices an IDX file pair read from disk to its first `count` samples. */
function slicePair(images: Uint8Array, labels: Uint8Array, names: string[], count: number) {
  const x = parseIdx(images, names[0]), y = parseIdx(labels, names[1]);
  const [total, height, width] = x.dims;
  return idxPair(
    {
      images: x.data,
      labels: y.data,
      count: Math.min(total, y.dims[0]),
      height,
      width,
      classes: 10,
    },
    count,
  );
}

/**
 * The IDX files served under `/data/`, and a line naming their source.
 *
 * @param dataDir A dataset root holding `FashionMNIST/raw/`, or undefined for synthetic images.
 * @param train Training images to serve.
 * @param test Test images to serve.
 * @returns The files by name and the source line.
 */
async function dataFiles(
  dataDir: string | undefined,
  train: number,
  test: number,
): Promise<{ files: Map<string, Uint8Array>; source: string }> {
  const f = IDX_FILES;
  if (dataDir === undefined) {
    const set = syntheticFashionMnist({ train, test, seed: DATA.seed });
    const [trainX, trainY] = idxPair(set.train, train), [testX, testY] = idxPair(set.test, test);
    return {
      files: new Map([
        [f.trainImages, trainX],
        [f.trainLabels, trainY],
        [f.testImages, testX],
        [f.testLabels, testY],
      ]),
      source: `synthetic FashionMNIST-shaped images, seed ${DATA.seed}`,
    };
  }
  const dir = `${dataDir}/FashionMNIST/raw`;
  const read = (name: string) => readIdxFile(dir, name);
  const [trainX, trainY] = slicePair(
    await read(f.trainImages),
    await read(f.trainLabels),
    [f.trainImages, f.trainLabels],
    train,
  );
  const [testX, testY] = slicePair(
    await read(f.testImages),
    await read(f.testLabels),
    [f.testImages, f.testLabels],
    test,
  );
  return {
    files: new Map([
      [f.trainImages, trainX],
      [f.trainLabels, trainY],
      [f.testImages, testX],
      [f.testLabels, testY],
    ]),
    source: `FashionMNIST from ${dir}`,
  };
}

/** One line about a posted result. */
function summary(report: RunReport | { error: string }): string {
  if ("error" in report) return `Browser run failed: ${report.error}`;
  const { losses, msPerStep, test } = report;
  return `Browser run: loss ${losses[0]?.toFixed(4)} → ${losses.at(-1)?.toFixed(4)} in ` +
    `${losses.length} steps, ${msPerStep.toFixed(1)} ms/step, test accuracy ` +
    `${(100 * test.accuracy).toFixed(1)}%, model.onnx ${report.modelBytes} bytes`;
}

/** The text `--help` prints. */
export const USAGE: string = [
  "Usage: deno run -P=browser --unstable-bundle pipelines/browser/server.ts [flags]",
  "",
  "Serves the browser example on 127.0.0.1: open the printed address; the page trains an MLP",
  "with onnxruntime-web. A page opened with ?report=1 posts its result, printed as one line.",
  "",
  "Flags:",
  "  --port N         port on 127.0.0.1 (default 8000; 0 picks a free one)",
  "  --data-dir ROOT  serve the first images of a real FashionMNIST copy, ROOT/FashionMNIST/raw/",
  "                   (default: generated FashionMNIST-shaped images)",
  `  --train N        training images served (default ${DATA.train})`,
  `  --test N         test images served (default ${DATA.test})`,
  "  -h, --help       show this text",
].join("\n");

/** The error when the port is taken, naming it and the way out. */
function portInUse(port: number): UserRangeError {
  return new UserRangeError(
    `Cannot start the browser example: port ${port} on 127.0.0.1 is already in use; pass ` +
      "--port N for another port (--port 0 picks a free one)",
  );
}

/** Fails at once, before the slow bundling, when the port is taken (0 is always free). */
function checkPortFree(port: number): void {
  if (port === 0) return;
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) throw portInUse(port);
    throw e;
  }
}

/** Parses an integer flag in `[min, max]`. */
function integer(
  flag: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UserRangeError(
      `Invalid --${flag} ${value}: expected an integer from ${min} to ${max}`,
    );
  }
  return n;
}

/**
 * Starts the server (or prints the help text for `--help`).
 *
 * @param args Command-line arguments.
 * @returns The running server, or undefined after `--help`.
 * @throws {UserRangeError} For a bad flag value, or a port already in use.
 */
export async function main(args: string[]): Promise<Deno.HttpServer<Deno.NetAddr> | undefined> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string" },
      "data-dir": { type: "string" },
      train: { type: "string" },
      test: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return undefined;
  }
  const port = integer("port", values.port, 8000, 0, 65535);
  checkPortFree(port);
  const [page, app, data] = await Promise.all([
    Deno.readFile(new URL("./index.html", import.meta.url)),
    bundleApp(),
    dataFiles(
      values["data-dir"],
      integer("train", values.train, DATA.train, 1),
      integer("test", values.test, DATA.test, 1),
    ),
  ]);
  const ortDir = new URL("./", import.meta.resolve("onnxruntime-web"));

  const respond = (body: Uint8Array | string | ReadableStream, name: string, status = 200) =>
    new Response(body as BodyInit, {
      status,
      headers: {
        "content-type": TYPES[name.split(".").at(-1)!] ?? "application/octet-stream",
        "cache-control": "no-store",
        // Cross-origin isolation, so onnxruntime-web may run threads (the page's ?threads=N).
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-embedder-policy": "require-corp",
      },
    });
  const notFound = () => new Response("Not found\n", { status: 404 });

  const serve = (handler: Deno.ServeHandler<Deno.NetAddr>) => {
    try {
      return Deno.serve({
        hostname: "127.0.0.1",
        port,
        onListen: ({ port }) => console.log(`onnxtrain browser example: http://127.0.0.1:${port}/`),
      }, handler);
    } catch (e) {
      // Taken while the page's script was bundled.
      if (e instanceof Deno.errors.AddrInUse) throw portInUse(port);
      throw e;
    }
  };
  return serve(async (request) => {
    const path = new URL(request.url).pathname;
    if (request.method === "POST" && path === "/result") {
      const text = await request.text();
      const report = JSON.parse(text);
      console.log(summary(report));
      console.log(RESULT_PREFIX + JSON.stringify(report));
      return new Response(null, { status: 204 });
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response(null, { status: 405 });
    }
    if (path === "/" || path === "/index.html") return respond(page, "index.html");
    if (path === "/data/source") return respond(data.source, "source.txt");
    const [, dir, name, ...rest] = path.split("/");
    if (rest.length > 0 || !name) return notFound();
    if (dir === "bundle" && app.has(name)) return respond(app.get(name)!, name);
    if (dir === "data" && data.files.has(name)) return respond(data.files.get(name)!, name);
    if (dir === "ort" && ORT_FILES.includes(name)) {
      return respond((await Deno.open(new URL(name, ortDir))).readable, name);
    }
    return notFound();
  });
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    const code = (e as { code?: unknown })?.code;
    const hint = typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")
      ? " (--help lists the flags)"
      : "";
    console.error(describePermissionError(e) ?? `${e instanceof Error ? e.message : e}${hint}`);
    Deno.exit(1);
  }
}
