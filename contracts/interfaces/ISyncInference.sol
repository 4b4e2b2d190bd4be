// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title ISyncInference
/// @notice Synchronous inference: `infer` returns the model's output inside the calling
/// transaction, the way OpenGradient's precompile does. It works because a pre-execution layer
/// (Sibyl's PIPE: in-process on Hardhat, `sibyl:proxy` in front of any JSON-RPC chain) runs the
/// transaction first as a *simulation*, collects the inferences it asks for, has a bonded node
/// run them (and prove them, for proof-carrying calls) and `prepare` the results on-chain, bound
/// to the transaction's origin and the exact call; only then does it send the transaction.
/// @dev Three finalities:
/// - `Deferred`: the prepared output is returned at once and becomes an ordinary `Answered`
///   request (deadline, `bondBacking`, slashing): the node settles it later with a Groth16 proof.
///   This is the trust gap, bounded by the stake the node locked when it prepared the result.
/// - `ProofCarrying`: the node proved the output before the transaction was sent; the proof is
///   verified inside the call and the request is `Settled` when the transaction is mined.
/// - `Attested` (TEE mode): an attested enclave signed the output; the signature is checked
///   when the node prepares the result (`IEnclaveRegistry.checkAnswer`) and the request is
///   `Settled` when the call consumes it. No stake, no proving delay: the trust is in the
///   enclave hardware and the measured code.
///
/// A transaction that reaches the chain without its prepared results (sent around the layer, or
/// while no node served it) reverts with `Inference__NotPrepared`: a mined transaction never
/// sees a simulated result. The fee of each prepared inference is taken from the credit the
/// origin deposited *with that node* (`deposit(node)`), so the origin pays for what it asked
/// for, consumed or not, and a node can only ever charge what was deposited for it: a prepared
/// result nobody consumes expires after the answer window, its stake returns to the node and
/// its fee goes to the node, which did the work, unless it is a proof-carrying result whose
/// stored proof does not verify (then the fee returns to the origin's credit). A slash of a
/// deferred result compensates the contract that made the call (see docs/sync.md).
interface ISyncInference {
    /// @notice When a synchronous result is final.
    enum Finality {
        Deferred,
        ProofCarrying,
        Attested
    }

    /// @notice A result a node prepares for one synchronous call of a coming transaction.
    /// @param origin the transaction's sender (`tx.origin`), whose credit with the node pays the fee
    /// @param consumer the contract that will make the call (`msg.sender` at the precompile); it is
    /// the request's consumer, compensated if a deferred result is slashed
    /// @param legacyLayout for OpenGradient calls: answer in the earlier `ModelOutput` layout
    /// (without `jsons`), the one the calling contract decodes
    /// @param salt chosen by the node: the request id is `keccak256(chainid, precompile, node, salt)`,
    /// known before the transaction so that a proof can bind to it
    /// @param proof the Groth16 proof of a proof-carrying result (ignored for the others)
    /// @param attestedAt for an attested result: when the enclave signed it (unix seconds)
    /// @param signature for an attested result: the enclave key's EIP-712 signature of the answer
    /// (as for `answerAttested`), checked when the result is prepared
    struct Preparation {
        address origin;
        address consumer;
        bytes32 modelId;
        Finality finality;
        bool legacyLayout;
        bytes32 salt;
        int256[] input;
        int256[] output;
        uint256[8] proof;
        uint64 attestedAt;
        bytes signature;
    }

    /// @notice A node prepared a result for a coming synchronous call.
    event InferencePrepared(
        bytes32 indexed requestId,
        address indexed node,
        address indexed origin,
        address consumer,
        bytes32 callKey,
        Finality finality
    );
    /// @notice A synchronous call consumed its prepared result: deferred ones are now Answered,
    /// proof-carrying ones Settled.
    event SyncInferenceConsumed(
        bytes32 indexed requestId,
        address indexed consumer,
        address indexed origin,
        Finality finality
    );
    /// @notice Credit was deposited for `account` with `node` (it pays the fees of the synchronous
    /// calls that node prepares for it).
    event CreditDeposited(
        address indexed account,
        address indexed node,
        address from,
        uint256 amount,
        uint256 credit
    );
    /// @notice `account` withdrew unused credit it had with `node`.
    event CreditWithdrawn(address indexed account, address indexed node, uint256 amount, uint256 credit);
    /// @notice The OpenGradient adapter was set (once).
    event AdapterSet(address indexed adapter);

