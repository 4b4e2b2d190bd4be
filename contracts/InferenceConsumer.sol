// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInference} from "./interfaces/IInference.sol";
import {IInferenceConsumer} from "./interfaces/IInferenceConsumer.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";

/// @title InferenceConsumer
/// @notice Base for contracts that call Sibyl models. Inherit it, call `_requestInference`,
/// and override the hooks you care about:
/// - `_onAnswered`: a node's output, **optimistic** until settled. Act on it only as far as the
///   node's locked stake covers a wrong answer (see `_isCovered`).
/// - `_onSettled`: the output was proved on-chain against the model's verifier: final.
/// - `_onFailed`: the request expired unanswered (`Sibyl.FAILED_EXPIRED`) or its answer was
///   slashed (`Sibyl.FAILED_SLASHED`); undo whatever `_onAnswered` did. Refunds and slashing
///   compensation are credited to this contract in the precompile: collect them with
///   `_collectPayments()` (the contract then needs a `receive` function).
///
/// Three policies for the gap between an answer and its proof:
/// 1. **Act on answered** (fast): use the output in `_onAnswered`, for actions that are cheap to
///    undo in `_onFailed` (holds, UI state, provisional flags).
/// 2. **Act on settled** (final): act only in `_onSettled`; the answer is then proved.
/// 3. **Act when covered**: declare the value you will act on before the proof as
///    `RequestOptions.valueAtRisk`, and act on the answer only while `_isCovered(requestId, value)`:
///    if the node never proves it, the slash credits this contract at least `value` (the
///    precompile locks whatever stake that takes, the slasher's reward included).
/// @dev Hooks run with the request's exact `callbackGasLimit`; if one reverts, the precompile
/// records it and carries on, so a hook can never block settlement. Hooks cannot call back
/// into the precompile's state-changing functions (it is locked while they run), but views work,
/// and they already show the new state (and any payment credited) when the hook runs.
abstract contract InferenceConsumer is IInferenceConsumer {
    /// @notice How a request is made.
    /// @param mode how the answer is settled (only `ZK` is served today)
    /// @param callbackGasLimit exact gas each hook receives (0 = no hooks; at most
    /// `Sibyl.MAX_CALLBACK_GAS_LIMIT`)
    /// @param fee wei sent with the request; must cover `_feeFor(modelId, callbackGasLimit)` (all of
    /// it is escrowed)
    /// @param valueAtRisk value this contract may act on before the answer is proved: a slash of the
    /// answer credits this contract at least this much (0 = the model's stake; must be 0 for an
    /// unbonded model)
    struct RequestOptions {
        IInference.Mode mode;
        uint32 callbackGasLimit;
        uint256 fee;
        uint128 valueAtRisk;
    }

    /// @notice Gas each hook receives with `_defaultOptions()` (the fee pays for it: see `_feeFor`).
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
        return
            INFERENCE.request{value: options.fee}(
                modelId,
                input,
                options.mode,
                options.callbackGasLimit,
                options.valueAtRisk
            );
    }

    /// @notice `ZK` mode, `DEFAULT_CALLBACK_GAS_LIMIT` gas per hook, no fee (set `fee` to
    /// `_feeFor(modelId, DEFAULT_CALLBACK_GAS_LIMIT)`), no value at risk beyond the model's stake.
    function _defaultOptions() internal pure returns (RequestOptions memory) {
        return
            RequestOptions({
                mode: IInference.Mode.ZK,
                callbackGasLimit: DEFAULT_CALLBACK_GAS_LIMIT,
                fee: 0,
                valueAtRisk: 0
            });
    }

    /// @notice Whether acting on this request's output is covered for `value`: true when it is
    /// settled (proved), or answered and unsettled with a locked stake whose slash would credit
    /// this contract at least `value` (`coverageOf`). False before the answer, after a slash or
    /// expiry, and always for an unsettled answer of an unbonded model (nothing is locked).
    /// @dev An answer past its deadline is still covered until it is slashed, since the stake
    /// stays locked for whoever slashes it.
    function _isCovered(bytes32 requestId, uint256 value) internal view returns (bool) {
        IInference.RequestState state = INFERENCE.stateOf(requestId);
        if (state == IInference.RequestState.Settled) return true;
        if (state != IInference.RequestState.Answered) return false;
        uint256 coverage = INFERENCE.coverageOf(requestId);
        return coverage != 0 && coverage >= value;
    }

    /// @notice The fee a request for `modelId` with `callbackGasLimit` gas per hook must carry:
    /// the model's base fee plus its price for the callback gas (`IModelRegistry.feeFor`).
    function _feeFor(bytes32 modelId, uint32 callbackGasLimit) internal view returns (uint256) {
        return IModelRegistry(INFERENCE.registry()).feeFor(modelId, callbackGasLimit);
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
