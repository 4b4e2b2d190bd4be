import { expect } from "chai";
import { parseEther } from "ethers";

import { INFERENCE_ADDRESS } from "../../src/chain/install.js";
import {
  ANSWER_WINDOW,
  DEFAULT_CALLBACK_GAS_LIMIT,
  Failed,
  INPUT,
  MIN_BOND,
  NODE_BOND,
  OUTPUT,
  PROOF,
  STAKE,
  State,
  ethers,
  feeFor,
  networkHelpers,
  registerMockModel,
  requestIdOf,
  sibylFixture,
  slashCompensation,
  stakeFor,
  stakeOf,
} from "./fixtures.js";

const { loadFixture, time } = networkHelpers;

const LIMITS = [parseEther("5"), parseEther("2"), parseEther("0.5")] as const;
const CAP = parseEther("0.05");
const Status = { None: 0n, Pending: 1n, Provisional: 2n, Approved: 3n, Failed: 4n } as const;
/** What an application carries: the model's fee for the desk's default hook gas (200,000 per hook). */
const APP_FEE = feeFor(DEFAULT_CALLBACK_GAS_LIMIT);

describe("CreditLine example (MockVerifier: tests the hook logic, not proofs)", function () {
  async function creditFixture() {
    const f = await loadFixture(sibylFixture);
    // an argmax classifier: one output, the class index
    const { modelId: riskModel } = await registerMockModel(
      f.registry,
      f.admin,
      { outputLength: 1, modelHash: ethers.id("argmax") },
      "risk",
    );
    const creditLine = await ethers.deployContract("CreditLine", [
      INFERENCE_ADDRESS,
      riskModel,
      [...LIMITS],
      CAP,
    ]);
    const borrower = f.stranger;
    const apply = () =>
      requestIdOf(f.precompile, creditLine.connect(borrower).applyForCredit(INPUT, { value: APP_FEE }));
    return { ...f, riskModel, creditLine, borrower, apply };
  }

  it("records the application and emits CreditApplied", async function () {
    const { precompile, creditLine, borrower, apply } = await loadFixture(creditFixture);
    const id = await apply();
    const app = await creditLine.applicationOf(id);
    expect([app.borrower, app.status]).to.deep.equal([borrower.address, Status.Pending]);
    expect(await creditLine.openApplicationOf(borrower.address)).to.equal(id);
    expect((await precompile.getRequest(id)).consumer).to.equal(await creditLine.getAddress());
    expect((await precompile.getRequest(id)).fee).to.equal(APP_FEE);
  });

  it("asks the model's fee for 200,000 gas per hook (applicationFee), and an application with less reverts with Inference__FeeTooLow", async function () {
    const { precompile, creditLine, borrower } = await loadFixture(creditFixture);
    expect(await creditLine.applicationFee()).to.equal(APP_FEE);
    await expect(creditLine.connect(borrower).applyForCredit(INPUT, { value: APP_FEE - 1n }))
      .to.be.revertedWithCustomError(precompile, "Inference__FeeTooLow")
      .withArgs(APP_FEE, APP_FEE - 1n);
  });

  it("emits CreditApplied with the request id", async function () {
    const { creditLine, borrower } = await loadFixture(creditFixture);
    await expect(creditLine.connect(borrower).applyForCredit(INPUT, { value: APP_FEE }))
      .to.emit(creditLine, "CreditApplied")
      .withArgs((id: string) => id.length === 66, borrower.address);
  });

  it("grants a provisional limit on the answer, then the tier's limit on settlement", async function () {
    const { precompile, creditLine, node, borrower, apply } = await loadFixture(creditFixture);
    const id = await apply();
    await expect(precompile.connect(node).answer(id, [0n]))
      .to.emit(creditLine, "ProvisionalCreditGranted")
      .withArgs(id, borrower.address, 0, CAP);
    expect(await creditLine.creditLimit(borrower.address)).to.equal(CAP);
    expect((await creditLine.applicationOf(id)).status).to.equal(Status.Provisional);

    await expect(precompile.settle(id, [...PROOF]))
      .to.emit(creditLine, "CreditApproved")
      .withArgs(id, borrower.address, 0, LIMITS[0]);
    expect(await creditLine.creditLimit(borrower.address)).to.equal(LIMITS[0]);
    expect((await creditLine.applicationOf(id)).status).to.equal(Status.Approved);
    expect(await creditLine.openApplicationOf(borrower.address)).to.equal(ethers.ZeroHash);
  });

  it("declares its largest provisional limit as value at risk; the answer's coverage repays it", async function () {
    const { precompile, creditLine, node, apply } = await loadFixture(creditFixture);
    expect(await creditLine.VALUE_AT_RISK()).to.equal(CAP); // min(CAP, tier 0 limit)
    const id = await apply();
    expect((await precompile.getRequest(id)).stake).to.equal(stakeOf(CAP));
    await (await precompile.connect(node).answer(id, [0n])).wait();
    expect(await precompile.coverageOf(id)).to.be.greaterThanOrEqual(CAP);
  });

  it("is answered only by a node whose free bond covers a generous desk's value at risk; a slash repays the provisional limit", async function () {
    const { precompile, riskModel, node, borrower, stranger } = await loadFixture(creditFixture);
    const generous = await ethers.deployContract("CreditLine", [
      INFERENCE_ADDRESS,
      riskModel,
      [...LIMITS],
      parseEther("100"),
    ]);
    expect(await generous.VALUE_AT_RISK()).to.equal(LIMITS[0]); // the cap is above every tier limit
    const stake = stakeFor(LIMITS[0]);
    const id = await requestIdOf(
      precompile,
      generous.connect(borrower).applyForCredit(INPUT, { value: APP_FEE }),
    );
    expect(await precompile.bondBacking(id)).to.equal(0n);
    await expect(precompile.connect(node).answer(id, [0n]))
      .to.be.revertedWithCustomError(precompile, "Inference__InsufficientBond")
      .withArgs(node.address, NODE_BOND, stake + MIN_BOND);

    await (await precompile.connect(node).registerNode({ value: stake + MIN_BOND - NODE_BOND })).wait();
    await expect(precompile.connect(node).answer(id, [0n]))
      .to.emit(generous, "ProvisionalCreditGranted")
      .withArgs(id, borrower.address, 0, LIMITS[0]);
    expect(await precompile.bondBacking(id)).to.equal(stake);
    expect(await generous.creditLimit(borrower.address)).to.equal(LIMITS[0]);

    await time.increaseTo((await precompile.settlementDeadline(id)) + 1n);
    await (await precompile.connect(stranger).slash(id)).wait();
    const repaid = slashCompensation(stake);
    expect(repaid).to.be.greaterThanOrEqual(LIMITS[0]);
    await expect(generous.collectCompensation()).to.changeEtherBalance(ethers, generous, repaid + APP_FEE);
  });

  it("grants no provisional limit that a slash of the locked stake would not repay", async function () {
    const { riskModel, borrower } = await loadFixture(creditFixture);
    // A precompile stand-in reporting an answer backed by less than the desk declared: the real
    // precompile never does that, so the desk's own check is what is tested here.
    const fake = await ethers.deployContract("FakeInference");
    const desk = await ethers.deployContract("CreditLine", [
      await fake.getAddress(),
      riskModel,
      [...LIMITS],
      CAP,
    ]);
    const apply = async () => {
      const receipt = (await (await desk.connect(borrower).applyForCredit(INPUT)).wait())!;
      return receipt.logs.map((l) => desk.interface.parseLog(l)).find((p) => p?.name === "CreditApplied")!
        .args.requestId as string;
    };
    const atRisk = stakeFor(CAP); // the least backing whose slash repays CAP

    const short = await apply();
    await (await fake.setTerms(State.Answered, atRisk - 1n)).wait(); // repays CAP - 1 at most
    expect(slashCompensation(atRisk - 1n)).to.be.lessThan(CAP);
    await expect(fake.answer(await desk.getAddress(), short, [0n]))
      .to.emit(desk, "ProvisionalCreditGranted")
      .withArgs(short, borrower.address, 0, 0n);
    expect(await desk.creditLimit(borrower.address)).to.equal(0n);

    await (await fake.setTerms(State.Answered, atRisk)).wait();
    await expect(fake.answer(await desk.getAddress(), short, [0n]))
      .to.emit(desk, "ProvisionalCreditGranted")
      .withArgs(short, borrower.address, 0, CAP);
    expect(await desk.creditLimit(borrower.address)).to.equal(CAP);
  });

  it("revokes the provisional limit when the answer is slashed, and collects the compensation", async function () {
    const { precompile, creditLine, node, borrower, apply } = await loadFixture(creditFixture);
    const id = await apply();
    await (await precompile.connect(node).answer(id, [0n])).wait();
    await time.increaseTo((await precompile.settlementDeadline(id)) + 1n);
    await expect(precompile.slash(id))
      .to.emit(creditLine, "CreditRevoked")
      .withArgs(id, borrower.address, Failed.Slashed);
    expect(await creditLine.creditLimit(borrower.address)).to.equal(0n);
    expect((await creditLine.applicationOf(id)).status).to.equal(Status.Failed);
    await expect(creditLine.collectCompensation()).to.changeEtherBalance(
      ethers,
      creditLine,
      slashCompensation(STAKE) + APP_FEE,
    );
  });

  it("revokes when the request expires, keeping an earlier approved limit, and lets the borrower re-apply", async function () {
    const { precompile, creditLine, node, borrower, apply } = await loadFixture(creditFixture);
    const first = await apply();
    await (await precompile.connect(node).answer(first, [1n])).wait();
    await (await precompile.settle(first, [...PROOF])).wait();
    const second = await apply();
    await time.increase(ANSWER_WINDOW + 1n);
    await expect(precompile.expire(second))
      .to.emit(creditLine, "CreditRevoked")
      .withArgs(second, borrower.address, Failed.Expired);
    expect(await creditLine.creditLimit(borrower.address)).to.equal(LIMITS[1]);
    await expect(creditLine.connect(borrower).applyForCredit(INPUT, { value: APP_FEE })).to.emit(
      creditLine,
      "CreditApplied",
    );
  });

  it("reverts a second open application with CreditLine__ApplicationPending", async function () {
    const { creditLine, borrower, apply } = await loadFixture(creditFixture);
    const id = await apply();
    await expect(creditLine.connect(borrower).applyForCredit(INPUT, { value: APP_FEE }))
      .to.be.revertedWithCustomError(creditLine, "CreditLine__ApplicationPending")
      .withArgs(borrower.address, id);
  });

  it("treats an unknown class as the riskiest tier", async function () {
    const { precompile, creditLine, node, borrower, apply } = await loadFixture(creditFixture);
    const id = await apply();
    await (await precompile.connect(node).answer(id, [7n])).wait();
    await expect(precompile.settle(id, [...PROOF]))
      .to.emit(creditLine, "CreditApproved")
      .withArgs(id, borrower.address, 2, LIMITS[2]);
  });

  it("reads the tier as the first maximal logit when the model outputs logits", async function () {
    const { precompile, modelId, node, borrower } = await loadFixture(creditFixture);
    const logits = await ethers.deployContract("CreditLine", [INFERENCE_ADDRESS, modelId, [...LIMITS], CAP]);
    const id = await requestIdOf(
      precompile,
      logits.connect(borrower).applyForCredit(INPUT, { value: APP_FEE }),
    );
    await (await precompile.connect(node).answer(id, OUTPUT)).wait(); // [-3, 1000, -2^23]: tier 1
    await expect(precompile.settle(id, [...PROOF]))
      .to.emit(logits, "CreditApproved")
      .withArgs(id, borrower.address, 1, LIMITS[1]);
  });

  it("reverts applicationOf for an unknown id with CreditLine__UnknownApplication", async function () {
    const { creditLine } = await loadFixture(creditFixture);
    const id = ethers.id("nope");
    await expect(creditLine.applicationOf(id))
      .to.be.revertedWithCustomError(creditLine, "CreditLine__UnknownApplication")
      .withArgs(id);
  });

  it("refuses tier limits that grow with risk (CreditLine__InvalidTierLimits)", async function () {
    const { riskModel, creditLine } = await loadFixture(creditFixture);
    const limits = [1n, 2n, 0n];
    await expect(ethers.deployContract("CreditLine", [INFERENCE_ADDRESS, riskModel, limits, CAP]))
      .to.be.revertedWithCustomError(creditLine, "CreditLine__InvalidTierLimits")
      .withArgs(limits);
  });
});
