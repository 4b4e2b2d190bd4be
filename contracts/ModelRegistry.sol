// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {FixedPointPacking} from "./libraries/FixedPointPacking.sol";
import {ModelCid} from "./libraries/ModelCid.sol";
import {Sibyl} from "./libraries/SibylAddresses.sol";

/// @title ModelRegistry
/// @notice Model id → Groth16 verifier, commitments, I/O shape, fixed-point scale and settlement
/// terms. A model's config never changes once registered; its owner can only deactivate it. The
/// registry deploys each verifier's code itself, so the code a model id commits to is the code
/// every one of its requests is settled with, whatever happens to any other address.
contract ModelRegistry is IModelRegistry {
    // ───────────────────────────── constants ─────────────────────────────

    /// @notice Longest input or output vector a model may declare.
    uint32 public constant MAX_LENGTH = 4096;
    /// @notice Widest signed value: keeps two values per field element and fits `int128`.
    uint8 public constant MAX_VALUE_BITS = 126;
    /// @notice The BN254 scalar field: public signals (the weight commitment among them) live below it.
    uint256 public constant SNARK_SCALAR_FIELD =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// @notice The longest settlement window a model may register (`Sibyl.MAX_SETTLEMENT_WINDOW`).
    uint64 public constant MAX_SETTLEMENT_WINDOW = Sibyl.MAX_SETTLEMENT_WINDOW;

    /// @notice Largest batch a batch verifier may settle.
    uint256 public constant MAX_BATCH_SIZE = 256;

    /// @notice Bits of a request id a batch slot binds (docs/batching.md).
    uint256 public constant BATCH_BINDING_BITS = 128;

    /// @notice Longest name `bindName` accepts, in bytes.
    uint256 public constant MAX_NAME_LENGTH = 128;

    /// @dev Deploys the runtime code appended to it: `PUSH2 len DUP1 PUSH1 12 PUSH1 0 CODECOPY
    /// PUSH1 0 RETURN` (12 bytes; the length goes in bytes 1–2).
    bytes12 private constant _LOADER = 0x61000080600c6000396000f3;

    // ─────────────────────────────── state ───────────────────────────────

    /// @dev A `Model` takes nine slots: the config's six (`modelHash`, `weightCommitment`, `zkeyHash`,
    /// `inputLength | outputLength | fracBits | valueBits | inputBits | outputFracBits | fee`,
    /// `callbackGasPrice | stake`, `settlementWindow | unbonded`; a nested struct closes its last
    /// slot), then `verifier`, `verifierCodeHash`, `owner | active | numPublicSignals | verifySelector`.
    mapping(bytes32 modelId => Model model) private _models;
    /// @dev Verifier code hash → the registry's deployment of that code.
    mapping(bytes32 codeHash => address verifier) private _verifiers;
    /// @dev keccak256(name) → the model it is bound to, for good.
    mapping(bytes32 nameHash => bytes32 modelId) private _names;
    /// @dev A model's batch verifiers by batch size.
    mapping(bytes32 modelId => mapping(uint256 k => BatchVerifier)) private _batchVerifiers;

    // ───────────────────────────── modifiers ─────────────────────────────

    modifier onlyModelOwner(bytes32 modelId) {
        address owner = _models[modelId].owner;
        if (owner == address(0)) revert Registry__UnknownModel(modelId);
        if (owner != msg.sender) revert Registry__NotOwner(modelId, msg.sender);
        _;
    }

    // ───────────────────────────── functions ─────────────────────────────

    /// @inheritdoc IModelRegistry
    function register(
        ModelConfig calldata config,
        bytes calldata verifierCode,
        string calldata name
    ) external returns (bytes32 modelId) {
        _checkConfig(config);
        bytes32 codeHash = keccak256(verifierCode);
        modelId = _modelId(msg.sender, codeHash, config);
        if (_models[modelId].owner != address(0)) revert Registry__ModelExists(modelId);
        address verifier = _deployVerifier(codeHash, verifierCode);

        // One compact signal, or at most 1 + 2 * 2048 + 1 = 4098 (lengths ≤ 4096, at least two
        // values per word): the layout of every proof of the model, single or in a batch slot.
        uint16 numPublicSignals = uint16(_signalsPerRequest(config));
        _models[modelId] = Model({
            config: config,
            verifier: verifier,
            verifierCodeHash: codeHash,
            owner: msg.sender,
            active: true,
            numPublicSignals: numPublicSignals,
            verifySelector: _verifySelector(numPublicSignals)
        });
        emit ModelRegistered(modelId, msg.sender, verifier, codeHash, name);
    }

    /// @inheritdoc IModelRegistry
    function registerBatchVerifier(
        bytes32 modelId,
        uint256 k,
        bytes calldata verifierCode,
        bytes32 zkeyHash
    ) external onlyModelOwner(modelId) returns (address verifier) {
        if (k == 0 || k > MAX_BATCH_SIZE) revert Registry__InvalidBatchSize(k);
        if (_batchVerifiers[modelId][k].verifier != address(0))
            revert Registry__BatchVerifierExists(modelId, k);
        bytes32 codeHash = keccak256(verifierCode);
        verifier = _deployVerifier(codeHash, verifierCode);
        uint256 slotSignals = _models[modelId].numPublicSignals;
        _batchVerifiers[modelId][k] = BatchVerifier({
            verifier: verifier,
            registeredAt: uint48(block.timestamp),
            // At most 256 * 4098 signals; a slot count fits uint16 (see `register`).
            slotSignals: uint16(slotSignals),
            verifySelector: _verifySelector(k * slotSignals),
            settlementWindow: _models[modelId].config.settlementWindow,
            zkeyHash: zkeyHash
        });
        emit BatchVerifierRegistered(modelId, k, verifier, codeHash, zkeyHash);
    }

    /// @inheritdoc IModelRegistry
    function batchVerifierOf(bytes32 modelId, uint256 k) external view returns (BatchVerifier memory) {
        return _batchVerifiers[modelId][k];
    }

    /// @inheritdoc IModelRegistry
    function batchSlotSignals(bytes32 modelId) external view returns (uint256) {
        Model storage model = _models[modelId];
        if (model.owner == address(0)) revert Registry__UnknownModel(modelId);
        return model.numPublicSignals;
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
    function feeFor(bytes32 modelId, uint32 callbackGasLimit) external view returns (uint256) {
        Model storage model = _models[modelId];
        if (model.owner == address(0)) revert Registry__UnknownModel(modelId);
        return Sibyl.requiredFee(model.config.fee, model.config.callbackGasPrice, callbackGasLimit);
    }

    /// @inheritdoc IModelRegistry
    function modelIdOf(
        address owner,
        bytes32 verifierCodeHash,
        ModelConfig calldata config
    ) external pure returns (bytes32) {
        return _modelId(owner, verifierCodeHash, config);
    }

    /// @inheritdoc IModelRegistry
    function bindName(string calldata name, bytes32 modelId) external onlyModelOwner(modelId) {
        bytes32 nameHash = keccak256(bytes(name));
        bytes32 bound = _names[nameHash];
        (bool isCid, ) = ModelCid.modelIdOf(name);
        uint256 length = bytes(name).length;
        if (bound != bytes32(0) || isCid || length == 0 || length > MAX_NAME_LENGTH)
            revert Registry__NameNotBindable(name, bound);
        _names[nameHash] = modelId;
        emit NameBound(nameHash, modelId, msg.sender, name);
    }

    /// @inheritdoc IModelRegistry
    function modelIdOfName(string calldata name) external view returns (bytes32) {
        return _names[keccak256(bytes(name))];
    }

    /// @inheritdoc IModelRegistry
    function verifierAddressOf(bytes32 verifierCodeHash) external view returns (address) {
        return _verifiers[verifierCodeHash];
    }

    // ───────────────────────────── internals ─────────────────────────────

    /// @dev Reverts unless shapes, commitment, stake and window are in range.
    function _checkConfig(ModelConfig calldata config) private pure {
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
        if (config.outputFracBits > config.fracBits)
            revert Registry__InvalidOutputScale(config.outputFracBits, config.fracBits);
        if (config.weightCommitment >= SNARK_SCALAR_FIELD)
            revert Registry__InvalidCommitment(config.weightCommitment);
        if (config.settlementWindow == 0 || config.settlementWindow > MAX_SETTLEMENT_WINDOW)
            revert Registry__InvalidSettlementWindow(config.settlementWindow, MAX_SETTLEMENT_WINDOW);
        if ((config.stake == 0) != config.unbonded)
            revert Registry__InvalidStake(config.stake, config.unbonded);
    }

    /// @dev Public signals per request (docs/protocol.md, "Public signals"): one compact signal when
    /// a public-weights model's input and output each pack into one word and
    /// `binding ‖ input ‖ output` fits 253 bits; else `[binding, inPacked…, (commitment,) outPacked…]`.
    /// `src/circuit/packing.ts` (`signalLayout`) computes the same.
    function _signalsPerRequest(ModelConfig calldata config) private pure returns (uint256) {
        uint256 inputLength = config.inputLength;
        uint256 outputLength = config.outputLength;
        uint8 inputBits = config.inputBits;
        uint8 valueBits = config.valueBits;
        uint256 inWords = FixedPointPacking.wordCount(inputLength, inputBits);
        uint256 outWords = FixedPointPacking.wordCount(outputLength, valueBits);
        bool hasCommitment = config.weightCommitment != 0;
        if (
            !hasCommitment &&
            inWords == 1 &&
            outWords == 1 &&
            inputLength * inputBits + outputLength * valueBits + BATCH_BINDING_BITS <=
                FixedPointPacking.WORD_BITS
        ) return 1;
        return 1 + inWords + (hasCommitment ? 1 : 0) + outWords;
    }

    /// @dev The registry's deployment of `code`: CREATE2 of `_LOADER ‖ code` with salt 0, so the
    /// address is a function of the code alone and can never hold other code. Reused when live.
    function _deployVerifier(bytes32 codeHash, bytes calldata code) private returns (address verifier) {
        verifier = _verifiers[codeHash];
        if (verifier != address(0) && verifier.code.length != 0) return verifier;
        uint256 length = code.length;
        if (length == 0 || length > type(uint16).max) revert Registry__InvalidVerifierCode(codeHash, length);
        bytes memory init = abi.encodePacked(_LOADER | bytes12(bytes3(uint24(length))), code);
        assembly ("memory-safe") {
            verifier := create2(0, add(init, 0x20), mload(init), 0)
        }
        if (verifier == address(0) || verifier.codehash != codeHash)
            revert Registry__InvalidVerifierCode(codeHash, length);
        _verifiers[codeHash] = verifier;
        emit VerifierDeployed(verifier, codeHash);
    }

    /// @dev `keccak256(abi.encode(owner, verifierCodeHash, config))`: the owner, the verifier code and
    /// every term that decides how a request settles.
    function _modelId(
        address owner,
        bytes32 verifierCodeHash,
        ModelConfig calldata config
    ) private pure returns (bytes32) {
        return keccak256(abi.encode(owner, verifierCodeHash, config));
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
