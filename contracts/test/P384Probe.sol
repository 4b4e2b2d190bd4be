// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ECDSA384} from "@solarity/solidity-lib/libs/crypto/ECDSA384.sol";
import {Sha384} from "../libraries/Sha384.sol";

/// @title P384Probe
/// @notice TEST ONLY. Measurement spike: ES384 (ECDSA P-384 over SHA-384) verification on-chain,
/// with the ECDSA384 library of the solidity-lib npm package for the curve and Sibyl's `Sha384` library for the hash
/// (solidity-lib has no SHA-384).
contract P384Probe {
    /// @dev P-384 order n, split into its high 128 bits and low 256 bits.
    uint256 private constant N_HI = 0xffffffffffffffffffffffffffffffff;
    uint256 private constant N_LO = 0xffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973;

    /// @notice Last result of `verifyMessageTx`, so the call is a real state-changing transaction.
    bool public lastResult;

    /// @notice ES384: SHA-384 of `message` computed here, then ECDSA P-384 verification.
    /// @param signature raw r || s (96 bytes); a high s is accepted (normalised to n - s).
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
        if (signature.length != 96 || pubKey.length != 96 || digest.length != 48) return false;
        return ECDSA384.verify(_p384(), digest, _lowS(signature), pubKey);
    }

    /// @notice SHA-384 (FIPS 180-4) of `data`, by the `Sha384` library.
    function sha384(bytes memory data) public pure returns (bytes memory digest) {
        return Sha384.hash(data);
    }

    /// @dev ECDSA384 accepts only s <= n/2; (r, n - s) is the equivalent signature.
    function _lowS(bytes memory signature) private pure returns (bytes memory out) {
        uint256 sHi;
        uint256 sLo;
        assembly ("memory-safe") {
            // s = bytes [48, 96): its high 16 bytes at 48, low 32 bytes at 64
            sHi := shr(128, mload(add(signature, 80)))
            sLo := mload(add(signature, 96))
        }
        // n / 2, split the same way
        uint256 halfHi = N_HI >> 1;
        uint256 halfLo = (N_LO >> 1) | ((N_HI & 1) << 255);
        if (sHi < halfHi || (sHi == halfHi && sLo <= halfLo)) return signature;
        unchecked {
            uint256 lo = N_LO - sLo;
            uint256 hi = N_HI - sHi - (N_LO < sLo ? 1 : 0);
            out = bytes.concat(_slice48(signature), bytes16(uint128(hi)), bytes32(lo));
        }
    }

    function _slice48(bytes memory b) private pure returns (bytes memory r) {
        r = new bytes(48);
        assembly ("memory-safe") {
            mcopy(add(r, 32), add(b, 32), 48)
        }
    }

    function _p384() private pure returns (ECDSA384.Parameters memory) {
        return
            ECDSA384.Parameters({
                a: hex"fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000fffffffc",
                b: hex"b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef",
                gx: hex"aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7",
                gy: hex"3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f",
                p: hex"fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff",
                n: hex"ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973"
            });
    }
}
