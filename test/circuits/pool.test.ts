import { expect } from "chai";

import { BN254_P, toField } from "../../src/circuit/field.js";
import { prng } from "../../src/data/random.js";
import { type Pads, type Pair, windowOf, type Window, windowTaps } from "../../src/runtime/shapes.js";
import { floorDiv, type QLayer, type QuantizedModel, runQuantized } from "../../src/runtime/fixed.js";
import { bitOverrides, CircuitTester, SignalOverrides } from "../helpers/circuit-tester.js";

/**
 * circuits/lib/pool.circom against the runtime (src/runtime/fixed.ts): MaxPool, FloorDiv and
 * the layer templates MaxPool2d, AvgPool2d and GlobalAvgPool give runQuantized's integers,
 * cost exactly what their headers say, and reject every tampered hint.
 */

const B = 8;
const MIN = -(1n << BigInt(B - 1)); // -128
const MAX = (1n << BigInt(B - 1)) - 1n; // 127

async function both(template: string, params: (number | string)[]): Promise<[CircuitTester, CircuitTester]> {
  return Promise.all([
    // `in` is public so that --O2 cannot substitute it away (see bits.test.ts).
    CircuitTester.fromTemplate({ file: "pool.circom", template, params, publicInputs: ["in"] }),
    CircuitTester.fromTemplate({ file: "pool.circom", template, params, optimization: 0 }),
  ]);
}

/** A model of one image layer, run by the runtime (the schema's dense/conv requirement does not apply here). */
function oneLayer(inputShape: [number, number, number], layer: QLayer, valueBits = B): QuantizedModel {
  return {
    name: "pool",
    inputLength: inputShape[0] * inputShape[1] * inputShape[2],
    inputShape,
    outputLength: 0,
    fracBits: 2,
    valueBits,
    inputBits: valueBits,
    weightBits: valueBits,
    weights: "public",
    layers: [layer],
  };
}

/**
 * The constraints of a template as a layer of a model circuit sees them: --O2 with every input
 * private, so that relations among the inputs and outputs alone fold away (with public inputs, a
 * one-tap window's out = in would stay as a linear constraint between two public signals).
 */
async function costOf(template: string, params: (number | string)[]): Promise<number> {
  return (await CircuitTester.fromTemplate({ file: "pool.circom", template, params })).constraints;
}

function randomValues(rand: () => number, n: number, lo = MIN, hi = MAX): bigint[] {
  return Array.from({ length: n }, () => lo + BigInt(Math.floor(rand() * Number(hi - lo + 1n))));
}

const maxOf = (v: bigint[]): bigint => v.reduce((m, x) => (x > m ? x : m));

/** Circom literals of a window's geometry: C, H, W, KH, KW, [sh, sw], [pt, pl, pb, pr]. */
function geometry(
  shape: [number, number, number],
  kernel: Pair,
  strides: Pair,
  pads: Pads,
): (number | string)[] {
  return [...shape, ...kernel, `[${strides.join(", ")}]`, `[${pads.join(", ")}]`];
}

function windowTapCounts(shape: [number, number, number], kernel: Pair, strides: Pair, pads: Pads): number[] {
  const g = windowOf(shape, kernel, strides, pads) as Window;
  const counts: number[] = [];
  for (let c = 0; c < shape[0]; c++)
    for (let oy = 0; oy < g.outH; oy++)
      for (let ox = 0; ox < g.outW; ox++) counts.push(windowTaps(g, oy, ox).length);
  return counts;
}

/** Bit length of d − 1: FloorDiv's r. */
function remBitsOf(d: number): number {
  let r = 0;
  while (1 << r < d) r++;
  return r;
}

/** The documented cost of a pooling division by d inside AvgPool2d or GlobalAvgPool (0 for d = 1). */
function poolDivCost(d: number, b: number): number {
  return d === 1 ? 0 : floorDivCost(d, b);
}

