import { expect } from "chai";
import { parseEther } from "ethers";

import { whyNoNodeAnswers, type NodeVerdict } from "../../src/client/nodes.js";
import {
  type BondState,
  DEFAULT_NODE_POLICY,
  NO_STAKE_LIMIT,
  type NodePolicy,
  PolicyError,
  type RequestTerms,
  UNPUBLISHED_POLICY,
  checkTerms,
  decide,
  describePolicy,
  fromPublished,
  publishedForm,
  resolvePolicy,
} from "../../src/node/policy.js";

/**
 * decide(): the one rule book shared by the node (before it answers) and sibyl:status (why
 * nobody answers). Every reason, each at its boundary, with the exact words both print.
 */

const REQUEST: RequestTerms = { fee: parseEther("0.01"), callbackGasLimit: 200_000, stake: parseEther("1") };
const POLICY: NodePolicy = {
  minFee: parseEther("0.01"),
  maxCallbackGasLimit: 1_000_000,
  maxStake: parseEther("1"),
};
/** exactly enough: free 2 ETH = stake 1 ETH + minimum bond 1 ETH */
const BOND: BondState = { bond: parseEther("3"), locked: parseEther("1"), minBond: parseEther("1") };

describe("node/policy decide", function () {
  it("answers a request exactly at every limit", function () {
    expect(decide(REQUEST, { ...POLICY, maxCallbackGasLimit: 200_000 }, BOND)).to.deep.equal({
      answer: true,
    });
  });

  it("declines a fee one wei below the minimum", function () {
    expect(decide({ ...REQUEST, fee: parseEther("0.01") - 1n }, POLICY, BOND)).to.deep.equal({
      answer: false,
      reason: "fee",
      message: "fee 0.009999999999999999 ETH below its minimum 0.01 ETH",
    });
  });

  it("declines callback gas one above the limit", function () {
    expect(decide({ ...REQUEST, callbackGasLimit: 1_000_001 }, POLICY, BOND)).to.deep.equal({
      answer: false,
      reason: "callback-gas",
      message: "callback gas 1,000,001 above its limit 1,000,000",
    });
  });

  it("declines a stake one wei above the maximum", function () {
    const stake = parseEther("1") + 1n;
    expect(decide({ ...REQUEST, stake }, POLICY, { ...BOND, bond: parseEther("10") })).to.deep.equal({
      answer: false,
      reason: "stake",
      message: "stake 1.000000000000000001 ETH above its maximum 1 ETH",
    });
  });

  it("takes an undefined maximum stake as no limit beyond the bond", function () {
    const stake = parseEther("1000");
    expect(
      decide(
        { ...REQUEST, stake },
        { ...POLICY, maxStake: undefined },
        { ...BOND, bond: parseEther("1002") },
      ),
    ).to.deep.equal({
      answer: true,
    });
  });

  it("declines when the free bond is one wei short of stake + minimum bond (the precompile would revert)", function () {
    expect(decide(REQUEST, POLICY, { ...BOND, locked: BOND.locked + 1n })).to.deep.equal({
      answer: false,
      reason: "bond",
      message: "free bond 1.999999999999999999 ETH below stake 1 ETH + minimum bond 1 ETH",
    });
  });

  it("reports the first rule broken: fee, then callback gas, then stake, then bond", function () {
    const all = { fee: 0n, callbackGasLimit: 5_000_000, stake: parseEther("5") };
    const broke = { bond: 0n, locked: 0n, minBond: parseEther("1") };
    const reasons = [
      decide(all, POLICY, broke),
      decide({ ...all, fee: REQUEST.fee }, POLICY, broke),
      decide({ ...all, fee: REQUEST.fee, callbackGasLimit: 0 }, POLICY, broke),
      decide({ ...REQUEST }, POLICY, broke),
    ].map((d) => (d.answer ? "answer" : d.reason));
    expect(reasons).to.deep.equal(["fee", "callback-gas", "stake", "bond"]);
  });

  it("checkTerms leaves the bond aside", function () {
    expect(checkTerms(REQUEST, POLICY)).to.deep.equal({ answer: true });
    expect(checkTerms({ ...REQUEST, callbackGasLimit: 5_000_000 }, POLICY)).to.include({
      reason: "callback-gas",
    });
  });

  it("judges a node without a published policy by its bond alone", function () {
    const huge = { fee: 0n, callbackGasLimit: 5_000_000, stake: parseEther("1") };
    expect(decide(huge, UNPUBLISHED_POLICY, BOND)).to.deep.equal({ answer: true });
    expect(decide(huge, UNPUBLISHED_POLICY, { ...BOND, bond: parseEther("2") })).to.include({
      reason: "bond",
    });
  });
});

