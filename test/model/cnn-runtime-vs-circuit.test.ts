import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { generateCircuit, layerOutputSignals } from "../../src/circuit/generate.js";
import { circuitInputFor } from "../../src/circuit/inputs.js";
import { prng } from "../../src/data/random.js";
import { FixedPointRangeError, ModelFormatError } from "../../src/errors.js";
import { loadModel } from "../../src/model/load.js";
import { modelHash, quantizeModel } from "../../src/model/quantize.js";
import { CIRCUIT_MODELS_DIR, PROJECT_ROOT } from "../../src/paths.js";
import { parseModel } from "../../src/model/schema.js";
import { type QLayer, type QuantizedModel, runQuantized, signedRange } from "../../src/runtime/fixed.js";
import { CircuitTester } from "../helpers/circuit-tester.js";

/**
 * The image layers end to end: small convolutional models with random weights are generated
 * (src/circuit/generate.ts), compiled with circom --O2 like every model circuit, and run on
 * random and boundary inputs. For every input the witness must carry exactly the integers of
 * runQuantized, layer by layer, or (when an activation overflows) no witness may exist.
 */

const REQUEST_ID = "0x0c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee0";

type Rand = () => number;

/** A weight in [−scale, scale] on a 1/64 grid, so quantization at 2^6 is exact. */
function weight(rand: Rand, scale: number): number {
  return Math.round((rand() * 2 - 1) * scale * 64) / 64;
}
function conv(rand: Rand, outC: number, inC: number, k: number, scale: number, geometry: object): object {
  const kernel = () => Array.from({ length: k }, () => Array.from({ length: k }, () => weight(rand, scale)));
  return {
    type: "conv2d",
    weights: Array.from({ length: outC }, () => Array.from({ length: inC }, kernel)),
    bias: Array.from({ length: outC }, () => weight(rand, 1)),
    ...geometry,
  };
}
function dense(rand: Rand, out: number, inputs: number, scale: number): object {
  return {
    type: "dense",
    weights: Array.from({ length: out }, () => Array.from({ length: inputs }, () => weight(rand, scale))),
    bias: Array.from({ length: out }, () => weight(rand, 0.5)),
  };
}

/**
 * conv2d (stride 2, padding) → relu (fused) → maxpool (padding) → conv2d → avgpool (padding
 * left out of the count) → add (layer 1's output: the fused relu's, signal l0) → tanh →
 * globalavgpool → dense → argmax.
 */
function cnnMix(): QuantizedModel {
  const rand = prng(7);
  return quantizeModel(
    parseModel({
      format: "sibyl-model/1",
      name: "cnn_mix",
      inputLength: 2 * 7 * 7,
      inputShape: [2, 7, 7],
      quantization: { fracBits: 6, valueBits: 14, inputBits: 12 },
      layers: [
        conv(rand, 3, 2, 3, 1, { strides: [2, 2], pads: [1, 1, 1, 1] }),
        { type: "relu" },
        { type: "maxpool", kernel: [2, 2], pads: [0, 0, 1, 1] },
        conv(rand, 3, 3, 3, 0.25, { pads: [1, 1, 1, 1] }),
        { type: "avgpool", kernel: [3, 3], pads: [1, 1, 1, 1] },
        { type: "add", from: 1 },
        { type: "tanh" },
        { type: "globalavgpool" },
        dense(rand, 4, 3, 1),
        { type: "argmax" },
      ],
    }),
  );
}

/**
 * conv2d → relu whose pre-relu output an add reads (split: Rescale, then the sign bit) → add
 * (layer 0) → add (the input) → avgpool (countIncludePad) → maxpool (stride 2, padding) →
 * sigmoid → dense → relu (fused) → dense → argmax.
 */
