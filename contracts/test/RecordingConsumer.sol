// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {InferenceConsumer} from "../InferenceConsumer.sol";
import {IInference} from "../interfaces/IInference.sol";

/// @title RecordingConsumer
/// @notice TEST ONLY. Records every hook call in order: which hook, the request, the output or
/// reason, what the precompile reports during the hook (state, bond backing, this contract's
/// pending payments), and the gas the hook got. Also exposes the base's helpers.
contract RecordingConsumer is InferenceConsumer {
    /// @notice Which hook ran.
    enum Hook {
        Answered,
        Settled,
        Failed
    }

    /// @notice One hook call.
    /// @dev Slot 0 packs `hook | reason | stateSeen | gasAtEntry`; slot 3 `pendingSeen | backingSeen`.
    struct Call {
        Hook hook;
        uint8 reason;
        IInference.RequestState stateSeen;
        uint64 gasAtEntry;
        bytes32 requestId;
        int256[] output;
        uint128 pendingSeen;
        uint128 backingSeen;
    }

    Call[] private _calls;

    constructor(address inference_) InferenceConsumer(inference_) {}

    /// @notice Accepts refunds and compensation.
    receive() external payable {}

    /// @notice Requests an inference with `msg.value` as fee and no value at risk.
    function makeRequest(
        bytes32 modelId,
        int256[] calldata input,
        uint32 callbackGasLimit
    ) external payable returns (bytes32) {
        return _request(modelId, input, callbackGasLimit, 0);
    }

    /// @notice Requests an inference with `msg.value` as fee, declaring `valueAtRisk`.
    function makeRequestAtRisk(
        bytes32 modelId,
        int256[] calldata input,
        uint32 callbackGasLimit,
        uint128 valueAtRisk
    ) external payable returns (bytes32) {
        return _request(modelId, input, callbackGasLimit, valueAtRisk);
    }

    /// @notice Withdraws refunds and compensation from the precompile.
    /// @notice A request in `mode` (e.g. `TEE`) with `callbackGasLimit` and the attached fee.
    function makeRequestInMode(
        bytes32 modelId,
        int256[] calldata input,
        uint32 callbackGasLimit,
        IInference.Mode mode
    ) external payable returns (bytes32) {
        RequestOptions memory options = _defaultOptions();
        options.callbackGasLimit = callbackGasLimit;
        options.fee = msg.value;
        options.mode = mode;
        return _requestInference(modelId, input, options);
    }

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

    /// @notice `_feeFor`, exposed.
    function feeFor(bytes32 modelId, uint32 callbackGasLimit) external view returns (uint256) {
        return _feeFor(modelId, callbackGasLimit);
    }

    /// @notice Requests an inference with `_defaultOptions()` and `msg.value` as fee.
    function requestWithDefaults(
        bytes32 modelId,
        int256[] calldata input
    ) external payable returns (bytes32) {
        RequestOptions memory options = _defaultOptions();
        options.fee = msg.value;
        return _requestInference(modelId, input, options);
    }

    /// @notice `_isCovered`, exposed.
    function isCovered(bytes32 requestId, uint256 value) external view returns (bool) {
        return _isCovered(requestId, value);
    }

    function _request(
        bytes32 modelId,
        int256[] calldata input,
        uint32 callbackGasLimit,
        uint128 valueAtRisk
    ) private returns (bytes32) {
        RequestOptions memory options = _defaultOptions();
        options.callbackGasLimit = callbackGasLimit;
        options.fee = msg.value;
        options.valueAtRisk = valueAtRisk;
        return _requestInference(modelId, input, options);
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
        call.reason = reason;
        call.stateSeen = INFERENCE.stateOf(requestId);
        call.gasAtEntry = uint64(gasAtEntry);
        call.requestId = requestId;
        call.output = output;
        call.pendingSeen = uint128(INFERENCE.pendingWithdrawal(address(this)));
        call.backingSeen = uint128(INFERENCE.bondBacking(requestId));
    }
}