describe("node/policy options and publication", function () {
  it("defaults to any fee, 1,000,000 callback gas per hook and no stake limit beyond the bond", function () {
    expect(resolvePolicy()).to.deep.equal({
      minFee: 0n,
      maxCallbackGasLimit: 1_000_000,
      maxStake: undefined,
    });
    expect(resolvePolicy()).to.deep.equal(DEFAULT_NODE_POLICY);
    expect(describePolicy(resolvePolicy())).to.equal(
      "minimum fee 0 ETH, callback gas up to 1,000,000 per hook, any stake its free bond backs",
    );
    expect(describePolicy(POLICY)).to.equal(
      "minimum fee 0.01 ETH, callback gas up to 1,000,000 per hook, stake up to 1 ETH",
    );
  });

  it("publishes 'no stake limit' as the uint88 maximum and reads it back as no limit", function () {
    expect(publishedForm(resolvePolicy())).to.deep.equal({
      minFee: 0n,
      maxCallbackGasLimit: 1_000_000,
      maxStake: NO_STAKE_LIMIT,
    });
    expect(NO_STAKE_LIMIT).to.equal(2n ** 88n - 1n);
    expect(
      fromPublished({ minFee: 5n, maxCallbackGasLimit: 7n, maxStake: NO_STAKE_LIMIT, published: true }),
    ).to.deep.equal({ minFee: 5n, maxCallbackGasLimit: 7, maxStake: undefined });
    expect(fromPublished({ minFee: 0n, maxCallbackGasLimit: 0n, maxStake: 0n, published: false })).to.equal(
      undefined,
    );
  });

  it("refuses options setNodePolicy cannot publish, with a PolicyError", function () {
    for (const bad of [
      { maxCallbackGasLimit: -1 },
      { maxCallbackGasLimit: 1.5 },
      { maxCallbackGasLimit: 2 ** 32 },
      { minFee: -1n },
      { minFee: 1n << 128n },
      { maxStake: NO_STAKE_LIMIT },
    ])
      expect(
        () => resolvePolicy(bad),
        JSON.stringify(bad, (_, v) => (typeof v === "bigint" ? `${v}` : v)),
      ).to.throw(PolicyError);
  });
});

describe("client/whyNoNodeAnswers", function () {
  const verdict = (
    node: string,
    policy: NodePolicy | undefined,
    bond: BondState,
    request = REQUEST,
  ): NodeVerdict => ({
    node,
    policy,
    bond,
    decision: decide(request, policy ?? UNPUBLISHED_POLICY, bond),
  });
  const A = "0x000000000000000000000000000000000000000A";
  const B = "0x000000000000000000000000000000000000000b";

  it("says when no node is registered", function () {
    expect(whyNoNodeAnswers([], REQUEST)).to.equal("no node is registered");
  });

  it("sums up one shared reason with the nodes' limit", function () {
    const request = { ...REQUEST, callbackGasLimit: 5_000_000 };
    expect(
      whyNoNodeAnswers([verdict(A, POLICY, BOND, request), verdict(B, POLICY, BOND, request)], request),
    ).to.equal("callback gas 5,000,000 above every node's limit (1,000,000)");
    const other = { ...POLICY, maxCallbackGasLimit: 2_000_000 };
    expect(
      whyNoNodeAnswers([verdict(A, POLICY, BOND, request), verdict(B, other, BOND, request)], request),
    ).to.equal("callback gas 5,000,000 above every node's limit (the highest is 2,000,000)");
  });

  it("sums up a shared bond shortfall", function () {
    const short = { ...BOND, bond: parseEther("2.5") };
    expect(whyNoNodeAnswers([verdict(A, POLICY, short)], REQUEST)).to.equal(
      "no node's free bond covers stake 1 ETH + minimum bond 1 ETH (1.5 ETH free)",
    );
  });

  it("lists each node's own reason when they differ", function () {
    const cheap = { ...REQUEST, fee: parseEther("0.001") };
    const poor = { ...BOND, bond: parseEther("1.5") };
    expect(
      whyNoNodeAnswers([verdict(A, POLICY, BOND, cheap), verdict(B, undefined, poor, cheap)], cheap),
    ).to.equal(
      `${A}: fee 0.001 ETH below its minimum 0.01 ETH; ` +
        `${B}: free bond 0.5 ETH below stake 1 ETH + minimum bond 1 ETH`,
    );
  });
});
