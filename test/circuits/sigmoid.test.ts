import { expect } from "chai";

import { sigmoidFixed } from "../../src/runtime/sigmoid.js";
import { CircuitTester } from "../helpers/circuit-tester.js";

/**
 * circuits/lib/sigmoid.circom against the runtime's sigmoidFixed (src/runtime/sigmoid.ts):
 * the same integers on every input tried, range checks at the boundaries, no witness
 * signal that can be changed, and the documented cost.
 */

async function both(f: number, b: number): Promise<[CircuitTester, CircuitTester]> {
  return Promise.all([
    // `in` is public so that --O2 cannot substitute it away (see bits.test.ts).
    CircuitTester.fromTemplate({
      file: "sigmoid.circom",
      template: "SigmoidPWL",
      params: [f, b],
      publicInputs: ["in"],
    }),
    CircuitTester.fromTemplate({
      file: "sigmoid.circom",
      template: "SigmoidPWL",
      params: [f, b],
      optimization: 0,
    }),
  ]);
}

function range(lo: bigint, hi: bigint): bigint[] {
  const out: bigint[] = [];
  for (let v = lo; v <= hi; v++) out.push(v);
  return out;
}

describe("circuits/lib/sigmoid.circom", () => {
  describe("SigmoidPWL(8, 24): the production setting", () => {
    const F = 8;
    const B = 24;
    const MIN = -(1n << BigInt(B - 1));
    const MAX = (1n << BigInt(B - 1)) - 1n;
    let o2: CircuitTester;
    let o0: CircuitTester;
    before(async () => {
      [o2, o0] = await both(F, B);
    });

    it("agrees with the runtime on every input in [−6, 6] (all breakpoints ±1, ±2.375, ±5 and beyond)", async () => {
      for (const x of range(-6n << 8n, 6n << 8n)) await o2.expectPass({ in: x }, { out: sigmoidFixed(x, F) });
    });

    it("gives exact values at the breakpoints and saturates at 0 and 1", async () => {
      await o2.expectPass({ in: 0n }, { out: 128 }); // 0.5
      await o2.expectPass({ in: 256n }, { out: 192 }); // σ(1) ≈ 0.75
      await o2.expectPass({ in: -256n }, { out: 64 });
      await o2.expectPass({ in: 608n }, { out: 235 }); // 2.375 → 0.918
      await o2.expectPass({ in: 1280n }, { out: 256 }); // 5 → 1
      await o2.expectPass({ in: -1280n }, { out: 0 });
      await o2.expectPass({ in: 1279n }, { out: 255 });
      await o2.expectPass({ in: MAX }, { out: 256 });
      await o2.expectPass({ in: MIN }, { out: 0 });
      await o2.expectPass({ in: MIN + 1n }, { out: 0 });
    });

    it("refuses inputs outside signed 24 bits", async () => {
      await o2.expectFail({ in: MAX + 1n });
      await o2.expectFail({ in: MIN - 1n });
      await o2.expectFail({ in: 1n << 200n });
    });

    it("rejects a change of any witness signal, in every segment and both signs", async () => {
      const signals = o0.wiredSignals().filter((s) => s !== "main.in");
      // the hints are the bits of the five Bits components; every other signal derives from them
      expect(signals.filter((s) => s.includes(".bits[")).length).to.equal(2 * B + 3 * F + 14);
      for (const x of [0n, 100n, -100n, 300n, -300n, 700n, -700n, 1300n, -1300n, MIN]) {
        const w = await o0.witness({ in: x });
        for (const name of signals) {
          const v = o0.read(w, name);
          // a bit flips; any other value moves by one
          await o0.expectTamperFails({ in: x }, name, name.includes(".bits[") ? 1n - v : v + 1n);
        }
      }
    });

    it("rejects a consistent lie about the sign", async () => {
      // −300 claimed non-negative: the magnitude then becomes −300, which no comparison decomposes
      await o0.expectTamperFails(
        { in: -300n },
        { "sign.nonNeg": 1n, "sign.shifted.bits[23]": 1n, a: -300n, out: sigmoidFixed(300n, F) },
      );
    });

    it("costs at most the documented 2b + 3f + 24 = 96 constraints (91 measured)", async () => {
      const documented = 2 * B + 3 * F + 24;
      expect(o2.constraints).to.be.at.most(documented);
      // two b-bit and three f-bit decompositions cannot be cheaper than one constraint per bit
      expect(o2.constraints).to.be.at.least(2 * B + 3 * F);
    });
  });

  describe("SigmoidPWL(4, 10): exhaustive over the whole input range", () => {
    let o2: CircuitTester;
    before(async () => {
      [o2] = await both(4, 10);
    });

    it("agrees with the runtime on all 1024 signed 10-bit inputs and refuses the next ones", async () => {
      for (const x of range(-512n, 511n)) await o2.expectPass({ in: x }, { out: sigmoidFixed(x, 4) });
      await o2.expectFail({ in: 512n });
      await o2.expectFail({ in: -513n });
    });
  });

  describe("SigmoidPWL(1, 5): breakpoints that are not integers at scale 2", () => {
    let o2: CircuitTester;
    before(async () => {
      [o2] = await both(1, 5);
    });

    it("agrees with the runtime on all 32 signed 5-bit inputs (2.375·2 rounds up to 5)", async () => {
      for (const x of range(-16n, 15n)) await o2.expectPass({ in: x }, { out: sigmoidFixed(x, 1) });
      expect(sigmoidFixed(4n, 1)).to.equal(1n); // 2.0: middle segment, floor((16 + 40) / 32)
      expect(sigmoidFixed(5n, 1)).to.equal(1n); // 2.5: outer segment, floor((5 + 54) / 32)
    });
  });
});
