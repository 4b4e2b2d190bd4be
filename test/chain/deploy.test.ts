import { expect } from "chai";
import hre from "hardhat";
import { reset } from "@nomicfoundation/hardhat-network-helpers";
import { parseEther } from "ethers";

import {
  DETERMINISTIC_DEPLOYER,
  DETERMINISTIC_DEPLOYER_RUNTIME,
  deployDeterministic,
  deploySibyl,
  deterministicAddresses,
} from "../../src/chain/deploy";
import { DEFAULT_ANSWER_WINDOW, DEFAULT_MIN_BOND, INFERENCE_ADDRESS } from "../../src/chain/install";
import { ChainError } from "../../src/errors";
import { InferencePrecompile__factory, ModelRegistry__factory } from "../../typechain-types";
import { errorOf } from "../helpers/errors";

describe("deploying Sibyl", function () {
  beforeEach(async function () {
    await reset();
  });

  it("installs at 0x…F4 on the Hardhat network", async function () {
    const { precompile, registry, deterministic } = await deploySibyl(hre, { minBond: parseEther("2") });
    expect(deterministic).to.equal(false);
    expect(await precompile.getAddress()).to.equal(INFERENCE_ADDRESS);
    expect(await precompile.registry()).to.equal(await registry.getAddress());
    expect(await precompile.minBond()).to.equal(parseEther("2"));
  });

  it("with reset, reinstalls a precompile a stranger initialised first, with the caller as admin", async function () {
    const [me, stranger] = await hre.ethers.getSigners();
    const artifact = await hre.artifacts.readArtifact("InferencePrecompile");
    await hre.network.provider.send("hardhat_setCode", [INFERENCE_ADDRESS, artifact.deployedBytecode]);
    const registry = await (await new ModelRegistry__factory(stranger).deploy()).getAddress();
    await (
      await InferencePrecompile__factory.connect(INFERENCE_ADDRESS, stranger).initialize(
        stranger.address,
        registry,
        DEFAULT_MIN_BOND,
        DEFAULT_ANSWER_WINDOW,
      )
    ).wait();
    expect((await errorOf(() => deploySibyl(hre))).message).to.contain(`initialised by ${stranger.address}`);

    const { precompile, cleared } = await deploySibyl(hre, { reset: true });
    expect(cleared?.admin).to.equal(stranger.address);
    expect(await precompile.admin()).to.equal(me.address);
    expect(await precompile.registry()).to.not.equal(registry);
  });

  describe("through the CREATE2 deterministic-deployment proxy (other chains)", function () {
    beforeEach(async function () {
      await hre.network.provider.send("hardhat_setCode", [
        DETERMINISTIC_DEPLOYER,
        DETERMINISTIC_DEPLOYER_RUNTIME,
      ]);
    });

    it("deploys both contracts at the predicted addresses, initialised by the constructor", async function () {
      const [admin] = await hre.ethers.getSigners();
      const opts = { minBond: parseEther("0.5"), answerWindow: 120n };
      const predicted = await deterministicAddresses(hre, admin.address, opts);
      const { precompile, registry, deterministic } = await deployDeterministic(hre, opts);
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
      const first = await deployDeterministic(hre);
      const [admin] = await hre.ethers.getSigners();
      const nonce = await hre.ethers.provider.getTransactionCount(admin.address);
      const second = await deployDeterministic(hre);
      expect(await hre.ethers.provider.getTransactionCount(admin.address)).to.equal(nonce);
      expect(await second.precompile.getAddress()).to.equal(await first.precompile.getAddress());
    });

    it("refuses, before sending anything, the parameters the constructor reverts on", async function () {
      const [admin] = await hre.ethers.getSigners();
      const nonce = await hre.ethers.provider.getTransactionCount(admin.address);
      const zeroBond = await errorOf(() => deployDeterministic(hre, { minBond: 0n }));
      expect(zeroBond).to.be.instanceOf(ChainError);
      expect(zeroBond.message).to.contain("minBond must be above 0");
      const longWindow = await errorOf(() => deployDeterministic(hre, { answerWindow: 86_401n }));
      expect(longWindow.message).to.contain("answerWindow must be 1…86400 seconds");
      expect(await hre.ethers.provider.getTransactionCount(admin.address)).to.equal(nonce);

      // the rules the TypeScript check mirrors
      const registry = await hre.ethers.deployContract("ModelRegistry");
      const factory = await hre.ethers.getContractFactory("InferencePrecompile");
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
      const [admin, other] = await hre.ethers.getSigners();
      const { precompile } = await deployDeterministic(hre);
      await (await precompile.transferAdmin(other.address)).wait();
      await (await precompile.connect(other).acceptAdmin()).wait();
      const error = await errorOf(() => deployDeterministic(hre));
      expect(error).to.be.instanceOf(ChainError);
      expect(error.message).to.contain(`admin ${other.address}, asked ${admin.address}`);
    });

    it("gives another address for another admin or configuration", async function () {
      const [a, b] = await hre.ethers.getSigners();
      const base = await deterministicAddresses(hre, a.address);
      expect((await deterministicAddresses(hre, b.address)).precompile).to.not.equal(base.precompile);
      expect((await deterministicAddresses(hre, a.address, { answerWindow: 7n })).precompile).to.not.equal(
        base.precompile,
      );
      expect((await deterministicAddresses(hre, b.address)).registry).to.equal(base.registry);
    });
  });

  it("explains what to do when the deterministic-deployment proxy is missing", async function () {
    let error: unknown;
    try {
      await deployDeterministic(hre);
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(ChainError);
    expect((error as Error).message).to.match(/deterministic-deployment proxy .* is not on network hardhat/);
    expect((error as Error).message).to.match(/deploy Arachnid's deterministic-deployment-proxy/);
  });
});
