pragma circom 2.1.0;

// Conv2d(C, H, W, OC, KH, KW, S, P, K, B): a 2-D convolution with public weights baked
// into the circuit, the convolutional twin of Dense. Values are flat arrays in
// [channel][row][column] order; src/runtime/fixed.ts (`conv2d`) computes the same integers.
//
// Proves:  for every output channel oc and position (oy, ox),
//            out[(oc·outH + oy)·outW + ox] = B[oc] + Σ K[oc][ic][ky][kx]·in[(ic·H + iy)·W + ix]
//          (exactly, in the field) over the taps whose iy = oy·S[0] − P[0] + ky and
//          ix = ox·S[1] − P[1] + kx fall inside the H×W image: zero padding adds nothing.
//          outH = floor((H + P[0] + P[2] − KH) / S[0]) + 1, and likewise outW with P[1], P[3].
// Assumes: K (OC × C × KH × KW) and B (OC) are integer constants; negative entries are fine
//          (they become p − |w|). S = [vertical, horizontal] strides, P = [top, left, bottom,
//          right] zero padding, each pad smaller than the kernel (src/runtime/shapes.ts checks
//          the geometry). The result is an accumulator at scale 2^(f + wf), wf the weights'
//          scale: the caller rescales it by 2^wf (Rescale / RescaleReLU), which also
//          range-checks it. The caller must range-check `in` so the sum cannot wrap around
//          the field.
// Cost:    OC·outH·outW linear constraints and no multiplication (the weights are constants):
//          --O2 substitutes them into the rescale that consumes `out`, so 0 remain.
template Conv2d(C, H, W, OC, KH, KW, S, P, K, B) {
    assert(C >= 1 && H >= 1 && W >= 1 && OC >= 1);
    assert(KH >= 1 && KW >= 1 && S[0] >= 1 && S[1] >= 1);
    assert(P[0] >= 0 && P[1] >= 0 && P[2] >= 0 && P[3] >= 0);
    assert(H + P[0] + P[2] >= KH && W + P[1] + P[3] >= KW);

    var outH = (H + P[0] + P[2] - KH) \ S[0] + 1;
    var outW = (W + P[1] + P[3] - KW) \ S[1] + 1;

    signal input in[C * H * W];
    signal output out[OC * outH * outW];

    for (var oc = 0; oc < OC; oc++) {
        for (var oy = 0; oy < outH; oy++) {
            for (var ox = 0; ox < outW; ox++) {
                var acc = B[oc];
                for (var ky = 0; ky < KH; ky++) {
                    var iy = oy * S[0] - P[0] + ky;
                    for (var kx = 0; kx < KW; kx++) {
                        var ix = ox * S[1] - P[1] + kx;
                        if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
                            for (var ic = 0; ic < C; ic++) {
                                acc += K[oc][ic][ky][kx] * in[(ic * H + iy) * W + ix];
                            }
                        }
                    }
                }
                out[(oc * outH + oy) * outW + ox] <== acc;
            }
        }
    }
}
