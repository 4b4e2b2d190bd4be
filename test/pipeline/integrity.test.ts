import { expect } from "chai";
import {
  appendFileSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

import { type ModelArtifacts, loadArtifacts, manifestPath } from "../../src/pipeline/artifacts.js";
import { buildModel } from "../../src/pipeline/buildModel.js";
import { circuitInputFor } from "../../src/circuit/inputs.js";
import { PROJECT_ROOT } from "../../src/paths.js";
import { runQuantized } from "../../src/runtime/fixed.js";
import { SnarkjsProver, releaseProverThreads, verifyProof } from "../../src/zk/prover.js";
import { RecordingLogger } from "../helpers/recording-logger.js";
import { buildErrorOf, fileSha256, removeBuildOutputs, tinyClassifier } from "../helpers/tiny-models.js";

/**
 * A cached build trusts the previous build's files only as the manifest recorded them (size,
 * sha256, mtime): a truncated or overwritten artifact is named and the steps that make it run
 * again. Tiny model built into the project's folders under a name no real model uses,
 * removed afterwards (as in buildModel.test.ts).
 */
const NAME = "unitdamage";
const REQUEST_ID = "0x00000000000000000000000000000000000000000000000000000000d00dad01";

/** Builds with a recording logger; returns the report and the log. */
async function rebuild(modelPath: string) {
  const log = new RecordingLogger();
  const report = await buildModel(modelPath, { log, generatePtau: false });
  return { report, log, text: log.lines.map((l) => `${l.level}: ${l.msg}`).join("\n") };
}

/** A proof with the build's wasm and zkey verifies against its verification key. */
async function provesAndVerifies(a: ModelArtifacts): Promise<boolean> {
  const x = [256n, -128n, 64n];
  const { output } = runQuantized(a.quantized, x);
  const proof = await new SnarkjsProver(a.wasmPath, a.zkeyPath).prove(
    circuitInputFor(a.quantized, REQUEST_ID, x, output),
  );
  return verifyProof(a.vk, proof.publicSignals, proof.proof);
}

const storedManifest = (): Record<string, unknown> & {
  files?: Record<string, { size: number; sha256: string; mtimeMs: number }>;
} => JSON.parse(readFileSync(manifestPath(NAME), "utf8"));

describe("build: cached artifacts are checked before they are trusted", function () {
  let dir: string;
  let modelPath: string;
  let built: ModelArtifacts;

  before(async function () {
    removeBuildOutputs(NAME);
    dir = mkdtempSync(join(tmpdir(), "sibyl-integrity-"));
    modelPath = join(dir, "model.json");
    writeFileSync(modelPath, JSON.stringify(tinyClassifier(NAME)));
    ({ artifacts: built } = await buildModel(modelPath, { log: new RecordingLogger(), generatePtau: false }));
  });

  after(async function () {
    removeBuildOutputs(NAME);
    rmSync(dir, { recursive: true, force: true });
    await releaseProverThreads();
  });

  it("records the size and sha256 of every artifact file in the manifest", function () {
    const files = storedManifest().files!;
    const paths = {
      r1cs: built.r1csPath,
      wasm: built.wasmPath,
      zkey: built.zkeyPath,
      vk: built.vkPath,
      verifier: built.verifierPath,
    };
    expect(Object.keys(files).sort()).to.deep.equal(Object.keys(paths).sort());
    for (const [role, path] of Object.entries(paths)) {
      expect(files[role].size, role).to.equal(statSync(path).size);
      expect(files[role].sha256, role).to.equal(fileSha256(path));
    }
    expect(`0x${files.zkey.sha256}`).to.equal(built.zkeyHash);
  });

  it("a truncated zkey is named as damaged, set up again (not 'cached'), and proves again", async function () {
    const size = statSync(built.zkeyPath).size;
    truncateSync(built.zkeyPath, Math.floor(size / 2));
    // loading the build (what a node does) refuses it too
    const loadError = await buildErrorOf(Promise.resolve().then(() => loadArtifacts(NAME)));
    expect(loadError.message).to.contain(`its zkey ${built.zkeyPath} is ${Math.floor(size / 2)} bytes`);
    expect(loadError.message).to.contain("(truncated)");

    const { report, text } = await rebuild(modelPath);
    expect(text).to.not.contain("cached");
    expect(text).to.contain(
      `damaged zkey ${relative(PROJECT_ROOT, built.zkeyPath)}: ${Math.floor(size / 2)} bytes, but the build wrote ${size} (truncated)`,
    );
    expect(report.damaged.map((d) => [d.role, d.path])).to.deep.equal([["zkey", built.zkeyPath]]);
    expect(report.ran).to.deep.equal(["setup", "export"]);
    const a = report.artifacts;
    expect(a.zkeyHash).to.equal(`0x${fileSha256(a.zkeyPath)}`);
    expect(storedManifest().files!.zkey.size).to.equal(statSync(a.zkeyPath).size);
    expect(await provesAndVerifies(a)).to.equal(true);
    built = a;

    // and the build after that is cached again
    const again = await rebuild(modelPath);
    expect(again.report.ran).to.deep.equal([]);
    expect(again.report.damaged).to.deep.equal([]);
    expect(again.text).to.contain("all steps cached");
  });

  it("a zkey overwritten in place (same size) is caught by its hash", async function () {
    const bytes = readFileSync(built.zkeyPath);
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(built.zkeyPath, bytes);
    const { report, text } = await rebuild(modelPath);
    expect(report.damaged.map((d) => d.role)).to.deep.equal(["zkey"]);
    expect(report.damaged[0].problem).to.match(
      /^its sha256 [0-9a-f]{16}… is not the [0-9a-f]{16}… the build recorded$/,
    );
    expect(text).to.contain(`damaged zkey ${relative(PROJECT_ROOT, built.zkeyPath)}: its sha256`);
    expect(report.ran).to.deep.equal(["setup", "export"]);
    expect(await provesAndVerifies(report.artifacts)).to.equal(true);
    built = report.artifacts;
  });

  it("a damaged wasm is compiled again; the same circuit keeps its zkey", async function () {
    const zkeyBefore = fileSha256(built.zkeyPath);
    truncateSync(built.wasmPath, 100);
    const { report, text } = await rebuild(modelPath);
    expect(text).to.contain(`damaged witness wasm ${relative(PROJECT_ROOT, built.wasmPath)}: 100 bytes`);
    expect(report.damaged.map((d) => d.role)).to.deep.equal(["wasm"]);
    expect(report.ran).to.deep.equal(["compile"]);
    expect(fileSha256(built.zkeyPath)).to.equal(zkeyBefore);
    expect(report.artifacts.vkHash).to.equal(built.vkHash);
    expect(await provesAndVerifies(report.artifacts)).to.equal(true);
  });

  it("a damaged verification key is exported again from the intact zkey", async function () {
    const vkBefore = readFileSync(built.vkPath, "utf8");
    writeFileSync(built.vkPath, vkBefore.slice(0, 40));
    const { report, text } = await rebuild(modelPath);
    expect(text).to.contain(`damaged verification key ${relative(PROJECT_ROOT, built.vkPath)}`);
    expect(report.ran).to.deep.equal(["vkey"]);
    expect(readFileSync(built.vkPath, "utf8")).to.equal(vkBefore);
    expect(report.artifacts.vkHash).to.equal(built.vkHash);
  });

  it("an edited Solidity verifier is exported again", async function () {
    const before = readFileSync(built.verifierPath, "utf8");
    appendFileSync(built.verifierPath, "\n// edited\n");
    const { report, text } = await rebuild(modelPath);
    expect(text).to.contain(`damaged Solidity verifier ${relative(PROJECT_ROOT, built.verifierPath)}`);
    expect(report.ran).to.deep.equal(["export"]);
    expect(readFileSync(built.verifierPath, "utf8")).to.equal(before);
  });

  it("a file whose mtime changed is hashed again: unchanged it stays cached, edited (same size) it is rebuilt", async function () {
    const later = new Date(Date.now() + 60_000);
    utimesSync(built.r1csPath, later, later);
    const touched = await rebuild(modelPath);
    expect(touched.report.ran).to.deep.equal([]);
    expect(touched.report.damaged).to.deep.equal([]);
    // the new mtime is trusted from now on
    expect(storedManifest().files!.r1cs).to.deep.include({
      sha256: fileSha256(built.r1csPath),
      mtimeMs: statSync(built.r1csPath).mtimeMs,
    });

    const bytes = readFileSync(built.r1csPath);
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(built.r1csPath, bytes);
    const { report, text } = await rebuild(modelPath);
    expect(text).to.contain(`damaged r1cs ${relative(PROJECT_ROOT, built.r1csPath)}: its sha256`);
    expect(report.ran).to.deep.equal(["compile"]);
    expect(fileSha256(built.r1csPath)).to.equal(storedManifest().files!.r1cs.sha256);
  });

  it("a manifest from before file records: a damaged zkey is caught by its zkeyHash, and the records are added", async function () {
    const old = storedManifest();
    delete old.files;
    writeFileSync(manifestPath(NAME), JSON.stringify(old));
    const cached = await rebuild(modelPath);
    expect(cached.report.ran).to.deep.equal([]);
    expect(Object.keys(storedManifest().files!).sort()).to.deep.equal([
      "r1cs",
      "verifier",
      "vk",
      "wasm",
      "zkey",
    ]);

    const older = storedManifest();
    delete older.files;
    writeFileSync(manifestPath(NAME), JSON.stringify(older));
    truncateSync(built.zkeyPath, 64);
    const { report, text } = await rebuild(modelPath);
    expect(report.damaged.map((d) => d.role)).to.deep.equal(["zkey"]);
    expect(text).to.contain(`damaged zkey ${relative(PROJECT_ROOT, built.zkeyPath)}: its sha256`);
    expect(report.ran).to.include("setup");
    expect(await provesAndVerifies(report.artifacts)).to.equal(true);
  });
});
