import { expect } from "chai";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { type ModelArtifacts, loadArtifacts, modelBuildDir } from "../../src/pipeline/artifacts.js";
import { buildModel } from "../../src/pipeline/buildModel.js";
import { finalizeCeremony } from "../../src/pipeline/finalizeCeremony.js";
import { circuitInputFor } from "../../src/circuit/inputs.js";
import { silentLogger } from "../../src/log.js";
import { SHARED_PTAU_DIR } from "../../src/paths.js";
import { runQuantized } from "../../src/runtime/fixed.js";
import {
  applyBeacon,
  type Contribution,
  contribute,
  parseContributions,
  startCeremony,
  verifyCeremony,
} from "../../src/zk/ceremony.js";
import { releaseProverThreads, SnarkjsProver, verifyProof } from "../../src/zk/prover.js";
import { type CeremonyTranscript, TRANSCRIPT_FILE } from "../../src/zk/transcript.js";
import { RecordingLogger } from "../helpers/recording-logger.js";
import { buildErrorOf, fileSha256, removeBuildOutputs, tinyClassifier } from "../helpers/tiny-models.js";

/**
 * A real snarkjs phase-2 ceremony on two tiny models (3 → 4 → relu → 2 → argmax and
 * 2 → 2 → argmax), built like test/pipeline/buildModel.test.ts does: into the project's build/,
 * circuits/models/ and contracts/verifiers/ under names no real model uses, all removed
 * afterwards.
 */
const NAME = "unitceremony";
const OTHER = "unitceremonyb";
const PTAU = join(SHARED_PTAU_DIR, "dev-12.ptau");
const REQUEST_ID = "0x00000000000000000000000000000000000000000000000000000000c0ffee08";

/** NAME: the shared tiny classifier; OTHER: a 2 → 2 → argmax model (another circuit). */
function tinyModel(name: string, firstWeight = 0.5): object {
  if (name !== OTHER) return tinyClassifier(name, firstWeight);
  return {
    format: "sibyl-model/1",
    name,
    inputLength: 2,
    classes: ["left", "right"],
    quantization: { fracBits: 8, valueBits: 24 },
    layers: [
      {
        type: "dense",
        weights: [
          [firstWeight, -1],
          [0.25, 0.75],
        ],
        bias: [0, 0.5],
      },
      { type: "argmax" },
    ],
  };
}

function removeOutputs(): void {
  removeBuildOutputs(NAME);
  removeBuildOutputs(OTHER);
}

