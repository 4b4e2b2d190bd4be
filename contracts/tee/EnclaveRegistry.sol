// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAttestationVerifier} from "../interfaces/IAttestationVerifier.sol";
import {IEnclaveRegistry} from "../interfaces/IEnclaveRegistry.sol";
import {IInference} from "../interfaces/IInference.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";

/// @title EnclaveRegistry
/// @notice Registers the keys attested AWS Nitro enclaves sign TEE answers with, and checks those
/// answers for the precompile. A key is registered from an attestation document verified here,
/// on-chain by an `AttestationVerifier`, under a policy: the document is fresh by the chain's clock,
/// its nonce binds it to this chain, this registry and the registrant, and the enclave's
/// measurement (PCR0, PCR1, PCR2) is on the model's allow-list, kept by the model's owner.
/// @dev Deployed once per precompile with the root certificate it trusts (the AWS Nitro Enclaves
/// root on real networks; a development root for local enclaves). The precompile's admin may
/// revoke any key; an operator may revoke its own.
contract EnclaveRegistry is IEnclaveRegistry {
    bytes32 private constant _DOMAIN_TYPEHASH = keccak256(
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    );
    bytes32 private constant _ANSWER_TYPEHASH = keccak256(
        "TeeAnswer(bytes32 requestId,bytes32 modelId,bytes32 inputHash,bytes32 outputHash,uint64 attestedAt)"
    );
    bytes32 private constant _NAME_HASH = keccak256("Sibyl");
    bytes32 private constant _VERSION_HASH = keccak256("1");
    /// @dev Half the secp256k1 group order: a larger s is the malleated twin of a valid signature.
    uint256 private constant _HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;
    uint256 private constant _PUBLIC_KEY_LENGTH = 65;
    /// @inheritdoc IEnclaveRegistry
    uint64 public constant MAX_CLOCK_SKEW = 300;

    IAttestationVerifier private immutable VERIFIER;
    address private immutable PRECOMPILE;
    uint64 private immutable MAX_DOCUMENT_AGE;
    uint64 private immutable MAX_ANSWER_AGE;

    mapping(address key => EnclaveKey) private _keys;
    mapping(address registrant => uint256 count) private _registrations;
    mapping(bytes32 modelId => mapping(bytes32 measurement => bool)) private _allowed;
    mapping(bytes32 modelId => bool) private _debugAllowed;

    /// @param verifier_ the attestation verifier (it pins the root every document's chain must end at)
    /// @param precompile_ the inference precompile (its registry names model owners, its admin may revoke)
    /// @param maxDocumentAge_ the oldest a registration document may be (seconds)
    /// @param maxAnswerAge_ the oldest a signed answer may be when delivered (seconds)
    constructor(
        IAttestationVerifier verifier_,
        address precompile_,
        uint64 maxDocumentAge_,
        uint64 maxAnswerAge_
    ) {
        if (
            address(verifier_).code.length == 0 ||
            precompile_.code.length == 0 ||
            maxDocumentAge_ == 0 ||
            maxAnswerAge_ == 0
        ) revert Enclave__InvalidConfig();
        VERIFIER = verifier_;
        PRECOMPILE = precompile_;
        MAX_DOCUMENT_AGE = maxDocumentAge_;
        MAX_ANSWER_AGE = maxAnswerAge_;
    }

    // ───────────────────────────── registration ─────────────────────────────

    /// @inheritdoc IEnclaveRegistry
    function registerEnclave(bytes calldata document, bytes32 modelId) external returns (address key) {
        IAttestationVerifier.Attestation memory att = VERIFIER.verifyDocument(document);
        uint64 attestedAt = att.timestampMs / 1000;
        uint64 now_ = uint64(block.timestamp);
        // The enclave's clock is not the chain's: a block's timestamp may lag the time its
        // transactions were signed, so a document may be up to `MAX_CLOCK_SKEW` ahead of it.
        if (attestedAt > now_ + MAX_CLOCK_SKEW) revert Enclave__DocumentFromFuture(attestedAt, now_);
        // Safe: checked just before.
        unchecked {
            if (attestedAt < now_ && now_ - attestedAt > MAX_DOCUMENT_AGE)
                revert Enclave__StaleDocument(attestedAt, now_, MAX_DOCUMENT_AGE);
        }
        _checkPolicy(modelId, att.measurement, att.debug);
        bytes32 expected = registrationNonce(msg.sender);
        if (att.nonce.length != 32 || bytes32(att.nonce) != expected) revert Enclave__WrongNonce(expected);
        key = _keyAddress(att.publicKey);
        if (_keys[key].operator != address(0)) revert Enclave__KeyExists(key);

        ++_registrations[msg.sender];
        _keys[key] = EnclaveKey({
            operator: msg.sender,
            debug: att.debug,
            revoked: false,
            registeredAt: now_,
            measurement: att.measurement,
            attestedAt: attestedAt
        });
        emit EnclaveRegistered(key, msg.sender, att.measurement, att.debug, attestedAt, att.leaf);
    }

    /// @inheritdoc IEnclaveRegistry
    function revokeEnclave(address key) external {
        EnclaveKey storage record = _keys[key];
        address operator = record.operator;
        if (operator == address(0)) revert Enclave__UnknownKey(key);
        if (msg.sender != operator && msg.sender != admin())
            revert Enclave__NotAllowedToRevoke(key, msg.sender);
        record.revoked = true;
        emit EnclaveRevoked(key, msg.sender);
    }

    // ──────────────────────────────── policy ────────────────────────────────

    /// @inheritdoc IEnclaveRegistry
    function setMeasurement(bytes32 modelId, bytes32 measurement, bool allowed) external {
        _onlyModelOwner(modelId);
        _allowed[modelId][measurement] = allowed;
        emit MeasurementAllowed(modelId, measurement, allowed);
    }

    /// @inheritdoc IEnclaveRegistry
    function setDebugAllowed(bytes32 modelId, bool allowed) external {
        _onlyModelOwner(modelId);
        _debugAllowed[modelId] = allowed;
        emit DebugEnclavesAllowed(modelId, allowed);
    }

    // ──────────────────────────────── answers ───────────────────────────────

    /// @inheritdoc IEnclaveRegistry
    function checkAnswer(
        address operator,
        bytes32 requestId,
        bytes32 modelId,
        bytes32 inputHash,
        bytes32 outputHash,
        uint64 attestedAt,
        bytes calldata signature
    ) external view returns (address key) {
        key = _recover(
            answerDigest(msg.sender, requestId, modelId, inputHash, outputHash, attestedAt),
            signature
        );
        EnclaveKey storage record = _keys[key];
        address keyOperator = record.operator;
        if (keyOperator == address(0)) revert Enclave__UnknownKey(key);
        if (record.revoked) revert Enclave__KeyRevoked(key);
        if (keyOperator != operator) revert Enclave__NotOperator(key, keyOperator, operator);
        _checkPolicy(modelId, record.measurement, record.debug);
        uint64 now_ = uint64(block.timestamp);
        if (attestedAt > now_) revert Enclave__AnswerFromFuture(attestedAt, now_);
        // Safe: `attestedAt <= now_`.
        unchecked {
            if (now_ - attestedAt > MAX_ANSWER_AGE)
                revert Enclave__StaleAnswer(attestedAt, now_, MAX_ANSWER_AGE);
        }
    }

    // ───────────────────────────────── views ────────────────────────────────

    /// @inheritdoc IEnclaveRegistry
    function registrationNonce(address registrant) public view returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    "sibyl.enclave.register",
                    block.chainid,
                    address(this),
                    registrant,
                    _registrations[registrant]
                )
            );
    }

    /// @inheritdoc IEnclaveRegistry
    function answerDigest(
        address precompile_,
        bytes32 requestId,
        bytes32 modelId,
        bytes32 inputHash,
        bytes32 outputHash,
        uint64 attestedAt
    ) public view returns (bytes32) {
        bytes32 domain = keccak256(
            abi.encode(_DOMAIN_TYPEHASH, _NAME_HASH, _VERSION_HASH, block.chainid, precompile_)
        );
        bytes32 structHash = keccak256(
            abi.encode(_ANSWER_TYPEHASH, requestId, modelId, inputHash, outputHash, attestedAt)
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    /// @inheritdoc IEnclaveRegistry
    function verifier() external view returns (IAttestationVerifier) {
        return VERIFIER;
    }

    /// @inheritdoc IEnclaveRegistry
    function enclaveOf(address key) external view returns (EnclaveKey memory) {
        return _keys[key];
    }

    /// @inheritdoc IEnclaveRegistry
    function isMeasurementAllowed(bytes32 modelId, bytes32 measurement) external view returns (bool) {
        return _allowed[modelId][measurement];
    }

    /// @inheritdoc IEnclaveRegistry
    function debugAllowed(bytes32 modelId) external view returns (bool) {
        return _debugAllowed[modelId];
    }

    /// @inheritdoc IEnclaveRegistry
    function admin() public view returns (address) {
        return IInference(PRECOMPILE).admin();
    }

    /// @inheritdoc IEnclaveRegistry
    function precompile() external view returns (address) {
        return PRECOMPILE;
    }

    /// @inheritdoc IEnclaveRegistry
    function maxDocumentAge() external view returns (uint64) {
        return MAX_DOCUMENT_AGE;
    }

    /// @inheritdoc IEnclaveRegistry
    function maxAnswerAge() external view returns (uint64) {
        return MAX_ANSWER_AGE;
    }

    // ─────────────────────────────── internals ──────────────────────────────

    /// @dev A debug enclave passes only where the model allows debug enclaves (its memory can be
    /// read, so its measurement means nothing); any other needs its measurement allowed.
    function _checkPolicy(bytes32 modelId, bytes32 measurement, bool debug) private view {
        if (debug) {
            if (!_debugAllowed[modelId]) revert Enclave__DebugNotAllowed(modelId);
        } else if (!_allowed[modelId][measurement]) {
            revert Enclave__MeasurementNotAllowed(modelId, measurement);
        }
    }

    function _onlyModelOwner(bytes32 modelId) private view {
        address owner = IModelRegistry(IInference(PRECOMPILE).registry()).getModel(modelId).owner;
        if (msg.sender != owner) revert Enclave__NotModelOwner(modelId, msg.sender);
    }

    /// @dev The Ethereum address of an uncompressed secp256k1 key 0x04 ‖ x ‖ y.
    function _keyAddress(bytes memory publicKey) private pure returns (address) {
        if (publicKey.length != _PUBLIC_KEY_LENGTH || publicKey[0] != 0x04) revert Enclave__BadPublicKey();
        bytes32 hash;
        assembly ("memory-safe") {
            hash := keccak256(add(publicKey, 33), 64)
        }
        return address(uint160(uint256(hash)));
    }

    /// @dev ecrecover with the checks it lacks: 65 bytes, v ∈ {27, 28}, low s, a key recovered.
    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address key) {
        if (signature.length != 65) revert Enclave__BadSignature();
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (uint256(s) > _HALF_ORDER) revert Enclave__MalleableSignature();
        if (v != 27 && v != 28) revert Enclave__BadSignature();
        key = ecrecover(digest, v, r, s);
        if (key == address(0)) revert Enclave__BadSignature();
    }
}
