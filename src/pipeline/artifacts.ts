import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { BN254_P } from "../circuit/field.js";
import { BuildError } from "../errors.js";
import { BUILD_DIR } from "../paths.js";
import type { QLayer, QuantizedModel } from "../runtime/fixed.js";
import { randomSalt, type WeightSecrets } from "../circuit/commitment.js";
import type { Contribution } from "../zk/ceremony.js";
import { hashZkey } from "../zk/hash.js";
import type { VerificationKey } from "../zk/setup.js";
import { type FileRecords, ROLE_NAMES, sizeProblem } from "./integrity.js";

/**
 * How a model's zkey was made. "local": one contribution by whoever ran sibyl:build, who
 * could forge proofs. "ceremony": installed by sibyl:ceremony-finalize after verification;
 * sound as long as one contributor destroyed their entropy (docs/setup.md).
 */
export type SetupRecord = { kind: "local" } | { kind: "ceremony"; contributions: Contribution[] };

/**
 * What `sibyl:build` leaves in build/models/<name>/: everything the node, the installer
 * and the bench need, described by manifest.json.
 */
export interface BuildManifest {
  name: string;
  modelPath: string;
  modelHash: string;
  vkHash: string;
  /** "0x" + sha256 of the zkey file (the value the registry records as zkeyHash) */
  zkeyHash: string;
  /** how the zkey was made */
  setup: SetupRecord;
  fracBits: number;
  valueBits: number;
  inputBits: number;
  /** Poseidon commitment to private weights (decimal string); absent for public weights */
  weightCommitment?: string;
  weightVisibility: "public" | "private";
  inputLength: number;
  outputLength: number;
  classes?: string[];
  constraints: number;
  publicSignals: number;
  circuitPath: string;
  circuitHash: string;
  r1csPath: string;
  wasmPath: string;
  zkeyPath: string;
  vkPath: string;
  verifierContract: string;
  verifierPath: string;
  setupKey: string;
  ptau: { path: string; power: number; development: boolean };
  timings: { compileMs?: number; setupMs?: number; exportMs?: number };
  /**
   * size, sha256 and mtime of each artifact file (r1cs, wasm, zkey, vk, verifier) as the build
   * wrote it: a cached build checks them before trusting the files (src/pipeline/integrity.ts)
   */
  files: FileRecords;
}

export interface ModelArtifacts extends BuildManifest {
  dir: string;
  quantized: QuantizedModel;
  vk: VerificationKey;
  /**
   * the secret salt of a private-weights model's commitment (from secret.json; absent where
   * only the build was copied, e.g. on a client); only a node proving the model needs it
   */
  salt?: bigint;
}

/** The file in build/models/<name>/ that keeps a private-weights model's salt. */
export const SECRET_FILE = "secret.json";

export function modelBuildDir(name: string): string {
  return join(BUILD_DIR, "models", name);
}

/** Loads a built model; says which command builds it when it is missing. */
export function loadArtifacts(name: string): ModelArtifacts {
  const dir = modelBuildDir(name);
  const path = manifestPath(name);
  if (!existsSync(path))
    throw new BuildError(
      `model "${name}" is not built (no ${path})`,
      `run: npx hardhat sibyl:build --model models/${name}/model.json`,
    );
  const manifest = readManifestFile(path);
  for (const p of [manifest.wasmPath, manifest.zkeyPath, manifest.vkPath])
    if (!existsSync(p))
      throw new BuildError(
        `build of "${name}" is incomplete: ${p} is missing`,
        `rebuild with npx hardhat sibyl:build --model ${manifest.modelPath}`,
      );
  // the files proving reads: a size check is cheap and catches truncation (sibyl:build also hashes)
  for (const role of ["wasm", "zkey", "vk"] as const) {
    const p = { wasm: manifest.wasmPath, zkey: manifest.zkeyPath, vk: manifest.vkPath }[role];
    const problem = sizeProblem(p, manifest.files?.[role]);
    if (problem)
      throw new BuildError(
        `build of "${name}" is damaged: its ${ROLE_NAMES[role]} ${p} is ${problem}`,
        `rebuild it with npx hardhat sibyl:build --model ${manifest.modelPath} (it redoes the damaged steps)`,
      );
  }
  return {
    ...manifest,
    // manifests written before zkeyHash and setup existed: a local setup, hash computed now
    zkeyHash: manifest.zkeyHash ?? hashZkey(manifest.zkeyPath),
    setup: manifest.setup ?? { kind: "local" },
    // manifests written before file records existed: nothing recorded
    files: manifest.files ?? {},
    dir,
    quantized: readQuantized(join(dir, "quantized.json")),
    vk: JSON.parse(readFileSync(manifest.vkPath, "utf8")) as VerificationKey,
    ...(manifest.weightVisibility === "private" && existsSync(join(dir, SECRET_FILE))
      ? { salt: readSalt(dir) }
      : {}),
  };
}

