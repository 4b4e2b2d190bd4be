// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInference} from "../interfaces/IInference.sol";

/// @title Sibyl
/// @notice Where Sibyl lives on a chain, and the small constants consumers share with it.
library Sibyl {
    /// @notice The inference precompile. On Hardhat it is installed here with `hardhat_setCode`.
    address internal constant INFERENCE = 0x00000000000000000000000000000000000000F4;

    /// @notice `onInferenceFailed` reason: nobody answered within the answer window.
    uint8 internal constant FAILED_EXPIRED = 1;
    /// @notice `onInferenceFailed` reason: the answer was not proved by its settlement deadline.
    uint8 internal constant FAILED_SLASHED = 2;

    /// @notice Basis points: 10,000 = 100%.
    uint256 internal constant BPS = 10_000;
    /// @notice Share of a slashed stake paid to whoever called `slash` (500 = 5%); the rest of
    /// the stake compensates the consumer. The reward pays a stranger to slash an overdue answer
    /// even when the consumer is a contract that never slashes by itself.
    uint256 internal constant SLASH_REWARD_BPS = 500;
    /// @notice The most gas a request may ask for each hook: every request must stay answerable,
    /// settleable, slashable and expirable in one transaction well below a block's gas limit.
    uint32 internal constant MAX_CALLBACK_GAS_LIMIT = 5_000_000;

    /// @notice The longest settlement window a model may register (1 day): an answer is
    /// slashable, and its stake free again, at most this long after it was given.
    uint64 internal constant MAX_SETTLEMENT_WINDOW = 1 days;
    /// @notice The longest answer window a precompile may be initialised with (1 day).
    uint64 internal constant MAX_ANSWER_WINDOW = 1 days;
    /// @notice Hooks a request's fee pays callback gas for: `onInferenceAnswered`, then one of
    /// `onInferenceSettled` / `onInferenceFailed`.
    uint256 internal constant PRICED_HOOKS = 2;

    /// @notice What a slash of `stake` credits the consumer: the stake minus the slasher's reward
    /// (the escrowed fee is refunded on top of it).
    function slashCompensation(uint256 stake) internal pure returns (uint256) {
        return stake - (stake * SLASH_REWARD_BPS) / BPS;
    }

    /// @notice The least stake whose slash credits the consumer at least `valueAtRisk`: the
    /// slasher's reward (`SLASH_REWARD_BPS`, rounded down) comes out of the stake, so the stake is
    /// the value grossed up by it. The precompile locks at least this behind every answer.
    /// @dev A stake `s` compensates `s − ⌊s·r/B⌋ = ⌈s·(B − r)/B⌉`, which is at least `v` exactly
    /// when `s > (v − 1)·B/(B − r)`; the result is `⌊(v − 1)·B/(B − r)⌋ + 1`, computed in two
    /// parts so that it cannot overflow for any `v` whose result fits.
    function stakeFor(uint256 valueAtRisk) internal pure returns (uint256) {
        if (valueAtRisk == 0) return 0;
        uint256 kept = BPS - SLASH_REWARD_BPS;
        uint256 v = valueAtRisk - 1;
        return (v / kept) * BPS + ((v % kept) * BPS) / kept + 1;
    }

    /// @notice The fee a request must carry: the model's base fee plus its callback gas price
    /// for `callbackGasLimit` gas in each of the `PRICED_HOOKS` hooks.
    function requiredFee(
        uint256 baseFee,
        uint256 callbackGasPrice,
        uint256 callbackGasLimit
    ) internal pure returns (uint256) {
        return baseFee + PRICED_HOOKS * callbackGasLimit * callbackGasPrice;
    }

    /// @notice The precompile as a typed handle.
    function inference() internal pure returns (IInference) {
        return IInference(INFERENCE);
    }
}
