/**
 * The runtime: sessions, tensors, devices, threads, behind one interface with two backends,
 * onnxruntime-node (native, CPU or CUDA; the default) and onnxruntime-web (WebAssembly, CPU, no
 * native code). This folder is the only place that imports either package, and each is imported
 * only when a session of its backend is first created, so a run on the web backend never loads
 * the native addon (and needs no `--allow-ffi`).
 * @module
 */
import type { DType, TensorData } from "../ir/types.ts";
import { UserRangeError } from "../util/user_error.ts";

/**
 * A tensor in host memory: what sessions take and return.
 *
 * @example
 * ```ts
 * import type { HostTensor } from "./session.ts";
 * const t: HostTensor = { dtype: "int64", dims: [2], data: BigInt64Array.of(3n, 4n) };
 * if (t.dims.reduce((a, b) => a * b, 1) !== t.data.length) throw new Error();
 * ```
 */
export interface HostTensor {
  /** Element type. */
  readonly dtype: DType;
  /** Dimensions. */
  readonly dims: readonly number[];
  /** Values, row-major. */
  readonly data: TensorData;
}

/**
 * Where a session runs.
 *
 * @example
 * ```ts
 * import type { Device, SessionOptions } from "./session.ts";
 * const device: Device = "cuda";
 * const options: SessionOptions = { device };
 * if (options.device !== "cuda") throw new Error();
 * ```
 */
export type Device = "cpu" | "cuda";

/**
 * Which onnxruntime package runs sessions: `"node"` is onnxruntime-node (native code, CPU or
 * CUDA), `"web"` is onnxruntime-web on WebAssembly (CPU only, runs without `--allow-ffi`).
 * @example
 * ```ts
 * import { type Backend, BACKENDS } from "./session.ts";
 * const backend: Backend = "web";
 * if (!BACKENDS.includes(backend)) throw new Error();
 * ```
 */
export type Backend = "node" | "web";

/**
 * The backends, for validating user input.
 *
 * @example
 * ```ts
 * import { BACKENDS } from "./session.ts";
 * if (BACKENDS.join() !== "node,web") throw new Error();
 * ```
 */
export const BACKENDS: readonly Backend[] = Object.freeze(["node", "web"]);

/**
 * Options for {@linkcode createSession}.
 *
 * @example
 * ```ts
 * import { createGraphBuilder } from "../ir/builder.ts";
 * import { emitModel } from "../onnx/emit.ts";
 * const b = createGraphBuilder();
 * b.output("y", b.op1("Neg", [b.input("x", { dtype: "float32", shape: [2] })]));
 * const model = emitModel(b.build("neg"));
 * import { createSession, type SessionOptions } from "./session.ts";
 * const options: SessionOptions = { device: "cpu", threads: 1, backend: "node" };
 * const session = await createSession(model, options);
 * if (session.outputNames.join() !== "y") throw new Error();
 * await session.release();
 * ```
 */
export interface SessionOptions {
  /** Execution device (default `"cpu"`). */
  readonly device?: Device;
  /**
   * Intra-op threads (default: onnxruntime's choice, one per core on node, 1 on web). On the web
   * backend the WebAssembly runtime has one thread pool per process, sized by the first web
   * session; threads beyond the first run as workers.
   */
  readonly threads?: number;
  /** The onnxruntime package that runs the session (default `"node"`). */
  readonly backend?: Backend;
}

/**
 * A loaded model ready to run.
 *
 * @example
 * ```ts
 * import { createGraphBuilder } from "../ir/builder.ts";
 * import { emitModel } from "../onnx/emit.ts";
 * const b = createGraphBuilder();
 * b.output("y", b.op1("Neg", [b.input("x", { dtype: "float32", shape: [2] })]));
 * const model = emitModel(b.build("neg"));
 * import { createSession, type Session } from "./session.ts";
 * const session: Session = await createSession(model);
 * const { y } = await session.run({
 *   x: { dtype: "float32", dims: [2], data: Float32Array.of(1, -2) },
 * });
 * if (session.inputNames.join() !== "x" || y.data[1] !== 2) throw new Error();
 * await session.release();
 * ```
 */
export interface Session {
  /** The model's input names, in order. */
  readonly inputNames: readonly string[];
  /** The model's output names, in order. */
  readonly outputNames: readonly string[];
  /** Runs the model; returns every output (or those named in `fetch`). */
  run(
    feeds: Readonly<Record<string, HostTensor>>,
    fetch?: readonly string[],
  ): Promise<Record<string, HostTensor>>;
  /** Frees native resources. */
  release(): Promise<void>;
}

