import { expect } from "chai";
import fc from "fast-check";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { ContractTransactionReceipt, ContractTransactionResponse } from "ethers";
import { keccak256, parseEther } from "ethers";

import {
  PrecompileLens__factory,
  RecordingConsumer__factory,
  type PrecompileLens,
  type RecordingConsumer,
} from "../../typechain-types/index.js";
import {
  ANSWER_WINDOW,
  Failed,
  Hook,
  INPUT,
  MAX_CALLBACK_GAS_LIMIT,
  MIN_BOND,
  NODE_BOND,
  OUTPUT,
  PROOF,
  SETTLEMENT_WINDOW,
  STAKE,
  State,
  ethers,
  feeFor,
  networkHelpers,
  requestIdOf,
  sibylFixture,
  slashCompensation,
  slashReward,
  stakeFor,
  stakeOf,
} from "./fixtures.js";

const { loadFixture, time } = networkHelpers;

/**
 * Stateful property tests: fast-check draws random histories of register, request, answer,
 * settle (the MockVerifier switched to accept or refuse), slash, expire, withdraw, withdrawBond
 * and time jumps, runs each step on the precompile and on a TypeScript model of its state
 * machine, and after every step checks that
 * - the outcome matches the model: success, or a revert with the custom error the model predicts,
 *   and the transition's event reports the hook outcome (callbackOk) the model predicts;
 * - the views match the model: every request's state, every node's bond, locked and
 *   outstandingOf, every account's pending payments; isFinal and bondBacking of each request
 *   after each of its transitions; fee, stake and consumer of each new request (from its event);
 * - the precompile holds exactly Σ bonds + the fees escrowed by open requests + Σ pending payments;
 * - locked ≤ bond for every node, and no request is settled or slashed more than once (counted
 *   from the events), nor settled after a slash;
 * - each RecordingConsumer hook ran in lifecycle order, once per transition, seeing the new state
 *   and the payments already credited.
 * Every history starts from the same snapshot (loadFixture), so runs are independent.
 */

const RUNS = 500;
/**
 * A fixed seed keeps CI deterministic (the test also asserts that every outcome is reached);
 * set SIBYL_FC_SEED to explore other histories, and fast-check prints the seed of a failure.
 */
const SEED = Number(process.env.SIBYL_FC_SEED ?? 20261124);
const MAX_COMMANDS = 16;
/** Gas for every transaction: enough for any hook, and no estimateGas round trip. */
const TX_GAS = 3_000_000;
const UNKNOWN_ID = keccak256("0xdeadbeef");
/** Request references are drawn from 0..MAX_REF; the two largest stand for an id never requested. */
const MAX_REF = 13;
/** References below this one target a request in the state the step needs. */
const TARGETED_REFS = 9;

const ERRORS = {
  NotNode: "Inference__NotNode",
  UnknownRequest: "Inference__UnknownRequest",
  WrongState: "Inference__WrongState",
  InsufficientBond: "Inference__InsufficientBond",
  DeadlinePassed: "Inference__DeadlinePassed",
  DeadlineNotReached: "Inference__DeadlineNotReached",
  InvalidProof: "Inference__InvalidProof",
  FeeTooLow: "Inference__FeeTooLow",
  CallbackGasLimitTooHigh: "Inference__CallbackGasLimitTooHigh",
  NothingToWithdraw: "Inference__NothingToWithdraw",
  TransferFailed: "Inference__TransferFailed",
  BondTooLow: "Inference__BondTooLow",
} as const;
type Outcome = "ok" | (typeof ERRORS)[keyof typeof ERRORS];

// ───────────────────────────── the actors ─────────────────────────────

type ConsumerKind = "eoa" | "recording" | "reverting";
/** The three consumers: an EOA, a contract that records its hooks, one whose hooks revert and that refuses ETH. */
const CONSUMERS: readonly { kind: ConsumerKind; gas: number }[] = [
  { kind: "eoa", gas: 0 },
  { kind: "recording", gas: 600_000 },
  { kind: "reverting", gas: 100_000 },
];

function nodeSigners(r: Real): HardhatEthersSigner[] {
  return [r.node, r.node2, r.node3];
}
function callerSigners(r: Real): HardhatEthersSigner[] {
  return [r.admin, r.stranger, r.user, r.node];
}
function consumerAddress(r: Real, kind: ConsumerKind): string {
  if (kind === "eoa") return r.user.address;
  return String((kind === "recording" ? r.recording : r.reverting).target);
}
/** Every account that can ever be owed a payment. */
function accounts(r: Real): string[] {
  return [
    r.node.address,
    r.node2.address,
    r.node3.address,
    r.user.address,
    r.stranger.address,
    r.admin.address,
    String(r.recording.target),
    String(r.reverting.target),
  ];
}

