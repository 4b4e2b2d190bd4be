// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IInferenceConsumer
/// @notice The hooks the inference precompile calls on a consumer contract. Each runs with
/// the request's `callbackGasLimit`; a hook that reverts is recorded in the precompile's
/// event and never blocks answering, settling, slashing or expiring.
interface IInferenceConsumer {
    /// @notice A node answered: the output is optimistic until settled.
    function onInferenceAnswered(bytes32 requestId, int256[] calldata output) external;

    /// @notice The answer was proved on-chain: the output is final.
    function onInferenceSettled(bytes32 requestId, int256[] calldata output) external;

    /// @notice The request failed: it expired unanswered, or its answer was slashed.
    /// @param reason 1 = expired (never answered), 2 = slashed (answer never proved);
    /// `Sibyl.FAILED_EXPIRED` and `Sibyl.FAILED_SLASHED` in libraries/SibylAddresses.sol
    function onInferenceFailed(bytes32 requestId, uint8 reason) external;
}
