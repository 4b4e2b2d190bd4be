import { expect } from "chai";

import { CircuitTester } from "../helpers/circuit-tester.js";

// The weights of test/circuits/fixtures/tiny-model.circom, and an independent reference of
// the integer semantics in docs/protocol.md.
const F = 4n;
const B = 12n;
const W1 = [
  [16n, -8n, 3n],
  [-5n, 20n, 7n],
  [0n, 11n, -16n],
  [9n, 9n, 9n],
];
const B1 = [40n, -300n, 128n, -1000n];
const W2 = [
  [12n, -3n, 5n, 1n],
  [-7n, 14n, 2n, 6n],
  [4n, 4n, -9n, 10n],
];
const B2 = [-64n, 256n, 0n];

class Overflow extends Error {}

function rescale(acc: bigint): bigint {
  const scale = 1n << F;
  const q = acc / scale;
  const y = acc < 0n && q * scale !== acc ? q - 1n : q;
  if (y < -(1n << (B - 1n)) || y >= 1n << (B - 1n)) throw new Overflow(`${acc} overflows`);
  return y;
}

function dense(w: bigint[][], b: bigint[], x: bigint[]): bigint[] {
  return w.map((row, o) => row.reduce((acc, wi, i) => acc + wi * x[i], b[o]));
}

function reference(x: bigint[]): { label: number; logits: bigint[] } {
  const h = dense(W1, B1, x).map((a) => {
    const y = rescale(a);
    return y > 0n ? y : 0n;
  });
  const logits = dense(W2, B2, h).map(rescale);
  let label = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[label]) label = i;
  return { label, logits };
}

describe("circuits/lib composed: a tiny 3 → 4 → 3 classifier (--O2)", () => {
  let t: CircuitTester;
  before(async () => {
    t = await CircuitTester.fromTemplate({ file: "tiny-model.circom", template: "TinyModel", params: [] });
  });

  it("matches the TypeScript reference on pseudo-random inputs", async () => {
    let seed = 7n;
    let checked = 0;
    for (let k = 0; k < 60; k++) {
      const x = [0, 1, 2].map(() => {
        seed = (seed * 6364136223846793005n + 1442695040888963407n) % (1n << 64n);
        return ((seed >> 33n) % 200n) - 100n;
      });
      let expected: { label: number; logits: bigint[] };
      try {
        expected = reference(x);
      } catch (err) {
        if (!(err instanceof Overflow)) throw err;
        await t.expectFail({ x });
        continue;
      }
      await t.expectPass({ x }, { label: expected.label, logits: expected.logits });
      checked++;
    }
    expect(checked).to.be.greaterThan(40);
  });

  it("refuses an input whose hidden activation overflows signed 12 bits", async () => {
    const x = [2047n, -2048n, 2047n];
    expect(() => reference(x)).to.throw(Overflow);
    await t.expectFail({ x });
  });

  it("refuses an input outside signed 12 bits", async () => {
    await t.expectFail({ x: [2048n, 0n, 0n] });
  });

  it("rejects a different label or logit", async () => {
    const x = [10n, -20n, 30n];
    const { label, logits } = reference(x);
    await t.expectTamperFails({ x }, "label", (label + 1) % 3);
    await t.expectTamperFails({ x }, "logits[0]", logits[0] + 1n);
  });
});
