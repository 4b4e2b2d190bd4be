import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { SECRET_FILE, loadArtifacts, modelBuildDir, weightSecretsOf } from "../../src/pipeline/artifacts.js";
import { type BuildReport, buildModel } from "../../src/pipeline/buildModel.js";
import { BuildError } from "../../src/errors.js";
import { CIRCUIT_MODELS_DIR, VERIFIERS_DIR } from "../../src/paths.js";
import { releaseProverThreads } from "../../src/zk/prover.js";
import { weightCommitment } from "../../src/circuit/commitment.js";
import { RecordingLogger } from "../helpers/recording-logger.js";

/**
 * The build of a private-weights model (3 → 2 → argmax, 8-bit weights): a salt created once
 * and kept secret, the commitment in the manifest, and a circuit that does not depend on the
 * weight values, so new weights change only the commitment. Builds into the project's
 * folders under a name no real model uses and removes everything afterwards.
 */
const NAME = "unitprivate";
const VERIFIER_PATH = join(VERIFIERS_DIR, "UnitprivateVerifier.sol");

function privateModel(firstWeight: number): object {
  return {
    format: "sibyl-model/1",
    name: NAME,
    inputLength: 3,
    quantization: { fracBits: 8, valueBits: 24, weights: "private" },
    layers: [
      {
        type: "dense",
        // the largest |weight| (0.9) fixes the layer's scale at 2^7, whatever the first weight is
        weights: [
          [firstWeight, -0.9, 0.125],
          [0.75, 0.5, -0.25],
        ],
        bias: [0.1, -0.2],
      },
      { type: "argmax" },
    ],
  };
}

function removeOutputs(): void {
  rmSync(modelBuildDir(NAME), { recursive: true, force: true });
  rmSync(join(CIRCUIT_MODELS_DIR, NAME), { recursive: true, force: true });
  rmSync(VERIFIER_PATH, { force: true });
}

describe("build/buildModel: private weights", function () {
  let dir: string;
  let modelPath: string;
  let first: BuildReport;
  let log: RecordingLogger;
  let salt: bigint;

  before(function () {
    removeOutputs();
    dir = mkdtempSync(join(tmpdir(), "sibyl-build-private-"));
    modelPath = join(dir, "model.json");
    writeFileSync(modelPath, JSON.stringify(privateModel(0.5)));
  });

  after(async function () {
    removeOutputs();
    rmSync(dir, { recursive: true, force: true });
    await releaseProverThreads();
  });

  it("creates a secret salt once and records the commitment, never the salt, in the manifest", async function () {
    log = new RecordingLogger();
    first = await buildModel(modelPath, { log, generatePtau: false });
    expect(first.ran).to.deep.equal(["compile", "setup", "export"]);
    const a = first.artifacts;
    expect(a.weightVisibility).to.equal("private");
    expect(a.publicSignals).to.equal(1 + 1 + 1 + 1);
    expect(a.vk.nPublic).to.equal(4);

    const secretPath = join(modelBuildDir(NAME), SECRET_FILE);
    expect(statSync(secretPath).mode & 0o077, "secret.json is readable by others").to.equal(0);
    salt = BigInt((JSON.parse(readFileSync(secretPath, "utf8")) as { salt: string }).salt);
    expect(a.salt).to.equal(salt);
    expect(a.weightCommitment).to.equal(weightCommitment(a.quantized, salt).toString());
    expect(weightSecretsOf(a)).to.deep.equal({ salt, commitment: BigInt(a.weightCommitment!) });

    const manifest = readFileSync(join(modelBuildDir(NAME), "manifest.json"), "utf8");
    expect(manifest).to.not.contain(salt.toString());
    expect(log.lines.map((l) => l.msg).join("\n")).to.not.contain(salt.toString());
    expect(log.lines.map((l) => l.msg).join("\n")).to.contain(a.weightCommitment!);
  });

  it("reuses the salt: an unchanged model keeps its commitment and runs nothing", async function () {
    const second = await buildModel(modelPath, { log: new RecordingLogger(), generatePtau: false });
    expect(second.ran).to.deep.equal([]);
    expect(second.artifacts.salt).to.equal(salt);
    expect(second.artifacts.weightCommitment).to.equal(first.artifacts.weightCommitment);
  });

  it("new weights change only the commitment: no compile, no setup, same keys and model hash", async function () {
    const zkeyBefore = readFileSync(first.artifacts.zkeyPath);
    const circuitBefore = readFileSync(first.artifacts.circuitPath, "utf8");
    writeFileSync(modelPath, JSON.stringify(privateModel(0.25)));
    const report = await buildModel(modelPath, { log: new RecordingLogger(), generatePtau: false });
    expect(report.ran).to.deep.equal([]);
    const a = report.artifacts;
    expect((a.quantized.layers[0] as { weights: bigint[][] }).weights[0][0]).to.equal(32n); // 0.25 · 2^7
    expect(a.weightCommitment).to.not.equal(first.artifacts.weightCommitment);
    expect(a.weightCommitment).to.equal(weightCommitment(a.quantized, salt).toString());
    expect(a.vkHash).to.equal(first.artifacts.vkHash);
    expect(a.modelHash).to.equal(first.artifacts.modelHash);
    expect(a.circuitHash).to.equal(first.artifacts.circuitHash);
    expect(readFileSync(a.circuitPath, "utf8")).to.equal(circuitBefore);
    expect(readFileSync(a.zkeyPath).equals(zkeyBefore)).to.equal(true);
    expect(loadArtifacts(NAME).weightCommitment).to.equal(a.weightCommitment);
  });

  it("loads without the salt (a client needs none), but refuses to prove and says how to recover", function () {
    rmSync(join(modelBuildDir(NAME), SECRET_FILE));
    const a = loadArtifacts(NAME);
    expect(a.salt).to.equal(undefined);
    expect(a.weightCommitment).to.be.a("string");
    let caught: unknown;
    try {
      weightSecretsOf(a);
    } catch (e) {
      caught = e;
    }
    expect(caught).to.be.instanceOf(BuildError);
    expect((caught as BuildError).message).to.contain(SECRET_FILE);
    expect((caught as BuildError).hint).to.contain("register the new commitment");
  });

  it("refuses a malformed salt file", function () {
    writeFileSync(join(modelBuildDir(NAME), SECRET_FILE), JSON.stringify({ salt: "not a number" }));
    expect(() => loadArtifacts(NAME)).to.throw(BuildError, /does not hold a salt/);
  });
});
