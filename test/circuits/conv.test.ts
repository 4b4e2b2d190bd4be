import { expect } from "chai";

import { prng } from "../../src/data/random.js";
import { type Pads, type Pair, windowOf, type Window, windowTaps } from "../../src/runtime/shapes.js";
import { type QConv2d, type QuantizedModel, runQuantized } from "../../src/runtime/fixed.js";
import { CircuitTester } from "../helpers/circuit-tester.js";

/**
 * circuits/lib/conv.circom: Conv2d's accumulators against an independent reference built on
 * shapes.ts's window geometry, their rescale against runQuantized's conv2d, the cost (linear
 * only: nothing left after --O2 once a rescale consumes the outputs) and a tampered output.
 */

type Kernel = bigint[][][][];

interface ConvCase {
  label: string;
  shape: [number, number, number];
  outC: number;
  kernel: Pair;
  strides: Pair;
  pads: Pads;
}

const CASES: ConvCase[] = [
  {
    label: "3×2 kernel, strides [2, 1], pads [1, 0, 1, 1]",
    shape: [2, 4, 5],
    outC: 3,
    kernel: [3, 2],
    strides: [2, 1],
    pads: [1, 0, 1, 1],
  },
  {
    label: "3×3 kernel, stride 2, pads on every side",
    shape: [1, 6, 6],
    outC: 2,
    kernel: [3, 3],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
  },
  {
    label: "1×1 kernel (a per-pixel dense layer)",
    shape: [3, 2, 3],
    outC: 2,
    kernel: [1, 1],
    strides: [1, 1],
    pads: [0, 0, 0, 0],
  },
  {
    label: "a kernel as large as the image (one output per channel)",
    shape: [2, 3, 3],
    outC: 2,
    kernel: [3, 3],
    strides: [1, 1],
    pads: [0, 0, 0, 0],
  },
];

function randomKernel(rand: () => number, c: ConvCase): { weights: Kernel; bias: bigint[] } {
  const int = (span: number) => BigInt(Math.floor((rand() * 2 - 1) * span));
  const weights = Array.from({ length: c.outC }, () =>
    Array.from({ length: c.shape[0] }, () =>
      Array.from({ length: c.kernel[0] }, () => Array.from({ length: c.kernel[1] }, () => int(200))),
    ),
  );
  return { weights, bias: Array.from({ length: c.outC }, () => int(5000)) };
}

/** Σ w·x + bias over the in-image taps, straight from shapes.ts's windowTaps. */
function accumulators(c: ConvCase, weights: Kernel, bias: bigint[], x: bigint[]): bigint[] {
  const g = windowOf(c.shape, c.kernel, c.strides, c.pads) as Window;
  const [inC, h, w] = c.shape;
  const out: bigint[] = [];
  for (let oc = 0; oc < c.outC; oc++)
    for (let oy = 0; oy < g.outH; oy++)
      for (let ox = 0; ox < g.outW; ox++) {
        let acc = bias[oc];
        for (const { ky, kx, at } of windowTaps(g, oy, ox))
          for (let ic = 0; ic < inC; ic++) acc += weights[oc][ic][ky][kx] * x[ic * h * w + at];
        out.push(acc);
      }
  return out;
}

function params(c: ConvCase, weights: Kernel, bias: bigint[]): (number | string)[] {
  const lit = (v: unknown): string => (Array.isArray(v) ? `[${v.map(lit).join(", ")}]` : String(v));
  return [...c.shape, c.outC, ...c.kernel, lit(c.strides), lit(c.pads), lit(weights), lit(bias)];
}

function outputCount(c: ConvCase): number {
  const g = windowOf(c.shape, c.kernel, c.strides, c.pads) as Window;
  return c.outC * g.outH * g.outW;
}

function convModel(c: ConvCase, layer: QConv2d, valueBits: number, relu: boolean): QuantizedModel {
  return {
    name: "conv",
    inputLength: c.shape[0] * c.shape[1] * c.shape[2],
    inputShape: c.shape,
    outputLength: 0,
    fracBits: 8,
    valueBits,
    inputBits: valueBits,
    weightBits: valueBits,
    weights: "public",
    layers: relu ? [layer, { type: "relu" }] : [layer],
  };
}

