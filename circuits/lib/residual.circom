pragma circom 2.1.0;

include "bits.circom";

// ResidualAdd(b): the `add` layer, element by element: a residual connection that adds an
// earlier layer's output (or the model's input) to the current value.
//
// Proves:  out = a + c and −2^(b-1) ≤ out < 2^(b-1). src/runtime/fixed.ts refuses an input
//          whose sum leaves that range; here such a sum has no valid witness.
// Assumes: a and c are range-checked to signed b bits by the caller (every layer output in the
//          generated model circuits is), so a + c is that integer sum (|a + c| ≤ 2^b ≪ p) and
//          the check below is on the true sum, not on a wrapped field element. The check
//          itself assumes nothing.
// Cost:    exactly b constraints under --O2: SignedRange(b)'s booleanity checks; the sum and
//          the recomposition are linear.
template ResidualAdd(b) {
    assert(b >= 1);
    assert(b <= 252);

    signal input a;
    signal input c;
    signal output out;

    out <== a + c;
    component range = SignedRange(b);
    range.in <== out;
}
