/**
 * The input and output names of the compiled graphs, in a module of their own so the data loader
 * (and its worker) can name graph inputs without loading the compiler.
 * @module
 */

/** Graph input and output names shared by the compiled graphs. */
export const NAMES: Readonly<
  Record<
    | "input"
    | "target"
    | "loss"
    | "lossSum"
    | "correct"
    | "counted"
    | "logits"
    | "augmentRows"
    | "augmentCols",
    string
  >
> = Object.freeze({
  input: "input",
  target: "target",
  loss: "loss",
  lossSum: "loss_sum",
  correct: "correct",
  counted: "counted",
  logits: "logits",
  augmentRows: "augment_rows",
  augmentCols: "augment_cols",
});