/**
 * A device that cannot be used here, with one line saying how to get it.
 *
 * @example
 * ```ts
 * import { DeviceError } from "./session.ts";
 * const e = new DeviceError("Cannot use CUDA: no GPU found");
 * if (e.name !== "DeviceError") throw new Error();
 * ```
 */
export class DeviceError extends Error {
  /**
   * Creates the error.
   *
   * @param message What failed and how to fix it.
   */
  constructor(message: string) {
    super(message);
    this.name = "DeviceError";
  }
}

/** Creates a session on one backend; the backend's module exports one. */
export type SessionFactory = (model: Uint8Array, options: SessionOptions) => Promise<Session>;

/** Each backend's module, imported on first use (importing onnxruntime-node loads native code). */
const LOADERS: Record<Backend, () => Promise<SessionFactory>> = {
  node: async () => (await import("./node.ts")).createNodeSession,
  web: async () => (await import("./web.ts")).createWebSession,
};

/**
 * Loads an ONNX model into onnxruntime.
 *
 * @param model ONNX ModelProto bytes.
 * @param options Device, threads and backend.
 * @returns A session.
 * @throws {DeviceError} When `device` is `"cuda"` and the CUDA provider is not available, or the
 * backend is `"web"` (WebAssembly runs on the CPU only).
 * @throws {RangeError} On an unknown backend, or (web) a thread count other than the one the
 * process's WebAssembly runtime was started with.
 * @example
 * ```ts
 * import { createGraphBuilder } from "../ir/builder.ts";
 * import { emitModel } from "../onnx/emit.ts";
 * import { createSession } from "./session.ts";
 * const b = createGraphBuilder();
 * b.output("y", b.op1("Relu", [b.input("x", { dtype: "float32", shape: [1, 2] })]));
 * const modelBytes = emitModel(b.build("relu"));
 * const session = await createSession(modelBytes, { threads: 1 }); // or { backend: "web" }
 * const out = await session.run({
 *   x: { dtype: "float32", dims: [1, 2], data: Float32Array.of(1, -2) },
 * });
 * if (out.y.data.join() !== "1,0") throw new Error();
 * await session.release();
 * ```
 */
export async function createSession(
  model: Uint8Array,
  options: SessionOptions = {},
): Promise<Session> {
  const backend = options.backend ?? "node";
  const load = Object.hasOwn(LOADERS, backend) ? LOADERS[backend] : undefined;
  if (!load) {
    throw new UserRangeError(
      `Cannot create a session: unknown backend '${backend}' (expected ${BACKENDS.join(" or ")})`,
    );
  }
  return await (await load())(model, options);
}

/** The parts of an onnxruntime tensor that both packages share (onnxruntime-common's). */
export interface OrtTensorLike {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

/** The parts of an onnxruntime `InferenceSession` that both packages share. */
export interface OrtSessionLike<T extends OrtTensorLike> {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, T>): Promise<Record<string, T>>;
  run(feeds: Record<string, T>, fetches: string[]): Promise<Record<string, T>>;
  release(): Promise<void>;
}

/**
 * Wraps a package's session in the {@linkcode Session} interface (for the backend modules).
 *
 * @param session The package's session.
 * @param tensor The package's tensor constructor, as `(dtype, data, dims) => tensor`.
 * @returns The frozen session.
 */
export function wrapOrtSession<T extends OrtTensorLike>(
  session: OrtSessionLike<T>,
  tensor: (dtype: DType, data: TensorData, dims: readonly number[]) => T,
): Session {
  const toOrt = (t: HostTensor): T =>
    // onnxruntime takes bool tensors as bytes.
    tensor(
      t.dtype,
      t.dtype === "bool" ? new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.length) : t.data,
      t.dims,
    );
  const result: Session = {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds, fetch) {
      const ortFeeds: Record<string, T> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = toOrt(t);
      const out = fetch ? await session.run(ortFeeds, [...fetch]) : await session.run(ortFeeds);
      const result: Record<string, HostTensor> = {};
      for (const [name, t] of Object.entries(out)) {
        result[name] = { dtype: t.type as DType, dims: t.dims, data: t.data as TensorData };
      }
      return result;
    },
    release: () => session.release(),
  };
  return Object.freeze(result);
}
