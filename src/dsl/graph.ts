/**
 * Models as graphs of layers: `sequential` stacks, and `module`, a functional form in which a
 * forward function combines named children on symbolic tensors (residual `add`, `concat`, `mul`).
 * Parameter names follow PyTorch's `state_dict`: a child's parameters are prefixed with its name
 * (its index in a `sequential`), so `block.conv1.weight` in onnxtrain is `block.conv1.weight` in
 * PyTorch. Applying the same layer object twice shares its parameters.
 * @module
 */
import type { Layer, ModuleLayer, SequentialLayer } from "./layer_types.ts";
import { type LayerBase, makeLayer, type SymbolicTensor, tensorOf } from "./layer.ts";
import { UserRangeError, UserTypeError } from "../util/user_error.ts";

export type { ModuleLayer, SequentialLayer } from "./layer_types.ts";

/**
 * Chains layers.
 *
 * @param layers The layers, applied first to last.
 * @returns A sequential layer.
 * @example
 * ```ts
 * import { linear, relu } from "./layers.ts";
 * import { sequential } from "./graph.ts";
 * const m = sequential(linear(4, 8), relu(), linear(8, 2));
 * if (m.layers.length !== 3) throw new Error();
 * ```
 */
export function sequential(...layers: Layer[]): SequentialLayer & LayerBase<"sequential"> {
  return makeLayer({ kind: "sequential" as const, layers: Object.freeze([...layers]) });
}

/**
 * A module with named children and a forward function, PyTorch's `nn.Module` in functional
 * form. The forward function receives a symbolic input and the children, and returns a symbolic
 * tensor; it runs once, here, to record the graph. Layers with parameters must be children (so
 * their parameters have names); parameter-free layers (`relu()`, `flatten()`, pooling, dropout)
 * may be applied inline.
 *
 * @param children The named children; their names prefix their parameter names.
 * @param forward Builds the output from the input and the children.
 * @returns A module layer.
 * @example
 * ```ts
 * import { add, module } from "./graph.ts";
 * import { linear, relu } from "./layers.ts";
 * const act = relu();
 * const block = module(
 *   { fc1: linear(8, 8), fc2: linear(8, 8) },
 *   (x, m) => act(add(m.fc2(act(m.fc1(x))), x)),
 * );
 * if (Object.keys(block.children).join() !== "fc1,fc2") throw new Error();
 * ```
 */
export function module<C extends Readonly<Record<string, Layer>>>(
  children: C,
  forward: (x: SymbolicTensor, children: C) => SymbolicTensor,
): ModuleLayer & LayerBase<"module"> {
  const frozen = Object.freeze({ ...children });
  for (const [name, child] of Object.entries(frozen)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new UserRangeError(`Cannot create module: child name '${name}' is not an identifier`);
    }
    if (typeof child !== "function" || typeof child.kind !== "string") {
      throw new UserTypeError(`Cannot create module: child '${name}' is not a layer`);
    }
  }
  const input = tensorOf({ op: "input" });
  const output = forward(input, frozen);
  if (output?.kind !== "tensor") {
    throw new UserTypeError(
      "Cannot create module: the forward function must return a symbolic tensor",
    );
  }
  return makeLayer({ kind: "module" as const, children: frozen, input, output });
}

function binary(op: "add" | "sub" | "mul", a: SymbolicTensor, b: SymbolicTensor): SymbolicTensor {
  for (const t of [a, b]) {
    if (t?.kind !== "tensor") throw new UserTypeError(`Cannot ${op}: expected symbolic tensors`);
  }
  return tensorOf({ op, inputs: [a, b] });
}

/**
 * Elementwise sum with broadcasting (a residual connection).
 *
 * @param a A symbolic tensor.
 * @param b Another, of a shape broadcastable with `a`.
 * @returns `a + b`.
 * @example
 * ```ts
 * import { add, linear, module, relu } from "../../mod.ts";
 * const block = module({ fc: linear(4, 4) }, (x, m) => relu()(add(m.fc(x), x)));
 * if (block.kind !== "module") throw new Error();
 * ```
 */
export function add(a: SymbolicTensor, b: SymbolicTensor): SymbolicTensor {
  return binary("add", a, b);
}

/**
 * Elementwise difference with broadcasting.
 *
 * @param a A symbolic tensor.
 * @param b Another.
 * @returns `a − b`.
 * @example
 * ```ts
 * import { linear, module, sub } from "../../mod.ts";
 * const m = module({ a: linear(3, 3), b: linear(3, 3) }, (x, c) => sub(c.a(x), c.b(x)));
 * if (m.kind !== "module") throw new Error();
 * ```
 */
export function sub(a: SymbolicTensor, b: SymbolicTensor): SymbolicTensor {
  return binary("sub", a, b);
}

/**
 * Elementwise product with broadcasting (gating).
 *
 * @param a A symbolic tensor.
 * @param b Another.
 * @returns `a · b`.
 * @example
 * ```ts
 * import { linear, module, mul, sigmoid } from "../../mod.ts";
 * const gated = module({ value: linear(8, 8), gate: linear(8, 8) }, (x, m) =>
 *   mul(m.value(x), sigmoid()(m.gate(x))));
 * if (gated.kind !== "module") throw new Error();
 * ```
 */
export function mul(a: SymbolicTensor, b: SymbolicTensor): SymbolicTensor {
  return binary("mul", a, b);
}

/**
 * Concatenation along `dim` (`torch.cat(tensors, dim)`); default 1, the channel or feature axis.
 *
 * @param tensors Symbolic tensors that agree on every other dimension.
 * @param dim The axis (negative counts from the end).
 * @returns The concatenation.
 * @example
 * ```ts
 * import { concat, linear, module } from "../../mod.ts";
 * const wide = module({ a: linear(4, 2), b: linear(4, 3) }, (x, m) => concat([m.a(x), m.b(x)]));
 * if (wide.kind !== "module") throw new Error();
 * ```
 */
export function concat(tensors: readonly SymbolicTensor[], dim = 1): SymbolicTensor {
  if (tensors.length === 0 || tensors.some((t) => t?.kind !== "tensor")) {
    throw new UserTypeError("Cannot concat: expected one or more symbolic tensors");
  }
  if (!Number.isInteger(dim)) {
    throw new UserRangeError(`Cannot concat: dim must be an integer, got ${dim}`);
  }
  return tensorOf({ op: "concat", inputs: Object.freeze([...tensors]), dim });
}
