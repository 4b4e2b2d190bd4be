import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";

import { compileCircuit } from "../circuit/compiler.js";
import { circuitFingerprint } from "../circuit/fingerprint.js";
import { generateCircuit } from "../circuit/generate.js";
import { type Logger, step } from "../log.js";
import { isOnnxPath, loadModel, writeModelFile } from "../model/load.js";
import type { OnnxImportOptions } from "../model/onnx.js";
import { modelHash, quantizeModel } from "../model/quantize.js";
import { CIRCUIT_MODELS_DIR, PROJECT_ROOT, VERIFIERS_DIR } from "../paths.js";
import { weightCommitment } from "../zk/commitment.js";
import { hashZkey } from "../zk/hash.js";
import { ensurePtau, givenPtau, type PtauFile, requiredPower } from "../zk/ptau.js";
import { exportVerificationKey, groth16Setup, verificationKeyHash } from "../zk/setup.js";
import {
  type BuildManifest,
  type ModelArtifacts,
  type SetupRecord,
  ensureSalt,
  loadArtifacts,
  modelBuildDir,
  readManifest,
  serializeQuantized,
  writeManifest,
} from "./artifacts.js";
import { verifierContractName, verifierIsCurrent, writeModelVerifier } from "./verifier.js";

/**
 * The build pipeline: model file → quantize → generate circuit → compile (circom --O2)
 * → Groth16 setup → export verifier. Each step is cached by the hash of its inputs, so
 * a second build of an unchanged model takes well under a second. A model with private
 * weights also gets a secret salt (created once, kept in build/models/<name>/secret.json)
 * and a weight commitment; its circuit does not depend on the weight values, so new
 * weights only change the commitment, never the circuit or its keys. A zkey installed by a
 * ceremony (sibyl:ceremony-finalize) is kept until the circuit changes or --force.
 */

export interface BuildOptions {
  log: Logger;
  /** rebuild every step even when cached */
  force?: boolean;
  /** generate a development ptau when none fits (default true) */
  generatePtau?: boolean;
  /** name and quantization for a model imported from an .onnx file (refused for JSON) */
  import?: OnnxImportOptions;
  /** use this powers-of-tau file (e.g. a public Hermez file) instead of searching the development ones */
  ptauPath?: string;
}

export interface BuildReport {
  artifacts: ModelArtifacts;
  /** the steps that actually ran (the rest came from cache) */
  ran: string[];
  /** true when the Solidity verifier changed and Hardhat must recompile */
  verifierChanged: boolean;
}

