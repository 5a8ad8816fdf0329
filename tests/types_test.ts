// Type-level tests: `deno check` (and `deno test`, which type-checks first) fails if any
// `@ts-expect-error` line below compiles, i.e. if an incomplete pipeline could be run.
import { crossEntropy, fashionMnist, flatten, linear, pipeline, sequential, sgd } from "../mod.ts";
import { assert } from "./_assert.ts";

const data = fashionMnist({ root: "data", download: false });
const model = sequential(flatten(), linear(784, 10));

Deno.test("running or compiling an incomplete pipeline is a type error", () => {
  const noData = pipeline().model(model).loss(crossEntropy()).optimizer(sgd({ lr: 0.1 }));
  const noModel = pipeline().data(data).loss(crossEntropy()).optimizer(sgd({ lr: 0.1 }));
  const noLoss = pipeline().data(data).model(model).optimizer(sgd({ lr: 0.1 }));
  const noOptimizer = pipeline().data(data).model(model).loss(crossEntropy());
  const complete = noOptimizer.optimizer(sgd({ lr: 0.1 }));

  // @ts-expect-error: no data
  assert.throws(() => noData.compile(), /Cannot run pipeline: it has no data/);
  // @ts-expect-error: no model
  assert.throws(() => noModel.compile(), /Cannot run pipeline: it has no model/);
  // @ts-expect-error: no loss
  assert.throws(() => noLoss.compile(), /Cannot run pipeline: it has no loss/);
  // @ts-expect-error: no optimizer
  assert.throws(() => noOptimizer.compile(), /Cannot run pipeline: it has no optimizer/);
  // @ts-expect-error: nothing set
  assert.throws(() => pipeline().run(), /no data, model, loss, optimizer/);

  // Complete, in any order: compiles and type-checks.
  assert.equal(complete.compile().params.length, 2);
  const reordered = pipeline().optimizer(sgd({ lr: 0.1 })).loss(crossEntropy()).model(model).data(
    data,
  );
  assert.equal(reordered.epochs(2).compile().params.length, 2);
});

Deno.test("builders are immutable: each call returns a new builder", () => {
  const a = pipeline().data(data);
  const b = a.epochs(3);
  assert.notEqual(a, b);
  assert.equal(a.props.epochs, 10);
  assert.equal(b.props.epochs, 3);
  assert.ok(Object.isFrozen(a) && Object.isFrozen(a.props) && Object.isFrozen(model));
  assert.throws(() => a.epochs(0), /epochs must be a positive integer, got 0/);
});
