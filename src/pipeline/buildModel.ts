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
import { weightCommitment } from "../circuit/commitment.js";
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
import { type ArtifactRole, ArtifactFiles, type DamagedFile, ROLE_NAMES } from "./integrity.js";
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
  /**
   * the steps that actually ran (the rest came from cache): "compile", "setup", "vkey" (the
   * verification key exported again from an intact zkey), "export"
   */
  ran: string[];
  /** the files of the previous build found missing or damaged (and rebuilt) */
  damaged: DamagedFile[];
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

  // The previous build's files are trusted only as it recorded them (size, sha256, mtime).
  // Manifests from before file records: only the zkey's hash (zkeyHash) was recorded.
  const files = new ArtifactFiles(
    previous?.files ?? (previous?.zkeyHash ? { zkey: { sha256: previous.zkeyHash.replace(/^0x/, "") } } : {}),
  );
  const damaged: DamagedFile[] = [];
  /** True when the file can be reused; says so when a file the previous build wrote is damaged. */
  const intact = (role: ArtifactRole, path: string, then: string, alwaysHash = false): boolean => {
    const problem = files.problem(role, path, alwaysHash);
    if (problem === undefined) return true;
    if (files.isRecorded(role)) {
      damaged.push({ role, path, problem });
      log.warn(`damaged ${ROLE_NAMES[role]} ${relative(PROJECT_ROOT, path)}: ${problem}; ${then}`);
    }
    return false;
  };

  // 2. compile
  const r1csPath = join(dir, `${file.name}.r1cs`);
  const wasmPath = join(dir, `${file.name}_js`, `${file.name}.wasm`);
  let constraints = previous?.constraints ?? 0;
  let compileMs = previous?.timings.compileMs;
  if (
    opts.force ||
    previous?.circuitHash !== circuitHash ||
    !intact("r1cs", r1csPath, "compiling again") ||
    !intact("wasm", wasmPath, "compiling again")
  ) {
    const { result } = await step(log, `compile ${relative(PROJECT_ROOT, circuitPath)} (circom --O2)`, () =>
      compileCircuit({ circuitPath, outDir: dir }),
    );
    files.forget(r1csPath, wasmPath);
    constraints = result.constraints;
    compileMs = result.compileMs;
    ran.push("compile");
  }
  log.info(`  constraints: ${constraints}   public signals: ${circuit.publicSignals}`);
  // A recompile of the same circuit (a damaged file replaced) gives the same r1cs: the zkey
  // stays valid. Any other recompile needs a new setup.
  const r1csChanged =
    ran.includes("compile") && (opts.force || files.sha256(r1csPath) !== previous?.files?.r1cs?.sha256);

  // 3. Groth16 setup
  const power = requiredPower(constraints, circuit.publicSignals);
  const zkeyPath = join(dir, `${file.name}.zkey`);
  const vkPath = join(dir, "verification_key.json");
  const circuitChanged = r1csChanged || previous?.circuitHash !== circuitHash;
  const ceremony = previous?.setup?.kind === "ceremony" ? previous.setup : undefined;
  let ptau: PtauFile;
  let setupKey: string;
  let setup: SetupRecord = { kind: "local" };
  let setupMs = previous?.timings.setupMs;
  let setupWhy = "";
  // checked (and hashed) once, however many branches ask
  let zkeyOk: boolean | undefined;
  const zkeyIntact = (then: string): boolean => (zkeyOk ??= intact("zkey", zkeyPath, then, true));
  if (
    previous &&
    ceremony &&
    !opts.force &&
    !circuitChanged &&
    zkeyIntact("a local setup replaces the ceremony's zkey")
  ) {
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
    if (opts.force) setupWhy = "--force";
    else if (circuitChanged) setupWhy = "the circuit changed";
    else if (!zkeyIntact("running the Groth16 setup again"))
      setupWhy = existsSync(zkeyPath) ? "zkey damaged" : "zkey missing";
    else if (previous?.setupKey !== setupKey) setupWhy = "the ptau changed";
    if (setupWhy !== "") {
      if (ceremony)
        log.warn(
          `the CEREMONY zkey of ${file.name} is REPLACED by a single-party local setup (${setupWhy}): ` +
            "whoever runs this build can forge proofs. Run a new ceremony before production (docs/setup.md)",
        );
      ({ ms: setupMs } = await step(log, `groth16 setup (2^${ptau.power} ptau)`, async () => {
        await groth16Setup(r1csPath, ptau.path, zkeyPath, log);
        writeFileSync(vkPath, JSON.stringify(await exportVerificationKey(zkeyPath), null, 1));
      }));
      files.forget(zkeyPath, vkPath);
      ran.push("setup");
    }
  }
  // the verification key is a function of the zkey: export it again when it is missing or damaged
  if (!ran.includes("setup") && !intact("vk", vkPath, "exporting it again from the zkey")) {
    await step(log, `export ${relative(PROJECT_ROOT, vkPath)}`, async () =>
      writeFileSync(vkPath, JSON.stringify(await exportVerificationKey(zkeyPath), null, 1)),
    );
    files.forget(vkPath);
    ran.push("vkey");
  }
  if (ptau.development)
    log.warn(
      `using DEVELOPMENT powers of tau ${relative(PROJECT_ROOT, ptau.path)} (2^${ptau.power}): fine for tests, NOT secure`,
    );
  const vk = JSON.parse(readFileSync(vkPath, "utf8")) as ModelArtifacts["vk"];
  const vkHash = verificationKeyHash(vk);
  const zkeyHash = `0x${files.sha256(zkeyPath)}`;

  // 4. Solidity verifier
  const verifierContract = verifierContractName(file.name);
  const verifierPath = join(VERIFIERS_DIR, `${verifierContract}.sol`);
  let exportMs = previous?.timings.exportMs;
  if (
    opts.force ||
    ran.includes("setup") ||
    !verifierIsCurrent(verifierPath, vkHash) ||
    !intact("verifier", verifierPath, "exporting it again")
  ) {
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
    files.forget(verifierPath);
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
    files: {
      r1cs: files.record("r1cs", r1csPath),
      wasm: files.record("wasm", wasmPath),
      zkey: files.record("zkey", zkeyPath),
      vk: files.record("vk", vkPath),
      verifier: files.record("verifier", verifierPath),
    },
  };
  writeFileSync(join(dir, "quantized.json"), serializeQuantized(quantized));
  writeManifest(manifest);
  if (ran.length === 0)
    log.info(`  (all steps cached in ${relative(PROJECT_ROOT, dir)}; artifact files checked)`);
  return { artifacts: loadArtifacts(file.name), ran, damaged, verifierChanged: ran.includes("export") };
}

/** What a local setup depends on: the circuit and the ptau file (by path and size). */
export function setupKeyOf(circuitHash: string, ptauPath: string): string {
  return sha256(circuitHash, ptauPath, String(statSync(ptauPath).size));
}

/** sha256 of text parts, each ended by a NUL (cache keys of the build's steps). */
export function sha256(...parts: string[]): string {
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
