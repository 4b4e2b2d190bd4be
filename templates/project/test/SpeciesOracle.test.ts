import { expect } from "chai";
import hre, { network } from "hardhat";
import { deploySibyl, RequestState, type SibylTestbed } from "hardhat-sibyl/testing";

// One in-process chain for this file, with Sibyl installed, the Iris model built (cached
// after the first run), registered, and a node answering and proving; `tee: true` also starts
// a local enclave process (NOT hardware-backed) and registers it, for TEE-mode requests.
const connection = await network.create();
const { ethers } = connection;

describe("SpeciesOracle", function () {
  let sibyl: SibylTestbed;
  let oracle: any;

  before(async function () {
    sibyl = await deploySibyl(hre, connection, { tee: true });
    oracle = await ethers.deployContract("SpeciesOracle", [sibyl.modelId()]);
  });

  after(async function () {
    await sibyl.close();
  });

  async function classify(features: number[]): Promise<string> {
    const tx = await oracle.classify(sibyl.quantize(features), { value: await oracle.fee() });
    return sibyl.requestIdOf(await tx.wait());
  }

  it("gets an answer at once and its proof later", async function () {
    const id = await classify([6.3, 3.3, 6.0, 2.5]); // a virginica
    await sibyl.waitAnswered(id);
    expect(await oracle.provisional(id)).to.equal(2n);
    await sibyl.waitSettled(id);
    expect(await oracle.isProved(id)).to.equal(true);
    expect(await oracle.proved(id)).to.equal(2n);
  });

  it("is told when an answer is never proved, and the node's stake pays", async function () {
    await sibyl.stopNode();
    const id = await classify([5.1, 3.5, 1.4, 0.2]); // a setosa
    await sibyl.answerWithoutProof(id, [1n]); // a lie nobody can prove
    expect(await oracle.provisional(id)).to.equal(1n);
    await sibyl.passSettlementWindow(id);
    await sibyl.slash(id);
    expect(await sibyl.stateOf(id)).to.equal(RequestState.Slashed);
    expect(await oracle.failedWith(id)).to.equal(2n); // Sibyl.FAILED_SLASHED
    expect(await oracle.isProved(id)).to.equal(false);
    await sibyl.startNode();
  });

  it("classifies synchronously: the answer and its verified proof in the same transaction", async function () {
    const [me] = await ethers.getSigners();
    await (await oracle.classifyNow(sibyl.quantize([6.4, 3.2, 4.5, 1.5]))).wait(); // a versicolor
    expect(await oracle.classifiedNow(me.address)).to.equal(1n);
  });

  it("gets a final answer at once from an attested enclave (TEE mode)", async function () {
    const features = sibyl.quantize([6.4, 3.2, 4.5, 1.5]); // a versicolor
    const tx = await oracle.classifyAttested(features, { value: await oracle.fee() });
    const id = sibyl.requestIdOf(await tx.wait());
    expect(await sibyl.waitFinal(id)).to.equal(RequestState.Settled);
    // both hooks ran, in the one transaction that brought the enclave's signed answer
    expect(await oracle.provisional(id)).to.equal(1n);
    expect(await oracle.isProved(id)).to.equal(true);
    expect(await oracle.proved(id)).to.equal(1n);
  });

  it("refuses a request without its fee", async function () {
    await expect(oracle.classify(sibyl.quantize([5.1, 3.5, 1.4, 0.2]), { value: 0n }))
      .to.be.revertedWithCustomError(sibyl.precompile, "Inference__FeeTooLow")
      .withArgs(await oracle.fee(), 0n);
  });
});
