import { copyFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";

import { BuildError } from "../errors.js";
import { type Logger, silentLogger, step } from "../log.js";
import { loadModel } from "../model/load.js";
import { modelHash, quantizeModel } from "../model/quantize.js";
import { type Contribution, verifyCeremony } from "../zk/ceremony.js";
import { hashZkey } from "../zk/hash.js";
import { givenPtau, requiredPower } from "../zk/ptau.js";
import { exportVerificationKey, verificationKeyHash } from "../zk/setup.js";
import {
  type BuildManifest,
  type ModelArtifacts,
  loadArtifacts,
  readManifest,
  writeManifest,
} from "./artifacts.js";
import { setupKeyOf } from "./buildModel.js";
import { fileRecord } from "./integrity.js";
import { verifierIsCurrent, writeModelVerifier } from "./verifier.js";

/**
 * Installs a ceremony's final zkey as a built model's key: verify it against the model's
 * r1cs and the ptau, copy it over the build's zkey, export the verification key and the
 * Solidity verifier, and record in the manifest that the zkey came from a ceremony (with
 * its contributions and zkeyHash). sibyl:build keeps it until the circuit changes.
 */

/**
 * The build of a model file, refusing a build older than the file: a ceremony is for one
 * exact circuit, so it must run on the circuit the model file describes now.
 */
export function builtModelOf(modelPath: string): ModelArtifacts {
  const file = loadModel(modelPath);
  const artifacts = loadArtifacts(file.name);
  if (artifacts.modelHash !== modelHash(quantizeModel(file)))
    throw new BuildError(
      `${modelPath} changed since model "${file.name}" was last built`,
      `run npx hardhat sibyl:build --model ${modelPath} first: a ceremony is for one exact circuit`,
    );
  return artifacts;
}

export interface FinalizeOptions {
  modelName: string;
  zkeyPath: string;
  /** the ptau the ceremony started from (default: the one the model's build used) */
  ptauPath?: string;
  log?: Logger;
}

export interface FinalizeReport {
  artifacts: ModelArtifacts;
  contributions: Contribution[];
  /** the zkey that was replaced, by hash */
  previousZkeyHash: string;
  /** true when the Solidity verifier changed and Hardhat must recompile */
  verifierChanged: boolean;
}

export async function finalizeCeremony(opts: FinalizeOptions): Promise<FinalizeReport> {
  const log = opts.log ?? silentLogger;
  const before = loadArtifacts(opts.modelName);
  const ptau = givenPtau(
    opts.ptauPath ?? before.ptau.path,
    requiredPower(before.constraints, before.publicSignals),
  );
  const source = resolve(opts.zkeyPath);
  const verified = await verifyCeremony({
    r1csPath: before.r1csPath,
    ptauPath: ptau.path,
    zkeyPath: source,
    log,
  });
  if (verified.contributions.length === 0)
    throw new BuildError(
      `${source} has no contribution: anyone could forge proofs with it`,
      "have at least one party run sibyl:ceremony-contribute on it first",
    );
  if (ptau.development)
    log.warn(
      `the ceremony used DEVELOPMENT powers of tau ${ptau.path}: NOT secure whatever phase 2 did (docs/setup.md)`,
    );

  if (source !== resolve(before.zkeyPath)) {
    const tmp = `${before.zkeyPath}.tmp`;
    try {
      copyFileSync(source, tmp);
      renameSync(tmp, before.zkeyPath);
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  const vk = await exportVerificationKey(before.zkeyPath);
  writeFileSync(before.vkPath, JSON.stringify(vk, null, 1));
  const vkHash = verificationKeyHash(vk);
  const verifierChanged = !verifierIsCurrent(before.verifierPath, vkHash);
  if (verifierChanged)
    await step(log, `export ${before.verifierPath}`, () =>
      writeModelVerifier({ ...before, vkHash, zkeyPath: before.zkeyPath }),
    );

  const stored = readManifest(opts.modelName);
  if (!stored) throw new BuildError(`the manifest of "${opts.modelName}" disappeared during finalize`);
  const manifest: BuildManifest = {
    ...stored,
    vkHash,
    zkeyHash: hashZkey(before.zkeyPath),
    setup: { kind: "ceremony", contributions: verified.contributions },
    setupKey: setupKeyOf(stored.circuitHash, ptau.path),
    ptau: { path: ptau.path, power: ptau.power, development: ptau.development },
    // the zkey, verification key and verifier were just rewritten: record them as they are now
    files: {
      ...stored.files,
      zkey: fileRecord(before.zkeyPath),
      vk: fileRecord(before.vkPath),
      verifier: fileRecord(before.verifierPath),
    },
  };
  writeManifest(manifest);
  return {
    artifacts: loadArtifacts(opts.modelName),
    contributions: verified.contributions,
    previousZkeyHash: before.zkeyHash,
    verifierChanged,
  };
}
