import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import hre, { network } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { SnapshotRestorer } from "@nomicfoundation/hardhat-network-helpers/types";
import { hexlify, keccak256, parseEther, randomBytes } from "ethers";

import type { ModelArtifacts } from "../../src/pipeline/artifacts.js";
import { installPrecompile } from "../../src/chain/install.js";
import {
  DEFAULT_MODEL_TERMS,
  modelConfig,
  modelIdFor,
  registerModel,
  termsOf,
  verifierRuntimeCode,
} from "../../src/chain/models.js";
import { buildModels } from "../../src/chain/stack.js";
import {
  metadataLength,
  ModelMismatchError,
  type ModelVerification,
  stripMetadata,
  verifyModel,
  verifyModelCommand,
} from "../../src/chain/verify.js";
import { sibylEnv } from "../../src/env.js";
import { ChainError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import { contribute, newZkey } from "../../src/zk/ceremony.js";
import { hashZkey } from "../../src/zk/hash.js";
import { releaseProverThreads } from "../../src/zk/prover.js";
import type { ModelRegistry } from "../../typechain-types/index.js";
import { IRIS_MODEL_PATH } from "../helpers/models.js";

/**
 * verifyModel against the real Iris build and verifier: a registration of our own build
 * matches; an attacker's, with another verifier, other terms or another zkey, is named field
 * by field.
 */

const connection = await network.create();
const { ethers, networkHelpers } = connection;
const env = await sibylEnv(hre, connection);

const differing = (report: ModelVerification): string[] =>
  report.checks.filter((c) => !c.ok).map((c) => c.what);

describe("chain/verifyModel", function () {
  let iris: ModelArtifacts;
  let registry: ModelRegistry;
  let attacker: HardhatEthersSigner;
  let irisCode: string;
  let mockCode: string;
  let fresh: SnapshotRestorer;

  before(async function () {
    fresh = await networkHelpers.takeSnapshot();
    [iris] = await buildModels(env, [IRIS_MODEL_PATH], silentLogger);
    irisCode = await verifierRuntimeCode(env, iris);
    mockCode = (await env.artifacts.readArtifact("MockVerifier")).deployedBytecode;
    attacker = (await ethers.getSigners())[9];
  });

  // the transcript checks build snarkjs's bn128 curve, whose worker threads would keep the process alive
  after(releaseProverThreads);

  beforeEach(async function () {
    await fresh.restore();
    ({ registry } = await installPrecompile(env));
  });

  /** Registers `config` with `code` from `from` and returns the id the registry gave it. */
  async function register(
    from: HardhatEthersSigner,
    config: ReturnType<typeof modelConfig>,
    code: string,
  ): Promise<string> {
    await (await registry.connect(from).register(config, code, "iris")).wait();
    return modelIdFor(from.address, keccak256(code), config);
  }

  it("matches a registration made by registerModel", async function () {
    const reg = await registerModel(env, registry, iris);
    const report = await verifyModel(env, registry, iris, reg.modelId, { terms: DEFAULT_MODEL_TERMS });
    expect(differing(report)).to.deep.equal([]);
    expect(report.ok).to.equal(true);
    expect(report.owner).to.equal(reg.owner);
    expect(report.lines.at(-1)).to.equal(`matches: ${reg.modelId}`);
    const names = report.checks.map((c) => c.what);
    for (const what of [
      "verifier code",
      "zkeyHash",
      "modelHash",
      "weightCommitment",
      "inputBits",
      "fee",
      "model id",
    ])
      expect(names).to.include(what);
  });

  it("names the verifier code when an attacker registers the model with a MockVerifier", async function () {
    const ours = await registerModel(env, registry, iris);
    const theirs = await register(attacker, modelConfig(iris, termsOf()), mockCode);
    expect(theirs).to.not.equal(ours.modelId);

    const report = await verifyModel(env, registry, iris, theirs);
    expect(report.ok).to.equal(false);
    expect(report.owner).to.equal(attacker.address);
    expect(differing(report)).to.deep.equal(["verifier code", "verifierCodeHash", "model id"]);
    const code = report.checks.find((c) => c.what === "verifier code")!;
    expect(code.chain).to.equal(keccak256(mockCode));
    expect(code.local).to.equal(keccak256(irisCode));
    expect(code.note).to.contain("other code than the local IrisVerifier");
    expect(report.lines.join("\n")).to.contain("DIFFERS  verifier code");
  });

  it("names the terms that differ from the ones asked for", async function () {
    const terms = termsOf({ fee: parseEther("1"), settlementWindow: 60n });
    const id = await register(attacker, modelConfig(iris, terms), irisCode);
    const report = await verifyModel(env, registry, iris, id, { terms: DEFAULT_MODEL_TERMS });
    expect(differing(report)).to.deep.equal(["fee", "settlementWindow"]);
    const fee = report.checks.find((c) => c.what === "fee")!;
    expect([fee.chain, fee.local]).to.deep.equal(["1.0 ETH", "0.001 ETH"]);
    // the id itself is what the attacker gets for our build under those terms
    expect(report.checks.find((c) => c.what === "model id")!.ok).to.equal(true);
    // only the terms passed are checked
    expect((await verifyModel(env, registry, iris, id)).ok).to.equal(true);
  });

  it("names the zkeyHash when the real verifier is registered for another zkey", async function () {
    const config = { ...modelConfig(iris, termsOf()), zkeyHash: hexlify(randomBytes(32)) };
    const id = await register(attacker, config, irisCode);
    const report = await verifyModel(env, registry, iris, id);
    expect(differing(report)).to.deep.equal(["zkeyHash", "model id"]);
    expect(report.checks.find((c) => c.what === "zkeyHash")!.chain).to.equal(config.zkeyHash);
  });

  it("says when verifier codes differ only in solc's trailing metadata", async function () {
    // the same code with a metadata trailer of the same length but another IPFS hash
    const bytes = Buffer.from(irisCode.slice(2), "hex");
    const trailer = metadataLength(bytes);
    expect(trailer).to.be.greaterThan(40);
    bytes[bytes.length - trailer + 10] ^= 0xff;
    const variant = `0x${bytes.toString("hex")}`;
    expect(stripMetadata(variant)).to.equal(stripMetadata(irisCode));
    const id = await register(attacker, modelConfig(iris, termsOf()), variant);
    const report = await verifyModel(env, registry, iris, id);
    const code = report.checks.find((c) => c.what === "verifier code")!;
    expect(code.ok).to.equal(false);
    expect(code.note).to.contain("differ only in the trailing solc metadata");
  });

  it("with transcript, verifies the local zkey against the r1cs and ptau", async function () {
    const reg = await registerModel(env, registry, iris);
    const report = await verifyModel(env, registry, iris, reg.modelId, { transcript: true });
    const transcript = report.checks.find((c) => c.what === "zkey transcript")!;
    expect(transcript.ok, transcript.note).to.equal(true);
    expect(transcript.local).to.contain(`${iris.zkeyHash} verifies against the r1cs and ptau`);
  });

  describe("with transcript, on zkeys that are not the build's", function () {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), "sibyl-verify-transcript-"));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    /** The iris build with another zkey in place of its own. */
    const withZkey = async (zkeyPath: string): Promise<ModelArtifacts> => ({
      ...iris,
      zkeyPath,
      zkeyHash: await hashZkey(zkeyPath),
    });

    it("refuses a zkey with no contribution: anyone could forge with it", async function () {
      const reg = await registerModel(env, registry, iris);
      const start = join(dir, "iris_0000.zkey");
      await newZkey(iris.r1csPath, iris.ptau.path, start, silentLogger);
      const report = await verifyModel(env, registry, await withZkey(start), reg.modelId, {
        transcript: true,
      });
      const transcript = report.checks.find((c) => c.what === "zkey transcript")!;
      expect(report.ok).to.equal(false);
      expect([transcript.ok, transcript.note]).to.deep.equal([
        false,
        "a zkey with no contribution: anyone can forge",
      ]);
    });

    it("refuses a valid zkey the local verifier was not exported for", async function () {
      const reg = await registerModel(env, registry, iris);
      const start = join(dir, "other_0000.zkey");
      const other = join(dir, "other_0001.zkey");
      await newZkey(iris.r1csPath, iris.ptau.path, start, silentLogger);
      await contribute({ inPath: start, outPath: other, name: "someone else" });
      const report = await verifyModel(env, registry, await withZkey(other), reg.modelId, {
        transcript: true,
      });
      const transcript = report.checks.find((c) => c.what === "zkey transcript")!;
      expect(transcript.ok).to.equal(false);
      expect(transcript.note).to.contain(`the local verifier was exported for vkHash ${iris.vkHash}`);
    });
  });

  it("names an inactive model", async function () {
    const reg = await registerModel(env, registry, iris);
    await (await registry.deactivate(reg.modelId)).wait();
    expect(differing(await verifyModel(env, registry, iris, reg.modelId))).to.deep.equal(["active"]);
  });

  it("throws a ChainError with a hint for an unknown id", async function () {
    const unknown = keccak256("0x01");
    let error: unknown;
    try {
      await verifyModel(env, registry, iris, unknown);
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(ChainError);
    expect((error as Error).message).to.contain(`no model ${unknown} in the registry`);
    expect((error as ChainError).hint).to.contain("sibyl:register");
  });

  it("registerModel is idempotent: a re-run adopts the verified registration", async function () {
    const first = await registerModel(env, registry, iris);
    const second = await registerModel(env, registry, iris);
    expect(first.created).to.equal(true);
    expect(second.created).to.equal(false);
    expect(second.modelId).to.equal(first.modelId);
    expect(second.verifier).to.equal(first.verifier);
    expect(second.verifierCodeHash).to.equal(keccak256(irisCode));
  });

  describe("verifyModelCommand (sibyl:verify-model)", function () {
    it("prints the report and returns it when the id matches", async function () {
      const reg = await registerModel(env, registry, iris);
      const printed: string[] = [];
      const report = await verifyModelCommand(env, { model: IRIS_MODEL_PATH, id: reg.modelId }, (l) =>
        printed.push(l),
      );
      expect(report.ok).to.equal(true);
      expect(printed).to.deep.equal(report.lines);
    });

    it("refuses an attacker's registration, saying what differs and how to inspect it", async function () {
      const theirs = await register(attacker, modelConfig(iris, termsOf()), mockCode);
      const printed: string[] = [];
      let error: unknown;
      try {
        await verifyModelCommand(env, { model: IRIS_MODEL_PATH, id: theirs }, (l) => printed.push(l));
      } catch (e) {
        error = e;
      }
      expect(error).to.be.instanceOf(ModelMismatchError);
      expect((error as Error).message).to.contain("it differs in verifier code, verifierCodeHash, model id");
      expect((error as ChainError).hint).to.contain(
        `sibyl:verify-model --model ${iris.modelPath} --id ${theirs}`,
      );
      expect(printed.join("\n")).to.contain("DIFFERS  verifier code");
    });
  });
});
