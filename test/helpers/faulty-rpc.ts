import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A fault-injecting JSON-RPC proxy for tests: an HTTP server on 127.0.0.1 that forwards
 * every request to an upstream JSON-RPC endpoint (also on 127.0.0.1) and, following the
 * rules a test sets, breaks some calls on the way:
 *
 * - `http-500`: answers the whole HTTP request with a 500, forwarding nothing;
 * - `rpc-error`: answers that call with a JSON-RPC error, forwarding nothing of it;
 * - `drop-request`: closes the connection before anything is forwarded;
 * - `drop-response`: forwards the request (it takes effect upstream), then closes the
 *   connection instead of answering: the caller never learns the outcome;
 * - `hold`: neither forwards nor answers, until the caller gives up or the proxy closes.
 *
 * It can also duplicate, reverse and re-deliver `eth_getLogs` results, and switch to another
 * upstream while it runs (`switchUpstream`: a chain restarted or replaced behind one URL).
 * JSON-RPC batches (arrays, as ethers sends them) are handled call by call; a fault that
 * concerns the connection (`http-500`, `drop-*`, `hold`) hits the whole batch.
 */

export interface RpcCall {
  jsonrpc?: string;
  id?: number | string | null;
  method: string;
  params?: unknown[];
}

export type Fault = "http-500" | "rpc-error" | "drop-request" | "drop-response" | "hold";

export interface FaultRule {
  /** the JSON-RPC methods the rule looks at (default: all) */
  methods?: readonly string[];
  /**
   * Which of those calls to break; `n` counts, from 1, the calls the rule has looked at
   * (default: every one).
   */
  when?: (call: RpcCall, n: number) => boolean;
  fault: Fault;
}

export interface LogsMangling {
  /** every log appears twice */
  duplicate?: boolean;
  /** logs come newest first */
  reverse?: boolean;
  /** the logs of the previous query with the same address and topics are delivered again */
  replayPrevious?: boolean;
}

export interface InjectedFault {
  method: string;
  fault: Fault;
  params: unknown[];
}

/** The error an injected `rpc-error` carries (a generic "internal error", not a revert). */
export const INJECTED_ERROR = { code: -32603, message: "injected fault: internal error" };

const UPSTREAM_TIMEOUT_MS = 30_000;
const MAX_BODY_BYTES = 16 * 1024 * 1024;

type RpcResponse = { id?: unknown; result?: unknown; error?: unknown };

export class FaultyRpc {
  /** the rules, in order: the first one whose `when` holds decides a call's fault */
  rules: FaultRule[] = [];
  logs: LogsMangling = {};
  /** every fault injected so far */
  readonly injected: InjectedFault[] = [];
  /** calls received so far, by method */
  readonly calls = new Map<string, number>();

  private readonly seenByRule = new Map<FaultRule, number>();
  private readonly previousLogs = new Map<string, unknown[]>();
  private readonly held: ServerResponse[] = [];
  private readonly heldWaiters: Array<() => void> = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private upstream: string,
  ) {}

  /** Starts a proxy in front of `upstream` on a free port of 127.0.0.1. */
  static async start(upstream: string): Promise<FaultyRpc> {
    checkUpstream(upstream);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const proxy = new FaultyRpc(server, `http://127.0.0.1:${port}`, upstream);
    server.on("request", (req, res) => {
      proxy.handle(req, res).catch((e: Error) => {
        if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
        res.end(`proxy error: ${e.message}`);
      });
    });
    return proxy;
  }

  /** From now on, forwards every call to `upstream` (calls already forwarded finish where they went). */
  switchUpstream(upstream: string): void {
    checkUpstream(upstream);
    this.upstream = upstream;
  }

  /** How many calls were held so far. */
  get heldCount(): number {
    return this.held.length;
  }

  /** Resolves once at least `count` requests are held; rejects after `timeoutMs`. */
  waitForHeld(count = 1, timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${count} held call(s) within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const check = (): void => {
        if (this.held.length >= count) {
          clearTimeout(timer);
          resolve();
        } else this.heldWaiters.push(check);
      };
      check();
    });
  }

  /** Stops the proxy, closing every connection (held ones included). */
  async close(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private faultFor(call: RpcCall): Fault | undefined {
    this.calls.set(call.method, (this.calls.get(call.method) ?? 0) + 1);
    let fault: Fault | undefined;
    for (const rule of this.rules) {
      if (rule.methods && !rule.methods.includes(call.method)) continue;
      const n = (this.seenByRule.get(rule) ?? 0) + 1;
      this.seenByRule.set(rule, n);
      if (fault === undefined && (rule.when?.(call, n) ?? true)) fault = rule.fault;
    }
    if (fault) this.injected.push({ method: call.method, fault, params: call.params ?? [] });
    return fault;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return this.reply(res, await this.forward(body)); // not JSON: the upstream says why
    }
    const batch = Array.isArray(parsed);
    const calls = (batch ? parsed : [parsed]) as RpcCall[];
    const faults = calls.map((c) => this.faultFor(c));

    if (faults.includes("hold")) {
      this.held.push(res);
      for (const w of this.heldWaiters.splice(0)) w();
      return;
    }
    if (faults.includes("drop-request")) return void res.destroy();
    if (faults.includes("http-500")) {
      res.writeHead(500, { "content-type": "text/plain" });
      return void res.end("injected fault: internal server error");
    }

    const forwarded = calls.filter((_, i) => faults[i] !== "rpc-error");
    const upstream = forwarded.length === 0 ? [] : await this.forwardCalls(forwarded);
    if (faults.includes("drop-response")) return void res.destroy();

    const byId = new Map(upstream.map((r) => [JSON.stringify(r.id), r]));
    const responses = calls.map((call, i): RpcResponse => {
      if (faults[i] === "rpc-error")
        return { jsonrpc: "2.0", id: call.id, error: INJECTED_ERROR } as RpcResponse;
      const response = byId.get(JSON.stringify(call.id)) ?? {
        id: call.id,
        error: { code: -32603, message: "no upstream response" },
      };
      return call.method === "eth_getLogs" ? this.mangleLogs(call, response) : response;
    });
    this.reply(res, JSON.stringify(batch ? responses : responses[0]));
  }

  private mangleLogs(call: RpcCall, response: RpcResponse): RpcResponse {
    if (!Array.isArray(response.result)) return response;
    const filter = (call.params?.[0] ?? {}) as { address?: unknown; topics?: unknown };
    const key = JSON.stringify([filter.address, filter.topics]);
    let logs: unknown[] = response.result;
    const previous = this.previousLogs.get(key) ?? [];
    this.previousLogs.set(key, logs);
    if (this.logs.replayPrevious) logs = [...previous, ...logs];
    if (this.logs.duplicate) logs = logs.flatMap((l) => [l, l]);
    if (this.logs.reverse) logs = [...logs].reverse();
    return { ...response, result: logs };
  }

  private async forwardCalls(calls: RpcCall[]): Promise<RpcResponse[]> {
    const text = await this.forward(JSON.stringify(calls));
    const parsed = JSON.parse(text) as RpcResponse | RpcResponse[];
    return Array.isArray(parsed) ? parsed : [parsed];
  }

  private async forward(body: string): Promise<string> {
    const response = await fetch(this.upstream, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS),
    });
    return response.text();
  }

  private reply(res: ServerResponse, text: string): void {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(text);
  }
}

function checkUpstream(upstream: string): void {
  if (!/^http:\/\/127\.0\.0\.1:\d+\/?$/.test(upstream))
    throw new Error(`the proxy only forwards to http://127.0.0.1:<port>, not ${upstream}`);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error("request body too large"));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
