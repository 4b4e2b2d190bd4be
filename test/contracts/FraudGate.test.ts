import { expect } from "chai";

import { INFERENCE_ADDRESS } from "../../src/chain/install.js";
import {
  DEFAULT_CALLBACK_GAS_LIMIT,
  INPUT,
  PROOF,
  SETTLEMENT_WINDOW,
  ethers,
  feeFor,
  networkHelpers,
  registerMockModel,
  requestIdOf,
  sibylFixture,
} from "./fixtures.js";

const { loadFixture, time } = networkHelpers;

/** What a screening carries: the model's fee for FraudGate's default hook gas (200,000 per hook). */
const SCREEN_FEE = feeFor(DEFAULT_CALLBACK_GAS_LIMIT);

describe("FraudGate README example (MockVerifier: tests the hook logic, not proofs)", function () {
  async function gateFixture() {
    const f = await loadFixture(sibylFixture);
    const { modelId: fraudModel } = await registerMockModel(
      f.registry,
      f.admin,
      { outputLength: 1, modelHash: ethers.id("fraud") },
      "fraud",
    );
    const gate = await ethers.deployContract("FraudGate", [fraudModel]);
    const payee = f.stranger.address;
    const screen = () => requestIdOf(f.precompile, gate.screen(payee, INPUT, { value: SCREEN_FEE }));
    return { ...f, gate, fraudModel, payee, screen };
  }

  it("talks to the precompile at 0x…F4", async function () {
    const { gate } = await loadFixture(gateFixture);
    expect(await gate.INFERENCE()).to.equal(INFERENCE_ADDRESS);
  });

  it("screens with 200,000 gas per hook and refuses less than the model's fee for it (Inference__FeeTooLow)", async function () {
    const { gate, payee, screen, precompile } = await loadFixture(gateFixture);
    await expect(gate.screen(payee, INPUT, { value: SCREEN_FEE - 1n }))
      .to.be.revertedWithCustomError(precompile, "Inference__FeeTooLow")
      .withArgs(SCREEN_FEE, SCREEN_FEE - 1n);
    const id = await screen();
    const request = await precompile.getRequest(id);
    expect([request.callbackGasLimit, request.fee]).to.deep.equal([200_000n, SCREEN_FEE]);
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
    await expect(gate.connect(stranger).onInferenceAnswered(ethers.ZeroHash, [1n]))
      .to.be.revertedWithCustomError(gate, "InferenceConsumer__OnlyInference")
      .withArgs(stranger.address);
  });
});
