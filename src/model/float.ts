import type { ModelFile } from "./schema";

/** Floating-point reference forward pass of a model file (for accuracy reports). */
export function runFloat(model: ModelFile, input: readonly number[]): number[] {
  let x = [...input];
  for (const layer of model.layers) {
    if (layer.type === "dense")
      x = layer.weights.map((row, o) => row.reduce((s, w, i) => s + w * x[i], layer.bias[o]));
    else if (layer.type === "relu") x = x.map((v) => Math.max(0, v));
    else x = [x.reduce((best, v, i) => (v > x[best] ? i : best), 0)];
  }
  return x;
}