// ───────────────────────────────── the model ────────────────────────────────

interface ModelRequest {
  id: string;
  consumer: ConsumerKind;
  state: number;
  fee: bigint;
  stake: bigint;
  requestedAt: bigint;
  answeredAt: bigint;
  node: number;
}

interface ExpectedHook {
  hook: number;
  requestId: string;
  reason: number;
  stateSeen: number;
  pendingSeen: bigint;
  backingSeen: bigint;
}

interface Model {
  now: bigint;
  verifierResult: boolean;
  nodes: { bond: bigint; locked: bigint; registered: boolean }[];
  pending: Map<string, bigint>;
  requests: ModelRequest[];
  hooks: ExpectedHook[];
  /** how many of `hooks` were already compared with the RecordingConsumer's log */
  hooksChecked: number;
  /** requests whose state the current step changed: their isFinal and bondBacking are checked */
  touched: ModelRequest[];
  /** InferenceSettled / InferenceSlashed events seen per request id */
  finalEvents: Map<string, string[]>;
}

const credit = (m: Model, account: string, amount: bigint) =>
  m.pending.set(account, (m.pending.get(account) ?? 0n) + amount);
const pendingOf = (m: Model, account: string) => m.pending.get(account) ?? 0n;
const deadlineOf = (q: ModelRequest) => q.answeredAt + SETTLEMENT_WINDOW;
/**
 * The request a step acts on: for most `ref`s one in the state the step needs (when there is one),
 * for a few any request of the history, and for the two largest an id that was never requested.
 */
function pick(m: Model, ref: number, wanted: number): ModelRequest | undefined {
  if (ref >= MAX_REF - 1 || m.requests.length === 0) return undefined;
  const fitting = m.requests.filter((q) => q.state === wanted);
  return ref < TARGETED_REFS && fitting.length > 0
    ? fitting[ref % fitting.length]
    : m.requests[ref % m.requests.length];
}

// ──────────────────────────── where histories start ─────────────────────────

/**
 * Where every history starts: Sibyl with a third, unregistered node and the lens; a refund owed to
 * the consumer that refuses ETH (its request expired); and three requests in flight: the EOA's and
 * the reverting consumer's requested, the RecordingConsumer's (1.2 ETH at risk) answered by node2.
 * Every request carries exactly the fee for its consumer's callback gas (`feeFor`).
 */
async function propertyFixture() {
  const f = await loadFixture(sibylFixture);
  const signers = await ethers.getSigners();
  const node3 = signers[5]; // not registered at first
  const lens = await ethers.deployContract("PrecompileLens");
  const fee = (c: number) => ({ value: feeFor(CONSUMERS[c].gas) });
  const refused = await requestIdOf(
    f.precompile,
    f.reverting.makeRequest(f.modelId, INPUT, CONSUMERS[2].gas, fee(2)),
  );
  await time.increase(ANSWER_WINDOW + 1n);
  await (await f.precompile.expire(refused)).wait();
  const inFlight = [
    await requestIdOf(
      f.precompile,
      f.precompile.connect(f.user).request(f.modelId, INPUT, 0, CONSUMERS[0].gas, 0n, fee(0)),
    ),
    await requestIdOf(
      f.precompile,
      f.recording.makeRequestAtRisk(f.modelId, INPUT, CONSUMERS[1].gas, parseEther("1.2"), fee(1)),
    ),
    await requestIdOf(f.precompile, f.reverting.makeRequest(f.modelId, INPUT, CONSUMERS[2].gas, fee(2))),
  ];
  await (await f.precompile.connect(f.node2).answer(inFlight[1], OUTPUT)).wait();
  return { ...f, node3, lens, requests: [refused, ...inFlight] };
}
type Real = Awaited<ReturnType<typeof propertyFixture>>;

