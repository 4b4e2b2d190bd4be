import { createHash } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";

import { modelBuildDir } from "../../src/pipeline/artifacts.js";
import { BuildError } from "../../src/errors.js";
import { CIRCUIT_MODELS_DIR, VERIFIERS_DIR } from "../../src/paths.js";

/**
 * Tiny models for the build and setup tests, built into the project's own build/,
 * circuits/models/ and contracts/verifiers/ folders (paths.ts's live bindings, read when
 * each helper runs) under names no real model uses, and removed again with
 * `removeBuildOutputs`.
 */

/** A 3 → 4 → relu → 2 → argmax classifier; `firstWeight` changes the weights (and so the circuit). */
export function tinyClassifier(name: string, firstWeight = 0.5): object {
  return {
    format: "sibyl-model/1",
    name,
    inputLength: 3,
    classes: ["left", "right"],
    quantization: { fracBits: 8, valueBits: 24 },
    layers: [
      {
        type: "dense",
        weights: [
          [firstWeight, -0.25, 0.125],
          [0.75, 0.5, -1],
          [-0.5, 1.5, 0.25],
          [1, 0, 0.5],
        ],
        bias: [0.1, -0.2, 0, 0.3],
      },
      { type: "relu" },
      {
        type: "dense",
        weights: [
          [1, -1, 0.5, 0.25],
          [-0.5, 1, 0.75, -0.25],
        ],
        bias: [0, 0.05],
      },
      { type: "argmax" },
    ],
  };
}

/** The verifier file the build writes for a model name made of lower-case letters. */
export function tinyVerifierPath(name: string): string {
  return join(VERIFIERS_DIR, `${name[0].toUpperCase()}${name.slice(1)}Verifier.sol`);
}

/** Removes everything a build of `name` left in the project's folders. */
export function removeBuildOutputs(name: string): void {
  rmSync(modelBuildDir(name), { recursive: true, force: true });
  rmSync(join(CIRCUIT_MODELS_DIR, name), { recursive: true, force: true });
  rmSync(tinyVerifierPath(name), { force: true });
}

/** sha256 of a file's bytes, as 64 hex digits. */
export function fileSha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** The BuildError `p` rejects with (fails the test if it resolves or throws something else). */
export async function buildErrorOf(p: Promise<unknown>): Promise<BuildError> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(BuildError);
    return e as BuildError;
  }
  throw new Error("expected a BuildError");
}
