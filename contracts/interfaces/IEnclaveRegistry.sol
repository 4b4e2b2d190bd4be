// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAttestationVerifier} from "./IAttestationVerifier.sol";

/// @title IEnclaveRegistry
/// @notice TEE mode's trust anchor. An enclave proves what it is with an AWS Nitro Enclaves
/// attestation document; this contract verifies that document **on-chain** against a root
/// certificate pinned at deployment and registers the key the enclave signs answers with. The
/// precompile then settles a TEE-mode answer at once when `checkAnswer` accepts its signature.
/// @dev Verification is the job of an `IAttestationVerifier` (its certificate cache is shared by
/// every registration); this contract applies the policy and keeps the keys.
/// A full document takes five P-384 signature checks (three intermediates and the leaf
/// certificate, then the document's COSE signature), about 47M gas: more than a block holds. So
/// registration is split into steps that each fit in one transaction, and nothing is trusted
/// between them: a step only ever reads what an earlier step verified and stored.
/// 1. `verifier().submitCertificate(der, issuer)` for each certificate below the root, parent first: its
///    signature is checked with the key of its issuer, itself a verified certificate (or the
///    pinned root), and it is cached under `keccak256(der)`. Intermediates are shared by many
///    documents, so later registrations submit only what is new (usually the leaf alone).
/// 2. `registerEnclave(document, modelId)`: decodes the COSE_Sign1 document, finds its leaf in
///    the cache, checks every certificate of the chain was valid at the document's timestamp,
///    verifies the COSE signature with the leaf's key, then applies the policy (freshness,
///    nonce, the model's PCR allow-list, debug mode) and registers the document's `public_key`.
interface IEnclaveRegistry {
    /// @notice A registered answer key. Packed so that checking an answer reads two slots.
    /// @param operator who registered it: the only account that may submit its answers
    /// @param debug the enclave ran in debug mode
    /// @param revoked the key was revoked: its answers are refused from then on
    /// @param registeredAt block timestamp of the registration
    /// @param measurement the enclave's keccak256(PCR0 ‖ PCR1 ‖ PCR2)
    /// @param attestedAt the document's timestamp (seconds)
    struct EnclaveKey {
        address operator;
        bool debug;
        bool revoked;
        uint64 registeredAt;
        bytes32 measurement;
        uint64 attestedAt;
    }

    /// @notice An enclave's answer key was registered from a verified attestation document.
    event EnclaveRegistered(
        address indexed key,
        address indexed operator,
        bytes32 indexed measurement,
        bool debug,
        uint64 attestedAt,
        bytes32 leaf
    );
    /// @notice An answer key was revoked (by its operator or the registry's admin).
    event EnclaveRevoked(address indexed key, address indexed by);
    /// @notice A model's owner allowed or disallowed an enclave measurement for TEE answers.
    event MeasurementAllowed(bytes32 indexed modelId, bytes32 indexed measurement, bool allowed);
    /// @notice A model's owner allowed or disallowed debug-mode enclaves for TEE answers.
    event DebugEnclavesAllowed(bytes32 indexed modelId, bool allowed);

    /// @notice The document's timestamp is more than `MAX_CLOCK_SKEW` later than the chain's clock.
    error Enclave__DocumentFromFuture(uint64 timestamp, uint64 now_);
    /// @notice The document is older than `maxDocumentAge`.
    error Enclave__StaleDocument(uint64 timestamp, uint64 now_, uint64 maxAge);
    /// @notice The document's nonce is not `registrationNonce(msg.sender)`.
    error Enclave__WrongNonce(bytes32 expected);
    /// @notice The document's `public_key` is not an uncompressed secp256k1 key (0x04 ‖ x ‖ y).
    error Enclave__BadPublicKey();
    /// @notice The key is already registered.
    error Enclave__KeyExists(address key);
    // ── policy
    /// @notice The enclave's measurement is not on the model's allow-list.
    error Enclave__MeasurementNotAllowed(bytes32 modelId, bytes32 measurement);
    /// @notice The enclave ran in debug mode and the model does not allow that.
    error Enclave__DebugNotAllowed(bytes32 modelId);
    /// @notice Only the model's owner may change its enclave policy.
    error Enclave__NotModelOwner(bytes32 modelId, address caller);
    // ── answers
    /// @notice The signature is not 65 bytes r ‖ s ‖ v with v ∈ {27, 28}, or recovers no key.
    error Enclave__BadSignature();
    /// @notice The signature's s is in the upper half of the curve order (a malleated copy).
    error Enclave__MalleableSignature();
    /// @notice The key that signed is not registered.
    error Enclave__UnknownKey(address key);
    /// @notice The key was revoked.
    error Enclave__KeyRevoked(address key);
    /// @notice Only the key's operator may submit its answers.
    error Enclave__NotOperator(address key, address operator, address caller);
    /// @notice The answer's timestamp is later than the chain's clock.
    error Enclave__AnswerFromFuture(uint64 attestedAt, uint64 now_);
    /// @notice The answer is older than `maxAnswerAge`.
    error Enclave__StaleAnswer(uint64 attestedAt, uint64 now_, uint64 maxAge);
    // ── administration
    /// @notice Only the key's operator or the admin may revoke it.
    error Enclave__NotAllowedToRevoke(address key, address caller);
    /// @notice A constructor argument is unusable (no code at the verifier or precompile, a zero age).
    error Enclave__InvalidConfig();

