import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

import { type BatchLayout, checkBatchSize, generateBatchCircuit } from "../circuit/batch.js";
import { compileCircuit } from "../circuit/compiler.js";
import { circuitFingerprint } from "../circuit/fingerprint.js";
import { BuildError } from "../errors.js";
import { type Logger, step } from "../log.js";
import { PROJECT_ROOT } from "../paths.js";
import { ensurePtau, requiredPower } from "../zk/ptau.js";
import {
  type VerificationKey,
  exportVerificationKey,
  exportVerifier,
  groth16Setup,
  verificationKeyHash,
} from "../zk/setup.js";
import { type ModelArtifacts, loadArtifacts, modelBuildDir } from "./artifacts.js";
import { compileRuntimeCode } from "./solc.js";
import { sha256 } from "./buildModel.js";
import { hashZkey } from "../zk/hash.js";
import { verifierContractName } from "./verifier.js";

/**
 * Builds the batch circuit of a built model for `k` requests (docs/batching.md): generate →
 * compile → Groth16 setup → export the snarkjs verifier → compile it with the bundled solc.
 * Everything lands in build/models/<name>/batch-k<k>/, described by its manifest.json; each
 * step is skipped when its inputs are unchanged and its outputs intact.
 */

export interface BatchManifest {
  name: string;
  k: number;
  /** the single build this batch was made from */
  modelHash: string;
  layout: BatchLayout;
  constraints: number;
  publicSignals: number;
  circuitPath: string;
  circuitHash: string;
  r1csPath: string;
  wasmPath: string;
  zkeyPath: string;
  /** "0x" + sha256 of the zkey file, registered with the verifier */
  zkeyHash: string;
  vkPath: string;
  vkHash: string;
  verifierContract: string;
  verifierPath: string;
  /** runtime code of the compiled verifier: what the registry deploys */
  verifierCode: string;
  ptau: { path: string; power: number; development: boolean };
  timings: { compileMs?: number; setupMs?: number };
}

export interface BatchArtifacts extends BatchManifest {
  model: ModelArtifacts;
  vk: VerificationKey;
}

export function batchBuildDir(name: string, k: number): string {
  return join(modelBuildDir(name), `batch-k${k}`);
}

/** The batch verifier's contract name: IrisBatch8Verifier. */
export function batchVerifierContractName(name: string, k: number): string {
  return verifierContractName(name).replace(/Verifier$/, `Batch${k}Verifier`);
}

/** Loads a built batch circuit; says which command builds it when it is missing or stale. */
export function loadBatchArtifacts(name: string, k: number): BatchArtifacts {
  const model = loadArtifacts(name);
  const path = join(batchBuildDir(name, k), "manifest.json");
  const build = `run: npx hardhat sibyl:build --model ${model.modelPath} --batch ${k}`;
  if (!existsSync(path))
    throw new BuildError(`no batch circuit of ${k} for model "${name}" (no ${path})`, build);
  const manifest = JSON.parse(readFileSync(path, "utf8")) as BatchManifest;
  if (manifest.modelHash !== model.modelHash)
    throw new BuildError(
      `the batch circuit of ${k} for "${name}" was built for another version of the model`,
      build,
    );
  for (const p of [manifest.wasmPath, manifest.zkeyPath, manifest.vkPath])
    if (!existsSync(p))
      throw new BuildError(`batch build of "${name}" (k = ${k}) is incomplete: ${p} is missing`, build);
  return { ...manifest, model, vk: JSON.parse(readFileSync(manifest.vkPath, "utf8")) as VerificationKey };
}

export interface BatchBuildReport {
  artifacts: BatchArtifacts;
  /** the steps that ran: "compile", "setup", "export" */
  ran: string[];
}

