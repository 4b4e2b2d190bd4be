import { expect } from "chai";
import hre from "hardhat";
import type { SnapshotRestorer } from "@nomicfoundation/hardhat-network-helpers/types";
import { parseEther } from "ethers";

import type { Deployed } from "../../src/chain/deploy.js";
import { ChainError } from "../../src/errors.js";
import { taskErrorOf } from "../helpers/errors.js";

/**
 * `sibyl:deploy` run again on a chain where Sibyl is installed, through the task on the
 * in-process network's shared connection (the one tasks run on): the same options, or none,
 * adopt the installation; other values are refused with both values and what to do; --reset
 * installs the new values.
 */
const connection = await hre.network.getOrCreate();
const { ethers } = connection;

const deploy = (args: Record<string, unknown> = {}): Promise<Deployed> =>
  hre.tasks.getTask("sibyl:deploy").run(args) as Promise<Deployed>;

async function parameters(d: Deployed) {
  return {
    minBond: await d.precompile.minBond(),
    answerWindow: await d.precompile.answerWindow(),
    registry: await d.registry.getAddress(),
    admin: await d.precompile.admin(),
  };
}

describe("sibyl:deploy run again", function () {
  let fresh: SnapshotRestorer;
  let first: Awaited<ReturnType<typeof parameters>>;

  before(async function () {
    fresh = await connection.networkHelpers.takeSnapshot();
    first = await parameters(await deploy());
  });

  after(async function () {
    await fresh.restore();
  });

  it("installs with the defaults the first time", async function () {
    const [me] = await ethers.getSigners();
    expect(first.minBond).to.equal(parseEther("1"));
    expect(first.answerWindow).to.equal(3600n);
    expect(first.admin).to.equal(me.address);
  });

  it("refuses --min-bond 2 on an installation with 1, naming both values and what to do", async function () {
    const [me] = await ethers.getSigners();
    const nonce = await ethers.provider.getTransactionCount(me.address);
    const error = await taskErrorOf(() => deploy({ minBond: "2" }));
    expect(error).to.be.instanceOf(ChainError);
    expect(error.message).to.contain("It differs in: minBond 1.0 ETH, asked 2.0 ETH");
    expect(error.message).to.contain("minBond 1.0 ETH, answerWindow 3600 s"); // the installation as it is
    // keep it: no options (or its values); replace it: --reset with the asked values
    expect(error.hint).to.contain("sibyl:deploy without --min-bond and --answer-window adopts it");
    expect(error.hint).to.contain("pass --min-bond 1.0 --answer-window 3600");
    expect(error.hint).to.contain("npx hardhat sibyl:deploy --network default --reset --min-bond 2.0 (");
    // nothing changed
    expect(await ethers.provider.getTransactionCount(me.address)).to.equal(nonce);
    const { precompile } = await deploy();
    expect(await precompile.minBond()).to.equal(parseEther("1"));
  });

  it("refuses another --answer-window the same way", async function () {
    const error = await taskErrorOf(() => deploy({ answerWindow: "600" }));
    expect(error.message).to.contain("It differs in: answerWindow 3600 s, asked 600 s");
    expect(error.hint).to.contain("--reset --answer-window 600 (");
  });

  it("adopts the installation with the same options, or none, sending nothing", async function () {
    const [me] = await ethers.getSigners();
    const nonce = await ethers.provider.getTransactionCount(me.address);
    expect(await parameters(await deploy({ minBond: "1", answerWindow: "3600" }))).to.deep.equal(first);
    expect(await parameters(await deploy({ minBond: "1.0" }))).to.deep.equal(first);
    expect(await parameters(await deploy())).to.deep.equal(first);
    expect(await ethers.provider.getTransactionCount(me.address)).to.equal(nonce);
  });

  it("--reset installs the new values, which a later run without options adopts", async function () {
    const reset = await deploy({ reset: true, minBond: "2", answerWindow: "600" });
    expect(reset.cleared?.minBond).to.equal(parseEther("1"));
    const now = await parameters(reset);
    expect(now.minBond).to.equal(parseEther("2"));
    expect(now.answerWindow).to.equal(600n);
    expect(now.registry).to.not.equal(first.registry);

    expect(await parameters(await deploy())).to.deep.equal(now);
    expect(await parameters(await deploy({ minBond: "2" }))).to.deep.equal(now);
    // the old defaults are now "other values"
    const error = await taskErrorOf(() => deploy({ minBond: "1" }));
    expect(error.message).to.contain("It differs in: minBond 2.0 ETH, asked 1.0 ETH");
  });

  it("refuses option values that are not numbers before sending anything", async function () {
    expect((await taskErrorOf(() => deploy({ answerWindow: "soon" }))).message).to.contain(
      '--answer-window must be an integer, got "soon"',
    );
    expect((await taskErrorOf(() => deploy({ minBond: "lots" }))).message).to.contain(
      '--min-bond must be an amount in ETH, got "lots"',
    );
  });
});
