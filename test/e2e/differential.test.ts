import { expect } from "chai";
import hre, { network } from "hardhat";
import { join } from "node:path";

import { onChainDecoder } from "../../src/chain/decode.js";
import { type SibylStack, setUpStack } from "../../src/chain/stack.js";
import { circuitInputFor } from "../../src/circuit/inputs.js";
import { calculateWitness } from "../../src/circuit/witness.js";
import { datasetByName } from "../../src/data/index.js";
import { FixedPointRangeError } from "../../src/errors.js";
import { sibylEnv } from "../../src/env.js";
import { buildProgress } from "../helpers/models.js";
import { quantizeInput } from "../../src/model/quantize.js";
import { prng } from "../../src/data/random.js";
import { type QuantizedModel, runQuantized, signedRange } from "../../src/runtime/fixed.js";
import { PROJECT_ROOT } from "../../src/paths.js";

const connection = await network.create();
const { ethers } = connection;
const env = await sibylEnv(hre, connection);

/**
 * Differential test over 1,000 inputs, half Iris and half MNIST, from the data sets and at
 * random (boundaries included): the quantized runtime, the circuit's witness and the output
 * the precompile decodes on-chain must be identical for every input the runtime accepts,
 * and for every input it refuses (overflow) no witness may exist.
 */
describe("differential: runtime = witness = on-chain output on 1,000 inputs", function () {
  let stack: SibylStack;

  before(async function () {
    stack = await setUpStack(env, {
      modelPaths: ["iris", "mnist"].map((m) => join(PROJECT_ROOT, "models", m, "model.json")),
      log: buildProgress,
    });
  });

  function inputsFor(q: QuantizedModel, data: number[][], count: number, seed: number): bigint[][] {
    const rand = prng(seed);
    const { min, max } = signedRange(q.inputBits);
    const span = Number(max - min);
    const out = data.slice(0, Math.min(data.length, Math.floor(count * 0.6))).map((x) => quantizeInput(q, x));
    out.push(
      Array.from({ length: q.inputLength }, () => min),
      Array.from({ length: q.inputLength }, () => max),
      Array.from({ length: q.inputLength }, (_, i) => (i % 2 ? min : max)),
    );
    while (out.length < count) {
      // half small random values (mostly valid), half anywhere in the input range
      const wide = out.length % 2 === 0;
      out.push(
        Array.from({ length: q.inputLength }, () =>
          wide
            ? min + BigInt(Math.floor(rand() * (span + 1)))
            : BigInt(Math.floor(rand() * 2 ** q.fracBits * 2)),
        ),
      );
    }
    return out;
  }

  for (const [name, seed] of [
    ["iris", 11],
    ["mnist", 12],
  ] as const) {
    it(`agrees on 500 ${name} inputs`, async function () {
      const { artifacts } = stack.models[name];
      const q = artifacts.quantized;
      const inputs = inputsFor(q, datasetByName(name).inputs, 500, seed);
      const accepted: bigint[][] = [];
      const outputs: bigint[][] = [];
      let refused = 0;
      for (const x of inputs) {
        let out: bigint[];
        try {
          out = runQuantized(q, x).output;
        } catch (e) {
          expect(e).to.be.instanceOf(FixedPointRangeError);
          refused++;
          let witness = true;
          try {
            await calculateWitness(artifacts.wasmPath, circuitInputFor(q, 8n, x, [0n]));
          } catch {
            witness = false;
          }
          expect(witness, `a witness exists for refused input [${x.slice(0, 4)}…]`).to.equal(false);
          continue;
        }
        // a witness exists for the runtime's output (the circuit constrains its packed output to it)…
        await calculateWitness(artifacts.wasmPath, circuitInputFor(q, 8n, x, out));
        accepted.push(x);
        outputs.push(out);
      }
      // …and the precompile stores and decodes exactly that output
      const [requester] = await ethers.getSigners();
      const node = (await ethers.getSigners())[14];
      const decoded = await onChainDecoder(stack, name, requester, node)(accepted, outputs);
      expect(decoded).to.deep.equal(outputs);
      expect(accepted.length + refused).to.equal(500);
      expect(accepted.length).to.be.greaterThan(250);
    });
  }
});
