import { expect } from "chai";
import { keccak256, toUtf8Bytes } from "ethers";

import { explainRequest, span } from "../../src/client/status.js";
import { RequestState } from "../../src/node/node.js";
import { formatEth } from "../../src/node/policy.js";
import {
  ANSWER_WINDOW,
  CALLBACK_GAS,
  INPUT,
  OUTPUT,
  REQUEST_FEE,
  MIN_BOND,
  NODE_BOND,
  PROOF,
  SETTLEMENT_WINDOW,
  STAKE,
  networkHelpers,
  sibylFixture,
  slashCompensation,
  timestampOf,
} from "../contracts/fixtures.js";

// the fixture's chain: its loadFixture snapshots, and its clock, are those of the fixtures' connection
const { loadFixture, time } = networkHelpers;

/**
 * explainRequest against the precompile (MockVerifier fixture): every state, every reason a
 * request can be pending, and the boundaries where the explanation must agree with what
 * the precompile accepts (expire and slash only strictly after their deadlines).
 */

/** A unix time as the explanation prints it. */
const iso = (t: bigint): string => new Date(Number(t) * 1000).toISOString().replace(".000Z", "Z");

/** The explanation's line for `label` (the lines are "  <label>  <text>"). */
function line(lines: string[], label: string): string {
  const hit = lines.find((l) => l.trimStart().startsWith(`${label} `));
  expect(hit, `a "${label}" line in:\n${lines.join("\n")}`).to.be.a("string");
  return hit!.trim().slice(label.length).trim();
}

