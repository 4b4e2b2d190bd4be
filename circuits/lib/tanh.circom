pragma circom 2.1.0;

include "bits.circom";

// TanhPWL(f, b): the fixed-point tanh of the `tanh` layer, tanh(x) = 2·σ(2x) − 1 with the
// piecewise-linear sigmoid of SigmoidPWL (sigmoid.circom). src/runtime/sigmoid.ts
// (`tanhFixed` = 2·sigmoidFixed(2x) − 2^f) computes the same integers.
//
// Proves:  -2^(b-1) ≤ in < 2^(b-1) and, with one = 2^f, a = |in| and pos = sigmoid's
//          positive branch at |2·in| = 2a:
//            pos = one                           if 2a ≥ 5·one
//            pos = floor((2a + 27·one) / 32)     if 19·one ≤ 16·a, 2a < 5·one
//            pos = floor((8a + 20·one) / 32)     if one ≤ 2a, 16·a < 19·one
//            pos = floor((16a + 16·one) / 32)    if 2a < one
//            out = 2·pos − one if in ≥ 0, else one − 2·pos      (so −one ≤ out ≤ one)
//          which is 2·σ(2·in) − one for either sign (σ(−X) = one − σ(X)).
// How:     SigmoidPWL's construction with the breakpoints halved, so that 2·in is never a
//          signal (a (b+1)-bit check on 2·in would also admit the field elements (v + p)/2
//          for odd v; here `in` itself is range-checked). The breakpoints are integers
//          compared with the integer a, so a ≥ ceil(t/2) ⟺ 2a ≥ t:
//          1. sign: SignedRange(b) gives s = (in ≥ 0), and a = in·(2s − 1) ∈ [0, 2^(b-1)].
//          2. saturation: sat = (a ≥ TS), TS = 5·one/2, is bit b−1 of a − TS + 2^(b-1),
//             which lies in [0, 2^b) because TS ≤ 2^(b-1) (b ≥ f + 4).
//          3. clamp: c = a·(1 − sat), so c < TS < 2^(f+2) (and c = 0 when saturated).
//          4. segments: t1 = (c ≥ T1), T1 = one/2, and t2 = (c ≥ T2), T2 = ceil(19·one / 16),
//             each bit f+2 of c − T + 2^(f+2) ∈ [0, 2^(f+3)). T2 > T1 ≥ 1, so t2 implies t1
//             and sat forces t1 = t2 = 0: (k, m) = (8 − 4·t1 − 3·t2, 16 + 4·t1 + 7·t2 +
//             16·sat) selects exactly one segment, N = 2k·c + m·one.
//          5. N ∈ [0, 32·one] is decomposed into f + 6 bits; pos is the bits above the
//             fifth, i.e. floor(N / 32). N < 2^(f+6) < p, so pos is unique.
//          6. out = (2·pos − one)·(2s − 1).
// Assumes: f ≥ 1 (one/2 and 5·one/2 are integers) and b ≥ f + 4 (compile-time asserts).
//          Nothing about `in`: step 1 range-checks it.
// Cost:    exactly 2b + 3f + 17 constraints under --O2: SignedRange(b) and Bits(b) (b each),
//          two Bits(f + 3) (f + 3 each), Bits(f + 6) (f + 6), five multiplications; the
//          recompositions are linear. Four fewer than SigmoidPWL(f, b + 1) on 2·in. The only
//          hints are the bits inside Bits, each pinned there.
template TanhPWL(f, b) {
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

    // 2. saturation: 2a ≥ 5·one
    var satThreshold = 5 * (one \ 2);
    component satCmp = Bits(b);
    satCmp.in <== a - satThreshold + (1 << (b - 1));
    signal sat <== satCmp.bits[b - 1];

    // 3. clamp below the saturation point
    signal c <== a * (1 - sat);

    // 4. segment breakpoints: 2c ≥ one and 16·c ≥ 19·one
    var t1Threshold = one \ 2;
    var t2Threshold = (19 * one + 15) \ 16;
    component t1Cmp = Bits(f + 3);
    t1Cmp.in <== c - t1Threshold + (1 << (f + 2));
    signal t1 <== t1Cmp.bits[f + 2];
    component t2Cmp = Bits(f + 3);
    t2Cmp.in <== c - t2Threshold + (1 << (f + 2));
    signal t2 <== t2Cmp.bits[f + 2];

    // 5. pos = floor(N / 32) with N = 2k·c + m·one
    signal t1c <== t1 * c;
    signal t2c <== t2 * c;
    component numerator = Bits(f + 6);
    numerator.in <== 16 * c - 8 * t1c - 6 * t2c + (16 + 4 * t1 + 7 * t2 + 16 * sat) * one;
    var pos = 0;
    for (var i = 5; i < f + 6; i++) {
        pos += numerator.bits[i] * (1 << (i - 5));
    }

    // 6. tanh = 2·σ − one, reflected for negative inputs: tanh(−x) = −tanh(x)
    out <== (2 * pos - one) * (2 * sign.nonNeg - 1);
}
