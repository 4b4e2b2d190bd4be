// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ISyncInference} from "./ISyncInference.sol";

/// @title IInference
/// @notice The surface of Sibyl's inference precompile: a contract requests a model
/// inference, a bonded node answers at once, and the answer is settled later by a
/// Groth16 proof checked against the model's verifier (or slashed if it never is).
/// @dev Lifecycle: `Requested → Answered → Settled`, `Answered → Slashed` after the
/// settlement deadline, `Requested → Expired` when nobody answered in time. A synchronous call's
/// result (`ISyncInference`) starts `Prepared` and becomes `Answered` (deferred) or `Settled`
/// (proof-carrying) when its transaction consumes it, or `Expired` if none does in time.
///
/// The trust gap: between `answer` and `settle` a consumer holds an unproved output. Each
/// request declares the value it puts at risk on that output, and a slash repays at least that
/// value: an answer locks `stake = max(model stake, Sibyl.stakeFor(valueAtRisk))` of the node's
/// free bond until it is settled or slashed (`bondBacking`), and a node must keep `minBond` free
/// beyond every stake it locks. After the settlement deadline anyone may slash it: the consumer
/// gets the stake minus `Sibyl.SLASH_REWARD_BPS` (paid to the slasher; `coverageOf` is what the
/// consumer gets) plus its fee back. Settled, Slashed and Expired are final (`isFinal`); every
/// payment is pulled with `withdraw`.
interface IInference is ISyncInference {
    /// @notice How a request is settled.
    /// @dev `ZK`: answered at once, settled later by a Groth16 proof. `TEE`: answered by an
    /// enclave whose key was registered from a verified AWS Nitro attestation document
    /// (`IEnclaveRegistry`); the signed answer is final in the transaction that delivers it
    /// (`answerAttested`). `VANILLA` is reserved (see docs/protocol.md).
    enum Mode {
        ZK,
        TEE,
        VANILLA
    }

    /// @notice Where a request is in its lifecycle.
    enum RequestState {
        None,
        Requested,
        Answered,
        Settled,
        Slashed,
        Expired,
        Prepared
    }

    /// @notice A request as `getRequest` returns it.
    /// @dev This is the view shape, not the storage layout: the precompile stores a request
    /// in five packed slots plus its packed words (see `InferencePrecompile`). `fee` is the
    /// whole value escrowed with the request; `stake` is the bond an answer locks, fixed at
    /// request time as `max(model stake, valueAtRisk)`. `outPacked` is empty until the request
    /// is answered.
    struct Request {
        address consumer;
        uint64 requestedAt;
        uint32 callbackGasLimit;
        bytes32 modelId;
        address node;
        uint64 answeredAt;
        RequestState state;
        Mode mode;
        uint128 fee;
        uint128 stake;
        uint256[] inPacked;
        uint256[] outPacked;
    }

    /// @notice A bonded inference node; `bond - locked` is free to withdraw or to back new answers.
    struct Node {
        uint128 bond;
        uint128 locked;
        bool registered;
    }

    /// @notice What a node publishes about the requests it answers, so that anyone can tell why a
    /// request waits (`sibyl:status`). The precompile does not enforce it: the node applies it
    /// before answering. `published` is false until the node first sets it.
    /// @param minFee the least fee (wei) a request must carry
    /// @param maxCallbackGasLimit the most gas per hook a request may ask for
    /// @param maxStake the largest stake (wei) the node locks behind one answer
    struct NodePolicy {
        uint128 minFee;
        uint32 maxCallbackGasLimit;
        uint88 maxStake;
        bool published;
    }

    // ─────────────────────────────── events ───────────────────────────────

