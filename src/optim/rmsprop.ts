/** RMSprop as a graph transform (`torch.optim.RMSprop`). @module */
import type { RmspropOptimizer } from "../dsl/optimizers.ts";
import { directedGrad, type OptimizerLowering, scale } from "./_common.ts";

/**
 * Emits `torch.optim.RMSprop`'s single-tensor update. State: `<param>.square_avg`, with
 * `centered` `<param>.grad_avg`, with momentum `<param>.momentum_buffer` (PyTorch's names; the
 * update does not use PyTorch's step count, so none is carried). Hyperparameter inputs: `lr`, and
 * `momentum` when it is not 0.
 */
export const lowerRmsprop: OptimizerLowering<RmspropOptimizer> = (opt, ctx) => {
  const { b } = ctx;
  const lr = ctx.hyper("lr", opt.lr);
  const momentum = opt.momentum > 0 ? ctx.hyper("momentum", opt.momentum) : null;
  const a = opt.alpha;
  return ctx.params.map((p) => {
    const { name, shape } = p.spec;
    const g = directedGrad(b, p, opt);
    const sq = ctx.state(
      `${name}.square_avg`,
      shape,
      (prev) => b.op1("Add", [scale(b, prev, a), b.op1("Mul", [scale(b, g, 1 - a), g])]),
    );
    let avg: typeof g;
    if (opt.centered) {
      const ga = ctx.state(
        `${name}.grad_avg`,
        shape,
        (prev) => b.op1("Add", [scale(b, prev, a), scale(b, g, 1 - a)]),
      );
      avg = b.op1("Sqrt", [b.op1("Sub", [sq, b.op1("Mul", [ga, ga])])]);
    } else {
      avg = b.op1("Sqrt", [sq]);
    }
    avg = b.op1("Add", [avg, b.scalar(opt.eps)]);
    if (momentum) {
      const buf = ctx.state(
        `${name}.momentum_buffer`,
        shape,
        (prev) => b.op1("Add", [b.op1("Mul", [prev, momentum]), b.op1("Div", [g, avg])]),
      );
      return b.op1("Sub", [p.value, b.op1("Mul", [buf, lr])]);
    }
    return b.op1("Sub", [p.value, b.op1("Mul", [b.op1("Div", [g, avg]), lr])]);
  });
};
