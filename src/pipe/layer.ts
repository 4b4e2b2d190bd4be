import { Transaction, ZeroAddress, formatEther, getAddress } from "ethers";

import { coreContract } from "../env.js";
import { type Logger, silentLogger } from "../log.js";
import type { InferenceNode } from "../node/node.js";
import type { PreparedSync, SyncCall } from "../node/sync.js";
import { short } from "../node/rpc.js";
import type { IModelRegistry, InferencePrecompile } from "../../typechain-types/index.js";
import { RpcError, type RpcCall } from "./rpcServer.js";
import { type Previews, type SimulatedCall, type TxFields, previewKey, simulate } from "./simulate.js";

/**
 * The pre-execution layer (Sibyl's PIPE) in front of a chain's JSON-RPC. For each
 * `eth_sendTransaction`, `eth_sendRawTransaction` and `eth_estimateGas` it simulates the
 * transaction, collects the synchronous inferences it asks for (a later round for calls whose
 * input depends on an earlier call's output), has the node prepare their results on-chain,
 * then passes the request on: the mined transaction finds its results waiting. An `eth_call`
 * is answered with the node's outputs in place (previews, nothing on-chain). Everything else,
 * and every transaction that makes no synchronous call, passes through untouched.
 *
 * One sender's requests are handled in order, so its nonces and preparations cannot cross;
 * different senders are served concurrently (the node's own transactions go one at a time).
 * `eth_estimateGas` prepares too: it then measures the real path, and the transaction sent
 * next finds its results prepared (see docs/sync.md for who pays when none is sent).
 */

/** The methods the layer works on; any other passes through. */
export const PIPE_METHODS: ReadonlySet<string> = new Set([
  "eth_sendTransaction",
  "eth_sendRawTransaction",
  "eth_estimateGas",
  "eth_call",
]);

/** How many pre-executions `history` keeps. */
const HISTORY = 100;

export interface PipeOptions {
  /** the precompile, for reads (credit, prepared counts, the registry) */
  precompile: InferencePrecompile;
  /** the node that runs and prepares the models */
  node: InferenceNode;
  /** most simulation rounds of one transaction: each round after the first serves calls whose input depends on an earlier output (default 4) */
  maxRounds?: number;
  log?: Logger;
}

/** What pre-executing one transaction found and did. */
export interface PreExecution {
  calls: SimulatedCall[];
  /** outputs by `previewKey` */
  previews: Previews;
  /** the result of the last simulation round */
  ok: boolean;
  returnData: string;
  rounds: number;
  /** the results prepared on-chain for it (send and estimate only) */
  prepared: PreparedSync[];
}

export class PipeLayer {
  private readonly precompile: InferencePrecompile;
  private readonly node: InferenceNode;
  private readonly maxRounds: number;
  private readonly log: Logger;
  private precompileAddress?: string;
  private readonly senders = new Map<string, Promise<unknown>>();
  /** senders whose request is being passed on to the chain now */
  private readonly forwarding = new Map<string, number>();
  /** the latest pre-executions of transactions and estimates (at most `HISTORY` of them), newest last */
  readonly history: { method: string; from: string; pre: PreExecution | undefined }[] = [];

  constructor(opts: PipeOptions) {
    this.precompile = opts.precompile;
    this.node = opts.node;
    this.maxRounds = opts.maxRounds ?? 4;
    this.log = opts.log ?? silentLogger;
  }

  handles(method: string): boolean {
    return PIPE_METHODS.has(method);
  }

  /** Serves one request; `rpc` reaches the chain itself (not the layer). */
  async handle(method: string, params: unknown[], rpc: RpcCall): Promise<unknown> {
    if (method === "eth_call") return this.call(params, rpc);
    const tx = method === "eth_sendRawTransaction" ? rawFields(params[0]) : txFields(params[0]);
    if (!tx) return rpc(method, params);
    if (method === "eth_estimateGas" && params.length > 2) return rpc(method, params); // caller's own overrides
    const sender = tx.from.toLowerCase();
    // Passing a transaction on can make the chain's client estimate its gas through this layer
    // again (Hardhat's automatic gas does): that estimate belongs to the transaction in flight,
    // whose results are prepared, so it goes straight on instead of waiting behind it.
    if (method === "eth_estimateGas" && this.forwarding.has(sender)) return rpc(method, params);
    return this.inOrder(sender, async () => {
      const pre = await this.preExecute(tx, rpc, true);
      this.history.push({ method, from: tx.from, pre });
      if (this.history.length > HISTORY) this.history.shift();
      this.forwarding.set(sender, (this.forwarding.get(sender) ?? 0) + 1);
      try {
        return await rpc(method, params);
      } finally {
        const left = this.forwarding.get(sender)! - 1;
        if (left === 0) this.forwarding.delete(sender);
        else this.forwarding.set(sender, left);
      }
    });
  }