    /// @notice The precompile was initialised (once, after `hardhat_setCode` or deployment).
    event Initialized(address indexed admin, address indexed registry, uint256 minBond, uint64 answerWindow);
    /// @notice The admin announced a registry change that anyone may apply from `effectiveAt` on.
    event RegistryChangeProposed(
        address indexed currentRegistry,
        address indexed proposedRegistry,
        uint64 effectiveAt
    );
    /// @notice The admin withdrew an announced registry change.
    event RegistryChangeCancelled(address indexed proposedRegistry);
    /// @notice An announced registry change took effect (existing requests keep their terms).
    event RegistryUpdated(address indexed previousRegistry, address indexed newRegistry);
    /// @notice The admin named a successor, who must call `acceptAdmin`.
    event AdminTransferStarted(address indexed admin, address indexed pendingAdmin);
    /// @notice The pending admin accepted: it is now the admin.
    event AdminTransferred(address indexed previousAdmin, address indexed newAdmin);
    /// @notice A node published the policy it answers by.
    event NodePolicyUpdated(
        address indexed node,
        uint256 minFee,
        uint32 maxCallbackGasLimit,
        uint256 maxStake
    );
    /// @notice A node registered or topped up its bond.
    event NodeBonded(address indexed node, uint256 amount, uint256 bond);
    /// @notice A node withdrew free bond.
    event BondWithdrawn(address indexed node, uint256 amount, uint256 bond);
    /// @notice A consumer requested an inference. `stake` is what an answer will lock of the
    /// node's free bond: `max(model stake, the value at risk the consumer declared)`.
    event InferenceRequested(
        bytes32 indexed requestId,
        bytes32 indexed modelId,
        address indexed consumer,
        int256[] input,
        Mode mode,
        uint32 callbackGasLimit,
        uint256 fee,
        uint256 stake
    );
    /// @notice A node answered. `deadline` is the last timestamp at which it can be settled.
    /// `callbackOk` is false only when the consumer's hook was called and reverted or ran out of gas.
    event InferenceAnswered(
        bytes32 indexed requestId,
        address indexed node,
        int256[] output,
        uint64 deadline,
        bool callbackOk
    );
    /// @notice An answer was proved; the node's stake is unlocked and its fee credited.
    event InferenceSettled(bytes32 indexed requestId, address indexed node, address settler, bool callbackOk);
    /// @notice One proof settled `count` requests of a model with its batch verifier for `k`;
    /// each of them also emitted `InferenceSettled`.
    event BatchSettled(bytes32 indexed modelId, uint256 k, uint256 count, address indexed settler);
    /// @notice An answer missed its settlement deadline and its stake was taken from the node's
    /// bond: `compensation` (the stake minus the reward) and the refunded fee (`refund`) were
    /// credited to the consumer, `reward` to the slasher.
    event InferenceSlashed(
        bytes32 indexed requestId,
        address indexed node,
        address indexed slasher,
        uint256 compensation,
        uint256 reward,
        uint256 refund,
        bool callbackOk
    );
    /// @notice An unanswered request expired; the fee was credited back to the consumer.
    event InferenceExpired(
        bytes32 indexed requestId,
        address indexed consumer,
        uint256 refund,
        bool callbackOk
    );
    /// @notice The enclave registry that TEE-mode answers are checked against was set (once).
    event EnclaveRegistrySet(address indexed enclaveRegistry);
    /// @notice Pending payments (fees, refunds, compensation) were withdrawn.
    event Withdrawn(address indexed account, uint256 amount);

    // ─────────────────────────────── errors ───────────────────────────────