    /// @notice The transaction asked for a synchronous inference nobody prepared: it was sent around
    /// the pre-execution layer, or no node served it, or its prepared result expired. Send it
    /// through the layer (the in-process network with a node running, or `sibyl:proxy`).
    error Inference__NotPrepared(bytes32 callKey, address origin, address consumer, bytes32 modelId);
    /// @notice The credit `account` has with `node` does not cover the fee (or the withdrawal).
    error Inference__InsufficientCredit(address account, address node, uint256 credit, uint256 required);
    /// @notice The request id a preparation would take is already used (pick another salt).
    error Inference__RequestExists(bytes32 requestId);
    /// @notice Only the OpenGradient adapter may call this.
    error Inference__NotAdapter(address caller);
    /// @notice The adapter is already set (it can be set once), or the address has no code.
    error Inference__AdapterNotSettable(address current);
    /// @notice `expire` was given too little gas to check a proof-carrying result's stored proof.
    error Inference__InsufficientGas(uint256 available);
    /// @notice No OpenGradient adapter is set: the precompile answers only Sibyl's own interface.
    error Inference__NoAdapter(bytes4 selector);

    /// @notice Runs `modelId` on `input` inside this call and returns its output (fixed point).
    /// @dev While simulating (pre-execution), returns zeros of the output's length.
    function infer(
        bytes32 modelId,
        int256[] calldata input,
        Finality finality
    ) external returns (int256[] memory output);

    /// @notice `infer`, also returning the request id (to follow a deferred result's settlement).
    function inferWithId(
        bytes32 modelId,
        int256[] calldata input,
        Finality finality
    ) external returns (int256[] memory output, bytes32 requestId);

    /// @notice `infer` on behalf of `consumer`, for the OpenGradient adapter only.
    /// @return output the output (zeros while simulating without a preview)
    /// @return requestId the request consumed (zero while simulating)
    /// @return flags bit 0: a simulated result; bit 1: answer in the legacy OpenGradient layout
    function inferFrom(
        address consumer,
        bytes32 modelId,
        int256[] calldata input,
        Finality finality
    ) external returns (int256[] memory output, bytes32 requestId, uint8 flags);

    /// @notice Prepares results for the synchronous calls of a coming transaction (registered
    /// nodes only). Each takes its fee from the origin's credit and, when deferred, locks the
    /// model's stake of the node's free bond (keeping `minBond` free), as an answer does.
    function prepare(Preparation[] calldata items) external returns (bytes32[] memory requestIds);

    /// @notice Deposits credit for the sender with `node`: it pays the fees of the synchronous
    /// calls `node` prepares for the sender's transactions, and nothing else.
    function deposit(address node) external payable;

    /// @notice Deposits credit for `account` with `node`.
    function depositFor(address account, address node) external payable;

    /// @notice Withdraws `amount` of the sender's unused credit with `node`.
    function withdrawCredit(address node, uint256 amount) external;

    /// @notice Sets the OpenGradient adapter (admin only, once): calls in OpenGradient's ABI
    /// reach it through the precompile's fallback.
    function setAdapter(address adapter_) external;

    /// @notice The credit `account` has with `node` for synchronous calls.
    function creditOf(address account, address node) external view returns (uint256);

    /// @notice The transaction sender a synchronous result was prepared for (zero for a request).
    function originOf(bytes32 requestId) external view returns (address);

    /// @notice How many prepared results wait for calls with this key.
    function preparedCount(bytes32 callKey) external view returns (uint256);

    /// @notice The key that binds a prepared result to one call: its origin, its caller, the model,
    /// the input and the finality.
    function callKeyOf(
        address origin,
        address consumer,
        bytes32 modelId,
        int256[] calldata input,
        Finality finality
    ) external pure returns (bytes32);

    /// @notice The OpenGradient adapter (zero if none).
    function adapter() external view returns (address);
}
