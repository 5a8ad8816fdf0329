/**
 * The web backend: onnxruntime-web's WebAssembly build, CPU only, no native code. It runs where
 * Deno runs without `--allow-ffi`: it reads its `.wasm` file from onnxruntime-web's `dist` folder
 * (so it needs read access there) and runs extra threads as workers of the same process.
 * @module
 */
import * as ort from "onnxruntime-web";
import { DeviceError, type Session, type SessionOptions, wrapOrtSession } from "./backend.ts";
import { UserRangeError } from "../util/user_error.ts";

/**
 * Threads of the WebAssembly runtime when the first web session names none: onnxruntime-web's own
 * choice under Deno, which is not cross-origin isolated.
 */
const DEFAULT_THREADS = 1;

/** The thread count the process's WebAssembly runtime was started with (by the first session). */
let poolThreads: number | undefined;

/** Configures onnxruntime-web once, before its WebAssembly runtime starts. */
function configure(threads: number): void {
  // The package entry Deno resolves (dist/ort.node.min.mjs) sits next to the .wasm files.
  ort.env.wasm.wasmPaths = new URL("./", import.meta.resolve("onnxruntime-web")).href;
  ort.env.wasm.numThreads = threads;
  // No proxy worker: sessions run on the calling thread (threads > 1 add pthread workers).
  ort.env.wasm.proxy = false;
  ort.env.logLevel = "error";
  poolThreads = threads;
}

/**
 * Loads an ONNX model into onnxruntime-web on WebAssembly (see `createSession` in session.ts).
 *
 * @param model ONNX ModelProto bytes.
 * @param options Threads; the device must be the CPU.
 * @returns A session.
 * @throws {DeviceError} When `device` is `"cuda"`.
 * @throws {RangeError} When `threads` differs from the count the WebAssembly runtime was started
 * with by an earlier web session of this process (its thread pool is sized once).
 */
export async function createWebSession(
  model: Uint8Array,
  options: SessionOptions,
): Promise<Session> {
  if ((options.device ?? "cpu") !== "cpu") {
    throw new DeviceError(
      `Cannot use device ${options.device} on the web backend: onnxruntime-web runs on ` +
        "WebAssembly (CPU) only here; use the node backend for cuda",
    );
  }
  const threads = options.threads;
  if (poolThreads === undefined) configure(threads ?? DEFAULT_THREADS);
  else if (threads !== undefined && threads !== poolThreads) {
    throw new UserRangeError(
      `Cannot use ${threads} threads on the web backend: its WebAssembly runtime was started ` +
        `with ${poolThreads} by this process's first web session, and its thread pool is sized once`,
    );
  }
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
    executionMode: "sequential",
    logSeverityLevel: 3,
  });
  return wrapOrtSession(session, (dtype, data, dims) => new ort.Tensor(dtype, data, dims));
}