/** The model of `propertyFixture`'s state, read from the chain once. */
async function initialModel(r: Real): Promise<Model> {
  const kinds = new Map(CONSUMERS.map((c) => [consumerAddress(r, c.kind).toLowerCase(), c.kind]));
  const nodes = nodeSigners(r).map((n) => n.address);
  const requests: ModelRequest[] = [];
  for (const id of r.requests) {
    const q = await r.precompile.getRequest(id);
    requests.push({
      id,
      consumer: kinds.get(q.consumer.toLowerCase())!,
      state: Number(q.state),
      fee: q.fee,
      stake: q.stake,
      requestedAt: q.requestedAt,
      answeredAt: q.answeredAt,
      node: nodes.indexOf(q.node),
    });
  }
  const pending = new Map<string, bigint>();
  for (const a of accounts(r)) pending.set(a, await r.precompile.pendingWithdrawal(a));
  const hooks: ExpectedHook[] = [];
  for (let i = 0n; i < (await r.recording.callCount()); i++) {
    const c = await r.recording.callAt(i);
    hooks.push({
      hook: Number(c.hook),
      requestId: c.requestId,
      reason: Number(c.reason),
      stateSeen: Number(c.stateSeen),
      pendingSeen: c.pendingSeen,
      backingSeen: c.backingSeen,
    });
  }
  const m: Model = {
    now: BigInt(await time.latest()),
    verifierResult: true,
    nodes: [],
    pending,
    requests,
    hooks,
    hooksChecked: hooks.length,
    touched: requests,
    finalEvents: new Map(),
  };
  for (const n of nodes) {
    const { bond, locked, registered } = await r.precompile.nodeOf(n);
    m.nodes.push({ bond, locked, registered });
  }
  // the fixture's history, as the model sees it
  expect(requests.map((q) => q.state)).to.deep.equal([
    State.Expired,
    State.Requested,
    State.Answered,
    State.Requested,
  ]);
  expect(pendingOf(m, String(r.reverting.target))).to.equal(feeFor(CONSUMERS[2].gas));
  expect(m.nodes.map((n) => n.locked)).to.deep.equal([0n, stakeFor(parseEther("1.2")), 0n]);
  expect(hooks.map((h) => h.hook)).to.deep.equal([Hook.Answered]);
  return m;
}

/** A deep copy, so that every history starts from the same model. */
function cloneModel(m: Model): Model {
  const requests = m.requests.map((q) => ({ ...q }));
  return {
    ...m,
    nodes: m.nodes.map((n) => ({ ...n })),
    pending: new Map(m.pending),
    requests,
    touched: [...requests],
    hooks: [...m.hooks],
    finalEvents: new Map(m.finalEvents),
  };
}

// ────────────────────────── running one transaction ─────────────────────────

/** Sends a transaction in the next block (at `m.now + 1`) and returns its outcome. */
async function attempt(
  m: Model,
  r: Real,
  send: () => Promise<ContractTransactionResponse>,
): Promise<{ outcome: Outcome; receipt?: ContractTransactionReceipt }> {
  m.now += 1n;
  await time.setNextBlockTimestamp(m.now);
  try {
    const receipt = (await (await send()).wait())!;
    return { outcome: "ok", receipt };
  } catch (e) {
    const data = (e as { data?: string }).data;
    const parsed = typeof data === "string" ? r.precompile.interface.parseError(data) : null;
    if (!parsed) throw e;
    return { outcome: parsed.name as Outcome };
  }
}

/** The precompile's events in a receipt, by name. */
function eventsOf(r: Real, receipt: ContractTransactionReceipt) {
  return receipt.logs
    .filter((l) => l.address.toLowerCase() === String(r.precompile.target).toLowerCase())
    .map((l) => r.precompile.interface.parseLog(l)!);
}

function recordFinalEvents(m: Model, r: Real, receipt: ContractTransactionReceipt) {
  for (const ev of eventsOf(r, receipt)) {
    if (ev.name !== "InferenceSettled" && ev.name !== "InferenceSlashed") continue;
    const id = ev.args.requestId as string;
    m.finalEvents.set(id, [...(m.finalEvents.get(id) ?? []), ev.name]);
  }
}

/** The callbackOk a transition's event must carry: only the reverting consumer's hooks fail. */
function expectCallback(r: Real, receipt: ContractTransactionReceipt, event: string, consumer: ConsumerKind) {
  const ev = eventsOf(r, receipt).find((e) => e.name === event);
  check(ev !== undefined, `no ${event} event`);
  check(ev!.args.callbackOk === (consumer !== "reverting"), `${event}.callbackOk = ${ev!.args.callbackOk}`);
}

/** The RecordingConsumer's hook for a transition, as the model expects to find it. */
function expectHook(m: Model, r: Real, q: ModelRequest, hook: number, reason: number) {
  if (q.consumer !== "recording") return;
  m.hooks.push({
    hook,
    requestId: q.id,
    reason,
    stateSeen: q.state,
    pendingSeen: pendingOf(m, consumerAddress(r, "recording")),
    backingSeen: q.state === State.Answered ? q.stake : 0n,
  });
}

/** How often each (step, outcome) pair was reached over all runs. */
const reached = new Map<string, number>();

