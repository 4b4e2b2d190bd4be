/**
 * The BN254 scalar field that circom, snarkjs and the EVM pairing precompiles share.
 *
 * Signed integers live in the field as `p − |v|` (docs/protocol.md); `toField` and
 * `fromField` convert between that representation and a signed bigint.
 */

/** The BN254 (alt_bn128) scalar field modulus. */
export const BN254_P = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

const HALF_P = BN254_P / 2n;

/** Reduces any integer to its canonical field representative in `[0, p)`. */
export function toField(v: bigint): bigint {
  const r = v % BN254_P;
  return r < 0n ? r + BN254_P : r;
}

/**
 * The signed view of a field element: representatives above `p / 2` are negative.
 * The argument is reduced first, so `fromField(toField(v)) === v` for `|v| ≤ p / 2`.
 */
export function fromField(v: bigint): bigint {
  const r = toField(v);
  return r > HALF_P ? r - BN254_P : r;
}
