// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ECDSA384} from "@solarity/solidity-lib/libs/crypto/ECDSA384.sol";

/// @title SolarityP384Reference
/// @notice TEST ONLY. ECDSA P-384 verification by @solarity/solidity-lib's `ECDSA384`, a maintained
/// library used here as the reference implementation that Sibyl's own `P384` library is compared
/// with. `ECDSA384` cannot be used in production on Osaka: it calls MODEXP at every step of the
/// curve arithmetic, and EIP-7883's repricing takes one verification above the 2^24 gas a
/// transaction may use (EIP-7825). Deploy it on a Prague network (or call it with `eth_call`).
/// @dev `ECDSA384.verify` takes the curve as big-endian byte strings (at most 64 bytes each; 48 here)
/// and accepts only a low s (s <= n / 2, its guard against malleability). ECDSA verification
/// accepts both s and n - s: with s' = n - s, u1' = e / s' = -u1 and u2' = r / s' = -u2 (mod n), so
/// u1' G + u2' Q = -(u1 G + u2 Q), the same x coordinate and so the same verdict. To compare the
/// two libraries on plain ECDSA (what `P384` implements, and what X.509 and COSE signatures need:
/// their signers do not normalise s), a high s in [n/2 + 1, n - 1] is replaced by n - s here
/// before the call. An s of n or more is passed through unchanged, so `ECDSA384` refuses it.
contract SolarityP384Reference {
    // NIST P-384 (secp384r1; NIST SP 800-186, SEC 2), big-endian.
    bytes private constant P =
        hex"fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff";
    bytes private constant A =
        hex"fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000fffffffc";
    bytes private constant B =
        hex"b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef";
    bytes private constant GX =
        hex"aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7";
    bytes private constant GY =
        hex"3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f";
    bytes private constant N =
        hex"ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973";

    // n split as a 384-bit number: its top 256 bits and its low 128 bits.
    uint256 private constant N_HI = 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf;
    uint256 private constant N_LO = 0x581a0db248b0a77aecec196accc52973;
    // floor(n / 2) split the same way (n is odd: (n - 1) / 2).
    uint256 private constant HALF_N_HI = 0x7fffffffffffffffffffffffffffffffffffffffffffffffe3b1a6c0fa1b96ef;
    uint256 private constant HALF_N_LO = 0xac0d06d9245853bd76760cb5666294b9;

    /// @notice Result of the last `verifyDigestTx`, so the call is a real state-changing transaction.
    bool public lastResult;

    /// @notice The curve as passed to `ECDSA384.verify` (for tests to check the constants).
    function curve() external pure returns (ECDSA384.Parameters memory) {
        return _curve();
    }

    /// @notice ECDSA P-384 verification of an already hashed message by `ECDSA384`.
    /// @param digest the 48-byte hash (SHA-384 for ES384).
    /// @param signature raw r || s (48 bytes each, big-endian); a high s is accepted (see above).
    /// @param pubKey raw x || y (48 bytes each, big-endian).
    /// @return False for wrong lengths (where `ECDSA384` would panic) or a signature that does not verify.
    function verifyDigest(
        bytes memory digest,
        bytes memory signature,
        bytes memory pubKey
    ) public view returns (bool) {
        if (digest.length != 48 || signature.length != 96 || pubKey.length != 96) return false;
        return ECDSA384.verify(_curve(), digest, _lowS(signature), pubKey);
    }

    /// @notice `verifyDigest` as a transaction (for a receipt's gas).
    function verifyDigestTx(
        bytes memory digest,
        bytes memory signature,
        bytes memory pubKey
    ) external returns (bool ok) {
        ok = verifyDigest(digest, signature, pubKey);
        lastResult = ok;
    }

    /// @notice `verifyDigest` and the gas it used, measured with `gasleft()` around the call (no
    /// intrinsic or calldata cost). A view, so that `eth_call` can measure it with more gas than a
    /// transaction may carry.
    function measureDigest(
        bytes memory digest,
        bytes memory signature,
        bytes memory pubKey
    ) external view returns (bool ok, uint256 gasUsed) {
        uint256 before = gasleft();
        ok = verifyDigest(digest, signature, pubKey);
        gasUsed = before - gasleft();
    }

    function _curve() private pure returns (ECDSA384.Parameters memory) {
        return ECDSA384.Parameters({a: A, b: B, gx: GX, gy: GY, p: P, n: N});
    }

    /// @dev `signature` with s replaced by n - s when n / 2 < s < n; a copy, the input is not changed.
    function _lowS(bytes memory signature) private pure returns (bytes memory out) {
        out = bytes.concat(signature); // 96 bytes, checked by the caller
        uint256 sHi;
        uint256 sLo;
        // s = the 48 bytes at offset 48: its top 32 bytes (hi) and its last 16 bytes (lo).
        assembly ("memory-safe") {
            sHi := mload(add(out, 80))
            sLo := shr(128, mload(add(out, 112)))
        }
        bool aboveHalf = sHi > HALF_N_HI || (sHi == HALF_N_HI && sLo > HALF_N_LO);
        bool belowN = sHi < N_HI || (sHi == N_HI && sLo < N_LO);
        if (!(aboveHalf && belowN)) return out;
        // n - s over 384 bits: borrow 2^128 for the low part when it would underflow.
        uint256 borrow = sLo > N_LO ? 1 : 0;
        sLo = (N_LO + (borrow << 128)) - sLo;
        sHi = N_HI - sHi - borrow;
        // Written from the end backwards so that no store goes past the 96 bytes: the low part's
        // word covers bytes 64..95 of the data (its top 16 bytes, zero, are then overwritten by sHi).
        assembly ("memory-safe") {
            mstore(add(out, 96), sLo)
            mstore(add(out, 80), sHi)
        }
    }
}