function expectOutcome(step: Step, outcome: Outcome, expected: Outcome) {
  if (outcome !== expected) expect(outcome, step.toString()).to.equal(expected);
  const key = `${step.constructor.name} ${outcome}`;
  reached.set(key, (reached.get(key) ?? 0) + 1);
}

// ──────────────────────────── invariants, every step ─────────────────────────

const LENS = PrecompileLens__factory.createInterface();
const RECORDING = RecordingConsumer__factory.createInterface();

/** A read-only call, encoded and decoded by hand: the typed wrappers cost more than the call. */
async function view(to: string, data: string): Promise<string> {
  return ethers.provider.call({ to, data });
}

/** JSON with bigints, to compare snapshots cheaply (chai only when they differ, for its diff). */
const key = (v: unknown) => JSON.stringify(v, (_, x) => (typeof x === "bigint" ? `${x}n` : x));

function check(ok: boolean, message: string) {
  if (!ok) expect.fail(message);
}

async function checkInvariants(m: Model, r: Real) {
  const accts = accounts(r);
  const data = LENS.encodeFunctionData("snapshot", [
    String(r.precompile.target),
    nodeSigners(r).map((n) => n.address),
    accts,
    m.requests.map((q) => q.id),
    m.touched.map((q) => q.id),
    [String(r.recording.target)],
  ]);
  const [s] = LENS.decodeFunctionResult("snapshot", await view(String(r.lens.target), data)) as unknown as [
    PrecompileLens.SnapshotStructOutput,
  ];

  // every view equals the model
  const actual = {
    nodes: s.nodes.map((n, i) => [n.bond, n.locked, n.registered, s.outstanding[i]]),
    pending: accts.map((a, i) => [a, s.pending[i]]),
    states: m.requests.map((_, i) => Number(s.states[i])),
    touched: m.touched.map((_, i) => [s.touchedFinal[i], s.touchedBacking[i]]),
    hookCount: Number(s.hookCounts[0]),
  };
  const expected = {
    nodes: m.nodes.map((n) => [n.bond, n.locked, n.registered, n.locked]),
    pending: accts.map((a) => [a, pendingOf(m, a)]),
    states: m.requests.map((q) => q.state),
    touched: m.touched.map((q) => [q.state >= State.Settled, q.state === State.Answered ? q.stake : 0n]),
    hookCount: m.hooks.length,
  };
  m.touched = [];
  if (key(actual) !== key(expected))
    expect(actual, "the chain's views against the model").to.deep.equal(expected);

  // locked ≤ bond, and the accounting identity, from the chain's own numbers
  s.nodes.forEach((n, i) => check(n.locked <= n.bond, `node ${i}: locked ${n.locked} > bond ${n.bond}`));
  const bonds = s.nodes.reduce((t, n) => t + n.bond, 0n);
  // (each request's fee is the one its InferenceRequested event reported, see RequestStep)
  const escrowed = m.requests.reduce(
    (t, q, i) =>
      s.states[i] === BigInt(State.Requested) || s.states[i] === BigInt(State.Answered) ? t + q.fee : t,
    0n,
  );
  const pending = s.pending.reduce((t, p) => t + p, 0n);
  check(
    s.balance === bonds + escrowed + pending,
    `balance ${s.balance} ≠ Σ bonds ${bonds} + escrowed fees ${escrowed} + Σ pending ${pending}`,
  );

  // at most one settlement or slash per request, so never a settlement after a slash
  for (const [id, events] of m.finalEvents) check(events.length === 1, `${id}: ${events.join(", ")}`);

  // hooks in lifecycle order, each seeing the state (and payments) after its transition
  for (; m.hooksChecked < m.hooks.length; m.hooksChecked++) {
    const want = m.hooks[m.hooksChecked];
    const raw = await view(
      String(r.recording.target),
      RECORDING.encodeFunctionData("callAt", [m.hooksChecked]),
    );
    const [call] = RECORDING.decodeFunctionResult("callAt", raw) as unknown as [
      RecordingConsumer.CallStructOutput,
    ];
    const got = [call.hook, call.requestId, call.reason, call.stateSeen, call.pendingSeen, call.backingSeen];
    const wanted = [
      want.hook,
      want.requestId,
      want.reason,
      want.stateSeen,
      want.pendingSeen,
      want.backingSeen,
    ].map((v) => (typeof v === "number" ? BigInt(v) : v));
    if (key(got) !== key(wanted)) expect(got, `hook call ${m.hooksChecked}`).to.deep.equal(wanted);
    const sequence = m.hooks.filter((h) => h.requestId === want.requestId).map((h) => h.hook);
    check(
      LIFECYCLES.some((ok) => key(ok) === key(sequence)),
      `hooks of ${want.requestId} out of lifecycle order: ${sequence}`,
    );
  }
}

