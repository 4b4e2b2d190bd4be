pragma circom 2.1.0;

include "bits.circom";

// ReLU(b): out = max(0, in) for a value that has not been range-checked yet.
//
// Proves:  -2^(b-1) ≤ in < 2^(b-1) and out = in if in ≥ 0, else 0.
// Assumes: nothing about `in` (the range check is done here; the sign bit it yields is
//          what makes the comparison with 0 sound).
// Cost:    b + 2 constraints: SignedRange(b) plus one multiplication.
//          After a dense layer use RescaleReLU instead, which reuses the rescale's check.
template ReLU(b) {
    signal input in;
    signal output out;

    component range = SignedRange(b);
    range.in <== in;
    out <== in * range.nonNeg;
}
