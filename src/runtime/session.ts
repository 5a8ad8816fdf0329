/**
 * The runtime: sessions, tensors, devices, threads, behind one interface with two backends,
 * onnxruntime-node (native, CPU or CUDA; the default) and onnxruntime-web (WebAssembly, CPU, no
 * native code). This folder is the only place that imports either package, and each is imported
 * only when a session of its backend is first created, so a run on the web backend never loads
 * the native addon (and needs no `--allow-ffi`).
 * @module
 */
import type { Backend, Session, SessionOptions } from "./backend.ts";
import { UserRangeError } from "../util/user_error.ts";

export {
  type Backend,
  type Device,
  DeviceError,
  type HostTensor,
  type OrtSessionLike,
  type OrtTensorLike,
  type Session,
  type SessionOptions,
  wrapOrtSession,
} from "./backend.ts";

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
