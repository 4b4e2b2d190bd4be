import {
  convKernel,
  layerOutputShape,
  NO_PADS,
  type Shape,
  UNIT_STRIDES,
  windowOf,
  type Window,
  windowTaps,
} from "../runtime/shapes.js";
import type { Conv2dLayer, AvgPoolLayer, MaxPoolLayer, ModelFile } from "./schema.js";

/** Floating-point reference forward pass of a model file (for accuracy reports). */
export function runFloat(model: ModelFile, input: readonly number[]): number[] {
  const trace = runFloatTrace(model, input);
  return trace[trace.length - 1];
}

/** The float output of every layer, in order (calibration looks at their ranges). */
export function runFloatTrace(model: ModelFile, input: readonly number[]): number[][] {
  const inShape: Shape = model.inputShape ?? [model.inputLength];
  const trace: number[][] = [];
  const shapes: Shape[] = [];
  let shape = inShape;
  let x = [...input];
  for (const layer of model.layers) {
    const next = layerOutputShape(layer, shape, shapes, inShape) as Shape;
    switch (layer.type) {
      case "dense":
        x = layer.weights.map((row, o) => row.reduce((s, w, i) => s + w * x[i], layer.bias[o]));
        break;
      case "conv2d":
        x = conv2d(layer, geometry(layer, shape), x);
        break;
      case "maxpool":
      case "avgpool":
        x = pool(layer, geometry(layer, shape), x);
        break;
      case "globalavgpool": {
        const area = shape[1] * shape[2];
        x = Array.from({ length: shape[0] }, (_, c) => mean(x.slice(c * area, (c + 1) * area)));
        break;
      }
      case "add": {
        const other = layer.from === -1 ? input : trace[layer.from];
        x = x.map((v, o) => v + other[o]);
        break;
      }
      case "relu":
        x = x.map((v) => Math.max(0, v));
        break;
      case "sigmoid":
        x = x.map((v) => 1 / (1 + Math.exp(-v)));
        break;
      case "tanh":
        x = x.map(Math.tanh);
        break;
      case "argmax":
        x = [x.reduce((best, v, i) => (v > x[best] ? i : best), 0)];
        break;
    }
    shapes.push(next);
    shape = next;
    trace.push(x);
  }
  return trace;
}

function geometry(layer: Conv2dLayer | MaxPoolLayer | AvgPoolLayer, inShape: Shape): Window {
  const kernel = layer.type === "conv2d" ? convKernel(layer.weights) : layer.kernel;
  return windowOf(inShape, kernel, layer.strides ?? UNIT_STRIDES, layer.pads ?? NO_PADS) as Window;
}

function conv2d(layer: Conv2dLayer, g: Window, x: readonly number[]): number[] {
  const [inC, h, w] = g.inShape;
  const out: number[] = [];
  for (let oc = 0; oc < layer.weights.length; oc++)
    for (let oy = 0; oy < g.outH; oy++)
      for (let ox = 0; ox < g.outW; ox++) {
        let acc = layer.bias[oc];
        for (const { ky, kx, at } of windowTaps(g, oy, ox))
          for (let ic = 0; ic < inC; ic++) acc += layer.weights[oc][ic][ky][kx] * x[ic * h * w + at];
        out.push(acc);
      }
  return out;
}

function pool(layer: MaxPoolLayer | AvgPoolLayer, g: Window, x: readonly number[]): number[] {
  const [c, h, w] = g.inShape;
  const out: number[] = [];
  for (let ch = 0; ch < c; ch++)
    for (let oy = 0; oy < g.outH; oy++)
      for (let ox = 0; ox < g.outW; ox++) {
        const values = windowTaps(g, oy, ox).map(({ at }) => x[ch * h * w + at]);
        if (layer.type === "maxpool") out.push(Math.max(...values));
        else
          out.push(
            values.reduce((s, v) => s + v, 0) /
              (layer.countIncludePad ? g.kernel[0] * g.kernel[1] : values.length),
          );
      }
  return out;
}

function mean(v: readonly number[]): number {
  return v.reduce((s, x) => s + x, 0) / v.length;
}
