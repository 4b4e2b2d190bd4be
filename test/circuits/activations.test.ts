import { CircuitTester } from "../helpers/circuit-tester.js";

const B = 8;

describe("circuits/lib/activations.circom", () => {
  describe("ReLU(8)", () => {
    let o2: CircuitTester;
    let o0: CircuitTester;
    before(async () => {
      [o2, o0] = await Promise.all([
        // `in` is public so that --O2 cannot substitute it away (see bits.test.ts).
        CircuitTester.fromTemplate({
          file: "activations.circom",
          template: "ReLU",
          params: [B],
          publicInputs: ["in"],
        }),
        CircuitTester.fromTemplate({
          file: "activations.circom",
          template: "ReLU",
          params: [B],
          optimization: 0,
        }),
      ]);
    });

    it("computes max(0, in), including at the range boundaries", async () => {
      await o2.expectPass({ in: 0n }, { out: 0 });
      await o2.expectPass({ in: 5n }, { out: 5 });
      await o2.expectPass({ in: -5n }, { out: 0 });
      await o2.expectPass({ in: 127n }, { out: 127 });
      await o2.expectPass({ in: -128n }, { out: 0 });
    });

    it("rejects inputs outside signed 8 bits (128, -129)", async () => {
      await o2.expectFail({ in: 128n });
      await o2.expectFail({ in: -129n });
      await o2.expectFail({ in: 1n << 128n });
    });

    it("rejects a changed output", async () => {
      await o0.expectTamperFails({ in: 5n }, "out", 0n);
      await o0.expectTamperFails({ in: -5n }, "out", -5n);
      await o2.expectTamperFails({ in: 5n }, "out", 0n);
      await o2.expectTamperFails({ in: -5n }, "out", 5n);
    });

    it("rejects a lie about the sign, with the output made consistent with it", async () => {
      await o0.expectTamperFails({ in: 5n }, { out: 0n, "range.nonNeg": 0n, "range.shifted.bits[7]": 0n });
      await o0.expectTamperFails({ in: -5n }, { out: -5n, "range.nonNeg": 1n, "range.shifted.bits[7]": 1n });
    });

    it("rejects every flipped bit of the range check", async () => {
      const w = await o0.witness({ in: -77n });
      for (let i = 0; i < B; i++) {
        const name = `range.shifted.bits[${i}]`;
        await o0.expectTamperFails({ in: -77n }, name, 1n - o0.read(w, name));
      }
    });
  });
});
