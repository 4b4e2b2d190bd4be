import { keccak256, toUtf8Bytes } from "ethers";

import { FixedPointRangeError } from "../errors";
import {
  inSignedRange,
  roundHalfAway,
  signedRange,
  type QLayer,
  type QuantizedModel,
} from "../runtime/fixed";
import { outputLength, type ModelFile, type QuantizationParams } from "./schema";

/**
 * Quantizer: float model → fixed-point integers. Weights at scale 2^f, biases at 2^(2f)
 * (the scale of a product), rounding half away from zero (docs/protocol.md).
 */
export function quantizeModel(
  model: ModelFile,
  params: QuantizationParams = model.quantization,
): QuantizedModel {
  const { fracBits, valueBits } = params;
  const scale = 2 ** fracBits;
  const layers: QLayer[] = model.layers.map((layer, li) => {
    if (layer.type !== "dense") return { type: layer.type };
    const weights = layer.weights.map((row, o) =>
      row.map((w, i) => {
        const q = roundHalfAway(w * scale);
        if (!inSignedRange(q, valueBits)) {
          const { max } = signedRange(valueBits);
          throw new FixedPointRangeError(
            `weight layers[${li}].weights[${o}][${i}] = ${w} quantizes to ${q}, beyond ±${max} (signed ${valueBits} bits)`,
            "choose a smaller fracBits or a larger valueBits",
          );
        }
        return q;
      }),
    );
    const bias = layer.bias.map((b) => roundHalfAway(b * scale * scale));
    return { type: "dense", weights, bias };
  });
  return {
    name: model.name,
    inputLength: model.inputLength,
    outputLength: outputLength(model),
    fracBits,
    valueBits,
    layers,
  };
}

/** Real-valued input → fixed-point integers, range-checked. */
export function quantizeInput(
  model: Pick<QuantizedModel, "fracBits" | "valueBits">,
  x: readonly number[],
): bigint[] {
  return x.map((v, i) => {
    const q = roundHalfAway(v * 2 ** model.fracBits);
    if (!inSignedRange(q, model.valueBits))
      throw new FixedPointRangeError(
        `input[${i}] = ${v} quantizes to ${q}, outside the signed ${model.valueBits}-bit range`,
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
    layers: model.layers.map((l) =>
      l.type === "dense"
        ? { type: l.type, weights: l.weights.map((r) => r.map(String)), bias: l.bias.map(String) }
        : { type: l.type },
    ),
  });
}

/** The model commitment registered on-chain (public weights): keccak256 of the canonical JSON. */
export function modelHash(model: QuantizedModel): string {
  return keccak256(toUtf8Bytes(canonicalModelJson(model)));
}
