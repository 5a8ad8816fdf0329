/** Adam and AdamW as graph transforms (`torch.optim.Adam`, `torch.optim.AdamW`). @module */
import type { AdamOptimizer, AdamWOptimizer, OptimizerSettings } from "../dsl/optimizers.ts";
import {
  directedGrad,
  f32,
  f64,
  oneMinus,
  type OptimizerContext,
  type OptimizerLowering,
  scale,
  stepCount,
} from "./_common.ts";
import type { Value } from "../ir/types.ts";

type AdamSettings = OptimizerSettings<AdamOptimizer>;

/**
 * The Adam family's single-tensor update. State per parameter, as PyTorch's state dict names it:
 * `<param>.step` (float32 scalar), `<param>.exp_avg`, `<param>.exp_avg_sq` and, with amsgrad,
 * `<param>.max_exp_avg_sq`. Hyperparameter inputs: `lr` and `beta1` (so a one-cycle schedule can
 * cycle it); β₂, eps and the weight decay are constants. Bias corrections and the step size are
 * computed in float64 as PyTorch computes them in Python floats.
 */
function lowerAdamFamily(decoupled: boolean) {
  return (opt: AdamSettings, ctx: OptimizerContext): Value[] => {
    const { b } = ctx;
    const lr = f64(b, ctx.hyper("lr", opt.lr));
    const beta1 = ctx.hyper("beta1", opt.betas[0]);
    const beta1d = f64(b, beta1);
    const oneMinusBeta1 = f32(b, oneMinus(b, beta1d));
    const beta2 = opt.betas[1];
    const decay = decoupled && opt.weightDecay !== 0
      ? f32(b, oneMinus(b, b.op1("Mul", [lr, b.scalar(opt.weightDecay, "float64")])))
      : null;
    return ctx.params.map((p) => {
      const { name, shape } = p.spec;
      const t = f64(b, stepCount(ctx, p));
      // AdamW: param.mul_(1 − lr·weight_decay) before the moments.
      const value = decay ? b.op1("Mul", [p.value, decay]) : p.value;
      const g = directedGrad(b, p, {
        maximize: opt.maximize,
        weightDecay: decoupled ? 0 : opt.weightDecay,
      });
      const m = ctx.state(
        `${name}.exp_avg`,
        shape,
        (prev) => b.op1("Add", [b.op1("Mul", [prev, beta1]), b.op1("Mul", [g, oneMinusBeta1])]),
      );
      const v = ctx.state(
        `${name}.exp_avg_sq`,
        shape,
        (prev) => b.op1("Add", [scale(b, prev, beta2), b.op1("Mul", [scale(b, g, 1 - beta2), g])]),
      );
      const vUsed = opt.amsgrad
        ? ctx.state(`${name}.max_exp_avg_sq`, shape, (prev) => b.op1("Max", [prev, v]))
        : v;
      const bc1 = oneMinus(b, b.op1("Pow", [beta1d, t]));
      const bc2 = oneMinus(b, b.op1("Pow", [b.scalar(beta2, "float64"), t]));
      const stepSize = f32(b, b.op1("Div", [lr, bc1]));
      const bc2Sqrt = f32(b, b.op1("Sqrt", [bc2]));
      const denom = b.op1("Add", [
        b.op1("Div", [b.op1("Sqrt", [vUsed]), bc2Sqrt]),
        b.scalar(opt.eps),
      ]);
      return b.op1("Sub", [value, b.op1("Mul", [b.op1("Div", [m, denom]), stepSize])]);
    });
  };
}

/** Emits `torch.optim.Adam`'s update: L2 weight decay added to the gradient. */
export const lowerAdam: OptimizerLowering<AdamOptimizer> = lowerAdamFamily(false);

/** Emits `torch.optim.AdamW`'s update: decoupled weight decay `p ← p·(1 − lr·weightDecay)`. */
export const lowerAdamW: OptimizerLowering<AdamWOptimizer> = lowerAdamFamily(true);
