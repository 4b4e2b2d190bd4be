import { randomBytes } from "node:crypto";
import { poseidon16 } from "poseidon-lite";

import { toField } from "./field.js";
import { pack } from "./packing.js";
import { FixedPointRangeError } from "../errors.js";
import { inSignedRange, type QDense, type QuantizedModel } from "../runtime/fixed.js";

/**
 * The weight commitment of a private-weights model (docs/protocol.md, "Private weights"):
 * exactly the field element circuits/lib/commitment.circom's WeightCommitment computes.
 *
 *   elements   = [salt, Pack(weights, weightBits)..., biases...]
 *   h_0 = 0,   h_{j+1} = Poseidon16([h_j, elements[15j .. 15j+14]])  (last chunk zero-padded)
 *   commitment = h_last
 *
 * `weights` are all dense layers' weights, layer by layer, each row-major [out][in];
 * `biases` are all dense layers' biases, layer by layer. `privateWeightLayout` fixes that
 * order for the commitment, the circuit generator and the circuit inputs alike.
 */

/** What a node needs, besides the model, to prove with private weights. */
export interface WeightSecrets {
  /** the secret salt hashed in front of the weights (never published) */
  salt: bigint;
  /** the registered commitment, a public signal of every proof */
  commitment: bigint;
}

/** Where one dense layer's weights and biases sit in the committed vectors. */
export interface PrivateLayerSlot {
  /** the layer's index in `model.layers` (its circuit inputs are `w<layer>` and `b<layer>`) */
  layer: number;
  nIn: number;
  nOut: number;
  /** index of weights[0][0] in the flat weight vector; weights[o][i] is at weightOffset + o·nIn + i */
  weightOffset: number;
  /** index of bias[0] in the flat bias vector */
  biasOffset: number;
}

/** Elements Poseidon(16) absorbs per call besides the chaining value. */
export const SPONGE_RATE = 15;

/**
 * The committed order of a model's weights and biases: dense layers in model order, each
 * layer's weights row-major [out][in]. Everything that flattens weights goes through here.
 */
export function privateWeightLayout(model: Pick<QuantizedModel, "layers">): {
  slots: PrivateLayerSlot[];
  nWeights: number;
  nBiases: number;
} {
  const slots: PrivateLayerSlot[] = [];
  let nWeights = 0;
  let nBiases = 0;
  model.layers.forEach((layer, li) => {
    if (layer.type !== "dense") return;
    const nOut = layer.weights.length;
    const nIn = layer.weights[0].length;
    slots.push({ layer: li, nIn, nOut, weightOffset: nWeights, biasOffset: nBiases });
    nWeights += nIn * nOut;
    nBiases += nOut;
  });
  return { slots, nWeights, nBiases };
}

/** The flat (signed) weight and bias vectors in committed order. */
export function committedValues(model: Pick<QuantizedModel, "layers">): {
  weights: bigint[];
  biases: bigint[];
} {
  const { slots } = privateWeightLayout(model);
  const weights: bigint[] = [];
  const biases: bigint[] = [];
  for (const { layer } of slots) {
    const dense = model.layers[layer] as QDense;
    for (const row of dense.weights) weights.push(...row);
    biases.push(...dense.bias);
  }
  return { weights, biases };
}

/** The sponge's input: [salt, packed weight words..., biases as field elements...]. */
export function commitmentElements(
  model: Pick<QuantizedModel, "layers" | "weightBits">,
  salt: bigint,
): bigint[] {
  const { weights, biases } = committedValues(model);
  // Packing is only injective for in-range weights (the circuit range-checks them too).
  weights.forEach((w, i) => {
    if (!inSignedRange(w, model.weightBits))
      throw new FixedPointRangeError(
        `committed weight ${i} = ${w} is outside the signed ${model.weightBits}-bit range`,
        "quantize the model with quantizeModel, which fits every weight in weightBits",
      );
  });
  return [toField(salt), ...pack(weights, model.weightBits), ...biases.map(toField)];
}

/** PoseidonSponge(n) of circuits/lib/commitment.circom. */
export function poseidonSponge(elements: readonly bigint[]): bigint {
  let h = 0n;
  for (let j = 0; j < elements.length; j += SPONGE_RATE) {
    const chunk = elements.slice(j, j + SPONGE_RATE);
    while (chunk.length < SPONGE_RATE) chunk.push(0n);
    h = poseidon16([h, ...chunk]);
  }
  return h;
}

/** The weight commitment of `model` under `salt`: the value the circuit constrains. */
export function weightCommitment(model: Pick<QuantizedModel, "layers" | "weightBits">, salt: bigint): bigint {
  return poseidonSponge(commitmentElements(model, salt));
}

/** A fresh secret salt: 248 uniformly random bits, so always below the field modulus. */
export function randomSalt(): bigint {
  return BigInt(`0x${randomBytes(31).toString("hex")}`);
}
