// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInference} from "../interfaces/IInference.sol";
import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";

/// @title ReentrantConsumer
/// @notice TEST ONLY. From inside each hook it tries to re-enter the precompile (a new request,
/// a second settlement, a withdrawal) and records the revert data it got back.
contract ReentrantConsumer is IInferenceConsumer {
    IInference private immutable INFERENCE;
    bytes32 private immutable MODEL_ID;

    /// @notice Revert data of each re-entry attempt, in order.
    bytes[] public reverts;
    /// @notice Number of re-entry attempts that unexpectedly succeeded.
    uint256 public successes;

    constructor(address inference_, bytes32 modelId_) {
        INFERENCE = IInference(inference_);
        MODEL_ID = modelId_;
    }

    /// @notice Requests an inference with `msg.value` as fee.
    function makeRequest(
        int256[] calldata input,
        uint32 callbackGasLimit
    ) external payable returns (bytes32) {
        return INFERENCE.request{value: msg.value}(MODEL_ID, input, IInference.Mode.ZK, callbackGasLimit);
    }

    /// @notice Number of recorded reverts.
    function revertCount() external view returns (uint256) {
        return reverts.length;
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceAnswered(bytes32 requestId, int256[] calldata output) external {
        try INFERENCE.answer(requestId, output) {
            ++successes;
        } catch (bytes memory reason) {
            reverts.push(reason);
        }
        try INFERENCE.request(MODEL_ID, new int256[](0), IInference.Mode.ZK, 0) {
            ++successes;
        } catch (bytes memory reason) {
            reverts.push(reason);
        }
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceSettled(bytes32 requestId, int256[] calldata) external {
        uint256[8] memory proof;
        try INFERENCE.settle(requestId, proof) {
            ++successes;
        } catch (bytes memory reason) {
            reverts.push(reason);
        }
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceFailed(bytes32 requestId, uint8) external {
        try INFERENCE.slash(requestId) {
            ++successes;
        } catch (bytes memory reason) {
            reverts.push(reason);
        }
        try INFERENCE.withdraw() {
            ++successes;
        } catch (bytes memory reason) {
            reverts.push(reason);
        }
    }
}
