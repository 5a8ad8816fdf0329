/**
 * The names of every op the IR knows, by the table file that defines each op (its shape rule and
 * gradient rule). Each table is declared `satisfies Record<…OpName, OpDef>`, so a name listed here
 * without a row there, or a row there without a name here, fails to compile. The names live here,
 * below the builder, because the builder's `op` takes any `OpName` and every table's gradient
 * rules use the builder.
 * @module
 */

/** The ops `elementwise.ts` defines. */
export type ElementwiseOpName =
  | "Add"
  | "Sub"
  | "Mul"
  | "Div"
  | "Neg"
  | "Identity"
  | "Exp"
  | "Relu"
  | "Greater"
  | "Equal"
  | "Where"
  | "Cast";

/** The ops `math.ts` defines. */
export type MathOpName =
  | "Sqrt"
  | "Log"
  | "Abs"
  | "Sign"
  | "Reciprocal"
  | "Sigmoid"
  | "Tanh"
  | "Erf"
  | "LeakyRelu"
  | "Elu"
  | "Pow"
  | "Max"
  | "Min"
  | "Less"
  | "GreaterOrEqual"
  | "LessOrEqual"
  | "Not"
  | "And";

/** The ops `linalg.ts` defines. */
export type LinalgOpName =
  | "MatMul"
  | "Gemm"
  | "Transpose";

/** The ops `shape.ts` defines. */
export type ShapeOpName =
  | "Constant"
  | "ConstantOfShape"
  | "Flatten"
  | "Reshape"
  | "Shape"
  | "Size"
  | "Gather"
  | "Unsqueeze"
  | "Squeeze"
  | "Expand"
  | "Concat"
  | "Slice"
  | "Pad";

/** The ops `reduce.ts` defines. */
export type ReduceOpName =
  | "ReduceSum"
  | "ReduceMean"
  | "ReduceMax"
  | "ArgMax";

/** The ops `nn.ts` defines. */
export type NnOpName =
  | "Softmax"
  | "LogSoftmax"
  | "OneHot"
  | "SoftmaxCrossEntropyLoss"
  | "BatchNormalization";

/** The ops `conv.ts` defines. */
export type ConvOpName =
  | "Conv"
  | "ConvTranspose"
  | "MaxPool"
  | "MaxUnpool"
  | "AveragePool"
  | "GlobalAveragePool";

/** The ops `scatter.ts` defines. */
export type ScatterOpName = "ScatterElements" | "ScatterND";

/** The ops `import_ops.ts` defines. */
export type ImportOpName = "Split" | "LayerNormalization" | "Range";

/** The ops `activation.ts` defines. */
export type ActivationOpName =
  | "Clip"
  | "HardSigmoid"
  | "HardSwish"
  | "Softplus"
  | "Mod"
  | "IsNaN"
  | "IsInf"
  | "Sin"
  | "Cos"
  | "Floor"
  | "Ceil"
  | "Round";

/** The ops `index_ops.ts` defines. */
export type IndexOpName =
  | "Tile"
  | "CumSum"
  | "Trilu"
  | "GatherND"
  | "GatherElements"
  | "Einsum";

/** The ops `resample.ts` defines. */
export type ResampleOpName = "Resize" | "InstanceNormalization";

/** Every op the IR knows; each is the standard `ai.onnx` op of the same name. */
export type OpName =
  | ElementwiseOpName
  | MathOpName
  | LinalgOpName
  | ShapeOpName
  | ReduceOpName
  | NnOpName
  | ConvOpName
  | ScatterOpName
  | ImportOpName
  | ActivationOpName
  | IndexOpName
  | ResampleOpName;
