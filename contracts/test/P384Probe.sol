// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ECDSA384} from "@solarity/solidity-lib/libs/crypto/ECDSA384.sol";

/// @title P384Probe
/// @notice TEST ONLY. Measurement spike: ES384 (ECDSA P-384 over SHA-384) verification on-chain,
/// with the ECDSA384 library of the solidity-lib npm package for the curve and a plain SHA-384 written here
/// (the library has no SHA-384).
contract P384Probe {
    /// @dev P-384 order n, split into its high 128 bits and low 256 bits.
    uint256 private constant N_HI = 0xffffffffffffffffffffffffffffffff;
    uint256 private constant N_LO = 0xffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973;

    /// @dev SHA-512 round constants (SHA-384 uses the same), 80 x 64 bits, big-endian.
    bytes private constant K =
        hex"428a2f98d728ae227137449123ef65cdb5c0fbcfec4d3b2fe9b5dba58189dbbc3956c25bf348b53859f111f1b605d019923f82a4af194f9bab1c5ed5da6d8118d807aa98a303024212835b0145706fbe243185be4ee4b28c550c7dc3d5ffb4e272be5d74f27b896f80deb1fe3b1696b19bdc06a725c71235c19bf174cf692694e49b69c19ef14ad2efbe4786384f25e30fc19dc68b8cd5b5240ca1cc77ac9c652de92c6f592b02754a7484aa6ea6e4835cb0a9dcbd41fbd476f988da831153b5983e5152ee66dfaba831c66d2db43210b00327c898fb213fbf597fc7beef0ee4c6e00bf33da88fc2d5a79147930aa72506ca6351e003826f142929670a0e6e7027b70a8546d22ffc2e1b21385c26c9264d2c6dfc5ac42aed53380d139d95b3df650a73548baf63de766a0abb3c77b2a881c2c92e47edaee692722c851482353ba2bfe8a14cf10364a81a664bbc423001c24b8b70d0f89791c76c51a30654be30d192e819d6ef5218d69906245565a910f40e35855771202a106aa07032bbd1b819a4c116b8d2d0c81e376c085141ab532748774cdf8eeb9934b0bcb5e19b48a8391c0cb3c5c95a634ed8aa4ae3418acb5b9cca4f7763e373682e6ff3d6b2b8a3748f82ee5defb2fc78a5636f43172f6084c87814a1f0ab728cc702081a6439ec90befffa23631e28a4506cebde82bde9bef9a3f7b2c67915c67178f2e372532bca273eceea26619cd186b8c721c0c207eada7dd6cde0eb1ef57d4f7fee6ed17806f067aa72176fba0a637dc5a2c898a6113f9804bef90dae1b710b35131c471b28db77f523047d8432caab7b40c724933c9ebe0a15c9bebc431d67c49c100d4c4cc5d4becb3e42b6597f299cfc657e2a5fcb6fab3ad6faec6c44198c4a475817";

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

    /// @notice SHA-384 (FIPS 180-4) of `data`.
    function sha384(bytes memory data) public pure returns (bytes memory digest) {
        uint256 len = data.length;
        uint256 padded = ((len + 17 + 127) / 128) * 128;
        bytes memory buf = new bytes(padded);
        uint256[8] memory h = [
            uint256(0xcbbb9d5dc1059ed8),
            0x629a292a367cd507,
            0x9159015a3070dd17,
            0x152fecd8f70e5939,
            0x67332667ffc00b31,
            0x8eb44a8768581511,
            0xdb0c2e0d64f98fa7,
            0x47b5481dbefa4fa4
        ];
        uint256[80] memory w;
        bytes memory k = K;
        assembly ("memory-safe") {
            let bufPtr := add(buf, 32)
            mcopy(bufPtr, add(data, 32), len)
            mstore8(add(bufPtr, len), 0x80)
            // message length in bits, 128-bit big-endian at the end (the high 64 bits are 0 here)
            let lenPtr := add(bufPtr, sub(padded, 32))
            mstore(lenPtr, or(mload(lenPtr), shl(3, len)))
        }
        for (uint256 off = 0; off < padded; off += 128) {
            _compress(h, buf, off, w, k);
        }
        digest = new bytes(48);
        assembly ("memory-safe") {
            let out := add(digest, 32)
            for {
                let i := 0
            } lt(i, 6) {
                i := add(i, 1)
            } {
                mstore(add(out, shl(3, i)), shl(192, mload(add(h, shl(5, i)))))
            }
        }
    }

    // solhint-disable-next-line function-max-lines
    function _compress(
        uint256[8] memory h,
        bytes memory buf,
        uint256 off,
        uint256[80] memory w,
        bytes memory k
    ) private pure {
        assembly ("memory-safe") {
            function rotr(x, n) -> r {
                r := and(or(shr(n, x), shl(sub(64, n), x)), 0xffffffffffffffff)
            }
            let blockPtr := add(add(buf, 32), off)
            for {
                let t := 0
            } lt(t, 16) {
                t := add(t, 1)
            } {
                mstore(add(w, shl(5, t)), shr(192, mload(add(blockPtr, shl(3, t)))))
            }
            for {
                let t := 16
            } lt(t, 80) {
                t := add(t, 1)
            } {
                let w15 := mload(add(w, shl(5, sub(t, 15))))
                let w2 := mload(add(w, shl(5, sub(t, 2))))
                let s := add(
                    xor(xor(rotr(w15, 1), rotr(w15, 8)), shr(7, w15)),
                    xor(xor(rotr(w2, 19), rotr(w2, 61)), shr(6, w2))
                )
                s := add(s, add(mload(add(w, shl(5, sub(t, 16)))), mload(add(w, shl(5, sub(t, 7))))))
                mstore(add(w, shl(5, t)), and(s, 0xffffffffffffffff))
            }
            let a := mload(h)
            let b := mload(add(h, 32))
            let c := mload(add(h, 64))
            let d := mload(add(h, 96))
            let e := mload(add(h, 128))
            let f := mload(add(h, 160))
            let g := mload(add(h, 192))
            let hh := mload(add(h, 224))
            let kPtr := add(k, 32)
            for {
                let t := 0
            } lt(t, 80) {
                t := add(t, 1)
            } {
                let t1 := add(
                    add(hh, xor(xor(rotr(e, 14), rotr(e, 18)), rotr(e, 41))),
                    add(
                        xor(and(e, f), and(not(e), g)),
                        add(shr(192, mload(add(kPtr, shl(3, t)))), mload(add(w, shl(5, t))))
                    )
                )
                hh := g
                g := f
                f := e
                e := and(add(d, t1), 0xffffffffffffffff)
                d := c
                c := b
                b := a
                a := and(
                    add(
                        t1,
                        add(
                            xor(xor(rotr(b, 28), rotr(b, 34)), rotr(b, 39)),
                            xor(xor(and(b, c), and(b, d)), and(c, d))
                        )
                    ),
                    0xffffffffffffffff
                )
            }
            mstore(h, and(add(mload(h), a), 0xffffffffffffffff))
            mstore(add(h, 32), and(add(mload(add(h, 32)), b), 0xffffffffffffffff))
            mstore(add(h, 64), and(add(mload(add(h, 64)), c), 0xffffffffffffffff))
            mstore(add(h, 96), and(add(mload(add(h, 96)), d), 0xffffffffffffffff))
            mstore(add(h, 128), and(add(mload(add(h, 128)), e), 0xffffffffffffffff))
            mstore(add(h, 160), and(add(mload(add(h, 160)), f), 0xffffffffffffffff))
            mstore(add(h, 192), and(add(mload(add(h, 192)), g), 0xffffffffffffffff))
            mstore(add(h, 224), and(add(mload(add(h, 224)), hh), 0xffffffffffffffff))
        }
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