export async function buildBatch(
  name: string,
  k: number,
  opts: { log: Logger; force?: boolean; generatePtau?: boolean },
): Promise<BatchBuildReport> {
  checkBatchSize(k);
  const { log } = opts;
  const model = loadArtifacts(name);
  const dir = batchBuildDir(name, k);
  mkdirSync(dir, { recursive: true });
  const manifestPath = join(dir, "manifest.json");
  const previous = existsSync(manifestPath)
    ? (JSON.parse(readFileSync(manifestPath, "utf8")) as BatchManifest)
    : undefined;
  const ran: string[] = [];

  const circuit = generateBatchCircuit(model.quantized, model.modelHash, k);
  // Derived from the model's reviewed circuit (circuits/models/<name>/) and circuits/lib/batch.circom:
  // kept with the build, not in the sources.
  const base = `${name}_batch${k}`;
  const circuitPath = join(dir, `${base}.circom`);
  if (!existsSync(circuitPath) || readFileSync(circuitPath, "utf8") !== circuit.source)
    writeFileSync(circuitPath, circuit.source);
  const circuitHash = sha256(circuit.source, circuitFingerprint(circuit.source));
  log.info(
    `batch of ${k} for ${name}: ${circuit.layout.compact ? "one compact signal" : `${circuit.layout.slotSignals} signals`} per request`,
  );

  const r1csPath = join(dir, `${base}.r1cs`);
  const wasmPath = join(dir, `${base}_js`, `${base}.wasm`);
  let constraints = previous?.constraints ?? 0;
  let compileMs = previous?.timings.compileMs;
  const fresh = !opts.force && previous?.circuitHash === circuitHash;
  if (!fresh || !existsSync(r1csPath) || !existsSync(wasmPath)) {
    const { result } = await step(log, `compile ${relative(PROJECT_ROOT, circuitPath)} (circom --O2)`, () =>
      compileCircuit({ circuitPath, outDir: dir }),
    );
    constraints = result.constraints;
    compileMs = result.compileMs;
    ran.push("compile");
  }
  log.info(`  constraints: ${constraints}   public signals: ${circuit.publicSignals}`);

  const ptau = await ensurePtau(requiredPower(constraints, circuit.publicSignals), log, {
    generate: opts.generatePtau,
  });
  const zkeyPath = join(dir, `${base}.zkey`);
  const vkPath = join(dir, "verification_key.json");
  let setupMs = previous?.timings.setupMs;
  const zkeyIntact = existsSync(zkeyPath) && hashZkey(zkeyPath) === previous?.zkeyHash;
  if (ran.includes("compile") || !zkeyIntact || !existsSync(vkPath) || previous?.ptau.path !== ptau.path) {
    ({ ms: setupMs } = await step(log, `groth16 setup (2^${ptau.power} ptau)`, async () => {
      await groth16Setup(r1csPath, ptau.path, zkeyPath, log);
      writeFileSync(vkPath, JSON.stringify(await exportVerificationKey(zkeyPath), null, 1));
    }));
    ran.push("setup");
  }
  if (ptau.development)
    log.warn(
      `using DEVELOPMENT powers of tau (2^${ptau.power}) for the batch circuit: fine for tests, NOT secure`,
    );
  const vk = JSON.parse(readFileSync(vkPath, "utf8")) as VerificationKey;
  const vkHash = verificationKeyHash(vk);

  const verifierContract = batchVerifierContractName(name, k);
  const verifierPath = join(dir, `${verifierContract}.sol`);
  let verifierCode = previous?.verifierCode ?? "";
  if (ran.includes("setup") || previous?.vkHash !== vkHash || !verifierCode || !existsSync(verifierPath)) {
    await step(log, `export and compile ${verifierContract}`, async () => {
      await exportVerifier(zkeyPath, verifierContract, verifierPath, [
        "GENERATED by Sibyl (src/pipeline/buildBatch.ts) with snarkjs. Do not edit: rebuild with",
        `  npx hardhat sibyl:build --model ${relative(PROJECT_ROOT, model.modelPath)} --batch ${k}`,
        `model ${name}  modelHash ${model.modelHash}  batch ${k}`,
        `vkHash ${vkHash}`,
      ]);
      verifierCode = compileRuntimeCode(
        `${verifierContract}.sol`,
        readFileSync(verifierPath, "utf8"),
        verifierContract,
      );
    });
    ran.push("export");
  }

  const manifest: BatchManifest = {
    name,
    k,
    modelHash: model.modelHash,
    layout: circuit.layout,
    constraints,
    publicSignals: circuit.publicSignals,
    circuitPath,
    circuitHash,
    r1csPath,
    wasmPath,
    zkeyPath,
    // hashed again only when the setup wrote a new zkey
    zkeyHash: ran.includes("setup") || !previous ? hashZkey(zkeyPath) : previous.zkeyHash,
    vkPath,
    vkHash,
    verifierContract,
    verifierPath,
    verifierCode,
    ptau,
    timings: { compileMs, setupMs },
  };
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 1));
  if (ran.length === 0) log.info(`  (all steps cached in ${relative(PROJECT_ROOT, dir)})`);
  return { artifacts: { ...manifest, model, vk }, ran };
}
