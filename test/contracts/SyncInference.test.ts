import { expect } from "chai";
import {
  AbiCoder,
  ZeroAddress,
  getAddress,
  id as hashText,
  keccak256,
  solidityPacked,
  toBeHex,
  toTwos,
} from "ethers";

import { INFERENCE_ADDRESS } from "../../src/chain/install.js";
import { SIM_SLOT as LIB_SIM_SLOT, callKeyOf as libCallKeyOf } from "../../src/pipe/simulate.js";
import type { ISyncInference } from "../../typechain-types/InferencePrecompile.js";
import type { InferencePrecompile, SyncConsumer } from "../../typechain-types/index.js";
import {
  ANSWER_WINDOW,
  ethers,
  FEE,
  Finality,
  INPUT,
  INPUT_LENGTH,
  MIN_BOND,
  modelConfig,
  networkHelpers,
  NODE_BOND,
  OUTPUT,
  OUTPUT_LENGTH,
  packReference,
  PROOF,
  registerWithCode,
  runtimeCodeOf,
  SETTLEMENT_WINDOW,
  sibylFixture,
  slashCompensation,
  slashReward,
  STAKE,
  State,
  timestampOf,
} from "./fixtures.js";

/**
 * Synchronous inference (`ISyncInference`): nodes `prepare` results for the calls a transaction
 * will make, paid from the credit the origin deposited with that node, the transaction's calls
 * consume them, and a simulation (an `eth_call` that overrides the precompile's simulation slot
 * and places a `Simulator` at the address the slot names) answers with zeros or previews.
 *
 * The models here are served by MockVerifier / ToggleVerifier code, which check no proof: these
 * tests test the state machine, the bookkeeping and the bindings of synchronous calls (states,
 * stakes, fees, credit, call keys, queues, deadlines, simulation), not proofs. A ToggleVerifier
 * copy makes every proof valid or invalid at the flip of a storage bit.
 */

const { loadFixture, time } = networkHelpers;
const abi = AbiCoder.defaultAbiCoder();

const SIM_SLOT = keccak256(Buffer.from("sibyl.pipe.simulation"));
const PREVIEW_SLOT = keccak256(Buffer.from("sibyl.pipe.preview"));
/** Any address serves as the simulator's: the simulation slot names it. */
const SIMULATOR = getAddress("0x0000000000000000000000000000000000005157");
const word = (v: bigint) => toBeHex(toTwos(v, 256), 32);

/** The callKey, written out: keccak256(abi.encode(origin, consumer, modelId, finality, keccak256(abi.encodePacked(input)))). */
function callKeyReference(
  origin: string,
  consumer: string,
  modelId: string,
  input: readonly bigint[],
  finality: number,
): string {
  const inputHash = keccak256(solidityPacked(["int256[]"], [[...input]]));
  return keccak256(
    abi.encode(
      ["address", "address", "bytes32", "uint8", "bytes32"],
      [origin, consumer, modelId, finality, inputHash],
    ),
  );
}

type StateOverrides = Record<string, { code?: string; stateDiff?: Record<string, string> }>;

/** The simulator's runtime code, as the pre-execution layer places it. */
const simulatorCode = () => runtimeCodeOf("contracts/pipe/Simulator.sol:Simulator");

/**
 * The two state overrides that make the precompile simulate: its slot set to
 * `1 | (legacy ? 2 : 0) | (simulator << 8)`, and the Simulator's code at `simulator` with the
 * previews in its storage (length at `p = keccak256(abi.encode(callKey, occurrence, PREVIEW_SLOT))`,
 * value i at `p + 1 + i`). `simulate: false` clears bit 0; `placeCode: false` omits the code.
 */
async function simulationOverrides(
  opts: {
    legacy?: boolean;
    simulate?: boolean;
    placeCode?: boolean;
    simulator?: string;
    previews?: { callKey: string; occurrence: number; output: readonly bigint[] }[];
  } = {},
): Promise<StateOverrides> {
  const simulator = opts.simulator ?? SIMULATOR;
  const flags = (opts.simulate === false ? 0n : 1n) | (opts.legacy ? 2n : 0n) | (BigInt(simulator) << 8n);
  const previews: Record<string, string> = {};
  for (const { callKey, occurrence, output } of opts.previews ?? []) {
    const base = BigInt(
      keccak256(abi.encode(["bytes32", "uint256", "bytes32"], [callKey, occurrence, PREVIEW_SLOT])),
    );
    previews[toBeHex(base, 32)] = word(BigInt(output.length));
    output.forEach((v, i) => (previews[toBeHex(base + 1n + BigInt(i), 32)] = word(v)));
  }
  const overrides: StateOverrides = { [INFERENCE_ADDRESS]: { stateDiff: { [SIM_SLOT]: word(flags) } } };
  overrides[simulator] =
    opts.placeCode === false ? { stateDiff: previews } : { code: await simulatorCode(), stateDiff: previews };
  return overrides;
}

/** One entry of `Simulator.log()`. */
interface LogEntry {
  callKey: string;
  consumer: string;
  modelId: string;
  finality: bigint;
  legacyLayout: boolean;
  previewed: boolean;
  input: bigint[];
}

/**
 * `Simulator.log()`: `abi.encode(callKey, consumer, modelId, finality, legacyLayout, previewed,
 * input)` entries one after another, each 7 head words (the last the array's offset, 0xe0), the
 * array's length word and its values. Decoded word by word here, independently of the library.
 */
function decodeSimulationLog(log: string): LogEntry[] {
  const hex = log.slice(2);
  expect(hex.length % 64).to.equal(0);
  const wordAt = (i: number) => BigInt(`0x${hex.slice(i * 64, (i + 1) * 64)}`);
  const entries: LogEntry[] = [];
  for (let at = 0; at * 64 < hex.length;) {
    expect(wordAt(at + 6)).to.equal(7n * 32n); // the input array's offset
    const length = Number(wordAt(at + 7));
    const [callKey, consumer, modelId, finality, legacyLayout, previewed, input] = abi.decode(
      ["bytes32", "address", "bytes32", "uint8", "bool", "bool", "int256[]"],
      `0x${hex.slice(at * 64, (at + 8 + length) * 64)}`,
    );
    entries.push({ callKey, consumer, modelId, finality, legacyLayout, previewed, input: [...input] });
    at += 8 + length;
  }
  return entries;
}

/** ToggleVerifier keeps `owner` (20 bytes) and `rejecting` (byte 20) in slot 0; the registry's copy has no owner. */
async function setRejecting(verifier: string, rejecting: boolean) {
  await ethers.provider.send("hardhat_setStorageAt", [verifier, "0x0", word(rejecting ? 1n << 160n : 0n)]);
}

