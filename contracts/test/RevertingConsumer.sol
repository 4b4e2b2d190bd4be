// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInference} from "../interfaces/IInference.sol";
import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";

/// @title RevertingConsumer
/// @notice TEST ONLY. Every hook reverts, and the contract refuses ETH: neither may block the
/// precompile's transitions (only this contract's own `withdraw` fails).
contract RevertingConsumer is IInferenceConsumer {
    /// @notice Raised by every hook.
    error RevertingConsumer__NoThanks(bytes32 requestId);

    IInference private immutable INFERENCE;

    constructor(address inference_) {
        INFERENCE = IInference(inference_);
    }

    /// @notice Requests an inference with `msg.value` as fee.
    function makeRequest(
        bytes32 modelId,
        int256[] calldata input,
        uint32 callbackGasLimit
    ) external payable returns (bytes32) {
        return INFERENCE.request{value: msg.value}(modelId, input, IInference.Mode.ZK, callbackGasLimit, 0);
    }

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
