import { expect } from "chai";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { loadArtifacts } from "../../src/pipeline/artifacts.js";
import { type BuildReport, buildModel } from "../../src/pipeline/buildModel.js";
import { BuildError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import { modelHash, quantizeModel } from "../../src/model/quantize.js";
import { loadModelFile } from "../../src/model/schema.js";
import { CIRCUIT_MODELS_DIR } from "../../src/paths.js";
import { requiredPower } from "../../src/zk/ptau.js";
import { releaseProverThreads } from "../../src/zk/prover.js";
import { removeBuildOutputs, tinyClassifier, tinyVerifierPath } from "../helpers/tiny-models.js";

/**
 * The cached build pipeline on a tiny model (3 → 4 → relu → 2 → argmax). It builds into the
 * project's own build/, circuits/models/ and contracts/verifiers/ folders (paths.ts fixes
 * them at import time), under a name no real model uses, and removes all of it afterwards so
 * the verifier is never compiled into the project.
 */
const NAME = "unittiny";
const VERIFIER_PATH = tinyVerifierPath(NAME);

const tinyModel = (firstWeight = 0.5): object => tinyClassifier(NAME, firstWeight);
const removeOutputs = (): void => removeBuildOutputs(NAME);

describe("build/buildModel: caching", function () {
  let dir: string;
  let modelPath: string;
  let first: BuildReport;

  before(function () {
    removeOutputs(); // a run interrupted before its cleanup must not make the first build look cached
    dir = mkdtempSync(join(tmpdir(), "sibyl-build-"));
    modelPath = join(dir, "model.json");
    writeFileSync(modelPath, JSON.stringify(tinyModel()));
  });

  after(async function () {
    removeOutputs();
    rmSync(dir, { recursive: true, force: true });
    await releaseProverThreads();
  });

  it("runs compile, setup and export on the first build", async function () {
    first = await buildModel(modelPath, { log: silentLogger, generatePtau: false });
    expect(first.ran).to.deep.equal(["compile", "setup", "export"]);
    expect(first.verifierChanged).to.equal(true);

    const a = first.artifacts;
    expect(a.name).to.equal(NAME);
    expect(a.modelHash).to.equal(modelHash(quantizeModel(loadModelFile(modelPath))));
    // 3 · 24 + 24 + 128 = 224 bits: one compact public signal
    expect(a).to.include({ inputLength: 3, outputLength: 1, fracBits: 8, valueBits: 24, publicSignals: 1 });
    expect(a.classes).to.deep.equal(["left", "right"]);
    expect(a.constraints).to.be.greaterThan(0);
    expect(a.ptau.power).to.be.at.least(requiredPower(a.constraints, a.publicSignals));
    expect(a.vk.nPublic).to.equal(1);
    for (const p of [a.r1csPath, a.wasmPath, a.zkeyPath, a.vkPath, a.circuitPath])
      expect(existsSync(p), p).to.equal(true);
    expect(a.circuitPath).to.equal(join(CIRCUIT_MODELS_DIR, NAME, `${NAME}.circom`));
    expect(a.verifierContract).to.equal("UnittinyVerifier");
    expect(a.verifierPath).to.equal(VERIFIER_PATH);
    const verifier = readFileSync(VERIFIER_PATH, "utf8");
    expect(verifier).to.contain("contract UnittinyVerifier");
    expect(verifier).to.contain(`vkHash ${a.vkHash}`);
    expect(verifier).to.contain(`modelHash ${a.modelHash}`);
  });

  it("runs nothing on a second build of the same model and returns the same keys", async function () {
    const zkeyBefore = readFileSync(first.artifacts.zkeyPath);
    const second = await buildModel(modelPath, { log: silentLogger, generatePtau: false });
    expect(second.ran).to.deep.equal([]);
    expect(second.verifierChanged).to.equal(false);
    expect(second.artifacts.vkHash).to.equal(first.artifacts.vkHash);
    expect(second.artifacts.modelHash).to.equal(first.artifacts.modelHash);
    expect(readFileSync(second.artifacts.zkeyPath).equals(zkeyBefore)).to.equal(true);
  });

  it("runs nothing when a weight changes by less than one quantization step", async function () {
    writeFileSync(modelPath, JSON.stringify(tinyModel(0.5 + 1e-6)));
    const report = await buildModel(modelPath, { log: silentLogger, generatePtau: false });
    expect(report.ran).to.deep.equal([]);
    expect(report.artifacts.modelHash).to.equal(first.artifacts.modelHash);
  });

  it("reruns compile, setup and export when one weight changes, with a new model hash", async function () {
    writeFileSync(modelPath, JSON.stringify(tinyModel(0.75)));
    const report = await buildModel(modelPath, { log: silentLogger, generatePtau: false });
    expect(report.ran).to.deep.equal(["compile", "setup", "export"]);
    expect(report.verifierChanged).to.equal(true);
    expect(report.artifacts.modelHash).to.not.equal(first.artifacts.modelHash);
    expect(report.artifacts.vkHash).to.not.equal(first.artifacts.vkHash);
    expect(readFileSync(VERIFIER_PATH, "utf8")).to.contain(`vkHash ${report.artifacts.vkHash}`);
    // what loadArtifacts reads back is the new build
    expect(loadArtifacts(NAME).modelHash).to.equal(report.artifacts.modelHash);
  });

  it("loadArtifacts of an unknown model says which command builds it", function () {
    let caught: unknown;
    try {
      loadArtifacts("nosuchmodel");
    } catch (e) {
      caught = e;
    }
    expect(caught).to.be.instanceOf(BuildError);
    const err = caught as BuildError;
    expect(err.message).to.contain('model "nosuchmodel" is not built');
    expect(err.hint).to.equal("run: npx hardhat sibyl:build --model models/nosuchmodel/model.json");
  });
});
