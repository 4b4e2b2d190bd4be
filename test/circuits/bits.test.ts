import { expect } from "chai";

import { CircuitCompileError } from "../../src/circuit/compiler.js";
import { bitOverrides, CircuitTester } from "../helpers/circuit-tester.js";

// Bits and SignedRange are the only places where the library trusts a `<--` hint for a
// range; every other range check is built from them. The tests therefore tamper with
// each hinted bit, in the production (--O2) build where the bits that keep a wire of their
// own can be reached, and in the unsimplified (--O0) build where every signal has a wire.
// The --O2 builds make `in` public: --O2 may substitute away a private input that only
// appears linearly, and a tampered witness would then just be an honest one for another
// input.

const B = 8;

async function both(template: string, params: number[]): Promise<[CircuitTester, CircuitTester]> {
  return Promise.all([
    CircuitTester.fromTemplate({ file: "bits.circom", template, params, publicInputs: ["in"] }),
    CircuitTester.fromTemplate({ file: "bits.circom", template, params, optimization: 0 }),
  ]);
}

/** Flips every bit signal that has a wire of its own and expects the r1cs to reject each. */
async function expectEveryBitFlipFails(t: CircuitTester, input: Record<string, bigint>): Promise<number> {
  const witness = await t.witness(input);
  const bitSignals = t.wiredSignals().filter((name) => /\.bits\[\d+\]$/.test(name));
  for (const name of bitSignals) {
    await t.expectTamperFails(input, name, 1n - t.read(witness, name));
  }
  return bitSignals.length;
}

describe("circuits/lib/bits.circom", () => {
  describe("Bits(8)", () => {
    let o2: CircuitTester;
    let o0: CircuitTester;
    before(async () => {
      [o2, o0] = await both("Bits", [B]);
    });

    it("decomposes 0, 1, 0xA5 and 255 little-endian", async () => {
      await o2.expectPass({ in: 0n }, { bits: [0, 0, 0, 0, 0, 0, 0, 0] });
      await o2.expectPass({ in: 1n }, { bits: [1, 0, 0, 0, 0, 0, 0, 0] });
      await o2.expectPass({ in: 0xa5n }, { bits: [1, 0, 1, 0, 0, 1, 0, 1] });
      await o2.expectPass({ in: 255n }, { bits: [1, 1, 1, 1, 1, 1, 1, 1] });
    });

    it("rejects 2^8, -1 (p - 1) and a large field element", async () => {
      await o2.expectFail({ in: 256n });
      await o2.expectFail({ in: -1n });
      await o2.expectFail({ in: 1n << 200n });
    });

    it("rejects every single flipped bit (--O0 and --O2)", async () => {
      expect(await expectEveryBitFlipFails(o0, { in: 0xa5n })).to.equal(B);
      expect(await expectEveryBitFlipFails(o2, { in: 0xa5n })).to.be.greaterThan(0);
    });

    it("rejects an ill-formed bit even when the weighted sum still matches", async () => {
      // 2 = 0·1 + 1·2 honestly; the lie 2·1 + 0·2 keeps the sum and breaks booleanity.
      await o0.expectTamperFails({ in: 2n }, { "bits[0]": 2n, "bits[1]": 0n });
      // 3 = 1 + 2 honestly; the lie 3·1 + 0·2 as well, and -1·1 + 2·2 with a negative "bit".
      await o0.expectTamperFails({ in: 3n }, { "bits[0]": 3n, "bits[1]": 0n });
      await o0.expectTamperFails({ in: 3n }, { "bits[0]": -1n, "bits[1]": 2n });
    });

    it("rejects the decomposition of another number", async () => {
      await o0.expectTamperFails({ in: 0xa5n }, bitOverrides("bits", 0xa4n, B));
    });
  });

  it("refuses Bits(253) and SignedRange(253) at compile time (2^253 could wrap around p)", async () => {
    for (const template of ["Bits", "SignedRange"]) {
      const err = await CircuitTester.fromTemplate({ file: "bits.circom", template, params: [253] }).catch(
        (e: unknown) => e,
      );
      expect(err, template).to.be.instanceOf(CircuitCompileError);
      expect((err as CircuitCompileError).stderr).to.contain("False assert");
    }
  });

  describe("SignedRange(8)", () => {
    let o2: CircuitTester;
    let o0: CircuitTester;
    before(async () => {
      [o2, o0] = await both("SignedRange", [B]);
    });

    it("accepts the boundaries -128 and 127 and reports the sign", async () => {
      await o2.expectPass({ in: -128n }, { nonNeg: 0 });
      await o2.expectPass({ in: 127n }, { nonNeg: 1 });
      await o2.expectPass({ in: 0n }, { nonNeg: 1 });
      await o2.expectPass({ in: -1n }, { nonNeg: 0 });
      await o2.expectPass({ in: 1n }, { nonNeg: 1 });
    });

    it("rejects one past each boundary (-129 and 128) and far-away values", async () => {
      await o2.expectFail({ in: -129n });
      await o2.expectFail({ in: 128n });
      await o2.expectFail({ in: 1n << 100n });
      await o2.expectFail({ in: -(1n << 100n) });
    });

    it("rejects a flipped sign, alone or with the top bit changed to match", async () => {
      await o0.expectTamperFails({ in: -5n }, "nonNeg", 1n);
      await o0.expectTamperFails({ in: -5n }, { nonNeg: 1n, "shifted.bits[7]": 1n });
      await o0.expectTamperFails({ in: 5n }, { nonNeg: 0n, "shifted.bits[7]": 0n });
    });

    it("rejects every single flipped bit (--O0 and --O2)", async () => {
      expect(await expectEveryBitFlipFails(o0, { in: -37n })).to.equal(B);
      expect(await expectEveryBitFlipFails(o2, { in: -37n })).to.be.greaterThan(0);
    });

    it("rejects an ill-formed bit in the shifted decomposition", async () => {
      // -126 + 128 = 2: bits [0, 1, 0, …]; the lie [2, 0, 0, …] keeps the sum.
      await o0.expectTamperFails({ in: -126n }, { "shifted.bits[0]": 2n, "shifted.bits[1]": 0n });
    });
  });
});
