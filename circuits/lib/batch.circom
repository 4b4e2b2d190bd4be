pragma circom 2.1.0;

include "bits.circom";

// Batch slots: the gadgets that tie the public signals of one slot of a batch circuit
// (docs/batching.md) to the model copy that proves it. A slot is either a request (its
// binding is not zero) or padding (every public signal of the slot is zero). The model copy
// of a padding slot still has to be satisfied, by any input: its values are simply not
// exposed, so padding can never stand for a request.

// IsZero(): out = 1 if in == 0, else 0.
//
// Proves:  out ∈ {0, 1} and out = 1 exactly when in = 0.
// How:     the hint inv is 1/in (or 0); in·out = 0 forces out = 0 when in ≠ 0, and
//          out = 1 − in·inv forces out = 1 when in = 0. Whatever inv the prover picks, a
//          wrong out breaks one of the two constraints.
// Assumes: nothing.
// Cost:    2 constraints.
template IsZero() {
    signal input in;
    signal output out;

    signal inv;
    inv <-- in != 0 ? 1 / in : 0;
    out <== 1 - in * inv;
    in * out === 0;
}

// BatchSlotWords(n): a slot whose public signals are [binding, words[0..n-1]], the single
// circuit's layout.
//
// Proves:  pub[0] = binding, and pub[1 + i] = words[i] when binding ≠ 0, pub[1 + i] = 0
//          when binding = 0.
// Assumes: `words` are the model copy's own packed words (constrained by the copy).
// Cost:    n + 3 constraints.
template BatchSlotWords(n) {
    assert(n >= 1);

    signal input binding;
    signal input words[n];
    signal input pub[n + 1];

    component zero = IsZero();
    zero.in <== binding;
    signal active <== 1 - zero.out;

    pub[0] === binding;
    for (var i = 0; i < n; i++) {
        pub[1 + i] === active * words[i];
    }
}

// BatchSlotCompact(U, V): a slot whose one public signal carries the request's binding, its
// packed input word and its packed output word:
//     pub = outWord + 2^V · binding + 2^(V + 128) · inWord      (pub = 0 for padding)
//
// Proves:  0 ≤ outWord < 2^V, 0 ≤ binding < 2^128, 0 ≤ inWord < 2^U, and pub is the sum
//          above when binding ≠ 0, else 0. The three ranges fill at most 253 bits, so the sum
//          is below p and decomposes one way only: a proof for pub fixes all three parts.
// Assumes: U + V + 128 ≤ 253 (asserted).
// Cost:    U + V + 128 + 5 constraints (three range checks, IsZero, the product).
template BatchSlotCompact(U, V) {
    assert(U >= 1);
    assert(V >= 1);
    assert(U + V + 128 <= 253);

    signal input binding;
    signal input inWord;
    signal input outWord;
    signal input pub;

    component bindingBits = Bits(128);
    bindingBits.in <== binding;
    component inBits = Bits(U);
    inBits.in <== inWord;
    component outBits = Bits(V);
    outBits.in <== outWord;

    component zero = IsZero();
    zero.in <== binding;
    signal active <== 1 - zero.out;

    pub === active * (outWord + binding * (1 << V) + inWord * (1 << (V + 128)));
}
