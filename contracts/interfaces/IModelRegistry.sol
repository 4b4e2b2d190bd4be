// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IModelRegistry
/// @notice Model id → verifier, commitments, shapes and economics. A model id binds the
/// verification key and the model commitment, so a registered id can never change meaning.
interface IModelRegistry {
    /// @notice What a model owner registers.
    /// @param verifier the snarkjs-exported Groth16 verifier of the model's circuit
    /// @param vkHash keccak256 of the verification key (see src/zk)
    /// @param modelHash keccak256 of the quantized model's canonical JSON (with public weights:
    /// the weights themselves; with private weights: only the architecture and scales)
    /// @param weightCommitment Poseidon commitment to private weights, a public signal of every
    /// proof; 0 for a model with public weights (baked into its circuit)
    /// @param inputLength number of fixed-point inputs
    /// @param outputLength number of fixed-point outputs
    /// @param fracBits fixed-point scale: a real x is round(x * 2^fracBits)
    /// @param valueBits every activation and output is a signed valueBits-bit integer
    /// @param inputBits every input is a signed inputBits-bit integer (1 ≤ inputBits ≤ valueBits)
    /// @param fee wei a consumer pays per request (goes to the node on settlement)
    /// @param stake wei of node bond locked behind each unsettled answer
    /// @param settlementWindow seconds after the answer within which it must be settled
    struct ModelConfig {
        address verifier;
        bytes32 vkHash;
        bytes32 modelHash;
        uint256 weightCommitment;
        uint32 inputLength;
        uint32 outputLength;
        uint8 fracBits;
        uint8 valueBits;
        uint8 inputBits;
        uint128 fee;
        uint128 stake;
        uint64 settlementWindow;
    }

    /// @notice A registered model.
    struct Model {
        ModelConfig config;
        address owner;
        bool active;
        uint16 numPublicSignals;
        bytes4 verifySelector;
    }

    /// @notice A model was registered.
    event ModelRegistered(bytes32 indexed modelId, address indexed owner, address verifier, string name);
    /// @notice A model was deactivated by its owner (existing requests are unaffected).
    event ModelDeactivated(bytes32 indexed modelId);

    /// @notice A model with this id is already registered.
    error Registry__ModelExists(bytes32 modelId);
    /// @notice No model with this id is registered.
    error Registry__UnknownModel(bytes32 modelId);
    /// @notice The verifier address has no code.
    error Registry__VerifierHasNoCode(address verifier);
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
    /// @notice The settlement window is zero.
    error Registry__InvalidSettlementWindow();
    /// @notice Only the model's owner may do this.
    error Registry__NotOwner(bytes32 modelId, address caller);

    /// @notice Registers a model; its id is derived from the config (see `modelIdOf`).
    function register(ModelConfig calldata config, string calldata name) external returns (bytes32 modelId);

    /// @notice Deactivates a model: new requests for it revert.
    function deactivate(bytes32 modelId) external;

    /// @notice The registered model (reverts for unknown ids).
    function getModel(bytes32 modelId) external view returns (Model memory);

    /// @notice Whether the id is registered and active.
    function isActive(bytes32 modelId) external view returns (bool);

    /// @notice The id a config would be registered under.
    function modelIdOf(ModelConfig calldata config) external pure returns (bytes32);
}
