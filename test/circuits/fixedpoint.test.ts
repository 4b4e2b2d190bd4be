import { expect } from "chai";

import { bitOverrides, CircuitTester, SignalOverrides } from "../helpers/circuit-tester.js";

const F = 4;
const B = 8;
const SCALE = 1n << BigInt(F);
const MAX = (1n << BigInt(B - 1)) - 1n; // 127
const MIN = -(1n << BigInt(B - 1)); // -128

async function both(template: string): Promise<[CircuitTester, CircuitTester]> {
  return Promise.all([
    // `in` is public so that --O2 cannot substitute it away (see bits.test.ts).
    CircuitTester.fromTemplate({ file: "fixedpoint.circom", template, params: [F, B], publicInputs: ["in"] }),
    CircuitTester.fromTemplate({ file: "fixedpoint.circom", template, params: [F, B], optimization: 0 }),
  ]);
}

/** floor(v / 2^F) towards −∞, the reference semantics of docs/protocol.md. */
function floorDiv(v: bigint): bigint {
  const q = v / SCALE;
  return v < 0n && q * SCALE !== v ? q - 1n : q;
}

/**
 * Overrides that make a Rescale witness claim quotient `q` for input `v` while keeping
 * every signal except the remainder's bits consistent with that claim: the remainder is
 * re-derived as v − q·2^f and the quotient's range check is recomputed. This is the lie an
 * `assert`-only remainder check would accept.
 */
function claimQuotient(prefix: string, v: bigint, q: bigint): SignalOverrides {
  const shifted = q + (1n << BigInt(B - 1));
  return {
    [`${prefix}out`]: q,
    [`${prefix}nonNeg`]: q >= 0n ? 1n : 0n,
    [`${prefix}remBits.in`]: v - q * SCALE,
    [`${prefix}outRange.in`]: q,
    [`${prefix}outRange.nonNeg`]: q >= 0n ? 1n : 0n,
    [`${prefix}outRange.shifted.in`]: shifted,
    ...bitOverrides(`${prefix}outRange.shifted.bits`, shifted, B),
  };
}