/** The hook sequences a request may produce (a prefix of one of them, while it is open). */
const LIFECYCLES = [
  [Hook.Answered],
  [Hook.Answered, Hook.Settled],
  [Hook.Answered, Hook.Failed],
  [Hook.Failed],
];

// ───────────────────────────────── commands ─────────────────────────────────

abstract class Step implements fc.AsyncCommand<Model, Real> {
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    await this.step(m, r);
    await checkInvariants(m, r);
  }
  abstract step(m: Model, r: Real): Promise<void>;
  abstract toString(): string;
}

/** Values at risk: none, one whose gross-up stays at the model's stake, around the stake, large, uncoverable. */
const RISKS = [
  0n,
  slashCompensation(STAKE),
  STAKE - 1n,
  STAKE + 1n,
  parseEther("1.2"),
  NODE_BOND + 1n,
] as const;

class RequestStep extends Step {
  constructor(
    readonly consumer: number,
    readonly risk: number,
    readonly feeOk: boolean,
    readonly gasTooHigh: boolean,
  ) {
    super();
  }
  toString() {
    return `request(${CONSUMERS[this.consumer].kind}, risk ${RISKS[this.risk]}, ${this.feeOk ? "fee" : "fee-1"}${this.gasTooHigh ? ", gas>max" : ""})`;
  }
  async step(m: Model, r: Real) {
    const { kind, gas: hookGas } = CONSUMERS[this.consumer];
    const valueAtRisk = kind === "reverting" ? 0n : RISKS[this.risk];
    const gas = this.gasTooHigh ? MAX_CALLBACK_GAS_LIMIT + 1 : hookGas;
    // the fee for the hook gas the consumer asks for (the precompile checks the gas limit first)
    const fee = this.feeOk ? feeFor(hookGas) : feeFor(hookGas) - 1n;
    const expected: Outcome = this.gasTooHigh
      ? ERRORS.CallbackGasLimitTooHigh
      : !this.feeOk
        ? ERRORS.FeeTooLow
        : "ok";
    const opts = { value: fee, gasLimit: TX_GAS };
    const { outcome, receipt } = await attempt(m, r, () =>
      kind === "eoa"
        ? r.precompile.connect(r.user).request(r.modelId, INPUT, 0, gas, valueAtRisk, opts)
        : kind === "recording"
          ? r.recording.connect(r.user).makeRequestAtRisk(r.modelId, INPUT, gas, valueAtRisk, opts)
          : r.reverting.connect(r.user).makeRequest(r.modelId, INPUT, gas, opts),
    );
    expectOutcome(this, outcome, expected);
    if (outcome !== "ok") return;
    const event = eventsOf(r, receipt!).find((e) => e.name === "InferenceRequested")!;
    const id = event.args.requestId as string;
    check(!m.requests.some((q) => q.id === id), `request id ${id} was already used`);
    // max(model stake, Sibyl.stakeFor(valueAtRisk)): a slash repays at least the value at risk
    const stake = stakeOf(valueAtRisk);
    const got = [event.args.consumer, event.args.fee, event.args.stake];
    if (key(got) !== key([consumerAddress(r, kind), fee, stake]))
      expect(got, "InferenceRequested consumer, fee, stake").to.deep.equal([
        consumerAddress(r, kind),
        fee,
        stake,
      ]);
    m.requests.push({
      id,
      consumer: kind,
      state: State.Requested,
      fee: event.args.fee as bigint,
      stake,
      requestedAt: m.now,
      answeredAt: 0n,
      node: -1,
    });
    m.touched.push(m.requests[m.requests.length - 1]);
  }
}

class AnswerStep extends Step {
  constructor(
    readonly node: number,
    readonly ref: number,
  ) {
    super();
  }
  toString() {
    return `answer(node ${this.node}, request #${this.ref})`;
  }
  async step(m: Model, r: Real) {
    const n = m.nodes[this.node];
    const q = pick(m, this.ref, State.Requested);
    const expected: Outcome = !n.registered
      ? ERRORS.NotNode
      : !q
        ? ERRORS.UnknownRequest
        : q.state !== State.Requested
          ? ERRORS.WrongState
          : n.bond - n.locked < q.stake + MIN_BOND // minBond must stay free beyond the stake
            ? ERRORS.InsufficientBond
            : "ok";
    const { outcome, receipt } = await attempt(m, r, () =>
      r.precompile
        .connect(nodeSigners(r)[this.node])
        .answer(q?.id ?? UNKNOWN_ID, OUTPUT, { gasLimit: TX_GAS }),
    );
    expectOutcome(this, outcome, expected);
    if (outcome !== "ok") return;
    n.locked += q!.stake;
    q!.state = State.Answered;
    m.touched.push(q!);
    q!.answeredAt = m.now;
    q!.node = this.node;
    expectCallback(r, receipt!, "InferenceAnswered", q!.consumer);
    expectHook(m, r, q!, Hook.Answered, 0);
  }
}

