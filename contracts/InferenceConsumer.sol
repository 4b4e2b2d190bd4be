// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInference} from "./interfaces/IInference.sol";
import {IInferenceConsumer} from "./interfaces/IInferenceConsumer.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";

/// @title InferenceConsumer
/// @notice Base for contracts that call Sibyl models. Inherit it, call `_requestInference`,
/// and override the hooks you care about:
/// - `_onAnswered`: a node's output, **optimistic** until settled. Act on it only as far as the
///   node's stake (`IInference.getRequest(id).stake`) covers a wrong answer.
/// - `_onSettled`: the output was proved on-chain against the model's verifier: final.
/// - `_onFailed`: the request expired unanswered (`Sibyl.FAILED_EXPIRED`) or its answer was
///   slashed (`Sibyl.FAILED_SLASHED`); undo whatever `_onAnswered` did. Refunds and slashed
///   stake are credited to this contract in the precompile: collect them with
///   `_collectPayments()` (the contract then needs a `receive` function).
/// @dev Hooks run with the request's exact `callbackGasLimit`; if one reverts, the precompile
/// records it and carries on, so a hook can never block settlement. Hooks cannot call back
/// into the precompile's state-changing functions (it is locked while they run), but views work.
abstract contract InferenceConsumer is IInferenceConsumer {
    /// @notice How a request is made.
    /// @param mode how the answer is settled (only `ZK` is served today)
    /// @param callbackGasLimit exact gas each hook receives (0 = no hooks)
    /// @param fee wei sent with the request; must cover the model's fee (all of it is escrowed)
    struct RequestOptions {
        IInference.Mode mode;
        uint32 callbackGasLimit;
        uint256 fee;
    }

    /// @notice Gas each hook receives with `_defaultOptions()`.
    uint32 internal constant DEFAULT_CALLBACK_GAS_LIMIT = 200_000;

    /// @notice The precompile this consumer talks to (`Sibyl.INFERENCE` in normal use).
    IInference public immutable INFERENCE;

    /// @notice A hook was called by someone other than the precompile.
    error InferenceConsumer__OnlyInference(address caller);

    /// @dev Hooks are callable by the precompile only.
    modifier onlyInference() {
        if (msg.sender != address(INFERENCE)) revert InferenceConsumer__OnlyInference(msg.sender);
        _;
    }

    /// @param inference_ the precompile, normally `Sibyl.INFERENCE`
    constructor(address inference_) {
        INFERENCE = IInference(inference_);
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceAnswered(bytes32 requestId, int256[] calldata output) external onlyInference {
        _onAnswered(requestId, output);
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceSettled(bytes32 requestId, int256[] calldata output) external onlyInference {
        _onSettled(requestId, output);
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceFailed(bytes32 requestId, uint8 reason) external onlyInference {
        _onFailed(requestId, reason);
    }

    /// @notice Requests an inference from the precompile, paying `options.fee` from this contract.
    function _requestInference(
        bytes32 modelId,
        int256[] memory input,
        RequestOptions memory options
    ) internal returns (bytes32 requestId) {
        return INFERENCE.request{value: options.fee}(modelId, input, options.mode, options.callbackGasLimit);
    }

    /// @notice `ZK` mode, 200,000 gas per hook, no fee (set `fee` when the model charges one).
    function _defaultOptions() internal pure returns (RequestOptions memory) {
        return
            RequestOptions({mode: IInference.Mode.ZK, callbackGasLimit: DEFAULT_CALLBACK_GAS_LIMIT, fee: 0});
    }

    /// @notice The fee the model currently asks per request.
    function _modelFee(bytes32 modelId) internal view returns (uint256) {
        return IModelRegistry(INFERENCE.registry()).getModel(modelId).config.fee;
    }

    /// @notice Withdraws this contract's refunds and slashing compensation from the precompile.
    function _collectPayments() internal {
        INFERENCE.withdraw();
    }

    /// @notice Called when a node answered: the output is optimistic.
    function _onAnswered(bytes32 requestId, int256[] memory output) internal virtual {}

    /// @notice Called when the answer was proved: the output is final.
    function _onSettled(bytes32 requestId, int256[] memory output) internal virtual {}

    /// @notice Called when the request expired (reason 1) or its answer was slashed (reason 2).
    function _onFailed(bytes32 requestId, uint8 reason) internal virtual {}
}