function cnnSplit(): QuantizedModel {
  const rand = prng(11);
  return quantizeModel(
    parseModel({
      format: "sibyl-model/1",
      name: "cnn_split",
      inputLength: 2 * 5 * 5,
      inputShape: [2, 5, 5],
      quantization: { fracBits: 6, valueBits: 14, inputBits: 12 },
      layers: [
        conv(rand, 2, 2, 3, 0.8, { pads: [1, 1, 1, 1] }),
        { type: "relu" },
        { type: "add", from: 0 },
        { type: "add", from: -1 },
        { type: "avgpool", kernel: [2, 2], pads: [1, 1, 0, 0], countIncludePad: true },
        { type: "maxpool", kernel: [2, 2], strides: [2, 2], pads: [0, 0, 1, 1] },
        { type: "sigmoid" },
        dense(rand, 4, 18, 1),
        { type: "relu" },
        dense(rand, 3, 4, 1),
        { type: "argmax" },
      ],
    }),
  );
}

/** Random inputs of three magnitudes (±2, ±8 and ±32 real), then the boundaries of the range. */
function inputsFor(model: QuantizedModel, count: number, seed: number): bigint[][] {
  const rand = prng(seed);
  const n = model.inputLength;
  const { min, max } = signedRange(model.inputBits);
  const out: bigint[][] = [];
  for (let k = 0; k < count; k++) {
    const span = [128, 512, 2048][k % 3];
    out.push(Array.from({ length: n }, () => BigInt(Math.floor((rand() * 2 - 1) * span))));
  }
  for (const v of [0n, 1n, -1n, min, max, min + 1n, max - 1n]) out.push(Array<bigint>(n).fill(v));
  out.push(Array.from({ length: n }, (_, i) => (i % 2 === 0 ? min : max)));
  out.push(Array.from({ length: n }, (_, i) => (i % 3 === 0 ? max : 0n)));
  return out;
}

/**
 * The runtime-vs-witness check of one model on the production (--O2) build and on the --O0
 * build of the same source, in which every signal keeps a wire (--O2 substitutes some layer
 * signals into their neighbours): every value of every layer is compared there.
 */
async function compareOnInputs(
  builds: Builds,
  model: QuantizedModel,
  signals: (string | undefined)[],
  inputs: bigint[][],
): Promise<{ agreed: number; overflowed: number; compared: number[]; expected: number[] }> {
  const classes = classesOf(model);
  const compared = model.layers.map(() => 0);
  const expected = model.layers.map(() => 0);
  let agreed = 0;
  let overflowed = 0;
  for (const [k, x] of inputs.entries()) {
    let run;
    try {
      run = runQuantized(model, x);
    } catch (e) {
      expect(e).to.be.instanceOf(FixedPointRangeError);
      // No output at all can make the circuit accept an input whose activations overflow.
      for (let guess = 0n; guess < BigInt(classes); guess++)
        for (const t of [builds.o2, builds.o0])
          await expectNoWitness(t, circuitInputFor(model, REQUEST_ID, x, [guess]));
      overflowed++;
      continue;
    }
    const input = circuitInputFor(model, REQUEST_ID, x, run.output);
    const [w2, w0] = [await builds.o2.witness(input), await builds.o0.witness(input)];
    run.activations.forEach((values, li) => {
      const signal = signals[li];
      if (signal === undefined) return;
      values.forEach((v, o) => {
        const name = `${signal}[${o}]`;
        expect(builds.o0.read(w0, name), `layer ${li}: ${name} for input #${k}`).to.equal(v);
        if (builds.o2.hasWire(name))
          expect(builds.o2.read(w2, name), `layer ${li}: ${name} for input #${k} (--O2)`).to.equal(v);
        compared[li]++;
      });
      expected[li] += values.length;
    });
    agreed++;
  }
  return { agreed, overflowed, compared, expected };
}

/** The number of classes of a model that ends in argmax: the width of the dense layer before it. */
function classesOf(model: QuantizedModel): number {
  const beforeArgmax = model.layers[model.layers.length - 2];
  if (beforeArgmax.type !== "dense") throw new Error("these test models end in dense → argmax");
  return beforeArgmax.weights.length;
}

