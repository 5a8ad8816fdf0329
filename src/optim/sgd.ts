/** SGD as a graph transform: the update is ordinary ops appended to the train graph. @module */
import type { SgdOptimizer } from "../dsl/optimizers.ts";
import { directedGrad, type OptimizerLowering, scale, stepCount } from "./_common.ts";

/**
 * Emits `torch.optim.SGD`'s single-tensor update. With `g` the gradient (negated when
 * maximizing), `g += weightDecay·p`; with momentum (a hyperparameter input, so schedules can
 * cycle it) the buffer `<param>.momentum_buffer` is `momentum·buf + (1 − dampening)·g`, except on
 * the first step, where PyTorch clones `g`. Buffers start at zero, so without dampening the first
 * step gives `g` by itself; with dampening a step counter `<param>.step` marks the first step.
 * Nesterov uses `g + momentum·buf`, else `buf`; then `p ← p − lr·g`.
 */
export const lowerSgd: OptimizerLowering<SgdOptimizer> = (opt, ctx) => {
  const { b } = ctx;
  const lr = ctx.hyper("lr", opt.lr);
  const momentum = opt.momentum !== 0 ? ctx.hyper("momentum", opt.momentum) : null;
  return ctx.params.map((p) => {
    let g = directedGrad(b, p, opt);
    if (momentum) {
      const d = g;
      const first = opt.dampening !== 0 ? b.op1("Equal", [stepCount(ctx, p), b.scalar(1)]) : null;
      const buf = ctx.state(`${p.spec.name}.momentum_buffer`, p.spec.shape, (prev) => {
        const damped = first ? scale(b, d, 1 - opt.dampening) : d;
        const next = b.op1("Add", [b.op1("Mul", [prev, momentum]), damped]);
        return first ? b.op1("Where", [first, d, next]) : next;
      });
      g = opt.nesterov ? b.op1("Add", [d, b.op1("Mul", [buf, momentum])]) : buf;
    }
    return b.op1("Sub", [p.value, b.op1("Mul", [g, lr])]);
  });
};
