import { layerOutputShape, layerWindow, mapWindows, type Shape, type Window } from "../runtime/shapes.js";
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
        x = conv2d(layer, layerWindow(layer, shape), x);
        break;
      case "maxpool":
      case "avgpool":
        x = pool(layer, layerWindow(layer, shape), x);
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

function conv2d(layer: Conv2dLayer, g: Window, x: readonly number[]): number[] {
  const inC = g.inShape[0];
  return mapWindows(g, layer.weights.length, (oc, taps, plane) => {
    let acc = layer.bias[oc];
    for (const { ky, kx, at } of taps)
      for (let ic = 0; ic < inC; ic++) acc += layer.weights[oc][ic][ky][kx] * x[ic * plane + at];
    return acc;
  });
}

function pool(layer: MaxPoolLayer | AvgPoolLayer, g: Window, x: readonly number[]): number[] {
  return mapWindows(g, g.inShape[0], (ch, taps, plane) => {
    const values = taps.map(({ at }) => x[ch * plane + at]);
    if (layer.type === "maxpool") return Math.max(...values);
    const sum = values.reduce((s, v) => s + v, 0);
    return sum / (layer.countIncludePad ? g.kernel[0] * g.kernel[1] : values.length);
  });
}

function mean(v: readonly number[]): number {
  return v.reduce((s, x) => s + x, 0) / v.length;
}
