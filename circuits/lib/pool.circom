pragma circom 2.1.0;

include "bits.circom";

// Pooling: max and floor-average over sliding windows, and the global average. Values are
// flat arrays in [channel][row][column] order; a window reads only its taps inside the image
// (padding takes no part). src/runtime/fixed.ts (`pool`, `globalavgpool`) computes the same
// integers; src/runtime/shapes.ts (`windowOf`, `windowTaps`) has the same geometry.

// MaxPool(n, b): the largest of n values, by a sequential scan.
//
// Proves:  out = max(in[0], …, in[n−1]), provided every in[i] is a signed b-bit integer:
//          out is one of the inputs and out ≥ every input.
// How:     best_0 = in[0]. For i ≥ 1, gt_i = (in[i] > best_{i-1}) is the top bit of the
//          (b+1)-bit decomposition of d_i = in[i] − best_{i-1} − 1 + 2^b, and
//          best_i = best_{i-1} + gt_i·(in[i] − best_{i-1}). By induction best_{i-1} is one of
//          the inputs, hence a signed b-bit integer, so
//          in[i] − best_{i-1} ∈ [−(2^b − 1), 2^b − 1] and d_i ∈ [0, 2^(b+1) − 2]: the field
//          element is that integer (no wrap-around). Any other bit vector recomposes to
//          another integer below 2^(b+1) < p, hence to another field element, so the bits are
//          pinned and the top bit is set exactly when in[i] − best_{i-1} ≥ 1. gt_i is a bit,
//          so best_i ∈ {best_{i-1}, in[i]} (one of the inputs) and best_i ≥ both.
// Assumes: every in[i] is range-checked to signed b bits BY THE CALLER (in the generated model
//          circuits every layer's output is: a rescale, a range check, a sigmoid or tanh, a
//          pooled value or the range-checked input).
// Cost:    exactly (n − 1)·(b + 2) constraints under --O2: per step the b + 1 booleanity
//          checks of Bits(b + 1) and one multiplication; the recompositions are linear and
//          substituted away. The only hints are the bits inside Bits. n = 1 costs nothing.
//          (A hinted max m pinned by Π(m − in[i]) = 0 and n checks 0 ≤ m − in[i] < 2^b costs
//          n·(b + 1) − 1: more than this scan while n ≤ b, so for every usual window.)
template MaxPool(n, b) {
    assert(n >= 1);
    assert(b >= 1);
    assert(b + 1 <= 252);

    signal input in[n];
    signal output out;

    signal best[n];
    component cmp[n]; // cmp[0] is unused: the scan starts at i = 1

    best[0] <== in[0];
    for (var i = 1; i < n; i++) {
        cmp[i] = Bits(b + 1);
        cmp[i].in <== in[i] - best[i - 1] - 1 + (1 << b);
        // cmp[i].bits[b] is gt_i
        best[i] <== best[i - 1] + cmp[i].bits[b] * (in[i] - best[i - 1]);
    }
    out <== best[n - 1];
}

