import { type QuantizedModel, window } from "../runtime/fixed.js";
import { sigmoidErrorBound, tanhErrorBound } from "../runtime/sigmoid.js";
import { runFloatTrace } from "./float.js";
import { modelShapes, type ModelFile } from "./schema.js";
import { mapWindows, type Shape } from "../runtime/shapes.js";

/**
 * The quantization error bound of docs/protocol.md ("How far the integers are from the
 * float model"): for one input, a bound on |dequantized runtime value − float value| for
 * every output of every layer, propagated layer by layer from the float activations.
 *
 *   input      e = 2^-(f+1)                                   (rounding to the grid)
 *   dense      e'[o] = Σ_i |Ŵ[o][i]|·e[i] + 2^-(w+1)·Σ_i |x[i]| + 2^-(f+w+1) + 2^-f
 *              (Ŵ = the quantized weights at 2^-w, x = the float input of the layer: weight
 *              rounding, bias rounding and the floor of the rescale)
 *   conv2d     the dense bound per output, the sums running over the window's taps and the
 *              input channels (padding adds nothing, exactly in both)
 *   maxpool    e'[o] = max of e over the window (the maximum is 1-Lipschitz in each value)
 *   avgpool    e'[o] = Σ_window e / count + 2^-f              (count: the divisor, the taps
 *              or the kernel's size; 2^-f for the floor of the division)
 *   globalavgpool  e'[c] = mean of e over the channel + 2^-f
 *   add        e'[o] = e[o] + e_from[o]                       (the other operand's bound)
 *   relu       e' = e                                         (1-Lipschitz)
 *   sigmoid    e' = e/4 + 0.01895 + 2^-f                      (σ is 1/4-Lipschitz; sigmoid.ts)
 *   tanh       e' = e + 2·(0.01895 + 2^-f)                    (tanh is 1-Lipschitz; tanhErrorBound)
 *   argmax     none: the index agrees with the float one whenever the float maximum
 *              leads every other value v by more than e[max] + e[v]
 *
 * The entry for an argmax layer is the bound on its input, so that margin can be checked.
 * Valid only when no activation overflows (the runtime refuses such inputs anyway).
 */
export function quantizationErrorBounds(
  model: ModelFile,
  quantized: QuantizedModel,
  input: readonly number[],
): number[][] {
  const f = quantized.fracBits;
  const unit = 2 ** -f;
  const trace = runFloatTrace(model, input);
  const shapes = modelShapes(model);
  const inputError = input.map(() => 2 ** -(f + 1));
  const errors: number[][] = [];
  let shape: Shape = model.inputShape ?? [model.inputLength];
  let x: readonly number[] = input;
  let e: number[] = inputError;
  quantized.layers.forEach((layer, li) => {
    switch (layer.type) {
      case "dense": {
        const w = layer.weightFracBits;
        const scale = 2 ** -w;
        const sumAbsX = x.reduce((s, v) => s + Math.abs(v), 0);
        const prev = e;
        e = layer.weights.map(
          (row) =>
            row.reduce((s, q, i) => s + Math.abs(Number(q) * scale) * prev[i], 0) +
            2 ** -(w + 1) * sumAbsX +
            2 ** -(f + w + 1) +
            unit,
        );
        break;
      }
      case "conv2d": {
        const w = layer.weightFracBits;
        const scale = 2 ** -w;
        const g = window(layer, shape);
        const inC = g.inShape[0];
        const prev = e;
        e = mapWindows(g, layer.weights.length, (oc, taps, plane) => {
          let propagated = 0;
          let sumAbsX = 0;
          for (const { ky, kx, at } of taps)
            for (let ic = 0; ic < inC; ic++) {
              propagated += Math.abs(Number(layer.weights[oc][ic][ky][kx]) * scale) * prev[ic * plane + at];
              sumAbsX += Math.abs(x[ic * plane + at]);
            }
          return propagated + 2 ** -(w + 1) * sumAbsX + 2 ** -(f + w + 1) + unit;
        });
        break;
      }
      case "maxpool":
      case "avgpool": {
        const g = window(layer, shape);
        const area = g.kernel[0] * g.kernel[1];
        const prev = e;
        e = mapWindows(g, g.inShape[0], (ch, taps, plane) => {
          const errs = taps.map(({ at }) => prev[ch * plane + at]);
          if (layer.type === "maxpool") return Math.max(...errs);
          return errs.reduce((s, v) => s + v, 0) / (layer.countIncludePad ? area : errs.length) + unit;
        });
        break;
      }
      case "globalavgpool": {
        const area = shape[1] * shape[2];
        e = Array.from(
          { length: shape[0] },
          (_, c) => e.slice(c * area, (c + 1) * area).reduce((s, v) => s + v, 0) / area + unit,
        );
        break;
      }
      case "add": {
        const other = layer.from === -1 ? inputError : errors[layer.from];
        e = e.map((v, o) => v + other[o]);
        break;
      }
      case "relu":
        break;
      case "sigmoid":
        e = e.map((v) => v / 4 + sigmoidErrorBound(f));
        break;
      case "tanh":
        e = e.map((v) => v + tanhErrorBound(f));
        break;
      case "argmax":
        break;
    }
    errors.push(e);
    x = trace[li];
    shape = shapes[li];
  });
  return errors;
}