class SettleStep extends Step {
  constructor(
    readonly ref: number,
    readonly valid: boolean,
    readonly caller: number,
  ) {
    super();
  }
  toString() {
    return `settle(request #${this.ref}, ${this.valid ? "valid" : "invalid"} proof, caller ${this.caller})`;
  }
  async step(m: Model, r: Real) {
    if (m.verifierResult !== this.valid) {
      const { outcome } = await attempt(m, r, () => r.verifier.setResult(this.valid, { gasLimit: TX_GAS }));
      expect(outcome).to.equal("ok");
      m.verifierResult = this.valid;
    }
    const q = pick(m, this.ref, State.Answered);
    const at = m.now + 1n;
    const expected: Outcome = !q
      ? ERRORS.UnknownRequest
      : q.state !== State.Answered
        ? ERRORS.WrongState
        : at > deadlineOf(q)
          ? ERRORS.DeadlinePassed
          : !this.valid
            ? ERRORS.InvalidProof
            : "ok";
    const { outcome, receipt } = await attempt(m, r, () =>
      r.precompile
        .connect(callerSigners(r)[this.caller])
        .settle(q?.id ?? UNKNOWN_ID, [...PROOF], { gasLimit: TX_GAS }),
    );
    expectOutcome(this, outcome, expected);
    if (outcome !== "ok") return;
    q!.state = State.Settled;
    m.touched.push(q!);
    m.nodes[q!.node].locked -= q!.stake;
    credit(m, nodeSigners(r)[q!.node].address, q!.fee);
    recordFinalEvents(m, r, receipt!);
    expectCallback(r, receipt!, "InferenceSettled", q!.consumer);
    expectHook(m, r, q!, Hook.Settled, 0);
  }
}

class SlashStep extends Step {
  constructor(
    readonly ref: number,
    readonly caller: number,
  ) {
    super();
  }
  toString() {
    return `slash(request #${this.ref}, caller ${this.caller})`;
  }
  async step(m: Model, r: Real) {
    const q = pick(m, this.ref, State.Answered);
    const at = m.now + 1n;
    const expected: Outcome = !q
      ? ERRORS.UnknownRequest
      : q.state !== State.Answered
        ? ERRORS.WrongState
        : at <= deadlineOf(q)
          ? ERRORS.DeadlineNotReached
          : "ok";
    const slasher = callerSigners(r)[this.caller];
    const { outcome, receipt } = await attempt(m, r, () =>
      r.precompile.connect(slasher).slash(q?.id ?? UNKNOWN_ID, { gasLimit: TX_GAS }),
    );
    expectOutcome(this, outcome, expected);
    if (outcome !== "ok") return;
    q!.state = State.Slashed;
    m.touched.push(q!);
    const n = m.nodes[q!.node];
    n.bond -= q!.stake;
    n.locked -= q!.stake;
    credit(m, consumerAddress(r, q!.consumer), slashCompensation(q!.stake) + q!.fee);
    credit(m, slasher.address, slashReward(q!.stake));
    recordFinalEvents(m, r, receipt!);
    expectCallback(r, receipt!, "InferenceSlashed", q!.consumer);
    expectHook(m, r, q!, Hook.Failed, Failed.Slashed);
  }
}

class ExpireStep extends Step {
  constructor(
    readonly ref: number,
    readonly caller: number,
  ) {
    super();
  }
  toString() {
    return `expire(request #${this.ref}, caller ${this.caller})`;
  }
  async step(m: Model, r: Real) {
    const q = pick(m, this.ref, State.Requested);
    const at = m.now + 1n;
    const expected: Outcome = !q
      ? ERRORS.UnknownRequest
      : q.state !== State.Requested
        ? ERRORS.WrongState
        : at <= q.requestedAt + ANSWER_WINDOW
          ? ERRORS.DeadlineNotReached
          : "ok";
    const { outcome, receipt } = await attempt(m, r, () =>
      r.precompile.connect(callerSigners(r)[this.caller]).expire(q?.id ?? UNKNOWN_ID, { gasLimit: TX_GAS }),
    );
    expectOutcome(this, outcome, expected);
    if (outcome !== "ok") return;
    q!.state = State.Expired;
    m.touched.push(q!);
    credit(m, consumerAddress(r, q!.consumer), q!.fee);
    expectCallback(r, receipt!, "InferenceExpired", q!.consumer);
    expectHook(m, r, q!, Hook.Failed, Failed.Expired);
  }
}