// FloorDiv(d, b): division by a constant d ≥ 1 rounding towards −∞.
//
// Proves:  in = out·d + rem with 0 ≤ rem < d and −2^(b-1) ≤ out < 2^(b-1), i.e.
//          out = floor(in / d) on the signed interpretation of `in`. The values out·d + rem
//          spans are d·2^b < p consecutive integers, so the pair (out, rem) is unique: without
//          the range check on out, a prover could pick any rem and the field element
//          (in − rem)/d as a huge "quotient" that later comparisons assume in range.
// How:     out is a hint; rem = in − out·d is linear. With r = the bit length of d − 1,
//          Bits(r) gives 0 ≤ rem < 2^r, and when d is not a power of two a second Bits(r) on
//          d − 1 − rem gives rem ≤ d − 1 (d − 1 − rem ∈ [0, 2^r) cannot wrap: rem < 2^r).
//          SignedRange(b) pins out.
// Assumes: nothing about `in`; an `in` whose quotient does not fit in b signed bits has no
//          valid witness. (A sum of at most d signed b-bit values always has one.)
// Cost:    exactly b + r constraints under --O2 when d is a power of two (b when d = 1), and
//          b + 2·r otherwise: the booleanity checks; the recompositions are linear.
template FloorDiv(d, b) {
    assert(d >= 1);
    assert(b >= 1);

    var r = 0;
    while ((1 << r) < d) {
        r++;
    }
    assert(b + r + 1 <= 252);

    signal input in;
    signal output out;

    // Floor division of the signed value. `\` divides field representatives, so a negative
    // `in` (stored as p − |in|) is divided by magnitude and rounded away from 0.
    out <-- in < 0 ? -(((-in) + d - 1) \ d) : in \ d;
    signal rem <== in - out * d;

    // Pins the hint: 0 ≤ rem < d ...
    if (r == 0) {
        rem === 0;
    } else {
        component remBits = Bits(r);
        remBits.in <== rem;
        if ((1 << r) != d) {
            component remBelow = Bits(r);
            remBelow.in <== d - 1 - rem;
        }
    }

    // ... and the quotient is a signed b-bit number.
    component outRange = SignedRange(b);
    outRange.in <== out;
}

// MaxPool2d(C, H, W, KH, KW, S, P, b): max pooling of a [C, H, W] image.
//
// Proves:  out[(c·outH + oy)·outW + ox] = the largest in[(c·H + iy)·W + ix] over the taps
//          iy = oy·S[0] − P[0] + ky, ix = ox·S[1] − P[1] + kx (0 ≤ ky < KH, 0 ≤ kx < KW) that
//          fall inside the image; padding never wins, even over negative values.
//          outH = floor((H + P[0] + P[2] − KH) / S[0]) + 1, and likewise outW.
// Assumes: every in[i] is range-checked to signed b bits by the caller (MaxPool). Each pad is
//          smaller than the kernel, so every window has at least one tap (asserted).
// Cost:    exactly Σ over outputs of (taps − 1)·(b + 2) constraints: a 2×2 window inside the
//          image costs 3·(b + 2).
template MaxPool2d(C, H, W, KH, KW, S, P, b) {
    assert(C >= 1 && H >= 1 && W >= 1 && KH >= 1 && KW >= 1 && S[0] >= 1 && S[1] >= 1);
    assert(P[0] >= 0 && P[1] >= 0 && P[2] >= 0 && P[3] >= 0);
    assert(H + P[0] + P[2] >= KH && W + P[1] + P[3] >= KW);

    var outH = (H + P[0] + P[2] - KH) \ S[0] + 1;
    var outW = (W + P[1] + P[3] - KW) \ S[1] + 1;

    signal input in[C * H * W];
    signal output out[C * outH * outW];

    component pool[C * outH * outW];
    for (var c = 0; c < C; c++) {
        for (var oy = 0; oy < outH; oy++) {
            for (var ox = 0; ox < outW; ox++) {
                var o = (c * outH + oy) * outW + ox;
                var taps = 0;
                for (var ky = 0; ky < KH; ky++) {
                    for (var kx = 0; kx < KW; kx++) {
                        var iy = oy * S[0] - P[0] + ky;
                        var ix = ox * S[1] - P[1] + kx;
                        if (iy >= 0 && iy < H && ix >= 0 && ix < W) taps++;
                    }
                }
                assert(taps >= 1);
                pool[o] = MaxPool(taps, b);
                var t = 0;
                for (var ky = 0; ky < KH; ky++) {
                    for (var kx = 0; kx < KW; kx++) {
                        var iy = oy * S[0] - P[0] + ky;
                        var ix = ox * S[1] - P[1] + kx;
                        if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
                            pool[o].in[t] <== in[(c * H + iy) * W + ix];
                            t++;
                        }
                    }
                }
                out[o] <== pool[o].out;
            }
        }
    }
}

