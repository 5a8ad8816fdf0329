/**
 * The layer contract shared by every layer factory: a layer is a frozen description with a
 * `kind`, and it is also callable on symbolic tensors, so models read like the math
 * (`relu()(add(m.conv(x), x))`). Calling a layer records a node; nothing is computed and no ONNX
 * is involved.
 * @module
 */

/** How a symbolic tensor was made: a model input, a layer applied, or a combination. */
export type TensorNode =
  | { readonly op: "input" }
  | { readonly op: "apply"; readonly layer: AnyLayer; readonly input: SymbolicTensor }
  | {
    readonly op: "add" | "sub" | "mul";
    readonly inputs: readonly [SymbolicTensor, SymbolicTensor];
  }
  | { readonly op: "concat"; readonly inputs: readonly SymbolicTensor[]; readonly dim: number };

/** A tensor in a model description: a reference to the node that produces it. */
export interface SymbolicTensor {
  readonly kind: "tensor";
  readonly node: TensorNode;
}

/** What every layer is: callable on a symbolic tensor, with a `kind` naming its lowering. */
export interface LayerBase<K extends string> {
  /** Applies the layer to a symbolic tensor inside a {@linkcode module}'s forward function. */
  (x: SymbolicTensor): SymbolicTensor;
  readonly kind: K;
}

/** Any layer, structurally (the precise union is `Layer` in `layers.ts`). */
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
        throw new TypeError(
          `Cannot apply layer ${props.kind}: expected a symbolic tensor, got ${typeof x}`,
        );
      }
      return tensorOf({ op: "apply", layer, input: x });
    },
    props,
  );
  return Object.freeze(layer);
}
