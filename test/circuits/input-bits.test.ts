import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { compileCircuit } from "../../src/circuit/compiler.js";
import { generateCircuit } from "../../src/circuit/generate.js";
import { circuitInputFor, publicSignalsFor } from "../../src/circuit/inputs.js";
import { calculateWitness } from "../../src/circuit/witness.js";
import { modelHash, quantizeModel } from "../../src/model/quantize.js";
import { parseModel } from "../../src/model/schema.js";
import { runQuantized } from "../../src/runtime/fixed.js";

/**
 * The public signals a node proves with (`publicSignalsFor`) for a model whose inputs are
 * narrower than its values (inputBits 8, valueBits 24): inputs pack at inputBits, outputs at
 * valueBits. With 12 inputs the two widths even give different word counts (1 vs 2), so
 * packing inputs at the wrong width cannot go unnoticed.
 */
const REQUEST_ID = "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const INPUT_BITS = 8;
const VALUE_BITS = 24;

const model = quantizeModel(
  parseModel({
    format: "sibyl-model/1",
    name: "unitinputbits",
    inputLength: 12,
    quantization: { fracBits: 4, valueBits: VALUE_BITS, inputBits: INPUT_BITS },
    layers: [
      {
        type: "dense",
        weights: [
          [0.5, -0.25, 1, 0, 0.75, -1, 0.125, 0.5, -0.5, 0.25, 1, -0.75],
          [-0.5, 0.25, -1, 0.5, 0, 1, -0.125, 0.25, 0.5, -0.25, 0.75, 1],
        ],
        bias: [0.5, -0.5],
      },
      { type: "argmax" },
    ],
  }),
);

/** Signed 8-bit inputs, both extremes included. */
const INPUT: bigint[] = [-128n, 127n, 0n, 1n, -1n, 5n, -77n, 100n, 42n, -3n, 64n, -64n];

/**
 * The documented layout, built by string concatenation rather than shifts: K = floor(253/b)
 * slots per word, slot j holds v[j] + 2^(b−1) as b/4 hex digits, the first slot lowest.
 */
function packByHexDigits(values: readonly bigint[], b: number): bigint[] {
  const k = Math.floor(253 / b);
  const words: bigint[] = [];
  for (let w = 0; w * k < values.length; w++) {
    const slots = values
      .slice(w * k, (w + 1) * k)
      .map((v) => (v + (1n << BigInt(b - 1))).toString(16).padStart(b / 4, "0"));
    words.push(BigInt(`0x${slots.reverse().join("")}`));
  }
  return words;
}

describe("circuit/inputs: public signals when inputBits ≠ valueBits", function () {
  const output = runQuantized(model, INPUT).output;

  it("packs the inputs at inputBits and the outputs at valueBits", function () {
    expect(model).to.include({ inputBits: INPUT_BITS, valueBits: VALUE_BITS });
    const signals = publicSignalsFor(model, REQUEST_ID, INPUT, output);
    const inWords = packByHexDigits(INPUT, INPUT_BITS);
    const outWords = packByHexDigits(output, VALUE_BITS);
    expect(inWords).to.have.length(1); // 12 inputs ≤ 31 slots of 8 bits
    expect(packByHexDigits(INPUT, VALUE_BITS)).to.have.length(2); // what 24-bit slots would need
    // 12 · 8 + 24 + 128 = 248 bits: one compact signal, outWord + 2^24·binding + 2^152·inWord
    const binding = (BigInt(REQUEST_ID) >> 128n) | 1n;
    expect(signals).to.deep.equal([outWords[0] + (binding << 24n) + (inWords[0] << 152n)]);
    // the exact input word: slots 0x00 (−128), 0xff (127), 0x80 (0), 0x81 (1), … lowest first
    expect(signals[0] >> 152n).to.equal(0x40c07daae433857f8180ff00n);
  });

  it("agrees with the public signals of a real witness of the compiled circuit", async function () {
    const dir = mkdtempSync(join(tmpdir(), "sibyl-input-bits-"));
    try {
      const circuit = generateCircuit(model, modelHash(model));
      const circuitPath = join(dir, "unitinputbits.circom");
      writeFileSync(circuitPath, circuit.source);
      const { wasmPath } = await compileCircuit({ circuitPath, outDir: dir });
      const witness = await calculateWitness(wasmPath, circuitInputFor(model, REQUEST_ID, INPUT, output));
      // wire 0 is the constant 1; the public signals follow, in circuit order (field elements)
      const fromWitness = witness.slice(1, 1 + circuit.publicSignals);
      expect(circuit.publicSignals).to.equal(1);
      expect(fromWitness).to.deep.equal(publicSignalsFor(model, REQUEST_ID, INPUT, output));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
