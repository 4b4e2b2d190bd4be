/**
 * OpenGradient numbers in tests, computed independently of the contracts: the fixed-point
 * value the adapter must produce for an input `value · 10^-decimals`.
 */

/** `round(value · 2^fracBits / 10^decimals)`, half to even (decimals ≥ 0). */
export function ogToFixed(value: bigint, decimals: bigint, fracBits: number): bigint {
  const num = value << BigInt(fracBits);
  const den = 10n ** decimals;
  const sign = num < 0n ? -1n : 1n;
  const abs = num * sign;
  let q = abs / den;
  const twice = (abs % den) * 2n;
  if (twice > den || (twice === den && q % 2n === 1n)) q++;
  return q * sign;
}
