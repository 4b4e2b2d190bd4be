// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IEnclaveRegistry} from "../interfaces/IEnclaveRegistry.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {ISyncInference} from "../interfaces/ISyncInference.sol";
import {FixedPointPacking} from "../libraries/FixedPointPacking.sol";
import {InferenceStorage} from "./InferenceStorage.sol";
import {ISimulator} from "../pipe/Simulator.sol";

/// @title SyncInference
/// @notice The precompile's synchronous half (`ISyncInference`): nodes `prepare` results for the
/// calls a pre-executed transaction will make, and the transaction's calls consume them.
/// @dev Simulation. The pre-execution layer runs a transaction as `eth_call` with the storage
/// slot `_SIM_SLOT` overridden and a `Simulator` placed at an address of its choice (both
/// state overrides). On-chain nothing ever writes that slot, so a mined transaction can never
/// take the simulation branch, and the simulator's code exists only inside simulations. There,
/// each synchronous call goes to the simulator, which checks it, records it and answers it
/// (see `contracts/pipe/Simulator.sol`).
/// Binding to `tx.origin` is the design, not an authorisation check: a result is prepared for
/// one sender's transaction, and only that transaction (whoever the contracts in between) may
/// consume it; it authorises nothing else.
/* solhint-disable avoid-tx-origin */
abstract contract SyncInference is InferenceStorage {
    /// @dev `eth_call` state overrides set this slot to simulate; nothing on-chain writes it. Its
    /// value: bit 0 simulate, bit 1 legacy OpenGradient layout, bits 8… the simulator's address.
    bytes32 internal constant _SIM_SLOT = keccak256("sibyl.pipe.simulation");
    uint256 internal constant _SIMULATING = 1;
    uint256 internal constant _SIM_LEGACY = 2;

    /// @dev `syncFlags` bits of a request record.
    uint8 internal constant _SYNC_PREPARED = 1;
    uint8 internal constant _SYNC_PROOF_CARRYING = 2;
    uint8 internal constant _SYNC_LEGACY = 4;

    /// @dev `inferFrom` flag bit 1: answer in the legacy OpenGradient layout (bit 0, "simulated",
    /// is set by the `Simulator`, never by the precompile itself).
    uint8 internal constant _FLAG_LEGACY = 2;

    /// @dev Words of a stored Groth16 proof.
    uint256 internal constant _PROOF_WORDS = 8;

    // ───────────────────────────── calls ─────────────────────────────

    /// @inheritdoc ISyncInference
    function infer(
        bytes32 modelId,
        int256[] calldata input,
        Finality finality
    ) external nonReentrant returns (int256[] memory output) {
        (output, , ) = _infer(msg.sender, modelId, input, finality);
    }

    /// @inheritdoc ISyncInference
    function inferWithId(
        bytes32 modelId,
        int256[] calldata input,
        Finality finality
    ) external nonReentrant returns (int256[] memory output, bytes32 requestId) {
        (output, requestId, ) = _infer(msg.sender, modelId, input, finality);
    }

    /// @inheritdoc ISyncInference
    function inferFrom(
        address consumer,
        bytes32 modelId,
        int256[] calldata input,
        Finality finality
    ) external nonReentrant returns (int256[] memory output, bytes32 requestId, uint8 flags) {
        if (msg.sender != _adapter || msg.sender == address(0)) revert Inference__NotAdapter(msg.sender);
        return _infer(consumer, modelId, input, finality);
    }

    // ───────────────────────────── nodes ─────────────────────────────

    /// @inheritdoc ISyncInference
    function prepare(
        Preparation[] calldata items
    ) external nonReentrant returns (bytes32[] memory requestIds) {
        NodeRecord storage node = _nodes[msg.sender];
        if (!node.registered) revert Inference__NotNode(msg.sender);
        requestIds = new bytes32[](items.length);
        for (uint256 i; i < items.length; ++i) {
            requestIds[i] = _prepareOne(node, items[i]);
        }
    }

    // ───────────────────────────── credit ────────────────────────────

    /// @inheritdoc ISyncInference
    function deposit(address node) external payable nonReentrant {
        _deposit(msg.sender, node);
    }

    /// @inheritdoc ISyncInference
    function depositFor(address account, address node) external payable nonReentrant {
        _deposit(account, node);
    }

    /// @inheritdoc ISyncInference
    function withdrawCredit(address node, uint256 amount) external nonReentrant {
        uint256 credit = _credit[msg.sender][node];
        if (amount == 0 || amount > credit)
            revert Inference__InsufficientCredit(msg.sender, node, credit, amount);
        // Safe: `amount <= credit`.
        unchecked {
            credit -= amount;
        }
        _credit[msg.sender][node] = credit;
        emit CreditWithdrawn(msg.sender, node, amount, credit);
        _sendValue(msg.sender, amount);
    }

    /// @inheritdoc ISyncInference
    function setAdapter(address adapter_) external nonReentrant {
        _onlyAdmin();
        if (_adapter != address(0) || adapter_.code.length == 0)
            revert Inference__AdapterNotSettable(_adapter);
        _adapter = adapter_;
        emit AdapterSet(adapter_);
    }

    // ───────────────────────────── views ─────────────────────────────

    /// @inheritdoc ISyncInference
    function creditOf(address account, address node) external view returns (uint256) {
        return _credit[account][node];
    }

    /// @inheritdoc ISyncInference
    function originOf(bytes32 requestId) external view returns (address) {
        return _origins[requestId];
    }

    /// @inheritdoc ISyncInference
    function preparedCount(bytes32 callKey) external view returns (uint256) {
        Queue storage queue = _queues[callKey];
        return queue.tail - queue.head;
    }

    /// @inheritdoc ISyncInference
    function callKeyOf(
        address origin,
        address consumer,
        bytes32 modelId,
        int256[] calldata input,
        Finality finality
    ) external pure returns (bytes32) {
        return _callKey(origin, consumer, modelId, input, finality);
    }

    /// @inheritdoc ISyncInference
    function adapter() external view returns (address) {
        return _adapter;
    }

    // ─────────────────────────── internals ───────────────────────────

    /// @dev One synchronous call: while simulating, record it and answer with its preview or
    /// zeros; on-chain, consume the oldest live result prepared for exactly this call.
    function _infer(
        address consumer,
        bytes32 modelId,
        int256[] calldata input,
        Finality finality
    ) private returns (int256[] memory output, bytes32 requestId, uint8 flags) {
        bytes32 callKey = _callKey(tx.origin, consumer, modelId, input, finality);
        uint256 simulation;
        bytes32 simSlot = _SIM_SLOT;
        assembly ("memory-safe") {
            simulation := sload(simSlot)
        }
        if (simulation & _SIMULATING != 0) {
            // Only an eth_call override sets the slot: it names the simulator it placed.
            (output, flags) = ISimulator(address(uint160(simulation >> 8))).simulate(
                callKey,
                consumer,
                modelId,
                input,
                finality,
                simulation & _SIM_LEGACY != 0
            );
            return (output, bytes32(0), flags);
        }

        (output, requestId, flags) = _consume(callKey, consumer, modelId, finality);
    }

    /// @dev Consumes the oldest live result prepared for `callKey`: a deferred one becomes Answered,
    /// a proof-carrying one has its proof verified here and becomes Settled.
    function _consume(
        bytes32 callKey,
        address consumer,
        bytes32 modelId,
        Finality finality
    ) private returns (int256[] memory output, bytes32 requestId, uint8 flags) {
        RequestRecord storage req;
        (requestId, req) = _dequeue(callKey);
        if (requestId == bytes32(0)) revert Inference__NotPrepared(callKey, tx.origin, consumer, modelId);
        uint256 outWords = FixedPointPacking.wordCount(req.outputLength, req.valueBits);
        output = FixedPointPacking.unpack(
            _readWords(requestId, req.inWords, outWords),
            req.outputLength,
            req.valueBits
        );
        req.answeredAt = uint48(block.timestamp);
        if (finality == Finality.Deferred) {
            req.state = RequestState.Answered;
            emit InferenceAnswered(
                requestId,
                req.node,
                output,
                _deadline(block.timestamp, req.settlementWindow),
                true
            );
        } else {
            // Proof-carrying: the stored proof is checked now. Attested: the enclave's
            // signature was checked when the result was prepared.
            if (finality == Finality.ProofCarrying && !_storedProofValid(requestId, req))
                revert Inference__InvalidProof(requestId);
            req.state = RequestState.Settled;
            _pending[req.node] += req.fee;
            emit InferenceAnswered(requestId, req.node, output, uint64(block.timestamp), true);
            emit InferenceSettled(requestId, req.node, consumer, true);
        }
        emit SyncInferenceConsumed(requestId, consumer, tx.origin, finality);
        if (req.syncFlags & _SYNC_LEGACY != 0) flags = _FLAG_LEGACY;
    }

    /// @dev Whether the proof stored with a proof-carrying result (after its input and output
    /// words) verifies for exactly this request.
    function _storedProofValid(bytes32 requestId, RequestRecord storage req) internal view returns (bool) {
        uint256 start = uint256(req.inWords) + FixedPointPacking.wordCount(req.outputLength, req.valueBits);
        uint256[] memory stored = _readWords(requestId, start, _PROOF_WORDS);
        uint256[8] memory proof;
        for (uint256 i; i < _PROOF_WORDS; ++i) proof[i] = stored[i];
        return _verify(req.verifier, req.verifySelector, proof, _publicSignals(requestId, req));
    }

    /// @dev Pops prepared results for `callKey` until a live one (still Prepared, within the answer
    /// window) comes up; returns a zero id if none. Stale ones stay Prepared until `expire`.
    function _dequeue(bytes32 callKey) private returns (bytes32 requestId, RequestRecord storage req) {
        Queue storage queue = _queues[callKey];
        uint128 head = queue.head;
        uint128 tail = queue.tail;
        mapping(uint256 => bytes32) storage queued = _queued[callKey];
        uint256 window = _answerWindow;
        while (head < tail) {
            bytes32 id = queued[head];
            delete queued[head];
            ++head;
            RequestRecord storage candidate = _requests[id];
            if (
                candidate.state == RequestState.Prepared &&
                block.timestamp <= uint256(candidate.requestedAt) + window
            ) {
                queue.head = head;
                return (id, candidate);
            }
        }
        queue.head = head;
        return (bytes32(0), _requests[bytes32(0)]);
    }

    /// @dev Stores one prepared result: checks it against the model, takes the fee from the
    /// origin's credit, locks the stake of a deferred one and queues it under its call key.
    function _prepareOne(
        NodeRecord storage node,
        Preparation calldata item
    ) private returns (bytes32 requestId) {
        IModelRegistry.Model memory model = _activeModel(item.modelId);
        IModelRegistry.ModelConfig memory config = model.config;
        if (item.input.length != config.inputLength)
            revert Inference__WrongLength(config.inputLength, item.input.length);
        if (item.output.length != config.outputLength)
            revert Inference__WrongLength(config.outputLength, item.output.length);

        requestId = keccak256(abi.encode(block.chainid, address(this), msg.sender, item.salt));
        if (_requests[requestId].state != RequestState.None) revert Inference__RequestExists(requestId);
        uint128 fee = config.fee;
        _charge(item.origin, fee);
        _origins[requestId] = item.origin;
        bool proofCarrying = item.finality == Finality.ProofCarrying;
        bool attested = item.finality == Finality.Attested;
        // Only a deferred result leaves a trust gap for a stake to cover.
        uint128 stake = item.finality != Finality.Deferred || config.unbonded ? 0 : config.stake;
        _lockStake(node, stake);

        (uint256[] memory ins, uint256[] memory outs) = _storeVectors(requestId, item, config, proofCarrying);
        if (attested) _checkAttested(requestId, item, ins, outs);
        _requests[requestId] = RequestRecord({
            consumer: item.consumer,
            requestedAt: uint48(block.timestamp),
            callbackGasLimit: 0,
            valueBits: config.valueBits,
            mode: attested ? Mode.TEE : Mode.ZK,
            modelId: item.modelId,
            node: msg.sender,
            answeredAt: 0,
            state: RequestState.Prepared,
            // The registry caps lengths at 4096, so these casts never truncate.
            inWords: uint16(ins.length),
            outputLength: uint16(config.outputLength),
            syncFlags: _SYNC_PREPARED |
                (proofCarrying ? _SYNC_PROOF_CARRYING : 0) |
                (item.legacyLayout ? _SYNC_LEGACY : 0),
            fee: fee,
            stake: stake,
            verifier: model.verifier,
            settlementWindow: config.settlementWindow,
            verifySelector: model.verifySelector
        });
        _enqueue(requestId, item);
    }

    /// @dev Stores a prepared result's packed input and output words (and the proof of a
    /// proof-carrying one after them); returns the words.
    function _storeVectors(
        bytes32 requestId,
        Preparation calldata item,
        IModelRegistry.ModelConfig memory config,
        bool proofCarrying
    ) private returns (uint256[] memory inWords, uint256[] memory outWords) {
        inWords = FixedPointPacking.pack(item.input, config.inputBits, config.weightCommitment);
        outWords = FixedPointPacking.pack(item.output, config.valueBits);
        _writeWords(requestId, 0, inWords);
        _writeWords(requestId, inWords.length, outWords);
        if (proofCarrying) _storeProof(requestId, inWords.length + outWords.length, item.proof);
    }

    /// @dev An attested result: the enclave registry checks the signature over exactly the words
    /// stored for it (as `answerAttested` does for an asynchronous request), now.
    function _checkAttested(
        bytes32 requestId,
        Preparation calldata item,
        uint256[] memory inWords,
        uint256[] memory outWords
    ) private view {
        IEnclaveRegistry enclaves = _enclaves;
        if (address(enclaves) == address(0)) revert Inference__UnsupportedMode(Mode.TEE);
        enclaves.checkAnswer(
            msg.sender,
            requestId,
            item.modelId,
            keccak256(abi.encodePacked(inWords)),
            keccak256(abi.encodePacked(outWords)),
            item.attestedAt,
            item.signature
        );
    }

    /// @dev Queues a prepared result under its call key and announces it.
    function _enqueue(bytes32 requestId, Preparation calldata item) private {
        bytes32 callKey = _callKey(item.origin, item.consumer, item.modelId, item.input, item.finality);
        Queue storage queue = _queues[callKey];
        uint128 tail = queue.tail;
        _queued[callKey][tail] = requestId;
        queue.tail = tail + 1;
        emit InferencePrepared(requestId, msg.sender, item.origin, item.consumer, callKey, item.finality);
    }

    function _storeProof(bytes32 requestId, uint256 start, uint256[8] calldata proof) private {
        mapping(uint256 => uint256) storage stored = _words[requestId];
        for (uint256 i; i < _PROOF_WORDS; ++i) stored[start + i] = proof[i];
    }

    /// @dev Takes `fee` from the credit `account` has with the calling node.
    function _charge(address account, uint256 fee) private {
        uint256 credit = _credit[account][msg.sender];
        if (credit < fee) revert Inference__InsufficientCredit(account, msg.sender, credit, fee);
        // Safe: `fee <= credit`.
        unchecked {
            _credit[account][msg.sender] = credit - fee;
        }
    }

    function _deposit(address account, address node) private {
        uint256 credit = _credit[account][node] + msg.value;
        _credit[account][node] = credit;
        emit CreditDeposited(account, node, msg.sender, msg.value, credit);
    }

    /// @dev The model, reverting unless it is registered and active.
    function _activeModel(bytes32 modelId) private view returns (IModelRegistry.Model memory) {
        IModelRegistry registry_ = _registry;
        if (!registry_.isActive(modelId)) revert Inference__UnknownModel(modelId);
        return registry_.getModel(modelId);
    }

    /// @dev `keccak256(abi.encode(origin, consumer, modelId, finality, keccak256(abi.encodePacked(input))))`.
    function _callKey(
        address origin,
        address consumer,
        bytes32 modelId,
        int256[] calldata input,
        Finality finality
    ) internal pure returns (bytes32) {
        return keccak256(abi.encode(origin, consumer, modelId, finality, keccak256(abi.encodePacked(input))));
    }
}
