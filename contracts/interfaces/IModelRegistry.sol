// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IModelRegistry
/// @notice Model id → verifier, commitments, shapes and settlement terms. A model id commits to
/// everything that decides how its requests settle: the owner, the verifier's code (which embeds
/// the verification key), the final zkey, the model and weight commitments, the shapes and scale,
/// and the settlement terms (fee schedule, stake, window). Registering the same model with another
/// verifier, other terms or from another account yields another id, so nobody can take or change
/// the meaning of an id that someone else's artifacts produce (see docs/security.md).
interface IModelRegistry {
    /// @notice What a model owner registers besides the verifier's code.
    /// @param modelHash keccak256 of the quantized model's canonical JSON (with public weights:
    /// the weights themselves; with private weights: only the architecture and scales)
    /// @param weightCommitment Poseidon commitment to private weights, a public signal of every
    /// proof; 0 for a model with public weights (baked into its circuit)
    /// @param zkeyHash sha256 of the final Groth16 zkey the verifier was exported from, so anyone
    /// can check that zkey's phase-2 transcript (`sibyl:verify-model`)
    /// @param inputLength number of fixed-point inputs
    /// @param outputLength number of fixed-point outputs
    /// @param fracBits fixed-point scale: a real x is round(x * 2^fracBits)
    /// @param valueBits every activation and output is a signed valueBits-bit integer
    /// @param inputBits every input is a signed inputBits-bit integer (1 ≤ inputBits ≤ valueBits)
    /// @param outputFracBits the outputs' scale: an output y means y · 2^-outputFracBits
    /// (`fracBits` for scores, 0 for a class index); OpenGradient's ABI reports it as decimals
    /// @param fee base wei a consumer pays per request (goes to the node on settlement)
    /// @param callbackGasPrice wei per unit of `callbackGasLimit`, charged for each of the
    /// `Sibyl.PRICED_HOOKS` hooks on top of `fee` (see `feeFor`)
    /// @param stake least wei of node bond locked behind each unsettled answer (a request that
    /// declares a larger value at risk locks more); must be 0 exactly when `unbonded`
    /// @param settlementWindow seconds after the answer within which it must be settled
    /// (1 … `Sibyl.MAX_SETTLEMENT_WINDOW`)
    /// @param unbonded true for a model whose answers lock no stake: nothing repays a wrong answer
    /// before its proof, and consumers' `_isCovered` is always false while it is unproved
    struct ModelConfig {
        bytes32 modelHash;
        uint256 weightCommitment;
        bytes32 zkeyHash;
        uint32 inputLength;
        uint32 outputLength;
        uint8 fracBits;
        uint8 valueBits;
        uint8 inputBits;
        uint8 outputFracBits;
        uint128 fee;
        uint128 callbackGasPrice;
        uint128 stake;
        uint64 settlementWindow;
        bool unbonded;
    }

    /// @notice A registered model.
    /// @param verifier the registry's own deployment of the verifier code (CREATE2, salted by
    /// nothing but the code), so the code behind an id can never change
    /// @param verifierCodeHash keccak256 of the verifier's runtime code (its `extcodehash`)
    struct Model {
        ModelConfig config;
        address verifier;
        bytes32 verifierCodeHash;
        address owner;
        bool active;
        uint16 numPublicSignals;
        bytes4 verifySelector;
    }

    /// @notice A verifier that settles up to `k` answered requests of one model with one proof
    /// (docs/batching.md), registered by the model's owner.
    /// @param verifier the registry's own deployment of the batch verifier code
    /// @param registeredAt when it was registered: it settles only requests made at or after this
    /// time, so registering one never changes the terms of a request already made
    /// @param slotSignals public signals per request: 1 (compact) or the single circuit's count
    /// @param verifySelector `verifyProof` for `k * slotSignals` signals
    /// @param settlementWindow the model's settlement window (copied, so a batch reads one record)
    /// @param zkeyHash sha256 of the batch circuit's proving key, for audits
    struct BatchVerifier {
        address verifier;
        uint48 registeredAt;
        uint16 slotSignals;
        bytes4 verifySelector;
        uint64 settlementWindow;
        bytes32 zkeyHash;
    }

    /// @notice A model was registered.
    event ModelRegistered(
        bytes32 indexed modelId,
        address indexed owner,
        address indexed verifier,
        bytes32 verifierCodeHash,
        string name
    );
    /// @notice A model was deactivated by its owner (existing requests are unaffected).
    event ModelDeactivated(bytes32 indexed modelId);
    /// @notice A name (such as a `modelCID` an existing contract hard-codes) now resolves to a model.
    event NameBound(bytes32 indexed nameHash, bytes32 indexed modelId, address indexed owner, string name);
    /// @notice The model's owner registered the verifier of its batch circuit for `k` requests.
    event BatchVerifierRegistered(
        bytes32 indexed modelId,
        uint256 indexed k,
        address indexed verifier,
        bytes32 codeHash,
        bytes32 zkeyHash
    );
    /// @notice The registry deployed a verifier's code (once per distinct code).
    event VerifierDeployed(address indexed verifier, bytes32 indexed codeHash);

