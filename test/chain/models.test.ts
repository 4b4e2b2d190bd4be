import { expect } from "chai";
import hre, { network } from "hardhat";
import { keccak256, parseEther, parseUnits } from "ethers";

import {
  MAX_ANSWER_WINDOW,
  MAX_SETTLEMENT_WINDOW,
  checkTerms,
  modelIdFor,
  requiredFee,
  termsOf,
  verifierRuntimeCode,
} from "../../src/chain/models.js";
import { buildModels } from "../../src/chain/stack.js";
import { sibylEnv } from "../../src/env.js";
import { ChainError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import type { IModelRegistry } from "../../typechain-types/index.js";
import { errorOf } from "../helpers/errors.js";
import { IRIS_MODEL_PATH } from "../helpers/models.js";

const connection = await network.create();
const { ethers } = connection;
const env = await sibylEnv(hre, connection);

/**
 * src/chain/models.ts states the registry's id, fee formula and bounds in TypeScript (the
 * node, the CLI and verify-model compute ids without asking the chain): checked here against
 * the contracts themselves.
 */
describe("chain/models: the TypeScript statement of ids, fees and bounds", function () {
  const config = (
    overrides: Partial<IModelRegistry.ModelConfigStruct> = {},
  ): IModelRegistry.ModelConfigStruct => ({
    modelHash: keccak256("0x01"),
    weightCommitment: 0n,
    zkeyHash: keccak256("0x02"),
    inputLength: 4,
    outputLength: 1,
    fracBits: 8,
    valueBits: 24,
    inputBits: 12,
    outputFracBits: 0,
    fee: parseEther("0.001"),
    callbackGasPrice: parseUnits("3", "gwei"),
    stake: parseEther("0.1"),
    settlementWindow: 600n,
    unbonded: false,
    ...overrides,
  });

  it("modelIdFor equals ModelRegistry.modelIdOf for every field it hashes", async function () {
    const registry = await ethers.deployContract("ModelRegistry");
    const [a, b] = await ethers.getSigners();
    const code = keccak256("0xfeed");
    const variants = [
      config(),
      config({ weightCommitment: 12345n }),
      config({ stake: 0n, unbonded: true }),
      config({ fee: 1n, callbackGasPrice: 0n, settlementWindow: MAX_SETTLEMENT_WINDOW }),
      config({ inputBits: 24, zkeyHash: keccak256("0x03") }),
    ];
    const ids = new Set<string>();
    for (const c of variants)
      for (const owner of [a.address, b.address]) {
        const id = modelIdFor(owner, code, c);
        expect(id).to.equal(await registry.modelIdOf(owner, code, c));
        ids.add(id);
      }
    expect(ids.size).to.equal(variants.length * 2);
  });

  it("requiredFee equals the registry's feeFor for a registered model", async function () {
    const registry = await ethers.deployContract("ModelRegistry");
    const [owner] = await ethers.getSigners();
    const code = (await env.artifacts.readArtifact("MockVerifier")).deployedBytecode;
    const c = config();
    await (await registry.register(c, code, "fee")).wait();
    const id = modelIdFor(owner.address, keccak256(code), c);
    for (const gas of [0, 1, 200_000, 5_000_000])
      expect(
        requiredFee({ fee: c.fee as bigint, callbackGasPrice: c.callbackGasPrice as bigint }, gas),
      ).to.equal(await registry.feeFor(id, gas));
  });

  it("states the contracts' window maxima", async function () {
    const registry = await ethers.deployContract("ModelRegistry");
    expect(await registry.MAX_SETTLEMENT_WINDOW()).to.equal(MAX_SETTLEMENT_WINDOW);
    const precompile = await ethers.deployContract("InferencePrecompile", [
      ethers.ZeroAddress,
      ethers.ZeroAddress,
      0n,
      0n,
    ]);
    expect(await precompile.REGISTRY_CHANGE_DELAY()).to.equal(MAX_ANSWER_WINDOW + MAX_SETTLEMENT_WINDOW);
  });

  it("checkTerms refuses, before sending, what the registry would revert on", async function () {
    expect(checkTerms(termsOf())).to.deep.equal(termsOf());
    expect(checkTerms(termsOf({ unbonded: true })).stake).to.equal(0n);
    for (const [terms, message] of [
      [
        termsOf({ settlementWindow: MAX_SETTLEMENT_WINDOW + 1n }),
        /settlement window 86401 s is out of range/,
      ],
      [termsOf({ settlementWindow: 0n }), /settlement window 0 s is out of range/],
      [termsOf({ stake: 0n }), /a bonded model needs a stake above 0/],
      [termsOf({ unbonded: true, stake: 1n }), /an unbonded model locks no stake/],
      [termsOf({ fee: 1n << 128n }), /fee .* wei is out of range/],
    ] as const) {
      const e = await errorOf(async () => checkTerms(terms));
      expect(e).to.be.instanceOf(ChainError);
      expect(e.message).to.match(message);
    }
  });

  it("verifierRuntimeCode refuses a compiled verifier that was not compiled from the current export", async function () {
    const [iris] = await buildModels(env, [IRIS_MODEL_PATH], silentLogger);
    expect(await verifierRuntimeCode(env, iris)).to.equal(
      (await env.artifacts.readArtifact(iris.verifierContract)).deployedBytecode,
    );
    // as after a new setup whose verifier was exported but not compiled yet
    const e = await errorOf(() => verifierRuntimeCode(env, { ...iris, vkHash: keccak256("0x1234") }));
    expect(e).to.be.instanceOf(ChainError);
    expect(e.message).to.contain(
      `the compiled ${iris.verifierContract} was not compiled from the verifier exported`,
    );
    expect(e.message).to.contain("npx hardhat build");
  });
});
