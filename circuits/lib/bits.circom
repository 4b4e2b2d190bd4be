pragma circom 2.1.0;

// Bit decomposition and signed range checks. Every other gadget in this folder that
// compares or rescales values builds on these two templates.

// Bits(n): binary decomposition of `in` into n bits, least significant first.
//
// Proves:  in = Σ bits[i]·2^i with every bits[i] ∈ {0, 1}, hence 0 ≤ in < 2^n as an
//          integer (no wrap-around: 2^n < p because n ≤ 252).
// Assumes: nothing about `in`; witness generation fails if it is out of range.
// Cost:    n + 1 constraints (n booleanity checks, one linear recomposition that the
//          --O2 simplifier usually folds into its neighbours).
template Bits(n) {
    assert(n >= 1);
    assert(n <= 252);

    signal input in;
    signal output bits[n];

    var sum = 0;
    var weight = 1;
    for (var i = 0; i < n; i++) {
        bits[i] <-- (in >> i) & 1;
        // Pins the hint: each bit is 0 or 1 ...
        bits[i] * (bits[i] - 1) === 0;
        sum += bits[i] * weight;
        weight += weight;
    }
    // ... and together they recompose `in` exactly.
    sum === in;
}

// SignedRange(b): range check for a signed b-bit integer.
//
// Proves:  -2^(b-1) ≤ in < 2^(b-1) (with negatives represented as p − |in|), and
//          nonNeg = 1 if in ≥ 0, else 0.
// How:     in + 2^(b-1) is decomposed into b bits; the shifted value is below 2^b exactly
//          when `in` is in range, and its top bit is set exactly when in ≥ 0.
// Assumes: nothing about `in`.
// Cost:    b + 1 constraints (the Bits(b) decomposition).
template SignedRange(b) {
    assert(b >= 1);
    assert(b <= 252);

    signal input in;
    signal output nonNeg;

    component shifted = Bits(b);
    shifted.in <== in + (1 << (b - 1));
    nonNeg <== shifted.bits[b - 1];
}