describe("circuits/lib/conv.circom", () => {
  for (const [k, c] of CASES.entries()) {
    describe(`Conv2d: ${c.label}`, () => {
      const rand = prng(100 + k);
      const { weights, bias } = randomKernel(rand, c);
      const n = c.shape[0] * c.shape[1] * c.shape[2];
      let o2: CircuitTester;
      let o0: CircuitTester;
      before(async () => {
        [o2, o0] = await Promise.all(
          ([2, 0] as const).map((optimization) =>
            CircuitTester.fromTemplate({
              file: "conv.circom",
              template: "Conv2d",
              params: params(c, weights, bias),
              optimization,
            }),
          ),
        );
      });

      it("computes bias + Σ w·x over the in-image taps, exactly, for random and extreme inputs", async () => {
        const inputs = [
          Array<bigint>(n).fill(0n),
          Array<bigint>(n).fill(-(1n << 23n)),
          Array<bigint>(n).fill((1n << 23n) - 1n),
          ...Array.from({ length: 20 }, () =>
            Array.from({ length: n }, () => BigInt(Math.floor((rand() * 2 - 1) * 4096))),
          ),
        ];
        for (const x of inputs) await o2.expectPass({ in: x }, { out: accumulators(c, weights, bias, x) });
      });

      it("rescaled, gives runQuantized's conv2d output", async () => {
        const layer: QConv2d = {
          type: "conv2d",
          weightFracBits: 6,
          weights,
          bias,
          strides: c.strides,
          pads: c.pads,
        };
        const model = convModel(c, layer, 40, false);
        for (let i = 0; i < 10; i++) {
          const x = Array.from({ length: n }, () => BigInt(Math.floor((rand() * 2 - 1) * 4096)));
          const w = await o2.witness({ in: x });
          const acc = Array.from({ length: outputCount(c) }, (_, o) => o2.read(w, `out[${o}]`));
          expect(acc.map((a) => a >> 6n)).to.deep.equal(runQuantized(model, x).output);
        }
      });

      it("is one linear constraint per output and no multiplication", async () => {
        expect(o0.constraints).to.equal(outputCount(c));
        expect(o2.constraints).to.be.at.most(outputCount(c));
      });

      it("binds every output to the inputs (a changed accumulator violates the r1cs)", async () => {
        const x = Array.from({ length: n }, (_, i) => BigInt(i * 37 - 100));
        const expected = accumulators(c, weights, bias, x);
        for (let o = 0; o < expected.length; o++)
          await o0.expectTamperFails({ in: x }, `out[${o}]`, expected[o] + 1n);
      });
    });
  }

  describe("Conv2d → RescaleReLU, as the generated circuits compose them (f = 8, b = 16)", () => {
    const c = CASES[1];
    const { weights, bias } = randomKernel(prng(7), c);
    const N = outputCount(c);
    const source = [
      "pragma circom 2.1.0;",
      'include "conv.circom";',
      'include "fixedpoint.circom";',
      "template ConvRelu() {",
      `    signal input in[${c.shape[0] * c.shape[1] * c.shape[2]}];`,
      `    signal output out[${N}];`,
      `    component conv = Conv2d(${params(c, weights, bias).join(", ")});`,
      "    conv.in <== in;",
      `    component scale[${N}];`,
      `    for (var o = 0; o < ${N}; o++) {`,
      "        scale[o] = RescaleReLU(8, 16);",
      "        scale[o].in <== conv.out[o];",
      "        out[o] <== scale[o].out;",
      "    }",
      "}",
      "component main = ConvRelu();",
      "",
    ].join("\n");
    let t: CircuitTester;
    before(async () => {
      t = await CircuitTester.fromSource("convrelu", "Conv2d → RescaleReLU(8, 16) --O2", source);
    });

    it("costs exactly f + b + 1 = 25 constraints per output: the convolution itself is free", async () => {
      expect(t.constraints).to.equal(N * 25);
    });

    it("gives runQuantized's conv2d → relu, and refuses an input whose conv output overflows 16 bits", async () => {
      const layer: QConv2d = {
        type: "conv2d",
        weightFracBits: 8,
        weights,
        bias,
        strides: c.strides,
        pads: c.pads,
      };
      const model = convModel(c, layer, 16, true);
      const rand = prng(8);
      let refused = 0;
      for (let i = 0; i < 30; i++) {
        const span = i < 20 ? 200 : 20000;
        const x = Array.from({ length: 36 }, () => BigInt(Math.floor((rand() * 2 - 1) * span)));
        let expected: bigint[];
        try {
          expected = runQuantized(model, x).output;
        } catch {
          await t.expectFail({ in: x });
          refused++;
          continue;
        }
        await t.expectPass({ in: x }, { out: expected });
      }
      expect(refused).to.be.within(1, 29);
    });
  });
});