    /// @notice `initialize` was called on an initialised precompile.
    error Inference__AlreadyInitialized();
    /// @notice The precompile has not been initialised yet.
    error Inference__NotInitialized();
    /// @notice `initialize`/`proposeRegistry` got a zero admin, a registry without code, a minimum bond
    /// of 0 or above 2^120 − 1 wei, or an answer window of 0 or above `Sibyl.MAX_ANSWER_WINDOW`.
    error Inference__InvalidConfig();
    /// @notice Only the admin may do this.
    error Inference__NotAdmin(address caller);
    /// @notice Only the pending admin may accept the admin role.
    error Inference__NotPendingAdmin(address caller);
    /// @notice No registry change is announced.
    error Inference__NoRegistryChange();
    /// @notice The announced registry change cannot be applied before `effectiveAt`.
    error Inference__RegistryChangeNotDue(uint64 effectiveAt);
    /// @notice No stake can cover the declared value at risk: the model is registered as unbonded,
    /// or the stake that value takes does not fit `uint128`.
    error Inference__NotCoverable(bytes32 modelId, uint256 valueAtRisk);
    /// @notice The model id is not registered (or was deactivated).
    error Inference__UnknownModel(bytes32 modelId);
    /// @notice The request mode is not served by this precompile (`TEE` needs an enclave registry).
    error Inference__UnsupportedMode(Mode mode);
    /// @notice The request's mode needs the other kind of answer: `answer` for `ZK`,
    /// `answerAttested` for `TEE`.
    error Inference__WrongMode(bytes32 requestId, Mode mode);
    /// @notice The enclave registry is already set (it can be set once), or the address has no code.
    error Inference__EnclaveRegistryNotSettable(address current);
    /// @notice The callback gas limit is above `Sibyl.MAX_CALLBACK_GAS_LIMIT`: such a request could
    /// become impossible to answer, settle, slash or expire within a block.
    error Inference__CallbackGasLimitTooHigh(uint32 callbackGasLimit, uint32 max);
    /// @notice The input or output vector has the wrong length.
    error Inference__WrongLength(uint256 expected, uint256 actual);
    /// @notice An input or output value is outside the model's signed `valueBits` range.
    error Inference__ValueOutOfRange(uint256 index, int256 value, uint8 valueBits);
    /// @notice The attached value does not cover the model's fee for this callback gas limit
    /// (`IModelRegistry.feeFor`).
    error Inference__FeeTooLow(uint256 required, uint256 sent);
    /// @notice No request with this id exists.
    error Inference__UnknownRequest(bytes32 requestId);
    /// @notice The request is not in the state the call needs.
    error Inference__WrongState(bytes32 requestId, RequestState actual, RequestState expected);
    /// @notice The caller is not a registered node.
    error Inference__NotNode(address account);
    /// @notice The node's free bond does not cover what is asked: for an answer, the stake it locks
    /// plus the `minBond` that must stay free; for a withdrawal, the amount.
    error Inference__InsufficientBond(address node, uint256 free, uint256 required);
    /// @notice The bond sent with `registerNode` is below the minimum.
    error Inference__BondTooLow(uint256 required, uint256 sent);
    /// @notice The proof does not verify for this request's input and output.
    error Inference__InvalidProof(bytes32 requestId);
    /// @notice The model has no batch verifier for batches of `k` (`ModelRegistry.registerBatchVerifier`).
    error Inference__NoBatchVerifier(bytes32 modelId, uint256 k);
    /// @notice A batch of `k` settles 1 to `k` requests.
    error Inference__BatchSize(uint256 count, uint256 k);
    /// @notice Batch ids must be strictly ascending, which also rules out duplicates.
    error Inference__BatchNotAscending(bytes32 requestId);
    /// @notice The request is for another model than the batch's.
    error Inference__WrongModel(bytes32 requestId, bytes32 modelId);
    /// @notice The request was made before the batch verifier was registered at `registeredAt`:
    /// only the verifiers it was made under settle it.
    error Inference__BatchVerifierTooNew(bytes32 requestId, uint64 registeredAt);
    /// @notice The proof does not verify for this batch of requests.
    error Inference__InvalidBatchProof(bytes32 modelId, uint256 k);
    /// @notice The settlement deadline has passed: the answer can only be slashed now.
    error Inference__DeadlinePassed(bytes32 requestId, uint64 deadline);
    /// @notice The deadline (settlement or answer window) has not passed yet.
    error Inference__DeadlineNotReached(bytes32 requestId, uint64 deadline);
    /// @notice Not enough gas is left to give the consumer its full callback gas limit.
    error Inference__InsufficientGasForCallback(uint256 available, uint256 required);
    /// @notice Nothing is pending for the account, or a zero bond withdrawal was asked for.
    error Inference__NothingToWithdraw(address account);
    /// @notice An ETH transfer failed.
    error Inference__TransferFailed(address to, uint256 amount);
    /// @notice The precompile was re-entered from a callback.
    error Inference__Reentrancy();

    // ────────────────────────────── functions ─────────────────────────────

    /// @notice Initialises storage. Runtime code placed with `hardhat_setCode` runs no
    /// constructor, so the installer calls this once right after placing the code, and then
    /// checks that its own call is the one that took effect (see `installPrecompile`).
    /// @param admin account allowed to announce a registry change and to hand the role on
    /// @param registry the ModelRegistry consulted for every request
    /// @param minBond the ETH a node must keep free beyond every stake it locks (1 … 2^120 − 1 wei)
    /// @param answerWindow seconds a request may stay unanswered before it can expire
    /// (1 … `Sibyl.MAX_ANSWER_WINDOW`)
    function initialize(address admin, address registry, uint256 minBond, uint64 answerWindow) external;

