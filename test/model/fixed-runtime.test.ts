import { expect } from "chai";

import { FixedPointRangeError, InputShapeError } from "../../src/errors.js";
import {
  type QuantizedModel,
  checkInput,
  inSignedRange,
  rescale,
  roundHalfAway,
  runQuantized,
  signedRange,
} from "../../src/runtime/fixed.js";

/**
 * The fixed-point runtime against integers computed by hand. fracBits 2 (weights at
 * scale 4, biases at 16), valueBits 8 (−128..127).
 *
 *   layer 0  dense 3→3   W = [[4, −8, 2], [−4, 0, 6], [1, 1, 1]]   B = [−16, 8, 0]
 *   layer 1  relu
 *   layer 2  dense 3→3   W = [[2, 4, −4], [0, 8, −8], [1, −4, 0]]  B = [0, −16, −3]
 *   layer 3  argmax
 */
const HAND: QuantizedModel = {
  name: "hand",
  inputLength: 3,
  outputLength: 1,
  fracBits: 2,
  valueBits: 8,
  inputBits: 8,
  weightBits: 8,
  weights: "public",
  layers: [
    {
      type: "dense",
      weightFracBits: 2,
      weights: [
        [4n, -8n, 2n],
        [-4n, 0n, 6n],
        [1n, 1n, 1n],
      ],
      bias: [-16n, 8n, 0n],
    },
    { type: "relu" },
    {
      type: "dense",
      weightFracBits: 2,
      weights: [
        [2n, 4n, -4n],
        [0n, 8n, -8n],
        [1n, -4n, 0n],
      ],
      bias: [0n, -16n, -3n],
    },
    { type: "argmax" },
  ],
};

/** dense 1→1 with weight 1.0 (4 at scale 4) and a chosen bias: y = floor((4x + bias) / 4). */
function identity(bias: bigint): QuantizedModel {
  return {
    name: "identity",
    inputLength: 1,
    outputLength: 1,
    fracBits: 2,
    valueBits: 8,
    inputBits: 8,
    weightBits: 8,
    weights: "public",
    layers: [{ type: "dense", weightFracBits: 2, weights: [[4n]], bias: [bias] }],
  };
}

describe("runtime/fixed: roundHalfAway", function () {
  it("rounds halves away from zero", function () {
    expect(roundHalfAway(2.5)).to.equal(3n);
    expect(roundHalfAway(-2.5)).to.equal(-3n);
    expect(roundHalfAway(0.5)).to.equal(1n);
    expect(roundHalfAway(-0.5)).to.equal(-1n);
  });

  it("rounds everything else to the nearest integer", function () {
    expect(roundHalfAway(0.49)).to.equal(0n);
    expect(roundHalfAway(-0.49)).to.equal(0n);
    expect(roundHalfAway(2.51)).to.equal(3n);
    expect(roundHalfAway(-2.49)).to.equal(-2n);
    expect(roundHalfAway(0)).to.equal(0n);
    expect(roundHalfAway(-7)).to.equal(-7n);
  });

  it("rounds the largest double below one half to zero, and keeps large integers exact", function () {
    // 0.49999999999999994 + 0.5 rounds up to 1 in floating point; the value itself is below one half.
    expect(roundHalfAway(0.49999999999999994)).to.equal(0n);
    expect(roundHalfAway(-0.49999999999999994)).to.equal(0n);
    // 2^52 + 1 is an exact double and already an integer; adding 0.5 rounds it to 2^52 + 2.
    expect(roundHalfAway(2 ** 52 + 1)).to.equal(2n ** 52n + 1n);
  });

  it("refuses non-finite values", function () {
    expect(() => roundHalfAway(Infinity)).to.throw(FixedPointRangeError, "cannot quantize Infinity");
    expect(() => roundHalfAway(NaN)).to.throw(FixedPointRangeError, "cannot quantize NaN");
  });
});

describe("runtime/fixed: rescale", function () {
  it("floors towards −∞ for negative values", function () {
    expect(rescale(-1n, 8)).to.equal(-1n);
    expect(rescale(-255n, 8)).to.equal(-1n);
    expect(rescale(-256n, 8)).to.equal(-1n);
    expect(rescale(-257n, 8)).to.equal(-2n);
    expect(rescale(-512n, 8)).to.equal(-2n);
  });

  it("floors non-negative values", function () {
    expect(rescale(0n, 8)).to.equal(0n);
    expect(rescale(255n, 8)).to.equal(0n);
    expect(rescale(256n, 8)).to.equal(1n);
    expect(rescale(767n, 8)).to.equal(2n);
  });
});

describe("runtime/fixed: signed ranges", function () {
  it("gives the inclusive signed range", function () {
    expect(signedRange(8)).to.deep.equal({ min: -128n, max: 127n });
    expect(signedRange(24)).to.deep.equal({ min: -(2n ** 23n), max: 2n ** 23n - 1n });
    expect(inSignedRange(-128n, 8)).to.equal(true);
    expect(inSignedRange(127n, 8)).to.equal(true);
    expect(inSignedRange(-129n, 8)).to.equal(false);
    expect(inSignedRange(128n, 8)).to.equal(false);
  });
});

