import { FixedPointRangeError } from "../errors.js";
import { runQuantized } from "../runtime/fixed.js";
import { runFloatTrace } from "./float.js";
import { quantizeInput, quantizeModel } from "./quantize.js";
import type { ModelFile, QuantizationParams } from "./schema.js";

/**
 * Calibration: checks a quantization against sample data before anything is compiled.
 * The circuit has no valid witness for an input whose activations leave the signed
 * valueBits range, so a scale that overflows on real data would make the node refuse
 * (or never prove) real requests. This finds the largest safe fracBits for the data and
 * refuses a choice that overflows, saying where and what to choose instead.
 */

export interface Calibration {
  /** the largest |value| per layer output over the samples, in real units */
  maxAbs: number[];
  /** the largest |input| over the samples, in real units */
  maxAbsInput: number;
  /** the largest fracBits at which no sample overflows valueBits/inputBits (with the margin) */
  maxSafeFracBits: number;
  samples: number;
}

/** Headroom kept below the range limits: activations on unseen inputs can exceed the samples'. */
export const CALIBRATION_MARGIN = 2;

export function calibrate(
  model: ModelFile,
  samples: readonly number[][],
  params = model.quantization,
): Calibration {
  const maxAbs: number[] = model.layers.map(() => 0);
  let maxAbsInput = 0;
  for (const x of samples) {
    for (const v of x) maxAbsInput = Math.max(maxAbsInput, Math.abs(v));
    runFloatTrace(model, x).forEach((layer, i) => {
      if (model.layers[i].type === "argmax") return;
      for (const v of layer) maxAbs[i] = Math.max(maxAbs[i], Math.abs(v));
    });
  }
  const inputBits = params.inputBits ?? params.valueBits;
  // largest f with max·2^f·margin < 2^(bits−1)
  const fits = (max: number, bits: number) =>
    max === 0 ? 64 : Math.floor(Math.log2(2 ** (bits - 1) / (max * CALIBRATION_MARGIN)));
  const maxSafeFracBits = Math.min(
    fits(maxAbsInput, inputBits),
    ...maxAbs.map((m) => fits(m, params.valueBits)),
    params.valueBits - 1,
  );
  return { maxAbs, maxAbsInput, maxSafeFracBits, samples: samples.length };
}

/**
 * Refuses a quantization that overflows on the samples: runs the exact integer runtime on
 * each and, on the first overflow, explains where and which fracBits would fit.
 */
export function checkQuantization(
  model: ModelFile,
  samples: readonly number[][],
  params: QuantizationParams = model.quantization,
): Calibration {
  const cal = calibrate(model, samples, params);
  const q = quantizeModel(model, params);
  samples.forEach((x, k) => {
    try {
      runQuantized(q, quantizeInput(q, x));
    } catch (e) {
      if (!(e instanceof FixedPointRangeError)) throw e;
      throw new FixedPointRangeError(
        `fracBits ${params.fracBits} overflows the circuit's ranges on sample ${k}: ${e.message.split("\n")[0]}`,
        cal.maxSafeFracBits >= 1
          ? `the largest fracBits that fits these ${samples.length} samples with ${CALIBRATION_MARGIN}× headroom is ${cal.maxSafeFracBits}; or raise valueBits/inputBits`
          : "raise valueBits/inputBits: even fracBits 1 overflows",
      );
    }
  });
  return cal;
}