async function expectNoWitness(t: CircuitTester, input: ReturnType<typeof circuitInputFor>): Promise<void> {
  let failed = false;
  const [log, error] = [console.log, console.error];
  // the witness calculator prints the failing template; expected here, so keep it quiet
  console.log = console.error = () => {};
  try {
    await t.witness(input);
  } catch {
    failed = true;
  } finally {
    [console.log, console.error] = [log, error];
  }
  expect(failed, `a witness exists for ${JSON.stringify(input.x)} → ${String(input.outPacked)}`).to.equal(
    true,
  );
}

interface Builds {
  o2: CircuitTester;
  o0: CircuitTester;
}

/** The generated circuit compiled as production builds are (--O2), and with every wire kept (--O0). */
async function compile(model: QuantizedModel): Promise<Builds> {
  const { source } = generateCircuit(model, modelHash(model));
  const [o2, o0] = await Promise.all(
    ([2, 0] as const).map((o) => CircuitTester.fromSource(model.name, `${model.name} --O${o}`, source, o)),
  );
  return { o2, o0 };
}

/** Inputs whose activations all fit (the runtime answers). */
function answerable(model: QuantizedModel, inputs: bigint[][]): bigint[][] {
  return inputs.filter((x) => {
    try {
      runQuantized(model, x);
      return true;
    } catch {
      return false;
    }
  });
}

describe("runtime vs circuit (small CNNs with random weights)", function () {
  describe("cnn_mix: conv (stride 2, pads) → relu → maxpool → conv → avgpool → add → tanh → globalavgpool → dense → argmax", function () {
    const model = cnnMix();
    let builds: Builds;
    before(async function () {
      builds = await compile(model);
    });

    it("keeps a signal for every layer's output, the fused conv's pre-relu output excepted", function () {
      expect(layerOutputSignals(model)).to.deep.equal([
        undefined,
        "l0",
        "l2",
        "l3",
        "l4",
        "l5",
        "l6",
        "l7",
        "l8",
        "l9",
      ]);
      const { source } = generateCircuit(model, modelHash(model));
      expect(source).to.contain("l0Scale[o] = RescaleReLU(");
      expect(source).to.contain("l5Add[o].c <== l0[o];");
      for (const file of ["conv", "pool", "residual", "tanh"])
        expect(source).to.contain(`include "${file}.circom";`);
      expect(source).not.to.contain('include "sigmoid.circom";');
    });

    it("agrees on every layer and the output for ≥ 100 random inputs, boundaries included", async function () {
      const inputs = inputsFor(model, 120, 2026);
      const signals = layerOutputSignals(model);
      const { agreed, overflowed, compared, expected } = await compareOnInputs(
        builds,
        model,
        signals,
        inputs,
      );
      expect(agreed + overflowed).to.equal(inputs.length);
      expect(agreed).to.be.at.least(100);
      expect(overflowed, "boundary inputs must exercise overflow").to.be.at.least(1);
      // every value of every layer that has a signal was compared
      signals.forEach((signal, li) => {
        if (signal !== undefined)
          expect(compared[li], `layer ${li} (${signal})`).to.equal(expected[li]).and.above(0);
      });
    });

    it("produces witnesses that satisfy every r1cs constraint", async function () {
      for (const x of answerable(model, inputsFor(model, 3, 5)).slice(0, 4)) {
        const w = await builds.o2.witness(
          circuitInputFor(model, REQUEST_ID, x, runQuantized(model, x).output),
        );
        expect(await builds.o2.check(w)).to.equal(true);
      }
    });

    it("has no witness for an output other than the runtime's", async function () {
      for (const x of answerable(model, inputsFor(model, 12, 99))) {
        const { output } = runQuantized(model, x);
        await expectNoWitness(builds.o2, circuitInputFor(model, REQUEST_ID, x, [(output[0] + 1n) % 4n]));
      }
    });
  });

  describe("cnn_split: conv → relu read by an add (not fused), add of the input, avgpool counting pads, maxpool, sigmoid, dense+relu (fused)", function () {
    const model = cnnSplit();
    let builds: Builds;
    before(async function () {
      builds = await compile(model);
    });

    it("splits the conv's relu (both outputs kept) and still fuses the dense layer's", function () {
      expect(layerOutputSignals(model)).to.deep.equal([
        "l0",
        "l1",
        "l2",
        "l3",
        "l4",
        "l5",
        "l6",
        undefined,
        "l7",
        "l9",
        "l10",
      ]);
      const { source } = generateCircuit(model, modelHash(model));
      expect(source).to.contain("l0Scale[o] = Rescale(");
      expect(source).to.contain("l1[o] <== l0Scale[o].out * l0Scale[o].nonNeg;");
      expect(source).to.contain("l2Add[o].c <== l0[o];");
      expect(source).to.contain("l3Add[o].c <== x[o];");
      expect(source).to.contain("AvgPool2d(2, 5, 5, 2, 2, [1, 1], [1, 1, 0, 0], 1, 14)");
      expect(source).to.contain("l7Scale[o] = RescaleReLU(");
      expect(source).not.to.contain("ReLU(14)");
      expect(source).not.to.contain('include "tanh.circom";');
    });

    it("agrees on every layer and the output for ≥ 100 random inputs, boundaries included", async function () {
      const inputs = inputsFor(model, 120, 31);
      const signals = layerOutputSignals(model);
      const { agreed, overflowed, compared, expected } = await compareOnInputs(
        builds,
        model,
        signals,
        inputs,
      );
      expect(agreed + overflowed).to.equal(inputs.length);
      expect(agreed).to.be.at.least(100);
      expect(overflowed, "boundary inputs must exercise overflow").to.be.at.least(1);
      signals.forEach((signal, li) => {
        if (signal !== undefined)
          expect(compared[li], `layer ${li} (${signal})`).to.equal(expected[li]).and.above(0);
      });
    });

    it("produces witnesses that satisfy every r1cs constraint", async function () {
      for (const x of answerable(model, inputsFor(model, 3, 6)).slice(0, 4)) {
        const w = await builds.o2.witness(
          circuitInputFor(model, REQUEST_ID, x, runQuantized(model, x).output),
        );
        expect(await builds.o2.check(w)).to.equal(true);
      }
    });
  });
});