  /**
   * Pre-executes `tx`: simulation rounds until every synchronous call it makes has a preview;
   * with `prepare`, the results still missing on-chain are prepared. Undefined when the
   * transaction cannot make a synchronous call (no target code, a direct call to the
   * precompile) or makes none.
   */
  async preExecute(tx: TxFields, rpc: RpcCall, prepare: boolean): Promise<PreExecution | undefined> {
    const precompile = await this.precompileAddressOf();
    if (!tx.to || getAddress(tx.to) === precompile) return undefined;
    const targetCode = (await rpc("eth_getCode", [tx.to, "latest"])) as string;
    if (!targetCode || targetCode === "0x") return undefined;

    const previews: Previews = new Map();
    let legacy = false;
    let result = await simulate(rpc, tx, { precompile, targetCode, previews, legacy });
    if (!result.ok) {
      // A contract that decodes OpenGradient's earlier ModelOutput reverts on the current layout.
      const retry = await simulate(rpc, tx, { precompile, targetCode, previews, legacy: true });
      if (retry.ok) [result, legacy] = [retry, true];
    }
    let rounds = 1;
    for (;;) {
      const fresh = result.calls.filter((c) => !c.previewed);
      if (fresh.length === 0) break;
      for (const c of fresh)
        previews.set(previewKey(c.callKey, c.occurrence), this.node.previewSync(c.modelId, c.input));
      if (rounds >= this.maxRounds)
        throw new RpcError(
          -32000,
          `Sibyl: the transaction still asks for new inferences after ${rounds} simulation rounds ` +
            `(each round serves inferences whose input depends on an earlier output); the layer stops at ${this.maxRounds}`,
        );
      result = await simulate(rpc, tx, { precompile, targetCode, previews, legacy });
      rounds++;
    }
    if (result.calls.length === 0) return undefined;
    const pre: PreExecution = { ...result, previews, rounds, prepared: [] };
    if (prepare && result.ok) pre.prepared = await this.prepareMissing(tx.from, result.calls);
    return pre;
  }

  /** `eth_call`: the call's result with the node's outputs in place of its synchronous calls. */
  private async call(params: unknown[], rpc: RpcCall): Promise<unknown> {
    const tx = txFields(params[0], ZeroAddress);
    const block = params[1] ?? "latest";
    if (!tx || params.length > 2 || (block !== "latest" && block !== "pending"))
      return rpc("eth_call", params);
    const pre = await this.preExecute(tx, rpc, false);
    if (!pre) return rpc("eth_call", params);
    if (pre.ok) return pre.returnData;
    throw new RpcError(3, "execution reverted", pre.returnData);
  }

  /** Prepares the calls that have no result waiting on-chain yet, after checking the origin's credit. */
  private async prepareMissing(origin: string, calls: SimulatedCall[]): Promise<PreparedSync[]> {
    const needed = new Map<string, SimulatedCall[]>();
    for (const c of calls) needed.set(c.callKey, [...(needed.get(c.callKey) ?? []), c]);
    const missing: SyncCall[] = [];
    for (const [callKey, group] of needed) {
      const waiting = Number(await this.precompile.preparedCount(callKey));
      for (const c of group.slice(waiting))
        missing.push({
          consumer: c.consumer,
          modelId: c.modelId,
          finality: c.finality,
          legacyLayout: c.legacyLayout,
          input: c.input,
        });
    }
    if (missing.length === 0) return [];
    await this.checkCredit(origin, missing);
    this.log.info(`${short(origin)}: preparing ${missing.length} synchronous inference(s)`);
    return this.node.prepareSync(origin, missing);
  }

  private async checkCredit(origin: string, calls: SyncCall[]): Promise<void> {
    const registry = coreContract<IModelRegistry>(
      "ModelRegistry",
      await this.precompile.registry(),
      this.precompile.runner,
    );
    let cost = 0n;
    for (const c of calls) cost += await registry.feeFor(c.modelId, 0);
    const node = this.node.account;
    const credit = await this.precompile.creditOf(origin, node);
    if (credit < cost)
      // a revert with the precompile's custom error, so that ethers, wallets and chai matchers decode it
      throw new RpcError(
        3,
        `execution reverted: Sibyl: ${origin} has ${formatEther(credit)} ETH of inference credit with node ${node}; this transaction's ` +
          `${calls.length} synchronous inference(s) cost ${formatEther(cost)} ETH. Deposit first: ` +
          `precompile.deposit(${node}, { value }) from ${origin}, or depositFor(${origin}, ${node}) from any account ` +
          `(npx hardhat sibyl:deposit --node ${node})`,
        this.precompile.interface.encodeErrorResult("Inference__InsufficientCredit", [
          origin,
          node,
          credit,
          cost,
        ]),
      );
  }

  /** Runs `job` after every earlier request of `sender`. */
  private inOrder<T>(key: string, job: () => Promise<T>): Promise<T> {
    const previous = this.senders.get(key) ?? Promise.resolve();
    const next = previous.then(job, job);
    const tail = next.catch(() => undefined);
    this.senders.set(key, tail);
    void tail.then(() => {
      if (this.senders.get(key) === tail) this.senders.delete(key);
    });
    return next;
  }

  private async precompileAddressOf(): Promise<string> {
    this.precompileAddress ??= getAddress(await this.precompile.getAddress());
    return this.precompileAddress;
  }
}

/** The fields of an `eth_sendTransaction` / `eth_call` / `eth_estimateGas` object, or undefined. */
function txFields(param: unknown, defaultFrom?: string): TxFields | undefined {
  if (!param || typeof param !== "object") return undefined;
  const t = param as { from?: string; to?: string | null; data?: string; input?: string; value?: string };
  const from = t.from ?? defaultFrom;
  if (!from) return undefined;
  return {
    from: getAddress(from),
    to: t.to ?? undefined,
    data: t.data ?? t.input ?? "0x",
    value: t.value ? BigInt(t.value) : 0n,
  };
}

/** The fields of a signed transaction. */
function rawFields(param: unknown): TxFields | undefined {
  if (typeof param !== "string") return undefined;
  let tx: Transaction;
  try {
    tx = Transaction.from(param);
  } catch {
    return undefined; // the chain says what is wrong with it
  }
  if (!tx.from) return undefined;
  return { from: getAddress(tx.from), to: tx.to ?? undefined, data: tx.data, value: tx.value };
}
