// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IInference
/// @notice The surface of Sibyl's inference precompile: a contract requests a model
/// inference, a bonded node answers at once, and the answer is settled later by a
/// Groth16 proof checked against the model's verifier (or slashed if it never is).
/// @dev Lifecycle: `Requested → Answered → Settled`, `Answered → Slashed` after the
/// settlement deadline, `Requested → Expired` when nobody answered in time.
///
/// The trust gap: between `answer` and `settle` a consumer holds an unproved output. Each
/// request declares the value it puts at risk on that output; an answer locks
/// `stake = max(model stake, valueAtRisk)` of the node's free bond until it is settled or
/// slashed (`bondBacking`). After the settlement deadline anyone may slash it: the consumer gets
/// the stake minus `Sibyl.SLASH_REWARD_BPS` (paid to the slasher) plus its fee back. Settled,
/// Slashed and Expired are final (`isFinal`); every payment is pulled with `withdraw`.
interface IInference {
    /// @notice How a request is settled.
    /// @dev Only `ZK` is served today; the other modes are reserved (see docs/protocol.md).
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
        Expired
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

    // ─────────────────────────────── events ───────────────────────────────

    /// @notice The precompile was initialised (once, after `hardhat_setCode` or deployment).
    event Initialized(address indexed admin, address indexed registry, uint256 minBond, uint64 answerWindow);
    /// @notice The admin pointed the precompile at another registry (existing requests keep their terms).
    event RegistryUpdated(address indexed previousRegistry, address indexed newRegistry);
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
    /// @notice Pending payments (fees, refunds, compensation) were withdrawn.
    event Withdrawn(address indexed account, uint256 amount);

    // ─────────────────────────────── errors ───────────────────────────────

    /// @notice `initialize` was called on an initialised precompile.
    error Inference__AlreadyInitialized();
    /// @notice The precompile has not been initialised yet.
    error Inference__NotInitialized();
    /// @notice A zero address, a registry without code or a zero window was passed to `initialize`/`setRegistry`.
    error Inference__InvalidConfig();
    /// @notice Only the admin set at initialisation may do this.
    error Inference__NotAdmin(address caller);
    /// @notice The model id is not registered (or was deactivated).
    error Inference__UnknownModel(bytes32 modelId);
    /// @notice The request mode is not served by this precompile.
    error Inference__UnsupportedMode(Mode mode);
    /// @notice The callback gas limit is above `Sibyl.MAX_CALLBACK_GAS_LIMIT`: such a request could
    /// become impossible to answer, settle, slash or expire within a block.
    error Inference__CallbackGasLimitTooHigh(uint32 callbackGasLimit, uint32 max);
    /// @notice The input or output vector has the wrong length.
    error Inference__WrongLength(uint256 expected, uint256 actual);
    /// @notice An input or output value is outside the model's signed `valueBits` range.
    error Inference__ValueOutOfRange(uint256 index, int256 value, uint8 valueBits);
    /// @notice The attached value does not cover the model's fee.
    error Inference__FeeTooLow(uint256 required, uint256 sent);
    /// @notice No request with this id exists.
    error Inference__UnknownRequest(bytes32 requestId);
    /// @notice The request is not in the state the call needs.
    error Inference__WrongState(bytes32 requestId, RequestState actual, RequestState expected);
    /// @notice The caller is not a registered node.
    error Inference__NotNode(address account);
    /// @notice The node's free bond does not cover the stake this answer locks (the model's stake or
    /// the request's larger value at risk), or the amount to withdraw.
    error Inference__InsufficientBond(address node, uint256 free, uint256 required);
    /// @notice The bond sent with `registerNode` is below the minimum.
    error Inference__BondTooLow(uint256 required, uint256 sent);
    /// @notice The proof does not verify for this request's input and output.
    error Inference__InvalidProof(bytes32 requestId);
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
    /// constructor, so the installer calls this once right after placing the code.
    /// @param admin account allowed to change the registry pointer later
    /// @param registry the ModelRegistry consulted for every request
    /// @param minBond the minimum ETH bond of a node
    /// @param answerWindow seconds a request may stay unanswered before it can expire
    function initialize(address admin, address registry, uint256 minBond, uint64 answerWindow) external;

    /// @notice Points the precompile at another model registry (admin only). Requests already
    /// made keep the terms (verifier, stake, window) they snapshotted at request time.
    function setRegistry(address registry) external;

    /// @notice Registers the caller as a node, or tops up its bond, with `msg.value`. The first
    /// registration needs at least `minBond`; a top-up must be non-zero.
    function registerNode() external payable;

    /// @notice Withdraws `amount` of the caller's free (unlocked) bond and sends it to the caller.
    function withdrawBond(uint256 amount) external;

    /// @notice Requests an inference; `msg.value` must cover the model's fee and is escrowed whole.
    /// @dev The request snapshots the model's verifier, stake and settlement window, so later
    /// registry changes cannot alter its terms.
    /// @param modelId the registered model
    /// @param input fixed-point input, `inputLength` signed `valueBits`-bit integers
    /// @param mode how the answer is to be settled
    /// @param callbackGasLimit exact gas given to each of the caller's hooks; 0 = no hooks,
    /// at most `Sibyl.MAX_CALLBACK_GAS_LIMIT`. Hooks are only called when the caller has code.
    /// @param valueAtRisk the value the caller may act on before the answer is proved: an answer
    /// must lock `max(model stake, valueAtRisk)` of the node's free bond. 0 = the model's stake.
    /// @return requestId unique across chains and precompile deployments
    function request(
        bytes32 modelId,
        int256[] calldata input,
        Mode mode,
        uint32 callbackGasLimit,
        uint128 valueAtRisk
    ) external payable returns (bytes32 requestId);

    /// @notice Answers a request with the model's output (registered nodes only). Locks the
    /// request's stake from the node's free bond until the answer is settled or slashed.
    function answer(bytes32 requestId, int256[] calldata output) external;

    /// @notice Settles an answered request with a Groth16 proof of exactly this request's
    /// input and output. Anyone may call; the fee goes to the answering node.
    /// @param proof `[a0, a1, b00, b01, b10, b11, c0, c1]` as snarkjs exports calldata
    function settle(bytes32 requestId, uint256[8] calldata proof) external;

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

    /// @notice A node's bond and the part of it locked behind unsettled answers.
    function nodeOf(address node) external view returns (Node memory);

    /// @notice The value a node has outstanding: the sum of the stakes locked behind its answered,
    /// not yet settled or slashed requests (`nodeOf(node).locked`).
    function outstandingOf(address node) external view returns (uint256);

    /// @notice Payments the account can withdraw.
    function pendingWithdrawal(address account) external view returns (uint256);

    /// @notice The public signals a proof for this request must carry, in circuit order
    /// (reverts unless the request has been answered).
    function publicSignalsOf(bytes32 requestId) external view returns (uint256[] memory);

    /// @notice The registry this precompile reads models from.
    function registry() external view returns (address);

    /// @notice The account allowed to change the registry.
    function admin() external view returns (address);

    /// @notice The minimum bond of a first node registration.
    function minBond() external view returns (uint256);

    /// @notice Seconds after a request before it can be expired if still unanswered.
    function answerWindow() external view returns (uint64);
}