    /// @notice Verifies `document` and registers its `public_key` as an answer key operated by
    /// the caller, after the policy: the document is at most `maxDocumentAge` old by the chain's
    /// clock (and at most `MAX_CLOCK_SKEW` ahead of it), its measurement is allowed for `modelId`
    /// (a debug enclave only where the model allows it), and its nonce is
    /// `registrationNonce(msg.sender)` (then the counter moves on).
    function registerEnclave(bytes calldata document, bytes32 modelId) external returns (address key);

    /// @notice The attestation verifier documents are checked by (it pins the root).
    function verifier() external view returns (IAttestationVerifier);

    /// @notice Revokes an answer key (its operator or the admin).
    function revokeEnclave(address key) external;

    /// @notice Allows (or no longer allows) enclaves with `measurement` to answer for a model
    /// (the model's owner).
    function setMeasurement(bytes32 modelId, bytes32 measurement, bool allowed) external;

    /// @notice Allows (or no longer allows) debug-mode enclaves to answer for a model (the model's owner).
    function setDebugAllowed(bytes32 modelId, bool allowed) external;

    /// @notice Checks a TEE answer's EIP-712 signature for the calling precompile
    /// (`verifyingContract = msg.sender`) and that `operator` may submit it: low-s, a registered
    /// key not revoked, its measurement allowed for the model now, and `attestedAt` within
    /// `maxAnswerAge` of the chain's clock. Reverts with the reason; returns the key.
    function checkAnswer(
        address operator,
        bytes32 requestId,
        bytes32 modelId,
        bytes32 inputHash,
        bytes32 outputHash,
        uint64 attestedAt,
        bytes calldata signature
    ) external view returns (address key);

    /// @notice The nonce the caller's next registration document must carry:
    /// keccak256(abi.encode("sibyl.enclave.register", chainid, this registry, registrant, counter)).
    function registrationNonce(address registrant) external view returns (bytes32);

    /// @notice The EIP-712 digest an enclave signs for an answer to `precompile`.
    function answerDigest(
        address precompile,
        bytes32 requestId,
        bytes32 modelId,
        bytes32 inputHash,
        bytes32 outputHash,
        uint64 attestedAt
    ) external view returns (bytes32);

    /// @notice A registered key (all zero if none).
    function enclaveOf(address key) external view returns (EnclaveKey memory);
    /// @notice Whether enclaves with `measurement` may answer for the model.
    function isMeasurementAllowed(bytes32 modelId, bytes32 measurement) external view returns (bool);
    /// @notice Whether debug-mode enclaves may answer for the model.
    function debugAllowed(bytes32 modelId) external view returns (bool);
    /// @notice Who may revoke any key: the precompile's admin.
    function admin() external view returns (address);
    /// @notice The precompile whose registry names each model's owner.
    function precompile() external view returns (address);
    /// @notice How far (seconds) a document's timestamp may be ahead of the chain's clock: the
    /// enclave's clock and block timestamps differ, and a block may lag the time its transactions
    /// were signed.
    function MAX_CLOCK_SKEW() external view returns (uint64);

    /// @notice The oldest a registration document may be, by the chain's clock (seconds).
    function maxDocumentAge() external view returns (uint64);
    /// @notice The oldest a signed answer may be when it is delivered (seconds).
    function maxAnswerAge() external view returns (uint64);
}