describe("circuits/lib/fixedpoint.circom", () => {
  describe("Rescale(4, 8)", () => {
    let o2: CircuitTester;
    let o0: CircuitTester;
    before(async () => {
      [o2, o0] = await both("Rescale");
    });

    it("floors negative accumulators towards -infinity", async () => {
      await o2.expectPass({ in: -1n }, { out: -1, nonNeg: 0 });
      await o2.expectPass({ in: -15n }, { out: -1, nonNeg: 0 });
      await o2.expectPass({ in: -16n }, { out: -1, nonNeg: 0 });
      await o2.expectPass({ in: -17n }, { out: -2, nonNeg: 0 });
      await o2.expectPass({ in: -100n }, { out: -7, nonNeg: 0 });
    });

    it("leaves the matching remainder: -1 = -1·16 + 15, -17 = -2·16 + 15, -16 = -1·16 + 0", async () => {
      for (const [v, rem] of [
        [-1n, 15n],
        [-17n, 15n],
        [-16n, 0n],
        [33n, 1n],
      ]) {
        const w = await o0.expectPass({ in: v }, { out: floorDiv(v) });
        if (o0.read(w, "remBits.in") !== rem) throw new Error(`remainder of ${v} is not ${rem}`);
      }
    });

    it("divides non-negative values and exact multiples of 2^f", async () => {
      await o2.expectPass({ in: 0n }, { out: 0, nonNeg: 1 });
      await o2.expectPass({ in: 15n }, { out: 0, nonNeg: 1 });
      await o2.expectPass({ in: 16n }, { out: 1, nonNeg: 1 });
      await o2.expectPass({ in: 17n }, { out: 1, nonNeg: 1 });
      await o2.expectPass({ in: 32n }, { out: 2, nonNeg: 1 });
      await o2.expectPass({ in: -32n }, { out: -2, nonNeg: 0 });
      await o2.expectPass({ in: 1024n }, { out: 64, nonNeg: 1 });
    });

    it("matches the reference on every accumulator whose quotient is in range", async () => {
      for (let v = MIN * SCALE; v <= MAX * SCALE + SCALE - 1n; v += 7n) {
        await o2.expectPass({ in: v }, { out: floorDiv(v), nonNeg: v >= 0n ? 1 : 0 });
      }
    });

    it("accepts quotients at the range edges and rejects one past each", async () => {
      await o2.expectPass({ in: MAX * SCALE }, { out: MAX }); // 2032
      await o2.expectPass({ in: MAX * SCALE + SCALE - 1n }, { out: MAX }); // 2047
      await o2.expectFail({ in: (MAX + 1n) * SCALE }); // 2048 → 128
      await o2.expectPass({ in: MIN * SCALE }, { out: MIN }); // -2048
      await o2.expectFail({ in: MIN * SCALE - 1n }); // -2049 → -129
      await o2.expectFail({ in: 1n << 200n });
      await o2.expectFail({ in: -(1n << 200n) });
    });

    it("rejects a changed quotient (out is the <-- hint)", async () => {
      await o0.expectTamperFails({ in: 100n }, "out", 7n);
      await o0.expectTamperFails({ in: -17n }, "out", -1n);
    });

    it("rejects the classic lie out + 1, rem - 2^f with everything else consistent", async () => {
      for (const v of [100n, -1n, -17n, 0n, MAX * SCALE - 1n]) {
        await o0.expectTamperFails({ in: v }, claimQuotient("", v, floorDiv(v) + 1n));
        await o0.expectTamperFails({ in: v }, claimQuotient("", v, floorDiv(v) - 1n));
      }
    });

    it("rejects a changed quotient that keeps the honest remainder and its bits", async () => {
      // Only the link in = out·2^f + rem can catch this one.
      for (const v of [100n, -1n, -17n]) {
        const lie = claimQuotient("", v, floorDiv(v) + 1n);
        delete lie["remBits.in"];
        await o0.expectTamperFails({ in: v }, lie);
      }
    });

    it("rejects the same lies in the --O2 build (on the signals that keep a wire there)", async () => {
      for (const v of [100n, -1n, -17n]) {
        await o2.expectTamperFails({ in: v }, o2.wiredOnly(claimQuotient("", v, floorDiv(v) + 1n)));
        await o2.expectTamperFails({ in: v }, o2.wiredOnly(claimQuotient("", v, floorDiv(v) - 1n)));
      }
    });

    it("rejects every flipped hint bit in the --O2 build", async () => {
      const w = await o2.witness({ in: -17n });
      const bits = o2.wiredSignals().filter((n) => /\.bits\[\d+\]$/.test(n));
      expect(bits.length).to.be.greaterThan(0);
      for (const name of bits) await o2.expectTamperFails({ in: -17n }, name, 1n - o2.read(w, name));
    });

    it("rejects a flipped sign output", async () => {
      await o0.expectTamperFails({ in: -17n }, "nonNeg", 1n);
      await o0.expectTamperFails({ in: 17n }, "nonNeg", 0n);
    });

    it("rejects an ill-formed remainder bit", async () => {
      // 18 = 1·16 + 2: remainder bits [0, 1, 0, 0]; the lie [2, 0, 0, 0] keeps the sum.
      await o0.expectTamperFails({ in: 18n }, { "remBits.bits[0]": 2n, "remBits.bits[1]": 0n });
    });
  });

  describe("RescaleReLU(4, 8)", () => {
    let o2: CircuitTester;
    let o0: CircuitTester;
    before(async () => {
      [o2, o0] = await both("RescaleReLU");
    });

    it("computes max(0, floor(in / 2^f))", async () => {
      await o2.expectPass({ in: 0n }, { out: 0 });
      await o2.expectPass({ in: 15n }, { out: 0 });
      await o2.expectPass({ in: 16n }, { out: 1 });
      await o2.expectPass({ in: 33n }, { out: 2 });
      await o2.expectPass({ in: -1n }, { out: 0 });
      await o2.expectPass({ in: -17n }, { out: 0 });
    });

    it("range-checks the quotient exactly like Rescale", async () => {
      await o2.expectPass({ in: MAX * SCALE + SCALE - 1n }, { out: MAX });
      await o2.expectFail({ in: (MAX + 1n) * SCALE });
      await o2.expectPass({ in: MIN * SCALE }, { out: 0 });
      await o2.expectFail({ in: MIN * SCALE - 1n });
    });

    it("rejects a changed output", async () => {
      await o0.expectTamperFails({ in: 33n }, "out", 0n);
      await o0.expectTamperFails({ in: -33n }, "out", -3n);
      await o2.expectTamperFails({ in: 33n }, "out", 3n);
    });

    it("rejects the rescale lie out + 1, rem - 2^f inside the fused template", async () => {
      await o0.expectTamperFails({ in: 33n }, { ...claimQuotient("rescale.", 33n, 3n), out: 3n });
    });

    it("rejects a positive value passed off as negative (output forced to 0)", async () => {
      await o0.expectTamperFails(
        { in: 33n },
        {
          out: 0n,
          "rescale.nonNeg": 0n,
          "rescale.outRange.nonNeg": 0n,
          "rescale.outRange.shifted.bits[7]": 0n,
        },
      );
    });
  });
});
