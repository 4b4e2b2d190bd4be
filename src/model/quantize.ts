import { keccak256, toUtf8Bytes } from "ethers";

import { FixedPointRangeError, ModelFormatError } from "../errors.js";
import {
  inSignedRange,
  roundHalfAway,
  signedRange,
  type QLayer,
  type QuantizedModel,
} from "../runtime/fixed.js";
import { outputLength, type ModelFile, type QuantizationParams } from "./schema.js";

/**
 * Quantizer: float model → fixed-point integers (docs/protocol.md). Activations are at
 * scale 2^fracBits. Each dense layer takes the finest weight scale 2^wf (wf ≤ fracBits)
 * at which all its weights fit in signed weightBits bits; its biases are at 2^(fracBits+wf),
 * the scale of a product, and it rescales by 2^wf. Rounding is half away from zero.
 */
export function quantizeModel(
  model: ModelFile,
  params: QuantizationParams = model.quantization,
): QuantizedModel {
  const { fracBits, valueBits } = params;
  const weights = params.weights ?? "public";
  const weightBits = params.weightBits ?? (weights === "private" ? Math.min(8, valueBits) : valueBits);
  const inputBits = params.inputBits ?? valueBits;
  if (weights === "private") {
    const conv = model.layers.findIndex((l) => l.type === "conv2d");
    if (conv >= 0)
      throw new ModelFormatError(
        `model ${model.name}: layer ${conv} is a conv2d layer; private weights are supported for dense layers only`,
        'use quantization.weights "public" for a convolutional model, or a dense model for private weights',
      );
  }
  const layers: QLayer[] = model.layers.map((layer, li): QLayer => {
    switch (layer.type) {
      case "dense": {
        const wf = weightFracBitsFor(layer.weights, fracBits, weightBits, li);
        return {
          type: "dense",
          weightFracBits: wf,
          weights: layer.weights.map((row) => row.map((w) => roundHalfAway(w * 2 ** wf))),
          bias: layer.bias.map((b) => roundHalfAway(b * 2 ** (fracBits + wf))),
        };
      }
      case "conv2d": {
        // one weight scale for the whole layer, as for dense: every output shares one rescale
        const wf = weightFracBitsFor(
          layer.weights.map((oc) => oc.flat(2)),
          fracBits,
          weightBits,
          li,
        );
        return {
          type: "conv2d",
          weightFracBits: wf,
          weights: layer.weights.map((oc) =>
            oc.map((ic) => ic.map((row) => row.map((w) => roundHalfAway(w * 2 ** wf)))),
          ),
          bias: layer.bias.map((b) => roundHalfAway(b * 2 ** (fracBits + wf))),
          ...(layer.strides ? { strides: layer.strides } : {}),
          ...(layer.pads ? { pads: layer.pads } : {}),
        };
      }
      default:
        // maxpool, avgpool, add carry their geometry; the element-wise layers nothing
        return { ...layer };
    }
  });
  return {
    name: model.name,
    inputLength: model.inputLength,
    ...(model.inputShape ? { inputShape: model.inputShape } : {}),
    outputLength: outputLength(model),
    fracBits,
    valueBits,
    inputBits,
    weightBits,
    weights,
    layers,
  };
}

/** The largest wf ≤ fracBits at which every weight of a layer fits signed weightBits bits. */
function weightFracBitsFor(weights: number[][], fracBits: number, weightBits: number, li: number): number {
  const misfit = (wf: number): [number, number] | undefined => {
    for (let o = 0; o < weights.length; o++)
      for (let i = 0; i < weights[o].length; i++)
        if (!inSignedRange(roundHalfAway(weights[o][i] * 2 ** wf), weightBits)) return [o, i];
    return undefined;
  };
  for (let wf = fracBits; wf >= 1; wf--) if (!misfit(wf)) return wf;
  const [o, i] = misfit(1)!;
  const { max } = signedRange(weightBits);
  throw new FixedPointRangeError(
    `weight layers[${li}].weights[${o}][${i}] = ${weights[o][i]} does not fit in signed ${weightBits} bits even at scale 2^1 (±${max})`,
    "raise quantization.weightBits (or valueBits), or retrain with weight decay",
  );
}

/** Real-valued input → fixed-point integers, range-checked. */
export function quantizeInput(
  model: Pick<QuantizedModel, "fracBits" | "inputBits">,
  x: readonly number[],
): bigint[] {
  return x.map((v, i) => {
    const q = roundHalfAway(v * 2 ** model.fracBits);
    if (!inSignedRange(q, model.inputBits))
      throw new FixedPointRangeError(
        `input[${i}] = ${v} quantizes to ${q}, outside the signed ${model.inputBits}-bit range`,
      );
    return q;
  });
}

/** Fixed-point integer → real value. */
export function dequantize(v: bigint, fracBits: number): number {
  return Number(v) / 2 ** fracBits;
}

/** Canonical JSON of a quantized model: the text its commitment hashes. */
export function canonicalModelJson(model: QuantizedModel): string {
  return JSON.stringify({
    format: "sibyl-quantized/1",
    name: model.name,
    inputLength: model.inputLength,
    outputLength: model.outputLength,
    fracBits: model.fracBits,
    valueBits: model.valueBits,
    inputBits: model.inputBits,
    weightBits: model.weightBits,
    weights: model.weights,
    ...(model.inputShape ? { inputShape: model.inputShape } : {}),
    // Private weights stay out of the hash (the registered Poseidon commitment binds them).
    layers: model.layers.map((l) => {
      switch (l.type) {
        case "dense":
          return model.weights === "private"
            ? {
                type: l.type,
                weightFracBits: l.weightFracBits,
                in: l.weights[0].length,
                out: l.weights.length,
              }
            : {
                type: l.type,
                weightFracBits: l.weightFracBits,
                weights: l.weights.map((r) => r.map(String)),
                bias: l.bias.map(String),
              };
        case "conv2d":
          return {
            type: l.type,
            weightFracBits: l.weightFracBits,
            weights: l.weights.map((oc) => oc.map((ic) => ic.map((r) => r.map(String)))),
            bias: l.bias.map(String),
            strides: l.strides ?? [1, 1],
            pads: l.pads ?? [0, 0, 0, 0],
          };
        case "maxpool":
        case "avgpool":
          return {
            type: l.type,
            kernel: l.kernel,
            strides: l.strides ?? [1, 1],
            pads: l.pads ?? [0, 0, 0, 0],
            ...(l.type === "avgpool" ? { countIncludePad: l.countIncludePad ?? false } : {}),
          };
        case "add":
          return { type: l.type, from: l.from };
        default:
          return { type: l.type };
      }
    }),
  });
}

/**
 * The model hash registered on-chain: keccak256 of the canonical JSON — with public weights a
 * commitment to the weights themselves, with private weights to the architecture and scales.
 */
export function modelHash(model: QuantizedModel): string {
  return keccak256(toUtf8Bytes(canonicalModelJson(model)));
}
