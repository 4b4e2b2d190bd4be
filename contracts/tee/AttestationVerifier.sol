// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAttestationVerifier} from "../interfaces/IAttestationVerifier.sol";

/// @title AttestationVerifier
/// @notice SKELETON (being written): verifies Nitro attestation documents on-chain against a pinned root.
contract AttestationVerifier is IAttestationVerifier {
    bytes32 private immutable _root;

    constructor(bytes memory rootDer) {
        _root = keccak256(rootDer);
    }

    /// @inheritdoc IAttestationVerifier
    function submitCertificate(bytes calldata der, bytes32) external pure returns (bytes32) {
        revert Enclave__MalformedCertificate(der.length);
    }

    /// @inheritdoc IAttestationVerifier
    function verifyDocument(bytes calldata document) external view returns (Attestation memory) {
        return _verifyDocument(document);
    }

    /// @inheritdoc IAttestationVerifier
    function certificateOf(bytes32) external pure returns (Certificate memory c) {
        return c;
    }

    /// @inheritdoc IAttestationVerifier
    function isCached(bytes32) external pure returns (bool) {
        return false;
    }

    /// @inheritdoc IAttestationVerifier
    function root() external view returns (bytes32) {
        return _root;
    }

    /// @dev Verifies the document's COSE signature with its cached leaf, and its chain's validity
    /// at the document's timestamp; reverts with the reason.
    function _verifyDocument(bytes calldata) internal view virtual returns (Attestation memory a) {
        revert Enclave__UnknownCertificate(_root);
    }
}
