import { expect } from "chai";
import hre, { network } from "hardhat";
import type { SnapshotRestorer } from "@nomicfoundation/hardhat-network-helpers/types";
import { parseEther } from "ethers";

import {
  DETERMINISTIC_DEPLOYER,
  DETERMINISTIC_DEPLOYER_RUNTIME,
  deployDeterministic,
  deploySibyl,
  deterministicAddresses,
} from "../../src/chain/deploy.js";
import { DEFAULT_ANSWER_WINDOW, DEFAULT_MIN_BOND, INFERENCE_ADDRESS } from "../../src/chain/install.js";
import { coreArtifact, sibylEnv } from "../../src/env.js";
import { ChainError } from "../../src/errors.js";
import { InferencePrecompile__factory, ModelRegistry__factory } from "../../typechain-types/index.js";
import { errorOf } from "../helpers/errors.js";

const connection = await network.create();
const { ethers, networkHelpers } = connection;
const env = await sibylEnv(hre, connection);

describe("deploying Sibyl", function () {
  let fresh: SnapshotRestorer;
  before(async function () {
    fresh = await networkHelpers.takeSnapshot();
  });
  beforeEach(async function () {
    await fresh.restore();
  });

  it("installs at 0x…F4 on the Hardhat network", async function () {
    const { precompile, registry, deterministic } = await deploySibyl(env, { minBond: parseEther("2") });
    expect(deterministic).to.equal(false);
    expect(await precompile.getAddress()).to.equal(INFERENCE_ADDRESS);
    expect(await precompile.registry()).to.equal(await registry.getAddress());
    expect(await precompile.minBond()).to.equal(parseEther("2"));
  });

  it("with reset, reinstalls a precompile a stranger initialised first, with the caller as admin", async function () {
    const [me, stranger] = await ethers.getSigners();
    const artifact = coreArtifact("InferencePrecompile");
    await ethers.provider.send("hardhat_setCode", [INFERENCE_ADDRESS, artifact.deployedBytecode]);
    const registry = await (await new ModelRegistry__factory(stranger).deploy()).getAddress();
    await (
      await InferencePrecompile__factory.connect(INFERENCE_ADDRESS, stranger).initialize(
        stranger.address,
        registry,
        DEFAULT_MIN_BOND,
        DEFAULT_ANSWER_WINDOW,
      )
    ).wait();
    expect((await errorOf(() => deploySibyl(env))).message).to.contain(`initialised by ${stranger.address}`);

    const { precompile, cleared } = await deploySibyl(env, { reset: true });
    expect(cleared?.admin).to.equal(stranger.address);
    expect(await precompile.admin()).to.equal(me.address);
    expect(await precompile.registry()).to.not.equal(registry);
  });

  describe("through the CREATE2 deterministic-deployment proxy (other chains)", function () {
    beforeEach(async function () {
      await ethers.provider.send("hardhat_setCode", [DETERMINISTIC_DEPLOYER, DETERMINISTIC_DEPLOYER_RUNTIME]);
    });

    it("deploys both contracts at the predicted addresses, initialised by the constructor", async function () {
      const [admin] = await ethers.getSigners();
      const opts = { minBond: parseEther("0.5"), answerWindow: 120n };
      const predicted = await deterministicAddresses(env, admin.address, opts);
      const { precompile, registry, deterministic } = await deployDeterministic(env, opts);
      expect(deterministic).to.equal(true);
      expect(await registry.getAddress()).to.equal(predicted.registry);
      expect(await precompile.getAddress()).to.equal(predicted.precompile);
      expect(await precompile.registry()).to.equal(predicted.registry);
      expect(await precompile.admin()).to.equal(admin.address);
      expect(await precompile.minBond()).to.equal(parseEther("0.5"));
      expect(await precompile.answerWindow()).to.equal(120n);
      // initialised in the deployment itself: nobody can initialise it again
      await expect(
        precompile.initialize(admin.address, predicted.registry, 0n, 1n),
      ).to.be.revertedWithCustomError(precompile, "Inference__AlreadyInitialized");
    });

    it("is idempotent: a second run sends no transaction and returns the same contracts", async function () {
      const first = await deployDeterministic(env);
      const [admin] = await ethers.getSigners();
      const nonce = await ethers.provider.getTransactionCount(admin.address);
      const second = await deployDeterministic(env);
      expect(await ethers.provider.getTransactionCount(admin.address)).to.equal(nonce);
      expect(await second.precompile.getAddress()).to.equal(await first.precompile.getAddress());
    });

    it("refuses, before sending anything, the parameters the constructor reverts on", async function () {
      const [admin] = await ethers.getSigners();
      const nonce = await ethers.provider.getTransactionCount(admin.address);
      const zeroBond = await errorOf(() => deployDeterministic(env, { minBond: 0n }));
      expect(zeroBond).to.be.instanceOf(ChainError);
      expect(zeroBond.message).to.contain("minBond must be above 0");
      const longWindow = await errorOf(() => deployDeterministic(env, { answerWindow: 86_401n }));
      expect(longWindow.message).to.contain("answerWindow must be 1…86400 seconds");
      expect(await ethers.provider.getTransactionCount(admin.address)).to.equal(nonce);

      // the rules the TypeScript check mirrors
      const registry = await ethers.deployContract("ModelRegistry");
      const factory = await ethers.getContractFactory("InferencePrecompile");
      for (const [minBond, window] of [
        [0n, 3600n],
        [1n, 0n],
        [1n, 86_401n],
      ])
        await expect(
          factory.deploy(admin.address, await registry.getAddress(), minBond, window),
        ).to.be.revertedWithCustomError(factory, "Inference__InvalidConfig");
      await factory.deploy(admin.address, await registry.getAddress(), 1n, 86_400n);
    });

    it("refuses an existing deployment whose admin was transferred since", async function () {
      const [admin, other] = await ethers.getSigners();
      const { precompile } = await deployDeterministic(env);
      await (await precompile.transferAdmin(other.address)).wait();
      await (await precompile.connect(other).acceptAdmin()).wait();
      const error = await errorOf(() => deployDeterministic(env));
      expect(error).to.be.instanceOf(ChainError);
      expect(error.message).to.contain(`admin ${other.address}, asked ${admin.address}`);
    });

    it("gives another address for another admin or configuration", async function () {
      const [a, b] = await ethers.getSigners();
      const base = await deterministicAddresses(env, a.address);
      expect((await deterministicAddresses(env, b.address)).precompile).to.not.equal(base.precompile);
      expect((await deterministicAddresses(env, a.address, { answerWindow: 7n })).precompile).to.not.equal(
        base.precompile,
      );
      expect((await deterministicAddresses(env, b.address)).registry).to.equal(base.registry);
    });
  });

  it("explains what to do when the deterministic-deployment proxy is missing", async function () {
    let error: unknown;
    try {
      await deployDeterministic(env);
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(ChainError);
    expect((error as Error).message).to.match(/deterministic-deployment proxy .* is not on network default/);
    expect((error as Error).message).to.match(/deploy Arachnid's deterministic-deployment-proxy/);
  });
});
