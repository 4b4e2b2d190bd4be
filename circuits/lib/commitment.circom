pragma circom 2.1.0;

include "circomlib/circuits/poseidon.circom";
include "bits.circom";
include "packing.circom";

// Commitments to private model weights (docs/protocol.md, "Private weights"). The
// TypeScript twin is src/circuit/commitment.ts; both must compute the very same field element.

// PoseidonSponge(n): a Poseidon commitment to n field elements.
//
// Proves:  out = h_m, where h_0 = 0 and h_{j+1} = Poseidon16([h_j, e_{15j}, …, e_{15j+14}])
//          over m = ceil(n / 15) chunks of 15 elements, the last one padded with zeros.
//          circomlib's Poseidon(16) (t = 17, 8 full and 68 partial rounds) is a
//          permutation-based hash that poseidon-lite's poseidon16 reproduces bit for bit.
// Assumes: n is fixed by the caller's circuit (it is, per model architecture), so the zero
//          padding of the last chunk cannot be confused with elements that are really zero
//          in a longer vector.
// Cost:    at most ceil(n / 15) · 609 constraints under --O2: Poseidon(16) has
//          17·8 full-round and 68 partial-round S-boxes of 3 constraints each, and --O2
//          measures 609 (a few fewer where an input is a constant, such as the padding);
//          about 41 per element.
template PoseidonSponge(n) {
    assert(n >= 1);

    var RATE = 15;
    var chunks = (n + RATE - 1) \ RATE;

    signal input in[n];
    signal output out;

    component h[chunks];
    for (var j = 0; j < chunks; j++) {
        h[j] = Poseidon(16);
        if (j == 0) {
            h[j].inputs[0] <== 0;
        } else {
            h[j].inputs[0] <== h[j - 1].out;
        }
        for (var s = 0; s < RATE; s++) {
            if (j * RATE + s < n) {
                h[j].inputs[1 + s] <== in[j * RATE + s];
            } else {
                h[j].inputs[1 + s] <== 0;
            }
        }
    }
    out <== h[chunks - 1].out;
}

// WeightCommitment(nWeights, weightBits, nBiases): the commitment a private-weights model
// registers on-chain, computed from the weights and biases the circuit actually uses.
//
// Proves:  every w[i] is a signed weightBits-bit integer, and
//          commitment = PoseidonSponge([salt, packed[0..W-1], b[0..nBiases-1]]) where
//          packed = Pack(nWeights, weightBits)(w): K = floor(253 / weightBits) weights per
//          word, each stored as w + 2^(weightBits-1) at bit offset weightBits·(i mod K).
//          Biases are sponge elements of their own (any field element, no packing).
// Why the range check matters: packing is only injective when every slot lies in
//          [0, 2^weightBits). Without the check a prover could keep a packed word and
//          change the weights behind it, e.g. w'[0] = w[0] + 2^weightBits together with
//          w'[1] = w[1] − 1 gives the same word, so the commitment would not bind the
//          individual weights the dense layers multiply by. With every slot in range a
//          word is below 2^(weightBits·K) ≤ 2^253 < p, its base-2^weightBits digits are
//          unique, and the word determines every weight. A bias needs no check: it is
//          hashed as a whole field element, which is already injective.
// Assumes: nothing about the inputs (the range checks are done here). Binding rests on
//          Poseidon's collision resistance; hiding on the salt being secret and random.
// Cost:    nWeights · weightBits constraints for the range checks (SignedRange; its
//          recomposition and the packing are linear and --O2 folds them away), plus
//          at most ceil((1 + ceil(nWeights / K) + nBiases) / 15) · 609 for the sponge.
//          With 8-bit weights (K = 31) a full chunk absorbs 15·31 = 465 weights: about
//          8 + 609/465 ≈ 9.3 constraints per weight for large layers (measured: 9.35 for
//          899 weights; the Iris model's 56 weights and 11 biases cost 1,051).
template WeightCommitment(nWeights, weightBits, nBiases) {
    assert(nWeights >= 1);
    assert(nBiases >= 0);
    assert(weightBits >= 2);
    assert(weightBits <= 126);

    var K = 253 \ weightBits;
    var words = (nWeights + K - 1) \ K;

    signal input w[nWeights];
    signal input b[nBiases];
    signal input salt;
    signal output commitment;

    // Each weight is a signed weightBits-bit integer: this is what makes the packing injective.
    component range[nWeights];
    for (var i = 0; i < nWeights; i++) {
        range[i] = SignedRange(weightBits);
        range[i].in <== w[i];
    }
    component pack = Pack(nWeights, weightBits);
    pack.in <== w;

    component sponge = PoseidonSponge(1 + words + nBiases);
    sponge.in[0] <== salt;
    for (var k = 0; k < words; k++) {
        sponge.in[1 + k] <== pack.out[k];
    }
    for (var j = 0; j < nBiases; j++) {
        sponge.in[1 + words + j] <== b[j];
    }
    commitment <== sponge.out;
}
