/**
 * The protocol's numbers, stated once for the TypeScript side. Each mirrors a constant of the
 * contracts (named beside it); test/chain/models.test.ts and the contract tests check them
 * against the deployed contracts.
 */

/** `Sibyl.MAX_SETTLEMENT_WINDOW`: the longest settlement window a model may register (seconds). */
export const MAX_SETTLEMENT_WINDOW = 86_400n;
/** `Sibyl.MAX_ANSWER_WINDOW`: the longest answer window a precompile may be initialised with (seconds). */
export const MAX_ANSWER_WINDOW = 86_400n;
/** `Sibyl.PRICED_HOOKS`: hooks a request's fee pays callback gas for. */
export const PRICED_HOOKS = 2n;
/** `Sibyl.MAX_CALLBACK_GAS_LIMIT`: no request can ask for more callback gas per hook. */
export const MAX_CALLBACK_GAS_LIMIT = 5_000_000;
/** Fees, prices and stakes are `uint128` on-chain. */
export const MAX_UINT128 = (1n << 128n) - 1n;
