pragma circom 2.1.0;

// Dense(nIn, nOut, W, B): an affine layer with public weights baked into the circuit.
//
// Proves:  out[o] = Σ_i W[o][i]·in[i] + B[o] (exactly, in the field).
// Assumes: W (nOut × nIn) and B (nOut) are integer constants; negative entries are
//          fine (they become p − |w|). The result is an accumulator at scale 2^(2f):
//          the caller rescales it (Rescale / RescaleReLU), which also range-checks it.
//          The caller must range-check `in` so the sum cannot wrap around the field.
// Cost:    nOut linear constraints and no multiplication: --O2 substitutes them into
//          the rescale that consumes `out`.
template Dense(nIn, nOut, W, B) {
    assert(nIn >= 1);
    assert(nOut >= 1);

    signal input in[nIn];
    signal output out[nOut];

    for (var o = 0; o < nOut; o++) {
        var acc = B[o];
        for (var i = 0; i < nIn; i++) {
            acc += W[o][i] * in[i];
        }
        out[o] <== acc;
    }
}

// DensePrivate(nIn, nOut): an affine layer whose weights and biases are private signals.
//
// Proves:  out[o] = Σ_i w[o][i]·in[i] + b[o] (exactly, in the field).
// Assumes: the caller binds w and b to the registered weights (WeightCommitment in
//          commitment.circom, which also range-checks every weight) and range-checks `in`,
//          so the sum cannot wrap around the field. As with Dense, the caller rescales
//          `out` (Rescale / RescaleReLU), which range-checks it.
// Cost:    nIn·nOut constraints, one multiplication per weight; the nOut sums are linear
//          and --O2 substitutes them into the rescale that consumes `out`.
template DensePrivate(nIn, nOut) {
    assert(nIn >= 1);
    assert(nOut >= 1);

    signal input in[nIn];
    signal input w[nOut][nIn];
    signal input b[nOut];
    signal output out[nOut];

    signal prod[nOut][nIn];
    for (var o = 0; o < nOut; o++) {
        var acc = b[o];
        for (var i = 0; i < nIn; i++) {
            prod[o][i] <== w[o][i] * in[i];
            acc += prod[o][i];
        }
        out[o] <== acc;
    }
}
