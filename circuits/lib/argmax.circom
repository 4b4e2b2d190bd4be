pragma circom 2.1.0;

include "bits.circom";

// ArgMax(n, b): the index of the first maximal value, by a sequential scan.
//
// Proves:  out is the smallest index i with in[i] = max(in), provided every in[i] is a
//          signed b-bit integer.
// How:     best_0 = in[0], idx_0 = 0. For i ≥ 1, gt_i = (in[i] > best_{i-1}) is the top
//          bit of the (b+1)-bit decomposition of in[i] − best_{i-1} − 1 + 2^b, which lies
//          in [0, 2^(b+1) − 2] for in-range operands and has its top bit set exactly when
//          in[i] − best_{i-1} ≥ 1. Then best_i = best_{i-1} + gt_i·(in[i] − best_{i-1})
//          and idx_i = idx_{i-1} + gt_i·(i − idx_{i-1}). A strict comparison keeps the
//          earlier index on ties.
// Assumes: every in[i] is already range-checked to signed b bits BY THE CALLER (the
//          generated model circuits feed rescale outputs, which are). Out-of-range inputs
//          could make the difference wrap around the field and the comparison lie.
// Cost:    (n − 1)·(b + 4) constraints: per step Bits(b + 1) and two multiplications.
//          No hint besides the bits inside Bits.
template ArgMax(n, b) {
    assert(n >= 1);
    assert(b >= 1);
    assert(b + 1 <= 252);

    signal input in[n];
    signal output out;

    signal best[n];
    signal idx[n];
    signal gt[n]; // gt[0] is unused: the scan starts at i = 1
    component cmp[n];

    best[0] <== in[0];
    idx[0] <== 0;
    for (var i = 1; i < n; i++) {
        cmp[i] = Bits(b + 1);
        cmp[i].in <== in[i] - best[i - 1] - 1 + (1 << b);
        gt[i] <== cmp[i].bits[b];
        best[i] <== best[i - 1] + gt[i] * (in[i] - best[i - 1]);
        idx[i] <== idx[i - 1] + gt[i] * (i - idx[i - 1]);
    }
    out <== idx[n - 1];
}
