// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";
import {RawConsumer} from "./RawConsumer.sol";

/// @title RevertingConsumer
/// @notice TEST ONLY. Every hook reverts, and the contract refuses ETH: neither may block the
/// precompile's transitions (only this contract's own `withdraw` fails).
contract RevertingConsumer is RawConsumer {
    /// @notice Raised by every hook.
    error RevertingConsumer__NoThanks(bytes32 requestId);

    constructor(address inference_) RawConsumer(inference_) {}

    /// @notice Tries to withdraw from the precompile (fails: this contract rejects ETH).
    function collect() external {
        INFERENCE.withdraw();
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceAnswered(bytes32 requestId, int256[] calldata) external pure {
        revert RevertingConsumer__NoThanks(requestId);
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceSettled(bytes32 requestId, int256[] calldata) external pure {
        revert RevertingConsumer__NoThanks(requestId);
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceFailed(bytes32 requestId, uint8) external pure {
        revert RevertingConsumer__NoThanks(requestId);
    }
}
