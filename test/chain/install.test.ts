import { expect } from "chai";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import hre, { network } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { SnapshotRestorer } from "@nomicfoundation/hardhat-network-helpers/types";
import { parseEther } from "ethers";

import {
  DEFAULT_ANSWER_WINDOW,
  DEFAULT_MIN_BOND,
  INFERENCE_ADDRESS,
  INITIALIZATION_SLOTS,
  installPrecompile,
  resetPrecompile,
} from "../../src/chain/install.js";
import { coreArtifact, type SibylEnv, sibylEnv } from "../../src/env.js";
import { ChainError } from "../../src/errors.js";
import {
  InferencePrecompile__factory,
  ModelRegistry__factory,
  type InferencePrecompile,
} from "../../typechain-types/index.js";
import { errorOf } from "../helpers/errors.js";

const require = createRequire(import.meta.url);

const connection = await network.create();
const { ethers, networkHelpers } = connection;
const env = await sibylEnv(hre, connection);

/**
 * Installing at 0x…F4 on a chain others can reach first: the installer adopts only its own
 * installation and names whoever got there before it.
 */

/** The precompile's runtime code at 0x…F4, uninitialised, as a stranger would find it. */
async function placeCode(): Promise<InferencePrecompile> {
  const artifact = coreArtifact("InferencePrecompile");
  await ethers.provider.send("hardhat_setCode", [INFERENCE_ADDRESS, artifact.deployedBytecode]);
  return InferencePrecompile__factory.connect(INFERENCE_ADDRESS, ethers.provider);
}

