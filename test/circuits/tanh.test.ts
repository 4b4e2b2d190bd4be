import { expect } from "chai";

import { BN254_P } from "../../src/circuit/field.js";
import { tanhFixed } from "../../src/runtime/sigmoid.js";
import { CircuitTester } from "../helpers/circuit-tester.js";

/**
 * circuits/lib/tanh.circom against the runtime's tanhFixed (src/runtime/sigmoid.ts,
 * 2·sigmoidFixed(2x) − 2^f): the same integers on every input tried, exhaustively for small
 * settings; range checks at the boundaries; no witness signal that can be changed; the
 * documented cost.
 */

async function both(f: number, b: number): Promise<[CircuitTester, CircuitTester]> {
  return Promise.all([
    // `in` is public so that --O2 cannot substitute it away (see bits.test.ts).
    CircuitTester.fromTemplate({
      file: "tanh.circom",
      template: "TanhPWL",
      params: [f, b],
      publicInputs: ["in"],
    }),
    CircuitTester.fromTemplate({ file: "tanh.circom", template: "TanhPWL", params: [f, b], optimization: 0 }),
  ]);
}

function range(lo: bigint, hi: bigint): bigint[] {
  const out: bigint[] = [];
  for (let v = lo; v <= hi; v++) out.push(v);
  return out;
}

describe("circuits/lib/tanh.circom", () => {
  describe("TanhPWL(8, 16): the setting of a real CNN", () => {
    const F = 8;
    const B = 16;
    const MIN = -(1n << BigInt(B - 1));
    const MAX = (1n << BigInt(B - 1)) - 1n;
    let o2: CircuitTester;
    let o0: CircuitTester;
    before(async () => {
      [o2, o0] = await both(F, B);
    });

    it("agrees with the runtime on every input in [−3, 3] (breakpoints ±0.5, ±1.1875, ±2.5 and beyond)", async () => {
      for (const x of range(-3n << 8n, 3n << 8n)) await o2.expectPass({ in: x }, { out: tanhFixed(x, F) });
    });

    it("agrees with the runtime on every 97th input of the whole signed 16-bit range and at its ends", async () => {
      for (let x = MIN; x <= MAX; x += 97n) await o2.expectPass({ in: x }, { out: tanhFixed(x, F) });
      for (const x of [MIN, MIN + 1n, MAX, MAX - 1n])
        await o2.expectPass({ in: x }, { out: tanhFixed(x, F) });
    });

    it("gives exact values at the breakpoints, is odd and saturates at ±1", async () => {
      await o2.expectPass({ in: 0n }, { out: 0 });
      await o2.expectPass({ in: 128n }, { out: 128 }); // tanh(0.5) ≈ 0.46 → 2·σ(1) − 1 = 0.5
      await o2.expectPass({ in: -128n }, { out: -128 });
      await o2.expectPass({ in: 640n }, { out: 256 }); // 2.5: saturated
      await o2.expectPass({ in: 639n }, { out: tanhFixed(639n, F) });
      await o2.expectPass({ in: -640n }, { out: -256 });
      await o2.expectPass({ in: MAX }, { out: 256 });
      await o2.expectPass({ in: MIN }, { out: -256 });
      for (const x of [1n, 100n, 300n, 500n]) expect(tanhFixed(-x, F)).to.equal(-tanhFixed(x, F));
    });

    it("refuses inputs outside signed 16 bits, including the halves (v + p)/2 a check on 2·in would admit", async () => {
      await o2.expectFail({ in: MAX + 1n });
      await o2.expectFail({ in: MIN - 1n });
      await o2.expectFail({ in: 1n << 200n });
      // (p + 1)/2 doubles to 1: in range for a (b+1)-bit check on 2·in, not for this one
      await o2.expectFail({ in: (BN254_P + 1n) / 2n });
    });

    it("rejects an output off by one, either way, in every segment", async () => {
      for (const x of [0n, 50n, -50n, 200n, -200n, 400n, -400n, 700n, -700n, MIN]) {
        const y = tanhFixed(x, F);
        await o0.expectTamperFails({ in: x }, "out", y + 1n);
        await o0.expectTamperFails({ in: x }, "out", y - 1n);
        await o2.expectTamperFails({ in: x }, "out", y + 1n);
      }
    });

    it("rejects a change of any witness signal, in every segment and both signs", async () => {
      const signals = o0.wiredSignals().filter((s) => s !== "main.in");
      // the hints are the bits of the five Bits components; every other signal derives from them
      expect(signals.filter((s) => s.includes(".bits[")).length).to.equal(2 * B + 3 * F + 12);
      for (const x of [0n, 100n, -100n, 200n, -200n, 400n, -400n, 700n, -700n, MIN]) {
        const w = await o0.witness({ in: x });
        for (const name of signals) {
          const v = o0.read(w, name);
          // a bit flips; any other value moves by one
          await o0.expectTamperFails({ in: x }, name, name.includes(".bits[") ? 1n - v : v + 1n);
        }
      }
    });

    it("rejects a consistent lie about the sign", async () => {
      // −200 claimed non-negative: the magnitude then becomes −200, which no comparison decomposes
      await o0.expectTamperFails(
        { in: -200n },
        { "sign.nonNeg": 1n, "sign.shifted.bits[15]": 1n, a: -200n, out: tanhFixed(200n, F) },
      );
    });

    it("costs exactly the documented 2b + 3f + 17 = 73 constraints", async () => {
      const t = await CircuitTester.fromTemplate({
        file: "tanh.circom",
        template: "TanhPWL",
        params: [F, B],
      });
      expect(t.constraints).to.equal(2 * B + 3 * F + 17);
    });
  });

  describe("TanhPWL(8, 24)", () => {
    it("costs exactly 2b + 3f + 17 = 89 constraints", async () => {
      const t = await CircuitTester.fromTemplate({
        file: "tanh.circom",
        template: "TanhPWL",
        params: [8, 24],
      });
      expect(t.constraints).to.equal(89);
    });
  });

  describe("TanhPWL(4, 10): exhaustive over the whole input range", () => {
    it("agrees with the runtime on all 1024 signed 10-bit inputs and refuses the next ones", async () => {
      const [o2] = await both(4, 10);
      for (const x of range(-512n, 511n)) await o2.expectPass({ in: x }, { out: tanhFixed(x, 4) });
      await o2.expectFail({ in: 512n });
      await o2.expectFail({ in: -513n });
    });
  });

  describe("TanhPWL(1, 5): breakpoints that are not integers at scale 2", () => {
    it("agrees with the runtime on all 32 signed 5-bit inputs", async () => {
      const [o2] = await both(1, 5);
      for (const x of range(-16n, 15n)) await o2.expectPass({ in: x }, { out: tanhFixed(x, 1) });
    });
  });

  describe("TanhPWL(3, 7): the smallest valueBits a tanh layer allows (fracBits + 4)", () => {
    it("agrees with the runtime on all 128 signed 7-bit inputs", async () => {
      const [o2] = await both(3, 7);
      for (const x of range(-64n, 63n)) await o2.expectPass({ in: x }, { out: tanhFixed(x, 3) });
    });
  });
});
