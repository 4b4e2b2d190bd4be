import { FixedPointRangeError, InputShapeError } from "../errors.js";
import { sigmoidFixed } from "./sigmoid.js";

/**
 * Fixed-point integer runtime: the single source of truth for what a model computes.
 * Every value is an exact BigInt; the circuit computes the very same integers
 * (docs/protocol.md). No float appears between a quantized input and a proof.
 */

export interface QDense {
  type: "dense";
  /** the layer's weight scale: weights are at 2^weightFracBits, and the layer rescales by it */
  weightFracBits: number;
  /** weights[out][in] at scale 2^weightFracBits */
  weights: bigint[][];
  /** bias[out] at scale 2^(fracBits + weightFracBits), the scale of a product */
  bias: bigint[];
}
export type QLayer = QDense | { type: "relu" } | { type: "sigmoid" } | { type: "argmax" };

export interface QuantizedModel {
  name: string;
  inputLength: number;
  outputLength: number;
  fracBits: number;
  valueBits: number;
  /** inputs are signed inputBits-bit integers (≤ valueBits) */
  inputBits: number;
  /** quantized weights are signed weightBits-bit integers */
  weightBits: number;
  weights: "public" | "private";
  layers: QLayer[];
}

/** The inclusive range of a signed `bits`-bit integer. */
export function signedRange(bits: number): { min: bigint; max: bigint } {
  const half = 1n << BigInt(bits - 1);
  return { min: -half, max: half - 1n };
}

export function inSignedRange(v: bigint, bits: number): boolean {
  const { min, max } = signedRange(bits);
  return v >= min && v <= max;
}

/** round(x) with halves away from zero, as an exact BigInt. */
export function roundHalfAway(x: number): bigint {
  if (!Number.isFinite(x)) throw new FixedPointRangeError(`cannot quantize ${x}`);
  // Math.round rounds halves up and is exact for every double (unlike floor(|x| + 0.5),
  // which rounds 0.49999999999999994 and 2^52 + 1 wrongly); on |x| that is half away from 0.
  const r = Math.sign(x) * Math.round(Math.abs(x));
  return BigInt(r);
}

/** floor(v / 2^f): BigInt's `>>` is an arithmetic shift, i.e. floor towards −∞. */
export function rescale(v: bigint, fracBits: number): bigint {
  return v >> BigInt(fracBits);
}

/** Checks an input vector's shape and range, naming the first offending index. */
export function checkInput(model: QuantizedModel, input: readonly bigint[]): void {
  if (input.length !== model.inputLength)
    throw new InputShapeError(
      `model ${model.name} takes ${model.inputLength} inputs, got ${input.length}`,
      "pass one fixed-point value per input feature",
    );
  input.forEach((v, i) => {
    if (typeof v !== "bigint") throw new InputShapeError(`input[${i}] is not an integer (got ${String(v)})`);
    if (!inSignedRange(v, model.inputBits)) {
      const { min, max } = signedRange(model.inputBits);
      throw new FixedPointRangeError(
        `input[${i}] = ${v} is outside the signed ${model.inputBits}-bit range [${min}, ${max}]`,
        `inputs are fixed-point at scale 2^${model.fracBits}; scale the real value by ${2 ** model.fracBits}`,
      );
    }
  });
}

export interface RunResult {
  output: bigint[];
  /** the output of every layer, in order (the circuit's intermediate signals) */
  activations: bigint[][];
}

/** Runs a quantized model on a fixed-point input, exactly as the circuit does. */
export function runQuantized(model: QuantizedModel, input: readonly bigint[]): RunResult {
  checkInput(model, input);
  let x: bigint[] = [...input];
  const activations: bigint[][] = [];
  model.layers.forEach((layer, li) => {
    switch (layer.type) {
      case "dense":
        x = layer.weights.map((row, o) => {
          let acc = layer.bias[o];
          for (let i = 0; i < row.length; i++) acc += row[i] * x[i];
          const y = rescale(acc, layer.weightFracBits);
          if (!inSignedRange(y, model.valueBits))
            throw new FixedPointRangeError(
              `activation overflow in layer ${li} (dense), neuron ${o}: ${y} does not fit in signed ${model.valueBits} bits`,
              "the input is too large for this model's quantization; use smaller inputs, a smaller fracBits or a larger valueBits",
            );
          return y;
        });
        break;
      case "relu":
        x = x.map((v) => (v > 0n ? v : 0n));
        break;
      case "sigmoid":
        x = x.map((v) => sigmoidFixed(v, model.fracBits));
        break;
      case "argmax": {
        let best = 0;
        for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        x = [BigInt(best)];
        break;
      }
    }
    activations.push(x);
  });
  return { output: x, activations };
}