describe("chain/installPrecompile on a shared chain", function () {
  let me: HardhatEthersSigner;
  let stranger: HardhatEthersSigner;
  let fresh: SnapshotRestorer;

  before(async function () {
    fresh = await networkHelpers.takeSnapshot();
  });

  beforeEach(async function () {
    await fresh.restore();
    [me, , , , , , , stranger] = await ethers.getSigners();
  });

  /** The stranger initialises 0x…F4 first, with a real ModelRegistry unless told otherwise. */
  async function strangerInitialises(
    opts: { admin?: string; registry?: string; minBond?: bigint; answerWindow?: bigint } = {},
  ): Promise<void> {
    const precompile = await placeCode();
    const registry =
      opts.registry ?? (await (await new ModelRegistry__factory(stranger).deploy()).getAddress());
    await (
      await precompile
        .connect(stranger)
        .initialize(
          opts.admin ?? stranger.address,
          registry,
          opts.minBond ?? DEFAULT_MIN_BOND,
          opts.answerWindow ?? DEFAULT_ANSWER_WINDOW,
        )
    ).wait();
  }

  it("refuses a precompile a stranger initialised first, naming the stranger and the fix", async function () {
    await strangerInitialises();
    const error = await errorOf(() => installPrecompile(env));
    expect(error).to.be.instanceOf(ChainError);
    expect(error.message).to.contain(`initialised by ${stranger.address}`);
    expect(error.message).to.contain(`admin ${stranger.address}, asked ${me.address}`);
    expect(error.message).to.contain("npx hardhat sibyl:deploy --network default --reset");
  });

  it("refuses an installation with another minBond, even with our admin", async function () {
    await installPrecompile(env, { minBond: parseEther("2") });
    const error = await errorOf(() => installPrecompile(env));
    expect(error).to.be.instanceOf(ChainError);
    expect(error.message).to.contain("It differs in: minBond 2.0 ETH, asked 1.0 ETH\n");
    expect(error.message).to.contain("to adopt it as it is, pass --min-bond 2.0 --answer-window 3600");
  });

  it("refuses an installation with another answerWindow", async function () {
    await installPrecompile(env, { answerWindow: 600n });
    const error = await errorOf(() => installPrecompile(env, { answerWindow: 601n }));
    expect(error.message).to.contain("answerWindow 600 s, asked 601 s");
  });

  it("refuses a registry that does not run this project's ModelRegistry code", async function () {
    // our admin and parameters, but the registry is some other contract
    const fake = await ethers.deployContract("MockVerifier", [], stranger);
    await strangerInitialises({ admin: me.address, registry: await fake.getAddress() });
    const error = await errorOf(() => installPrecompile(env));
    expect(error).to.be.instanceOf(ChainError);
    expect(error.message).to.contain(
      `registry ${await fake.getAddress()} does not run this project's ModelRegistry`,
    );
    expect(error.message).to.contain(`initialised by ${stranger.address}`);
  });

  it("adopts a stranger's initialisation that is exactly what we asked for", async function () {
    await strangerInitialises({ admin: me.address });
    const { precompile, initialized } = await installPrecompile(env);
    expect(initialized).to.equal(false);
    expect(await precompile.admin()).to.equal(me.address);
  });

  it("returns the same handles when the same admin re-runs it with the same options", async function () {
    const first = await installPrecompile(env);
    expect(first.initialized).to.equal(true);
    const nonce = await ethers.provider.getTransactionCount(me.address);
    const again = await installPrecompile(env);
    expect(again.initialized).to.equal(false);
    expect(await again.registry.getAddress()).to.equal(await first.registry.getAddress());
    expect(await ethers.provider.getTransactionCount(me.address)).to.equal(nonce);
  });

  it("refuses, when a stranger's initialize lands before ours, with 'lost the race'", async function () {
    await placeCode();
    const initialize = InferencePrecompile__factory.createInterface().getFunction("initialize").selector;
    const provider = connection.provider;
    const request = provider.request.bind(provider);
    let frontRun = false;
    // the stranger's transaction gets in just before ours, as a front-runner's would
    provider.request = async (args) => {
      const { method, params } = args;
      const tx = (Array.isArray(params) ? params[0] : undefined) as
        { to?: string; data?: string } | undefined;
      if (
        !frontRun &&
        (method === "eth_sendTransaction" || method === "eth_estimateGas") &&
        tx?.to?.toLowerCase() === INFERENCE_ADDRESS.toLowerCase() &&
        tx.data?.startsWith(initialize)
      ) {
        frontRun = true;
        const registry = await (await new ModelRegistry__factory(stranger).deploy()).getAddress();
        const p = InferencePrecompile__factory.connect(INFERENCE_ADDRESS, stranger);
        await (
          await p.initialize(stranger.address, registry, DEFAULT_MIN_BOND, DEFAULT_ANSWER_WINDOW)
        ).wait();
      }
      return request(args);
    };
    let error: Error;
    try {
      error = await errorOf(() => installPrecompile(env));
    } finally {
      provider.request = request;
    }
    expect(frontRun).to.equal(true);
    expect(error).to.be.instanceOf(ChainError);
    expect(error.message).to.match(/^lost the race: /);
    expect(error.message).to.contain(`initialised by ${stranger.address}`);
  });

  it("refuses parameters initialize would reject, before sending anything", async function () {
    const nonce = await ethers.provider.getTransactionCount(me.address);
    expect(await errorOf(() => installPrecompile(env, { minBond: 0n }))).to.be.instanceOf(ChainError);
    const error = await errorOf(() => installPrecompile(env, { answerWindow: 86_401n }));
    expect(error.message).to.contain("answerWindow must be 1…86400 seconds");
    expect(await ethers.provider.getTransactionCount(me.address)).to.equal(nonce);
  });

  describe("resetPrecompile (sibyl:deploy --reset)", function () {
    it("clears a stranger's initialisation so that we install afresh as admin", async function () {
      await strangerInitialises({ minBond: parseEther("5") });
      const cleared = await resetPrecompile(env);
      expect(cleared?.admin).to.equal(stranger.address);
      expect(cleared?.initializedBy).to.equal(stranger.address);
      const { precompile, registry, initialized } = await installPrecompile(env);
      expect(initialized).to.equal(true);
      expect(await precompile.admin()).to.equal(me.address);
      expect(await precompile.minBond()).to.equal(DEFAULT_MIN_BOND);
      expect(await precompile.registry()).to.equal(await registry.getAddress());
    });

    it("zeroes the admin, registry, parameters and pending changes, and nothing else", async function () {
      const { precompile } = await installPrecompile(env);
      const [, node, next] = await ethers.getSigners();
      await (await precompile.connect(node).registerNode({ value: parseEther("1") })).wait();
      await (await precompile.transferAdmin(next.address)).wait();
      await (await precompile.proposeRegistry(await precompile.registry())).wait();

      await resetPrecompile(env);
      expect(await precompile.admin()).to.equal(ethers.ZeroAddress);
      expect(await precompile.registry()).to.equal(ethers.ZeroAddress);
      expect(await precompile.minBond()).to.equal(0n);
      expect(await precompile.answerWindow()).to.equal(0n);
      expect(await precompile.pendingAdmin()).to.equal(ethers.ZeroAddress);
      expect((await precompile.pendingRegistry()).effectiveAt).to.equal(0n);
      await expect(precompile.connect(node).registerNode({ value: 1n })).to.be.revertedWithCustomError(
        precompile,
        "Inference__NotInitialized",
      );
      // the mappings stay behind: the node's bond is still recorded (orphaned from its old registry)
      expect((await precompile.nodeOf(node.address)).bond).to.equal(parseEther("1"));
    });

    it("names the slots solc's storage layout gives the initialisation variables", async function () {
      const fqn = "contracts/InferencePrecompile.sol:InferencePrecompile";
      const buildInfoId = await env.artifacts.getBuildInfoId(fqn);
      const buildInfoPath =
        buildInfoId === undefined ? undefined : await env.artifacts.getBuildInfoPath(buildInfoId);
      if (buildInfoPath === undefined) expect.fail(`no build info for ${fqn}: run npx hardhat build`);
      const buildInfo = JSON.parse(await readFile(buildInfoPath, "utf8")) as {
        userSourceNameMap: Record<string, string>;
        input: { settings: Record<string, unknown> };
      };
      // Hardhat 3 names the compiler's input sources apart from the project's ("project/contracts/…")
      const source = buildInfo.userSourceNameMap["contracts/InferencePrecompile.sol"];
      const input = {
        ...buildInfo.input,
        settings: {
          ...buildInfo.input.settings,
          outputSelection: { [source]: { InferencePrecompile: ["storageLayout"] } },
        },
      };
      const solc = require("solc") as { compile(input: string): string };
      const output = JSON.parse(solc.compile(JSON.stringify(input))) as {
        contracts: Record<
          string,
          Record<string, { storageLayout: { storage: { label: string; slot: string }[] } }>
        >;
      };
      const layout = output.contracts[source].InferencePrecompile.storageLayout.storage;
      const slotOf = Object.fromEntries(layout.map((v) => [v.label, Number(v.slot)]));
      for (const [label, slot] of Object.entries(INITIALIZATION_SLOTS))
        expect(slotOf[label], label).to.equal(slot);
      // every variable sharing a cleared slot is one meant to be cleared
      const cleared = new Set(Object.values(INITIALIZATION_SLOTS));
      const inClearedSlots = layout.filter((v) => cleared.has(Number(v.slot))).map((v) => v.label);
      expect(inClearedSlots.sort()).to.deep.equal(Object.keys(INITIALIZATION_SLOTS).sort());
      expect(slotOf._nonce).to.equal(4);
    });

    it("refuses a network without hardhat_setStorageAt", async function () {
      const fake: SibylEnv = { ...env, networkName: "sepolia", inProcess: false };
      const error = await errorOf(() => resetPrecompile(fake));
      expect(error).to.be.instanceOf(ChainError);
      expect(error.message).to.contain('network "sepolia" does not offer');
    });
  });
});
