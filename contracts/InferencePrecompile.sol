// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IInference} from "./interfaces/IInference.sol";
import {IInferenceConsumer} from "./interfaces/IInferenceConsumer.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {FixedPointPacking} from "./libraries/FixedPointPacking.sol";
import {Sibyl} from "./libraries/SibylAddresses.sol";

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
/// Keep the storage layout append-only: re-installing code keeps the storage it finds.
contract InferencePrecompile is IInference {
    using SafeCast for uint256;

    // ───────────────────────────── constants ─────────────────────────────

    /// @dev `_lock` values. Zero doubles as "not initialised", so one SLOAD guards both.
    uint256 private constant _UNINITIALIZED = 0;
    uint256 private constant _UNLOCKED = 1;
    uint256 private constant _LOCKED = 2;

    /// @dev Gas kept back, beyond the 1/64 the EVM withholds, for the instructions between the
    /// gas check and the CALL and for the CALL's own cost (the consumer is warm by then).
    uint256 private constant _CALLBACK_OVERHEAD = 5_000;

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
    /// slot 2 `node | answeredAt | state | inWords | outputLength` (31 bytes), the one slot each
    ///   transition rewrites;
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
        uint128 fee;
        uint128 stake;
        address verifier;
        uint64 settlementWindow;
        bytes4 verifySelector;
    }

    /// @dev One slot per node. `locked <= bond` always; both fit `uint120` because no account
    /// can hold 2^120 wei (SafeCast checks the additions anyway).
    struct NodeRecord {
        uint120 bond;
        uint120 locked;
        bool registered;
    }

    /// @dev 0 = not initialised, 1 = unlocked, 2 = inside a state-changing call.
    uint256 private _lock;
    address private _admin;
    /// @dev Shares a slot with `_answerWindow` (20 + 8 bytes).
    IModelRegistry private _registry;
    uint64 private _answerWindow;
    uint256 private _minBond;
    /// @dev Makes request ids unique, even for identical requests in one block.
    uint256 private _nonce;
    mapping(bytes32 requestId => RequestRecord) private _requests;
    /// @dev Packed words of a request: input words at `0 .. inWords-1`, output words after them.
    /// No length slots: the counts follow from `inWords`, `outputLength` and `valueBits`.
    mapping(bytes32 requestId => mapping(uint256 index => uint256 word)) private _words;
    mapping(address node => NodeRecord) private _nodes;
    mapping(address account => uint256 amount) private _pending;
    /// @dev Appended for the two-step admin transfer and the delayed registry change.
    address private _pendingAdmin;
    /// @dev Shares a slot with `_registryEffectiveAt` (20 + 8 bytes).
    address private _pendingRegistry;
    uint64 private _registryEffectiveAt;
    mapping(address node => NodePolicy) private _policies;

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
        if (mode != Mode.ZK) revert Inference__UnsupportedMode(mode);
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
        uint256 fee = req.fee;
        // Safe: this answer locked exactly `stake`, so `locked >= stake`.
        unchecked {
            _nodes[node].locked -= uint120(req.stake);
        }
        _pending[node] += fee;

        bool callbackOk = _callConsumer(
            req.consumer,
            req.callbackGasLimit,
            abi.encodeCall(
                IInferenceConsumer.onInferenceSettled,
                (requestId, _outputFromSignals(req, signals))
            )
        );
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
    function expire(bytes32 requestId) external nonReentrant {
        RequestRecord storage req = _requests[requestId];
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
        return state == RequestState.Answered ? req.stake : 0;
    }

    /// @inheritdoc IInference
    function coverageOf(bytes32 requestId) external view returns (uint256) {
        RequestRecord storage req = _requests[requestId];
        RequestState state = req.state;
        if (state == RequestState.None) revert Inference__UnknownRequest(requestId);
        return state == RequestState.Answered ? Sibyl.slashCompensation(req.stake) : 0;
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

    // ─────────────────────────────── internals ───────────────────────────

    /// @dev Reverts unless the caller is the admin.
    function _onlyAdmin() private view {
        if (msg.sender != _admin) revert Inference__NotAdmin(msg.sender);
    }

    /// @dev Reverts unless the request exists and is in `expected`.
    function _expectState(bytes32 requestId, RequestState actual, RequestState expected) private pure {
        if (actual == expected) return;
        if (actual == RequestState.None) revert Inference__UnknownRequest(requestId);
        revert Inference__WrongState(requestId, actual, expected);
    }

    /// @dev Whether a node's output is stored: answered, and possibly settled or slashed since.
    function _isAnswered(RequestState state) private pure returns (bool) {
        return
            state == RequestState.Answered || state == RequestState.Settled || state == RequestState.Slashed;
    }

    /// @dev `[uint256(requestId) >> 3, inPacked..., (weightCommitment,) outPacked...]`, as
    /// docs/protocol.md fixes it; the commitment of a private-weights model is stored as the
    /// last "input" word at request time, so it is covered by `inWords`.
    function _publicSignals(
        bytes32 requestId,
        RequestRecord storage req
    ) private view returns (uint256[] memory signals) {
        uint256 words = uint256(req.inWords) + FixedPointPacking.wordCount(req.outputLength, req.valueBits);
        signals = new uint256[](1 + words);
        signals[0] = uint256(requestId) >> 3;
        mapping(uint256 => uint256) storage stored = _words[requestId];
        for (uint256 i; i < words; ++i) {
            signals[1 + i] = stored[i];
        }
    }

    /// @dev Decodes the output from the tail of the public signals (saves re-reading storage).
    function _outputFromSignals(
        RequestRecord storage req,
        uint256[] memory signals
    ) private view returns (int256[] memory) {
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
    ) private returns (bytes32 requestId, uint128 stake) {
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
            verifySelector: model.verifySelector
        });
        _writeWords(requestId, 0, inWords);
    }

    /// @dev Locks `stake` of the caller's free bond behind an answer, leaving at least `minBond` free,
    /// so that no node ever answers without collateral (not even for an unbonded model's stake 0).
    function _lockStake(NodeRecord storage node, uint256 stake) private {
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
    function _writeWords(bytes32 requestId, uint256 start, uint256[] memory words) private {
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
    ) private view returns (uint256[] memory out) {
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
        uint256[8] calldata proof,
        uint256[] memory signals
    ) private view returns (bool valid) {
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
    function _callConsumer(address consumer, uint256 gasLimit, bytes memory data) private returns (bool ok) {
        if (gasLimit == 0 || consumer.code.length == 0) return true;
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

    /// @dev Sends ETH with all remaining gas (the recipient is the caller itself) without copying
    /// return data.
    function _sendValue(address to, uint256 amount) private {
        bool ok;
        assembly ("memory-safe") {
            ok := call(gas(), to, amount, 0, 0, 0, 0)
        }
        if (!ok) revert Inference__TransferFailed(to, amount);
    }

    /// @dev `answeredAt + window`, saturated at `type(uint64).max` for absurdly long windows.
    function _deadline(uint256 answeredAt_, uint256 window) private pure returns (uint64) {
        // Safe: a uint48 plus a uint64 cannot overflow uint256.
        unchecked {
            return _saturate64(answeredAt_ + window);
        }
    }

    function _saturate64(uint256 value) private pure returns (uint64) {
        return value > type(uint64).max ? type(uint64).max : uint64(value);
    }
}
