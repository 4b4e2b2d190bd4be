// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IAttestationVerifier
/// @notice On-chain verification of AWS Nitro Enclaves attestation documents against a root
/// certificate pinned at deployment, in steps that each fit in one transaction (see
/// `IEnclaveRegistry` for why): certificates are verified one at a time and cached, then a
/// document is checked against its cached chain. Policy (freshness, nonce, PCR allow-lists) is
/// not applied here: `verifyDocument` only says whether the document is authentic and what it says.
interface IAttestationVerifier {
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

    /// @notice A certificate passed its checks and was cached.
    event CertificateVerified(
        bytes32 indexed certHash,
        bytes32 indexed issuer,
        uint64 notBefore,
        uint64 notAfter,
        bool ca
    );
    // ── configuration
    /// @notice A constructor argument is unusable (zero address, zero age, root not a self-signed P-384 CA).
    error Enclave__InvalidConfig();
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
    error Enclave__CertificateNotValidAt(
        bytes32 certHash,
        uint64 timestamp,
        uint64 notBefore,
        uint64 notAfter
    );
    /// @notice The document's COSE signature does not verify with its leaf certificate's key.
    error Enclave__BadDocumentSignature();
    /// @notice Verifies a certificate issued by `issuer` (a verified certificate, or the root)
    /// and caches it. Submitting a cached certificate again is a no-op that returns its hash.
    /// @return certHash keccak256 of `der`
    function submitCertificate(bytes calldata der, bytes32 issuer) external returns (bytes32 certHash);

    /// @notice Verifies a document (COSE signature, its chain of cached certificates to the root,
    /// each valid at the document's timestamp) and returns what it says. No policy is applied:
    /// neither freshness, nonce, nor PCRs. Reverts with the reason when it does not verify.
    function verifyDocument(bytes calldata document) external view returns (Attestation memory);

    /// @notice The cached certificate `certHash` (all fields zero when it is not cached).
    function certificateOf(bytes32 certHash) external view returns (Certificate memory);
    /// @notice Whether the certificate `certHash` passed `submitCertificate` (or is the root).
    function isCached(bytes32 certHash) external view returns (bool);
    /// @notice keccak256 of the pinned root certificate's DER.
    function root() external view returns (bytes32);
}