class WithdrawStep extends Step {
  /**
   * `ref` 0–3: an account that is owed something and accepts ETH (when there is one); 4: the
   * consumer that refuses ETH; 5–7: any account.
   */
  constructor(readonly ref: number) {
    super();
  }
  toString() {
    return `withdraw(#${this.ref})`;
  }
  async step(m: Model, r: Real) {
    const all = accounts(r);
    const refuses = String(r.reverting.target);
    const owed = all.filter((a) => a !== refuses && pendingOf(m, a) > 0n);
    const address =
      this.ref < 4 && owed.length > 0
        ? owed[this.ref % owed.length]
        : this.ref === 4
          ? refuses
          : all[this.ref % all.length];
    const account = all.indexOf(address);
    const isReverting = address === refuses;
    const expected: Outcome =
      pendingOf(m, address) === 0n ? ERRORS.NothingToWithdraw : isReverting ? ERRORS.TransferFailed : "ok";
    const signers = [r.node, r.node2, r.node3, r.user, r.stranger, r.admin];
    const opts = { gasLimit: TX_GAS };
    const { outcome } = await attempt(m, r, () =>
      account < signers.length
        ? r.precompile.connect(signers[account]).withdraw(opts)
        : isReverting
          ? r.reverting.collect(opts)
          : r.recording.collect(opts),
    );
    expectOutcome(this, outcome, expected);
    if (outcome === "ok") m.pending.set(address, 0n);
  }
}

const BOND_AMOUNTS = ["zero", "oneWei", "half", "free", "freePlusOne"] as const;

class WithdrawBondStep extends Step {
  constructor(
    readonly node: number,
    readonly amount: number,
  ) {
    super();
  }
  toString() {
    return `withdrawBond(node ${this.node}, ${BOND_AMOUNTS[this.amount]})`;
  }
  async step(m: Model, r: Real) {
    const n = m.nodes[this.node];
    const free = n.bond - n.locked;
    const amount = { zero: 0n, oneWei: 1n, half: free / 2n, free, freePlusOne: free + 1n }[
      BOND_AMOUNTS[this.amount]
    ];
    const expected: Outcome = !n.registered
      ? ERRORS.NotNode
      : amount === 0n
        ? ERRORS.NothingToWithdraw
        : amount > free
          ? ERRORS.InsufficientBond
          : "ok";
    const { outcome } = await attempt(m, r, () =>
      r.precompile.connect(nodeSigners(r)[this.node]).withdrawBond(amount, { gasLimit: TX_GAS }),
    );
    expectOutcome(this, outcome, expected);
    if (outcome === "ok") n.bond -= amount;
  }
}

const REGISTER_AMOUNTS = [0n, 1n, MIN_BOND - 1n, MIN_BOND, parseEther("0.3")] as const;

class RegisterStep extends Step {
  constructor(
    readonly node: number,
    readonly amount: number,
  ) {
    super();
  }
  toString() {
    return `registerNode(node ${this.node}, ${REGISTER_AMOUNTS[this.amount]})`;
  }
  async step(m: Model, r: Real) {
    const n = m.nodes[this.node];
    const value = REGISTER_AMOUNTS[this.amount];
    const expected: Outcome = (n.registered ? value === 0n : value < MIN_BOND) ? ERRORS.BondTooLow : "ok";
    const { outcome } = await attempt(m, r, () =>
      r.precompile.connect(nodeSigners(r)[this.node]).registerNode({ value, gasLimit: TX_GAS }),
    );
    expectOutcome(this, outcome, expected);
    if (outcome !== "ok") return;
    n.registered = true;
    n.bond += value;
  }
}

const JUMPS = [
  1n,
  60n,
  SETTLEMENT_WINDOW - 2n,
  SETTLEMENT_WINDOW - 1n,
  SETTLEMENT_WINDOW,
  ANSWER_WINDOW - 1n,
  ANSWER_WINDOW,
] as const;

class TimeStep extends Step {
  constructor(readonly jump: number) {
    super();
  }
  toString() {
    return `time +${JUMPS[this.jump]} s`;
  }
  async step(m: Model) {
    // No block: the next transaction is mined at `now + jump + 1`.
    m.now += JUMPS[this.jump];
  }
}

