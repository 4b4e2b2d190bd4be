// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {InferenceConsumer} from "../InferenceConsumer.sol";
import {IInference} from "../interfaces/IInference.sol";

/// @title RecordingConsumer
/// @notice TEST ONLY. Records every hook call in order: which hook, the request, the output or
/// reason, the request state the precompile reports during the hook, and the gas the hook got.
contract RecordingConsumer is InferenceConsumer {
    /// @notice Which hook ran.
    enum Hook {
        Answered,
        Settled,
        Failed
    }

    /// @notice One hook call.
    struct Call {
        Hook hook;
        bytes32 requestId;
        int256[] output;
        uint8 reason;
        IInference.RequestState stateSeen;
        uint256 gasAtEntry;
    }

    Call[] private _calls;

    constructor(address inference_) InferenceConsumer(inference_) {}

    /// @notice Accepts refunds and compensation.
    receive() external payable {}

    /// @notice Requests an inference with `msg.value` as fee.
    function makeRequest(
        bytes32 modelId,
        int256[] calldata input,
        uint32 callbackGasLimit
    ) external payable returns (bytes32) {
        RequestOptions memory options = _defaultOptions();
        options.callbackGasLimit = callbackGasLimit;
        options.fee = msg.value;
        return _requestInference(modelId, input, options);
    }

    /// @notice Withdraws refunds and compensation from the precompile.
    function collect() external {
        _collectPayments();
    }

    /// @notice Number of hook calls so far.
    function callCount() external view returns (uint256) {
        return _calls.length;
    }

    /// @notice The `index`-th hook call.
    function callAt(uint256 index) external view returns (Call memory) {
        return _calls[index];
    }

    /// @notice `_modelFee`, exposed.
    function modelFee(bytes32 modelId) external view returns (uint256) {
        return _modelFee(modelId);
    }

    function _onAnswered(bytes32 requestId, int256[] memory output) internal override {
        _record(Hook.Answered, requestId, output, 0);
    }

    function _onSettled(bytes32 requestId, int256[] memory output) internal override {
        _record(Hook.Settled, requestId, output, 0);
    }

    function _onFailed(bytes32 requestId, uint8 reason) internal override {
        _record(Hook.Failed, requestId, new int256[](0), reason);
    }

    function _record(Hook hook, bytes32 requestId, int256[] memory output, uint8 reason) private {
        uint256 gasAtEntry = gasleft();
        Call storage call = _calls.push();
        call.hook = hook;
        call.requestId = requestId;
        call.output = output;
        call.reason = reason;
        call.stateSeen = INFERENCE.stateOf(requestId);
        call.gasAtEntry = gasAtEntry;
    }
}
