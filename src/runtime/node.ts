/**
 * The node backend: onnxruntime-node, native code on CPU or CUDA. Importing this module loads the
 * native addon (it needs `--allow-ffi`), so `createSession` imports it on first use.
 * @module
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { DeviceError, type Session, type SessionOptions, wrapOrtSession } from "./backend.ts";

const CUDA_HINT = "install it with: ONNXRUNTIME_NODE_INSTALL=cuda12 deno install " +
  "--allow-scripts=npm:onnxruntime-node (needs CUDA 12 and cuDNN 9 on the machine)";

/** The folder of onnxruntime-node's native binaries, where resolvable. */
function nativeDir(): string | undefined {
  try {
    const entry = createRequire(import.meta.url).resolve("onnxruntime-node");
    return join(dirname(entry), "..", "bin", "napi-v6", `${process.platform}`, `${process.arch}`);
  } catch {
    return undefined;
  }
}

function checkCuda(): void {
  const dir = nativeDir();
  const lib = process.platform === "win32"
    ? "onnxruntime_providers_cuda.dll"
    : "libonnxruntime_providers_cuda.so";
  if (dir && !existsSync(join(dir, lib))) {
    throw new DeviceError(
      `Cannot use device cuda: onnxruntime-node's CUDA execution provider (${lib}) is not installed; ${CUDA_HINT}`,
    );
  }
}

/**
 * Loads an ONNX model into onnxruntime-node (see `createSession` in session.ts).
 *
 * @param model ONNX ModelProto bytes.
 * @param options Device and threads.
 * @returns A session.
 * @throws {DeviceError} When `device` is `"cuda"` and the CUDA provider is not available.
 */
export async function createNodeSession(
  model: Uint8Array,
  options: SessionOptions,
): Promise<Session> {
  const device = options.device ?? "cpu";
  if (device === "cuda") checkCuda();
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: [device],
    graphOptimizationLevel: "all",
    executionMode: "sequential",
    interOpNumThreads: 1,
    logSeverityLevel: 3,
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
    ...(options.profile ? { enableProfiling: true, profileFilePrefix: options.profile } : {}),
    extra: {
      session: {
        intra_op: { allow_spinning: options.spinning ? "1" : "0" },
        ...(options.flushDenormals ? { set_denormal_as_zero: "1" } : {}),
      },
    },
  };
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(model, sessionOptions);
  } catch (e) {
    if (device === "cuda") {
      const why = String((e as Error).message ?? e).split("\n")[0];
      throw new DeviceError(`Cannot use device cuda: ${why}; ${CUDA_HINT}`);
    }
    throw e;
  }
  return wrapOrtSession(session, (dtype, data, dims) => new ort.Tensor(dtype, data, dims));
}