const index = (n: number) => fc.nat({ max: n - 1 });
const ref = fc.nat({ max: MAX_REF });
const request = fc
  .tuple(index(CONSUMERS.length), index(RISKS.length), fc.constantFrom("ok", "ok", "ok", "ok", "fee", "gas"))
  .map(([c, risk, flaw]) => new RequestStep(c, risk, flaw !== "fee", flaw === "gas"));
/** Mostly the two bonded nodes; the third answers only once it registers. */
const answer = fc.tuple(fc.constantFrom(0, 0, 1, 1, 2), ref).map(([n, q]) => new AnswerStep(n, q));
const settle = fc.tuple(ref, fc.nat({ max: 2 }), index(4)).map(([q, v, c]) => new SettleStep(q, v > 0, c));
const slash = fc.tuple(ref, index(4)).map(([q, c]) => new SlashStep(q, c));
const jump = index(JUMPS.length).map((j) => new TimeStep(j));
const withdraw = fc.nat({ max: 7 }).map((a) => new WithdrawStep(a));
const expire = fc.tuple(ref, index(4)).map(([q, c]) => new ExpireStep(q, c));
/** fc.commands picks uniformly among these: repeats weight the steps (3 requests are open at the start). */
const COMMANDS = [
  request,
  request,
  answer,
  answer,
  answer,
  settle,
  settle,
  settle,
  slash,
  slash,
  slash,
  expire,
  withdraw,
  withdraw,
  fc.tuple(index(3), index(BOND_AMOUNTS.length)).map(([n, a]) => new WithdrawBondStep(n, a)),
  fc.tuple(index(3), index(REGISTER_AMOUNTS.length)).map(([n, a]) => new RegisterStep(n, a)),
  jump,
  jump,
  jump,
  jump,
];

/** Every transition and every revert the model knows: a run of RUNS histories must reach each. */
const MUST_REACH = [
  "RequestStep ok",
  `RequestStep ${ERRORS.FeeTooLow}`,
  `RequestStep ${ERRORS.CallbackGasLimitTooHigh}`,
  "AnswerStep ok",
  `AnswerStep ${ERRORS.NotNode}`,
  `AnswerStep ${ERRORS.UnknownRequest}`,
  `AnswerStep ${ERRORS.WrongState}`,
  `AnswerStep ${ERRORS.InsufficientBond}`,
  "SettleStep ok",
  `SettleStep ${ERRORS.UnknownRequest}`,
  `SettleStep ${ERRORS.WrongState}`,
  `SettleStep ${ERRORS.DeadlinePassed}`,
  `SettleStep ${ERRORS.InvalidProof}`,
  "SlashStep ok",
  `SlashStep ${ERRORS.UnknownRequest}`,
  `SlashStep ${ERRORS.WrongState}`,
  `SlashStep ${ERRORS.DeadlineNotReached}`,
  "ExpireStep ok",
  `ExpireStep ${ERRORS.UnknownRequest}`,
  `ExpireStep ${ERRORS.WrongState}`,
  `ExpireStep ${ERRORS.DeadlineNotReached}`,
  "WithdrawStep ok",
  `WithdrawStep ${ERRORS.NothingToWithdraw}`,
  `WithdrawStep ${ERRORS.TransferFailed}`,
  "WithdrawBondStep ok",
  `WithdrawBondStep ${ERRORS.NotNode}`,
  `WithdrawBondStep ${ERRORS.NothingToWithdraw}`,
  `WithdrawBondStep ${ERRORS.InsufficientBond}`,
  "RegisterStep ok",
  `RegisterStep ${ERRORS.BondTooLow}`,
];

describe("InferencePrecompile state machine: random histories against a TypeScript model (MockVerifier: tests the state machine and its accounting, not proofs)", function () {
  it(`keeps the accounting, the lifecycle and every outcome as the model predicts over ${RUNS} random histories`, async function () {
    reached.clear();
    const initial = await initialModel(await loadFixture(propertyFixture));
    await fc.assert(
      fc.asyncProperty(fc.commands(COMMANDS, { maxCommands: MAX_COMMANDS, size: "medium" }), async (cmds) => {
        const real = await loadFixture(propertyFixture);
        const model = cloneModel(initial);
        await checkInvariants(model, real);
        await fc.asyncModelRun(() => ({ model, real }), cmds);
      }),
      { numRuns: RUNS, seed: SEED },
    );
    // SIBYL_PROPERTY_STATS=1 prints how often each (step, outcome) pair was reached.
    if (process.env.SIBYL_PROPERTY_STATS) console.log([...reached.entries()].sort());
    expect(
      MUST_REACH.filter((k) => !reached.has(k)),
      "outcomes no history reached",
    ).to.deep.equal([]);
  });
});
