/**
 * A small residual network for FashionMNIST, built with the functional form (`module`): a stem,
 * two stages of basic blocks with identity and projection shortcuts, global average pooling and a
 * linear classifier. Parameter names follow torchvision's ResNet (`layer2.0.downsample.0.weight`).
 *
 *     deno run -P pipelines/fmnist_resnet.ts [--data-dir ROOT] [--epochs N] [--export model.onnx]
 * @module
 */
import {
  adam,
  adaptiveAvgPool2d,
  add,
  batchNorm2d,
  conv2d,
  crossEntropy,
  fashionMnist,
  flatten,
  type Layer,
  linear,
  module,
  pipeline,
  relu,
  runCli,
  sequential,
} from "../mod.ts";

const act = relu();

/** torchvision's BasicBlock: two 3×3 convolutions with batch norm, and a shortcut. */
export function basicBlock(inChannels: number, channels: number, stride = 1): Layer {
  const body = {
    conv1: conv2d(inChannels, channels, 3, { stride, padding: 1, bias: false }),
    bn1: batchNorm2d(channels),
    conv2: conv2d(channels, channels, 3, { padding: 1, bias: false }),
    bn2: batchNorm2d(channels),
  };
  if (stride === 1 && inChannels === channels) {
    return module(body, (x, m) => act(add(m.bn2(m.conv2(act(m.bn1(m.conv1(x))))), x)));
  }
  const downsample = sequential(
    conv2d(inChannels, channels, 1, { stride, bias: false }),
    batchNorm2d(channels),
  );
  return module(
    { ...body, downsample },
    (x, m) => act(add(m.bn2(m.conv2(act(m.bn1(m.conv1(x))))), m.downsample(x))),
  );
}

/** The residual network. */
export const resnet = module(
  {
    conv1: conv2d(1, 16, 3, { padding: 1, bias: false }),
    bn1: batchNorm2d(16),
    layer1: sequential(basicBlock(16, 16), basicBlock(16, 16)),
    layer2: sequential(basicBlock(16, 32, 2), basicBlock(32, 32)),
    avgpool: adaptiveAvgPool2d(1),
    fc: linear(32, 10),
  },
  (x, m) => m.fc(flatten()(m.avgpool(m.layer2(m.layer1(act(m.bn1(m.conv1(x)))))))),
);

/** The residual-network pipeline. */
export const fmnistResnet = pipeline()
  .data(fashionMnist({ root: "data" }), { batchSize: 64 })
  .model(resnet)
  .loss(crossEntropy())
  .optimizer(adam({ lr: 1e-3 }))
  .epochs(10);

if (import.meta.main) await runCli(fmnistResnet);
