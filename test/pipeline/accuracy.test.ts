import { expect } from "chai";

import { accuracyReport, heldOut } from "../../src/pipeline/accuracy.js";
import { loadModelFile } from "../../src/model/schema.js";
import type { QDense } from "../../src/runtime/fixed.js";
import { IRIS_MODEL_PATH, builtModel } from "../helpers/models.js";

describe("model/accuracy: the accuracy report", function () {
  const file = loadModelFile(IRIS_MODEL_PATH);
  const data = heldOut(file, "iris", "test");

  it("reproduces the held-out accuracy recorded at training time", async function () {
    const report = await accuracyReport(file, data, { artifacts: await builtModel() });
    expect(data.inputs.length).to.equal(file.metrics!.testSamples);
    expect(report.samples).to.equal(30);
    expect(report.floatAccuracy).to.equal(file.metrics!.floatTestAccuracy);
    expect(report.quantizedAccuracy).to.equal(file.metrics!.quantizedTestAccuracy);
    expect(report.circuitAccuracy).to.equal(report.quantizedAccuracy);
    expect(report.circuitAgreement).to.equal(1);
    expect(report.witnessSamples).to.equal(30);
    expect(report.overflows).to.equal(0);
  });

  it("reports disagreement when the runtime's integers are not the circuit's", async function () {
    const artifacts = await builtModel();
    // a runtime with one bias off by a lot: its outputs differ from what the circuit computes
    const layers = artifacts.quantized.layers.map((l) =>
      l.type === "dense" ? { ...l, bias: l.bias.map((b, o) => (o === 0 ? b + (1n << 20n) : b)) } : l,
    );
    const skewed = { ...artifacts, quantized: { ...artifacts.quantized, layers } };
    expect((skewed.quantized.layers[2] as QDense).bias[0]).to.not.equal(
      (artifacts.quantized.layers[2] as QDense).bias[0],
    );
    const report = await accuracyReport(file, data, { artifacts: skewed });
    expect(report.circuitAgreement).to.be.below(1);
    expect(report.circuitAccuracy).to.equal(undefined);
  });

  it("counts an on-chain decoding that differs as a disagreement", async function () {
    const artifacts = await builtModel();
    const report = await accuracyReport(file, data, {
      artifacts,
      onChainSamples: 5,
      // a decoder that corrupts the third output
      onChain: async (_inputs, outputs) => outputs.map((o, j) => (j === 2 ? [o[0] + 1n] : o)),
    });
    expect(report.onChainSamples).to.equal(5);
    expect(report.circuitAgreement).to.equal(29 / 30);
  });
});