describe("generator: layers it refuses", function () {
  it("refuses a conv2d layer with private weights (the quantizer refuses it first)", function () {
    const model: QuantizedModel = { ...cnnSplit(), weights: "private" };
    expect(() => generateCircuit(model, modelHash(cnnSplit()))).to.throw(
      ModelFormatError,
      /layer 0 is a conv2d layer/,
    );
  });

  it("refuses a layer type it has no circuit for, instead of taking it for argmax", function () {
    const model = cnnSplit();
    const layers = [...model.layers];
    layers[6] = { type: "softmax" } as unknown as QLayer;
    expect(() => generateCircuit({ ...model, layers }, modelHash(model))).to.throw(
      ModelFormatError,
      /layer 6 has type "softmax", which has no circuit/,
    );
  });
});

describe("generator: the dense models' circuits do not change with the image layers", function () {
  for (const name of ["iris", "iris_private", "mnist", "mnist_private"]) {
    it(`generates circuits/models/${name}/${name}.circom byte for byte`, function () {
      const model = quantizeModel(loadModel(join(PROJECT_ROOT, "models", name, "model.json")));
      const committed = readFileSync(join(CIRCUIT_MODELS_DIR, name, `${name}.circom`), "utf8");
      expect(generateCircuit(model, modelHash(model)).source === committed).to.equal(true);
      for (const file of ["conv", "pool", "residual", "tanh"])
        expect(committed).not.to.contain(`include "${file}.circom";`);
    });
  }
});
