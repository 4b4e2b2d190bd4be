import { expect } from "chai";

import { generateCircuit } from "../../src/circuit/generate.js";
import { modelHash, quantizeModel } from "../../src/model/quantize.js";
import { parseModel } from "../../src/model/schema.js";
import type { QuantizedModel } from "../../src/runtime/fixed.js";

/**
 * src/circuit/generate.ts for a model with private weights: the public inputs gain the
 * weight commitment (after inPacked), the weights become private inputs fed to DensePrivate
 * and to one WeightCommitment, and the source no longer depends on the weight values.
 */
function privateModel(scale = 1): QuantizedModel {
  return quantizeModel(
    parseModel({
      format: "sibyl-model/1",
      name: "gen_private",
      inputLength: 3,
      quantization: { fracBits: 4, valueBits: 16, weights: "private" },
      layers: [
        {
          type: "dense",
          weights: [
            [1 * scale, 0, -1],
            [0.5, 0.5, 0],
            [0, 0, 2],
            [-0.25, 1, 0],
          ],
          bias: [0, 0.5, -1, 0],
        },
        { type: "relu" },
        {
          type: "dense",
          weights: [
            [1, -1, 0.5, 0],
            [0, 1, 1, -2],
          ],
          bias: [0.25, 0],
        },
        { type: "argmax" },
      ],
    }),
  );
}

describe("circuit/generate: private weights", function () {
  const model = privateModel();
  const circuit = generateCircuit(model, modelHash(model));
  const src = circuit.source;

  it("declares the public inputs requestBinding, inPacked, weightCommitment, outPacked in this order", function () {
    expect(src).to.contain(
      "component main {public [requestBinding, inPacked, weightCommitment, outPacked]} = SibylModel_gen_private();",
    );
    const order = [
      "signal input requestBinding;",
      "signal input inPacked[1];",
      "signal input weightCommitment;",
      "signal input outPacked[1];",
      "signal input x[3];",
      "signal input w0[4][3];",
      "signal input b0[4];",
      "signal input w2[2][4];",
      "signal input b2[2];",
      "signal input salt;",
    ].map((line) => src.indexOf(line));
    expect(order.every((at) => at >= 0)).to.equal(true);
    expect([...order].sort((a, b) => a - b)).to.deep.equal(order);
    expect(circuit.publicSignals).to.equal(1 + 1 + 1 + 1);
  });

  it("feeds each dense layer its private weights through DensePrivate", function () {
    expect(src).to.contain("component l0Dense = DensePrivate(3, 4);");
    expect(src).to.contain("l0Dense.w <== w0;");
    expect(src).to.contain("l0Dense.b <== b0;");
    expect(src).to.contain("component l2Dense = DensePrivate(4, 2);");
    expect(src).to.not.match(/= Dense\(/);
  });

  it("commits to all weights and biases in layout order and pins the public commitment", function () {
    expect(src).to.contain('include "commitment.circom";');
    expect(src).to.contain(`component commit = WeightCommitment(20, ${model.weightBits}, 6);`);
    expect(src).to.contain("commit.w[0 + o * 3 + i] <== w0[o][i];");
    expect(src).to.contain("commit.b[0 + o] <== b0[o];");
    expect(src).to.contain("commit.w[12 + o * 4 + i] <== w2[o][i];");
    expect(src).to.contain("commit.b[4 + o] <== b2[o];");
    expect(src).to.contain("commit.salt <== salt;");
    expect(src).to.contain("commit.commitment === weightCommitment;");
  });

  it("does not depend on the weight values (only on the architecture and scales)", function () {
    const other = privateModel(0.5);
    expect((other.layers[0] as { weights: bigint[][] }).weights[0][0]).to.not.equal(
      (model.layers[0] as { weights: bigint[][] }).weights[0][0],
    );
    expect(generateCircuit(other, modelHash(other)).source).to.equal(src);
  });

  it("leaves public-weight circuits without the commitment", function () {
    const pub = { ...model, weights: "public" as const };
    const g = generateCircuit(pub, modelHash(pub));
    expect(g.source).to.not.contain("commitment.circom");
    expect(g.source).to.not.contain("weightCommitment");
    // with public weights its request fits one compact signal
    expect(g.publicSignals).to.equal(1);
  });
});