/** A manifest as stored; `zkeyHash`, `setup` and `files` are missing from manifests of older builds. */
export type StoredManifest = Omit<BuildManifest, "zkeyHash" | "setup" | "files"> &
  Partial<Pick<BuildManifest, "zkeyHash" | "setup" | "files">>;

export function manifestPath(name: string): string {
  return join(modelBuildDir(name), "manifest.json");
}

function readManifestFile(path: string): StoredManifest {
  return JSON.parse(readFileSync(path, "utf8")) as StoredManifest;
}

/** The stored manifest of a model's previous build, or undefined when there is none (or it is unreadable). */
export function readManifest(name: string): StoredManifest | undefined {
  const path = manifestPath(name);
  if (!existsSync(path)) return undefined;
  try {
    return readManifestFile(path);
  } catch {
    return undefined;
  }
}

export function writeManifest(manifest: BuildManifest): void {
  writeFileSync(manifestPath(manifest.name), JSON.stringify(manifest, null, 1));
}

/** The salt and registered commitment a node proves with; undefined for public weights. */
export function weightSecretsOf(artifacts: ModelArtifacts): WeightSecrets | undefined {
  if (artifacts.weightVisibility !== "private") return undefined;
  if (artifacts.salt === undefined || artifacts.weightCommitment === undefined)
    throw new BuildError(
      `model "${artifacts.name}" has private weights but its build has no salt (${join(artifacts.dir, SECRET_FILE)}) or no commitment`,
      `restore ${SECRET_FILE} from the machine that built the model; failing that, rebuild with ` +
        `npx hardhat sibyl:build --model ${artifacts.modelPath} (a new salt) and register the new commitment`,
    );
  return { salt: artifacts.salt, commitment: BigInt(artifacts.weightCommitment) };
}

/**
 * The model's salt, created once (crypto random) and reused by every later build, so the
 * commitment changes only when the weights do. Written owner-readable only; never logged.
 */
export function ensureSalt(dir: string): bigint {
  if (existsSync(join(dir, SECRET_FILE))) return readSalt(dir);
  const salt = randomSalt();
  writeFileSync(join(dir, SECRET_FILE), JSON.stringify({ salt: salt.toString() }), { mode: 0o600 });
  return salt;
}

function readSalt(dir: string): bigint {
  const path = join(dir, SECRET_FILE);
  try {
    const salt = BigInt((JSON.parse(readFileSync(path, "utf8")) as { salt: string }).salt);
    if (salt >= 0n && salt < BN254_P) return salt;
  } catch {
    // fall through: unreadable
  }
  throw new BuildError(
    `${path} does not hold a salt below the field modulus`,
    "restore it from the machine that built the model, or delete it, rebuild and register the new commitment",
  );
}

export function serializeQuantized(model: QuantizedModel): string {
  return JSON.stringify(model, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
}

function readQuantized(path: string): QuantizedModel {
  const raw = JSON.parse(readFileSync(path, "utf8")) as QuantizedModel;
  return {
    ...raw,
    layers: raw.layers.map((l): QLayer => {
      switch (l.type) {
        case "dense":
          return {
            type: "dense",
            weightFracBits: l.weightFracBits,
            weights: l.weights.map((r) => r.map((v) => BigInt(v))),
            bias: l.bias.map((v) => BigInt(v)),
          };
        case "conv2d":
          return {
            ...l,
            weights: l.weights.map((oc) => oc.map((ic) => ic.map((r) => r.map((v) => BigInt(v))))),
            bias: l.bias.map((v) => BigInt(v)),
          };
        default:
          return l;
      }
    }),
  };
}
