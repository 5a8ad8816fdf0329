/**
 * The runtime: the only module that imports onnxruntime-node. Sessions, tensors, devices, threads.
 * @module
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import type { DType, TensorData } from "../ir/types.ts";

/** A tensor in host memory: what sessions take and return. */
export interface HostTensor {
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly data: TensorData;
}

/** Where a session runs. */
export type Device = "cpu" | "cuda";

/** Options for {@linkcode createSession}. */
export interface SessionOptions {
  /** Execution device (default `"cpu"`). */
  readonly device?: Device;
  /** Intra-op threads (default: onnxruntime's choice, one per core). */
  readonly threads?: number;
}

/** A loaded model ready to run. */
export interface Session {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs the model; returns every output (or those named in `fetch`). */
  run(
    feeds: Readonly<Record<string, HostTensor>>,
    fetch?: readonly string[],
  ): Promise<Record<string, HostTensor>>;
  /** Frees native resources. */
  release(): Promise<void>;
}

/** A device that cannot be used here, with one line saying how to get it. */
export class DeviceError extends Error {
  /** @param message What failed and how to fix it. */
  constructor(message: string) {
    super(message);
    this.name = "DeviceError";
  }
}

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

function toOrt(t: HostTensor): ort.Tensor {
  const data = t.dtype === "bool"
    ? new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.length)
    : t.data;
  return new ort.Tensor(t.dtype, data as Float32Array, t.dims);
}

function fromOrt(t: ort.Tensor): HostTensor {
  return { dtype: t.type as DType, dims: t.dims, data: t.data as TensorData };
}

/**
 * Loads an ONNX model into onnxruntime.
 *
 * @param model ONNX ModelProto bytes.
 * @param options Device and threads.
 * @returns A session.
 * @throws {DeviceError} When `device` is `"cuda"` and the CUDA provider is not available.
 */
export async function createSession(
  model: Uint8Array,
  options: SessionOptions = {},
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
  const result: Session = {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds, fetch) {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = toOrt(t);
      const out = fetch ? await session.run(ortFeeds, [...fetch]) : await session.run(ortFeeds);
      const result: Record<string, HostTensor> = {};
      for (const [name, t] of Object.entries(out)) result[name] = fromOrt(t);
      return result;
    },
    release: () => session.release(),
  };
  return Object.freeze(result);
}
