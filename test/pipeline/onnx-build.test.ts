import { expect } from "chai";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { modelBuildDir } from "../../src/pipeline/artifacts.js";
import { type BuildReport, buildModel } from "../../src/pipeline/buildModel.js";
import { fromField } from "../../src/circuit/field.js";
import { generateCircuit } from "../../src/circuit/generate.js";
import { circuitInputFor } from "../../src/circuit/inputs.js";
import { calculateWitness, checkWitness, readSymbols } from "../../src/circuit/witness.js";
import { silentLogger } from "../../src/log.js";
import { importOnnx } from "../../src/model/onnx.js";
import { modelHash, quantizeInput, quantizeModel } from "../../src/model/quantize.js";
import { loadModelFile, parseModel } from "../../src/model/schema.js";
import { prng } from "../../src/data/random.js";
import { CIRCUIT_MODELS_DIR, VERIFIERS_DIR } from "../../src/paths.js";
import { runQuantized } from "../../src/runtime/fixed.js";
import { releaseProverThreads } from "../../src/zk/prover.js";
import { randomTensor, writeModel } from "../helpers/onnx-builder.js";

/**
 * An ONNX model (Gemm → Relu → Gemm → Sigmoid) through the whole build pipeline: imported,
 * quantized, compiled with the SigmoidPWL template, set up; then the circuit must carry
 * exactly the runtime's integers. Built under a name no real model uses, removed afterwards.
 */
const NAME = "unitonnx";
const VERIFIER_PATH = join(VERIFIERS_DIR, "UnitonnxVerifier.sol");
const REQUEST_ID = "0x0111111111111111111111111111111111111111111111111111111111111111";

function removeOutputs(): void {
  rmSync(modelBuildDir(NAME), { recursive: true, force: true });
  rmSync(join(CIRCUIT_MODELS_DIR, NAME), { recursive: true, force: true });
  rmSync(VERIFIER_PATH, { force: true });
}

describe("build/buildModel: an ONNX model with a sigmoid", function () {
  let dir: string;
  let onnxPath: string;
  let report: BuildReport;
  const rand = prng(99);

  before(async function () {
    removeOutputs();
    dir = mkdtempSync(join(tmpdir(), "sibyl-onnx-build-"));
    onnxPath = writeModel(dir, "Tiny Net.onnx", {
      input: { dims: ["N", 4] },
      nodes: [
        { op: "Gemm", inputs: ["x", "W1", "b1"], output: "h", attrs: { transB: { i: 1 } } },
        { op: "Relu", inputs: ["h"], output: "r" },
        { op: "Gemm", inputs: ["r", "W2", "b2"], output: "z", attrs: { transB: { i: 1 } } },
        { op: "Sigmoid", inputs: ["z"], output: "y" },
      ],
      initializers: {
        W1: randomTensor(rand, [5, 4]),
        b1: randomTensor(rand, [5]),
        W2: randomTensor(rand, [3, 5], 2),
        b2: randomTensor(rand, [3]),
      },
    });
    report = await buildModel(onnxPath, {
      log: silentLogger,
      generatePtau: false,
      import: { name: NAME, quantization: { fracBits: 8, valueBits: 20 } },
    });
  });

  after(async function () {
    removeOutputs();
    rmSync(dir, { recursive: true, force: true });
    await releaseProverThreads();
  });

  it("builds under the given name and keeps the imported model file for reference", function () {
    const a = report.artifacts;
    expect(a.name).to.equal(NAME);
    expect(a.modelPath).to.equal(onnxPath);
    expect(a).to.include({ inputLength: 4, outputLength: 3, fracBits: 8, valueBits: 20, inputBits: 20 });
    const written = loadModelFile(join(modelBuildDir(NAME), "model.json"));
    const imported = importOnnx(onnxPath, { name: NAME, quantization: { fracBits: 8, valueBits: 20 } });
    expect(written).to.deep.equal(imported);
    expect(a.modelHash).to.equal(modelHash(quantizeModel(imported)));
    expect(existsSync(VERIFIER_PATH)).to.equal(true);
  });

  it("emits one SigmoidPWL per output after the plain rescale of the last dense layer", function () {
    const src = readFileSync(report.artifacts.circuitPath, "utf8");
    expect(src).to.contain('include "sigmoid.circom";');
    expect(src).to.contain("l2Scale[o] = Rescale(");
    expect(src).to.contain("l3Sigmoid[o] = SigmoidPWL(8, 20);");
    expect(src).to.contain("l3Sigmoid[o].in <== l2[o];");
  });

  it("puts exactly the runtime's integers in the witness, and has none for another output", async function () {
    const a = report.artifacts;
    const q = a.quantized;
    const symbols = await readSymbols(a.r1csPath.replace(/\.r1cs$/, ".sym"));
    let saturated = 0;
    let compared = 0;
    for (let k = 0; k < 25; k++) {
      const x = quantizeInput(
        q,
        Array.from({ length: 4 }, () => (2 * rand() - 1) * (k < 20 ? 3 : 40)),
      );
      const run = runQuantized(q, x);
      const w = await calculateWitness(a.wasmPath, circuitInputFor(q, REQUEST_ID, x, run.output));
      if (k === 0) expect(await checkWitness(a.r1csPath, w)).to.equal(true);
      for (const [layer, values] of [
        ["l2", run.activations[2]],
        ["l3", run.activations[3]],
      ] as const)
        values.forEach((v, o) => {
          const wire = symbols.get(`main.${layer}[${o}]`);
          if (wire === undefined || wire < 0) return; // substituted away by --O2
          expect(fromField(w[wire]), `${layer}[${o}]`).to.equal(v);
          compared++;
        });
      saturated += run.output.filter((v) => v === 0n || v === 256n).length;

      const wrong = run.output.map((v, o) => (o === k % 3 ? (v === 0n ? 1n : v - 1n) : v));
      let rejected = false;
      const [log, error] = [console.log, console.error];
      console.log = console.error = () => {}; // the witness calculator prints the failing template
      try {
        await calculateWitness(a.wasmPath, circuitInputFor(q, REQUEST_ID, x, wrong));
      } catch {
        rejected = true;
      } finally {
        [console.log, console.error] = [log, error];
      }
      expect(rejected, `a witness for output ${wrong} instead of ${run.output}`).to.equal(true);
    }
    expect(saturated, "large inputs reach the saturated segments").to.be.greaterThan(0);
    expect(compared, "intermediate values compared").to.be.at.least(25 * 3);
  });

  it("includes sigmoid.circom only in circuits that use it", function () {
    const plain = quantizeModel(
      parseModel({
        format: "sibyl-model/1",
        name: "plain",
        inputLength: 2,
        layers: [{ type: "dense", weights: [[1, 2]], bias: [0] }, { type: "relu" }],
      }),
    );
    expect(generateCircuit(plain, "0x00").source).not.to.contain("sigmoid");
  });
});
