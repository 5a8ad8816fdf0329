// The emitted graphs checked by ONNX's own reference tooling: onnx.checker with full_check and
// strict shape inference (Debian's python3-onnx 1.12, which .ci/run installs). Ignored, and
// reported as such, where /usr/bin/python3 has no onnx module.
import { join } from "node:path";
import {
  adam,
  adamW,
  type CompiledModel,
  compileModel,
  crossEntropy,
  emitModel,
  fashionMnist,
  flatten,
  linear,
  relu,
  sequential,
  sgd,
} from "../mod.ts";
import { createTrainer } from "../src/train/trainer.ts";
import { fromOnnx } from "../src/dsl/onnx_model.ts";
import { type Dim, formatShape } from "../src/ir/types.ts";
import { fmnistCnn } from "../pipelines/fmnist_cnn.ts";
import { fmnistResnet } from "../pipelines/fmnist_resnet.ts";
import { cifar10Cnn } from "../pipelines/cifar10.ts";
import { assert } from "./_assert.ts";
import { hasOnnx, onnxCheck } from "./_onnx_checker.ts";

/** Emits a compiled model's three graphs, runs onnx.checker on them, compares output shapes. */
async function check(compiled: CompiledModel): Promise<Record<string, Record<string, Dim[]>>> {
  const trainer = await createTrainer(compiled, { seed: 1 });
  const dir = await Deno.makeTempDir({ prefix: "onnxtrain-checker-" });
  const files = {
    train: join(dir, "train_step.onnx"),
    eval: join(dir, "eval_step.onnx"),
    inference: join(dir, "inference.onnx"),
  };
  await Deno.writeFile(files.train, emitModel(compiled.train));
  await Deno.writeFile(files.eval, emitModel(compiled.eval));
  await Deno.writeFile(files.inference, trainer.exportModel());
  await trainer.release();

  const shapes = await onnxCheck([files.train, files.eval, files.inference]);
  for (const [key, graph] of [["train", compiled.train], ["eval", compiled.eval]] as const) {
    const theirs = shapes[files[key]];
    for (const port of graph.outputs) {
      assert.equal(formatShape(theirs[port.name]), formatShape(port.value.type.shape), port.name);
    }
  }
  return {
    train: shapes[files.train],
    eval: shapes[files.eval],
    inference: shapes[files.inference],
  };
}

const ignore = !(await hasOnnx());

Deno.test({
  name: "onnx.checker accepts the train, eval and inference graphs; its shapes equal ours",
  ignore,
  async fn() {
    const shapes = await check(compileModel({
      data: { sampleShape: [1, 28, 28], classes: 10 },
      model: sequential(flatten(), linear(784, 32), relu(), linear(32, 32), relu(), linear(32, 10)),
      loss: crossEntropy(),
      optimizer: sgd({ lr: 1e-3, momentum: 0.9, weightDecay: 1e-4 }),
    }));
    assert.deepEqual(shapes.inference, { logits: ["N", 10] });
    assert.deepEqual(shapes.train["1.weight.momentum_buffer.next"], [32, 784]);
  },
});

Deno.test({
  name: "onnx.checker accepts the CNN's and the ResNet's graphs (batch norm, dropout, Adam, AdamW)",
  ignore,
  async fn() {
    const cnn = await check(compileModel({
      data: fashionMnist(),
      model: fmnistCnn.props.model!,
      loss: crossEntropy({ labelSmoothing: 0.1 }),
      optimizer: adam({ lr: 1e-3, amsgrad: true }),
    }));
    assert.deepEqual(cnn.inference, { logits: ["N", 10] });
    assert.deepEqual(cnn.train["5.running_var.next"], [32]);
    assert.deepEqual(cnn.train["4.weight.exp_avg_sq.next"], [32, 16, 3, 3]);
    const resnet = await check(compileModel({
      data: fashionMnist(),
      model: fmnistResnet.props.model!,
      loss: crossEntropy(),
      optimizer: adamW({
        lr: 1e-3,
        groups: [{ params: /bn|bias/, weightDecay: 0 }],
        clipGradNorm: 1,
      }),
    }));
    assert.deepEqual(resnet.train["layer2.0.downsample.1.num_batches_tracked.next"], []);
  },
});

Deno.test({
  name: "onnx.checker accepts graphs on raw uint8 images with in-graph crop and flip (CIFAR-10)",
  ignore,
  async fn() {
    const compiled = cifar10Cnn.compile();
    const inputs = (g: typeof compiled.train) =>
      Object.fromEntries(g.inputs.slice(0, 4).map((p) => [p.name, p.value.type.dtype]));
    assert.deepEqual(inputs(compiled.train), {
      input: "uint8",
      augment_rows: "int64",
      augment_cols: "int64",
      target: "int64",
    });
    const shapes = await check(compiled);
    assert.deepEqual(shapes.train["0.weight.exp_avg.next"], [32, 3, 3, 3]);
    assert.deepEqual(shapes.eval.logits, ["N", 10]);
  },
});

Deno.test({
  name:
    "onnx.checker accepts the graphs of imported opset-20 exports (GPT-2, BERT, MobileNet blocks)",
  ignore,
  async fn() {
    const fixtures = new URL("./fixtures/", import.meta.url);
    const ref = JSON.parse(Deno.readTextFileSync(new URL("modern_reference.json", fixtures)));
    for (const name of ["hf_gpt2", "hf_bert", "dyn_mobile", "legacy_train_mode_opset13"]) {
      const r = ref.models[name];
      const shapes = await check(compileModel({
        data: {
          sampleShape: r.sampleShape,
          inputDtype: r.inputDtype,
          classes: r.classes,
          ...(r.sequence ? { labelShape: [r.sampleShape[0]] } : {}),
        },
        model: fromOnnx(new URL(r.file, fixtures).pathname),
        loss: crossEntropy(),
        optimizer: adam({ lr: 1e-3 }),
      }));
      assert.deepEqual(
        shapes.inference.logits,
        ["N", ...(r.sequence ? [r.sampleShape[0]] : []), r.classes],
        name,
      );
    }
  },
});
