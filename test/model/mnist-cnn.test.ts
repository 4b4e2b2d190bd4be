import { expect } from "chai";
import { join } from "node:path";

import { generateCircuit } from "../../src/circuit/generate.js";
import { circuitInputFor } from "../../src/circuit/inputs.js";
import { heldOut } from "../../src/pipeline/accuracy.js";
import { runFloat } from "../../src/model/float.js";
import { importOnnx } from "../../src/model/onnx.js";
import { modelHash, quantizeInput, quantizeModel } from "../../src/model/quantize.js";
import { loadModelFile, modelShapes } from "../../src/model/schema.js";
import { PROJECT_ROOT } from "../../src/paths.js";
import { runQuantized } from "../../src/runtime/fixed.js";
import { CircuitTester } from "../helpers/circuit-tester.js";

const DIR = join(PROJECT_ROOT, "models", "mnist_cnn");
const REQUEST_ID = 0x5eb1e5eb1e5eb1e5eb1e5eb1e5eb1e5eb1e5eb1e5eb1e5eb1e5eb1e5eb1e5eb1n;

/**
 * The committed CNN (models/mnist_cnn): its model file is what importing its ONNX export gives,
 * it meets the accuracy targets on the 2,000 held-out digits when measured here, and
 * its circuit (compiled as production builds are) accepts exactly the runtime's output.
 */
describe("models/mnist_cnn: the CNN on full-resolution MNIST", function () {
  const file = loadModelFile(join(DIR, "model.json"));
  const q = quantizeModel(file);
  const digits = heldOut(file, "mnist28", "test");

  it("is what importing model.onnx gives: batch norm folded, image shapes through to the digit", function () {
    const imported = importOnnx(join(DIR, "model.onnx"), {
      name: "mnist_cnn",
      quantization: file.quantization,
    });
    expect(imported.layers).to.deep.equal(file.layers);
    expect(file.inputShape).to.deep.equal([1, 28, 28]);
    expect(file.layers.map((l) => l.type)).to.deep.equal([
      "conv2d",
      "relu",
      "maxpool",
      "dense",
      "relu",
      "dense",
      "argmax",
    ]);
    expect(modelShapes(file).map((s) => s.join("×"))).to.deep.equal([
      "12×8×8",
      "12×8×8",
      "12×4×4",
      "150",
      "150",
      "10",
      "1",
    ]);
  });

  it("classifies ≥ 97% of the 2,000 held-out digits in fixed point, within 1 point of float", function () {
    expect(digits.inputs).to.have.length(2000);
    let float = 0;
    let quantized = 0;
    digits.inputs.forEach((x, i) => {
      if (runFloat(file, x)[0] === digits.labels[i]) float++;
      // no digit overflows: runQuantized would throw
      if (Number(runQuantized(q, quantizeInput(q, x)).output[0]) === digits.labels[i]) quantized++;
    });
    expect(quantized / 2000).to.be.at.least(0.97);
    expect(Math.abs(quantized - float) / 2000).to.be.at.most(0.01);
  });

  describe("its circuit", function () {
    let circuit: CircuitTester;
    before(async function () {
      const { source } = generateCircuit(q, modelHash(q));
      circuit = await CircuitTester.fromSource("mnist_cnn", "mnist_cnn --O2", source, 2);
    });

    it("fits a 2^15 domain, half of what the 2^16 development ptau allows", function () {
      expect(circuit.constraints).to.be.below(2 ** 15 - 64);
    });

    it("accepts the runtime's class and no other on held-out digits of every class", async function () {
      for (let k = 0; k < 2000; k += 200) {
        const x = quantizeInput(q, digits.inputs[k]);
        const { output } = runQuantized(q, x);
        await circuit.expectPass(circuitInputFor(q, REQUEST_ID, x, output));
        await circuit.expectFail(circuitInputFor(q, REQUEST_ID, x, [(output[0] + 1n) % 10n]));
      }
    });
  });
});