describe("client/explainRequest", function () {
  it("says an unknown id is unknown, and is neither final nor pending", async function () {
    const { precompile } = await loadFixture(sibylFixture);
    const id = keccak256(toUtf8Bytes("no such request"));
    const status = await explainRequest(precompile, id);
    expect(status.state).to.equal(RequestState.None);
    expect(status.final).to.equal(false);
    expect(status.pending).to.equal(undefined);
    expect(status.lines[0]).to.equal(
      `request ${id} is unknown to the precompile at ${String(precompile.target)}`,
    );
  });

  describe("Requested", function () {
    it("is waiting for an answer, and says when anyone can expire it", async function () {
      const { precompile, requestFromUser, user, node, node2 } = await loadFixture(sibylFixture);
      const id = await requestFromUser();
      const requestedAt = BigInt(await time.latest());
      const status = await explainRequest(precompile, id, requestedAt + 10n);

      expect(status).to.include({
        state: RequestState.Requested,
        final: false,
        pending: "awaiting-answer",
        consumer: user.address,
        fee: REQUEST_FEE,
        stake: STAKE,
        bondBacking: 0n,
        requestedAt,
        expiresAfter: requestedAt + ANSWER_WINDOW,
      });
      expect(status.node).to.equal(undefined);
      expect(status.lines[0]).to.equal(`request ${id} is Requested (not final)`);
      expect(line(status.lines, "requested")).to.equal(`${iso(requestedAt)} (10 s ago)`);
      expect(line(status.lines, "fee")).to.equal(`${formatEth(REQUEST_FEE)} (escrowed)`);
      expect(line(status.lines, "bond")).to.equal(
        "none yet: an answer will lock 0.5 ETH of the answering node's bond",
      );
      expect(line(status.lines, "pending")).to.equal(
        `waiting for an answer: no node has answered yet; it can be expired by anyone after ` +
          `${iso(requestedAt + ANSWER_WINDOW)} (9 min 50 s from now), which refunds the fee to the consumer`,
      );
      expect(status.lines.some((l) => l.trimStart().startsWith("answered "))).to.equal(false);
      // both fixture nodes can back the stake and published no policy
      expect(status.willingNodes).to.deep.equal([node.address, node2.address]);
      expect(status.declines).to.deep.equal([]);
      expect(line(status.lines, "nodes")).to.equal("2 of 2 registered nodes would answer it now");
      for (const n of [node, node2])
        expect(status.lines).to.include(
          `             ${n.address} would answer (published no policy: taken as any fee and callback gas, bond permitting)`,
        );
    });

    it("when no node would answer, says so with each node's reason (their published policies and free bonds)", async function () {
      const { precompile, requestFromUser, node, node2 } = await loadFixture(sibylFixture);
      const id = await requestFromUser();
      const { fee } = await explainRequest(precompile, id);
      await (await precompile.connect(node).setNodePolicy(fee! + 1n, CALLBACK_GAS, 0n)).wait();
      await (await precompile.connect(node2).setNodePolicy(0n, CALLBACK_GAS - 1, STAKE)).wait();
      const requestedAt = (await precompile.getRequest(id)).requestedAt;
      const now = requestedAt + 10n;
      const status = await explainRequest(precompile, id, now);

      const nodeReason = `fee ${formatEth(fee!)} below its minimum ${formatEth(fee! + 1n)}`;
      const node2Reason = `callback gas ${CALLBACK_GAS.toLocaleString("en-US")} above its limit ${(CALLBACK_GAS - 1).toLocaleString("en-US")}`;
      expect(status.willingNodes).to.deep.equal([]);
      expect(status.declines).to.deep.equal([
        { node: node.address, reason: "fee", message: nodeReason },
        { node: node2.address, reason: "callback-gas", message: node2Reason },
      ]);
      expect(line(status.lines, "nodes")).to.equal("0 of 2 registered nodes would answer it now");
      expect(line(status.lines, "pending")).to.equal(
        `no node will answer: ${node.address}: ${nodeReason}; ${node2.address}: ${node2Reason}; ` +
          `it can be expired by anyone after ${iso(requestedAt + ANSWER_WINDOW)} (${span(ANSWER_WINDOW - 10n)} from now), ` +
          "which refunds the fee to the consumer",
      );

      // the same reason for every node: one sentence
      await (await precompile.connect(node).setNodePolicy(0n, CALLBACK_GAS - 1, STAKE)).wait();
      expect(line((await explainRequest(precompile, id, now)).lines, "pending")).to.match(
        new RegExp(
          `^no node will answer: callback gas ${CALLBACK_GAS.toLocaleString("en-US")} above every node's limit ` +
            `\\(${(CALLBACK_GAS - 1).toLocaleString("en-US")}\\); it can be expired by anyone after `,
        ),
      );
    });

    it("a node whose free bond cannot back the stake plus the minimum bond would not answer", async function () {
      const { precompile, requestFromUser, node, node2 } = await loadFixture(sibylFixture);
      await (await precompile.connect(node2).withdrawBond(NODE_BOND)).wait();
      const id = await requestFromUser();
      const status = await explainRequest(precompile, id);
      expect(status.willingNodes).to.deep.equal([node.address]);
      expect(status.declines).to.deep.equal([
        {
          node: node2.address,
          reason: "bond",
          message: `free bond 0 ETH below stake ${formatEth(STAKE)} + minimum bond ${formatEth(MIN_BOND)}`,
        },
      ]);
    });

    it("at the very end of the answer window is still waiting, as the precompile refuses to expire it then", async function () {
      const { precompile, requestFromUser, stranger } = await loadFixture(sibylFixture);
      const id = await requestFromUser();
      const { expiresAfter } = await explainRequest(precompile, id);
      await time.setNextBlockTimestamp(expiresAfter!);
      await expect(precompile.connect(stranger).expire(id)).to.be.revertedWithCustomError(
        precompile,
        "Inference__DeadlineNotReached",
      );
      expect((await explainRequest(precompile, id)).pending).to.equal("awaiting-answer");
    });

    it("past its answer window, says anyone can call expire, and expire then succeeds", async function () {
      const { precompile, requestFromUser, stranger } = await loadFixture(sibylFixture);
      const id = await requestFromUser();
      const requestedAt = BigInt(await time.latest());
      await time.increase(ANSWER_WINDOW + 75n);
      const status = await explainRequest(precompile, id);

      expect(status.now).to.equal(BigInt(await time.latest()));
      expect(status.pending).to.equal("answer-window-passed");
      expect(line(status.lines, "pending")).to.equal(
        `waiting for an answer, past its answer window: no node has answered, and since ` +
          `${iso(requestedAt + ANSWER_WINDOW)} (${span(status.now - requestedAt - ANSWER_WINDOW)} ago) anyone can ` +
          `call expire to refund the fee to the consumer; until someone does, a node may still answer`,
      );
      await expect(precompile.connect(stranger).expire(id)).to.emit(precompile, "InferenceExpired");
    });
  });

  describe("Answered", function () {
    it("is waiting for the proof: names the node, when it answered, the deadline and the bond behind it", async function () {
      const { precompile, answeredRequest, node } = await loadFixture(sibylFixture);
      const { id, answeredAt, deadline } = await answeredRequest();
      const status = await explainRequest(precompile, id, answeredAt + 3n);

      expect(status).to.include({
        state: RequestState.Answered,
        final: false,
        pending: "awaiting-proof",
        node: node.address,
        answeredAt,
        settlementDeadline: deadline,
        bondBacking: STAKE,
      });
      expect(status.expiresAfter).to.equal(undefined);
      expect(line(status.lines, "answered")).to.match(
        new RegExp(`^by ${node.address} at ${iso(answeredAt)} \\(\\d+ s after the request\\)$`),
      );
      expect(line(status.lines, "deadline")).to.equal(`${iso(deadline)} (4 min 57 s from now)`);
      expect(status.coverage).to.equal(slashCompensation(STAKE));
      expect(line(status.lines, "bond")).to.equal(
        `0.5 ETH of ${node.address}'s bond is locked behind this answer until it is settled or slashed; ` +
          `a slash would credit the consumer ${formatEth(slashCompensation(STAKE))} and refund its fee`,
      );
      expect(line(status.lines, "pending")).to.equal(
        `answered, proof pending: the node has until ${iso(deadline)} (4 min 57 s from now) to settle; ` +
          `after that anyone can slash it and the consumer receives the stake (less the slasher's reward) and its fee back`,
      );
    });

    it("at its deadline is still waiting for the proof, as the precompile still accepts it then", async function () {
      const { precompile, answeredRequest } = await loadFixture(sibylFixture);
      const { id, deadline } = await answeredRequest();
      expect((await explainRequest(precompile, id, deadline)).pending).to.equal("awaiting-proof");
      await time.setNextBlockTimestamp(deadline);
      await expect(precompile.settle(id, [...PROOF])).to.emit(precompile, "InferenceSettled");
    });

    it("past its deadline is overdue: says how long ago and that anyone can slash, and slash then succeeds", async function () {
      const { precompile, answeredRequest, stranger } = await loadFixture(sibylFixture);
      const { id, deadline } = await answeredRequest();
      expect(line((await explainRequest(precompile, id, deadline + 42n)).lines, "pending")).to.equal(
        "overdue: the deadline passed 42 s ago; anyone can call slash (settling now reverts with Inference__DeadlinePassed)",
      );
      await time.increaseTo(deadline + 1n);
      const status = await explainRequest(precompile, id);
      expect(status.pending).to.equal("overdue");
      expect(status.bondBacking).to.equal(STAKE);
      await expect(precompile.connect(stranger).slash(id)).to.emit(precompile, "InferenceSlashed");
    });
  });

  describe("final states", function () {
    it("Settled: final, nothing pending, names the settler and releases the bond", async function () {
      const { precompile, answeredRequest, stranger } = await loadFixture(sibylFixture);
      const { id } = await answeredRequest();
      const receipt = await (await precompile.connect(stranger).settle(id, [...PROOF])).wait();
      const settledAt = BigInt(await time.latest());
      const status = await explainRequest(precompile, id);

      expect(status).to.include({ state: RequestState.Settled, final: true, bondBacking: 0n });
      expect(status.pending).to.equal(undefined);
      expect(status.closing).to.deep.equal({
        by: stranger.address,
        at: settledAt,
        txHash: receipt!.hash,
        slash: undefined,
      });
      expect(status.lines[0]).to.equal(`request ${id} is Settled (final)`);
      expect(line(status.lines, "fee")).to.equal(`${formatEth(REQUEST_FEE)} (credited to the node)`);
      expect(line(status.lines, "deadline")).to.equal(`${iso(status.settlementDeadline!)} (met)`);
      expect(line(status.lines, "bond")).to.equal(
        "none: the 0.5 ETH locked behind the answer was released when it was proved",
      );
      expect(line(status.lines, "closed")).to.equal(
        `settled by ${stranger.address} at ${iso(settledAt)} (transaction ${receipt!.hash})`,
      );
      expect(status.lines.some((l) => l.trimStart().startsWith("pending "))).to.equal(false);
    });

    it("Slashed: final, names the slasher and where the stake and the fee went", async function () {
      const { precompile, answeredRequest, node, stranger } = await loadFixture(sibylFixture);
      const { id, deadline } = await answeredRequest();
      await time.increaseTo(deadline + 1n);
      await (await precompile.connect(stranger).slash(id)).wait();
      const [event] = await precompile.queryFilter(precompile.filters.InferenceSlashed(id));
      const status = await explainRequest(precompile, id);

      expect(status).to.include({ state: RequestState.Slashed, final: true, bondBacking: 0n });
      expect(status.pending).to.equal(undefined);
      expect(status.closing!.by).to.equal(stranger.address);
      expect(status.closing!.slash).to.deep.equal({
        compensation: event.args.compensation,
        reward: event.args.reward,
        refund: event.args.refund,
      });
      expect(event.args.compensation + event.args.reward).to.equal(STAKE);
      expect(line(status.lines, "fee")).to.equal(`${formatEth(REQUEST_FEE)} (refunded to the consumer)`);
      expect(line(status.lines, "deadline")).to.equal(`${iso(deadline)} (missed)`);
      expect(line(status.lines, "bond")).to.equal(
        `none: the 0.5 ETH locked behind the answer was taken from ${node.address}'s bond`,
      );
      expect(line(status.lines, "closed")).to.match(new RegExp(`^slashed by ${stranger.address} at `));
      expect(status.lines.some((l) => l.trimStart().startsWith("pending "))).to.equal(false);
    });

    it("Expired: final, names who expired it, and the fee went back to the consumer", async function () {
      const { precompile, requestFromUser, stranger } = await loadFixture(sibylFixture);
      const id = await requestFromUser();
      await time.increase(ANSWER_WINDOW + 1n);
      await (await precompile.connect(stranger).expire(id)).wait();
      const status = await explainRequest(precompile, id);

      expect(status).to.include({ state: RequestState.Expired, final: true, bondBacking: 0n });
      expect(status.pending).to.equal(undefined);
      expect(status.node).to.equal(undefined);
      expect(status.closing!.by).to.equal(stranger.address);
      expect(line(status.lines, "fee")).to.equal(`${formatEth(REQUEST_FEE)} (refunded to the consumer)`);
      expect(line(status.lines, "bond")).to.equal("none: the request was never answered");
      expect(line(status.lines, "closed")).to.match(new RegExp(`^expired by ${stranger.address} at `));
    });
  });

  it("writes durations in their two largest units", function () {
    expect([0n, 59n, 61n, 600n, 3_600n, 3_660n, 90_061n, -42n].map(span)).to.deep.equal([
      "0 s",
      "59 s",
      "1 min 1 s",
      "10 min",
      "1 h",
      "1 h 1 min",
      "1 d 1 h",
      "42 s",
    ]);
  });

  describe("Prepared (a synchronous call's result)", function () {
    async function prepared() {
      const f = await loadFixture(sibylFixture);
      const { precompile, node, user, stranger, modelId } = f;
      await (await precompile.connect(user).deposit(node.address, { value: REQUEST_FEE })).wait();
      const salt = keccak256(toUtf8Bytes("status"));
      const tx = precompile.connect(node).prepare([
        {
          origin: user.address,
          consumer: stranger.address,
          modelId,
          finality: 0,
          legacyLayout: false,
          salt,
          input: [...INPUT],
          output: [...OUTPUT],
          proof: [...PROOF],
          attestedAt: 0n,
          signature: "0x",
        },
      ]);
      const preparedAt = await timestampOf(tx);
      const [ev] = await precompile.queryFilter(precompile.filters.InferencePrepared());
      return { ...f, id: ev.args.requestId, preparedAt };
    }

    it("waits for its transaction: names the origin, the node, the bond behind it and when it can be expired", async function () {
      const { precompile, node, user, stranger, id, preparedAt } = await prepared();
      const status = await explainRequest(precompile, id, preparedAt + 5n);
      expect(status.state).to.equal(RequestState.Prepared);
      expect(status.final).to.equal(false);
      expect(status.pending).to.equal("awaiting-transaction");
      expect(status.origin).to.equal(user.address);
      expect(line(status.lines, "consumer")).to.equal(stranger.address);
      expect(line(status.lines, "origin")).to.contain(user.address);
      expect(line(status.lines, "bond")).to.equal(
        `${formatEth(STAKE)} of ${node.address}'s bond is locked behind this prepared result until it is consumed and proved, or expires`,
      );
      expect(line(status.lines, "pending")).to.contain(
        `if none consumes it by ${iso(preparedAt + ANSWER_WINDOW)}`,
      );
    });

    it("past the answer window, says anyone can expire it, and expire then succeeds", async function () {
      const { precompile, id, preparedAt } = await prepared();
      const status = await explainRequest(precompile, id, preparedAt + ANSWER_WINDOW + 1n);
      expect(status.pending).to.equal("prepared-window-passed");
      await time.increaseTo(preparedAt + ANSWER_WINDOW + 1n);
      await expect(precompile.expire(id)).to.emit(precompile, "InferenceExpired");
    });
  });
});
