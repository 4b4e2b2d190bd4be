import { expect } from "chai";

import { FixedPointRangeError } from "../../src/errors.js";
import { type QuantizedModel, runQuantized } from "../../src/runtime/fixed.js";
import { bitOverrides, CircuitTester } from "../helpers/circuit-tester.js";

/**
 * circuits/lib/residual.circom: ResidualAdd gives the runtime's `add` (a + c, refused when it
 * leaves signed b bits), rejects a tampered sum, and costs b constraints.
 */

const B = 8;
const MIN = -(1n << BigInt(B - 1)); // -128
const MAX = (1n << BigInt(B - 1)) - 1n; // 127

/** input [1, 1, 1] → add(from −1): the runtime doubles the value, range-checked to B bits. */
const DOUBLE: QuantizedModel = {
  name: "residual",
  inputLength: 1,
  inputShape: [1, 1, 1],
  outputLength: 1,
  fracBits: 2,
  valueBits: B,
  inputBits: B,
  weightBits: B,
  weights: "public",
  layers: [{ type: "add", from: -1 }],
};

describe("circuits/lib/residual.circom", () => {
  describe("ResidualAdd(8)", () => {
    let o2: CircuitTester;
    let o0: CircuitTester;
    before(async () => {
      [o2, o0] = await Promise.all([
        // the inputs are public so that --O2 cannot substitute them away (see bits.test.ts)
        CircuitTester.fromTemplate({
          file: "residual.circom",
          template: "ResidualAdd",
          params: [B],
          publicInputs: ["a", "c"],
        }),
        CircuitTester.fromTemplate({
          file: "residual.circom",
          template: "ResidualAdd",
          params: [B],
          optimization: 0,
        }),
      ]);
    });

    it("adds every pair of signed 8-bit values whose sum fits, and refuses every other pair", async () => {
      for (let a = MIN; a <= MAX; a += 5n)
        for (let c = MIN; c <= MAX; c += 7n) {
          if (a + c >= MIN && a + c <= MAX) await o2.expectPass({ a, c }, { out: a + c });
          else await o2.expectFail({ a, c });
        }
    });

    it("agrees with the runtime's add of the input to itself, refusals included", async () => {
      for (let a = MIN; a <= MAX; a++) {
        let expected: bigint[];
        try {
          expected = runQuantized(DOUBLE, [a]).output;
        } catch (e) {
          expect(e).to.be.instanceOf(FixedPointRangeError);
          await o2.expectFail({ a, c: a });
          continue;
        }
        await o2.expectPass({ a, c: a }, { out: expected[0] });
      }
    });

    it("accepts the sums at the range edges and refuses one past each", async () => {
      await o2.expectPass({ a: MAX, c: 0n }, { out: MAX });
      await o2.expectPass({ a: 100n, c: 27n }, { out: MAX });
      await o2.expectFail({ a: 100n, c: 28n });
      await o2.expectPass({ a: MIN, c: 0n }, { out: MIN });
      await o2.expectPass({ a: -100n, c: -28n }, { out: MIN });
      await o2.expectFail({ a: -100n, c: -29n });
      await o2.expectFail({ a: MAX, c: MAX });
      await o2.expectFail({ a: MIN, c: MIN });
    });

    it("rejects a changed sum, even one made in range with its range check recomputed", async () => {
      await o0.expectTamperFails({ a: 5n, c: 7n }, "out", 13n);
      await o2.expectTamperFails({ a: 5n, c: 7n }, o2.wiredOnly({ out: 13n }));
      // 100 + 27 = 127 claimed as 128, one past the range: its shifted value 256 has no 8-bit decomposition
      await o0.expectTamperFails(
        { a: 100n, c: 27n },
        { out: 128n, "range.in": 128n, "range.shifted.in": 256n },
      );
      // and a forged sum for (1, 2) with every range-check signal consistent with it
      const forged = 4n;
      await o0.expectTamperFails(
        { a: 1n, c: 2n },
        {
          out: forged,
          "range.in": forged,
          "range.shifted.in": forged + 128n,
          ...bitOverrides("range.shifted.bits", forged + 128n, B),
        },
      );
    });

    it("costs exactly b = 8 constraints (SignedRange's booleanity checks)", async () => {
      const t = await CircuitTester.fromTemplate({
        file: "residual.circom",
        template: "ResidualAdd",
        params: [B],
      });
      expect(t.constraints).to.equal(B);
    });

    it("costs exactly b = 16 constraints at b = 16", async () => {
      const t = await CircuitTester.fromTemplate({
        file: "residual.circom",
        template: "ResidualAdd",
        params: [16],
      });
      expect(t.constraints).to.equal(16);
    });
  });
});