    /// @notice Announces a switch to another model registry (admin only). It can be applied by
    /// anyone `REGISTRY_CHANGE_DELAY` seconds later, so consumers see it coming; requests already
    /// made keep the terms (verifier, stake, window) they snapshotted at request time.
    function proposeRegistry(address registry) external;

    /// @notice Withdraws the announced registry change (admin only).
    function cancelRegistryChange() external;

    /// @notice Applies the announced registry change once it is due (anyone may call).
    function applyRegistryChange() external;

    /// @notice Names the next admin (admin only); the role moves when it calls `acceptAdmin`.
    /// Naming `address(0)` cancels a pending transfer.
    function transferAdmin(address newAdmin) external;

    /// @notice Takes the admin role (the pending admin only).
    function acceptAdmin() external;

    /// @notice Publishes the caller's answering policy (registered nodes only).
    function setNodePolicy(uint128 minFee, uint32 maxCallbackGasLimit, uint88 maxStake) external;

    /// @notice Registers the caller as a node, or tops up its bond, with `msg.value`. The first
    /// registration needs at least `minBond`; a top-up must be non-zero.
    function registerNode() external payable;

    /// @notice Withdraws `amount` of the caller's free (unlocked) bond and sends it to the caller.
    function withdrawBond(uint256 amount) external;

    /// @notice Requests an inference; `msg.value` must cover `registry.feeFor(modelId,
    /// callbackGasLimit)` and is escrowed whole.
    /// @dev The request snapshots the model's verifier, stake and settlement window, so later
    /// registry changes cannot alter its terms.
    /// @param modelId the registered model
    /// @param input fixed-point input, `inputLength` signed `valueBits`-bit integers
    /// @param mode how the answer is to be settled
    /// @param callbackGasLimit exact gas given to each of the caller's hooks; 0 = no hooks,
    /// at most `Sibyl.MAX_CALLBACK_GAS_LIMIT`. Hooks are only called when the caller has code.
    /// @param valueAtRisk the value the caller may act on before the answer is proved: a slash of
    /// the answer credits the caller at least this much (the answer locks
    /// `max(model stake, Sibyl.stakeFor(valueAtRisk))`). 0 = the model's stake. Must be 0 for an
    /// unbonded model.
    /// @return requestId unique across chains and precompile deployments
    function request(
        bytes32 modelId,
        int256[] calldata input,
        Mode mode,
        uint32 callbackGasLimit,
        uint128 valueAtRisk
    ) external payable returns (bytes32 requestId);

    /// @notice Answers a request with the model's output (registered nodes only). Locks the
    /// request's stake from the node's free bond until the answer is settled or slashed; the
    /// node's free bond must stay at least `minBond` after that.
    function answer(bytes32 requestId, int256[] calldata output) external;

    /// @notice Answers a `TEE` request with an output signed by an attested enclave, which makes
    /// it final at once (registered nodes only, and only the enclave key's operator): the
    /// enclave registry checks the EIP-712 signature over (chain id, this precompile, request id,
    /// model id, input and output hashes, `attestedAt`), the key's registration and revocation,
    /// the model's PCR allow-list and the answer's age. The request goes straight to `Settled`
    /// (no stake is locked, the fee is credited to the node) and the consumer gets both hooks in
    /// this transaction, `onInferenceAnswered` then `onInferenceSettled`, each with its callback
    /// gas limit, so a consumer's code reads the same in every mode.
    /// @param attestedAt when the enclave signed (unix seconds)
    /// @param signature the enclave key's 65-byte signature r ‖ s ‖ v (low s)
    function answerAttested(
        bytes32 requestId,
        int256[] calldata output,
        uint64 attestedAt,
        bytes calldata signature
    ) external;

    /// @notice Sets the enclave registry TEE answers are checked against (admin only, once).
    /// Until it is set, `TEE` requests are refused.
    function setEnclaveRegistry(address enclaveRegistry_) external;

    /// @notice The enclave registry (zero if none: TEE mode is off).
    function enclaveRegistry() external view returns (address);

    /// @notice Settles an answered request with a Groth16 proof of exactly this request's
    /// input and output. Anyone may call; the fee goes to the answering node.
    /// @param proof `[a0, a1, b00, b01, b10, b11, c0, c1]` as snarkjs exports calldata
    function settle(bytes32 requestId, uint256[8] calldata proof) external;

