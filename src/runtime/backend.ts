/**
 * What both runtime backends share: host tensors, session options, the `Session` interface each
 * backend returns, `DeviceError`, and the wrapper from an onnxruntime package's session to a
 * `Session`. `session.ts` picks a backend and imports its module on first use; the backend
 * modules (`node.ts`, `web.ts`) import this, never `session.ts`.
 * @module
 */
import type { DType, TensorData } from "../ir/types.ts";

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
  /**
   * Whether idle intra-op threads spin waiting for work (node backend; onnxruntime's
   * `session.intra_op.allow_spinning`, which onnxruntime turns on by default). Default `false`:
   * spinning threads burn the cores they wait on, so beside another busy process they take
   * turns away from the threads doing the work. Measured on 2 cores, the tutorial MLP's epoch
   * with one CPU-bound process alongside: 8.26 s spinning, 4.74 s not (3.83 and 3.66 s alone).
   */
  readonly spinning?: boolean;
  /**
   * Flush denormal floats to zero in onnxruntime's kernels (node backend;
   * `session.set_denormal_as_zero`). Arithmetic on denormals (below 1.2e-38) runs 10–100× slower
   * on x86; momentum buffers and gradients of deep nets drift there. Default `false`, as in
   * PyTorch (`torch.set_flush_denormal`): flushing changes results, if only by values that small.
   */
  readonly flushDenormals?: boolean;
  /** The onnxruntime package that runs the session (default `"node"`). */
  readonly backend?: Backend;
  /**
   * Records onnxruntime's profile (node backend): every kernel's time, written to
   * `<profile>_<date>.json` when {@linkcode Session.endProfiling} is called.
   */
  readonly profile?: string;
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
  /**
   * Ends onnxruntime's profile of a session created with `profile` and writes its JSON file
   * (node backend; a no-op elsewhere).
   */
  endProfiling(): void;
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
  endProfiling?(): void;
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
    endProfiling: () => session.endProfiling?.(),
  };
  return Object.freeze(result);
}
