import type { ModelFile } from "./schema.js";

/** Floating-point reference forward pass of a model file (for accuracy reports). */
export function runFloat(model: ModelFile, input: readonly number[]): number[] {
  const trace = runFloatTrace(model, input);
  return trace[trace.length - 1];
}

/** The float output of every layer, in order (calibration looks at their ranges). */
export function runFloatTrace(model: ModelFile, input: readonly number[]): number[][] {
  const trace: number[][] = [];
  let x = [...input];
  for (const layer of model.layers) {
    if (layer.type === "dense")
      x = layer.weights.map((row, o) => row.reduce((s, w, i) => s + w * x[i], layer.bias[o]));
    else if (layer.type === "relu") x = x.map((v) => Math.max(0, v));
    else if (layer.type === "sigmoid") x = x.map((v) => 1 / (1 + Math.exp(-v)));
    else x = [x.reduce((best, v, i) => (v > x[best] ? i : best), 0)];
    trace.push(x);
  }
  return trace;
}
