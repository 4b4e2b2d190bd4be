pragma circom 2.1.0;

include "bits.circom";

// SigmoidPWL(f, b): the fixed-point logistic function of the `sigmoid` layer, a
// piecewise-linear approximation with power-of-two slopes. See docs/protocol.md, "Layers
// and their exact integer semantics"; src/runtime/sigmoid.ts computes the same integers.
//
// Proves:  -2^(b-1) ≤ in < 2^(b-1) and, with one = 2^f and a = |in|,
//            pos = one                           if a ≥ 5·one
//            pos = floor((a + 27·one) / 32)      if 19·one ≤ 8·a (a ≥ 2.375), a < 5·one
//            pos = floor((4·a + 20·one) / 32)    if one ≤ a, 8·a < 19·one
//            pos = floor((8·a + 16·one) / 32)    if a < one
//            out = pos if in ≥ 0, else one − pos            (so 0 ≤ out ≤ one)
// How:     1. sign: SignedRange(b) gives s = (in ≥ 0), and a = in·(2s − 1) ∈ [0, 2^(b-1)].
//          2. saturation: sat = (a ≥ 5·one) is bit b−1 of a − 5·one + 2^(b-1), which lies
//             in [0, 2^b) because 5·one ≤ 2^(b-1).
//          3. clamp: c = a·(1 − sat), so c < 5·one < 2^(f+3) (and c = 0 when saturated).
//          4. segments: t1 = (c ≥ one) and t2 = (c ≥ T2), T2 = ceil(19·one / 8) (that is,
//             8·c ≥ 19·one), each bit f+3 of c − T + 2^(f+3) ∈ [0, 2^(f+4)). T2 > one,
//             so t2 implies t1; sat forces c = 0, hence t1 = t2 = 0. Exactly one segment
//             is selected: (k, m) = (8 − 4·t1 − 3·t2, 16 + 4·t1 + 7·t2 + 16·sat).
//          5. N = k·c + m·one ∈ [0, 32·one] is decomposed into f + 6 bits; pos is the
//             bits above the fifth, i.e. floor(N / 32). N < 2^(f+6) < p, so the
//             decomposition, and with it pos, is unique.
//          6. out = one − pos + s·(2·pos − one).
// Assumes: b ≥ f + 4 (a compile-time assert: 5·one must be a signed b-bit value). Nothing
//          about `in`: step 1 range-checks it. (The generated model circuits feed it
//          rescale outputs, which are range-checked already; the check here is what makes
//          the template safe on its own.)
// Cost:    2b + 3f + 24 constraints: SignedRange(b) and Bits(b) (b + 1 each), two
//          Bits(f + 4) (f + 5 each), Bits(f + 6) (f + 7), five multiplications. The only
//          hints are the bits inside Bits, each pinned there.
template SigmoidPWL(f, b) {
    assert(f >= 1);
    assert(b >= f + 4);
    assert(b <= 252);

    signal input in;
    signal output out;

    var one = 1 << f;

    // 1. sign and magnitude
    component sign = SignedRange(b);
    sign.in <== in;
    signal a <== in * (2 * sign.nonNeg - 1);

    // 2. saturation: a ≥ 5·one
    component satCmp = Bits(b);
    satCmp.in <== a - 5 * one + (1 << (b - 1));
    signal sat <== satCmp.bits[b - 1];

    // 3. clamp below the saturation point
    signal c <== a * (1 - sat);

    // 4. segment breakpoints: c ≥ one and 8·c ≥ 19·one
    var t2Threshold = (19 * one + 7) \ 8;
    component t1Cmp = Bits(f + 4);
    t1Cmp.in <== c - one + (1 << (f + 3));
    signal t1 <== t1Cmp.bits[f + 3];
    component t2Cmp = Bits(f + 4);
    t2Cmp.in <== c - t2Threshold + (1 << (f + 3));
    signal t2 <== t2Cmp.bits[f + 3];

    // 5. pos = floor(N / 32) with N = k·c + m·one
    signal t1c <== t1 * c;
    signal t2c <== t2 * c;
    component numerator = Bits(f + 6);
    numerator.in <== 8 * c - 4 * t1c - 3 * t2c + (16 + 4 * t1 + 7 * t2 + 16 * sat) * one;
    var pos = 0;
    for (var i = 5; i < f + 6; i++) {
        pos += numerator.bits[i] * (1 << (i - 5));
    }

    // 6. reflect for negative inputs: sigmoid(−x) = one − sigmoid(x)
    out <== one - pos + sign.nonNeg * (2 * pos - one);
}
