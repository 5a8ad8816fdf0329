/**
 * The layer contract shared by every layer factory: a layer is a frozen description with a
 * `kind`, and it is also callable on symbolic tensors, so models read like the math
 * (`relu()(add(m.conv(x), x))`). Calling a layer records a node; nothing is computed and no ONNX
 * is involved.
 * @module
 */
import { UserTypeError } from "../util/user_error.ts";

/**
 * How a symbolic tensor was made: a model input, a layer applied, or a combination.
 *
 * @example
 * ```ts
 * import { add, linear, module, type TensorNode } from "../../mod.ts";
 * const m = module({ fc: linear(2, 2) }, (x, c) => add(c.fc(x), x));
 * const node: TensorNode = m.output.node;
 * if (node.op !== "add") throw new Error();
 * ```
 */
export type TensorNode =
  | { readonly op: "input" }
  | { readonly op: "apply"; readonly layer: AnyLayer; readonly input: SymbolicTensor }
  | {
    readonly op: "add" | "sub" | "mul";
    readonly inputs: readonly [SymbolicTensor, SymbolicTensor];
  }
  | { readonly op: "concat"; readonly inputs: readonly SymbolicTensor[]; readonly dim: number };

/**
 * A tensor in a model description: a reference to the node that produces it.
 *
 * @example
 * ```ts
 * import { linear, module, relu, type SymbolicTensor } from "../../mod.ts";
 * const m = module({ fc: linear(2, 2) }, (x: SymbolicTensor, c) => relu()(c.fc(x)));
 * if (m.input.kind !== "tensor" || m.output.node.op !== "apply") throw new Error();
 * ```
 */
export interface SymbolicTensor {
  /** Marks a symbolic tensor. */
  readonly kind: "tensor";
  /** The node that produces the tensor. */
  readonly node: TensorNode;
}

/**
 * What every layer is: callable on a symbolic tensor, with a `kind` naming its lowering.
 *
 * @example
 * ```ts
 * import type { LayerBase } from "./layer.ts";
 * import { relu } from "./layers.ts";
 * const layer: LayerBase<"relu"> = relu();
 * if (layer.kind !== "relu" || typeof layer !== "function") throw new Error();
 * ```
 */
export interface LayerBase<K extends string> {
  /** Applies the layer to a symbolic tensor inside a {@linkcode module}'s forward function. */
  (x: SymbolicTensor): SymbolicTensor;
  /** Names the layer's lowering. */
  readonly kind: K;
}

/**
 * Any layer, structurally (the precise union is `Layer` in `layers.ts`).
 *
 * @example
 * ```ts
 * import type { AnyLayer } from "./layer.ts";
 * import { linear, relu } from "./layers.ts";
 * const layers: AnyLayer[] = [linear(2, 2), relu()];
 * if (layers.length !== 2) throw new Error();
 * ```
 */
export type AnyLayer = LayerBase<string>;

/** Creates a symbolic tensor. */
export function tensorOf(node: TensorNode): SymbolicTensor {
  return Object.freeze({ kind: "tensor", node: Object.freeze(node) });
}

/**
 * Makes a frozen, callable layer from its properties.
 *
 * @param props The layer's description; `kind` selects its lowering.
 * @returns The layer.
 */
export function makeLayer<P extends { readonly kind: string }>(
  props: P,
): P & LayerBase<P["kind"]> {
  const layer: P & LayerBase<P["kind"]> = Object.assign(
    (x: SymbolicTensor) => {
      if (x?.kind !== "tensor") {
        throw new UserTypeError(
          `Cannot apply layer ${props.kind}: expected a symbolic tensor, got ${typeof x}`,
        );
      }
      return tensorOf({ op: "apply", layer, input: x });
    },
    props,
  );
  return Object.freeze(layer);
}
