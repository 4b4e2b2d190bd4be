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
