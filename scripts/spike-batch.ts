/**
 * SPIKE for issue 11 (batch settlement), not part of the product: measures what one Groth16
 * proof over k Iris requests costs when the batch circuit is k copies of the model's own
 * circuit (its template, each copy with its request's binding, packed input and packed
 * output as public signals): constraints, proving time, and the gas of the snarkjs verifier
 * for k·(1+P+Q) public signals. The numbers size the design (how many public signals per
 * request a batch can afford).
 *
 *   BATCH_KS=1,4,8 npx hardhat run scripts/spike-batch.ts
 *
 * Measured 2026-11-30 (2 cores; verify gas = eth_estimateGas of the snarkjs verifier):
 *
 *   k   constraints  signals  ptau  setup   prove   verify gas  per request
 *   1        510        3      10    2.0 s  0.26 s    231,818      231,818
 *   4      2,040       12      12    5.7 s  0.31 s    293,517       73,379
 *   8      4,080       24      13   10.1 s  0.47 s    376,868       47,109
 *   16     8,160       48      14   21.0 s  0.74 s    543,602       33,975
 *   32    16,320       96      15   33.4 s  1.22 s    876,882       27,403
 *
 * So a public signal costs ≈ 6,943 gas and the rest ≈ 210k: with Iris's three signals per
 * request, verification alone is 27.4k per request at k = 32, before any bookkeeping; with one
 * signal per request (binding and packed input/output in one field element) it would be
 * ≈ 13.5k, which leaves room under the 35k target for the per-request state changes.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import hre, { network } from "hardhat";
import solc from "solc";
import { ContractFactory, keccak256, toBeHex } from "ethers";

import { generateCircuit } from "../src/circuit/generate.js";
import { compileCircuit } from "../src/circuit/compiler.js";
import { circuitInputFor } from "../src/circuit/inputs.js";
import { silentLogger } from "../src/log.js";
import { loadArtifacts } from "../src/pipeline/artifacts.js";
import { runQuantized } from "../src/runtime/fixed.js";
import { exportVerificationKey, exportVerifier, groth16Setup } from "../src/zk/setup.js";
import { SnarkjsProver, releaseProverThreads, toSolidityProof, verifyProof } from "../src/zk/prover.js";
import { findPtau, requiredPower } from "../src/zk/ptau.js";

const KS = (process.env.BATCH_KS ?? "1,4,8").split(",").map(Number);

async function main(): Promise<void> {
  const artifacts = loadArtifacts("iris");
  const model = artifacts.quantized;
  const single = generateCircuit(model, "0x00");
  const { ethers } = await network.create();
  const rows = [];
  for (const k of KS) {
    const dir = join(artifacts.dir, "..", "..", "spike-batch", `k${k}`);
    mkdirSync(dir, { recursive: true });
    const body = single.source.replace(/\ncomponent main[^\n]*\n/, "\n");
    const wrapper = [
      `template Batch() {`,
      `    signal input requestBinding[${k}];`,
      `    signal input inPacked[${k}][1];`,
      `    signal input outPacked[${k}][1];`,
      `    signal input x[${k}][${model.inputLength}];`,
      `    component m[${k}];`,
      `    for (var i = 0; i < ${k}; i++) {`,
      `        m[i] = ${single.templateName}();`,
      `        m[i].requestBinding <== requestBinding[i];`,
      `        m[i].inPacked <== inPacked[i];`,
      `        m[i].outPacked <== outPacked[i];`,
      `        m[i].x <== x[i];`,
      `    }`,
      `}`,
      `component main {public [requestBinding, inPacked, outPacked]} = Batch();`,
      ``,
    ].join("\n");
    const circuitPath = join(dir, "batch.circom");
    writeFileSync(circuitPath, body + "\n" + wrapper);
    const compiled = await compileCircuit({ circuitPath, outDir: dir });
    const signals = k * 3;
    const power = requiredPower(compiled.constraints, signals);
    const ptau = findPtau(power);
    if (!ptau) throw new Error(`no ptau of power ≥ ${power} at hand`);
    const zkeyPath = join(dir, "batch.zkey");
    const t0 = Date.now();
    await groth16Setup(compiled.r1csPath, ptau.path, zkeyPath, silentLogger);
    const setupMs = Date.now() - t0;

    // k requests: their ids, inputs (a sample each) and outputs
    const inputs: Record<string, unknown> = { requestBinding: [], inPacked: [], outPacked: [], x: [] };
    for (let i = 0; i < k; i++) {
      const id = keccak256(toBeHex(i + 1, 32));
      const x = model.layers.length ? [BigInt(100 + i), 50n, 200n, 30n] : [];
      const out = runQuantized(model, x).output;
      const one = circuitInputFor(model, id, x, out);
      for (const key of ["requestBinding", "inPacked", "outPacked", "x"] as const)
        (inputs[key] as unknown[]).push(key === "requestBinding" ? one[key] : one[key]);
    }
    const prover = new SnarkjsProver(compiled.wasmPath, zkeyPath);
    await prover.prove(inputs as never); // warm
    const proof = await prover.prove(inputs as never);
    const vk = await exportVerificationKey(zkeyPath);
    if (!(await verifyProof(vk, proof.publicSignals, proof.proof))) throw new Error("proof does not verify");

    const solPath = join(dir, "BatchVerifier.sol");
    await exportVerifier(zkeyPath, "BatchVerifier", solPath, ["// SPIKE"]);
    const out = JSON.parse(
      solc.compile(
        JSON.stringify({
          language: "Solidity",
          sources: { "BatchVerifier.sol": { content: readFileSync(solPath, "utf8") } },
          settings: {
            optimizer: { enabled: true, runs: 200 },
            evmVersion: "cancun",
            outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
          },
        }),
      ),
    );
    const c = out.contracts["BatchVerifier.sol"].BatchVerifier;
    const [signer] = await ethers.getSigners();
    const verifier = await new ContractFactory(c.abi, c.evm.bytecode.object, signer).deploy();
    const p = toSolidityProof(proof.proof);
    const gas = await (
      verifier as unknown as { verifyProof: { estimateGas: (...a: unknown[]) => Promise<bigint> } }
    ).verifyProof.estimateGas(
      [p[0], p[1]],
      [
        [p[2], p[3]],
        [p[4], p[5]],
      ],
      [p[6], p[7]],
      proof.publicSignals,
    );
    rows.push({
      k,
      constraints: compiled.constraints,
      "public signals": signals,
      "ptau power": power,
      "setup ms": setupMs,
      "prove ms": proof.ms,
      "verify gas (tx)": Number(gas),
      "verify gas per request": Math.round(Number(gas) / k),
    });
    console.log(rows.at(-1));
  }
  console.table(rows);
  await releaseProverThreads();
  void hre;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