describe("synchronous inference: prepare and consume (MockVerifier/ToggleVerifier: tests the state machine, not proofs)", function () {
  async function syncFixture() {
    const f = await loadFixture(sibylFixture);
    const { registry, admin, user, node } = f;
    const toggleCode = await runtimeCodeOf("ToggleVerifier");
    const toggle = await registerWithCode(registry, admin, modelConfig(), toggleCode, "toggle");
    const consumer = (await ethers.deployContract("SyncConsumer")) as unknown as SyncConsumer;
    const router = (await ethers.deployContract("SyncConsumer")) as unknown as SyncConsumer;
    const consumerAddress = await consumer.getAddress();
    const routerAddress = await router.getAddress();
    const chainId = (await ethers.provider.getNetwork()).chainId;
    const CREDIT = 10n * FEE;
    // The user's credit is with `node` only: `node2` has none to charge.
    await (await f.precompile.connect(user).deposit(node.address, { value: CREDIT })).wait();

    let saltCounter = 0n;
    /** A preparation for `user` calling through `consumer` the ToggleVerifier model on INPUT, deferred. */
    const item = (
      over: Partial<ISyncInference.PreparationStruct> = {},
    ): ISyncInference.PreparationStruct => ({
      origin: user.address,
      consumer: consumerAddress,
      modelId: toggle.modelId,
      finality: Finality.Deferred,
      legacyLayout: false,
      salt: toBeHex(++saltCounter, 32),
      input: [...INPUT],
      output: [...OUTPUT],
      proof: [...PROOF],
      attestedAt: 0n,
      signature: "0x",
      ...over,
    });
    /** The request id a preparation by `by` with `salt` takes: keccak256(abi.encode(chainid, precompile, node, salt)). */
    const requestIdFor = (salt: string, by: string = node.address) =>
      keccak256(
        abi.encode(["uint256", "address", "address", "bytes32"], [chainId, INFERENCE_ADDRESS, by, salt]),
      );
    /** Prepares `items` as `by` (default `node`) and returns their request ids and the block time. */
    const prepare = async (items: ISyncInference.PreparationStruct[], by = node) => {
      const at = await timestampOf(f.precompile.connect(by).prepare(items));
      return { ids: items.map((i) => requestIdFor(String(i.salt), by.address)), at };
    };
    const key = (
      over: {
        origin?: string;
        consumer?: string;
        modelId?: string;
        input?: readonly bigint[];
        finality?: number;
      } = {},
    ) =>
      callKeyReference(
        over.origin ?? user.address,
        over.consumer ?? consumerAddress,
        over.modelId ?? toggle.modelId,
        over.input ?? INPUT,
        over.finality ?? Finality.Deferred,
      );
    return {
      ...f,
      CREDIT,
      toggleModelId: toggle.modelId,
      toggleVerifier: toggle.verifierAddress,
      consumer,
      router,
      consumerAddress,
      routerAddress,
      item,
      requestIdFor,
      prepare,
      key,
    };
  }

  describe("deferred results", function () {
    it("prepare takes the fee from the origin's credit with the node, locks the stake and queues the result under its call key", async function () {
      const { precompile, node, user, item, requestIdFor, key, CREDIT, consumerAddress, toggleModelId } =
        await loadFixture(syncFixture);
      const prep = item();
      const id = requestIdFor(String(prep.salt));
      expect(await precompile.connect(node).prepare.staticCall([prep])).to.deep.equal([id]);
      await expect(precompile.connect(node).prepare([prep]))
        .to.emit(precompile, "InferencePrepared")
        .withArgs(id, node.address, user.address, consumerAddress, key(), Finality.Deferred);

      expect(await precompile.stateOf(id)).to.equal(State.Prepared);
      expect(await precompile.bondBacking(id)).to.equal(STAKE);
      expect(await precompile.coverageOf(id)).to.equal(0n);
      expect(await precompile.outstandingOf(node.address)).to.equal(STAKE);
      expect(await precompile.creditOf(user.address, node.address)).to.equal(CREDIT - FEE);
      expect(await precompile.preparedCount(key())).to.equal(1n);
      expect(await precompile.isFinal(id)).to.equal(false);
      // The request's consumer is the contract that will call; the origin is kept apart.
      const request = await precompile.getRequest(id);
      expect(request.consumer).to.equal(consumerAddress);
      expect(await precompile.originOf(id)).to.equal(user.address);
      expect(request.node).to.equal(node.address);
      expect(request.modelId).to.equal(toggleModelId);
      expect(request.state).to.equal(State.Prepared);
      expect(request.fee).to.equal(FEE);
      expect(request.stake).to.equal(STAKE);
      expect(request.answeredAt).to.equal(0n);
      expect(request.inPacked).to.deep.equal(packReference(INPUT, 24));
      expect(request.outPacked).to.deep.equal([]);
      expect(await precompile.outputOf(id)).to.deep.equal([]);
    });

    it("a call consumes it: returns the output exactly, the request is Answered with a deadline and bond backing", async function () {
      const { precompile, node, user, consumer, consumerAddress, item, prepare, key, toggleModelId } =
        await loadFixture(syncFixture);
      const {
        ids: [id],
      } = await prepare([item()]);
      const t = BigInt(await time.latest()) + 10n;
      await time.setNextBlockTimestamp(t);
      const tx = consumer.connect(user).consumeWithId(toggleModelId, INPUT, Finality.Deferred);
      await expect(tx)
        .to.emit(precompile, "InferenceAnswered")
        .withArgs(id, node.address, OUTPUT, t + SETTLEMENT_WINDOW, true);
      await expect(tx)
        .to.emit(precompile, "SyncInferenceConsumed")
        .withArgs(id, consumerAddress, user.address, Finality.Deferred);
      await expect(tx).to.emit(consumer, "Consumed").withArgs(id, OUTPUT);

      expect(await consumer.lastOutput()).to.deep.equal(OUTPUT);
      expect(await consumer.lastRequestId()).to.equal(id);
      expect(await precompile.stateOf(id)).to.equal(State.Answered);
      expect(await precompile.answeredAt(id)).to.equal(t);
      expect(await precompile.settlementDeadline(id)).to.equal(t + SETTLEMENT_WINDOW);
      expect(await precompile.bondBacking(id)).to.equal(STAKE);
      expect(await precompile.coverageOf(id)).to.equal(slashCompensation(STAKE));
      expect(await precompile.outputOf(id)).to.deep.equal(OUTPUT);
      expect(await precompile.publicSignalsOf(id)).to.deep.equal([
        BigInt(id) >> 3n,
        ...packReference(INPUT, 24),
        ...packReference(OUTPUT, 24),
      ]);
      expect(await precompile.preparedCount(key())).to.equal(0n);
      expect(await precompile.outstandingOf(node.address)).to.equal(STAKE);
    });

    it("`infer` (without the id) returns the same output", async function () {
      const { consumer, user, item, prepare, toggleModelId } = await loadFixture(syncFixture);
      await prepare([item()]);
      expect(
        await consumer.connect(user).consume.staticCall(toggleModelId, INPUT, Finality.Deferred),
      ).to.deep.equal(OUTPUT);
      await (await consumer.connect(user).consume(toggleModelId, INPUT, Finality.Deferred)).wait();
      expect(await consumer.lastOutput()).to.deep.equal(OUTPUT);
      expect(await consumer.calls()).to.equal(1n);
    });

    it("is settled later with a valid proof: stake unlocked, fee to the node; an invalid proof is refused", async function () {
      const { precompile, node, user, stranger, consumer, item, prepare, toggleModelId, toggleVerifier } =
        await loadFixture(syncFixture);
      const {
        ids: [id],
      } = await prepare([item()]);
      await (await consumer.connect(user).consumeWithId(toggleModelId, INPUT, Finality.Deferred)).wait();

      await setRejecting(toggleVerifier, true);
      await expect(precompile.connect(stranger).settle(id, [...PROOF]))
        .to.be.revertedWithCustomError(precompile, "Inference__InvalidProof")
        .withArgs(id);
      await setRejecting(toggleVerifier, false);
      await expect(precompile.connect(stranger).settle(id, [...PROOF]))
        .to.emit(precompile, "InferenceSettled")
        .withArgs(id, node.address, stranger.address, true);
      expect(await precompile.stateOf(id)).to.equal(State.Settled);
      expect(await precompile.bondBacking(id)).to.equal(0n);
      expect(await precompile.outstandingOf(node.address)).to.equal(0n);
      expect(await precompile.pendingWithdrawal(node.address)).to.equal(FEE);
    });

    it("is slashed after its deadline: the calling contract gets the compensation and the fee, the slasher its reward", async function () {
      const { precompile, node, user, stranger, consumer, consumerAddress, item, prepare, toggleModelId } =
        await loadFixture(syncFixture);
      const {
        ids: [id],
      } = await prepare([item()]);
      await (await consumer.connect(user).consumeWithId(toggleModelId, INPUT, Finality.Deferred)).wait();
      const deadline = await precompile.settlementDeadline(id);

      await time.setNextBlockTimestamp(deadline);
      await expect(precompile.connect(stranger).slash(id))
        .to.be.revertedWithCustomError(precompile, "Inference__DeadlineNotReached")
        .withArgs(id, deadline);
      await time.setNextBlockTimestamp(deadline + 1n);
      await expect(precompile.connect(stranger).slash(id))
        .to.emit(precompile, "InferenceSlashed")
        .withArgs(
          id,
          node.address,
          stranger.address,
          slashCompensation(STAKE),
          slashReward(STAKE),
          FEE,
          true,
        );
      expect(await precompile.stateOf(id)).to.equal(State.Slashed);
      expect(await precompile.pendingWithdrawal(consumerAddress)).to.equal(slashCompensation(STAKE) + FEE);
      // The origin paid the fee from its credit, but the compensation is the consumer contract's.
      expect(await precompile.pendingWithdrawal(user.address)).to.equal(0n);
      expect((await precompile.getRequest(id)).consumer).to.equal(consumerAddress);
      expect(await precompile.originOf(id)).to.equal(user.address);
      expect(await precompile.pendingWithdrawal(stranger.address)).to.equal(slashReward(STAKE));
      expect((await precompile.nodeOf(node.address)).bond).to.equal(NODE_BOND - STAKE);
      expect(await precompile.outstandingOf(node.address)).to.equal(0n);
    });

    it("a nested call is bound to the contract that calls the precompile, not to the entry point", async function () {
      const {
        precompile,
        user,
        router,
        consumer,
        consumerAddress,
        routerAddress,
        item,
        prepare,
        key,
        toggleModelId,
      } = await loadFixture(syncFixture);
      // Prepared for the router (the entry point): the consumer, one frame down, finds nothing.
      await prepare([item({ consumer: routerAddress })]);
      await expect(router.connect(user).route(consumerAddress, toggleModelId, INPUT, Finality.Deferred))
        .to.be.revertedWithCustomError(precompile, "Inference__NotPrepared")
        .withArgs(key(), user.address, consumerAddress, toggleModelId);
      // Prepared for the consumer: served, with the transaction's origin.
      const {
        ids: [id],
      } = await prepare([item()]);
      await expect(router.connect(user).route(consumerAddress, toggleModelId, INPUT, Finality.Deferred))
        .to.emit(precompile, "SyncInferenceConsumed")
        .withArgs(id, consumerAddress, user.address, Finality.Deferred);
      expect(await consumer.lastRequestId()).to.equal(id);
      expect(await router.calls()).to.equal(0n);
    });
  });

  describe("proof-carrying results", function () {
    it("prepare locks no stake", async function () {
      const { precompile, node, item, prepare, key } = await loadFixture(syncFixture);
      const {
        ids: [id],
      } = await prepare([item({ finality: Finality.ProofCarrying })]);
      expect(await precompile.stateOf(id)).to.equal(State.Prepared);
      expect(await precompile.bondBacking(id)).to.equal(0n);
      expect(await precompile.outstandingOf(node.address)).to.equal(0n);
      expect(await precompile.preparedCount(key({ finality: Finality.ProofCarrying }))).to.equal(1n);
    });

    it("an invalid stored proof makes the call revert, leaving the result prepared", async function () {
      const { precompile, user, consumer, item, prepare, key, toggleModelId, toggleVerifier } =
        await loadFixture(syncFixture);
      const {
        ids: [id],
      } = await prepare([item({ finality: Finality.ProofCarrying })]);
      await setRejecting(toggleVerifier, true);
      await expect(consumer.connect(user).consumeWithId(toggleModelId, INPUT, Finality.ProofCarrying))
        .to.be.revertedWithCustomError(precompile, "Inference__InvalidProof")
        .withArgs(id);
      expect(await precompile.stateOf(id)).to.equal(State.Prepared);
      expect(await precompile.preparedCount(key({ finality: Finality.ProofCarrying }))).to.equal(1n);
    });

    it("a valid proof settles it in the consuming transaction: output returned, fee to the node", async function () {
      const { precompile, node, user, consumer, consumerAddress, item, prepare, toggleModelId } =
        await loadFixture(syncFixture);
      const {
        ids: [id],
      } = await prepare([item({ finality: Finality.ProofCarrying })]);
      const t = BigInt(await time.latest()) + 5n;
      await time.setNextBlockTimestamp(t);
      const tx = consumer.connect(user).consumeWithId(toggleModelId, INPUT, Finality.ProofCarrying);
      await expect(tx).to.emit(precompile, "InferenceAnswered").withArgs(id, node.address, OUTPUT, t, true);
      await expect(tx)
        .to.emit(precompile, "InferenceSettled")
        .withArgs(id, node.address, consumerAddress, true);
      await expect(tx)
        .to.emit(precompile, "SyncInferenceConsumed")
        .withArgs(id, consumerAddress, user.address, Finality.ProofCarrying);
      expect(await consumer.lastOutput()).to.deep.equal(OUTPUT);
      expect(await precompile.stateOf(id)).to.equal(State.Settled);
      expect(await precompile.isFinal(id)).to.equal(true);
      expect(await precompile.pendingWithdrawal(node.address)).to.equal(FEE);
      expect(await precompile.outstandingOf(node.address)).to.equal(0n);
      expect(await precompile.outputOf(id)).to.deep.equal(OUTPUT);
    });

    it("the verifier gets exactly selector ‖ stored proof ‖ [id >> 3, input words, output words]", async function () {
      const { precompile, registry, user, consumer, consumerAddress, item, prepare, modelId, verifier, key } =
        await loadFixture(syncFixture);
      const proof = [11n, 12n, 13n, 14n, 15n, 16n, 17n, 18n];
      const {
        ids: [id],
      } = await prepare([item({ modelId, finality: Finality.ProofCarrying, proof })]);
      const { verifySelector } = await registry.getModel(modelId);
      const signals = [BigInt(id) >> 3n, ...packReference(INPUT, 24), ...packReference(OUTPUT, 24)];
      const data = solidityPacked(
        ["bytes4", "uint256[8]", `uint256[${signals.length}]`],
        [verifySelector, proof, signals],
      );
      // First make the mock expect other calldata: the call must fail.
      await (await verifier.expectCalldata(keccak256(data + "00"))).wait();
      await expect(
        consumer.connect(user).consumeWithId(modelId, INPUT, Finality.ProofCarrying),
      ).to.be.revertedWithCustomError(precompile, "Inference__InvalidProof");
      await (await verifier.expectCalldata(keccak256(data))).wait();
      await expect(consumer.connect(user).consumeWithId(modelId, INPUT, Finality.ProofCarrying))
        .to.emit(precompile, "SyncInferenceConsumed")
        .withArgs(id, consumerAddress, user.address, Finality.ProofCarrying);
      expect(await precompile.preparedCount(key({ modelId, finality: Finality.ProofCarrying }))).to.equal(0n);
    });
  });

  describe("binding: a prepared result serves exactly one call", function () {
    it("reverts Inference__NotPrepared when nothing is prepared", async function () {
      const { precompile, user, consumer, consumerAddress, key, toggleModelId } =
        await loadFixture(syncFixture);
      await expect(consumer.connect(user).consumeWithId(toggleModelId, INPUT, Finality.Deferred))
        .to.be.revertedWithCustomError(precompile, "Inference__NotPrepared")
        .withArgs(key(), user.address, consumerAddress, toggleModelId);
    });

    for (const [what, over] of [
      ["another origin", (f: Awaited<ReturnType<typeof syncFixture>>) => ({ origin: f.stranger.address })],
      ["another consumer", (f: Awaited<ReturnType<typeof syncFixture>>) => ({ consumer: f.routerAddress })],
      ["another input", () => ({ input: [257n, -512n, 0n, 8_388_607n] })],
      ["another finality", () => ({ finality: Finality.ProofCarrying })],
      ["another model", (f: Awaited<ReturnType<typeof syncFixture>>) => ({ modelId: f.modelId })],
    ] as const) {
      it(`a result prepared for ${what} does not serve the call`, async function () {
        const f = await loadFixture(syncFixture);
        const { precompile, user, consumer, consumerAddress, item, prepare, key, toggleModelId, stranger } =
          f;
        await (await precompile.connect(stranger).deposit(f.node.address, { value: FEE })).wait();
        const prep = item(over(f));
        await prepare([prep]);
        await expect(consumer.connect(user).consumeWithId(toggleModelId, INPUT, Finality.Deferred))
          .to.be.revertedWithCustomError(precompile, "Inference__NotPrepared")
          .withArgs(key(), user.address, consumerAddress, toggleModelId);
        const preparedKey = callKeyReference(
          String(prep.origin),
          String(prep.consumer),
          String(prep.modelId),
          prep.input.map(BigInt),
          Number(prep.finality),
        );
        expect(preparedKey).to.not.equal(key());
        expect(await precompile.preparedCount(preparedKey)).to.equal(1n);
      });
    }

    it("the same call from the prepared origin is served, from another origin it is not", async function () {
      const { precompile, user, stranger, consumer, consumerAddress, item, prepare, key, toggleModelId } =
        await loadFixture(syncFixture);
      await prepare([item()]);
      await expect(consumer.connect(stranger).consumeWithId(toggleModelId, INPUT, Finality.Deferred))
        .to.be.revertedWithCustomError(precompile, "Inference__NotPrepared")
        .withArgs(key({ origin: stranger.address }), stranger.address, consumerAddress, toggleModelId);
      await (await consumer.connect(user).consumeWithId(toggleModelId, INPUT, Finality.Deferred)).wait();
    });

    it("is consumed once: the same call in a later transaction reverts", async function () {
      const { precompile, user, consumer, consumerAddress, item, prepare, key, toggleModelId } =
        await loadFixture(syncFixture);
      await prepare([item()]);
      await (await consumer.connect(user).consumeWithId(toggleModelId, INPUT, Finality.Deferred)).wait();
      await expect(consumer.connect(user).consumeWithId(toggleModelId, INPUT, Finality.Deferred))
        .to.be.revertedWithCustomError(precompile, "Inference__NotPrepared")
        .withArgs(key(), user.address, consumerAddress, toggleModelId);
    });

    it("two identical calls in one transaction need two preparations, consumed first in, first out", async function () {
      const { precompile, user, consumer, consumerAddress, item, prepare, key, toggleModelId, requestIdFor } =
        await loadFixture(syncFixture);
      const other = [7n, -7n, 0n];
      const firstItem = item();
      await prepare([firstItem]);
      await expect(consumer.connect(user).consumeTwice(toggleModelId, INPUT, INPUT, Finality.Deferred))
        .to.be.revertedWithCustomError(precompile, "Inference__NotPrepared")
        .withArgs(key(), user.address, consumerAddress, toggleModelId);
      const {
        ids: [second],
      } = await prepare([item({ output: other })]);
      const idFirst = requestIdFor(String(firstItem.salt));
      const result = await consumer
        .connect(user)
        .consumeTwice.staticCall(toggleModelId, INPUT, INPUT, Finality.Deferred);
      expect(result.first).to.deep.equal(OUTPUT);
      expect(result.second).to.deep.equal(other);
      expect(result.firstId).to.equal(idFirst);
      expect(result.secondId).to.equal(second);
      await (
        await consumer.connect(user).consumeTwice(toggleModelId, INPUT, INPUT, Finality.Deferred)
      ).wait();
      expect(await precompile.stateOf(idFirst)).to.equal(State.Answered);
      expect(await precompile.stateOf(second)).to.equal(State.Answered);
      expect(await precompile.preparedCount(key())).to.equal(0n);
    });

    it("callKeyOf is keccak256(abi.encode(origin, consumer, modelId, finality, keccak256(abi.encodePacked(input))))", async function () {
      const { precompile, user, consumerAddress, toggleModelId, stranger } = await loadFixture(syncFixture);
      for (const [origin, consumer, input, finality] of [
        [user.address, consumerAddress, INPUT, Finality.Deferred],
        [stranger.address, consumerAddress, INPUT, Finality.ProofCarrying],
        [user.address, stranger.address, [-1n, 0n, 1n], Finality.Deferred],
        [user.address, consumerAddress, [] as bigint[], Finality.ProofCarrying],
      ] as const) {
        const reference = callKeyReference(origin, consumer, toggleModelId, input, finality);
        expect(await precompile.callKeyOf(origin, consumer, toggleModelId, [...input], finality)).to.equal(
          reference,
        );
        // The pre-execution layer's own computation agrees (it binds the previews it stores).
        expect(libCallKeyOf(origin, consumer, toggleModelId, input, finality)).to.equal(reference);
      }
    });
  });

  describe("expiry of an unconsumed result", function () {
    it("before the answer window ends, expire reverts Inference__DeadlineNotReached", async function () {
      const { precompile, stranger, item, prepare } = await loadFixture(syncFixture);
      const {
        ids: [id],
        at,
      } = await prepare([item()]);
      await time.setNextBlockTimestamp(at + ANSWER_WINDOW);
      await expect(precompile.connect(stranger).expire(id))
        .to.be.revertedWithCustomError(precompile, "Inference__DeadlineNotReached")
        .withArgs(id, at + ANSWER_WINDOW);
    });

    it("is consumable up to the last second of the answer window", async function () {
      const { precompile, user, consumer, item, prepare, toggleModelId } = await loadFixture(syncFixture);
      const {
        ids: [id],
        at,
      } = await prepare([item()]);
      await time.setNextBlockTimestamp(at + ANSWER_WINDOW);
      await (await consumer.connect(user).consumeWithId(toggleModelId, INPUT, Finality.Deferred)).wait();
      expect(await precompile.stateOf(id)).to.equal(State.Answered);
    });

    it("after the window the call reverts NotPrepared; expire of a deferred result unlocks the stake and pays the fee to the node", async function () {
      const {
        precompile,
        node,
        user,
        stranger,
        consumer,
        consumerAddress,
        item,
        prepare,
        key,
        toggleModelId,
        CREDIT,
      } = await loadFixture(syncFixture);
      const {
        ids: [id],
        at,
      } = await prepare([item()]);
      await time.setNextBlockTimestamp(at + ANSWER_WINDOW + 1n);
      await expect(consumer.connect(user).consumeWithId(toggleModelId, INPUT, Finality.Deferred))
        .to.be.revertedWithCustomError(precompile, "Inference__NotPrepared")
        .withArgs(key(), user.address, consumerAddress, toggleModelId);
      await expect(precompile.connect(stranger).expire(id))
        .to.emit(precompile, "InferenceExpired")
        .withArgs(id, consumerAddress, 0n, true);
      expect(await precompile.stateOf(id)).to.equal(State.Expired);
      expect(await precompile.outstandingOf(node.address)).to.equal(0n);
      expect(await precompile.bondBacking(id)).to.equal(0n);
      expect(await precompile.pendingWithdrawal(node.address)).to.equal(FEE);
      expect(await precompile.pendingWithdrawal(user.address)).to.equal(0n);
      expect(await precompile.pendingWithdrawal(consumerAddress)).to.equal(0n);
      expect(await precompile.creditOf(user.address, node.address)).to.equal(CREDIT - FEE);
      await expect(precompile.connect(stranger).expire(id))
        .to.be.revertedWithCustomError(precompile, "Inference__WrongState")
        .withArgs(id, State.Expired, State.Requested);
    });

    it("a stale result queued ahead of a live one is skipped: the call gets the live one, the stale one still expires", async function () {
      const { precompile, node, user, stranger, consumer, item, prepare, key, toggleModelId } =
        await loadFixture(syncFixture);
      const {
        ids: [stale],
        at,
      } = await prepare([item()]);
      await time.setNextBlockTimestamp(at + 100n);
      const {
        ids: [live],
      } = await prepare([item({ output: [1n, 2n, 3n] })]);
      await time.setNextBlockTimestamp(at + ANSWER_WINDOW + 1n);
      await expect(consumer.connect(user).consumeWithId(toggleModelId, INPUT, Finality.Deferred))
        .to.emit(precompile, "SyncInferenceConsumed")
        .withArgs(live, await consumer.getAddress(), user.address, Finality.Deferred);
      expect(await consumer.lastOutput()).to.deep.equal([1n, 2n, 3n]);
      expect(await precompile.preparedCount(key())).to.equal(0n);
      expect(await precompile.stateOf(stale)).to.equal(State.Prepared);
      await (await precompile.connect(stranger).expire(stale)).wait();
      expect(await precompile.stateOf(stale)).to.equal(State.Expired);
      // The live one was answered: only its stake stays locked.
      expect(await precompile.outstandingOf(node.address)).to.equal(STAKE);
    });
  });

  describe("expiry of an unconsumed proof-carrying result", function () {
    it("with a stored proof that verifies: the fee goes to the node (refund 0)", async function () {
      const { precompile, node, user, stranger, consumerAddress, item, prepare, CREDIT } =
        await loadFixture(syncFixture);
      const {
        ids: [id],
        at,
      } = await prepare([item({ finality: Finality.ProofCarrying })]);
      await time.setNextBlockTimestamp(at + ANSWER_WINDOW + 1n);
      await expect(precompile.connect(stranger).expire(id))
        .to.emit(precompile, "InferenceExpired")
        .withArgs(id, consumerAddress, 0n, true);
      expect(await precompile.stateOf(id)).to.equal(State.Expired);
      expect(await precompile.pendingWithdrawal(node.address)).to.equal(FEE);
      expect(await precompile.creditOf(user.address, node.address)).to.equal(CREDIT - FEE);
      expect(await precompile.outstandingOf(node.address)).to.equal(0n);
    });

    it("with a stored proof that does not verify: the fee returns to the origin's credit with that node", async function () {
      const { precompile, node, user, stranger, consumerAddress, item, prepare, CREDIT, toggleVerifier } =
        await loadFixture(syncFixture);
      const {
        ids: [id],
        at,
      } = await prepare([item({ finality: Finality.ProofCarrying })]);
      expect(await precompile.creditOf(user.address, node.address)).to.equal(CREDIT - FEE);
      await setRejecting(toggleVerifier, true);
      await time.setNextBlockTimestamp(at + ANSWER_WINDOW + 1n);
      await expect(precompile.connect(stranger).expire(id))
        .to.emit(precompile, "InferenceExpired")
        .withArgs(id, consumerAddress, FEE, true);
      expect(await precompile.stateOf(id)).to.equal(State.Expired);
      expect(await precompile.creditOf(user.address, node.address)).to.equal(CREDIT);
      expect(await precompile.pendingWithdrawal(node.address)).to.equal(0n);
      expect(await precompile.pendingWithdrawal(user.address)).to.equal(0n);
      expect(await precompile.pendingWithdrawal(consumerAddress)).to.equal(0n);
      expect(await precompile.pendingWithdrawal(stranger.address)).to.equal(0n);
      await expect(precompile.connect(stranger).expire(id))
        .to.be.revertedWithCustomError(precompile, "Inference__WrongState")
        .withArgs(id, State.Expired, State.Requested);
    });

    it("the refund goes to the credit with the node that prepared it, not with another node", async function () {
      const { precompile, node, node2, user, stranger, item, prepare, CREDIT, toggleVerifier } =
        await loadFixture(syncFixture);
      await (await precompile.connect(user).deposit(node2.address, { value: FEE })).wait();
      const {
        ids: [id],
        at,
      } = await prepare([item({ finality: Finality.ProofCarrying })], node2);
      expect(await precompile.creditOf(user.address, node2.address)).to.equal(0n);
      await setRejecting(toggleVerifier, true);
      await time.setNextBlockTimestamp(at + ANSWER_WINDOW + 1n);
      await (await precompile.connect(stranger).expire(id)).wait();
      expect(await precompile.creditOf(user.address, node2.address)).to.equal(FEE);
      expect(await precompile.creditOf(user.address, node.address)).to.equal(CREDIT);
      expect(await precompile.pendingWithdrawal(node2.address)).to.equal(0n);
    });

    it("a deferred result pays the node even when its model's verifier rejects everything", async function () {
      const { precompile, node, user, stranger, consumerAddress, item, prepare, CREDIT, toggleVerifier } =
        await loadFixture(syncFixture);
      const {
        ids: [id],
        at,
      } = await prepare([item()]);
      await setRejecting(toggleVerifier, true);
      await time.setNextBlockTimestamp(at + ANSWER_WINDOW + 1n);
      await expect(precompile.connect(stranger).expire(id))
        .to.emit(precompile, "InferenceExpired")
        .withArgs(id, consumerAddress, 0n, true);
      expect(await precompile.pendingWithdrawal(node.address)).to.equal(FEE);
      expect(await precompile.creditOf(user.address, node.address)).to.equal(CREDIT - FEE);
    });
  });

  describe("credit (per node)", function () {
    it("prepare reverts Inference__InsufficientCredit when the origin has not deposited with the node", async function () {
      const { precompile, node, stranger, item } = await loadFixture(syncFixture);
      await expect(precompile.connect(node).prepare([item({ origin: stranger.address })]))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientCredit")
        .withArgs(stranger.address, node.address, 0n, FEE);
      await (await precompile.connect(stranger).deposit(node.address, { value: FEE - 1n })).wait();
      await expect(precompile.connect(node).prepare([item({ origin: stranger.address })]))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientCredit")
        .withArgs(stranger.address, node.address, FEE - 1n, FEE);
    });

    it("a node cannot charge credit deposited for another node", async function () {
      const { precompile, node, node2, user, item, prepare, CREDIT } = await loadFixture(syncFixture);
      // The user's CREDIT is with `node`: `node2` finds none.
      expect(await precompile.creditOf(user.address, node.address)).to.equal(CREDIT);
      expect(await precompile.creditOf(user.address, node2.address)).to.equal(0n);
      for (const finality of [Finality.Deferred, Finality.ProofCarrying]) {
        await expect(precompile.connect(node2).prepare([item({ finality })]))
          .to.be.revertedWithCustomError(precompile, "Inference__InsufficientCredit")
          .withArgs(user.address, node2.address, 0n, FEE);
      }
      expect(await precompile.creditOf(user.address, node.address)).to.equal(CREDIT);
      // Credit deposited with node2 is what node2 charges; the credit with node stays whole.
      await (await precompile.connect(user).deposit(node2.address, { value: FEE })).wait();
      await prepare([item()], node2);
      expect(await precompile.creditOf(user.address, node2.address)).to.equal(0n);
      expect(await precompile.creditOf(user.address, node.address)).to.equal(CREDIT);
      await expect(precompile.connect(node2).prepare([item()]))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientCredit")
        .withArgs(user.address, node2.address, 0n, FEE);
      // And the other way: node charges only its own.
      await prepare([item()]);
      expect(await precompile.creditOf(user.address, node.address)).to.equal(CREDIT - FEE);
      expect(await precompile.creditOf(user.address, node2.address)).to.equal(0n);
    });

    it("deposit and depositFor credit the account with the node; prepare deducts exactly the fee, per item", async function () {
      const { precompile, node, node2, user, stranger, item } = await loadFixture(syncFixture);
      await expect(precompile.connect(stranger).deposit(node.address, { value: FEE }))
        .to.emit(precompile, "CreditDeposited")
        .withArgs(stranger.address, node.address, stranger.address, FEE, FEE);
      await expect(
        precompile.connect(user).depositFor(stranger.address, node.address, { value: 2n * FEE + 1n }),
      )
        .to.emit(precompile, "CreditDeposited")
        .withArgs(stranger.address, node.address, user.address, 2n * FEE + 1n, 3n * FEE + 1n);
      // A deposit with another node is another balance.
      await expect(precompile.connect(user).depositFor(stranger.address, node2.address, { value: 5n }))
        .to.emit(precompile, "CreditDeposited")
        .withArgs(stranger.address, node2.address, user.address, 5n, 5n);
      expect(await precompile.creditOf(stranger.address, node.address)).to.equal(3n * FEE + 1n);
      expect(await precompile.creditOf(stranger.address, node2.address)).to.equal(5n);
      // depositFor credits the account, not the payer.
      expect(await precompile.creditOf(user.address, node2.address)).to.equal(0n);
      await (
        await precompile
          .connect(node)
          .prepare([
            item({ origin: stranger.address }),
            item({ origin: stranger.address, finality: Finality.ProofCarrying }),
          ])
      ).wait();
      expect(await precompile.creditOf(stranger.address, node.address)).to.equal(FEE + 1n);
      // A batch is all or nothing: the second item finds too little credit.
      await expect(
        precompile
          .connect(node)
          .prepare([item({ origin: stranger.address }), item({ origin: stranger.address })]),
      )
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientCredit")
        .withArgs(stranger.address, node.address, 1n, FEE);
      expect(await precompile.creditOf(stranger.address, node.address)).to.equal(FEE + 1n);
      expect(await precompile.creditOf(stranger.address, node2.address)).to.equal(5n);
    });

    it("withdrawCredit pays out unused credit with a node and reverts beyond it (or for zero)", async function () {
      const { precompile, node, node2, user, CREDIT } = await loadFixture(syncFixture);
      await expect(precompile.connect(user).withdrawCredit(node.address, CREDIT + 1n))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientCredit")
        .withArgs(user.address, node.address, CREDIT, CREDIT + 1n);
      await expect(precompile.connect(user).withdrawCredit(node.address, 0n))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientCredit")
        .withArgs(user.address, node.address, CREDIT, 0n);
      // Credit with one node is not withdrawable from another.
      await expect(precompile.connect(user).withdrawCredit(node2.address, FEE))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientCredit")
        .withArgs(user.address, node2.address, 0n, FEE);
      const tx = precompile.connect(user).withdrawCredit(node.address, FEE);
      await expect(tx)
        .to.emit(precompile, "CreditWithdrawn")
        .withArgs(user.address, node.address, FEE, CREDIT - FEE);
      await expect(tx).to.changeEtherBalances(ethers, [user, INFERENCE_ADDRESS], [FEE, -FEE]);
      await (await precompile.connect(user).withdrawCredit(node.address, CREDIT - FEE)).wait();
      expect(await precompile.creditOf(user.address, node.address)).to.equal(0n);
      await expect(precompile.connect(user).withdrawCredit(node.address, 1n))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientCredit")
        .withArgs(user.address, node.address, 0n, 1n);
    });

    it("originOf is the origin of a prepared result and zero for an ordinary request", async function () {
      const { precompile, user, item, prepare, requestFromUser } = await loadFixture(syncFixture);
      const {
        ids: [id],
      } = await prepare([item()]);
      expect(await precompile.originOf(id)).to.equal(user.address);
      const ordinary = await requestFromUser();
      expect(await precompile.originOf(ordinary)).to.equal(ZeroAddress);
      expect(await precompile.originOf(keccak256("0x01"))).to.equal(ZeroAddress);
    });
  });

  describe("prepare checks", function () {
    it("only registered nodes prepare", async function () {
      const { precompile, stranger, item } = await loadFixture(syncFixture);
      await expect(precompile.connect(stranger).prepare([item()]))
        .to.be.revertedWithCustomError(precompile, "Inference__NotNode")
        .withArgs(stranger.address);
    });

    it("wrong input or output lengths revert Inference__WrongLength", async function () {
      const { precompile, node, item } = await loadFixture(syncFixture);
      await expect(precompile.connect(node).prepare([item({ input: INPUT.slice(0, 3) })]))
        .to.be.revertedWithCustomError(precompile, "Inference__WrongLength")
        .withArgs(INPUT_LENGTH, 3);
      await expect(precompile.connect(node).prepare([item({ output: [...OUTPUT, 0n] })]))
        .to.be.revertedWithCustomError(precompile, "Inference__WrongLength")
        .withArgs(OUTPUT_LENGTH, 4);
    });

    it("out-of-range input or output values revert Inference__ValueOutOfRange", async function () {
      const { precompile, node, item } = await loadFixture(syncFixture);
      const half = 1n << 23n;
      await expect(precompile.connect(node).prepare([item({ input: [0n, half, 0n, 0n] })]))
        .to.be.revertedWithCustomError(precompile, "Inference__ValueOutOfRange")
        .withArgs(1, half, 24);
      await expect(precompile.connect(node).prepare([item({ output: [0n, 0n, -half - 1n] })]))
        .to.be.revertedWithCustomError(precompile, "Inference__ValueOutOfRange")
        .withArgs(2, -half - 1n, 24);
      // The bounds themselves are fine.
      await (
        await precompile
          .connect(node)
          .prepare([item({ input: [-half, half - 1n, 0n, 0n], output: [-half, half - 1n, 0n] })])
      ).wait();
    });

    it("an unknown or inactive model reverts Inference__UnknownModel", async function () {
      const { precompile, registry, admin, node, item, toggleModelId } = await loadFixture(syncFixture);
      const unknown = keccak256("0x1234");
      await expect(precompile.connect(node).prepare([item({ modelId: unknown })]))
        .to.be.revertedWithCustomError(precompile, "Inference__UnknownModel")
        .withArgs(unknown);
      await (await registry.connect(admin).deactivate(toggleModelId)).wait();
      await expect(precompile.connect(node).prepare([item()]))
        .to.be.revertedWithCustomError(precompile, "Inference__UnknownModel")
        .withArgs(toggleModelId);
    });

    it("a reused salt reverts Inference__RequestExists, in a later batch or in the same one", async function () {
      const { precompile, node, node2, user, item, requestIdFor, prepare } = await loadFixture(syncFixture);
      await (await precompile.connect(user).deposit(node2.address, { value: FEE })).wait();
      const first = item();
      await prepare([first]);
      const id = requestIdFor(String(first.salt));
      await expect(precompile.connect(node).prepare([item({ salt: first.salt })]))
        .to.be.revertedWithCustomError(precompile, "Inference__RequestExists")
        .withArgs(id);
      const salt = toBeHex(999n, 32);
      await expect(precompile.connect(node).prepare([item({ salt }), item({ salt })]))
        .to.be.revertedWithCustomError(precompile, "Inference__RequestExists")
        .withArgs(requestIdFor(salt));
      // The id is per node: another node may use the same salt.
      await prepare([item({ salt: first.salt })], node2);
    });

    it("a deferred preparation beyond the free bond reverts Inference__InsufficientBond; proof-carrying ones lock nothing", async function () {
      const { precompile, node, item, prepare } = await loadFixture(syncFixture);
      // NODE_BOND = 3 ETH keeps MIN_BOND = 1 ETH free behind four stakes of 0.5 ETH.
      await prepare([item(), item(), item(), item()]);
      expect(await precompile.outstandingOf(node.address)).to.equal(4n * STAKE);
      await expect(precompile.connect(node).prepare([item()]))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientBond")
        .withArgs(node.address, NODE_BOND - 4n * STAKE, STAKE + MIN_BOND);
      await prepare([item({ finality: Finality.ProofCarrying })]);
    });
  });

  describe("the OpenGradient adapter slot", function () {
    it("the installer set an adapter; it is set once, by the admin only", async function () {
      const { precompile, admin, stranger } = await loadFixture(syncFixture);
      const current = await precompile.adapter();
      expect(current).to.not.equal(ZeroAddress);
      expect(await ethers.provider.getCode(current)).to.not.equal("0x");
      await expect(precompile.connect(stranger).setAdapter(current))
        .to.be.revertedWithCustomError(precompile, "Inference__NotAdmin")
        .withArgs(stranger.address);
      await expect(precompile.connect(admin).setAdapter(current))
        .to.be.revertedWithCustomError(precompile, "Inference__AdapterNotSettable")
        .withArgs(current);
    });

    it("on a fresh precompile: refuses an address without code, sets once, then refuses", async function () {
      const { admin, stranger, registry, precompile: installed } = await loadFixture(syncFixture);
      const fresh = (await ethers.deployContract("InferencePrecompile", [
        admin.address,
        await registry.getAddress(),
        MIN_BOND,
        ANSWER_WINDOW,
      ])) as unknown as InferencePrecompile;
      expect(await fresh.adapter()).to.equal(ZeroAddress);
      // Without an adapter, OpenGradient's ABI is refused by the fallback.
      await expect(stranger.sendTransaction({ to: await fresh.getAddress(), data: "0x7289e9c2" }))
        .to.be.revertedWithCustomError(fresh, "Inference__NoAdapter")
        .withArgs("0x7289e9c2");
      await expect(fresh.connect(admin).setAdapter(stranger.address))
        .to.be.revertedWithCustomError(fresh, "Inference__AdapterNotSettable")
        .withArgs(ZeroAddress);
      await expect(fresh.connect(stranger).setAdapter(await installed.adapter()))
        .to.be.revertedWithCustomError(fresh, "Inference__NotAdmin")
        .withArgs(stranger.address);
      const adapter = await installed.adapter();
      await expect(fresh.connect(admin).setAdapter(adapter)).to.emit(fresh, "AdapterSet").withArgs(adapter);
      expect(await fresh.adapter()).to.equal(adapter);
      await expect(fresh.connect(admin).setAdapter(await registry.getAddress()))
        .to.be.revertedWithCustomError(fresh, "Inference__AdapterNotSettable")
        .withArgs(adapter);
    });

    it("inferFrom from anyone but the adapter reverts Inference__NotAdapter", async function () {
      const { precompile, user, stranger, node, item, prepare, toggleModelId } =
        await loadFixture(syncFixture);
      await prepare([item({ consumer: user.address, origin: user.address })]);
      for (const caller of [user, stranger, node]) {
        await expect(
          precompile.connect(caller).inferFrom(user.address, toggleModelId, INPUT, Finality.Deferred),
        )
          .to.be.revertedWithCustomError(precompile, "Inference__NotAdapter")
          .withArgs(caller.address);
      }
    });
  });

  describe("simulation (eth_call overriding the simulation slot and placing the Simulator)", function () {
    /** `consumeAndLog(modelId, a, b, finality, SIMULATOR)` as an eth_call from `from`, with `overrides`. */
    async function simulate(
      f: Awaited<ReturnType<typeof syncFixture>>,
      a: readonly bigint[],
      b: readonly bigint[],
      overrides: StateOverrides | undefined,
      opts: { finality?: number; modelId?: string; from?: string; simulator?: string } = {},
    ) {
      const data = f.consumer.interface.encodeFunctionData("consumeAndLog", [
        opts.modelId ?? f.toggleModelId,
        [...a],
        [...b],
        opts.finality ?? Finality.Deferred,
        opts.simulator ?? SIMULATOR,
      ]);
      const call = { from: opts.from ?? f.user.address, to: f.consumerAddress, data };
      const params: unknown[] = [call, "latest"];
      if (overrides) params.push(overrides);
      const raw = (await ethers.provider.send("eth_call", params)) as string;
      const [first, second, log] = f.consumer.interface.decodeFunctionResult("consumeAndLog", raw);
      return {
        first: [...first] as bigint[],
        second: [...second] as bigint[],
        rawLog: log as string,
        log: decodeSimulationLog(log as string),
      };
    }
    /** The revert data of an eth_call that must revert. */
    async function revertData(promise: Promise<unknown>): Promise<string> {
      try {
        await promise;
      } catch (e) {
        let err = e as { data?: unknown; cause?: unknown; error?: unknown };
        for (let i = 0; i < 5 && err; i++) {
          if (typeof err.data === "string") return err.data;
          if (err.data && typeof (err.data as { data?: unknown }).data === "string")
            return (err.data as { data: string }).data;
          err = (err.cause ?? err.error) as typeof err;
        }
        throw e;
      }
      throw new Error("the call did not revert");
    }
    /** Whether the promise rejects (an eth_call that reverts, with or without data). */
    async function rejects(promise: Promise<unknown>): Promise<boolean> {
      try {
        await promise;
        return false;
      } catch {
        return true;
      }
    }

    it("returns zeros of the output length and records every call with all its fields", async function () {
      const f = await loadFixture(syncFixture);
      const other = [1n, 2n, 3n, 4n];
      const { first, second, log, rawLog } = await simulate(f, INPUT, other, await simulationOverrides());
      expect(first).to.deep.equal([0n, 0n, 0n]);
      expect(second).to.deep.equal([0n, 0n, 0n]);
      expect(log.length).to.equal(2);
      // Two entries of 8 words and 4 input values each, back to back.
      expect((rawLog.length - 2) / 2).to.equal(2 * (8 + INPUT_LENGTH) * 32);
      for (const [entry, input] of [
        [log[0], INPUT],
        [log[1], other],
      ] as const) {
        expect(entry.callKey).to.equal(f.key({ input }));
        expect(entry.callKey).to.equal(
          await f.precompile.callKeyOf(f.user.address, f.consumerAddress, f.toggleModelId, [...input], 0),
        );
        expect(entry.consumer).to.equal(f.consumerAddress);
        expect(entry.modelId).to.equal(f.toggleModelId);
        expect(entry.finality).to.equal(BigInt(Finality.Deferred));
        expect(entry.legacyLayout).to.equal(false);
        expect(entry.previewed).to.equal(false);
        expect(entry.input).to.deep.equal([...input]);
      }
    });

    it("records the finality and the legacy bit (bit 1 of the slot)", async function () {
      const f = await loadFixture(syncFixture);
      const { log } = await simulate(f, INPUT, [], await simulationOverrides({ legacy: true }), {
        finality: Finality.ProofCarrying,
      });
      expect(log.length).to.equal(1);
      expect(log[0].finality).to.equal(BigInt(Finality.ProofCarrying));
      expect(log[0].legacyLayout).to.equal(true);
      expect(log[0].callKey).to.equal(f.key({ finality: Finality.ProofCarrying }));
    });

    it("the call key binds the transaction's origin: another sender's simulation logs another key", async function () {
      const f = await loadFixture(syncFixture);
      const { log } = await simulate(f, INPUT, [], await simulationOverrides(), { from: f.stranger.address });
      expect(log[0].callKey).to.equal(f.key({ origin: f.stranger.address }));
      expect(log[0].callKey).to.not.equal(f.key());
    });

    it("works with the simulator at any address the slot names", async function () {
      const f = await loadFixture(syncFixture);
      const elsewhere = getAddress("0x00000000000000000000000000000000c0ffee01");
      const preview = [9n, -9n, 0n];
      const { first, log } = await simulate(
        f,
        INPUT,
        [],
        await simulationOverrides({
          simulator: elsewhere,
          previews: [{ callKey: f.key(), occurrence: 0, output: preview }],
        }),
        { simulator: elsewhere },
      );
      expect(first).to.deep.equal(preview);
      expect(log.map((c) => c.previewed)).to.deep.equal([true]);
    });

    it("returns a stored preview for its (call key, occurrence), zeros for the other occurrences", async function () {
      const f = await loadFixture(syncFixture);
      const preview = [-5n, 6n, -(1n << 23n)];
      const callKey = f.key();
      const atFirst = await simulate(
        f,
        INPUT,
        INPUT,
        await simulationOverrides({ previews: [{ callKey, occurrence: 0, output: preview }] }),
      );
      expect(atFirst.first).to.deep.equal(preview);
      expect(atFirst.second).to.deep.equal([0n, 0n, 0n]);
      expect(atFirst.log.map((c) => c.previewed)).to.deep.equal([true, false]);
      expect(atFirst.log.map((c) => c.callKey)).to.deep.equal([callKey, callKey]);

      const atSecond = await simulate(
        f,
        INPUT,
        INPUT,
        await simulationOverrides({ previews: [{ callKey, occurrence: 1, output: preview }] }),
      );
      expect(atSecond.first).to.deep.equal([0n, 0n, 0n]);
      expect(atSecond.second).to.deep.equal(preview);
      expect(atSecond.log.map((c) => c.previewed)).to.deep.equal([false, true]);
    });

    it("a preview stored in the precompile's storage (the earlier layout) is not read", async function () {
      const f = await loadFixture(syncFixture);
      const overrides = await simulationOverrides();
      const base = BigInt(
        keccak256(abi.encode(["bytes32", "uint256", "bytes32"], [f.key(), 0n, PREVIEW_SLOT])),
      );
      overrides[INFERENCE_ADDRESS].stateDiff![toBeHex(base, 32)] = word(3n);
      [1n, 2n, 3n].forEach(
        (v, i) => (overrides[INFERENCE_ADDRESS].stateDiff![toBeHex(base + 1n + BigInt(i), 32)] = word(v)),
      );
      const { first, log } = await simulate(f, INPUT, [], overrides);
      expect(first).to.deep.equal([0n, 0n, 0n]);
      expect(log[0].previewed).to.equal(false);
    });

    it("ignores a preview of the wrong length (zeros, not previewed)", async function () {
      const f = await loadFixture(syncFixture);
      const { first, log } = await simulate(
        f,
        INPUT,
        [],
        await simulationOverrides({ previews: [{ callKey: f.key(), occurrence: 0, output: [1n, 2n] }] }),
      );
      expect(first).to.deep.equal([0n, 0n, 0n]);
      expect(log[0].previewed).to.equal(false);
    });

    it("never consumes nor returns a prepared result: the simulation answers zeros even when one waits", async function () {
      const f = await loadFixture(syncFixture);
      await f.prepare([f.item()]);
      const { first, log } = await simulate(f, INPUT, [], await simulationOverrides());
      expect(first).to.deep.equal([0n, 0n, 0n]);
      expect(log.length).to.equal(1);
      expect(await f.precompile.preparedCount(f.key())).to.equal(1n);
    });

    it("checks the call as prepare would: a wrong input length or an unknown model reverts even while simulating", async function () {
      const f = await loadFixture(syncFixture);
      const data = await revertData(simulate(f, [1n, 2n], [], await simulationOverrides()));
      const parsed = f.precompile.interface.parseError(data)!;
      expect(parsed.name).to.equal("Inference__WrongLength");
      expect([...parsed.args]).to.deep.equal([BigInt(INPUT_LENGTH), 2n]);
      const unknown = keccak256("0x1234");
      const data2 = await revertData(
        simulate(f, INPUT, [], await simulationOverrides(), { modelId: unknown }),
      );
      const parsed2 = f.precompile.interface.parseError(data2)!;
      expect(parsed2.name).to.equal("Inference__UnknownModel");
      expect([...parsed2.args]).to.deep.equal([unknown]);
    });

    it("without the overrides the same eth_call reverts Inference__NotPrepared: a mined transaction never sees a simulated result", async function () {
      const f = await loadFixture(syncFixture);
      const data = await revertData(simulate(f, INPUT, [], undefined));
      const parsed = f.precompile.interface.parseError(data)!;
      expect(parsed.name).to.equal("Inference__NotPrepared");
      expect([...parsed.args]).to.deep.equal([f.key(), f.user.address, f.consumerAddress, f.toggleModelId]);
      // A slot value with bit 0 clear does not simulate, even with the simulator placed.
      const data2 = await revertData(simulate(f, INPUT, [], await simulationOverrides({ simulate: false })));
      expect(f.precompile.interface.parseError(data2)!.name).to.equal("Inference__NotPrepared");
      // The slot alone (the earlier single override, no simulator code) does not simulate either.
      expect(await rejects(simulate(f, INPUT, [], await simulationOverrides({ placeCode: false })))).to.equal(
        true,
      );
      // Nor the simulator alone.
      const simulatorOnly = await simulationOverrides();
      delete simulatorOnly[INFERENCE_ADDRESS];
      const data3 = await revertData(simulate(f, INPUT, [], simulatorOnly));
      expect(f.precompile.interface.parseError(data3)!.name).to.equal("Inference__NotPrepared");
    });

    it("on-chain the slot is zero and nothing lives at the simulator's address; the constants are the library's", async function () {
      const f = await loadFixture(syncFixture);
      await f.prepare([f.item()]);
      await (
        await f.consumer.connect(f.user).consumeWithId(f.toggleModelId, INPUT, Finality.Deferred)
      ).wait();
      expect(await ethers.provider.getStorage(INFERENCE_ADDRESS, SIM_SLOT)).to.equal(word(0n));
      expect(await ethers.provider.getCode(SIMULATOR)).to.equal("0x");
      expect(SIM_SLOT).to.equal(hashText("sibyl.pipe.simulation"));
      expect(LIB_SIM_SLOT).to.equal(SIM_SLOT);
      const deployed = await ethers.deployContract("contracts/pipe/Simulator.sol:Simulator");
      expect(await deployed.getFunction("PREVIEW_SLOT")()).to.equal(PREVIEW_SLOT);
      expect(PREVIEW_SLOT).to.equal(hashText("sibyl.pipe.preview"));
    });
  });
});
