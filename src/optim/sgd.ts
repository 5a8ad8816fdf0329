/** SGD as a graph transform: the update is ordinary ops appended to the train graph. @module */
import type { SgdOptimizer } from "../dsl/optimizers.ts";
import type { OptimizerLowering } from "./optimizer.ts";

/**
 * Emits `torch.optim.SGD`'s update (dampening 0, no Nesterov): with `g` the gradient,
 * `g += weightDecay·p`, then with momentum `buf = momentum·buf + g` (buffers start at zero, so the
 * first step gives `buf = g` as PyTorch does), and `p ← p − lr·(momentum ? buf : g)`.
 */
export const lowerSgd: OptimizerLowering<SgdOptimizer> = (opt, { b, params, hyper, state }) => {
  const lr = hyper("lr", opt.lr);
  return params.map(({ spec, value, grad }) => {
    if (!grad) return value;
    let g = grad;
    if (opt.weightDecay) {
      g = b.op1("Add", [g, b.op1("Mul", [value, b.scalar(opt.weightDecay, value.type.dtype)])]);
    }
    if (opt.momentum) {
      const buf = state(
        `${spec.name}.momentum_buffer`,
        spec.shape,
        (prev) => b.op1("Add", [b.op1("Mul", [prev, b.scalar(opt.momentum, value.type.dtype)]), g]),
      );
      g = buf;
    }
    return b.op1("Sub", [value, b.op1("Mul", [g, lr])]);
  });
};
