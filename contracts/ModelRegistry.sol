// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {FixedPointPacking} from "./libraries/FixedPointPacking.sol";

/// @title ModelRegistry
/// @notice Model id → Groth16 verifier, commitments, I/O shape, fixed-point scale and
/// economics. A model's config never changes once registered; its owner can only deactivate it.
contract ModelRegistry is IModelRegistry {
    // ───────────────────────────── constants ─────────────────────────────

    /// @notice Longest input or output vector a model may declare.
    uint32 public constant MAX_LENGTH = 4096;
    /// @notice Widest signed value: keeps two values per field element and fits `int128`.
    uint8 public constant MAX_VALUE_BITS = 126;
    /// @notice The BN254 scalar field: public signals (the weight commitment among them) live below it.
    uint256 public constant SNARK_SCALAR_FIELD =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;

    // ─────────────────────────────── state ───────────────────────────────

    /// @dev A `Model` takes seven slots: `verifier`, `vkHash`, `modelHash`, `weightCommitment`,
    /// `inputLength | outputLength | fracBits | valueBits | inputBits | fee`,
    /// `stake | settlementWindow`, `owner | active | numPublicSignals | verifySelector`.
    mapping(bytes32 modelId => Model model) private _models;

    // ───────────────────────────── modifiers ─────────────────────────────

    modifier onlyModelOwner(bytes32 modelId) {
        address owner = _models[modelId].owner;
        if (owner == address(0)) revert Registry__UnknownModel(modelId);
        if (owner != msg.sender) revert Registry__NotOwner(modelId, msg.sender);
        _;
    }

    // ───────────────────────────── functions ─────────────────────────────

    /// @inheritdoc IModelRegistry
    function register(ModelConfig calldata config, string calldata name) external returns (bytes32 modelId) {
        if (config.verifier.code.length == 0) revert Registry__VerifierHasNoCode(config.verifier);
        if (
            config.inputLength == 0 ||
            config.inputLength > MAX_LENGTH ||
            config.outputLength == 0 ||
            config.outputLength > MAX_LENGTH ||
            config.fracBits == 0 ||
            config.valueBits > MAX_VALUE_BITS ||
            config.fracBits >= config.valueBits ||
            config.inputBits == 0 ||
            config.inputBits > config.valueBits
        ) {
            revert Registry__InvalidShape(
                config.inputLength,
                config.outputLength,
                config.fracBits,
                config.valueBits,
                config.inputBits
            );
        }
        if (config.weightCommitment >= SNARK_SCALAR_FIELD)
            revert Registry__InvalidCommitment(config.weightCommitment);
        if (config.settlementWindow == 0) revert Registry__InvalidSettlementWindow();

        modelId = _modelId(config);
        if (_models[modelId].owner != address(0)) revert Registry__ModelExists(modelId);

        // At most 1 + 2 * 2048 + 1 = 4098 signals (lengths ≤ 4096, at least two values per word).
        uint16 numPublicSignals = uint16(
            1 +
                FixedPointPacking.wordCount(config.inputLength, config.inputBits) +
                (config.weightCommitment == 0 ? 0 : 1) +
                FixedPointPacking.wordCount(config.outputLength, config.valueBits)
        );
        _models[modelId] = Model({
            config: config,
            owner: msg.sender,
            active: true,
            numPublicSignals: numPublicSignals,
            verifySelector: _verifySelector(numPublicSignals)
        });
        emit ModelRegistered(modelId, msg.sender, config.verifier, name);
    }

    /// @inheritdoc IModelRegistry
    function deactivate(bytes32 modelId) external onlyModelOwner(modelId) {
        _models[modelId].active = false;
        emit ModelDeactivated(modelId);
    }

    /// @inheritdoc IModelRegistry
    function getModel(bytes32 modelId) external view returns (Model memory model) {
        model = _models[modelId];
        if (model.owner == address(0)) revert Registry__UnknownModel(modelId);
    }

    /// @inheritdoc IModelRegistry
    function isActive(bytes32 modelId) external view returns (bool) {
        return _models[modelId].active;
    }

    /// @inheritdoc IModelRegistry
    function modelIdOf(ModelConfig calldata config) external pure returns (bytes32) {
        return _modelId(config);
    }

    /// @dev The verifier, fee, stake and window are deliberately not part of the id: the id
    /// names *what is computed* (verification key, weights, shapes, scale).
    function _modelId(ModelConfig calldata config) private pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    config.vkHash,
                    config.modelHash,
                    config.weightCommitment,
                    config.inputLength,
                    config.outputLength,
                    config.fracBits,
                    config.valueBits,
                    config.inputBits
                )
            );
    }

    /// @dev `n` in decimal. (OpenZeppelin's `Strings` needs `mcopy`, unavailable on the paris target.)
    function _decimal(uint256 n) private pure returns (bytes memory digits) {
        uint256 length = 1;
        for (uint256 rest = n / 10; rest != 0; rest /= 10) ++length;
        digits = new bytes(length);
        for (uint256 i = length; i != 0; n /= 10) {
            --i;
            digits[i] = bytes1(uint8(48 + (n % 10)));
        }
    }

    /// @dev The selector of the snarkjs verifier's `verifyProof` for `n` public signals.
    function _verifySelector(uint256 n) private pure returns (bytes4) {
        return
            bytes4(
                keccak256(
                    abi.encodePacked(
                        "verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[",
                        _decimal(n),
                        "])"
                    )
                )
            );
    }
}
