import { FixedPointRangeError, InputShapeError } from "../errors.js";
import {
  layerOutputShape,
  layerWindow,
  mapWindows,
  type Pads,
  type Pair,
  type Shape,
  type Window,
} from "./shapes.js";
import { sigmoidFixed, tanhFixed } from "./sigmoid.js";

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
export interface QConv2d {
  type: "conv2d";
  /** as for dense: weights at 2^weightFracBits, the layer rescales by it */
  weightFracBits: number;
  /** weights[outC][inC][kh][kw] at scale 2^weightFracBits */
  weights: bigint[][][][];
  /** bias[outC] at scale 2^(fracBits + weightFracBits) */
  bias: bigint[];
  strides?: Pair;
  pads?: Pads;
}
export interface QPool {
  type: "maxpool" | "avgpool";
  kernel: Pair;
  strides?: Pair;
  pads?: Pads;
  countIncludePad?: boolean;
}
export type QLayer =
  | QDense
  | QConv2d
  | QPool
  | { type: "relu" }
  | { type: "sigmoid" }
  | { type: "tanh" }
  | { type: "globalavgpool" }
  | { type: "add"; from: number }
  | { type: "argmax" };

export interface QuantizedModel {
  name: string;
  inputLength: number;
  /** [channels, height, width] of an image input (absent: a vector of inputLength) */
  inputShape?: number[];
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

/** floor(v / d) for d > 0 (BigInt's `/` truncates towards 0). */
export function floorDiv(v: bigint, d: bigint): bigint {
  const q = v / d;
  return v % d !== 0n && v < 0n ? q - 1n : q;
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
  const inShape: Shape = model.inputShape ?? [model.inputLength];
  let x: bigint[] = [...input];
  let shape = inShape;
  const shapes: Shape[] = [];
  const activations: bigint[][] = [];
  const checked = (li: number, what: string) => (y: bigint, o: number) => {
    if (!inSignedRange(y, model.valueBits))
      throw new FixedPointRangeError(
        `activation overflow in layer ${li} (${what}), ${what === "dense" ? "neuron" : "value"} ${o}: ${y} does not fit in signed ${model.valueBits} bits`,
        "the input is too large for this model's quantization; use smaller inputs, a smaller fracBits or a larger valueBits",
      );
    return y;
  };
  model.layers.forEach((layer, li) => {
    const next = layerOutputShape(layer, shape, shapes, inShape);
    if (typeof next === "string") throw new InputShapeError(`layer ${li}: ${layer.type} ${next}`);
    switch (layer.type) {
      case "dense":
        x = layer.weights
          .map((row, o) => {
            let acc = layer.bias[o];
            for (let i = 0; i < row.length; i++) acc += row[i] * x[i];
            return rescale(acc, layer.weightFracBits);
          })
          .map(checked(li, "dense"));
        break;
      case "conv2d":
        x = conv2d(layer, window(layer, shape), x).map(checked(li, "conv2d"));
        break;
      case "maxpool":
      case "avgpool":
        x = pool(layer, window(layer, shape), x);
        break;
      case "globalavgpool": {
        const area = shape[1] * shape[2];
        x = Array.from({ length: shape[0] }, (_, c) =>
          floorDiv(
            x.slice(c * area, (c + 1) * area).reduce((s, v) => s + v, 0n),
            BigInt(area),
          ),
        );
        break;
      }
      case "add": {
        const other = layer.from === -1 ? input : activations[layer.from];
        x = x.map((v, o) => v + other[o]).map(checked(li, "add"));
        break;
      }
      case "relu":
        x = x.map((v) => (v > 0n ? v : 0n));
        break;
      case "sigmoid":
        x = x.map((v) => sigmoidFixed(v, model.fracBits));
        break;
      case "tanh":
        x = x.map((v) => tanhFixed(v, model.fracBits));
        break;
      case "argmax": {
        let best = 0;
        for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        x = [BigInt(best)];
        break;
      }
    }
    shapes.push(next);
    shape = next;
    activations.push(x);
  });
  return { output: x, activations };
}

/** The geometry of a conv2d or pooling layer on its input (valid: layerOutputShape checked it). */
export function window(layer: QConv2d | QPool, inShape: Shape): Window {
  return layerWindow(layer, inShape);
}

/**
 * out[oc][oy][ox] = floor((bias[oc] + Σ_{ic, ky, kx} w[oc][ic][ky][kx]·x[ic][iy][ix]) / 2^wf) over
 * the taps inside the image (windowTaps): zero padding adds nothing.
 */
function conv2d(layer: QConv2d, g: Window, x: readonly bigint[]): bigint[] {
  const inC = g.inShape[0];
  return mapWindows(g, layer.weights.length, (oc, taps, plane) => {
    let acc = layer.bias[oc];
    for (const { ky, kx, at } of taps)
      for (let ic = 0; ic < inC; ic++) acc += layer.weights[oc][ic][ky][kx] * x[ic * plane + at];
    return rescale(acc, layer.weightFracBits);
  });
}

/**
 * maxpool: the largest value of the taps; avgpool: floor(Σ taps / count), count being the
 * number of taps, or the whole kernel's size with countIncludePad. Per channel.
 */
function pool(layer: QPool, g: Window, x: readonly bigint[]): bigint[] {
  const area = BigInt(g.kernel[0] * g.kernel[1]);
  return mapWindows(g, g.inShape[0], (ch, taps, plane) => {
    const values = taps.map(({ at }) => x[ch * plane + at]);
    if (layer.type === "maxpool") return values.reduce((m, v) => (v > m ? v : m));
    const count = layer.countIncludePad ? area : BigInt(values.length);
    return floorDiv(
      values.reduce((s, v) => s + v, 0n),
      count,
    );
  });
}
