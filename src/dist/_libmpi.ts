/**
 * The FFI binding to Open MPI's `libmpi`: the functions onnxtrain calls and the handles it passes.
 *
 * Open MPI's predefined handles (`MPI_COMM_WORLD`, `MPI_FLOAT`, `MPI_SUM`, …) are the ADDRESSES of
 * data symbols (`&ompi_mpi_comm_world`, …), found with `dlsym`; `MPI_IN_PLACE` is `(void *)1`.
 * Open MPI loads its components (`mca_*.so`) with `dlopen` and some builds resolve their `libmpi`
 * symbols from the global scope, so the library is made global (`RTLD_NOW | RTLD_GLOBAL`) before
 * `MPI_Init`. `dlopen` and `dlsym` are libc's, reached through `libmpi`'s own dependencies, so the
 * only ffi permission needed is `libmpi`'s path (and no pointer is made from a number: the address
 * 1 is passed as an integer, which Deno's partial ffi permission allows).
 * @module
 */
import { DistributedError } from "./distributed_error.ts";

const SEND_RECV = ["usize", "buffer", "i32", "pointer", "pointer", "pointer"] as const;

/** The functions called; `MPI_Allreduce_async` is `MPI_Allreduce` run on a Deno worker thread. */
const SYMBOLS = {
  dlopen: { parameters: ["buffer", "i32"], result: "pointer" },
  dlsym: { parameters: ["pointer", "buffer"], result: "pointer" },
  MPI_Initialized: { parameters: ["buffer"], result: "i32" },
  MPI_Finalized: { parameters: ["buffer"], result: "i32" },
  MPI_Init_thread: { parameters: ["pointer", "pointer", "i32", "buffer"], result: "i32" },
  MPI_Comm_rank: { parameters: ["pointer", "buffer"], result: "i32" },
  MPI_Comm_size: { parameters: ["pointer", "buffer"], result: "i32" },
  MPI_Allreduce: { parameters: SEND_RECV, result: "i32" },
  MPI_Allreduce_async: {
    name: "MPI_Allreduce",
    parameters: SEND_RECV,
    result: "i32",
    nonblocking: true,
  },
  MPI_Bcast: { parameters: ["buffer", "i32", "pointer", "i32", "pointer"], result: "i32" },
  MPI_Barrier: { parameters: ["pointer"], result: "i32" },
  MPI_Abort: { parameters: ["pointer", "i32"], result: "i32" },
  MPI_Finalize: { parameters: [], result: "i32" },
  MPI_Error_string: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The data symbols whose addresses are Open MPI's predefined handles. */
const HANDLES = {
  world: "ompi_mpi_comm_world",
  float: "ompi_mpi_float",
  double: "ompi_mpi_double",
  byte: "ompi_mpi_byte",
  sum: "ompi_mpi_op_sum",
} as const;

/** Open MPI's `MPI_THREAD_SERIALIZED` (`mpi.h`: SINGLE 0, FUNNELED 1, SERIALIZED 2, MULTIPLE 3). */
export const MPI_THREAD_SERIALIZED = 2;
/** `MPI_IN_PLACE`, `(void *)1` in Open MPI, passed as an integer. */
export const MPI_IN_PLACE = 1n;
/** `MPI_SUCCESS`. */
export const MPI_SUCCESS = 0;

/** `libmpi` opened: its functions and the predefined handles. */
export interface Libmpi {
  readonly path: string;
  readonly symbols: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
  readonly handles: { readonly [K in keyof typeof HANDLES]: Deno.PointerObject };
}

const RTLD_NOW = 0x2, RTLD_NOLOAD = 0x4, RTLD_GLOBAL = 0x100;

/** Where Open MPI's `libmpi` is, per platform (Debian/Ubuntu first, then Fedora, Arch, Homebrew). */
const CANDIDATES: Readonly<Record<string, readonly string[]>> = {
  "linux-x86_64": [
    "/usr/lib/x86_64-linux-gnu/libmpi.so.40",
    "/usr/lib64/openmpi/lib/libmpi.so.40",
    "/usr/lib/libmpi.so.40",
  ],
  "linux-aarch64": [
    "/usr/lib/aarch64-linux-gnu/libmpi.so.40",
    "/usr/lib64/openmpi/lib/libmpi.so.40",
    "/usr/lib/libmpi.so.40",
  ],
  "darwin-aarch64": ["/opt/homebrew/lib/libmpi.40.dylib"],
  "darwin-x86_64": ["/usr/local/lib/libmpi.40.dylib"],
};

/**
 * The path of Open MPI's `libmpi` on this machine: the first of the usual places that exists (Debian's
 * `/usr/lib/x86_64-linux-gnu/libmpi.so.40` on x86-64 Linux), else the first usual place.
 */
export function defaultLibrary(): string {
  const candidates = CANDIDATES[`${Deno.build.os}-${Deno.build.arch}`] ??
    CANDIDATES["linux-x86_64"];
  for (const path of candidates) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // Missing, or not readable without --allow-read: try the next.
    }
  }
  return candidates[0];
}

