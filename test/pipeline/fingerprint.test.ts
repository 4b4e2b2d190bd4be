import { expect } from "chai";

import { circuitFingerprint } from "../../src/circuit/fingerprint.js";

describe("circuit/fingerprint: what a build cache keys on", function () {
  const inc = (...files: string[]) => files.map((f) => `include "${f}";`).join("\n") + "\ntemplate T() {}\n";

  it("is stable and independent of the circuit's own text (that is hashed separately)", function () {
    expect(circuitFingerprint(inc("argmax.circom"))).to.equal(circuitFingerprint(inc("argmax.circom")));
    expect(circuitFingerprint(inc("argmax.circom") + "// comment")).to.equal(
      circuitFingerprint(inc("argmax.circom")),
    );
  });

  it("covers transitive includes: fixedpoint.circom brings bits.circom along", function () {
    expect(circuitFingerprint(inc("fixedpoint.circom"))).to.equal(
      circuitFingerprint(inc("fixedpoint.circom", "bits.circom")),
    );
    expect(circuitFingerprint(inc("fixedpoint.circom"))).to.not.equal(circuitFingerprint(inc("bits.circom")));
  });

  it("changes with what is included", function () {
    const iris = inc(
      "bits.circom",
      "fixedpoint.circom",
      "activations.circom",
      "argmax.circom",
      "dense.circom",
      "packing.circom",
    );
    expect(circuitFingerprint(iris)).to.not.equal(circuitFingerprint(iris + inc("sigmoid.circom")));
    expect(circuitFingerprint(iris)).to.not.equal(
      circuitFingerprint(iris + inc("circomlib/circuits/poseidon.circom")),
    );
  });
});