export async function buildModel(modelPath: string, opts: BuildOptions): Promise<BuildReport> {
  const { log } = opts;
  const file = loadModel(modelPath, opts.import);
  const quantized = quantizeModel(file);
  const hash = modelHash(quantized);
  const dir = modelBuildDir(file.name);
  mkdirSync(dir, { recursive: true });
  // the model file an ONNX import became, for reference
  if (isOnnxPath(modelPath)) writeModelFile(join(dir, "model.json"), file);
  const previous = readManifest(file.name);
  const ran: string[] = [];

  log.info(
    `model ${file.name}: ${describeLayers(quantized.layers.map((l) => l.type))}, fixed point 2^-${quantized.fracBits}, ` +
      `${quantized.valueBits}-bit values, ${quantized.inputBits}-bit inputs, ${quantized.weights} weights`,
  );

  // 0. private weights: the commitment to register, under the model's secret salt
  const commitment =
    quantized.weights === "private" ? weightCommitment(quantized, ensureSalt(dir)) : undefined;
  if (commitment !== undefined) log.info(`  weight commitment: ${commitment}`);

  // 1. circuit source (cheap, always regenerated: it is a pure function of the model)
  const circuit = generateCircuit(quantized, hash);
  const circuitDir = join(CIRCUIT_MODELS_DIR, file.name);
  mkdirSync(circuitDir, { recursive: true });
  const circuitPath = join(circuitDir, `${file.name}.circom`);
  writeIfChanged(circuitPath, circuit.source);
  const circuitHash = sha256(circuit.source, circuitFingerprint(circuit.source));

  // 2. compile
  const r1csPath = join(dir, `${file.name}.r1cs`);
  const wasmPath = join(dir, `${file.name}_js`, `${file.name}.wasm`);
  let constraints = previous?.constraints ?? 0;
  let compileMs = previous?.timings.compileMs;
  if (opts.force || previous?.circuitHash !== circuitHash || !existsSync(r1csPath) || !existsSync(wasmPath)) {
    const { result } = await step(log, `compile ${relative(PROJECT_ROOT, circuitPath)} (circom --O2)`, () =>
      compileCircuit({ circuitPath, outDir: dir }),
    );
    constraints = result.constraints;
    compileMs = result.compileMs;
    ran.push("compile");
  }
  log.info(`  constraints: ${constraints}   public signals: ${circuit.publicSignals}`);

  // 3. Groth16 setup
  const power = requiredPower(constraints, circuit.publicSignals);
  const zkeyPath = join(dir, `${file.name}.zkey`);
  const vkPath = join(dir, "verification_key.json");
  const circuitChanged = ran.includes("compile") || previous?.circuitHash !== circuitHash;
  const ceremony = previous?.setup?.kind === "ceremony" ? previous.setup : undefined;
  let ptau: PtauFile;
  let setupKey: string;
  let setup: SetupRecord = { kind: "local" };
  let setupMs = previous?.timings.setupMs;
  if (previous && ceremony && !opts.force && !circuitChanged && existsSync(zkeyPath) && existsSync(vkPath)) {
    ({ ptau, setupKey } = previous);
    setup = ceremony;
    log.info(`  zkey from a ceremony (${ceremony.contributions.length} contributions): kept`);
    if (opts.ptauPath !== undefined && resolve(opts.ptauPath) !== ptau.path)
      log.warn(
        `--ptau ${opts.ptauPath} ignored: the zkey of ${file.name} comes from a ceremony on ${ptau.path}; ` +
          "rebuild with --force to replace it by a local setup",
      );
  } else {
    ptau =
      opts.ptauPath !== undefined
        ? givenPtau(opts.ptauPath, power)
        : await ensurePtau(power, log, { generate: opts.generatePtau });
    setupKey = setupKeyOf(circuitHash, ptau.path);
    if (
      opts.force ||
      ran.includes("compile") ||
      previous?.setupKey !== setupKey ||
      !existsSync(zkeyPath) ||
      !existsSync(vkPath)
    ) {
      if (ceremony)
        log.warn(
          `the CEREMONY zkey of ${file.name} is REPLACED by a single-party local setup ` +
            `(${opts.force ? "--force" : circuitChanged ? "the circuit changed" : "zkey or verification key missing"}): ` +
            "whoever runs this build can forge proofs. Run a new ceremony before production (docs/setup.md)",
        );
      ({ ms: setupMs } = await step(log, `groth16 setup (2^${ptau.power} ptau)`, async () => {
        await groth16Setup(r1csPath, ptau.path, zkeyPath, log);
        writeFileSync(vkPath, JSON.stringify(await exportVerificationKey(zkeyPath), null, 1));
      }));
      ran.push("setup");
    }
  }
  if (ptau.development)
    log.warn(
      `using DEVELOPMENT powers of tau ${relative(PROJECT_ROOT, ptau.path)} (2^${ptau.power}): fine for tests, NOT secure`,
    );
  const vk = JSON.parse(readFileSync(vkPath, "utf8")) as ModelArtifacts["vk"];
  const vkHash = verificationKeyHash(vk);
  const zkeyHash = hashZkey(zkeyPath);

  // 4. Solidity verifier
  const verifierContract = verifierContractName(file.name);
  const verifierPath = join(VERIFIERS_DIR, `${verifierContract}.sol`);
  let exportMs = previous?.timings.exportMs;
  if (opts.force || ran.includes("setup") || !verifierIsCurrent(verifierPath, vkHash)) {
    ({ ms: exportMs } = await step(log, `export ${relative(PROJECT_ROOT, verifierPath)}`, () =>
      writeModelVerifier({
        modelPath,
        name: file.name,
        modelHash: hash,
        vkHash,
        zkeyPath,
        verifierContract,
        verifierPath,
      }),
    ));
    ran.push("export");
  }

  const manifest: BuildManifest = {
    name: file.name,
    modelPath,
    modelHash: hash,
    vkHash,
    zkeyHash,
    setup,
    fracBits: quantized.fracBits,
    valueBits: quantized.valueBits,
    inputBits: quantized.inputBits,
    ...(commitment === undefined ? {} : { weightCommitment: commitment.toString() }),
    weightVisibility: quantized.weights,
    inputLength: quantized.inputLength,
    outputLength: quantized.outputLength,
    classes: file.classes,
    constraints,
    publicSignals: circuit.publicSignals,
    circuitPath,
    circuitHash,
    r1csPath,
    wasmPath,
    zkeyPath,
    vkPath,
    verifierContract,
    verifierPath,
    setupKey,
    ptau: { path: ptau.path, power: ptau.power, development: ptau.development },
    timings: { compileMs, setupMs, exportMs },
  };
  writeFileSync(join(dir, "quantized.json"), serializeQuantized(quantized));
  writeManifest(manifest);
  if (ran.length === 0) log.info(`  (all steps cached in ${relative(PROJECT_ROOT, dir)})`);
  return { artifacts: loadArtifacts(file.name), ran, verifierChanged: ran.includes("export") };
}

/** What a local setup depends on: the circuit and the ptau file (by path and size). */
export function setupKeyOf(circuitHash: string, ptauPath: string): string {
  return sha256(circuitHash, ptauPath, String(statSync(ptauPath).size));
}

function sha256(...parts: string[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p).update("\0");
  return h.digest("hex");
}

function writeIfChanged(path: string, text: string): void {
  if (existsSync(path) && readFileSync(path, "utf8") === text) return;
  writeFileSync(path, text);
}

function describeLayers(types: string[]): string {
  return types.join(" → ");
}
