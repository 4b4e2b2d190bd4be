/**
 * Public-signal packing (docs/protocol.md): K = floor(253 / b) signed b-bit values per
 * field element, each stored with offset 2^(b−1) so it is non-negative.
 */

export const PACK_BITS = 253;

export function valuesPerWord(valueBits: number): number {
  return Math.floor(PACK_BITS / valueBits);
}

export function packedLength(length: number, valueBits: number): number {
  return Math.ceil(length / valuesPerWord(valueBits));
}

export function pack(values: readonly bigint[], valueBits: number): bigint[] {
  const k = valuesPerWord(valueBits);
  const b = BigInt(valueBits);
  const offset = 1n << (b - 1n);
  const words = new Array<bigint>(packedLength(values.length, valueBits)).fill(0n);
  values.forEach((v, j) => {
    words[Math.floor(j / k)] += (v + offset) << (b * BigInt(j % k));
  });
  return words;
}

export function unpack(words: readonly bigint[], length: number, valueBits: number): bigint[] {
  const k = valuesPerWord(valueBits);
  const b = BigInt(valueBits);
  const mask = (1n << b) - 1n;
  const offset = 1n << (b - 1n);
  return Array.from(
    { length },
    (_, j) => ((words[Math.floor(j / k)] >> (b * BigInt(j % k))) & mask) - offset,
  );
}

/** The request binding public signal: uint256(requestId) >> 3, below the field modulus. */
export function requestBinding(requestId: string | bigint): bigint {
  return BigInt(requestId) >> 3n;
}

/** Bits of a request id a compact signal binds: its top 128, with the lowest bit set so it is never 0. */
export const COMPACT_BINDING_BITS = 128;

/** A request's binding in a compact signal or a batch slot: `(uint256(id) >> 128) | 1`. */
export function batchBinding(requestId: string | bigint): bigint {
  return (BigInt(requestId) >> 128n) | 1n;
}

/** How a model's request is exposed to a proof, per request (docs/protocol.md, "Public signals"). */
export interface SignalLayout {
  /** one compact signal: binding, packed input and packed output in one field element */
  compact: boolean;
  /** public signals per request */
  slotSignals: number;
  /** bits of the packed input word (compact layout) */
  inBits: number;
  /** bits of the packed output word (compact layout) */
  outBits: number;
}

/**
 * The layout of a model's public signals, as `ModelRegistry` computes it: compact when a
 * public-weights model's input and output each pack into one word and binding ‖ input ‖ output
 * fits 253 bits; else `[binding, inPacked…, (weightCommitment,) outPacked…]`.
 */
export function signalLayout(model: {
  inputLength: number;
  inputBits: number;
  outputLength: number;
  valueBits: number;
  weights: "public" | "private";
}): SignalLayout {
  const P = packedLength(model.inputLength, model.inputBits);
  const Q = packedLength(model.outputLength, model.valueBits);
  const priv = model.weights === "private";
  const inBits = model.inputLength * model.inputBits;
  const outBits = model.outputLength * model.valueBits;
  const compact = !priv && P === 1 && Q === 1 && inBits + outBits + COMPACT_BINDING_BITS <= PACK_BITS;
  return { compact, slotSignals: compact ? 1 : 1 + P + (priv ? 1 : 0) + Q, inBits, outBits };
}

/** The compact signal `outWord + 2^V·binding + 2^(V+128)·inWord` (V = `outBits`). */
export function compactSignal(binding: bigint, inWord: bigint, outWord: bigint, outBits: number): bigint {
  const V = BigInt(outBits);
  return outWord + (binding << V) + (inWord << (V + BigInt(COMPACT_BINDING_BITS)));
}
