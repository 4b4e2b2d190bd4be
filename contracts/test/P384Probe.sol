// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {P384} from "../libraries/P384.sol";
import {Sha384} from "../libraries/Sha384.sol";

/// @title P384Probe
/// @notice TEST ONLY. ES384 (ECDSA P-384 over SHA-384) verification on-chain, with Sibyl's `P384`
/// library for the curve and its `Sha384` library for the hash: the checks AttestationVerifier
/// makes, exposed for measurements and differential tests.
contract P384Probe {
    /// @notice Last result of `verifyMessageTx`, so the call is a real state-changing transaction.
    bool public lastResult;

    /// @notice ES384: SHA-384 of `message` computed here, then ECDSA P-384 verification.
    /// @param signature raw r || s (96 bytes); a high s is accepted, as ECDSA verification does.
    /// @param pubKey raw x || y (96 bytes).
    function verifyMessage(
        bytes memory message,
        bytes memory signature,
        bytes memory pubKey
    ) public view returns (bool) {
        return verifyDigest(sha384(message), signature, pubKey);
    }

    /// @notice `verifyMessage` as a transaction.
    function verifyMessageTx(
        bytes memory message,
        bytes memory signature,
        bytes memory pubKey
    ) external returns (bool) {
        bool ok = verifyMessage(message, signature, pubKey);
        lastResult = ok;
        return ok;
    }

    /// @notice ECDSA P-384 verification of an already hashed message (48 bytes).
    function verifyDigest(
        bytes memory digest,
        bytes memory signature,
        bytes memory pubKey
    ) public view returns (bool) {
        return P384.verify(digest, signature, pubKey);
    }

    /// @notice SHA-384 (FIPS 180-4) of `data`, by the `Sha384` library.
    function sha384(bytes memory data) public pure returns (bytes memory digest) {
        return Sha384.hash(data);
    }
}
