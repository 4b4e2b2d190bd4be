import { expect } from "chai";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { loadArtifacts, manifestPath } from "../../src/pipeline/artifacts.js";
import { buildModel } from "../../src/pipeline/buildModel.js";
import { silentLogger } from "../../src/log.js";
import { SHARED_PTAU_DIR } from "../../src/paths.js";
import { generateDevPtau, readPtauHeader } from "../../src/zk/ptau.js";
import { releaseProverThreads } from "../../src/zk/prover.js";
import { RecordingLogger } from "../helpers/recording-logger.js";
import { buildErrorOf, fileSha256, removeBuildOutputs } from "../helpers/tiny-models.js";

/**
 * What the build manifest says about the zkey (its hash, how it was made) and the
 * sibyl:build --ptau option, on a tiny model built into the project's folders under a
 * name no real model uses (removed afterwards, as in buildModel.test.ts).
 */
const NAME = "unitsetuprecord";
const DEV_PTAU = join(SHARED_PTAU_DIR, "dev-12.ptau");

function tinyModel(): object {
  return {
    format: "sibyl-model/1",
    name: NAME,
    inputLength: 2,
    quantization: { fracBits: 8, valueBits: 24 },
    layers: [{ type: "dense", weights: [[0.5, -0.25]], bias: [0.125] }],
  };
}

const removeOutputs = (): void => removeBuildOutputs(NAME);

describe("build: zkeyHash, setup record and --ptau", function () {
  let dir: string;
  let modelPath: string;
  let publicPtau: string;

  before(function () {
    removeOutputs();
    dir = mkdtempSync(join(tmpdir(), "sibyl-setup-record-"));
    modelPath = join(dir, "model.json");
    writeFileSync(modelPath, JSON.stringify(tinyModel()));
    // stands in for a downloaded public file: same bytes as dev-12, a public file's name
    publicPtau = join(dir, "powersOfTau28_hez_final_12.ptau");
    copyFileSync(DEV_PTAU, publicPtau);
  });

  after(async function () {
    removeOutputs();
    rmSync(dir, { recursive: true, force: true });
    await releaseProverThreads();
  });

  it("records the sha256 of the zkey file and a local setup in the manifest", async function () {
    const { artifacts } = await buildModel(modelPath, { log: silentLogger, ptauPath: DEV_PTAU });
    expect(artifacts.zkeyHash).to.match(/^0x[0-9a-f]{64}$/);
    expect(artifacts.zkeyHash).to.equal(`0x${fileSha256(artifacts.zkeyPath)}`);
    expect(artifacts.setup).to.deep.equal({ kind: "local" });
    const stored = JSON.parse(readFileSync(manifestPath(NAME), "utf8"));
    expect(stored.zkeyHash).to.equal(artifacts.zkeyHash);
    expect(stored.setup).to.deep.equal({ kind: "local" });
  });

  it("loads a manifest written before zkeyHash and setup existed", function () {
    const path = manifestPath(NAME);
    const { zkeyHash, setup: _setup, ...old } = JSON.parse(readFileSync(path, "utf8"));
    writeFileSync(path, JSON.stringify(old));
    const a = loadArtifacts(NAME);
    expect(a.zkeyHash).to.equal(zkeyHash);
    expect(a.setup).to.deep.equal({ kind: "local" });
  });

  it("uses a given ptau file, marks it non-development and does not call it insecure", async function () {
    const log = new RecordingLogger();
    const report = await buildModel(modelPath, { log, ptauPath: publicPtau });
    expect(report.ran).to.include("setup"); // another ptau: a new setup
    expect(report.artifacts.ptau).to.deep.equal({ path: publicPtau, power: 12, development: false });
    expect(log.messages("warn").filter((m) => m.includes("NOT secure"))).to.deep.equal([]);
    expect(report.artifacts.zkeyHash).to.equal(`0x${fileSha256(report.artifacts.zkeyPath)}`);
    // and the same file again is cached
    expect((await buildModel(modelPath, { log: silentLogger, ptauPath: publicPtau })).ran).to.deep.equal([]);
  });

  it("still warns for a development file given with --ptau", async function () {
    const log = new RecordingLogger();
    const report = await buildModel(modelPath, { log, ptauPath: DEV_PTAU });
    expect(report.artifacts.ptau.development).to.equal(true);
    expect(log.messages("warn").join("\n")).to.contain("NOT secure");
  });

  it("refuses a missing ptau file, naming its path", async function () {
    const missing = join(dir, "nowhere", "powersOfTau28_hez_final_16.ptau");
    const err = await buildErrorOf(buildModel(modelPath, { log: silentLogger, ptauPath: missing }));
    expect(err.message).to.contain(`powers-of-tau file ${missing} does not exist`);
    expect(err.hint).to.contain("--ptau");
  });

  it("refuses a ptau too small for the circuit, or a file that is no ptau", async function () {
    const small = await generateDevPtau(3, silentLogger, join(dir, "small"));
    expect(readPtauHeader(small.path)).to.deep.equal({ power: 3, ceremonyPower: 3, preparedForPhase2: true });
    const err = await buildErrorOf(buildModel(modelPath, { log: silentLogger, ptauPath: small.path }));
    expect(err.message).to.match(/has power 2\^3, but the circuit needs 2\^\d+/);

    const junk = join(dir, "junk.ptau");
    writeFileSync(junk, "not a ptau at all");
    expect(
      (await buildErrorOf(buildModel(modelPath, { log: silentLogger, ptauPath: junk }))).message,
    ).to.contain("is not a usable powers-of-tau file");
  });

  it("reads the header of the shared development files", function () {
    expect(readPtauHeader(DEV_PTAU)).to.deep.include({ power: 12, preparedForPhase2: true });
    expect(readPtauHeader(join(SHARED_PTAU_DIR, "dev-14.ptau")).power).to.equal(14);
  });
});
