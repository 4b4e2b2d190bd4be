import { type Logger, silentLogger } from "../log.js";
import type { PipeLayer } from "./layer.js";
import { type RpcCall, type RpcServer, startRpcServer } from "./rpcServer.js";

/**
 * The pre-execution layer as a JSON-RPC endpoint of its own, in front of any chain: what
 * `sibyl:proxy` serves. Point a wallet, an ethers script (`new JsonRpcProvider(url)`) or
 * `hardhat --network <a network with that url>` at it instead of at the chain, and a contract's
 * synchronous inference (`infer`, OpenGradient's `runModelInference`) works in the transactions
 * and calls sent there: the layer simulates each, has the node prepare the results it asks for,
 * then passes it on. Every other request goes to `upstream` untouched, and the chain's answers
 * and errors (a revert's data) come back as the chain gave them.
 *
 * The proxy holds no keys: `eth_sendTransaction` works only where the chain itself signs for
 * the sender (the unlocked accounts of `hardhat node`); wallets send `eth_sendRawTransaction`.
 */
export interface PipeProxyOptions {
  /** the chain's JSON-RPC (e.g. `httpUpstream(url)`) */
  upstream: RpcCall;
  layer: PipeLayer;
  /** 0 picks a free port */
  port: number;
  /** default 127.0.0.1 */
  host?: string;
  log?: Logger;
}

/** Starts the proxy; `close()` stops serving (the node behind the layer is the caller's to stop). */
export function startPipeProxy(opts: PipeProxyOptions): Promise<RpcServer> {
  const { upstream, layer } = opts;
  return startRpcServer({
    port: opts.port,
    host: opts.host,
    log: opts.log ?? silentLogger,
    handle: (method, params) =>
      layer.handles(method) ? layer.handle(method, params, upstream) : upstream(method, params),
  });
}
