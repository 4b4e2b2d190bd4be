// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title P384
/// @notice ECDSA verification on NIST P-384 (secp384r1; SEC 1 v2 §4.1.4, FIPS 186-5). The digest
/// is computed by the caller (`Sha384.hash` for ES384 and ecdsa-with-SHA384).
/// @dev Written for the EVM as priced since Osaka. The field arithmetic is done with plain opcodes
/// and the points are kept in Jacobian coordinates, so the MODEXP precompile (repriced by EIP-7883)
/// is called four times only: two inversions (s mod n, and the batch of table points' Z mod p)
/// and two reductions mod n. A verification costs about 6M gas on Osaka. A MODEXP-based library
/// with affine points (solidity-lib's ECDSA384) costs about 9M gas on Prague but 51M on Osaka,
/// over the 2^24 gas a transaction may use there (EIP-7825).
///
/// Both s and n - s are accepted, as ECDSA verification does (they are the two signatures of one
/// message with one r): a caller must never use signature bytes as an identifier.
///
/// A field element is two memory words: `hi` (the top 128 bits) then `lo` (the low 256 bits). Every
/// element written is below 2^384 but not always below p (reduction is lazy: p is subtracted when a
/// value reaches 2^384), so elements are compared mod p (`fzero`, `fsame`: 0 is 0 or p).
/// p = 2^384 - DELTA with DELTA = 2^128 + C, C = 2^96 - 2^32 + 1: `fmul` folds a product twice
/// with 2^384 ≡ 2^128 + C (mod p).
/// u1 G + u2 Q is computed with Shamir's trick over 2-bit windows of both scalars at once, from a
/// table of the 15 points i G + j Q (i, j < 4), made affine with one inversion.
library P384 {
    uint256 private constant DIGEST_LENGTH = 48;
    uint256 private constant SIGNATURE_LENGTH = 96;
    uint256 private constant KEY_LENGTH = 96;

    /// @notice Whether `signature` (r ‖ s, 48 bytes each, big-endian) over the 48-byte `digest`
    /// verifies with `publicKey` (the affine point x ‖ y, 48 bytes each). False for wrong
    /// lengths, r or s outside [1, n - 1], a key that is not a point of the curve, or a signature
    /// that does not verify.
    // solhint-disable-next-line function-max-lines
    function verify(
        bytes memory digest,
        bytes memory signature,
        bytes memory publicKey
    ) internal view returns (bool ok) {
        if (
            digest.length != DIGEST_LENGTH ||
            signature.length != SIGNATURE_LENGTH ||
            publicKey.length != KEY_LENGTH
        ) return false;
        // Scratch memory past the free memory pointer, left unallocated: nothing is allocated
        // while this block runs. Offsets from m (elements are 64 bytes, points 128 (affine) or
        // 192 (Jacobian: X, Y, Z)):
        //   0 the accumulator point        192 six temporaries
        //   576 the affine table, entry k = i + 4j at 576 + 128k (i G + j Q)
        //   2624 bit k set: entry k is the point at infinity
        //   2656 the Jacobian entries 5..15, 192 bytes each    4768 their prefix products
        //   5472 MODEXP input   5760 MODEXP output   5824 u1, u2   5952 r   6016 a constant
        assembly ("memory-safe") {
            // ---------------------------------------------------------------- the field (mod p)

            // r ≡ a + b (mod p), r < 2^384
            function fadd(r, a, b) {
                let lo := mload(add(a, 32))
                let hi := add(mload(a), mload(b))
                {
                    let bl := mload(add(b, 32))
                    lo := add(lo, bl)
                    hi := add(hi, lt(lo, bl))
                }
                // a + b < 2^385: while >= 2^384, subtract p = drop 2^384 and add DELTA (twice at most)
                for {} shr(128, hi) {} {
                    hi := and(hi, 0xffffffffffffffffffffffffffffffff)
                    lo := add(lo, 0x100000000ffffffffffffffff00000001)
                    hi := add(hi, lt(lo, 0x100000000ffffffffffffffff00000001))
                }
                mstore(r, hi)
                mstore(add(r, 32), lo)
            }

            // r ≡ a - b (mod p), r < 2^384
            function fsub(r, a, b) {
                let al := mload(add(a, 32))
                let bl := mload(add(b, 32))
                let lo := sub(al, bl)
                let hi := sub(sub(mload(a), mload(b)), lt(al, bl))
                // a - b > -2^384: while below zero (the top word's sign bit), add p = add 2^384 and
                // subtract DELTA (twice at most)
                for {} shr(255, hi) {} {
                    hi := sub(
                        add(hi, 0x100000000000000000000000000000000),
                        lt(lo, 0x100000000ffffffffffffffff00000001)
                    )
                    lo := sub(lo, 0x100000000ffffffffffffffff00000001)
                }
                mstore(r, hi)
                mstore(add(r, 32), lo)
            }

            // The product a b < 2^768 as words (w2, w1, w0): ah bh 2^512 + (ah bl + al bh) 2^256 + al bl,
            // each 512-bit word product as mul (low word) and mulmod(·, ·, 2^256 - 1) (from which
            // the high word follows).
            function prod(a, b) -> w0, w1, w2 {
                let al := mload(add(a, 32))
                let bl := mload(add(b, 32))
                let ah := mload(a)
                let bh := mload(b)
                w0 := mul(al, bl)
                let mm := mulmod(al, bl, not(0))
                w1 := sub(sub(mm, w0), lt(mm, w0))
                let x := mul(ah, bl)
                mm := mulmod(ah, bl, not(0))
                w2 := sub(sub(mm, x), lt(mm, x))
                w1 := add(w1, x)
                w2 := add(w2, lt(w1, x))
                x := mul(al, bh)
                mm := mulmod(al, bh, not(0))
                w2 := add(w2, sub(sub(mm, x), lt(mm, x)))
                w1 := add(w1, x)
                w2 := add(add(w2, lt(w1, x)), mul(ah, bh))
            }

            // r ≡ a b (mod p), r < 2^384 (r may be a or b): the product T = (w2, w1, w0) as `prod`, then
            // its reduction. With X = T >> 384 and Y = T mod 2^384 (T < 2^768):
            // fold 1: T ≡ S = Y + X 2^128 + X C, where X 2^128 = (w2, w1 & ~M), S < 2^513;
            // fold 2: the same on S, V < 2^384 + 2^258; then V - p when V >= 2^384.
            function fmul(r, a, b) {
                let w0
                let w1
                let w2
                {
                    let al := mload(add(a, 32))
                    let bl := mload(add(b, 32))
                    w0 := mul(al, bl)
                    let mm := mulmod(al, bl, not(0))
                    w1 := sub(sub(mm, w0), lt(mm, w0))
                    let ah := mload(a)
                    let x := mul(ah, bl)
                    mm := mulmod(ah, bl, not(0))
                    w2 := sub(sub(mm, x), lt(mm, x))
                    w1 := add(w1, x)
                    w2 := add(w2, lt(w1, x))
                    bl := mload(b) // bh
                    x := mul(al, bl)
                    mm := mulmod(al, bl, not(0))
                    w2 := add(add(w2, sub(sub(mm, x), lt(mm, x))), mul(ah, bl))
                    w1 := add(w1, x)
                    w2 := add(w2, lt(w1, x))
                }
                let z0
                let z1
                {
                    let xl := or(shl(128, w2), shr(128, w1)) // X's low word; X's high word is w2 >> 128
                    z0 := mul(xl, 0xffffffffffffffff00000001)
                    let mm := mulmod(xl, 0xffffffffffffffff00000001, not(0))
                    // (X C)'s high word: that of xl C, plus (w2 >> 128) C (< 2^224)
                    z1 := add(sub(sub(mm, z0), lt(mm, z0)), mul(shr(128, w2), 0xffffffffffffffff00000001))
                }
                // S's low word: w0 + (w1 & ~M) + z0, carry c
                let s0 := add(w0, and(w1, 0xffffffffffffffffffffffffffffffff00000000000000000000000000000000))
                let c := lt(s0, w0)
                s0 := add(s0, z0)
                c := add(c, lt(s0, z0))
                // S's middle word: (w1 & M) + w2 + z1 + c; its carry (S's top word, 0 or 1) in z0
                let s1 := add(w2, and(w1, 0xffffffffffffffffffffffffffffffff))
                z0 := lt(s1, w2)
                s1 := add(s1, z1)
                z0 := add(z0, lt(s1, z1))
                s1 := add(s1, c)
                z0 := add(z0, lt(s1, c))
                // fold 2: X' = S >> 384 = (z0 << 128) | (s1 >> 128) < 2^129; X' 2^128 = (z0, s1 & ~M)
                z1 := mul(or(shl(128, z0), shr(128, s1)), 0xffffffffffffffff00000001) // X' C < 2^225
                w0 := add(s0, and(s1, 0xffffffffffffffffffffffffffffffff00000000000000000000000000000000))
                c := lt(w0, s0)
                w0 := add(w0, z1)
                c := add(c, lt(w0, z1))
                w1 := add(add(and(s1, 0xffffffffffffffffffffffffffffffff), z0), c) // < 2^128 + 3
                // V < 2^384 + 2^258: when V >= 2^384, V - p = V - 2^384 + DELTA < 2^259
                if shr(128, w1) {
                    w1 := and(w1, 0xffffffffffffffffffffffffffffffff)
                    w0 := add(w0, 0x100000000ffffffffffffffff00000001)
                    w1 := add(w1, lt(w0, 0x100000000ffffffffffffffff00000001))
                }
                mstore(r, w1)
                mstore(add(r, 32), w0)
            }

            // r ≡ k a (mod p), r < 2^384, for a small k (3, 4, 8)
            function fsmall(r, a, k) {
                let al := mload(add(a, 32))
                let lo := mul(al, k)
                let hi := mulmod(al, k, not(0))
                hi := add(mul(mload(a), k), sub(sub(hi, lo), lt(hi, lo))) // k a < 2^387
                // fold what is above 2^384 with 2^384 ≡ DELTA, until below 2^384 (twice at most)
                for {} shr(128, hi) {} {
                    let x := mul(shr(128, hi), 0x100000000ffffffffffffffff00000001)
                    hi := and(hi, 0xffffffffffffffffffffffffffffffff)
                    lo := add(lo, x)
                    hi := add(hi, lt(lo, x))
                }
                mstore(r, hi)
                mstore(add(r, 32), lo)
            }

            // a ≡ 0 (mod p): a is 0 or p
            function fzero(a) -> z {
                let hi := mload(a)
                let lo := mload(add(a, 32))
                z := or(
                    iszero(or(hi, lo)),
                    and(
                        eq(hi, 0xffffffffffffffffffffffffffffffff),
                        eq(lo, 0xfffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff)
                    )
                )
            }

            // a ≡ b (mod p), with t as scratch
            function fsame(a, b, t) -> e {
                fsub(t, a, b)
                e := fzero(t)
            }

            // the element at dst = the 48-byte big-endian number at src (reads 64 bytes)
            function fromBytes(dst, src) {
                let w := mload(src)
                mstore(dst, shr(128, w))
                mstore(add(dst, 32), or(shl(128, w), shr(128, mload(add(src, 32)))))
            }

            // the 48-byte big-endian number at dst = the element at src (writes 64 bytes)
            function toBytes(dst, src) {
                let lo := mload(add(src, 32))
                mstore(dst, or(shl(128, mload(src)), shr(128, lo)))
                mstore(add(dst, 32), shl(128, lo))
            }

            function setOne(a) {
                mstore(a, 0)
                mstore(add(a, 32), 1)
            }

            // ---------------------------------------------------------------- points

            // P = 2P, P Jacobian at X (X, Y, Z), for a = -3 (EFD dbl-2001-b, with Z' = 2 Y Z):
            // delta = Z², gamma = Y², beta = X gamma, alpha = 3 (X - delta)(X + delta),
            // X' = alpha² - 8 beta, Y' = alpha (4 beta - X') - 8 gamma², Z' = 2 Y Z.
            // The point at infinity (Z = 0) stays there; P-384 has no point of order 2.
            function dbl(X, t) {
                let Y := add(X, 64)
                let Z := add(X, 128)
                let gamma := add(t, 64)
                let beta := add(t, 128)
                let alpha := add(t, 192)
                let u := add(t, 256)
                fmul(t, Z, Z) // delta
                fmul(gamma, Y, Y)
                fmul(beta, X, gamma)
                fsub(u, X, t)
                fadd(alpha, X, t)
                fmul(alpha, u, alpha)
                fsmall(alpha, alpha, 3)
                fmul(Z, Y, Z)
                fadd(Z, Z, Z)
                fsmall(beta, beta, 4)
                fmul(X, alpha, alpha)
                fsub(X, X, beta)
                fsub(X, X, beta)
                fsub(beta, beta, X)
                fmul(Y, alpha, beta)
                fmul(gamma, gamma, gamma)
                fsmall(gamma, gamma, 8)
                fsub(Y, Y, gamma)
            }

            // P = P + A, P Jacobian at X, A affine at A (x, y), not the point at infinity
            // (EFD madd-2007-bl): Z1Z1 = Z², H = x Z1Z1 - X, R = 2 (y Z Z1Z1 - Y), I = 4 H²,
            // J = H I, V = X I, X' = R² - J - 2V, Y' = R (V - X') - 2 Y J, Z' = (Z + H)² - Z1Z1 - H².
            // The exceptions: P at infinity (the sum is A), P = A (H = R = 0: a doubling),
            // P = -A (H = 0, R != 0: the sum is at infinity, and Z' = 0 as computed).
            function madd(X, A, t) {
                let Y := add(X, 64)
                let Z := add(X, 128)
                if fzero(Z) {
                    mcopy(X, A, 128)
                    setOne(Z)
                    leave
                }
                let h := add(t, 64)
                let rr := add(t, 128)
                let i := add(t, 192)
                let j := add(t, 256)
                let v := add(t, 320)
                fmul(t, Z, Z) // Z1Z1
                fmul(h, A, t)
                fsub(h, h, X)
                fmul(rr, Z, t)
                fmul(rr, add(A, 64), rr)
                fsub(rr, rr, Y)
                fadd(rr, rr, rr)
                if fzero(h) {
                    if fzero(rr) {
                        dbl(X, t)
                        leave
                    }
                }
                fmul(i, h, h) // H²
                fadd(Z, Z, h)
                fmul(Z, Z, Z)
                fsub(Z, Z, t)
                fsub(Z, Z, i)
                fsmall(i, i, 4) // I
                fmul(j, h, i)
                fmul(v, X, i)
                fmul(X, rr, rr)
                fsub(X, X, j)
                fsub(X, X, v)
                fsub(X, X, v)
                fsub(v, v, X)
                fmul(v, rr, v)
                fmul(j, Y, j)
                fadd(j, j, j)
                fsub(Y, v, j)
            }

            // One window: P = 4P, then P = P + (i G + j Q) for the window's digits k = i + 4j.
            function step(m, k) {
                if iszero(fzero(add(m, 128))) {
                    dbl(m, add(m, 192))
                    dbl(m, add(m, 192))
                }
                if k {
                    if iszero(and(shr(k, mload(add(m, 2624))), 1)) {
                        madd(m, add(add(m, 576), shl(7, k)), add(m, 192))
                    }
                }
            }

            // ---------------------------------------------------------------- MODEXP (0x05)

            // out = base^e mod mod, 48-byte big-endian numbers (base at `base`; e and mod given as
            // their first 32 bytes and their last 16 bytes)
            function powmod(buf, base, eHi, eLo, modHi, modLo, out) -> success {
                mstore(buf, 48)
                mstore(add(buf, 32), 48)
                mstore(add(buf, 64), 48)
                mcopy(add(buf, 96), base, 48)
                mstore(add(buf, 144), eHi)
                mstore(add(buf, 176), shl(128, eLo))
                mstore(add(buf, 192), modHi)
                mstore(add(buf, 224), shl(128, modLo))
                success := staticcall(gas(), 0x05, buf, 240, out, 48)
            }

            // out = a b mod n (48 bytes big-endian), for elements a and b (< 2^384)
            function mulModN(buf, a, b, out) -> success {
                let w0, w1, w2 := prod(a, b)
                mstore(buf, 96)
                mstore(add(buf, 32), 1)
                mstore(add(buf, 64), 48)
                mstore(add(buf, 96), w2)
                mstore(add(buf, 128), w1)
                mstore(add(buf, 160), w0)
                mstore8(add(buf, 192), 1)
                mstore(add(buf, 193), 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf)
                mstore(add(buf, 225), shl(128, 0x581a0db248b0a77aecec196accc52973))
                success := staticcall(gas(), 0x05, buf, 241, out, 48)
            }

            // 0 < the 48-byte big-endian number at src < n
            function inScalarRange(src) -> yes {
                let hi := mload(src)
                let lo := shr(128, mload(add(src, 32)))
                yes := and(
                    iszero(iszero(or(hi, lo))),
                    or(
                        lt(hi, 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf),
                        and(
                            eq(hi, 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf),
                            lt(lo, 0x581a0db248b0a77aecec196accc52973)
                        )
                    )
                )
            }

            // the 48-byte big-endian number at src < p
            function inField(src) -> yes {
                let hi := mload(src)
                yes := or(
                    lt(hi, 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe),
                    and(
                        eq(hi, 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe),
                        lt(shr(128, mload(add(src, 32))), 0xffffffff0000000000000000ffffffff)
                    )
                )
            }

            // ---------------------------------------------------------------- the table

            // entries 1..3: G, 2G, 3G (constants); entry 4: Q (already loaded)
            function tableG(g) {
                mstore(add(g, 128), 0xaa87ca22be8b05378eb1c71ef320ad74)
                mstore(add(g, 160), 0x6e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7)
                mstore(add(g, 192), 0x3617de4a96262c6f5d9e98bf9292dc29)
                mstore(add(g, 224), 0xf8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f)
                mstore(add(g, 256), 0x08d999057ba3d2d969260045c55b97f0)
                mstore(add(g, 288), 0x89025959a6f434d651d207d19fb96e9e4fe0e86ebe0e64f85b96a9c75295df61)
                mstore(add(g, 320), 0x8e80f1fa5b1b3cedb7bfe8dffd6dba74)
                mstore(add(g, 352), 0xb275d875bc6cc43e904e505f256ab4255ffd43e94d39e22d61501e700a940e80)
                mstore(add(g, 384), 0x077a41d4606ffa1464793c7e5fdc7d98)
                mstore(add(g, 416), 0xcb9d3910202dcd06bea4f240d3566da6b408bbae5026580d02d7e5c70500c831)
                mstore(add(g, 448), 0xc995f7ca0b0c42837d0bbe9602a9fc99)
                mstore(add(g, 480), 0x8520b41c85115aa5f7684c0edc111eacc24abd6be4b5d298b65f28600a2f1df1)
            }

            // Jacobian entries k = 5..15 at jac + 192 (k - 5): jQ (j = 2, 3) and jQ + iG.
            function tableJacobian(m) {
                let g := add(m, 576)
                let q := add(g, 512)
                let jac := add(m, 2656)
                let t := add(m, 192)
                // 2Q (k = 8) and 3Q (k = 12)
                let q2 := add(jac, 576)
                let q3 := add(jac, 1344)
                mcopy(q2, q, 128)
                setOne(add(q2, 128))
                dbl(q2, t)
                mcopy(q3, q2, 192)
                madd(q3, q, t)
                for {
                    let i := 1
                } lt(i, 4) {
                    i := add(i, 1)
                } {
                    let gi := add(g, shl(7, i))
                    let e := add(jac, mul(192, sub(i, 1))) // Q + iG (k = 4 + i)
                    mcopy(e, q, 128)
                    setOne(add(e, 128))
                    madd(e, gi, t)
                    e := add(jac, mul(192, add(i, 3))) // 2Q + iG (k = 8 + i)
                    mcopy(e, q2, 192)
                    madd(e, gi, t)
                    e := add(jac, mul(192, add(i, 7))) // 3Q + iG (k = 12 + i)
                    mcopy(e, q3, 192)
                    madd(e, gi, t)
                }
            }

            // Entries 5..15 made affine with one inversion (Montgomery's trick); an entry at
            // infinity (Z = 0) is flagged and left out.
            function tableAffine(m) -> success {
                let jac := add(m, 2656)
                let pre := add(m, 4768)
                let flags := 0
                // pre_k = product of the non-zero Z of entries 5..k
                let prev := add(m, 6016)
                setOne(prev)
                for {
                    let k := 5
                } lt(k, 16) {
                    k := add(k, 1)
                } {
                    let z := add(add(jac, mul(192, sub(k, 5))), 128)
                    let pk := add(pre, shl(6, sub(k, 5)))
                    switch fzero(z)
                    case 0 {
                        fmul(pk, prev, z)
                    }
                    default {
                        flags := or(flags, shl(k, 1))
                        mcopy(pk, prev, 64)
                    }
                    prev := pk
                }
                mstore(add(m, 2624), flags)
                let inv := add(m, 192) // 1 / pre_15
                let out := add(m, 5760)
                toBytes(out, prev)
                success := powmod(
                    add(m, 5472),
                    out,
                    0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe,
                    0xffffffff0000000000000000fffffffd,
                    0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe,
                    0xffffffff0000000000000000ffffffff,
                    out
                )
                fromBytes(inv, out)
                setOne(add(m, 6016)) // pre_4 = 1
                let zi := add(m, 256)
                let z2 := add(m, 320)
                for {
                    let k := 15
                } gt(k, 4) {
                    k := sub(k, 1)
                } {
                    if iszero(and(shr(k, flags), 1)) {
                        let e := add(jac, mul(192, sub(k, 5)))
                        // 1/Z_k = inv pre_{k-1}; then inv = 1 / pre_{k-1}
                        let before := add(m, 6016)
                        if gt(k, 5) {
                            before := add(pre, shl(6, sub(k, 6)))
                        }
                        fmul(zi, inv, before)
                        fmul(inv, inv, add(e, 128))
                        fmul(z2, zi, zi)
                        let a := add(add(m, 576), shl(7, k))
                        fmul(a, e, z2)
                        fmul(z2, z2, zi)
                        fmul(add(a, 64), add(e, 64), z2)
                    }
                }
            }

            // ---------------------------------------------------------------- verification

            function run(m, hash, sig, key) -> valid {
                if iszero(and(inScalarRange(sig), inScalarRange(add(sig, 48)))) {
                    leave
                }
                if iszero(and(inField(key), inField(add(key, 48)))) {
                    leave
                }
                let t := add(m, 192)
                let q := add(m, 1088) // table entry 4
                fromBytes(q, key)
                fromBytes(add(q, 64), add(key, 48))
                // Q on the curve: y² = x³ - 3x + b
                let c := add(m, 6016)
                mstore(c, 0xb3312fa7e23ee7e4988e056be3f82d19)
                mstore(add(c, 32), 0x181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef)
                fmul(t, q, q)
                fmul(t, t, q)
                fsub(t, t, q)
                fsub(t, t, q)
                fsub(t, t, q)
                fadd(t, t, c)
                fmul(add(t, 64), add(q, 64), add(q, 64))
                if iszero(fsame(t, add(t, 64), add(t, 128))) {
                    leave
                }

                // w = 1/s mod n; u1 = e w mod n, u2 = r w mod n
                let buf := add(m, 5472)
                let out := add(m, 5760)
                if iszero(
                    powmod(
                        buf,
                        add(sig, 48),
                        0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf,
                        0x581a0db248b0a77aecec196accc52971,
                        0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf,
                        0x581a0db248b0a77aecec196accc52973,
                        out
                    )
                ) {
                    leave
                }
                let w := add(t, 64)
                fromBytes(w, out)
                let u := add(m, 5824)
                fromBytes(t, hash)
                if iszero(mulModN(buf, t, w, out)) {
                    leave
                }
                fromBytes(u, out)
                fromBytes(t, sig)
                if iszero(mulModN(buf, t, w, out)) {
                    leave
                }
                fromBytes(add(u, 64), out)

                // the table of i G + j Q
                tableG(add(m, 576))
                tableJacobian(m)
                if iszero(tableAffine(m)) {
                    leave
                }

                // R = u1 G + u2 Q, two bits of each at a time from the top; the accumulator starts
                // at infinity (Z = 0)
                mstore(add(m, 128), 0)
                mstore(add(m, 160), 0)
                let u1 := mload(u) // bits 383..256
                let u2 := mload(add(u, 64))
                for {
                    let i := 128
                } i {} {
                    i := sub(i, 2)
                    step(m, or(and(shr(i, u1), 3), shl(2, and(shr(i, u2), 3))))
                }
                u1 := mload(add(u, 32)) // bits 255..0
                u2 := mload(add(u, 96))
                for {
                    let i := 256
                } i {} {
                    i := sub(i, 2)
                    step(m, or(and(shr(i, u1), 3), shl(2, and(shr(i, u2), 3))))
                }
                if fzero(add(m, 128)) {
                    leave
                }

                // x(R) mod n = r, with x(R) = X / Z² in [0, p) and p < 2n: X = r Z², or X = (r + n) Z²
                // when r + n < p
                let zz := add(t, 64)
                fmul(zz, add(m, 128), add(m, 128))
                let rl := add(m, 5952)
                fromBytes(rl, sig)
                fmul(t, rl, zz)
                if fsame(t, m, add(t, 128)) {
                    valid := 1
                    leave
                }
                // r < p - n = 0x389cb27e0bc8d21f a7e5f24cb74f58851313e696333ad68c (190 bits)
                let rHi := mload(sig)
                if iszero(
                    or(
                        lt(rHi, 0x389cb27e0bc8d21f),
                        and(
                            eq(rHi, 0x389cb27e0bc8d21f),
                            lt(shr(128, mload(add(sig, 32))), 0xa7e5f24cb74f58851313e696333ad68c)
                        )
                    )
                ) {
                    leave
                }
                mstore(c, 0xffffffffffffffffffffffffffffffff)
                mstore(add(c, 32), 0xffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973)
                fadd(rl, rl, c)
                fmul(t, rl, zz)
                valid := fsame(t, m, add(t, 128))
            }

            ok := run(mload(0x40), add(digest, 32), add(signature, 32), add(publicKey, 32))
        }
    }
}
