// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInference} from "../interfaces/IInference.sol";
import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";
import {Sibyl} from "../libraries/SibylAddresses.sol";

/// @title FakeInference
/// @notice TEST ONLY. A stand-in for the precompile whose answers a test dictates: it accepts any
/// request, reports the state and bond backing the test sets (and the coverage the real precompile
/// derives from them), and calls a consumer's answered hook
/// on demand. It lets tests reach consumer branches the real precompile never takes, such as an
/// answer whose locked stake would not repay what the consumer acts on.
contract FakeInference {
    /// @notice What `stateOf` reports for every request.
    IInference.RequestState public state;
    /// @notice What `bondBacking` reports for every request.
    uint256 public backing;
    uint256 private _nonce;

    /// @notice Sets what the views report.
    function setTerms(IInference.RequestState state_, uint256 backing_) external {
        state = state_;
        backing = backing_;
    }

    /// @notice Accepts any request and returns a fresh id.
    function request(
        bytes32,
        int256[] calldata,
        IInference.Mode,
        uint32,
        uint128
    ) external payable returns (bytes32) {
        return keccak256(abi.encode(msg.sender, _nonce++));
    }

    /// @notice Calls `consumer.onInferenceAnswered(requestId, output)`.
    function answer(IInferenceConsumer consumer, bytes32 requestId, int256[] calldata output) external {
        consumer.onInferenceAnswered(requestId, output);
    }

    /// @notice The state set with `setTerms`, for any id.
    function stateOf(bytes32) external view returns (IInference.RequestState) {
        return state;
    }

    /// @notice The backing set with `setTerms`, for any id.
    function bondBacking(bytes32) external view returns (uint256) {
        return backing;
    }

    /// @notice What a slash would credit the consumer, derived like the precompile's `coverageOf`:
    /// the compensation of the backing while answered, else 0.
    function coverageOf(bytes32) external view returns (uint256) {
        return state == IInference.RequestState.Answered ? Sibyl.slashCompensation(backing) : 0;
    }
}
