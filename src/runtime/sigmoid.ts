/**
 * The fixed-point logistic function of the `sigmoid` layer: a piecewise-linear
 * approximation with power-of-two slopes (the "PLAN" segments), in exact integer
 * arithmetic. circuits/lib/sigmoid.circom (`SigmoidPWL`) proves the very same integers;
 * docs/protocol.md states the formula and its error bound.
 *
 * For an input x at scale 2^f, with a = |x| and one = 2^f:
 *
 *   a ≥ 5·one                  → pos = one
 *   19·one ≤ 8·a  (a ≥ 2.375)  → pos = floor((a + 27·one) / 32)    (a/32 + 0.84375)
 *   one ≤ a                    → pos = floor((4·a + 20·one) / 32)  (a/8 + 0.625)
 *   otherwise                  → pos = floor((8·a + 16·one) / 32)  (a/4 + 0.5)
 *
 *   sigmoid(x) = pos if x ≥ 0, else one − pos   (so sigmoid(−x) = one − sigmoid(x) exactly)
 *
 * The result lies in [0, one]; its real value is within 0.01895 + 2^-f of the true logistic
 * (the segments' own error, largest at |x| = 1, plus less than one unit lost to the floor).
 */

/** The segments as (slope numerator k, offset m): pos = floor((k·a + m·one) / 32). */
export const SIGMOID_SEGMENTS = {
  inner: { k: 8n, m: 16n },
  middle: { k: 4n, m: 20n },
  outer: { k: 1n, m: 27n },
  saturated: { k: 0n, m: 32n },
} as const;

/** Largest |error| of the real-valued segments against the true logistic: 0.75 − σ(1) ≈ 0.018941. */
export const SIGMOID_PWL_MAX_ERROR = 0.75 - 1 / (1 + Math.exp(-1));

/** The fixed-point sigmoid of `x` (scale 2^fracBits); the result is at scale 2^fracBits too. */
export function sigmoidFixed(x: bigint, fracBits: number): bigint {
  const one = 1n << BigInt(fracBits);
  const a = x < 0n ? -x : x;
  const { k, m } =
    a >= 5n * one
      ? SIGMOID_SEGMENTS.saturated
      : 8n * a >= 19n * one
        ? SIGMOID_SEGMENTS.outer
        : a >= one
          ? SIGMOID_SEGMENTS.middle
          : SIGMOID_SEGMENTS.inner;
  // k·a + m·one ≥ 0, so `>>` is the floor of the division by 32.
  const pos = (k * a + m * one) >> 5n;
  return x >= 0n ? pos : one - pos;
}

/** A bound on |sigmoidFixed(x)/2^f − σ(x/2^f)| for every x: the segments' error plus 2^-f. */
export function sigmoidErrorBound(fracBits: number): number {
  return SIGMOID_PWL_MAX_ERROR + 2 ** -fracBits;
}

/**
 * The fixed-point tanh of the `tanh` layer: tanh(x) = 2·σ(2x) − 1, with σ the piecewise-linear
 * sigmoid above, so tanhFixed(x) = 2·sigmoidFixed(2x) − 2^f exactly. The result lies in
 * [−one, one] and is odd (tanhFixed(−x) = −tanhFixed(x)); its real value is within
 * tanhErrorBound(f) of the true tanh.
 */
export function tanhFixed(x: bigint, fracBits: number): bigint {
  return 2n * sigmoidFixed(2n * x, fracBits) - (1n << BigInt(fracBits));
}

/** A bound on |tanhFixed(x)/2^f − tanh(x/2^f)| for every x: twice the sigmoid's bound. */
export function tanhErrorBound(fracBits: number): number {
  return 2 * sigmoidErrorBound(fracBits);
}
