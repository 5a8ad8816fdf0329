/**
 * The worker side of {@linkcode createWorkerLoader}: receives a sample set and loader options once,
 * runs `createLoader` on them and posts each requested epoch's batches, at most as many ahead as
 * the main thread has granted credit for, transferring their buffers. Not meant to be imported.
 *
 * Messages in (see `worker_loader.ts`): `init` (set, options), `epoch` (a new epoch id and its
 * first credit; the previous epoch's iterator is dropped, as an abandoned `createLoader`
 * iteration), `credit` (one more batch of an epoch), `stop` (drop an epoch's iterator).
 * Messages out: `ready` (size, batches), `batch`, `done`, `error` (name and message).
 * @module
 */
import { type Batch, createLoader, type Loader } from "./loader.ts";
import type { ToWorker } from "./worker_loader.ts";
import { isMarkedUserError } from "../util/user_error.ts";

/** The parts of the worker global scope used here (typed without the `deno.worker` lib). */
const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: unknown, transfer: Transferable[]): void;
};

let loader: Loader | null = null;
/** Buffers of the set itself: never transferred, so batches viewing them are copied. */
let setBuffers = new Set<ArrayBufferLike>();
let epoch = { id: -1, credit: 0, batches: null as Iterator<Batch> | null };

/**
 * A structured-clone copy of `value` whose typed arrays get buffers of their own, with the list of
 * those buffers to transfer: a view covering a whole private buffer is transferred as is, any
 * other view (part of a buffer, or a buffer of the set) is copied first, shared memory is shared.
 */
function transferable(value: unknown, transfer: Set<ArrayBuffer>): unknown {
  if (ArrayBuffer.isView(value)) {
    const buffer = value.buffer;
    if (typeof SharedArrayBuffer !== "undefined" && buffer instanceof SharedArrayBuffer) {
      return value;
    }
    const whole = value.byteOffset === 0 && value.byteLength === buffer.byteLength;
    if (whole && !setBuffers.has(buffer) && !transfer.has(buffer as ArrayBuffer)) {
      transfer.add(buffer as ArrayBuffer);
      return value;
    }
    const copy = (value as unknown as { slice(): ArrayBufferView }).slice();
    transfer.add(copy.buffer as ArrayBuffer);
    return copy;
  }
  if (Array.isArray(value)) return value.map((v) => transferable(v, transfer));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, transferable(v, transfer)]),
    );
  }
  return value;
}

/** Posts an error as its name and message (errors themselves do not keep their class). */
function postError(id: number, error: unknown) {
  const e = error instanceof Error ? error : new Error(String(error));
  const user = isMarkedUserError(e);
  scope.postMessage({ type: "error", id, name: e.name, message: e.message, user }, []);
}

/** Posts batches of the current epoch while credit lasts, then `done` at its end. */
function pump() {
  const { id, batches } = epoch;
  while (batches && epoch.credit > 0) {
    let next;
    try {
      next = batches.next();
    } catch (e) {
      epoch.batches = null;
      return postError(id, e);
    }
    if (next.done) {
      epoch.batches = null;
      return scope.postMessage({ type: "done", id }, []);
    }
    epoch.credit--;
    const transfer = new Set<ArrayBuffer>();
    const batch = transferable(next.value, transfer);
    scope.postMessage({ type: "batch", id, batch }, [...transfer]);
  }
}

scope.onmessage = ({ data: message }) => {
  switch (message.type) {
    case "init": {
      try {
        loader = createLoader(message.set, message.options);
      } catch (e) {
        return postError(0, e);
      }
      const { set } = message;
      setBuffers = new Set(
        Object.values(set).filter(ArrayBuffer.isView).map((v) => v.buffer),
      );
      if (message.options.indices) setBuffers.add(message.options.indices.buffer);
      return scope.postMessage({ type: "ready", size: loader.size, batches: loader.batches }, []);
    }
    case "epoch": {
      epoch = { id: message.id, credit: message.credit, batches: null };
      try {
        epoch.batches = loader![Symbol.iterator]();
      } catch (e) {
        return postError(message.id, e);
      }
      return pump();
    }
    case "credit":
      if (message.id !== epoch.id) return;
      epoch.credit += message.credit;
      return pump();
    case "stop":
      if (message.id === epoch.id) epoch.batches = null;
      return;
  }
};