const cString = (s: string) => new TextEncoder().encode(`${s}\0`);

/** How to install Open MPI, for the errors below. */
const INSTALL = "install Open MPI (apt-get install openmpi-bin libopenmpi-dev) or pass the path " +
  "of its libmpi as the library option";

/**
 * Opens `libmpi` at `path`, makes it global and finds the handles.
 *
 * @throws {DistributedError} The ffi permission is missing, the library cannot be opened, or it
 *   is not Open MPI's.
 */
export function openLibmpi(path: string): Libmpi {
  let state: Deno.PermissionState = "denied";
  try {
    state = Deno.permissions.querySync({ name: "ffi", path }).state;
  } catch {
    // An older Deno without path queries: let dlopen decide.
    state = "granted";
  }
  if (state !== "granted") {
    throw new DistributedError(
      `Cannot load Open MPI from ${path}: the ffi permission is missing; run with ` +
        `--allow-ffi=${path}`,
    );
  }
  let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    lib = Deno.dlopen(path, SYMBOLS);
  } catch (error) {
    const reason = String((error as Error)?.message ?? error)
      .replace(/^(Could not open library: )+/, "").split("\n")[0];
    const symbol = reason.match(/Failed to register symbol (\w+)/)?.[1];
    throw new DistributedError(
      symbol
        ? `Cannot load Open MPI from ${path}: it has no function ${symbol}, so it is not ` +
          `Open MPI's libmpi; ${INSTALL}`
        : /No such file|image not found/.test(reason)
        ? `Cannot load Open MPI: ${path} was not found; ${INSTALL}`
        : `Cannot load Open MPI from ${path}: ${reason}`,
    );
  }
  const global = lib.symbols.dlopen(cString(path), RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
  const handles = {} as Record<keyof typeof HANDLES, Deno.PointerObject>;
  for (const [key, symbol] of Object.entries(HANDLES) as [keyof typeof HANDLES, string][]) {
    const address = global === null ? null : lib.symbols.dlsym(global, cString(symbol));
    if (address === null) {
      lib.close();
      throw new DistributedError(
        `Cannot load Open MPI from ${path}: it has no symbol ${symbol}, so it is not Open MPI's ` +
          `libmpi (onnxtrain's MPI layer binds Open MPI only); ${INSTALL}`,
      );
    }
    handles[key] = address;
  }
  return Object.freeze({ path, symbols: lib.symbols, handles: Object.freeze(handles) });
}

/** Open MPI's text for an error code, e.g. "MPI_ERR_TRUNCATE: message truncated". */
export function errorText(mpi: Libmpi, code: number): string {
  const text = new Uint8Array(256), length = new Int32Array(1);
  if (mpi.symbols.MPI_Error_string(code, text, length) !== MPI_SUCCESS) return `error ${code}`;
  return new TextDecoder().decode(text.subarray(0, Math.max(0, Math.min(length[0], 256))));
}