    /// @notice This owner already registered a model with exactly this config and verifier.
    error Registry__ModelExists(bytes32 modelId);
    /// @notice No model with this id is registered.
    error Registry__UnknownModel(bytes32 modelId);
    /// @notice The verifier code is empty, or its deployment failed (e.g. over the 24,576-byte limit).
    error Registry__InvalidVerifierCode(bytes32 codeHash, uint256 length);
    /// @notice A shape or scale parameter is out of the supported range.
    error Registry__InvalidShape(
        uint32 inputLength,
        uint32 outputLength,
        uint8 fracBits,
        uint8 valueBits,
        uint8 inputBits
    );
    /// @notice The weight commitment is not a BN254 field element.
    error Registry__InvalidCommitment(uint256 weightCommitment);
    /// @notice The settlement window is zero or above `Sibyl.MAX_SETTLEMENT_WINDOW`.
    error Registry__InvalidSettlementWindow(uint64 settlementWindow, uint64 max);
    /// @notice A bonded model has a zero stake, or an unbonded one a non-zero stake.
    error Registry__InvalidStake(uint128 stake, bool unbonded);
    /// @notice Only the model's owner may do this.
    error Registry__NotOwner(bytes32 modelId, address caller);
    /// @notice The name is empty, longer than `MAX_NAME_LENGTH` bytes, already bound, or is itself a
    /// Sibyl content id (those resolve to their own model without any binding).
    error Registry__NameNotBindable(string name, bytes32 boundTo);
    /// @notice The batch size is 0 or above `MAX_BATCH_SIZE`.
    error Registry__InvalidBatchSize(uint256 k);
    /// @notice The model already has a batch verifier for this size (they never change).
    error Registry__BatchVerifierExists(bytes32 modelId, uint256 k);
    /// @notice `outputFracBits` is above `fracBits`.
    error Registry__InvalidOutputScale(uint8 outputFracBits, uint8 fracBits);

    /// @notice Registers a model served by a verifier with runtime code `verifierCode` (the
    /// snarkjs-exported verifier's deployed bytecode). The registry deploys that code itself, at
    /// an address that depends only on the code, unless it did so for an earlier model.
    /// @return modelId `modelIdOf(msg.sender, keccak256(verifierCode), config)`
    function register(
        ModelConfig calldata config,
        bytes calldata verifierCode,
        string calldata name
    ) external returns (bytes32 modelId);

    /// @notice Registers the verifier of the model's batch circuit for `k` requests (model owner
    /// only, once per size). The registry deploys `verifierCode` as it does a model's verifier.
    function registerBatchVerifier(
        bytes32 modelId,
        uint256 k,
        bytes calldata verifierCode,
        bytes32 zkeyHash
    ) external returns (address verifier);

    /// @notice The model's batch verifier for `k` requests (`verifier` zero when it has none).
    function batchVerifierOf(bytes32 modelId, uint256 k) external view returns (BatchVerifier memory);

    /// @notice Public signals per request in the model's batch circuits: 1 when the binding, the
    /// packed input and the packed output fit one field element (docs/batching.md), else the
    /// single circuit's count.
    function batchSlotSignals(bytes32 modelId) external view returns (uint256);

    /// @notice Deactivates a model: new requests for it revert.
    function deactivate(bytes32 modelId) external;

    /// @notice The registered model (reverts for unknown ids).
    function getModel(bytes32 modelId) external view returns (Model memory);

    /// @notice Whether the id is registered and active.
    function isActive(bytes32 modelId) external view returns (bool);

    /// @notice The fee a request for this model must carry with `callbackGasLimit`:
    /// `fee + Sibyl.PRICED_HOOKS · callbackGasLimit · callbackGasPrice` (reverts for unknown ids).
    function feeFor(bytes32 modelId, uint32 callbackGasLimit) external view returns (uint256);

    /// @notice The id `owner` gets by registering `config` with verifier code of hash `verifierCodeHash`:
    /// `keccak256(abi.encode(owner, verifierCodeHash, config))`.
    function modelIdOf(
        address owner,
        bytes32 verifierCodeHash,
        ModelConfig calldata config
    ) external pure returns (bytes32);

    /// @notice Binds `name` to `modelId` for good (the model's owner only, first come): a contract
    /// that hard-codes `name` as its `modelCID` then calls that model. A binding never changes, so
    /// nobody can switch the model under such a contract; on a public chain a name is only as
    /// trustworthy as whoever bound it first (check `modelIdOfName`), whereas a content id
    /// (`ModelCid`) needs no binding and cannot be squatted.
    function bindName(string calldata name, bytes32 modelId) external;

    /// @notice The model a name is bound to (zero if none).
    function modelIdOfName(string calldata name) external view returns (bytes32);

    /// @notice Where the registry deploys (or deployed) verifier code with this hash.
    function verifierAddressOf(bytes32 verifierCodeHash) external view returns (address);
}
