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

    /// @notice What a slash of `stake` credits the consumer: the stake minus the slasher's reward
    /// (the escrowed fee is refunded on top of it).
    function slashCompensation(uint256 stake) internal pure returns (uint256) {
        return stake - (stake * SLASH_REWARD_BPS) / BPS;
    }

    /// @notice The precompile as a typed handle.
    function inference() internal pure returns (IInference) {
        return IInference(INFERENCE);
    }
}
