// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInference} from "../interfaces/IInference.sol";
import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";

/// @title ReentrantConsumer
/// @notice TEST ONLY. From inside every hook it tries each state-changing function of the
/// precompile (request, answer, settle, slash, expire, withdraw, withdrawBond, registerNode,
/// setNodePolicy and the administration functions) and records the selector of the revert it got
/// back, or counts a success.
contract ReentrantConsumer is IInferenceConsumer {
    IInference private immutable INFERENCE;
    bytes32 private immutable MODEL_ID;

    /// @notice The first four bytes of each re-entry attempt's revert data, in order.
    bytes4[] public reverts;
    /// @notice Number of re-entry attempts that unexpectedly succeeded.
    uint256 public successes;

    constructor(address inference_, bytes32 modelId_) {
        INFERENCE = IInference(inference_);
        MODEL_ID = modelId_;
    }

    /// @notice Accepts ETH, so that a withdrawal it tries could only fail by re-entrancy.
    receive() external payable {}

    /// @notice Requests an inference with `msg.value` as fee.
    function makeRequest(
        int256[] calldata input,
        uint32 callbackGasLimit
    ) external payable returns (bytes32) {
        return INFERENCE.request{value: msg.value}(MODEL_ID, input, IInference.Mode.ZK, callbackGasLimit, 0);
    }

    /// @notice Number of recorded reverts.
    function revertCount() external view returns (uint256) {
        return reverts.length;
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceAnswered(bytes32 requestId, int256[] calldata output) external {
        _reenter(requestId, output);
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceSettled(bytes32 requestId, int256[] calldata output) external {
        _reenter(requestId, output);
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceFailed(bytes32 requestId, uint8) external {
        _reenter(requestId, new int256[](0));
    }

    /// @dev Fourteen attempts, one per state-changing function.
    function _reenter(bytes32 requestId, int256[] memory output) private {
        uint256[8] memory proof;
        _try(abi.encodeCall(IInference.request, (MODEL_ID, new int256[](0), IInference.Mode.ZK, 0, 0)));
        _try(abi.encodeCall(IInference.answer, (requestId, output)));
        _try(abi.encodeCall(IInference.settle, (requestId, proof)));
        _try(abi.encodeCall(IInference.slash, (requestId)));
        _try(abi.encodeCall(IInference.expire, (requestId)));
        _try(abi.encodeCall(IInference.withdraw, ()));
        _try(abi.encodeCall(IInference.withdrawBond, (1)));
        _try(abi.encodeCall(IInference.registerNode, ()));
        _try(abi.encodeCall(IInference.setNodePolicy, (0, 0, 0)));
        _try(abi.encodeCall(IInference.proposeRegistry, (address(this))));
        _try(abi.encodeCall(IInference.cancelRegistryChange, ()));
        _try(abi.encodeCall(IInference.applyRegistryChange, ()));
        _try(abi.encodeCall(IInference.transferAdmin, (address(this))));
        _try(abi.encodeCall(IInference.acceptAdmin, ()));
    }

    function _try(bytes memory data) private {
        (bool ok, bytes memory reason) = address(INFERENCE).call(data);
        if (ok) {
            ++successes;
        } else {
            reverts.push(reason.length >= 4 ? bytes4(reason) : bytes4(0));
        }
    }
}
