/**
 * Scatters, the adjoints of gathers: ScatterElements (MaxPool's gradient) and ScatterND
 * (Gather's, so embeddings train). Both are used with `reduction: "add"` by gradient rules.
 * @module
 */
import { CompileError } from "../errors.ts";
import { formatShape, type Value } from "../types.ts";
import { zeroTensor } from "./shape.ts";
import { arg, normAxis, numAttr, type OpDef, strAttr } from "./op_def.ts";
import type { ScatterOpName } from "./op_names.ts";

function checkCommon(
  op: string,
  dtypeData: string,
  dtypeUpd: string,
  idxDtype: string,
  attrs: Parameters<OpDef["infer"]>[1],
) {
  if (dtypeData !== dtypeUpd) {
    throw new CompileError(
      `${op} expects data and updates of one dtype, got ${dtypeData} and ${dtypeUpd}`,
    );
  }
  if (idxDtype !== "int64" && idxDtype !== "int32") {
    throw new CompileError(`${op} expects int64 or int32 indices, got ${idxDtype}`);
  }
  const reduction = strAttr(attrs, "reduction", "none");
  if (!["none", "add", "mul", "max", "min"].includes(reduction)) {
    throw new CompileError(`${op} has unknown reduction '${reduction}'`);
  }
}

/** Scatter op table. */
export const SCATTER_OPS = {
  ScatterElements: {
    infer: (inputs, attrs) => {
      const op = "ScatterElements";
      const data = arg(op, inputs, 0), idx = arg(op, inputs, 1), upd = arg(op, inputs, 2);
      checkCommon(op, data.type.dtype, upd.type.dtype, idx.type.dtype, attrs);
      const rank = data.type.shape.length;
      normAxis(op, numAttr(attrs, "axis", 0), rank);
      if (idx.type.shape.length !== rank || upd.type.shape.length !== rank) {
        throw new CompileError(
          `${op} expects indices and updates of rank ${rank}, got ${
            formatShape(idx.type.shape)
          } and ${formatShape(upd.type.shape)}`,
        );
      }
      return [data.type];
    },
  },
  ScatterND: {
    infer: (inputs, attrs) => {
      const op = "ScatterND";
      const data = arg(op, inputs, 0), idx = arg(op, inputs, 1), upd = arg(op, inputs, 2);
      checkCommon(op, data.type.dtype, upd.type.dtype, idx.type.dtype, attrs);
      const k = idx.type.shape[idx.type.shape.length - 1];
      const q = idx.type.shape.length, r = data.type.shape.length;
      if (typeof k === "number" && upd.type.shape.length !== q - 1 + r - k) {
        throw new CompileError(
          `${op} expects updates of rank ${q - 1 + r - k} for data ${
            formatShape(data.type.shape)
          } and indices ${formatShape(idx.type.shape)}, got ${formatShape(upd.type.shape)}`,
        );
      }
      return [data.type];
    },
    grad: ({ b, node, dy, needs }) => {
      // Without a reduction (PyTorch's slice_scatter / index_put): the written positions take
      // their gradient from the updates, dData is dy with them zeroed, dUpdates = GatherND(dy).
      if (strAttr(node.attrs, "reduction", "none") !== "none") {
        throw new CompileError("ScatterND gradient supports reduction 'none' only");
      }
      const [, indices, updates] = node.inputs as Value[];
      const g = dy[0]!;
      const zeros = () =>
        b.op1("ConstantOfShape", [b.op1("Shape", [updates])], {
          value: zeroTensor(updates.type.dtype),
        });
      return [
        needs[0] ? b.op1("ScatterND", [g, indices, zeros()]) : null,
        null,
        needs[2] ? b.op1("GatherND", [g, indices]) : null,
      ];
    },
  },
} satisfies Record<ScatterOpName, OpDef>;
