// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInference} from "../interfaces/IInference.sol";
import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";

/// @title RawConsumer
/// @notice TEST ONLY. The shared base of the adversarial test consumers: it talks to the
/// precompile directly (no `InferenceConsumer` guard), so each subclass only writes its hooks.
abstract contract RawConsumer is IInferenceConsumer {
    IInference internal immutable INFERENCE;

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
}
