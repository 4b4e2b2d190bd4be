import type { QuantizedModel } from "../runtime/fixed.js";
import { sigmoidErrorBound } from "../runtime/sigmoid.js";
import { runFloatTrace } from "./float.js";
import type { ModelFile } from "./schema.js";

/**
 * The quantization error bound of docs/protocol.md ("How far the integers are from the
 * float model"): for one input, a bound on |dequantized runtime value − float value| for
 * every output of every layer, propagated layer by layer from the float activations.
 *
 *   input      e = 2^-(f+1)                                   (rounding to the grid)
 *   dense      e'[o] = Σ_i |Ŵ[o][i]|·e[i] + 2^-(w+1)·Σ_i |x[i]| + 2^-(f+w+1) + 2^-f
 *              (Ŵ = the quantized weights at 2^-w, x = the float input of the layer: weight
 *              rounding, bias rounding and the floor of the rescale)
 *   relu       e' = e                                         (1-Lipschitz)
 *   sigmoid    e' = e/4 + 0.01895 + 2^-f                      (σ is 1/4-Lipschitz; sigmoid.ts)
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
  const trace = runFloatTrace(model, input);
  let x: readonly number[] = input;
  let e = input.map(() => 2 ** -(f + 1));
  return quantized.layers.map((layer, li) => {
    switch (layer.type) {
      case "dense": {
        const w = layer.weightFracBits;
        const scale = 2 ** -w;
        const sumAbsX = x.reduce((s, v) => s + Math.abs(v), 0);
        e = layer.weights.map(
          (row) =>
            row.reduce((s, q, i) => s + Math.abs(Number(q) * scale) * e[i], 0) +
            2 ** -(w + 1) * sumAbsX +
            2 ** -(f + w + 1) +
            2 ** -f,
        );
        break;
      }
      case "relu":
        break;
      case "sigmoid":
        e = e.map((v) => v / 4 + sigmoidErrorBound(f));
        break;
      case "argmax":
        return e;
    }
    x = trace[li];
    return e;
  });
}
