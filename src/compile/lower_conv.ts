/**
 * Lowerings of convolution and pooling layers to ONNX Conv, MaxPool, AveragePool and
 * GlobalAveragePool.
 * @module
 */
import type { Conv1dLayer, Conv2dLayer } from "../dsl/conv_layers.ts";
import { CompileError } from "../ir/errors.ts";
import { formatShape, type Value } from "../ir/types.ts";
import { fanInBound } from "./lower_layers.ts";
import { join, type LowerContext, type Lowerings } from "./lowering.ts";

/** Checks `x` is `[N, C, ...spatial]` with `rank` spatial axes and returns the spatial sizes. */
function spatial(x: Value, rank: number, channels?: number): number[] {
  const s = x.type.shape;
  const layout = rank === 1 ? "[N, C, L]" : "[N, C, H, W]";
  if (s.length !== rank + 2 || s.slice(1).some((d) => typeof d !== "number")) {
    throw new CompileError(`expects input of shape ${layout}, got ${formatShape(s)}`);
  }
  if (channels !== undefined && s[1] !== channels) {
    throw new CompileError(
      `expects ${channels} input channels, got ${s[1]} (input shape ${formatShape(s)})`,
    );
  }
  return s.slice(2) as number[];
}

/** ONNX pads `[b1, b2, …, e1, e2, …]` for PyTorch's symmetric per-axis padding or "same". */
function convPads(layer: Conv1dLayer | Conv2dLayer): number[] {
  if (layer.padding !== "same") return [...layer.padding, ...layer.padding];
  // PyTorch's "same": total d·(k − 1), the extra element on the end side.
  const total = layer.kernelSize.map((k, i) => layer.dilation[i] * (k - 1));
  return [...total.map((t) => Math.floor(t / 2)), ...total.map((t) => t - Math.floor(t / 2))];
}

function lowerConv(
  layer: Conv1dLayer | Conv2dLayer,
  x: Value,
  { b, param }: LowerContext,
  path: string,
): Value {
  const rank = layer.kind === "conv1d" ? 1 : 2;
  spatial(x, rank, layer.inChannels);
  const perGroup = layer.inChannels / layer.groups;
  const fanIn = perGroup * layer.kernelSize.reduce((a, k) => a * k, 1);
  const bound = fanInBound(fanIn);
  const w = param(join(path, "weight"), [layer.outChannels, perGroup, ...layer.kernelSize], {
    kind: "uniform",
    bound,
  });
  const bias = layer.bias
    ? param(join(path, "bias"), [layer.outChannels], { kind: "uniform", bound })
    : null;
  return b.op1("Conv", bias ? [x, w, bias] : [x, w], {
    kernel_shape: layer.kernelSize,
    strides: layer.stride,
    pads: convPads(layer),
    dilations: layer.dilation,
    group: layer.groups,
  });
}

/** Convolution and pooling lowerings. */
export const CONV_LOWERINGS: Lowerings<
  "conv1d" | "conv2d" | "max-pool-2d" | "avg-pool-2d" | "adaptive-avg-pool-2d"
> = {
  conv1d: lowerConv,
  conv2d: lowerConv,
  "max-pool-2d": (layer, x, { b, mode }) => {
    spatial(x, 2);
    const attrs = {
      kernel_shape: layer.kernelSize,
      strides: layer.stride,
      pads: [...layer.padding, ...layer.padding],
      dilations: layer.dilation,
    };
    // The train graph keeps the Indices output, which MaxPool's gradient scatters into.
    return b.op("MaxPool", [x], attrs, { outputs: mode === "train" ? 2 : 1 })[0];
  },
  "avg-pool-2d": (layer, x, { b }) => {
    spatial(x, 2);
    return b.op1("AveragePool", [x], {
      kernel_shape: layer.kernelSize,
      strides: layer.stride,
      pads: [...layer.padding, ...layer.padding],
      count_include_pad: layer.countIncludePad ? 1 : 0,
    });
  },
  "adaptive-avg-pool-2d": (layer, x, { b }) => {
    const hw = spatial(x, 2);
    const out = layer.outputSize;
    if (out[0] === 1 && out[1] === 1) return b.op1("GlobalAveragePool", [x]);
    if (hw.some((d, i) => d % out[i] !== 0)) {
      throw new CompileError(
        `supports output sizes that divide the input, got [${out}] for input shape ${
          formatShape(x.type.shape)
        }`,
      );
    }
    const k = hw.map((d, i) => d / out[i]);
    return b.op1("AveragePool", [x], { kernel_shape: k, strides: k });
  },
};
