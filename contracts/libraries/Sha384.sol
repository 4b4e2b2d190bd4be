// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title Sha384
/// @notice SHA-384 as specified in FIPS 180-4 (Secure Hash Standard, sections 5.1.2, 5.3.4 and 6.5): the SHA-512
/// compression function started from the SHA-384 initial hash value, the message padded with a 1 bit, zeros and its
/// length in bits as a 128-bit big-endian integer, and the final state truncated to its first 384 bits (48 bytes).
/// The EVM has no precompile for it; AWS Nitro attestation documents are signed with ES384 (ECDSA P-384 over
/// SHA-384), so their on-chain verification needs it.
/// @dev Each 64-bit word lives in its own 256-bit stack slot or memory word. A rotation is two shifts of the word
/// duplicated into bits 64..127 (`x | x << 64`); bits above 63 are left as they fall and cleared by one mask after
/// the additions, so only the two new working variables of a round (and each new schedule word) are masked.
/// Per 128-byte block: the 80-word schedule is expanded once into memory (8 words per loop pass), then the
/// 80 rounds run 8 per loop pass with the variables renamed instead of shifted; the round constants sit in memory
/// next to the schedule. Full blocks are read straight from `data`; only the last one or two blocks are copied out
/// for padding.
/// Measured (Hardhat EDR, eth_estimateGas difference between two sizes): about 35,100 gas per
/// 128-byte block through `Sha384Harness` (of which ~2,000 is the block's calldata), against ~74,000 for the first
/// straightforward version.
library Sha384 {
    /// @dev SHA-512 round constants K[0..79] (FIPS 180-4, 4.2.3), one per 32-byte word, right-aligned.
    bytes private constant K =
        hex"000000000000000000000000000000000000000000000000428a2f98d728ae220000000000000000000000000000000000000000000000007137449123ef65cd000000000000000000000000000000000000000000000000b5c0fbcfec4d3b2f000000000000000000000000000000000000000000000000e9b5dba58189dbbc0000000000000000000000000000000000000000000000003956c25bf348b53800000000000000000000000000000000000000000000000059f111f1b605d019000000000000000000000000000000000000000000000000923f82a4af194f9b000000000000000000000000000000000000000000000000ab1c5ed5da6d8118000000000000000000000000000000000000000000000000d807aa98a303024200000000000000000000000000000000000000000000000012835b0145706fbe000000000000000000000000000000000000000000000000243185be4ee4b28c000000000000000000000000000000000000000000000000550c7dc3d5ffb4e200000000000000000000000000000000000000000000000072be5d74f27b896f00000000000000000000000000000000000000000000000080deb1fe3b1696b10000000000000000000000000000000000000000000000009bdc06a725c71235000000000000000000000000000000000000000000000000c19bf174cf692694000000000000000000000000000000000000000000000000e49b69c19ef14ad2000000000000000000000000000000000000000000000000efbe4786384f25e30000000000000000000000000000000000000000000000000fc19dc68b8cd5b5000000000000000000000000000000000000000000000000240ca1cc77ac9c650000000000000000000000000000000000000000000000002de92c6f592b02750000000000000000000000000000000000000000000000004a7484aa6ea6e4830000000000000000000000000000000000000000000000005cb0a9dcbd41fbd400000000000000000000000000000000000000000000000076f988da831153b5000000000000000000000000000000000000000000000000983e5152ee66dfab000000000000000000000000000000000000000000000000a831c66d2db43210000000000000000000000000000000000000000000000000b00327c898fb213f000000000000000000000000000000000000000000000000bf597fc7beef0ee4000000000000000000000000000000000000000000000000c6e00bf33da88fc2000000000000000000000000000000000000000000000000d5a79147930aa72500000000000000000000000000000000000000000000000006ca6351e003826f000000000000000000000000000000000000000000000000142929670a0e6e7000000000000000000000000000000000000000000000000027b70a8546d22ffc0000000000000000000000000000000000000000000000002e1b21385c26c9260000000000000000000000000000000000000000000000004d2c6dfc5ac42aed00000000000000000000000000000000000000000000000053380d139d95b3df000000000000000000000000000000000000000000000000650a73548baf63de000000000000000000000000000000000000000000000000766a0abb3c77b2a800000000000000000000000000000000000000000000000081c2c92e47edaee600000000000000000000000000000000000000000000000092722c851482353b000000000000000000000000000000000000000000000000a2bfe8a14cf10364000000000000000000000000000000000000000000000000a81a664bbc423001000000000000000000000000000000000000000000000000c24b8b70d0f89791000000000000000000000000000000000000000000000000c76c51a30654be30000000000000000000000000000000000000000000000000d192e819d6ef5218000000000000000000000000000000000000000000000000d69906245565a910000000000000000000000000000000000000000000000000f40e35855771202a000000000000000000000000000000000000000000000000106aa07032bbd1b800000000000000000000000000000000000000000000000019a4c116b8d2d0c80000000000000000000000000000000000000000000000001e376c085141ab530000000000000000000000000000000000000000000000002748774cdf8eeb9900000000000000000000000000000000000000000000000034b0bcb5e19b48a8000000000000000000000000000000000000000000000000391c0cb3c5c95a630000000000000000000000000000000000000000000000004ed8aa4ae3418acb0000000000000000000000000000000000000000000000005b9cca4f7763e373000000000000000000000000000000000000000000000000682e6ff3d6b2b8a3000000000000000000000000000000000000000000000000748f82ee5defb2fc00000000000000000000000000000000000000000000000078a5636f43172f6000000000000000000000000000000000000000000000000084c87814a1f0ab720000000000000000000000000000000000000000000000008cc702081a6439ec00000000000000000000000000000000000000000000000090befffa23631e28000000000000000000000000000000000000000000000000a4506cebde82bde9000000000000000000000000000000000000000000000000bef9a3f7b2c67915000000000000000000000000000000000000000000000000c67178f2e372532b000000000000000000000000000000000000000000000000ca273eceea26619c000000000000000000000000000000000000000000000000d186b8c721c0c207000000000000000000000000000000000000000000000000eada7dd6cde0eb1e000000000000000000000000000000000000000000000000f57d4f7fee6ed17800000000000000000000000000000000000000000000000006f067aa72176fba0000000000000000000000000000000000000000000000000a637dc5a2c898a6000000000000000000000000000000000000000000000000113f9804bef90dae0000000000000000000000000000000000000000000000001b710b35131c471b00000000000000000000000000000000000000000000000028db77f523047d8400000000000000000000000000000000000000000000000032caab7b40c724930000000000000000000000000000000000000000000000003c9ebe0a15c9bebc000000000000000000000000000000000000000000000000431d67c49c100d4c0000000000000000000000000000000000000000000000004cc5d4becb3e42b6000000000000000000000000000000000000000000000000597f299cfc657e2a0000000000000000000000000000000000000000000000005fcb6fab3ad6faec0000000000000000000000000000000000000000000000006c44198c4a475817";

    /// @notice SHA-384 (FIPS 180-4) of `data`.
    /// @return digest the 48-byte digest.
    // solhint-disable-next-line function-max-lines
    function hash(bytes memory data) internal pure returns (bytes memory digest) {
        bytes memory k = K;
        assembly ("memory-safe") {
            // Expands block `src` (128 bytes) into the 80-word schedule at `w`.
            function expand(src, w) {
                let M := 0xffffffffffffffff
                let v
                v := mload(src)
                mstore(w, shr(192, v))
                mstore(add(w, 32), and(shr(128, v), M))
                mstore(add(w, 64), and(shr(64, v), M))
                mstore(add(w, 96), and(v, M))
                v := mload(add(src, 32))
                mstore(add(w, 128), shr(192, v))
                mstore(add(w, 160), and(shr(128, v), M))
                mstore(add(w, 192), and(shr(64, v), M))
                mstore(add(w, 224), and(v, M))
                v := mload(add(src, 64))
                mstore(add(w, 256), shr(192, v))
                mstore(add(w, 288), and(shr(128, v), M))
                mstore(add(w, 320), and(shr(64, v), M))
                mstore(add(w, 352), and(v, M))
                v := mload(add(src, 96))
                mstore(add(w, 384), shr(192, v))
                mstore(add(w, 416), and(shr(128, v), M))
                mstore(add(w, 448), and(shr(64, v), M))
                mstore(add(w, 480), and(v, M))
                let x
                let y
                let xx
                let yy
                for {
                    let p := add(w, 512)
                    let end := add(w, 2560)
                } lt(p, end) {
                    p := add(p, 256)
                } {
                    x := mload(sub(p, 480))
                    y := mload(sub(p, 64))
                    xx := or(x, shl(64, x))
                    yy := or(y, shl(64, y))
                    mstore(
                        p,
                        and(
                            add(
                                add(
                                    xor(xor(shr(1, xx), shr(8, xx)), shr(7, x)),
                                    xor(xor(shr(19, yy), shr(61, yy)), shr(6, y))
                                ),
                                add(mload(sub(p, 512)), mload(sub(p, 224)))
                            ),
                            M
                        )
                    )
                    x := mload(sub(p, 448))
                    y := mload(sub(p, 32))
                    xx := or(x, shl(64, x))
                    yy := or(y, shl(64, y))
                    mstore(
                        add(p, 32),
                        and(
                            add(
                                add(
                                    xor(xor(shr(1, xx), shr(8, xx)), shr(7, x)),
                                    xor(xor(shr(19, yy), shr(61, yy)), shr(6, y))
                                ),
                                add(mload(sub(p, 480)), mload(sub(p, 192)))
                            ),
                            M
                        )
                    )
                    x := mload(sub(p, 416))
                    y := mload(p)
                    xx := or(x, shl(64, x))
                    yy := or(y, shl(64, y))
                    mstore(
                        add(p, 64),
                        and(
                            add(
                                add(
                                    xor(xor(shr(1, xx), shr(8, xx)), shr(7, x)),
                                    xor(xor(shr(19, yy), shr(61, yy)), shr(6, y))
                                ),
                                add(mload(sub(p, 448)), mload(sub(p, 160)))
                            ),
                            M
                        )
                    )
                    x := mload(sub(p, 384))
                    y := mload(add(p, 32))
                    xx := or(x, shl(64, x))
                    yy := or(y, shl(64, y))
                    mstore(
                        add(p, 96),
                        and(
                            add(
                                add(
                                    xor(xor(shr(1, xx), shr(8, xx)), shr(7, x)),
                                    xor(xor(shr(19, yy), shr(61, yy)), shr(6, y))
                                ),
                                add(mload(sub(p, 416)), mload(sub(p, 128)))
                            ),
                            M
                        )
                    )
                    x := mload(sub(p, 352))
                    y := mload(add(p, 64))
                    xx := or(x, shl(64, x))
                    yy := or(y, shl(64, y))
                    mstore(
                        add(p, 128),
                        and(
                            add(
                                add(
                                    xor(xor(shr(1, xx), shr(8, xx)), shr(7, x)),
                                    xor(xor(shr(19, yy), shr(61, yy)), shr(6, y))
                                ),
                                add(mload(sub(p, 384)), mload(sub(p, 96)))
                            ),
                            M
                        )
                    )
                    x := mload(sub(p, 320))
                    y := mload(add(p, 96))
                    xx := or(x, shl(64, x))
                    yy := or(y, shl(64, y))
                    mstore(
                        add(p, 160),
                        and(
                            add(
                                add(
                                    xor(xor(shr(1, xx), shr(8, xx)), shr(7, x)),
                                    xor(xor(shr(19, yy), shr(61, yy)), shr(6, y))
                                ),
                                add(mload(sub(p, 352)), mload(sub(p, 64)))
                            ),
                            M
                        )
                    )
                    x := mload(sub(p, 288))
                    y := mload(add(p, 128))
                    xx := or(x, shl(64, x))
                    yy := or(y, shl(64, y))
                    mstore(
                        add(p, 192),
                        and(
                            add(
                                add(
                                    xor(xor(shr(1, xx), shr(8, xx)), shr(7, x)),
                                    xor(xor(shr(19, yy), shr(61, yy)), shr(6, y))
                                ),
                                add(mload(sub(p, 320)), mload(sub(p, 32)))
                            ),
                            M
                        )
                    )
                    x := mload(sub(p, 256))
                    y := mload(add(p, 160))
                    xx := or(x, shl(64, x))
                    yy := or(y, shl(64, y))
                    mstore(
                        add(p, 224),
                        and(
                            add(
                                add(
                                    xor(xor(shr(1, xx), shr(8, xx)), shr(7, x)),
                                    xor(xor(shr(19, yy), shr(61, yy)), shr(6, y))
                                ),
                                add(mload(sub(p, 288)), mload(p))
                            ),
                            M
                        )
                    )
                }
            }

            // 80 rounds over the schedule at `w` (round constants at w - 2560), added into the state at w + 2560.
            function compress(w) {
                let M := 0xffffffffffffffff
                let st := add(w, 2560)
                let a := mload(st)
                let b := mload(add(st, 32))
                let c := mload(add(st, 64))
                let d := mload(add(st, 96))
                let e := mload(add(st, 128))
                let f := mload(add(st, 160))
                let g := mload(add(st, 192))
                let h := mload(add(st, 224))
                let x
                let t1
                for {
                    let p := w
                } lt(p, st) {
                    p := add(p, 256)
                } {
                    // round t + 0
                    x := or(e, shl(64, e))
                    t1 := add(
                        add(add(h, xor(xor(shr(14, x), shr(18, x)), shr(41, x))), xor(g, and(e, xor(f, g)))),
                        add(mload(p), mload(sub(p, 2560)))
                    )
                    d := and(add(d, t1), M)
                    x := or(a, shl(64, a))
                    h := and(
                        add(
                            add(t1, xor(xor(shr(28, x), shr(34, x)), shr(39, x))),
                            or(and(a, b), and(c, or(a, b)))
                        ),
                        M
                    )
                    // round t + 1
                    x := or(d, shl(64, d))
                    t1 := add(
                        add(add(g, xor(xor(shr(14, x), shr(18, x)), shr(41, x))), xor(f, and(d, xor(e, f)))),
                        add(mload(add(p, 32)), mload(sub(p, 2528)))
                    )
                    c := and(add(c, t1), M)
                    x := or(h, shl(64, h))
                    g := and(
                        add(
                            add(t1, xor(xor(shr(28, x), shr(34, x)), shr(39, x))),
                            or(and(h, a), and(b, or(h, a)))
                        ),
                        M
                    )
                    // round t + 2
                    x := or(c, shl(64, c))
                    t1 := add(
                        add(add(f, xor(xor(shr(14, x), shr(18, x)), shr(41, x))), xor(e, and(c, xor(d, e)))),
                        add(mload(add(p, 64)), mload(sub(p, 2496)))
                    )
                    b := and(add(b, t1), M)
                    x := or(g, shl(64, g))
                    f := and(
                        add(
                            add(t1, xor(xor(shr(28, x), shr(34, x)), shr(39, x))),
                            or(and(g, h), and(a, or(g, h)))
                        ),
                        M
                    )
                    // round t + 3
                    x := or(b, shl(64, b))
                    t1 := add(
                        add(add(e, xor(xor(shr(14, x), shr(18, x)), shr(41, x))), xor(d, and(b, xor(c, d)))),
                        add(mload(add(p, 96)), mload(sub(p, 2464)))
                    )
                    a := and(add(a, t1), M)
                    x := or(f, shl(64, f))
                    e := and(
                        add(
                            add(t1, xor(xor(shr(28, x), shr(34, x)), shr(39, x))),
                            or(and(f, g), and(h, or(f, g)))
                        ),
                        M
                    )
                    // round t + 4
                    x := or(a, shl(64, a))
                    t1 := add(
                        add(add(d, xor(xor(shr(14, x), shr(18, x)), shr(41, x))), xor(c, and(a, xor(b, c)))),
                        add(mload(add(p, 128)), mload(sub(p, 2432)))
                    )
                    h := and(add(h, t1), M)
                    x := or(e, shl(64, e))
                    d := and(
                        add(
                            add(t1, xor(xor(shr(28, x), shr(34, x)), shr(39, x))),
                            or(and(e, f), and(g, or(e, f)))
                        ),
                        M
                    )
                    // round t + 5
                    x := or(h, shl(64, h))
                    t1 := add(
                        add(add(c, xor(xor(shr(14, x), shr(18, x)), shr(41, x))), xor(b, and(h, xor(a, b)))),
                        add(mload(add(p, 160)), mload(sub(p, 2400)))
                    )
                    g := and(add(g, t1), M)
                    x := or(d, shl(64, d))
                    c := and(
                        add(
                            add(t1, xor(xor(shr(28, x), shr(34, x)), shr(39, x))),
                            or(and(d, e), and(f, or(d, e)))
                        ),
                        M
                    )
                    // round t + 6
                    x := or(g, shl(64, g))
                    t1 := add(
                        add(add(b, xor(xor(shr(14, x), shr(18, x)), shr(41, x))), xor(a, and(g, xor(h, a)))),
                        add(mload(add(p, 192)), mload(sub(p, 2368)))
                    )
                    f := and(add(f, t1), M)
                    x := or(c, shl(64, c))
                    b := and(
                        add(
                            add(t1, xor(xor(shr(28, x), shr(34, x)), shr(39, x))),
                            or(and(c, d), and(e, or(c, d)))
                        ),
                        M
                    )
                    // round t + 7
                    x := or(f, shl(64, f))
                    t1 := add(
                        add(add(a, xor(xor(shr(14, x), shr(18, x)), shr(41, x))), xor(h, and(f, xor(g, h)))),
                        add(mload(add(p, 224)), mload(sub(p, 2336)))
                    )
                    e := and(add(e, t1), M)
                    x := or(b, shl(64, b))
                    a := and(
                        add(
                            add(t1, xor(xor(shr(28, x), shr(34, x)), shr(39, x))),
                            or(and(b, c), and(d, or(b, c)))
                        ),
                        M
                    )
                }
                mstore(st, and(add(mload(st), a), M))
                mstore(add(st, 32), and(add(mload(add(st, 32)), b), M))
                mstore(add(st, 64), and(add(mload(add(st, 64)), c), M))
                mstore(add(st, 96), and(add(mload(add(st, 96)), d), M))
                mstore(add(st, 128), and(add(mload(add(st, 128)), e), M))
                mstore(add(st, 160), and(add(mload(add(st, 160)), f), M))
                mstore(add(st, 192), and(add(mload(add(st, 192)), g), M))
                mstore(add(st, 224), and(add(mload(add(st, 224)), h), M))
            }

            // Layout after the free pointer: schedule W (80 words), state (8 words), padding buffer (256 bytes).
            // The round constants must sit right before W: `k` was the last allocation.
            let w := mload(0x40)
            if iszero(eq(w, add(k, 2592))) {
                revert(0, 0)
            }
            let st := add(w, 2560)
            let tail := add(st, 256)
            mstore(0x40, add(tail, 256))

            // SHA-384 initial hash value (FIPS 180-4, 5.3.4)
            mstore(st, 0xcbbb9d5dc1059ed8)
            mstore(add(st, 32), 0x629a292a367cd507)
            mstore(add(st, 64), 0x9159015a3070dd17)
            mstore(add(st, 96), 0x152fecd8f70e5939)
            mstore(add(st, 128), 0x67332667ffc00b31)
            mstore(add(st, 160), 0x8eb44a8768581511)
            mstore(add(st, 192), 0xdb0c2e0d64f98fa7)
            mstore(add(st, 224), 0x47b5481dbefa4fa4)

            let len := mload(data)
            let src := add(data, 32)
            // full blocks, read in place
            for {
                let end := add(src, and(len, not(127)))
            } lt(src, end) {
                src := add(src, 128)
            } {
                expand(src, w)
                compress(w)
            }

            // padding (FIPS 180-4, 5.1.2): the r < 128 remaining bytes, 0x80, zeros, 128-bit length in bits
            let r := and(len, 127)
            mstore(tail, 0)
            mstore(add(tail, 32), 0)
            mstore(add(tail, 64), 0)
            mstore(add(tail, 96), 0)
            mstore(add(tail, 128), 0)
            mstore(add(tail, 160), 0)
            mstore(add(tail, 192), 0)
            mstore(add(tail, 224), 0)
            mcopy(tail, src, r)
            mstore8(add(tail, r), 0x80)
            let tailLen := 128
            if gt(r, 111) {
                tailLen := 256
            }
            // the length's high 64 bits are 0 (len * 8 < 2^64); its low 64 bits end the last block
            let lenPtr := add(tail, sub(tailLen, 32))
            mstore(lenPtr, or(mload(lenPtr), shl(3, len)))
            expand(tail, w)
            compress(w)
            if gt(r, 111) {
                expand(add(tail, 128), w)
                compress(w)
            }

            // digest: the first 6 state words, big-endian
            digest := mload(0x40)
            mstore(0x40, add(digest, 96))
            mstore(digest, 48)
            mstore(
                add(digest, 32),
                or(
                    or(shl(192, mload(st)), shl(128, mload(add(st, 32)))),
                    or(shl(64, mload(add(st, 64))), mload(add(st, 96)))
                )
            )
            mstore(add(digest, 64), or(shl(192, mload(add(st, 128))), shl(128, mload(add(st, 160)))))
        }
    }
}
