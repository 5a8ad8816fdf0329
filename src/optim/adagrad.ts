/** Adagrad as a graph transform (`torch.optim.Adagrad`). @module */
import type { AdagradOptimizer } from "../dsl/optimizers.ts";
import { directedGrad, f32, f64, type OptimizerLowering, stepCount } from "./_common.ts";

/**
 * Emits `torch.optim.Adagrad`'s single-tensor update. State: `<param>.step` (float32 scalar) and
 * `<param>.sum`, which starts at `initialAccumulatorValue`. The decayed rate
 * `clr = lr / (1 + (step − 1)·lrDecay)` is computed in float64, as PyTorch does in Python floats.
 */
export const lowerAdagrad: OptimizerLowering<AdagradOptimizer> = (opt, ctx) => {
  const { b } = ctx;
  const lr = f64(b, ctx.hyper("lr", opt.lr));
  return ctx.params.map((p) => {
    const { name, shape } = p.spec;
    const t = f64(b, stepCount(ctx, p));
    const g = directedGrad(b, p, opt);
    const decayed = b.op1("Mul", [
      b.op1("Sub", [t, b.scalar(1, "float64")]),
      b.scalar(opt.lrDecay, "float64"),
    ]);
    const clr = f32(b, b.op1("Div", [lr, b.op1("Add", [b.scalar(1, "float64"), decayed])]));
    const sum = ctx.state(
      `${name}.sum`,
      shape,
      (prev) => b.op1("Add", [prev, b.op1("Mul", [g, g])]),
      { kind: "constant", value: opt.initialAccumulatorValue },
    );
    const std = b.op1("Add", [b.op1("Sqrt", [sum]), b.scalar(opt.eps)]);
    return b.op1("Sub", [p.value, b.op1("Mul", [b.op1("Div", [g, std]), clr])]);
  });
};
