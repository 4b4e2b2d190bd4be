pragma circom 2.1.0;

include "bits.circom";

// Fixed-point rescaling: the step after every dense layer. See docs/protocol.md,
// "Layers and their exact integer semantics".

// Rescale(f, b): division by 2^f rounding towards −∞ (an arithmetic shift right).
//
// Proves:  in = out·2^f + rem with 0 ≤ rem < 2^f and -2^(b-1) ≤ out < 2^(b-1), i.e.
//          out = floor(in / 2^f) on the signed interpretation of `in`;
//          nonNeg = 1 if out ≥ 0 (equivalently in ≥ 0), else 0.
//          Because out·2^f + rem spans fewer than 2^(f+b) < p consecutive integers, the
//          pair (out, rem) is unique, so a prover cannot pick another quotient.
// Assumes: nothing about `in`. An accumulator whose quotient does not fit in b signed
//          bits has no valid witness: that is how an overflowing input is refused.
// Cost:    f + b + 2 constraints: Bits(f) on the remainder, SignedRange(b) on the
//          quotient (the remainder's definition is linear).
template Rescale(f, b) {
    assert(f >= 1);
    assert(b >= 1);
    assert(f + b <= 252);

    signal input in;
    signal output out;
    signal output nonNeg;

    var scale = 1 << f;

    // Floor division of the signed value. `\` divides field representatives, so a
    // negative `in` (stored as p − |in|) is divided by magnitude and rounded away from 0.
    out <-- in < 0 ? -(((-in) + scale - 1) \ scale) : in \ scale;

    // Pins the hint: the remainder is a non-negative f-bit number ...
    component remBits = Bits(f);
    remBits.in <== in - out * scale;

    // ... and the quotient is a signed b-bit number.
    component outRange = SignedRange(b);
    outRange.in <== out;
    nonNeg <== outRange.nonNeg;
}

// RescaleReLU(f, b): a dense layer's rescale fused with the ReLU that follows it.
//
// Proves:  out = max(0, floor(in / 2^f)), with the quotient range-checked to signed
//          b bits exactly as in Rescale (so out is in [0, 2^(b-1))).
// Assumes: nothing about `in`.
// Cost:    f + b + 3 constraints: Rescale plus one multiplication.
template RescaleReLU(f, b) {
    signal input in;
    signal output out;

    component rescale = Rescale(f, b);
    rescale.in <== in;
    out <== rescale.out * rescale.nonNeg;
}
