// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IEnclaveRegistry} from "../interfaces/IEnclaveRegistry.sol";
import {IInference} from "../interfaces/IInference.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {FixedPointPacking} from "../libraries/FixedPointPacking.sol";
import {Sibyl} from "../libraries/SibylAddresses.sol";

/// @title InferenceStorage
/// @notice The precompile's storage, its reentrancy guard and the internals its two halves share:
/// the request machine (`InferencePrecompile`) and synchronous calls (`SyncInference`).
/// @dev Keep the storage layout append-only: re-installing code at 0x…F4 keeps the storage it
/// finds. Everything here is `internal` so both halves read the same variables.
// The precompile's whole state is declared here, in the order it was appended.
// solhint-disable-next-line max-states-count
abstract contract InferenceStorage is IInference {
    using SafeCast for uint256;

    // ───────────────────────────── constants ─────────────────────────────

    /// @dev The verifier selector of a model whose proofs carry one compact signal per request:
    /// `outWord | binding << V | inWord << (V + 128)` (docs/protocol.md, "Public signals").
    bytes4 internal constant _COMPACT_SELECTOR = bytes4(
        keccak256("verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[1])")
    );

    /// @dev Bits of a request id a compact signal binds (`ModelRegistry.BATCH_BINDING_BITS`).
    uint256 internal constant _BINDING_BITS = 128;

    /// @dev `_lock` values. Zero doubles as "not initialised", so one SLOAD guards both.
    uint256 internal constant _UNINITIALIZED = 0;
    uint256 internal constant _UNLOCKED = 1;
    uint256 internal constant _LOCKED = 2;

    /// @dev Gas kept back, beyond the 1/64 the EVM withholds, for the instructions between the
    /// gas check and the CALL and for the CALL's own cost (the consumer is warm by then).
    uint256 internal constant _CALLBACK_OVERHEAD = 5_000;

    /// @notice Share of a slashed stake credited to the slasher, in basis points (500 = 5%);
    /// the consumer is credited the rest of the stake and its fee back (`Sibyl.SLASH_REWARD_BPS`).
    uint256 public constant SLASH_REWARD_BPS = Sibyl.SLASH_REWARD_BPS;

    /// @notice Seconds between announcing a registry change and applying it: longer than any
    /// request can stay open (`Sibyl.MAX_ANSWER_WINDOW + Sibyl.MAX_SETTLEMENT_WINDOW`), so every
    /// request made before the announcement ends under the registry it was made against, and
    /// consumers have the whole delay to react.
    uint64 public constant REGISTRY_CHANGE_DELAY = Sibyl.MAX_ANSWER_WINDOW + Sibyl.MAX_SETTLEMENT_WINDOW;

    // ─────────────────────────────── state ───────────────────────────────

    /// @dev A request in five slots (the packed words live in `_words`):
    /// slot 0 `consumer | requestedAt | callbackGasLimit | valueBits | mode` (32 bytes), read by
    ///   every hook; slot 1 `modelId`;
    /// slot 2 `node | answeredAt | state | inWords | outputLength | syncFlags` (32 bytes), the one
    ///   slot each transition rewrites (`syncFlags`: 0 for a request, `_SYNC` bits for a
    ///   synchronous call's prepared result);
    /// slot 3 `fee | stake`;
    /// slot 4 `verifier | settlementWindow | verifySelector` (32 bytes), the settlement terms
    ///   snapshotted from the registry so `answer` and `settle` never call it.
    /// Timestamps are `uint48` (good for ~8.9 million years) to make slots 0 and 2 fit.
    struct RequestRecord {
        address consumer;
        uint48 requestedAt;
        uint32 callbackGasLimit;
        uint8 valueBits;
        Mode mode;
        bytes32 modelId;
        address node;
        uint48 answeredAt;
        RequestState state;
        uint16 inWords;
        uint16 outputLength;
        uint8 syncFlags;
        uint128 fee;
        uint128 stake;
        address verifier;
        uint64 settlementWindow;
        bytes4 verifySelector;
    }

    /// @dev The prepared results of one call key, oldest first.
    struct Queue {
        uint128 head;
        uint128 tail;
    }

    /// @dev One slot per node. `locked <= bond` always; both fit `uint120` because no account
    /// can hold 2^120 wei (SafeCast checks the additions anyway).
    struct NodeRecord {
        uint120 bond;
        uint120 locked;
        bool registered;
    }

    /// @dev 0 = not initialised, 1 = unlocked, 2 = inside a state-changing call.
    uint256 internal _lock;
    address internal _admin;
    /// @dev Shares a slot with `_answerWindow` (20 + 8 bytes).
    IModelRegistry internal _registry;
    uint64 internal _answerWindow;
    uint256 internal _minBond;
    /// @dev Makes request ids unique, even for identical requests in one block.
    uint256 internal _nonce;
    mapping(bytes32 requestId => RequestRecord) internal _requests;
    /// @dev Packed words of a request: input words at `0 .. inWords-1`, output words after them.
    /// No length slots: the counts follow from `inWords`, `outputLength` and `valueBits`.
    mapping(bytes32 requestId => mapping(uint256 index => uint256 word)) internal _words;
    mapping(address node => NodeRecord) internal _nodes;
    mapping(address account => uint256 amount) internal _pending;
    /// @dev Appended for the two-step admin transfer and the delayed registry change.
    address internal _pendingAdmin;
    /// @dev Shares a slot with `_registryEffectiveAt` (20 + 8 bytes).
    address internal _pendingRegistry;
    uint64 internal _registryEffectiveAt;
    mapping(address node => NodePolicy) internal _policies;
    /// @dev Appended for synchronous calls: each origin's credit, the prepared results waiting
    /// for each call key (a FIFO queue: `_queued[key][head .. tail-1]`) and the adapter that
    /// answers OpenGradient's ABI.
    mapping(address account => mapping(address node => uint256 credit)) internal _credit;
    mapping(bytes32 callKey => Queue) internal _queues;
    mapping(bytes32 callKey => mapping(uint256 index => bytes32 requestId)) internal _queued;
    address internal _adapter;
    /// @dev The transaction sender each synchronous result was prepared for (it paid the fee).
    mapping(bytes32 requestId => address origin) internal _origins;
    /// @dev Appended for TEE mode: the registry of attested enclave keys (zero: TEE is off).
    IEnclaveRegistry internal _enclaves;

    // ───────────────────────────── modifiers ─────────────────────────────

    /// @dev Storage-based reentrancy guard (the runtime code at 0x…F4 runs no constructor, so
    /// no immutables); also refuses every state-changing call before `initialize`.
    modifier nonReentrant() {
        uint256 lock = _lock;
        if (lock != _UNLOCKED) {
            if (lock == _UNINITIALIZED) revert Inference__NotInitialized();
            revert Inference__Reentrancy();
        }
        _lock = _LOCKED;
        _;
        _lock = _UNLOCKED;
    }

    // ─────────────────────────────── internals ───────────────────────────

    /// @dev Reverts unless the caller is the admin.
    function _onlyAdmin() internal view {
        if (msg.sender != _admin) revert Inference__NotAdmin(msg.sender);
    }

    /// @dev Reverts unless the request exists and is in `expected`.
    function _expectState(bytes32 requestId, RequestState actual, RequestState expected) internal pure {
        if (actual == expected) return;
        if (actual == RequestState.None) revert Inference__UnknownRequest(requestId);
        revert Inference__WrongState(requestId, actual, expected);
    }

    /// @dev Whether a node's output is stored: answered, and possibly settled or slashed since.
    function _isAnswered(RequestState state) internal pure returns (bool) {
        return
            state == RequestState.Answered || state == RequestState.Settled || state == RequestState.Slashed;
    }

    /// @dev `[uint256(requestId) >> 3, inPacked..., (weightCommitment,) outPacked...]`, as
    /// docs/protocol.md fixes it; the commitment of a private-weights model is stored as the
    /// last "input" word at request time, so it is covered by `inWords`. A model whose request
    /// fits one field element has the one compact signal instead (`_compactSignal`).
    function _publicSignals(
        bytes32 requestId,
        RequestRecord storage req
    ) internal view returns (uint256[] memory signals) {
        if (req.verifySelector == _COMPACT_SELECTOR) {
            signals = new uint256[](1);
            signals[0] = _compactSignal(requestId, req);
            return signals;
        }
        uint256 words = uint256(req.inWords) + FixedPointPacking.wordCount(req.outputLength, req.valueBits);
        signals = new uint256[](1 + words);
        signals[0] = uint256(requestId) >> 3;
        mapping(uint256 => uint256) storage stored = _words[requestId];
        for (uint256 i; i < words; ++i) {
            signals[1 + i] = stored[i];
        }
    }

    /// @dev `outWord | binding << V | inWord << (V + 128)`, binding = `(uint256(id) >> 128) | 1` (never
    /// 0, so never padding) and V the output's bits. The registry allows it only when the three
    /// parts fill at most 253 bits, with one input word and one output word.
    function _compactSignal(bytes32 requestId, RequestRecord storage req) internal view returns (uint256) {
        mapping(uint256 => uint256) storage stored = _words[requestId];
        uint256 binding = (uint256(requestId) >> _BINDING_BITS) | 1;
        uint256 outBits = uint256(req.outputLength) * req.valueBits;
        return stored[1] | (binding << outBits) | (stored[0] << (outBits + _BINDING_BITS));
    }

    /// @dev Decodes the output from the tail of the public signals (saves re-reading storage).
    function _outputFromSignals(
        RequestRecord storage req,
        uint256[] memory signals
    ) internal view returns (int256[] memory) {
        if (req.verifySelector == _COMPACT_SELECTOR) {
            uint256[] memory word = new uint256[](1);
            word[0] = signals[0] & ((uint256(1) << (uint256(req.outputLength) * req.valueBits)) - 1);
            return FixedPointPacking.unpack(word, req.outputLength, req.valueBits);
        }
        uint256 skip = 1 + uint256(req.inWords);
        uint256 outWords = signals.length - skip;
        uint256[] memory words = new uint256[](outWords);
        for (uint256 i; i < outWords; ++i) {
            words[i] = signals[skip + i];
        }
        return FixedPointPacking.unpack(words, req.outputLength, req.valueBits);
    }

    /// @dev Checks the request against the model, snapshots the model's terms and stores the
    /// request with its packed input; returns its id and the stake an answer will lock.
    function _storeRequest(
        bytes32 modelId,
        int256[] calldata input,
        Mode mode,
        uint32 callbackGasLimit,
        uint128 valueAtRisk
    ) internal returns (bytes32 requestId, uint128 stake) {
        IModelRegistry registry_ = _registry;
        if (!registry_.isActive(modelId)) revert Inference__UnknownModel(modelId);
        IModelRegistry.Model memory model = registry_.getModel(modelId);
        IModelRegistry.ModelConfig memory config = model.config;
        uint256 fee = Sibyl.requiredFee(config.fee, config.callbackGasPrice, callbackGasLimit);
        if (msg.value < fee) revert Inference__FeeTooLow(fee, msg.value);
        if (input.length != config.inputLength)
            revert Inference__WrongLength(config.inputLength, input.length);
        uint256[] memory inWords = FixedPointPacking.pack(input, config.inputBits, config.weightCommitment);
        if (config.unbonded) {
            if (valueAtRisk != 0) revert Inference__NotCoverable(modelId, valueAtRisk);
        } else {
            // What the consumer declares is what a slash repays: lock the stake that takes.
            uint256 covering = Sibyl.stakeFor(valueAtRisk);
            if (covering > type(uint128).max) revert Inference__NotCoverable(modelId, valueAtRisk);
            stake = covering > config.stake ? uint128(covering) : config.stake;
        }

        uint256 nonce = _nonce;
        _nonce = nonce + 1;
        requestId = keccak256(abi.encode(block.chainid, address(this), msg.sender, nonce));
        _requests[requestId] = RequestRecord({
            consumer: msg.sender,
            requestedAt: uint48(block.timestamp),
            callbackGasLimit: callbackGasLimit,
            valueBits: config.valueBits,
            mode: mode,
            modelId: modelId,
            node: address(0),
            answeredAt: 0,
            state: RequestState.Requested,
            // The registry caps lengths at 4096, so these casts never revert in practice.
            inWords: inWords.length.toUint16(),
            outputLength: uint256(config.outputLength).toUint16(),
            fee: msg.value.toUint128(),
            stake: stake,
            verifier: model.verifier,
            settlementWindow: config.settlementWindow,
            verifySelector: model.verifySelector,
            syncFlags: 0
        });
        _writeWords(requestId, 0, inWords);
    }

    /// @dev Credits a node for settled answers: unlocks their `stake` and credits their `fee`.
    function _creditSettlement(address node, uint256 stake, uint256 fee) internal {
        // Safe: these answers locked exactly `stake` between them, so `locked >= stake`.
        unchecked {
            _nodes[node].locked -= uint120(stake);
        }
        _pending[node] += fee;
    }

    /// @dev Locks `stake` of the caller's free bond behind an answer, leaving at least `minBond` free,
    /// so that no node ever answers without collateral (not even for an unbonded model's stake 0).
    function _lockStake(NodeRecord storage node, uint256 stake) internal {
        uint256 bond = node.bond;
        uint256 locked = node.locked;
        // Safe: `locked <= bond` is an invariant of every transition.
        uint256 free;
        unchecked {
            free = bond - locked;
        }
        // Safe: a stake is a uint128 and `initialize` keeps the minimum bond within uint120.
        uint256 required;
        unchecked {
            required = stake + _minBond;
        }
        if (free < required) revert Inference__InsufficientBond(msg.sender, free, required);
        // Safe: `locked + stake <= bond`, which fits uint120.
        unchecked {
            node.locked = uint120(locked + stake);
        }
    }

    /// @dev Stores packed words of a request from index `start` on.
    function _writeWords(bytes32 requestId, uint256 start, uint256[] memory words) internal {
        mapping(uint256 => uint256) storage stored = _words[requestId];
        for (uint256 i; i < words.length; ++i) {
            stored[start + i] = words[i];
        }
    }

    /// @dev Reads `count` packed words of a request starting at `start`.
    function _readWords(
        bytes32 requestId,
        uint256 start,
        uint256 count
    ) internal view returns (uint256[] memory out) {
        mapping(uint256 => uint256) storage stored = _words[requestId];
        out = new uint256[](count);
        for (uint256 i; i < count; ++i) {
            out[i] = stored[start + i];
        }
    }

    /// @dev Calls the snarkjs verifier's `verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[N])`.
    /// Static arrays are ABI-encoded inline, so the calldata is `selector ‖ proof ‖ signals`.
    /// Only a successful call returning at least one word equal to 1 counts as valid; the return
    /// data is never copied beyond that word.
    function _verify(
        address verifier,
        bytes4 selector,
        uint256[8] memory proof,
        uint256[] memory signals
    ) internal view returns (bool valid) {
        bytes memory data = abi.encodePacked(selector, proof, signals);
        assembly ("memory-safe") {
            let ok := staticcall(gas(), verifier, add(data, 0x20), mload(data), 0x00, 0x20)
            valid := and(ok, and(gt(returndatasize(), 0x1f), eq(mload(0x00), 1)))
        }
    }

    /// @dev Calls a consumer hook with exactly `gasLimit` gas and reports whether it returned
    /// normally. Skipped (reported as ok) for accounts without code and for `gasLimit == 0`.
    /// Reverts if the caller did not leave enough gas for the hook to receive its full limit
    /// after the EVM keeps back 1/64, so a node cannot make a hook fail by starving it.
    /// Return data is not copied, so a hook cannot make the caller pay for a huge return.
    function _callConsumer(address consumer, uint256 gasLimit, bytes memory data) internal returns (bool ok) {
        if (!_hasHooks(consumer, gasLimit)) return true;
        // Safe: gasLimit is a uint32, far from overflowing.
        uint256 required;
        unchecked {
            required = gasLimit + gasLimit / 63 + 1 + _CALLBACK_OVERHEAD;
        }
        uint256 available = gasleft();
        if (available < required) revert Inference__InsufficientGasForCallback(available, required);
        assembly ("memory-safe") {
            ok := call(gasLimit, consumer, 0, add(data, 0x20), mload(data), 0, 0)
        }
    }

    /// @dev Whether hooks are called for this consumer: a contract that asked for hook gas.
    function _hasHooks(address consumer, uint256 gasLimit) internal view returns (bool) {
        return gasLimit != 0 && consumer.code.length != 0;
    }

    /// @dev Sends ETH with all remaining gas (the recipient is the caller itself) without copying
    /// return data.
    function _sendValue(address to, uint256 amount) internal {
        bool ok;
        assembly ("memory-safe") {
            ok := call(gas(), to, amount, 0, 0, 0, 0)
        }
        if (!ok) revert Inference__TransferFailed(to, amount);
    }

    /// @dev `answeredAt + window`, saturated at `type(uint64).max` for absurdly long windows.
    function _deadline(uint256 answeredAt_, uint256 window) internal pure returns (uint64) {
        // Safe: a uint48 plus a uint64 cannot overflow uint256.
        unchecked {
            return _saturate64(answeredAt_ + window);
        }
    }

    function _saturate64(uint256 value) internal pure returns (uint64) {
        return value > type(uint64).max ? type(uint64).max : uint64(value);
    }
}
