import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { BuildError } from "../errors";
import { BUILD_DIR } from "../paths";
import type { QuantizedModel } from "../runtime/fixed";
import type { VerificationKey } from "../zk/setup";

/**
 * What `sibyl:build` leaves in build/models/<name>/: everything the node, the installer
 * and the bench need, described by manifest.json.
 */
export interface BuildManifest {
  name: string;
  modelPath: string;
  modelHash: string;
  vkHash: string;
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
}

export interface ModelArtifacts extends BuildManifest {
  dir: string;
  quantized: QuantizedModel;
  vk: VerificationKey;
}

export function modelBuildDir(name: string): string {
  return join(BUILD_DIR, "models", name);
}

/** Loads a built model; says which command builds it when it is missing. */
export function loadArtifacts(name: string): ModelArtifacts {
  const dir = modelBuildDir(name);
  const manifestPath = join(dir, "manifest.json");
  if (!existsSync(manifestPath))
    throw new BuildError(
      `model "${name}" is not built (no ${manifestPath})`,
      `run: npx hardhat sibyl:build --model models/${name}/model.json`,
    );
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as BuildManifest;
  for (const p of [manifest.wasmPath, manifest.zkeyPath, manifest.vkPath])
    if (!existsSync(p))
      throw new BuildError(
        `build of "${name}" is incomplete: ${p} is missing`,
        `rebuild with npx hardhat sibyl:build --model ${manifest.modelPath}`,
      );
  return {
    ...manifest,
    dir,
    quantized: readQuantized(join(dir, "quantized.json")),
    vk: JSON.parse(readFileSync(manifest.vkPath, "utf8")) as VerificationKey,
  };
}

export function serializeQuantized(model: QuantizedModel): string {
  return JSON.stringify(model, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
}

function readQuantized(path: string): QuantizedModel {
  const raw = JSON.parse(readFileSync(path, "utf8")) as QuantizedModel;
  return {
    ...raw,
    layers: raw.layers.map((l) =>
      l.type === "dense"
        ? {
            type: "dense",
            weightFracBits: l.weightFracBits,
            weights: l.weights.map((r) => r.map((v) => BigInt(v))),
            bias: l.bias.map((v) => BigInt(v)),
          }
        : l,
    ),
  };
}
