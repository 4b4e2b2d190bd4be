// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Sha384} from "../libraries/Sha384.sol";

/// @title Sha384Harness
/// @notice TEST ONLY. Exposes `Sha384.hash` for tests and gas measurement.
contract Sha384Harness {
    /// @notice Digest of the last `hashTx`, so the call is a real state-changing transaction.
    bytes public lastDigest;

    /// @notice SHA-384 (FIPS 180-4) of `data`.
    function hash(bytes calldata data) external pure returns (bytes memory) {
        return Sha384.hash(data);
    }

    /// @notice `hash` as a transaction that stores the digest.
    function hashTx(bytes calldata data) external returns (bytes memory digest) {
        digest = Sha384.hash(data);
        lastDigest = digest;
    }
}
