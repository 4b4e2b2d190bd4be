/**
 * Histogram buckets chosen for the figures Sibyl measures (docs/gas.md, the bench): a bucket
 * boundary is only useful where values actually fall, and a histogram's cost grows with its
 * buckets. Values past the last bound still count, in `+Inf`.
 */

/** Seen → answer mined: the model runs in milliseconds; the answer waits for a block (≈50 ms–5 s). */
export const ANSWER_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];

/** One Groth16 proof: tens of milliseconds for Iris warm, seconds to tens of seconds for MNIST and batches. */
export const PROOF_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/**
 * Seen → settlement mined: a proof and two blocks for a single settlement (seconds), up to the
 * settlement window for an answer that waits for its batch (minutes).
 */
export const SETTLE_SECONDS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/**
 * Gas of one answer or settlement transaction (gas-snapshot.json): an answer ≈73k plus its
 * consumer's callback, `settle` ≈252k for Iris and ≈329k for MNIST, `settleBatch` ≈680k for 16.
 */
export const GAS = [
  50_000, 75_000, 100_000, 150_000, 250_000, 400_000, 700_000, 1_200_000, 2_500_000, 5_000_000,
];
