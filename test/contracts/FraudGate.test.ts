import { expect } from "chai";
import hre from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";

import { INFERENCE_ADDRESS } from "../../src/chain/install";
import { FEE, INPUT, PROOF, SETTLEMENT_WINDOW, modelConfig, requestIdOf, sibylFixture } from "./fixtures";

describe("FraudGate README example (MockVerifier: tests the hook logic, not proofs)", function () {
  async function gateFixture() {
    const f = await loadFixture(sibylFixture);
    const config = modelConfig(await f.verifier.getAddress(), {
      outputLength: 1,
      modelHash: hre.ethers.id("fraud"),
    });
    await (await f.registry.register(config, "fraud")).wait();
    const gate = await hre.ethers.deployContract("FraudGate", [await f.registry.modelIdOf(config)]);
    const payee = f.stranger.address;
    const screen = () => requestIdOf(f.precompile, gate.screen(payee, INPUT, { value: FEE }));
    return { ...f, gate, payee, screen };
  }

  it("talks to the precompile at 0x…F4", async function () {
    const { gate } = await loadFixture(gateFixture);
    expect(await gate.INFERENCE()).to.equal(INFERENCE_ADDRESS);
  });

  it("holds a payee on a fraud answer, then blocks it for good on settlement", async function () {
    const { gate, payee, screen, precompile, node } = await loadFixture(gateFixture);
    const id = await screen();
    await expect(precompile.connect(node).answer(id, [1n]))
      .to.emit(gate, "Screened")
      .withArgs(id, payee, true, false);
    expect(await gate.held(payee)).to.equal(true);
    expect(await gate.cleared(payee)).to.equal(false);
    await expect(precompile.settle(id, [...PROOF]))
      .to.emit(gate, "Screened")
      .withArgs(id, payee, true, true);
    expect(await gate.held(payee)).to.equal(true);
    expect(await gate.cleared(payee)).to.equal(false);
  });

  it("clears a payee only once a clean answer is proved", async function () {
    const { gate, payee, screen, precompile, node } = await loadFixture(gateFixture);
    const id = await screen();
    await (await precompile.connect(node).answer(id, [0n])).wait();
    expect(await gate.cleared(payee)).to.equal(false);
    await (await precompile.settle(id, [...PROOF])).wait();
    expect(await gate.cleared(payee)).to.equal(true);
  });

  it("releases the hold when the answer is slashed", async function () {
    const { gate, payee, screen, precompile, node } = await loadFixture(gateFixture);
    const id = await screen();
    await (await precompile.connect(node).answer(id, [1n])).wait();
    await time.increase(SETTLEMENT_WINDOW + 1n);
    await (await precompile.slash(id)).wait();
    expect(await gate.held(payee)).to.equal(false);
    expect(await gate.cleared(payee)).to.equal(false);
  });

  it("rejects hooks from anyone but the precompile", async function () {
    const { gate, stranger } = await loadFixture(gateFixture);
    await expect(gate.connect(stranger).onInferenceAnswered(hre.ethers.ZeroHash, [1n]))
      .to.be.revertedWithCustomError(gate, "InferenceConsumer__OnlyInference")
      .withArgs(stranger.address);
  });
});