/** The documented cost of FloorDiv(d, b). */
function floorDivCost(d: number, b: number): number {
  const r = remBitsOf(d);
  return 1 << r === d ? b + r : b + 2 * r;
}

describe("circuits/lib/pool.circom", () => {
  describe("MaxPool(4, 8)", () => {
    let o2: CircuitTester;
    let o0: CircuitTester;
    before(async () => {
      [o2, o0] = await both("MaxPool", [4, B]);
    });

    const cases: [string, bigint[]][] = [
      ["a single maximum in the middle", [1n, 5n, 3n, 2n]],
      ["ties", [5n, 5n, -3n, 5n]],
      ["all equal at the minimum", [MIN, MIN, MIN, MIN]],
      ["all equal at the maximum", [MAX, MAX, MAX, MAX]],
      ["negative values only", [-5n, -3n, MIN, -4n]],
      ["extreme step MIN → MAX", [MIN, MAX, MIN, MIN]],
      ["extreme step MAX → MIN", [MAX, MIN, MIN, MIN]],
      ["maximum last", [-1n, -2n, -3n, 0n]],
    ];
    for (const [name, input] of cases) {
      it(`takes the largest value: ${name}`, async () => {
        await o2.expectPass({ in: input }, { out: maxOf(input) });
      });
    }

    it("agrees with the reference on random inputs, many of them tied", async () => {
      const rand = prng(1);
      for (let k = 0; k < 60; k++) {
        const input = k % 2 === 0 ? randomValues(rand, 4) : randomValues(rand, 4, -3n, 3n);
        await o2.expectPass({ in: input }, { out: maxOf(input) });
      }
    });

    it("rejects a max that is not the max (a smaller input, the comparison lie made consistent)", async () => {
      // honest: best = [1, 5, 5, 5]; the lie says 3 > 5 at step 2, so best = [1, 5, 3, 3]
      await o0.expectTamperFails(
        { in: [1n, 5n, 3n, 2n] },
        { "cmp[2].bits[8]": 1n, "best[2]": 3n, "best[3]": 3n, out: 3n },
      );
      // the lie says 2 is not above 1 at step 1 and carries 1 to the end
      await o0.expectTamperFails(
        { in: [1n, 2n, -5n, -6n] },
        { "cmp[1].bits[8]": 0n, "best[1]": 1n, "best[2]": 1n, "best[3]": 1n, out: 1n },
      );
      await o2.expectTamperFails({ in: [1n, 5n, 3n, 2n] }, "out", 3n);
    });

    it("rejects a max that is not one of the inputs", async () => {
      await o0.expectTamperFails({ in: [1n, 5n, 3n, 2n] }, { "best[3]": 6n, out: 6n });
      await o0.expectTamperFails({ in: [1n, 5n, 3n, 2n] }, { "best[3]": 4n, out: 4n });
      await o2.expectTamperFails({ in: [1n, 5n, 3n, 2n] }, "out", 6n);
    });

    it("rejects every flipped comparison bit and every changed signal", async () => {
      const input = { in: [-3n, 8n, 8n, MIN] };
      const w = await o0.witness(input);
      const signals = o0.wiredSignals().filter((s) => !s.startsWith("main.in["));
      expect(signals.filter((s) => s.includes(".bits[")).length).to.equal(3 * (B + 1));
      for (const name of signals) {
        const v = o0.read(w, name);
        await o0.expectTamperFails(input, name, name.includes(".bits[") ? 1n - v : v + 1n);
      }
    });

    it("rejects every flipped comparison bit in the --O2 build", async () => {
      const input = { in: [-3n, 8n, 8n, MIN] };
      const w = await o2.witness(input);
      const bits = o2.wiredSignals().filter((n) => /\.bits\[\d+\]$/.test(n));
      expect(bits.length).to.be.greaterThan(0);
      for (const name of bits) await o2.expectTamperFails(input, name, 1n - o2.read(w, name));
    });

    it("costs exactly the documented (n − 1)·(b + 2) = 30 constraints", async () => {
      expect(await costOf("MaxPool", [4, B])).to.equal(3 * (B + 2));
    });
  });

  describe("MaxPool(n, 16) costs", () => {
    for (const n of [1, 2, 4, 9]) {
      it(`MaxPool(${n}, 16) costs exactly (n − 1)·18 = ${(n - 1) * 18} constraints`, async () => {
        const t = await CircuitTester.fromTemplate({
          file: "pool.circom",
          template: "MaxPool",
          params: [n, 16],
        });
        expect(t.constraints).to.equal((n - 1) * 18);
        const input = Array.from({ length: n }, (_, i) => BigInt(((i * 7919) % 200) - 100));
        await t.expectPass({ in: input }, { out: maxOf(input) });
      });
    }
  });

  describe("FloorDiv(d, 8)", () => {
    for (const d of [1, 3, 4, 9]) {
      describe(`d = ${d}`, () => {
        let o2: CircuitTester;
        let o0: CircuitTester;
        const D = BigInt(d);
        const r = remBitsOf(d);
        before(async () => {
          [o2, o0] = await both("FloorDiv", [d, B]);
        });

        it("floors every dividend whose quotient is a signed 8-bit value, and refuses one past each end", async () => {
          for (let v = MIN * D; v <= MAX * D + D - 1n; v++)
            await o2.expectPass({ in: v }, { out: floorDiv(v, D) });
          await o2.expectFail({ in: MIN * D - 1n });
          await o2.expectFail({ in: (MAX + 1n) * D });
          await o2.expectFail({ in: 1n << 200n });
          await o2.expectFail({ in: -(1n << 200n) });
        });

        it(`costs exactly the documented ${floorDivCost(d, B)} constraints`, async () => {
          expect(await costOf("FloorDiv", [d, B])).to.equal(floorDivCost(d, B));
        });

        if (d === 1) return;

        /**
         * Overrides that claim quotient q and remainder rem for dividend v, keeping in = q·d + rem
         * in the field and every bit decomposition of rem consistent: only the range checks can
         * catch the lie. The quotient's own range check is recomputed when q is in range; a huge q
         * has no decomposition, so its check keeps the honest values.
         */
        const claim = (v: bigint, q: bigint, rem: bigint): SignalOverrides => {
          const lie: SignalOverrides = { out: q, rem, "remBits.in": rem };
          Object.assign(lie, bitOverrides("remBits.bits", toField(rem), r));
          if (1 << r !== d) {
            lie["remBelow.in"] = D - 1n - rem;
            Object.assign(lie, bitOverrides("remBelow.bits", toField(D - 1n - rem), r));
          }
          if (q >= MIN && q <= MAX) {
            const shifted = q + (1n << BigInt(B - 1));
            lie["outRange.in"] = q;
            lie["outRange.shifted.in"] = shifted;
            lie["outRange.nonNeg"] = q >= 0n ? 1n : 0n;
            Object.assign(lie, bitOverrides("outRange.shifted.bits", shifted, B));
          }
          expect(toField(q * D + rem), "the lie keeps in = out·d + rem").to.equal(toField(v));
          return lie;
        };

        it("rejects the quotient ± 1 with the remainder adjusted (in = out·d + rem kept)", async () => {
          for (const v of [20n, -1n, -20n, 0n, MAX * D - 1n, MIN * D + D]) {
            const q = floorDiv(v, D);
            await o0.expectTamperFails({ in: v }, claim(v, q + 1n, v - (q + 1n) * D));
            await o0.expectTamperFails({ in: v }, claim(v, q - 1n, v - (q - 1n) * D));
            await o2.expectTamperFails({ in: v }, o2.wiredOnly(claim(v, q + 1n, v - (q + 1n) * D)));
          }
        });

        it("rejects a huge quotient (the field element (in − rem)/d) with a remainder in range", async () => {
          const inverse = modInverse(D);
          for (const v of [20n, -20n]) {
            const honest = v - floorDiv(v, D) * D;
            for (let rem = 0n; rem < D; rem++) {
              if (rem === honest) continue;
              const q = (toField(v - rem) * inverse) % BN254_P;
              await o0.expectTamperFails({ in: v }, claim(v, q, rem));
            }
          }
        });

        if (1 << r !== d)
          it("rejects a remainder of d or more that still fits its r bits", async () => {
            // 20 = 2·d + 2 for d = 9: the lie 1·9 + 11 has 11 < 16 = 2^r, caught by d − 1 − rem ≥ 0
            await o0.expectTamperFails(
              { in: 20n },
              claim(20n, floorDiv(20n, D) - 1n, 20n - (floorDiv(20n, D) - 1n) * D),
            );
          });

        it("rejects every flipped bit and every changed signal", async () => {
          for (const v of [20n, -17n, MIN * D]) {
            const w = await o0.witness({ in: v });
            for (const name of o0.wiredSignals().filter((s) => s !== "main.in")) {
              const x = o0.read(w, name);
              await o0.expectTamperFails({ in: v }, name, name.includes(".bits[") ? 1n - x : x + 1n);
            }
          }
        });
      });
    }

    it("FloorDiv(d, 16) costs b + r for a power of two and b + 2r otherwise", async () => {
      for (const d of [4, 16, 49]) {
        expect(await costOf("FloorDiv", [d, 16]), `FloorDiv(${d}, 16)`).to.equal(floorDivCost(d, 16));
      }
    });
  });

  describe("MaxPool2d and AvgPool2d against the runtime's pool", () => {
    const layouts: { shape: [number, number, number]; kernel: Pair; strides: Pair; pads: Pads }[] = [
      { shape: [2, 5, 5], kernel: [2, 2], strides: [2, 2], pads: [0, 0, 1, 1] },
      { shape: [1, 4, 5], kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] },
      { shape: [2, 3, 4], kernel: [2, 3], strides: [1, 2], pads: [1, 0, 0, 2] },
    ];
    for (const { shape, kernel, strides, pads } of layouts) {
      const label = `[${shape.join(", ")}], kernel ${kernel.join("×")}, strides [${strides.join(", ")}], pads [${pads.join(", ")}]`;
      const n = shape[0] * shape[1] * shape[2];
      const counts = windowTapCounts(shape, kernel, strides, pads);

      it(`MaxPool2d ${label}: runQuantized's maxpool, at Σ (taps − 1)·(b + 2) constraints`, async () => {
        const t = await CircuitTester.fromTemplate({
          file: "pool.circom",
          template: "MaxPool2d",
          params: [...geometry(shape, kernel, strides, pads), B],
        });
        expect(t.constraints).to.equal(counts.reduce((s, c) => s + (c - 1) * (B + 2), 0));
        const model = oneLayer(shape, { type: "maxpool", kernel, strides, pads });
        const rand = prng(n);
        const inputs = [
          Array<bigint>(n).fill(MIN), // padding never wins, even over the minimum
          Array<bigint>(n).fill(MAX),
          ...Array.from({ length: 30 }, () => randomValues(rand, n)),
        ];
        for (const x of inputs) await t.expectPass({ in: x }, { out: runQuantized(model, x).output });
      });

      for (const includePad of [false, true]) {
        it(`AvgPool2d ${label}${includePad ? ", countIncludePad" : ""}: runQuantized's avgpool, at Σ FloorDiv(count) constraints`, async () => {
          const t = await CircuitTester.fromTemplate({
            file: "pool.circom",
            template: "AvgPool2d",
            params: [...geometry(shape, kernel, strides, pads), includePad ? 1 : 0, B],
          });
          const area = kernel[0] * kernel[1];
          expect(t.constraints).to.equal(
            counts.reduce((s, c) => s + poolDivCost(includePad ? area : c, B), 0),
          );
          const model = oneLayer(shape, {
            type: "avgpool",
            kernel,
            strides,
            pads,
            countIncludePad: includePad,
          });
          const rand = prng(n + 1);
          const inputs = [
            Array<bigint>(n).fill(MIN),
            Array<bigint>(n).fill(MAX),
            Array<bigint>(n).fill(-1n),
            ...Array.from({ length: 30 }, () => randomValues(rand, n)),
          ];
          for (const x of inputs) await t.expectPass({ in: x }, { out: runQuantized(model, x).output });
        });
      }
    }

    it("AvgPool2d rejects a tampered quotient inside the layer (--O0)", async () => {
      const shape: [number, number, number] = [1, 3, 3];
      const t = await CircuitTester.fromTemplate({
        file: "pool.circom",
        template: "AvgPool2d",
        params: [...geometry(shape, [2, 2], [1, 1], [0, 0, 0, 0]), 0, B],
        optimization: 0,
      });
      const x = [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, -9n];
      const w = await t.expectPass({ in: x }, { out: [3, 4, 6, 2] });
      // window (1, 1): 5 + 6 + 8 − 9 = 10 = 2·4 + 2; the lie 3·4 − 2 breaks the remainder's range
      expect(t.read(w, "div[3].rem")).to.equal(2n);
      await t.expectTamperFails({ in: x }, { "div[3].out": 3n, "div[3].rem": -2n, "out[3]": 3n });
      await t.expectTamperFails({ in: x }, "out[3]", 3n);
    });

    it("MaxPool2d rejects a tampered max inside the layer (--O0)", async () => {
      const shape: [number, number, number] = [1, 3, 3];
      const t = await CircuitTester.fromTemplate({
        file: "pool.circom",
        template: "MaxPool2d",
        params: [...geometry(shape, [2, 2], [1, 1], [0, 0, 0, 0]), B],
        optimization: 0,
      });
      const x = [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, -9n];
      await t.expectPass({ in: x }, { out: [5, 6, 8, 8] });
      await t.expectTamperFails({ in: x }, { "pool[3].best[3]": 6n, "pool[3].out": 6n, "out[3]": 6n });
      await t.expectTamperFails({ in: x }, "out[0]", 4n);
    });
  });

  describe("GlobalAvgPool", () => {
    for (const [c, h, w] of [
      [3, 4, 4],
      [2, 7, 7],
      [1, 1, 1],
    ] as const) {
      it(`GlobalAvgPool(${c}, ${h * w}, 8): runQuantized's globalavgpool, at C·FloorDiv(H·W) constraints`, async () => {
        const t = await CircuitTester.fromTemplate({
          file: "pool.circom",
          template: "GlobalAvgPool",
          params: [c, h * w, B],
        });
        expect(t.constraints).to.equal(c * poolDivCost(h * w, B));
        const model = oneLayer([c, h, w], { type: "globalavgpool" });
        const n = c * h * w;
        const rand = prng(n);
        const inputs = [
          Array<bigint>(n).fill(MIN),
          Array<bigint>(n).fill(MAX),
          ...Array.from({ length: 30 }, () => randomValues(rand, n)),
        ];
        for (const x of inputs) await t.expectPass({ in: x }, { out: runQuantized(model, x).output });
      });
    }

    it("costs exactly 16 + 2·6 = 28 constraints per channel of a 7×7 image at b = 16", async () => {
      const t = await CircuitTester.fromTemplate({
        file: "pool.circom",
        template: "GlobalAvgPool",
        params: [2, 49, 16],
      });
      expect(t.constraints).to.equal(2 * 28);
    });
  });
});

/** d^−1 mod p (p is prime). */
function modInverse(d: bigint): bigint {
  let [result, base, e] = [1n, toField(d), BN254_P - 2n];
  while (e > 0n) {
    if (e & 1n) result = (result * base) % BN254_P;
    base = (base * base) % BN254_P;
    e >>= 1n;
  }
  return result;
}