    /// @notice Settles up to `k` answered requests of one model with one Groth16 proof of the
    /// model's batch circuit for `k` (docs/batching.md). Anyone may call. `requestIds` must be
    /// strictly ascending; the slots after them are padding. Each request ends exactly as
    /// `settle` would end it (state, stake, fee, hook, `InferenceSettled`); if any request cannot
    /// be settled, or the proof does not verify, the whole call reverts and nothing changes.
    function settleBatch(
        bytes32 modelId,
        uint256 k,
        bytes32[] calldata requestIds,
        uint256[8] calldata proof
    ) external;

    /// @notice Slashes an answer that was not settled by its deadline (anyone may call). The stake
    /// leaves the node's bond: `SLASH_REWARD_BPS` of it is credited to the caller, the rest and the
    /// fee to the consumer. The request is then final: it can never be settled.
    function slash(bytes32 requestId) external;

    /// @notice Expires a request nobody answered within the answer window (anyone may call).
    /// Until it is expired, a request can still be answered.
    function expire(bytes32 requestId) external;

    /// @notice Withdraws the caller's pending payments (fees, refunds, compensation).
    function withdraw() external;

    /// @notice The full stored request.
    function getRequest(bytes32 requestId) external view returns (Request memory);

    /// @notice The request's lifecycle state (`None` for an unknown id; the other views revert for it).
    function stateOf(bytes32 requestId) external view returns (RequestState);

    /// @notice The answered output, decoded to signed fixed-point integers (empty if unanswered).
    function outputOf(bytes32 requestId) external view returns (int256[] memory);

    /// @notice When the request was answered (0 if not yet).
    function answeredAt(bytes32 requestId) external view returns (uint64);

    /// @notice The last timestamp at which the answer can still be settled (0 if unanswered);
    /// from the next second on, anyone may slash it.
    function settlementDeadline(bytes32 requestId) external view returns (uint64);

    /// @notice Whether the request has reached an outcome that never changes again: Settled,
    /// Slashed or Expired.
    function isFinal(bytes32 requestId) external view returns (bool);

    /// @notice The node's bond locked behind this request's unsettled answer: its stake while
    /// Answered (also past the deadline, until someone slashes it), 0 in every other state.
    function bondBacking(bytes32 requestId) external view returns (uint256);

    /// @notice What a slash of this request would credit the consumer now, besides its fee:
    /// `Sibyl.slashCompensation(bondBacking(requestId))`; at least the declared value at risk.
    function coverageOf(bytes32 requestId) external view returns (uint256);

    /// @notice A node's bond and the part of it locked behind unsettled answers.
    function nodeOf(address node) external view returns (Node memory);

    /// @notice The answering policy a node published (`published` false if it never did).
    function nodePolicyOf(address node) external view returns (NodePolicy memory);

    /// @notice The value a node has outstanding: the sum of the stakes locked behind its answered,
    /// not yet settled or slashed requests (`nodeOf(node).locked`).
    function outstandingOf(address node) external view returns (uint256);

    /// @notice Payments the account can withdraw.
    function pendingWithdrawal(address account) external view returns (uint256);

    /// @notice The public signals a proof for this request must carry, in circuit order
    /// (reverts unless the request has been answered).
    function publicSignalsOf(bytes32 requestId) external view returns (uint256[] memory);

    /// @notice The public signals a batch proof for these requests must carry (reverts as
    /// `settleBatch` would before verifying).
    function batchSignalsOf(
        bytes32 modelId,
        uint256 k,
        bytes32[] calldata requestIds
    ) external view returns (uint256[] memory);

    /// @notice The registry this precompile reads models from.
    function registry() external view returns (address);

    /// @notice The account allowed to announce a registry change.
    function admin() external view returns (address);

    /// @notice The account that may accept the admin role (zero if none).
    function pendingAdmin() external view returns (address);

    /// @notice The announced registry change and when it can be applied (zeros if none).
    function pendingRegistry() external view returns (address registry, uint64 effectiveAt);

    /// @notice The bond a node must post to register and keep free beyond its locked stakes.
    function minBond() external view returns (uint256);

    /// @notice Seconds after a request before it can be expired if still unanswered.
    function answerWindow() external view returns (uint64);
}