// AvgPool2d(C, H, W, KH, KW, S, P, includePad, b): average pooling of a [C, H, W] image.
//
// Proves:  out[(c·outH + oy)·outW + ox] = floor(Σ taps / count) over the in-image taps of the
//          window (as in MaxPool2d), with count = the number of those taps, or KH·KW when
//          includePad = 1 (ONNX count_include_pad: padding counts as zeros); every output is a
//          signed b-bit integer.
// Assumes: every in[i] is range-checked to signed b bits by the caller, so |Σ taps| ≤
//          count·2^(b-1) and the quotient always fits (FloorDiv itself assumes nothing), and
//          a one-tap window (count 1) can pass its tap through unchecked.
// Cost:    exactly one FloorDiv(count, b) per output whose count exceeds 1: b + 2 for a 2×2
//          window inside the image (count 4), b + 2·r for a count that is not a power of two
//          (r = bit length of count − 1); nothing for count 1. The sums are linear.
template AvgPool2d(C, H, W, KH, KW, S, P, includePad, b) {
    assert(C >= 1 && H >= 1 && W >= 1 && KH >= 1 && KW >= 1 && S[0] >= 1 && S[1] >= 1);
    assert(P[0] >= 0 && P[1] >= 0 && P[2] >= 0 && P[3] >= 0);
    assert(H + P[0] + P[2] >= KH && W + P[1] + P[3] >= KW);
    assert(includePad == 0 || includePad == 1);

    var outH = (H + P[0] + P[2] - KH) \ S[0] + 1;
    var outW = (W + P[1] + P[3] - KW) \ S[1] + 1;

    signal input in[C * H * W];
    signal output out[C * outH * outW];

    component div[C * outH * outW];
    for (var c = 0; c < C; c++) {
        for (var oy = 0; oy < outH; oy++) {
            for (var ox = 0; ox < outW; ox++) {
                var o = (c * outH + oy) * outW + ox;
                var taps = 0;
                var sum = 0;
                for (var ky = 0; ky < KH; ky++) {
                    for (var kx = 0; kx < KW; kx++) {
                        var iy = oy * S[0] - P[0] + ky;
                        var ix = ox * S[1] - P[1] + kx;
                        if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
                            taps++;
                            sum += in[(c * H + iy) * W + ix];
                        }
                    }
                }
                assert(taps >= 1);
                var count = includePad == 1 ? KH * KW : taps;
                if (count == 1) {
                    // a one-tap window: its tap, already a signed b-bit value
                    out[o] <== sum;
                } else {
                    div[o] = FloorDiv(count, b);
                    div[o].in <== sum;
                    out[o] <== div[o].out;
                }
            }
        }
    }
}

// GlobalAvgPool(C, N, b): the mean of each channel of a [C, H, W] image with N = H·W values
// per channel, [C, H, W] → [C, 1, 1].
//
// Proves:  out[c] = floor(Σ_{i < N} in[c·N + i] / N), a signed b-bit integer.
// Assumes: every in[i] is range-checked to signed b bits by the caller (as for AvgPool2d).
// Cost:    exactly C·FloorDiv(N, b): C·(b + 2·r) with r the bit length of N − 1 (C·(b + r)
//          when N is a power of two, 0 when N = 1); the sums are linear.
template GlobalAvgPool(C, N, b) {
    assert(C >= 1);
    assert(N >= 1);

    signal input in[C * N];
    signal output out[C];

    component div[C];
    for (var c = 0; c < C; c++) {
        var sum = 0;
        for (var i = 0; i < N; i++) {
            sum += in[c * N + i];
        }
        if (N == 1) {
            out[c] <== sum;
        } else {
            div[c] = FloorDiv(N, b);
            div[c].in <== sum;
            out[c] <== div[c].out;
        }
    }
}
