// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IEnclaveRegistry
/// @notice TEE mode's trust anchor. An enclave proves what it is with an AWS Nitro Enclaves
/// attestation document; this contract verifies that document **on-chain** against a root
/// certificate pinned at deployment and registers the key the enclave signs answers with. The
/// precompile then settles a TEE-mode answer at once when `checkAnswer` accepts its signature.
/// @dev A full document takes five P-384 signature checks (three intermediates and the leaf
/// certificate, then the document's COSE signature), about 47M gas: more than a block holds. So
/// registration is split into steps that each fit in one transaction, and nothing is trusted
/// between them: a step only ever reads what an earlier step verified and stored.
/// 1. `submitCertificate(der, issuer)` for each certificate below the root, parent first: its
///    signature is checked with the key of its issuer, itself a verified certificate (or the
///    pinned root), and it is cached under `keccak256(der)`. Intermediates are shared by many
///    documents, so later registrations submit only what is new (usually the leaf alone).
/// 2. `registerEnclave(document, modelId)`: decodes the COSE_Sign1 document, finds its leaf in
///    the cache, checks every certificate of the chain was valid at the document's timestamp,
///    verifies the COSE signature with the leaf's key, then applies the policy (freshness,
///    nonce, the model's PCR allow-list, debug mode) and registers the document's `public_key`.
interface IEnclaveRegistry {
    /// @notice A certificate that passed its checks, as cached.
    /// @param issuer keccak256 of the issuer's DER (the root's own hash for the root)
    /// @param subjectHash keccak256 of the DER of the certificate's subject name
    /// @param notBefore start of validity (unix seconds)
    /// @param notAfter end of validity (unix seconds)
    /// @param ca basicConstraints cA: the certificate may issue others
    /// @param pathLen how many CA certificates may still follow it (255: unlimited)
    /// @param publicKey the P-384 key x‖y (96 bytes)
    struct Certificate {
        bytes32 issuer;
        bytes32 subjectHash;
        uint64 notBefore;
        uint64 notAfter;
        bool ca;
        uint8 pathLen;
        bytes publicKey;
    }

    /// @notice What a verified attestation document says.
    /// @param leaf keccak256 of the leaf certificate that signed it
    /// @param timestampMs the document's timestamp (milliseconds since the epoch)
    /// @param measurement keccak256(PCR0 ‖ PCR1 ‖ PCR2): the enclave image, kernel and application
    /// @param debug PCR0 is all zero: the enclave ran in debug mode, where its memory can be read
    /// @param pcr0 the image measurement itself (48 bytes)
    /// @param publicKey the document's `public_key` field (empty when absent)
    /// @param userData the document's `user_data` field (empty when absent)
    /// @param nonce the document's `nonce` field (empty when absent)
    struct Attestation {
        bytes32 leaf;
        uint64 timestampMs;
        bytes32 measurement;
        bool debug;
        bytes pcr0;
        bytes publicKey;
        bytes userData;
        bytes nonce;
    }

    /// @notice A registered answer key.
    /// @param operator who registered it: the only account that may submit its answers
    /// @param measurement the enclave's keccak256(PCR0 ‖ PCR1 ‖ PCR2)
    /// @param debug the enclave ran in debug mode
    /// @param registeredAt block timestamp of the registration
    /// @param attestedAt the document's timestamp (seconds)
    /// @param revoked the key was revoked: its answers are refused from then on
    struct EnclaveKey {
        address operator;
        bytes32 measurement;
        bool debug;
        uint64 registeredAt;
        uint64 attestedAt;
        bool revoked;
    }

    /// @notice A certificate passed its checks and was cached.
    event CertificateVerified(bytes32 indexed certHash, bytes32 indexed issuer, uint64 notBefore, uint64 notAfter, bool ca);
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

    // ── certificates
    /// @notice The certificate is not DER as X.509 lays it out (at byte `offset`).
    error Enclave__MalformedCertificate(uint256 offset);
    /// @notice The certificate is not signed with ecdsa-with-SHA384, or its key is not a P-384 point.
    error Enclave__UnsupportedAlgorithm();
    /// @notice The issuer named is not a verified certificate.
    error Enclave__UnknownIssuer(bytes32 issuer);
    /// @notice The issuer may not issue this certificate (not a CA, or its path length is used up).
    error Enclave__NotCA(bytes32 issuer);
    /// @notice The certificate's issuer name is not its issuer's subject name.
    error Enclave__IssuerMismatch(bytes32 certHash, bytes32 issuer);
    /// @notice The certificate's signature does not verify with its issuer's key.
    error Enclave__BadCertificateSignature(bytes32 certHash);
    // ── documents
    /// @notice The document's leaf certificate has not been submitted (verified) yet.
    error Enclave__UnknownCertificate(bytes32 certHash);
    /// @notice A certificate of the chain was not valid at the document's timestamp.
    error Enclave__CertificateNotValidAt(bytes32 certHash, uint64 timestamp, uint64 notBefore, uint64 notAfter);
    /// @notice The document's COSE signature does not verify with its leaf certificate's key.
    error Enclave__BadDocumentSignature();
    /// @notice The document's timestamp is later than the chain's clock.
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
    /// @notice A constructor argument is unusable (zero address, zero age, root not self-signed P-384).
    error Enclave__InvalidConfig();

    /// @notice Verifies a certificate issued by `issuer` (a verified certificate, or the root)
    /// and caches it. Submitting a cached certificate again is a no-op that returns its hash.
    /// @return certHash keccak256 of `der`
    function submitCertificate(bytes calldata der, bytes32 issuer) external returns (bytes32 certHash);

    /// @notice Verifies a document (COSE signature, its chain of cached certificates to the root,
    /// each valid at the document's timestamp) and returns what it says. No policy is applied:
    /// neither freshness, nonce, nor PCRs. Reverts with the reason when it does not verify.
    function verifyDocument(bytes calldata document) external view returns (Attestation memory);

    /// @notice Verifies `document` and registers its `public_key` as an answer key operated by
    /// the caller, after the policy: the document is at most `maxDocumentAge` old by the chain's
    /// clock, its nonce is `registrationNonce(msg.sender)` (then the counter moves on), and its
    /// measurement is allowed for `modelId` (a debug enclave only where the model allows it).
    function registerEnclave(bytes calldata document, bytes32 modelId) external returns (address key);

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

    function certificateOf(bytes32 certHash) external view returns (Certificate memory);
    function isCached(bytes32 certHash) external view returns (bool);
    function enclaveOf(address key) external view returns (EnclaveKey memory);
    function isMeasurementAllowed(bytes32 modelId, bytes32 measurement) external view returns (bool);
    function debugAllowed(bytes32 modelId) external view returns (bool);
    /// @notice keccak256 of the pinned root certificate's DER.
    function root() external view returns (bytes32);
    function admin() external view returns (address);
    function precompile() external view returns (address);
    function maxDocumentAge() external view returns (uint64);
    function maxAnswerAge() external view returns (uint64);
}