describe("zk/ceremony: a multi-party phase-2 ceremony", function () {
  let dir: string;
  let modelPath: string;
  let otherModelPath: string;
  let built: ModelArtifacts;
  let other: ModelArtifacts;
  let finalZkey: string;
  let otherZkey: string;
  let made: Contribution[];

  before(async function () {
    removeOutputs();
    dir = mkdtempSync(join(tmpdir(), "sibyl-ceremony-"));
    modelPath = join(dir, "model.json");
    otherModelPath = join(dir, "other.json");
    writeFileSync(modelPath, JSON.stringify(tinyModel(NAME)));
    writeFileSync(otherModelPath, JSON.stringify(tinyModel(OTHER)));
    built = (await buildModel(modelPath, { log: silentLogger, ptauPath: PTAU })).artifacts;
    other = (await buildModel(otherModelPath, { log: silentLogger, ptauPath: PTAU })).artifacts;
  });

  after(async function () {
    removeOutputs();
    rmSync(dir, { recursive: true, force: true });
    await releaseProverThreads();
  });

  it("three contributions and a beacon verify, and the report lists each with the hash its party got", async function () {
    const out = join(dir, "ceremony");
    const start = await startCeremony({ r1csPath: built.r1csPath, ptauPath: PTAU, outDir: out, name: NAME });
    expect(start.zkeyPath).to.equal(join(out, `${NAME}_0000.zkey`));
    expect(start.ptau).to.deep.include({ path: PTAU, power: 12, development: true });

    let last = start.zkeyPath;
    made = [];
    for (const [i, who] of ["alice", "bob", "carol"].entries()) {
      const next = join(out, `${NAME}_000${i + 1}.zkey`);
      const r = await contribute({
        inPath: last,
        outPath: next,
        name: who,
        entropy: i === 1 ? "bob types" : undefined,
      });
      expect(r.contribution.name).to.equal(who);
      expect(r.contribution.hash).to.match(/^[0-9a-f]{128}$/);
      expect(r.zkeyHash).to.equal(`0x${fileSha256(next)}`);
      made.push(r.contribution);
      last = next;
    }
    finalZkey = join(out, `${NAME}_final.zkey`);
    const beacon = await applyBeacon({
      inPath: last,
      outPath: finalZkey,
      beaconHex: "0x" + "ab".repeat(32),
      iterationsExp: 10,
    });
    expect(beacon.contribution.beacon).to.deep.equal({ hash: "ab".repeat(32), iterationsExp: 10 });
    made.push(beacon.contribution);

    const verified = await verifyCeremony({ r1csPath: built.r1csPath, ptauPath: PTAU, zkeyPath: finalZkey });
    expect(verified.contributions).to.deep.equal(made);
    expect(verified.contributions.map((c) => c.name)).to.deep.equal([
      "alice",
      "bob",
      "carol",
      "final beacon",
    ]);
    expect(new Set(made.map((c) => c.hash)).size).to.equal(4);
    expect(verified.zkeyHash).to.equal(`0x${fileSha256(finalZkey)}`);

    // the convenience log saw every step
    const transcript = JSON.parse(readFileSync(join(out, TRANSCRIPT_FILE), "utf8")) as CeremonyTranscript;
    expect(transcript.circuit.r1csSha256).to.equal(fileSha256(built.r1csPath));
    expect(transcript.ptau).to.deep.include({
      path: PTAU,
      power: 12,
      development: true,
      sha256: fileSha256(PTAU),
    });
    expect(transcript.steps.map((s) => s.step)).to.deep.equal([
      "start",
      "contribute",
      "contribute",
      "contribute",
      "beacon",
    ]);
    expect(transcript.steps.slice(1).map((s) => s.contributionHash)).to.deep.equal(made.map((c) => c.hash));
  });

  it("verifies a contribution made with only the zkey, in a folder without ceremony.json", async function () {
    const elsewhere = mkdtempSync(join(tmpdir(), "sibyl-contributor-"));
    try {
      const handed = join(elsewhere, "in.zkey");
      copyFileSync(finalZkey, handed);
      const r = await contribute({ inPath: handed, outPath: join(elsewhere, "out.zkey"), name: "dave" });
      expect(existsSync(join(elsewhere, TRANSCRIPT_FILE))).to.equal(false);
      const verified = await verifyCeremony({
        r1csPath: built.r1csPath,
        ptauPath: PTAU,
        zkeyPath: r.outPath,
      });
      expect(verified.contributions).to.deep.equal([...made, r.contribution]);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it("refuses a zkey whose bytes were altered", async function () {
    const bytes = readFileSync(finalZkey);
    for (const at of [Math.floor(bytes.length / 2), bytes.length - 200]) {
      const tampered = Buffer.from(bytes);
      tampered[at] ^= 0x01;
      const path = join(dir, `tampered-${at}.zkey`);
      writeFileSync(path, tampered);
      const err = await buildErrorOf(
        verifyCeremony({ r1csPath: built.r1csPath, ptauPath: PTAU, zkeyPath: path }),
      );
      expect(err.message, `byte ${at}`).to.contain(`${path} does NOT verify against`);
      expect(err.hint).to.contain("do not use this zkey");
    }
  });

  it("refuses a zkey made for another circuit", async function () {
    const out = join(dir, "other-ceremony");
    const start = await startCeremony({ r1csPath: other.r1csPath, ptauPath: PTAU, outDir: out, name: OTHER });
    otherZkey = (await contribute({ inPath: start.zkeyPath, outPath: join(out, "b1.zkey"), name: "mallory" }))
      .outPath;
    // it is a sound zkey of its own circuit…
    expect(
      (await verifyCeremony({ r1csPath: other.r1csPath, ptauPath: PTAU, zkeyPath: otherZkey })).contributions,
    ).to.have.length(1);
    // …and no zkey of ours
    const err = await buildErrorOf(
      verifyCeremony({ r1csPath: built.r1csPath, ptauPath: PTAU, zkeyPath: otherZkey }),
    );
    expect(err.message).to.contain("does NOT verify");
  });

  it("refuses bad contribution and beacon arguments before touching snarkjs", async function () {
    const missing = join(dir, "missing.zkey");
    expect(
      (await buildErrorOf(contribute({ inPath: missing, outPath: join(dir, "x.zkey"), name: "a" }))).message,
    ).to.contain(`zkey ${missing} does not exist`);
    expect(
      (await buildErrorOf(contribute({ inPath: finalZkey, outPath: join(dir, "x.zkey"), name: " " }))).hint,
    ).to.equal("pass --name <who you are>");
    expect(
      (
        await buildErrorOf(
          contribute({ inPath: finalZkey, outPath: join(dir, "x.zkey"), name: "n".repeat(65) }),
        )
      ).message,
    ).to.contain("longer than 64 bytes");
    expect(
      (await buildErrorOf(contribute({ inPath: finalZkey, outPath: finalZkey, name: "a" }))).message,
    ).to.contain("--out must differ from --in");
    expect(
      (await buildErrorOf(applyBeacon({ inPath: finalZkey, outPath: join(dir, "x.zkey"), beaconHex: "xyz" })))
        .message,
    ).to.contain("1 to 255 bytes of hex");
    expect(
      (
        await buildErrorOf(
          applyBeacon({ inPath: finalZkey, outPath: join(dir, "x.zkey"), beaconHex: "ab", iterationsExp: 9 }),
        )
      ).message,
    ).to.contain("10..63");
    expect(existsSync(join(dir, "x.zkey"))).to.equal(false);
  });

  it("refuses to start a second ceremony in a folder that holds one", async function () {
    const err = await buildErrorOf(
      startCeremony({ r1csPath: built.r1csPath, ptauPath: PTAU, outDir: join(dir, "ceremony"), name: NAME }),
    );
    expect(err.message).to.contain("already holds a ceremony");
  });

  describe("finalize", function () {
    let localVk: ModelArtifacts["vk"];
    let localVkHash: string;

    before(function () {
      localVk = built.vk;
      localVkHash = built.vkHash;
    });

    it("refuses a zkey of another circuit and leaves the build untouched", async function () {
      const manifestBefore = readFileSync(join(modelBuildDir(NAME), "manifest.json"), "utf8");
      const zkeyBefore = fileSha256(built.zkeyPath);
      const err = await buildErrorOf(finalizeCeremony({ modelName: NAME, zkeyPath: otherZkey }));
      expect(err.message).to.contain("does NOT verify");
      expect(readFileSync(join(modelBuildDir(NAME), "manifest.json"), "utf8")).to.equal(manifestBefore);
      expect(fileSha256(built.zkeyPath)).to.equal(zkeyBefore);
    });

    it("installs the verified zkey, its verifier and a manifest that records the ceremony", async function () {
      expect(built.setup).to.deep.equal({ kind: "local" });
      const r = await finalizeCeremony({ modelName: NAME, zkeyPath: finalZkey, ptauPath: PTAU });
      const a = r.artifacts;
      expect(r.verifierChanged).to.equal(true);
      expect(r.previousZkeyHash).to.equal(built.zkeyHash);
      expect(readFileSync(a.zkeyPath).equals(readFileSync(finalZkey))).to.equal(true);
      expect(a.zkeyHash).to.equal(`0x${fileSha256(a.zkeyPath)}`);
      expect(a.setup).to.deep.equal({ kind: "ceremony", contributions: made });
      expect(a.vkHash).to.not.equal(localVkHash);
      const verifier = readFileSync(a.verifierPath, "utf8");
      expect(verifier).to.contain(`vkHash ${a.vkHash}`);
      expect(verifier).to.contain("contract UnitceremonyVerifier");
      // what is on disk says the same
      const stored = JSON.parse(readFileSync(join(modelBuildDir(NAME), "manifest.json"), "utf8"));
      expect(stored).to.deep.include({ zkeyHash: a.zkeyHash, vkHash: a.vkHash });
      expect(stored.setup.kind).to.equal("ceremony");
      expect(stored.ptau).to.deep.equal({ path: PTAU, power: 12, development: true });
    });

    it("proves with the ceremony zkey: the proof verifies against the exported key, not the old one", async function () {
      const a = loadArtifacts(NAME);
      const x = [256n, -128n, 64n];
      const { output } = runQuantized(a.quantized, x);
      const proof = await new SnarkjsProver(a.wasmPath, a.zkeyPath).prove(
        circuitInputFor(a.quantized, REQUEST_ID, x, output),
      );
      expect(await verifyProof(a.vk, proof.publicSignals, proof.proof)).to.equal(true);
      expect(await verifyProof(localVk, proof.publicSignals, proof.proof)).to.equal(false);
    });

    it("a following build of the unchanged model keeps the ceremony zkey", async function () {
      const installed = readFileSync(built.zkeyPath);
      const log = new RecordingLogger();
      const report = await buildModel(modelPath, { log, generatePtau: false });
      expect(report.ran).to.deep.equal([]);
      expect(readFileSync(built.zkeyPath).equals(installed)).to.equal(true);
      expect(report.artifacts.setup.kind).to.equal("ceremony");
      expect(report.artifacts.zkeyHash).to.equal(`0x${fileSha256(built.zkeyPath)}`);
      expect(log.messages("info").join("\n")).to.contain("zkey from a ceremony (4 contributions): kept");
    });

    it("a changed circuit replaces the ceremony zkey by a local setup, and says so loudly", async function () {
      writeFileSync(modelPath, JSON.stringify(tinyModel(NAME, 0.75)));
      const log = new RecordingLogger();
      const report = await buildModel(modelPath, { log, generatePtau: false });
      expect(report.ran).to.deep.equal(["compile", "setup", "export"]);
      expect(report.artifacts.setup).to.deep.equal({ kind: "local" });
      const warning = log.messages("warn").find((m) => m.includes("CEREMONY zkey"));
      expect(warning).to.contain(`the CEREMONY zkey of ${NAME} is REPLACED by a single-party local setup`);
      expect(warning).to.contain("the circuit changed");
    });
  });
});

describe("zk/ceremony: parseContributions", function () {
  it("reads snarkjs' listing, last first, back into first-to-last order with beacon details", function () {
    const hash = (d: string) => `\t\t${Array(4).fill(d.repeat(8)).join(" ")}`;
    const block = (d: string) => [hash(d), hash(d), hash(d), hash(d)].join("\n");
    const lines = [
      "Circuit Hash: \n" + block("0"),
      "-------------------------",
      `contribution #2 final beacon:\n${block("b")}`,
      "Beacon generator: abcd",
      "Beacon iterations Exp: 12",
      "-------------------------",
      `contribution #1 :\n${block("a")}`,
      "-------------------------",
      "ZKey Ok!",
    ];
    expect(parseContributions(lines)).to.deep.equal([
      { name: "", hash: "a".repeat(128) },
      { name: "final beacon", hash: "b".repeat(128), beacon: { hash: "abcd", iterationsExp: 12 } },
    ]);
  });
});
