// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAttestationVerifier} from "../interfaces/IAttestationVerifier.sol";
import {NitroDocument} from "../libraries/NitroDocument.sol";
import {P384} from "../libraries/P384.sol";
import {Sha384} from "../libraries/Sha384.sol";
import {X509} from "../libraries/X509.sol";

/// @title AttestationVerifier
/// @notice Verifies AWS Nitro Enclaves attestation documents on-chain against a root certificate
/// pinned at deployment. Certificates are verified one per transaction (`submitCertificate`,
/// parent first) and cached under the keccak256 of their DER, each linked to the cached
/// certificate that issued it; a document is then checked against its cached chain
/// (`verifyDocument`). Every step fits in one transaction (a P-384 check costs about 6M gas, see
/// `P384`; a certificate about 6.4M, a document about 7.4M, the deployment about 11.5M).
/// @dev The `cabundle` a document carries is not trusted and not read: what links a leaf to the
/// root is the cache, where a certificate only enters after its signature was checked with the
/// key of its (cached) issuer. Validity windows are not checked when a certificate is submitted
/// but when a document is verified, at the document's own timestamp, for every certificate from
/// its leaf up to the root: Nitro leaves live about three hours, so a document is checked at the
/// time it was made, never by the chain's clock (freshness is the caller's policy).
contract AttestationVerifier is IAttestationVerifier {
    /// @dev pathLen of a CA without pathLenConstraint.
    uint8 private constant UNLIMITED = 255;
    uint256 private constant PCR_LENGTH = 48;

    bytes32 private immutable ROOT;
    mapping(bytes32 certHash => Certificate) private _certs;

    /// @notice Pins `rootDer` and caches it: it must be a self-signed P-384 CA certificate whose
    /// signature verifies with its own key (a P-384 check, about 6M gas, once).
    /// @dev A root that does not parse reverts with the parser's error
    /// (`Enclave__MalformedCertificate`, `Enclave__UnsupportedAlgorithm`); one that parses but is
    /// not a self-signed CA reverts with `Enclave__InvalidConfig`.
    /// @param rootDer the DER of the root certificate (for AWS Nitro: `CN=aws.nitro-enclaves`)
    constructor(bytes memory rootDer) {
        X509.Parsed memory c = X509.parse(rootDer);
        if (!c.ca || c.issuerHash != c.subjectHash) revert Enclave__InvalidConfig();
        if (!P384.verify(Sha384.hash(c.tbs), c.signature, c.publicKey)) revert Enclave__InvalidConfig();
        bytes32 rootHash = keccak256(rootDer);
        ROOT = rootHash;
        _store(rootHash, rootHash, c, c.pathLen);
    }

    /// @inheritdoc IAttestationVerifier
    /// @dev Checks, in order: `issuer` is cached (`Enclave__UnknownIssuer`); the DER parses
    /// (`Enclave__MalformedCertificate`, `Enclave__UnsupportedAlgorithm`); `issuer` is a CA with
    /// path length left for a CA certificate (`Enclave__NotCA`); the certificate's issuer name is
    /// the issuer's subject name (`Enclave__IssuerMismatch`); the signature over the
    /// TBSCertificate verifies with the issuer's key (`Enclave__BadCertificateSignature`).
    /// Validity is not checked here (see the contract's notes). Emits `CertificateVerified`.
    function submitCertificate(bytes calldata der, bytes32 issuer) external returns (bytes32 certHash) {
        certHash = keccak256(der);
        if (_isCached(certHash)) return certHash;
        Certificate storage parent = _certs[issuer];
        if (!_isCached(issuer)) revert Enclave__UnknownIssuer(issuer);

        X509.Parsed memory c = X509.parse(der);
        uint8 parentPathLen = parent.pathLen;
        if (!parent.ca || (c.ca && parentPathLen == 0)) revert Enclave__NotCA(issuer);
        if (c.issuerHash != parent.subjectHash) revert Enclave__IssuerMismatch(certHash, issuer);
        if (!P384.verify(Sha384.hash(c.tbs), c.signature, parent.publicKey)) {
            revert Enclave__BadCertificateSignature(certHash);
        }

        uint8 pathLen;
        if (c.ca) {
            // Safe: a CA reaches here only when parentPathLen > 0 (checked above).
            uint8 left;
            unchecked {
                left = parentPathLen == UNLIMITED ? UNLIMITED : parentPathLen - 1;
            }
            pathLen = c.pathLen < left ? c.pathLen : left;
        }
        _store(certHash, issuer, c, pathLen);
    }

    /// @inheritdoc IAttestationVerifier
    function verifyDocument(bytes calldata document) external view returns (Attestation memory) {
        return _verifyDocument(document);
    }

    /// @inheritdoc IAttestationVerifier
    function certificateOf(bytes32 certHash) external view returns (Certificate memory) {
        return _certs[certHash];
    }

    /// @inheritdoc IAttestationVerifier
    function isCached(bytes32 certHash) external view returns (bool) {
        return _isCached(certHash);
    }

    /// @inheritdoc IAttestationVerifier
    function root() external view returns (bytes32) {
        return ROOT;
    }

    /// @dev Verifies `document` and returns what it says; reverts with the reason. In order: the
    /// COSE_Sign1 envelope and the payload parse (NitroDocument's errors); the leaf certificate
    /// is cached (`Enclave__UnknownCertificate`); every certificate from the leaf up to the root
    /// was valid at the document's timestamp, in whole seconds (`Enclave__CertificateNotValidAt`);
    /// the ES384 signature over the COSE Sig_structure verifies with the leaf's key
    /// (`Enclave__BadDocumentSignature`). `measurement` is keccak256(PCR0 ‖ PCR1 ‖ PCR2) over
    /// 144 bytes: a PCR1 or PCR2 absent from the document (Nitro always reports 16 PCRs) counts
    /// as 48 zero bytes, the value of a PCR that was never extended.
    function _verifyDocument(bytes calldata document) internal view virtual returns (Attestation memory a) {
        NitroDocument.Cose memory cose = NitroDocument.decodeCose(document);
        NitroDocument.Payload memory p = NitroDocument.decodePayload(cose.payload);
        bytes32 leaf = keccak256(p.certificate);
        if (!_isCached(leaf)) revert Enclave__UnknownCertificate(leaf);
        _checkChain(leaf, p.timestampMs / 1000);

        bytes memory digest = Sha384.hash(NitroDocument.sigStructure(cose.protectedHeader, cose.payload));
        if (!P384.verify(digest, cose.signature, _certs[leaf].publicKey))
            revert Enclave__BadDocumentSignature();

        a.leaf = leaf;
        a.timestampMs = p.timestampMs;
        a.measurement = keccak256(abi.encodePacked(p.pcr0, _pcr(p.pcr1), _pcr(p.pcr2)));
        a.debug = p.debug;
        a.pcr0 = p.pcr0;
        a.publicKey = p.publicKey;
        a.userData = p.userData;
        a.nonce = p.nonce;
    }

    /// @dev The cached certificate `certHash` (all fields zero when it is not cached: check
    /// `_isCached` first, or `issuer != 0`).
    function _certificate(bytes32 certHash) internal view returns (Certificate storage) {
        return _certs[certHash];
    }

    /// @dev Whether `certHash` is cached: every cached certificate has a non-zero issuer link.
    function _isCached(bytes32 certHash) internal view returns (bool) {
        return _certs[certHash].issuer != bytes32(0);
    }

    /// @dev Walks the issuer links from the cached `leaf` up to the root; each certificate on the
    /// way must be valid at `timestamp` (seconds). The walk ends: every certificate was cached
    /// after its issuer, so the links only lead to older entries, and end at the root (its own issuer).
    function _checkChain(bytes32 leaf, uint64 timestamp) private view {
        bytes32 certHash = leaf;
        while (true) {
            Certificate storage c = _certs[certHash];
            uint64 notBefore = c.notBefore;
            uint64 notAfter = c.notAfter;
            if (timestamp < notBefore || timestamp > notAfter) {
                revert Enclave__CertificateNotValidAt(certHash, timestamp, notBefore, notAfter);
            }
            if (certHash == ROOT) return;
            certHash = c.issuer;
        }
    }

    /// @dev Caches `c` under `certHash`, linked to `issuer`, and emits `CertificateVerified`.
    function _store(bytes32 certHash, bytes32 issuer, X509.Parsed memory c, uint8 pathLen) private {
        _certs[certHash] = Certificate({
            issuer: issuer,
            subjectHash: c.subjectHash,
            notBefore: c.notBefore,
            notAfter: c.notAfter,
            ca: c.ca,
            pathLen: pathLen,
            publicKey: c.publicKey
        });
        emit CertificateVerified(certHash, issuer, c.notBefore, c.notAfter, c.ca);
    }

    /// @dev A PCR as it enters the measurement: 48 zero bytes when absent.
    function _pcr(bytes memory value) private pure returns (bytes memory) {
        return value.length == 0 ? new bytes(PCR_LENGTH) : value;
    }
}