describe("runtime/fixed: runQuantized", function () {
  it("computes the hand-worked integers, with negative accumulators floored, ReLU and an argmax tie", function () {
    // x = [3, 2, 5]
    // l0: acc = [12−16+10−16, −12+30+8, 3+2+5] = [−10, 26, 10] → floor(/4) = [−3, 6, 2]
    // l1: relu → [0, 6, 2]
    // l2: acc = [24−8, 48−16−16, −24−3] = [16, 16, −27] → [4, 4, −7]
    // l3: argmax of [4, 4, −7]: a tie between 0 and 1 goes to the first index
    const run = runQuantized(HAND, [3n, 2n, 5n]);
    expect(run.activations).to.deep.equal([[-3n, 6n, 2n], [0n, 6n, 2n], [4n, 4n, -7n], [0n]]);
    expect(run.output).to.deep.equal([0n]);
  });

  it("picks a later index when it holds the strict maximum", function () {
    // x = [−1, 1, 4]
    // l0: acc = [−4−8+8−16, 4+24+8, −1+1+4] = [−20, 36, 4] → [−5, 9, 1]
    // l1: relu → [0, 9, 1]
    // l2: acc = [36−4, 72−8−16, −36−3] = [32, 48, −39] → [8, 12, −10]   (−9.75 floors to −10)
    const run = runQuantized(HAND, [-1n, 1n, 4n]);
    expect(run.activations).to.deep.equal([[-5n, 9n, 1n], [0n, 9n, 1n], [8n, 12n, -10n], [1n]]);
    expect(run.output).to.deep.equal([1n]);
  });

  it("accepts activations at both ends of the signed range", function () {
    expect(runQuantized(identity(0n), [127n]).output).to.deep.equal([127n]);
    expect(runQuantized(identity(0n), [-128n]).output).to.deep.equal([-128n]);
    expect(runQuantized(identity(3n), [127n]).output).to.deep.equal([127n]); // floor(511/4)
  });

  it("refuses an activation one past either end, naming the layer and neuron", function () {
    expect(() => runQuantized(identity(4n), [127n])).to.throw(
      FixedPointRangeError,
      "activation overflow in layer 0 (dense), neuron 0: 128 does not fit in signed 8 bits",
    );
    // floor((−512 − 1) / 4) = floor(−128.25) = −129
    expect(() => runQuantized(identity(-1n), [-128n])).to.throw(
      FixedPointRangeError,
      "activation overflow in layer 0 (dense), neuron 0: -129 does not fit in signed 8 bits",
    );
  });

  it("names the overflowing neuron of the first layer", function () {
    // x = [0, 0, 127]: l0 acc = [254−16, 762+8, 127] = [238, 770, 127] → 59 fits, 192 does not
    expect(() => runQuantized(HAND, [0n, 0n, 127n])).to.throw(
      FixedPointRangeError,
      "activation overflow in layer 0 (dense), neuron 1: 192 does not fit in signed 8 bits",
    );
  });

  it("names an overflow in a later layer", function () {
    // x = [0, 0, 80]: l0 → [36, 122, 20]; l2 acc = [72+488−80, 976−160−16, …] = [480, 800, …]
    // → 120 fits, 200 does not
    expect(() => runQuantized(HAND, [0n, 0n, 80n])).to.throw(
      FixedPointRangeError,
      "activation overflow in layer 2 (dense), neuron 1: 200 does not fit in signed 8 bits",
    );
  });

  it("checks the input before running", function () {
    expect(() => runQuantized(HAND, [0n, 0n])).to.throw(InputShapeError);
    expect(() => runQuantized(HAND, [0n, 0n, 128n])).to.throw(FixedPointRangeError, "input[2] = 128");
  });
});

describe("runtime/fixed: checkInput", function () {
  it("refuses an input of the wrong length", function () {
    expect(() => checkInput(HAND, [1n, 2n])).to.throw(InputShapeError, "model hand takes 3 inputs, got 2");
    expect(() => checkInput(HAND, [1n, 2n, 3n, 4n])).to.throw(InputShapeError, "takes 3 inputs, got 4");
  });

  it("refuses a value that is not a bigint", function () {
    expect(() => checkInput(HAND, [1n, 2 as unknown as bigint, 3n])).to.throw(
      InputShapeError,
      "input[1] is not an integer (got 2)",
    );
  });

  for (const b of [8, 24]) {
    const half = 1n << BigInt(b - 1);
    const model: QuantizedModel = { ...HAND, valueBits: b, inputBits: b };

    it(`accepts the boundaries −2^${b - 1} and 2^${b - 1}−1 at inputBits ${b}`, function () {
      expect(() => checkInput(model, [-half, half - 1n, 0n])).to.not.throw();
    });

    it(`refuses −2^${b - 1}−1 and 2^${b - 1} at inputBits ${b}, naming the index and the range`, function () {
      const range = `[${-half}, ${half - 1n}]`;
      expect(() => checkInput(model, [0n, -half - 1n, 0n])).to.throw(
        FixedPointRangeError,
        `input[1] = ${-half - 1n} is outside the signed ${b}-bit range ${range}`,
      );
      expect(() => checkInput(model, [0n, 0n, half])).to.throw(
        FixedPointRangeError,
        `input[2] = ${half} is outside the signed ${b}-bit range ${range}`,
      );
    });
  }
});
