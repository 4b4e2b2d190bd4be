// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInference} from "../interfaces/IInference.sol";
import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {FixedPointPacking} from "../libraries/FixedPointPacking.sol";
import {InferenceStorage} from "./InferenceStorage.sol";

/// @title BatchSettlement
/// @notice Settles up to `k` answered requests of one model with one Groth16 proof of the model's
/// batch circuit (docs/batching.md). The proof's public signals are built from storage, slot by
/// slot in the order of the (strictly ascending) ids, then zero padding; a padding slot can never
/// stand for a request because every real slot's binding is odd, hence non-zero.
/// @dev Three passes: check every request and build the signals (a view, shared with
/// `batchSignalsOf`); verify; then mark every request settled and credit each node once per run
/// of its requests, before any hook runs; then call the hooks and emit the events.
abstract contract BatchSettlement is InferenceStorage {
    /// @inheritdoc IInference
    function settleBatch(
        bytes32 modelId,
        uint256 k,
        bytes32[] calldata requestIds,
        uint256[8] calldata proof
    ) external nonReentrant {
        IModelRegistry.BatchVerifier memory batch = _batchVerifier(modelId, k);
        uint256[] memory signals = _batchSignals(modelId, k, requestIds, batch);
        if (!_verify(batch.verifier, batch.verifySelector, proof, signals))
            revert Inference__InvalidBatchProof(modelId, k);
        _closeBatch(requestIds);
        _deliverBatch(requestIds, signals, batch.slotSignals);
        emit BatchSettled(modelId, k, requestIds.length, msg.sender);
    }

    /// @inheritdoc IInference
    function batchSignalsOf(
        bytes32 modelId,
        uint256 k,
        bytes32[] calldata requestIds
    ) external view returns (uint256[] memory) {
        return _batchSignals(modelId, k, requestIds, _batchVerifier(modelId, k));
    }

    /// @dev The model's batch verifier for `k`; reverts when it has none.
    function _batchVerifier(
        bytes32 modelId,
        uint256 k
    ) private view returns (IModelRegistry.BatchVerifier memory batch) {
        batch = _registry.batchVerifierOf(modelId, k);
        if (batch.verifier == address(0)) revert Inference__NoBatchVerifier(modelId, k);
    }

    /// @dev Checks that every request can be settled by this batch and returns the proof's
    /// public signals: one slot per request, then all-zero padding up to `k` slots.
    function _batchSignals(
        bytes32 modelId,
        uint256 k,
        bytes32[] calldata requestIds,
        IModelRegistry.BatchVerifier memory batch
    ) private view returns (uint256[] memory signals) {
        uint256 count = requestIds.length;
        if (count == 0 || count > k) revert Inference__BatchSize(count, k);
        uint256 slotSignals = batch.slotSignals;
        signals = new uint256[](k * slotSignals);
        uint256 previous;
        for (uint256 i; i < count; ++i) {
            bytes32 requestId = requestIds[i];
            if (i != 0 && uint256(requestId) <= previous) revert Inference__BatchNotAscending(requestId);
            previous = uint256(requestId);
            RequestRecord storage req = _requests[requestId];
            _checkBatchable(requestId, req, modelId, batch);
            _writeSlot(signals, i * slotSignals, requestId, req, slotSignals);
        }
    }

    /// @dev Reverts unless the request is an answer of `modelId`, made under this batch verifier
    /// and still within its settlement deadline.
    function _checkBatchable(
        bytes32 requestId,
        RequestRecord storage req,
        bytes32 modelId,
        IModelRegistry.BatchVerifier memory batch
    ) private view {
        _expectState(requestId, req.state, RequestState.Answered);
        bytes32 requestModel = req.modelId;
        if (requestModel != modelId) revert Inference__WrongModel(requestId, requestModel);
        if (req.requestedAt < batch.registeredAt)
            revert Inference__BatchVerifierTooNew(requestId, batch.registeredAt);
        uint64 deadline = _deadline(req.answeredAt, batch.settlementWindow);
        if (block.timestamp > deadline) revert Inference__DeadlinePassed(requestId, deadline);
    }

    /// @dev A request's slot: `outWord | binding << V | inWord << (V + 128)` (compact, V the
    /// output's bits), or `[binding, stored words…]`; binding = `(uint256(id) >> 128) | 1`.
    function _writeSlot(
        uint256[] memory signals,
        uint256 at,
        bytes32 requestId,
        RequestRecord storage req,
        uint256 slotSignals
    ) private view {
        if (slotSignals == 1) {
            signals[at] = _compactSignal(requestId, req);
            return;
        }
        mapping(uint256 => uint256) storage stored = _words[requestId];
        signals[at] = (uint256(requestId) >> _BINDING_BITS) | 1;
        for (uint256 j = 1; j < slotSignals; ++j) {
            signals[at + j] = stored[j - 1];
        }
    }

    /// @dev Marks every request settled and credits each node (stake unlocked, fees) once per run
    /// of consecutive requests it answered.
    function _closeBatch(bytes32[] calldata requestIds) private {
        address node;
        uint256 stake;
        uint256 fee;
        for (uint256 i; i < requestIds.length; ++i) {
            RequestRecord storage req = _requests[requestIds[i]];
            req.state = RequestState.Settled;
            address answeredBy = req.node;
            if (answeredBy != node) {
                if (node != address(0)) _creditSettlement(node, stake, fee);
                (node, stake, fee) = (answeredBy, 0, 0);
            }
            // Safe: sums of uint128 stakes and fees of at most 256 requests.
            unchecked {
                stake += req.stake;
                fee += req.fee;
            }
        }
        _creditSettlement(node, stake, fee);
    }

    /// @dev Each request's `onInferenceSettled` hook and `InferenceSettled` event, in order. The
    /// output is decoded only for a consumer that has hooks.
    function _deliverBatch(
        bytes32[] calldata requestIds,
        uint256[] memory signals,
        uint256 slotSignals
    ) private {
        for (uint256 i; i < requestIds.length; ++i) {
            bytes32 requestId = requestIds[i];
            RequestRecord storage req = _requests[requestId];
            address consumer = req.consumer;
            uint32 gasLimit = req.callbackGasLimit;
            bool callbackOk = true;
            if (_hasHooks(consumer, gasLimit)) {
                int256[] memory output = _slotOutput(req, signals, i * slotSignals, slotSignals);
                callbackOk = _callConsumer(
                    consumer,
                    gasLimit,
                    abi.encodeCall(IInferenceConsumer.onInferenceSettled, (requestId, output))
                );
            }
            emit InferenceSettled(requestId, req.node, msg.sender, callbackOk);
        }
    }

    /// @dev Decodes a request's output from its slot (saves re-reading storage).
    function _slotOutput(
        RequestRecord storage req,
        uint256[] memory signals,
        uint256 at,
        uint256 slotSignals
    ) private view returns (int256[] memory) {
        uint256 outputLength = req.outputLength;
        uint8 valueBits = req.valueBits;
        uint256[] memory words;
        if (slotSignals == 1) {
            words = new uint256[](1);
            words[0] = signals[at] & ((uint256(1) << (outputLength * valueBits)) - 1);
        } else {
            uint256 outWords = FixedPointPacking.wordCount(outputLength, valueBits);
            words = new uint256[](outWords);
            uint256 first = at + slotSignals - outWords;
            for (uint256 j; j < outWords; ++j) {
                words[j] = signals[first + j];
            }
        }
        return FixedPointPacking.unpack(words, outputLength, valueBits);
    }
}
