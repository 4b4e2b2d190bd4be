import { expect } from "chai";
import { join } from "node:path";

import { datasetByName } from "../../src/data/index.js";
import { FixedPointRangeError } from "../../src/errors.js";
import { CALIBRATION_MARGIN, calibrate, checkQuantization } from "../../src/model/calibrate.js";
import { loadModelFile } from "../../src/model/schema.js";
import { PROJECT_ROOT } from "../../src/paths.js";

describe("model/calibrate", function () {
  const iris = loadModelFile(join(PROJECT_ROOT, "models", "iris", "model.json"));
  const samples = datasetByName("iris").inputs;

  it("finds the largest fracBits that keeps every activation within valueBits with headroom", function () {
    const cal = calibrate(iris, samples);
    expect(cal.samples).to.equal(150);
    expect(cal.maxAbsInput).to.equal(7.9);
    const largest = Math.max(cal.maxAbsInput, ...cal.maxAbs);
    // fits: largest · 2^f · margin < 2^(b−1) at maxSafeFracBits, not at one more
    expect(largest * 2 ** cal.maxSafeFracBits * CALIBRATION_MARGIN).to.be.below(2 ** 23);
    expect(largest * 2 ** (cal.maxSafeFracBits + 1) * CALIBRATION_MARGIN).to.be.at.least(2 ** 23);
  });

  it("accepts the model's own quantization on its data", function () {
    expect(() => checkQuantization(iris, samples)).to.not.throw();
  });

  it("refuses a fracBits that overflows, naming the sample, the layer and the safe choice", function () {
    const { maxSafeFracBits } = calibrate(iris, samples);
    const tooFine = { ...iris.quantization, fracBits: 20 };
    let error: Error | undefined;
    try {
      checkQuantization(iris, samples, tooFine);
    } catch (e) {
      error = e as Error;
    }
    expect(error).to.be.instanceOf(FixedPointRangeError);
    expect(error!.message).to.match(/^fracBits 20 overflows the circuit's ranges on sample \d+: /);
    expect(error!.message).to.match(/(overflow in layer \d+ \(dense\), neuron \d+|input\[\d+\])/);
    expect(error!.message).to.include(`the largest fracBits that fits these 150 samples`);
    expect(error!.message).to.include(`is ${maxSafeFracBits}`);
  });

  it("refuses inputs wider than inputBits with the same explanation", function () {
    // 7.9 cm at 2^8 is 2022: it needs 12 signed bits, not 10
    expect(() => checkQuantization(iris, samples, { ...iris.quantization, inputBits: 10 })).to.throw(
      FixedPointRangeError,
      "fracBits 8 overflows the circuit's ranges on sample",
    );
  });
});
