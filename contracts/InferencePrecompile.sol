// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IEnclaveRegistry} from "./interfaces/IEnclaveRegistry.sol";
import {IInference} from "./interfaces/IInference.sol";
import {IInferenceConsumer} from "./interfaces/IInferenceConsumer.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {FixedPointPacking} from "./libraries/FixedPointPacking.sol";
import {Sibyl} from "./libraries/SibylAddresses.sol";
import {BatchSettlement} from "./precompile/BatchSettlement.sol";
import {SyncInference} from "./precompile/SyncInference.sol";

/// @title InferencePrecompile
/// @notice Sibyl's request state machine and node bonds. A consumer requests an inference,
/// escrows a fee and declares the value it puts at risk; a bonded node answers at once and locks
/// enough of its bond that a slash repays that value (and at least the model's stake), keeping
/// `minBond` free beyond it; anyone settles the answer with a Groth16 proof
/// (the fee goes to the node) or, after the settlement deadline, slashes it (the stake, less a
/// reward for the slasher, and the fee go to the consumer). Unanswered requests expire and are
/// refunded. Every payment is credited and pulled with `withdraw`.
/// @dev Installed as *runtime code* (`hardhat_setCode` at `Sibyl.INFERENCE`), where no
/// constructor runs: it has no immutables, keeps everything in storage and is set once by
/// `initialize` (or by its constructor when deployed normally, e.g. through CREATE2).
/// Keep the storage layout append-only: re-installing code keeps the storage it finds
/// (`precompile/InferenceStorage.sol`). Synchronous calls are in `precompile/SyncInference.sol`,
/// batch settlement in `precompile/BatchSettlement.sol`;
/// calls in OpenGradient's ABI reach the adapter through `fallback`.
contract InferencePrecompile is SyncInference, BatchSettlement {
    using SafeCast for uint256;

    // ──────────────────────────── administration ─────────────────────────

    /// @notice Deploys and initialises in one transaction, as the CREATE2 deployment on other
    /// chains does (so nobody can front-run `initialize`). Pass `registry_ = address(0)` to
    /// deploy uninitialised.
    /// @dev `hardhat_setCode` places only the runtime code, so this never runs at 0x…F4; the
    /// installer calls `initialize` there instead.
    constructor(address admin_, address registry_, uint256 minBond_, uint64 answerWindow_) {
        if (registry_ != address(0)) _initialize(admin_, registry_, minBond_, answerWindow_);
    }

    /// @inheritdoc IInference
    /// @dev Anyone may call it once: the installer calls it right after placing the code and then
    /// refuses an installation whose admin or parameters are not the ones it asked for.
    function initialize(address admin_, address registry_, uint256 minBond_, uint64 answerWindow_) external {
        _initialize(admin_, registry_, minBond_, answerWindow_);
    }

    function _initialize(address admin_, address registry_, uint256 minBond_, uint64 answerWindow_) private {
        if (_lock != _UNINITIALIZED) revert Inference__AlreadyInitialized();
        if (
            admin_ == address(0) ||
            registry_.code.length == 0 ||
            minBond_ == 0 ||
            minBond_ > type(uint120).max ||
            answerWindow_ == 0 ||
            answerWindow_ > Sibyl.MAX_ANSWER_WINDOW
        ) {
            revert Inference__InvalidConfig();
        }
        _lock = _UNLOCKED;
        _admin = admin_;
        _registry = IModelRegistry(registry_);
        _answerWindow = answerWindow_;
        _minBond = minBond_;
        emit Initialized(admin_, registry_, minBond_, answerWindow_);
    }

    /// @inheritdoc IInference
    function proposeRegistry(address registry_) external nonReentrant {
        _onlyAdmin();
        if (registry_.code.length == 0) revert Inference__InvalidConfig();
        // Safe: a uint48-sized timestamp plus two days fits uint64 for billions of years.
        uint64 effectiveAt = uint64(block.timestamp) + REGISTRY_CHANGE_DELAY;
        _pendingRegistry = registry_;
        _registryEffectiveAt = effectiveAt;
        emit RegistryChangeProposed(address(_registry), registry_, effectiveAt);
    }

    /// @inheritdoc IInference
    function cancelRegistryChange() external nonReentrant {
        _onlyAdmin();
        address proposed = _pendingRegistry;
        if (proposed == address(0)) revert Inference__NoRegistryChange();
        _pendingRegistry = address(0);
        _registryEffectiveAt = 0;
        emit RegistryChangeCancelled(proposed);
    }

    /// @inheritdoc IInference
    function applyRegistryChange() external nonReentrant {
        address proposed = _pendingRegistry;
        if (proposed == address(0)) revert Inference__NoRegistryChange();
        uint64 effectiveAt = _registryEffectiveAt;
        if (block.timestamp < effectiveAt) revert Inference__RegistryChangeNotDue(effectiveAt);
        address previous = address(_registry);
        _registry = IModelRegistry(proposed);
        _pendingRegistry = address(0);
        _registryEffectiveAt = 0;
        emit RegistryUpdated(previous, proposed);
    }

    /// @inheritdoc IInference
    function transferAdmin(address newAdmin) external nonReentrant {
        _onlyAdmin();
        _pendingAdmin = newAdmin;
        emit AdminTransferStarted(msg.sender, newAdmin);
    }

    /// @inheritdoc IInference
    function acceptAdmin() external nonReentrant {
        if (msg.sender != _pendingAdmin) revert Inference__NotPendingAdmin(msg.sender);
        address previous = _admin;
        _admin = msg.sender;
        _pendingAdmin = address(0);
        emit AdminTransferred(previous, msg.sender);
    }

    /// @inheritdoc IInference
    function setEnclaveRegistry(address enclaveRegistry_) external nonReentrant {
        _onlyAdmin();
        address current = address(_enclaves);
        if (current != address(0) || enclaveRegistry_.code.length == 0)
            revert Inference__EnclaveRegistryNotSettable(current);
        _enclaves = IEnclaveRegistry(enclaveRegistry_);
        emit EnclaveRegistrySet(enclaveRegistry_);
    }

    // ──────────────────────────────── nodes ──────────────────────────────

    /// @inheritdoc IInference
    function registerNode() external payable nonReentrant {
        NodeRecord storage node = _nodes[msg.sender];
        if (!node.registered) {
            uint256 minBond_ = _minBond;
            if (msg.value < minBond_) revert Inference__BondTooLow(minBond_, msg.value);
            node.registered = true;
        } else if (msg.value == 0) {
            revert Inference__BondTooLow(1, 0);
        }
        uint120 bond = (node.bond + msg.value).toUint120();
        node.bond = bond;
        emit NodeBonded(msg.sender, msg.value, bond);
    }

    /// @inheritdoc IInference
    function setNodePolicy(
        uint128 minFee,
        uint32 maxCallbackGasLimit,
        uint88 maxStake
    ) external nonReentrant {
        if (!_nodes[msg.sender].registered) revert Inference__NotNode(msg.sender);
        _policies[msg.sender] = NodePolicy({
            minFee: minFee,
            maxCallbackGasLimit: maxCallbackGasLimit,
            maxStake: maxStake,
            published: true
        });
        emit NodePolicyUpdated(msg.sender, minFee, maxCallbackGasLimit, maxStake);
    }

    /// @inheritdoc IInference
    function withdrawBond(uint256 amount) external nonReentrant {
        NodeRecord storage node = _nodes[msg.sender];
        if (!node.registered) revert Inference__NotNode(msg.sender);
        if (amount == 0) revert Inference__NothingToWithdraw(msg.sender);
        uint256 bond = node.bond;
        // Safe: `locked <= bond` is an invariant of every transition.
        uint256 free;
        unchecked {
            free = bond - node.locked;
        }
        if (amount > free) revert Inference__InsufficientBond(msg.sender, free, amount);
        // Safe: `amount <= free <= bond`, so the result fits the bond's uint120.
        unchecked {
            bond -= amount;
        }
        node.bond = uint120(bond);
        emit BondWithdrawn(msg.sender, amount, bond);
        _sendValue(msg.sender, amount);
    }

    // ──────────────────────────── request lifecycle ──────────────────────

    /// @inheritdoc IInference
    function request(
        bytes32 modelId,
        int256[] calldata input,
        Mode mode,
        uint32 callbackGasLimit,
        uint128 valueAtRisk
    ) external payable nonReentrant returns (bytes32 requestId) {
        if (mode == Mode.VANILLA || (mode == Mode.TEE && address(_enclaves) == address(0))) {
            revert Inference__UnsupportedMode(mode);
        }
        if (callbackGasLimit > Sibyl.MAX_CALLBACK_GAS_LIMIT) {
            revert Inference__CallbackGasLimitTooHigh(callbackGasLimit, Sibyl.MAX_CALLBACK_GAS_LIMIT);
        }
        uint128 stake;
        (requestId, stake) = _storeRequest(modelId, input, mode, callbackGasLimit, valueAtRisk);
        emit InferenceRequested(
            requestId,
            modelId,
            msg.sender,
            input,
            mode,
            callbackGasLimit,
            msg.value,
            stake
        );
    }

    /// @inheritdoc IInference
    function answer(bytes32 requestId, int256[] calldata output) external nonReentrant {
        NodeRecord storage node = _nodes[msg.sender];
        if (!node.registered) revert Inference__NotNode(msg.sender);
        RequestRecord storage req = _requests[requestId];
        _expectState(requestId, req.state, RequestState.Requested);
        if (req.mode != Mode.ZK) revert Inference__WrongMode(requestId, req.mode);
        if (output.length != req.outputLength) revert Inference__WrongLength(req.outputLength, output.length);
        uint256[] memory outWords = FixedPointPacking.pack(output, req.valueBits);
        _lockStake(node, req.stake);

        req.node = msg.sender;
        req.answeredAt = uint48(block.timestamp);
        req.state = RequestState.Answered;
        _writeWords(requestId, req.inWords, outWords);

        bool callbackOk = _callConsumer(
            req.consumer,
            req.callbackGasLimit,
            abi.encodeCall(IInferenceConsumer.onInferenceAnswered, (requestId, output))
        );
        emit InferenceAnswered(
            requestId,
            msg.sender,
            output,
            _deadline(block.timestamp, req.settlementWindow),
            callbackOk
        );
    }

    /// @inheritdoc IInference
    /// @dev State before calls: the request is `Settled` and the fee credited before either hook
    /// runs, so `onInferenceAnswered` already sees a final request.
    function answerAttested(
        bytes32 requestId,
        int256[] calldata output,
        uint64 attestedAt,
        bytes calldata signature
    ) external nonReentrant {
        if (!_nodes[msg.sender].registered) revert Inference__NotNode(msg.sender);
        RequestRecord storage req = _requests[requestId];
        _expectState(requestId, req.state, RequestState.Requested);
        if (req.mode != Mode.TEE) revert Inference__WrongMode(requestId, req.mode);
        if (output.length != req.outputLength) revert Inference__WrongLength(req.outputLength, output.length);
        uint256[] memory outWords = FixedPointPacking.pack(output, req.valueBits);
        uint256 inWords = req.inWords;
        _enclaves.checkAnswer(
            msg.sender,
            requestId,
            req.modelId,
            keccak256(abi.encodePacked(_readWords(requestId, 0, inWords))),
            keccak256(abi.encodePacked(outWords)),
            attestedAt,
            signature
        );

        req.node = msg.sender;
        req.answeredAt = uint48(block.timestamp);
        req.state = RequestState.Settled;
        _writeWords(requestId, inWords, outWords);
        _pending[msg.sender] += req.fee;
        _deliverFinal(requestId, req, output);
    }

    /// @dev Both hooks of a request that is final as soon as it is answered, in order.
    function _deliverFinal(bytes32 requestId, RequestRecord storage req, int256[] calldata output) private {
        address consumer = req.consumer;
        uint32 gasLimit = req.callbackGasLimit;
        bool answeredOk = _callConsumer(
            consumer,
            gasLimit,
            abi.encodeCall(IInferenceConsumer.onInferenceAnswered, (requestId, output))
        );
        emit InferenceAnswered(requestId, msg.sender, output, uint64(block.timestamp), answeredOk);
        bool settledOk = _callConsumer(
            consumer,
            gasLimit,
            abi.encodeCall(IInferenceConsumer.onInferenceSettled, (requestId, output))
        );
        emit InferenceSettled(requestId, msg.sender, msg.sender, settledOk);
    }

    /// @inheritdoc IInference
    function settle(bytes32 requestId, uint256[8] calldata proof) external nonReentrant {
        RequestRecord storage req = _requests[requestId];
        _expectState(requestId, req.state, RequestState.Answered);
        uint64 deadline = _deadline(req.answeredAt, req.settlementWindow);
        if (block.timestamp > deadline) revert Inference__DeadlinePassed(requestId, deadline);

        uint256[] memory signals = _publicSignals(requestId, req);
        if (!_verify(req.verifier, req.verifySelector, proof, signals))
            revert Inference__InvalidProof(requestId);

        req.state = RequestState.Settled;
        address node = req.node;
        _creditSettlement(node, req.stake, req.fee);

        // The output is decoded only for a consumer that has hooks.
        address consumer = req.consumer;
        uint32 gasLimit = req.callbackGasLimit;
        bool callbackOk = true;
        if (_hasHooks(consumer, gasLimit)) {
            callbackOk = _callConsumer(
                consumer,
                gasLimit,
                abi.encodeCall(
                    IInferenceConsumer.onInferenceSettled,
                    (requestId, _outputFromSignals(req, signals))
                )
            );
        }
        emit InferenceSettled(requestId, node, msg.sender, callbackOk);
    }

    /// @inheritdoc IInference
    function slash(bytes32 requestId) external nonReentrant {
        RequestRecord storage req = _requests[requestId];
        _expectState(requestId, req.state, RequestState.Answered);
        uint64 deadline = _deadline(req.answeredAt, req.settlementWindow);
        if (block.timestamp <= deadline) revert Inference__DeadlineNotReached(requestId, deadline);

        req.state = RequestState.Slashed;
        address node = req.node;
        address consumer = req.consumer;
        uint256 stake = req.stake;
        uint256 refund = req.fee;
        NodeRecord storage record = _nodes[node];
        // Safe: this answer locked exactly `stake`, so `bond >= locked >= stake`.
        unchecked {
            record.bond -= uint120(stake);
            record.locked -= uint120(stake);
        }
        uint256 compensation = Sibyl.slashCompensation(stake);
        // Safe: `compensation <= stake`.
        uint256 reward;
        unchecked {
            reward = stake - compensation;
        }
        _pending[consumer] += compensation + refund;
        _pending[msg.sender] += reward;

        bool callbackOk = _callConsumer(
            consumer,
            req.callbackGasLimit,
            abi.encodeCall(IInferenceConsumer.onInferenceFailed, (requestId, Sibyl.FAILED_SLASHED))
        );
        emit InferenceSlashed(requestId, node, msg.sender, compensation, reward, refund, callbackOk);
    }

    /// @inheritdoc IInference
    /// @dev A prepared synchronous result nobody consumed expires the same way: its stake returns
    /// to the node and its fee, paid from the origin's credit, goes to the node that did the work.
    function expire(bytes32 requestId) external nonReentrant {
        RequestRecord storage req = _requests[requestId];
        if (req.state == RequestState.Prepared) return _expirePrepared(requestId, req);
        _expectState(requestId, req.state, RequestState.Requested);
        uint256 expiresAt = uint256(req.requestedAt) + _answerWindow;
        // Fits: a uint48 timestamp plus a uint64 window is below 2^65; saturate for the error.
        if (block.timestamp <= expiresAt) {
            revert Inference__DeadlineNotReached(requestId, _saturate64(expiresAt));
        }

        req.state = RequestState.Expired;
        address consumer = req.consumer;
        uint256 refund = req.fee;
        _pending[consumer] += refund;

        bool callbackOk = _callConsumer(
            consumer,
            req.callbackGasLimit,
            abi.encodeCall(IInferenceConsumer.onInferenceFailed, (requestId, Sibyl.FAILED_EXPIRED))
        );
        emit InferenceExpired(requestId, consumer, refund, callbackOk);
    }

    /// @inheritdoc IInference
    function withdraw() external nonReentrant {
        uint256 amount = _pending[msg.sender];
        if (amount == 0) revert Inference__NothingToWithdraw(msg.sender);
        _pending[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        _sendValue(msg.sender, amount);
    }

    /// @notice Calls in OpenGradient's ABI (`runModelInference`, and the LLM functions it refuses)
    /// go to the adapter, with the caller appended to the calldata (20 bytes, as ERC-2771 does);
    /// the adapter calls back `inferFrom`, and its answer or revert is returned as it is.
    // solhint-disable-next-line no-complex-fallback
    fallback() external {
        address adapter_ = _adapter;
        if (adapter_ == address(0)) revert Inference__NoAdapter(msg.sig);
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            let size := calldatasize()
            calldatacopy(ptr, 0, size)
            mstore(add(ptr, size), shl(96, caller()))
            let ok := call(gas(), adapter_, 0, ptr, add(size, 20), 0, 0)
            returndatacopy(ptr, 0, returndatasize())
            if iszero(ok) {
                revert(ptr, returndatasize())
            }
            return(ptr, returndatasize())
        }
    }

    // ──────────────────────────────── views ──────────────────────────────

    /// @inheritdoc IInference
    function getRequest(bytes32 requestId) external view returns (Request memory result) {
        RequestRecord storage req = _requests[requestId];
        RequestState state = req.state;
        if (state == RequestState.None) revert Inference__UnknownRequest(requestId);
        uint256 inWords = req.inWords;
        uint256 outWords =
            _isAnswered(state) ? FixedPointPacking.wordCount(req.outputLength, req.valueBits) : 0;
        result.consumer = req.consumer;
        result.requestedAt = req.requestedAt;
        result.callbackGasLimit = req.callbackGasLimit;
        result.modelId = req.modelId;
        result.node = req.node;
        result.answeredAt = req.answeredAt;
        result.state = state;
        result.mode = req.mode;
        result.fee = req.fee;
        result.stake = req.stake;
        result.inPacked = _readWords(requestId, 0, inWords);
        result.outPacked = _readWords(requestId, inWords, outWords);
    }

    /// @inheritdoc IInference
    function stateOf(bytes32 requestId) external view returns (RequestState) {
        return _requests[requestId].state;
    }

    /// @inheritdoc IInference
    function outputOf(bytes32 requestId) external view returns (int256[] memory) {
        RequestRecord storage req = _requests[requestId];
        RequestState state = req.state;
        if (state == RequestState.None) revert Inference__UnknownRequest(requestId);
        if (!_isAnswered(state)) return new int256[](0);
        uint256 outputLength = req.outputLength;
        uint8 valueBits = req.valueBits;
        uint256[] memory words = _readWords(
            requestId,
            req.inWords,
            FixedPointPacking.wordCount(outputLength, valueBits)
        );
        return FixedPointPacking.unpack(words, outputLength, valueBits);
    }

    /// @inheritdoc IInference
    function answeredAt(bytes32 requestId) external view returns (uint64) {
        RequestRecord storage req = _requests[requestId];
        if (req.state == RequestState.None) revert Inference__UnknownRequest(requestId);
        return req.answeredAt;
    }

    /// @inheritdoc IInference
    function settlementDeadline(bytes32 requestId) external view returns (uint64) {
        RequestRecord storage req = _requests[requestId];
        RequestState state = req.state;
        if (state == RequestState.None) revert Inference__UnknownRequest(requestId);
        return _isAnswered(state) ? _deadline(req.answeredAt, req.settlementWindow) : 0;
    }

    /// @inheritdoc IInference
    function isFinal(bytes32 requestId) external view returns (bool) {
        RequestState state = _requests[requestId].state;
        if (state == RequestState.None) revert Inference__UnknownRequest(requestId);
        return
            state == RequestState.Settled || state == RequestState.Slashed || state == RequestState.Expired;
    }

    /// @inheritdoc IInference
    function bondBacking(bytes32 requestId) external view returns (uint256) {
        RequestRecord storage req = _requests[requestId];
        RequestState state = req.state;
        if (state == RequestState.None) revert Inference__UnknownRequest(requestId);
        return state == RequestState.Answered || state == RequestState.Prepared ? req.stake : 0;
    }

    /// @inheritdoc IInference
    function coverageOf(bytes32 requestId) external view returns (uint256) {
        RequestRecord storage req = _requests[requestId];
        RequestState state = req.state;
        if (state == RequestState.None) revert Inference__UnknownRequest(requestId);
        return state == RequestState.Answered ? Sibyl.slashCompensation(req.stake) : 0;
    }

    /// @dev Expires a prepared result after the answer window: unlocks its stake and pays its fee
    /// (taken from the origin's credit with this node) to the node, which did the work. A
    /// proof-carrying result whose stored proof does not verify earned nothing: its fee returns
    /// to the origin's credit, so a node cannot charge for a result no call could have used.
    function _expirePrepared(bytes32 requestId, RequestRecord storage req) private {
        uint256 expiresAt = uint256(req.requestedAt) + _answerWindow;
        if (block.timestamp <= expiresAt) {
            revert Inference__DeadlineNotReached(requestId, _saturate64(expiresAt));
        }
        req.state = RequestState.Expired;
        address node = req.node;
        uint256 fee = req.fee;
        // Safe: this preparation locked exactly `stake`, so `locked >= stake`.
        unchecked {
            _nodes[node].locked -= uint120(req.stake);
        }
        uint256 refund;
        uint256 gasBefore = gasleft();
        if (req.syncFlags & _SYNC_PROOF_CARRYING != 0 && !_storedProofValid(requestId, req)) {
            // A verifier starved of gas is no verdict on the proof (EIP-150 leaves the caller 1/64).
            if (gasleft() <= gasBefore / 64) revert Inference__InsufficientGas(gasBefore);
            refund = fee;
            _credit[_origins[requestId]][node] += fee;
        } else {
            _pending[node] += fee;
        }
        emit InferenceExpired(requestId, req.consumer, refund, true);
    }

    /// @inheritdoc IInference
    function nodePolicyOf(address node) external view returns (NodePolicy memory) {
        return _policies[node];
    }

    /// @inheritdoc IInference
    function nodeOf(address node) external view returns (Node memory) {
        NodeRecord memory record = _nodes[node];
        return Node({bond: record.bond, locked: record.locked, registered: record.registered});
    }

    /// @inheritdoc IInference
    function outstandingOf(address node) external view returns (uint256) {
        return _nodes[node].locked;
    }

    /// @inheritdoc IInference
    function pendingWithdrawal(address account) external view returns (uint256) {
        return _pending[account];
    }

    /// @inheritdoc IInference
    function publicSignalsOf(bytes32 requestId) external view returns (uint256[] memory) {
        RequestRecord storage req = _requests[requestId];
        RequestState state = req.state;
        if (state == RequestState.None) revert Inference__UnknownRequest(requestId);
        if (!_isAnswered(state)) revert Inference__WrongState(requestId, state, RequestState.Answered);
        return _publicSignals(requestId, req);
    }

    /// @inheritdoc IInference
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc IInference
    function enclaveRegistry() external view returns (address) {
        return address(_enclaves);
    }

    /// @inheritdoc IInference
    function admin() external view returns (address) {
        return _admin;
    }

    /// @inheritdoc IInference
    function pendingAdmin() external view returns (address) {
        return _pendingAdmin;
    }

    /// @inheritdoc IInference
    function pendingRegistry() external view returns (address registry_, uint64 effectiveAt) {
        return (_pendingRegistry, _registryEffectiveAt);
    }

    /// @inheritdoc IInference
    function minBond() external view returns (uint256) {
        return _minBond;
    }

    /// @inheritdoc IInference
    function answerWindow() external view returns (uint64) {
        return _answerWindow;
    }
}
