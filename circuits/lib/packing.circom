pragma circom 2.1.0;

// Pack(n, b): packs n signed b-bit values into ceil(n / K) field elements, K = floor(253 / b).
//
// Proves:  out[k] = Σ_{j : j / K = k} (in[j] + 2^(b-1)) · 2^(b·(j mod K)), the layout of
//          docs/protocol.md ("Packing"). The offset makes every slot non-negative.
// Assumes: every in[j] is already range-checked to signed b bits BY THE CALLER, so each
//          slot holds a value in [0, 2^b) and a word is below 2^(b·K) ≤ 2^253 < p: the
//          packing is then injective and the on-chain encoding can be recomputed.
// Cost:    ceil(n / K) linear constraints, no multiplication.
template Pack(n, b) {
    assert(n >= 1);
    assert(b >= 1);
    assert(b <= 253);

    var K = 253 \ b;
    var words = (n + K - 1) \ K;

    signal input in[n];
    signal output out[words];

    var offset = 1 << (b - 1);
    for (var k = 0; k < words; k++) {
        var acc = 0;
        for (var s = 0; s < K && k * K + s < n; s++) {
            acc += (in[k * K + s] + offset) * (1 << (b * s));
        }
        out[k] <== acc;
    }
}
