/**
 * The transport of `sibyl:proxy`: a JSON-RPC 2.0 server over HTTP and a client for the upstream
 * chain. It knows nothing of Ethereum; the caller's `handle` decides what each method does.
 *
 * One rule runs through both halves: a JSON-RPC error is data, not a failure of the transport.
 * An upstream error object (a revert's code, message and data) is carried through unchanged, so
 * a wallet or ethers behind the proxy decodes a revert exactly as it would against the chain.
 */
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";

import { SibylError } from "../errors.js";

/** One JSON-RPC call, answered with its `result` or rejected with an RpcError. */
export type RpcCall = (method: string, params: unknown[]) => Promise<unknown>;

/** A JSON-RPC error object; the server sends `code`, `message` and `data` exactly as they are. */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = "RpcError";
  }

  /** The wire form; `data` is left out when absent, as the spec allows. */
  toJSON(): { code: number; message: string; data?: unknown } {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }
}

const PARSE_ERROR = -32700;
const INVALID_REQUEST = -32600;
const INVALID_PARAMS = -32602;
const INTERNAL_ERROR = -32603;

/**
 * A client for `url`. Upstream errors reject as RpcError verbatim; an unreachable or silent
 * upstream rejects as -32603 naming the URL, so the user behind the proxy learns which chain to
 * start rather than seeing a bare "fetch failed".
 */
export function httpUpstream(
  url: string,
  opts: { timeoutMs?: number; headers?: Record<string, string> } = {},
): RpcCall {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let nextId = 1;
  return async (method, params) => {
    const id = nextId++;
    let status: number;
    let text: string;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { ...opts.headers, "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id, method, params }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = response.status;
      text = await response.text();
    } catch (err) {
      const timedOut = err instanceof Error && err.name === "TimeoutError";
      const reason = timedOut ? `no answer within ${timeoutMs} ms` : describeFetchFailure(err);
      throw new RpcError(
        INTERNAL_ERROR,
        `upstream ${url} unreachable (${reason}) on ${method}: is the chain running there (e.g. \`npx hardhat node\`) and is the URL right?`,
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (isObject(body) && isObject(body.error)) {
      const { code, message, data } = body.error;
      throw new RpcError(typeof code === "number" ? code : INTERNAL_ERROR, String(message ?? ""), data);
    }
    // Some providers answer 4xx/5xx with a JSON-RPC error (handled above); anything else is not JSON-RPC.
    if (!isObject(body) || !("result" in body) || status < 200 || status >= 300)
      throw new RpcError(
        INTERNAL_ERROR,
        `upstream ${url} answered ${method} with HTTP ${status} and no JSON-RPC result: ${text.slice(0, 200)}`,
      );
    return body.result;
  };
}

/** fetch hides the socket error in `cause`; that is the part worth showing (ECONNREFUSED…). */
function describeFetchFailure(err: unknown): string {
  const cause = err instanceof Error ? err.cause : undefined;
  if (cause instanceof Error) return cause.message || ((cause as { code?: string }).code ?? String(cause));
  return err instanceof Error ? err.message : String(err);
}

export interface RpcServerOptions {
  port: number;
  /** Defaults to 127.0.0.1: the proxy holds no keys, but there is no reason to face the network. */
  host?: string;
  handle: RpcCall;
  log?: { info(m: string): void; warn(m: string): void };
}

export interface RpcServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Large enough for any contract deployment or batch a wallet sends; small enough to refuse floods. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;
/** How long close() lets in-flight requests finish before cutting their sockets. */
const CLOSE_GRACE_MS = 1_000;

/** Serves `handle` over JSON-RPC/HTTP. Requests, and the entries of a batch, run concurrently. */
export async function startRpcServer(opts: RpcServerOptions): Promise<RpcServer> {
  const host = opts.host ?? "127.0.0.1";
  let closing = false;

  const server = createServer((req, res) => {
    // Browser wallets and dapps call from another origin; the proxy adds no credentials to guard.
    res.setHeader("Access-Control-Allow-Origin", "*");
    res.setHeader("Access-Control-Allow-Methods", "POST, GET, OPTIONS");
    res.setHeader(
      "Access-Control-Allow-Headers",
      req.headers["access-control-request-headers"] ?? "Content-Type",
    );
    res.setHeader("Access-Control-Max-Age", "86400");
    if (closing) res.shouldKeepAlive = false;

    if (req.method === "OPTIONS") return void res.writeHead(204).end();
    if (req.method === "GET") {
      res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" });
      return void res.end("Sibyl JSON-RPC endpoint: POST JSON-RPC 2.0 requests here.\n");
    }
    if (req.method !== "POST") {
      res.writeHead(405, { Allow: "POST, GET, OPTIONS", "Content-Type": "text/plain; charset=utf-8" });
      return void res.end(`method ${req.method} not allowed: send JSON-RPC with POST\n`);
    }
    readBody(req)
      .then((body) => (body === undefined ? tooLarge(res) : answer(body, opts, res)))
      .catch((err) => {
        // Only the socket can fail here (the client went away mid-request); nobody is left to answer.
        opts.log?.warn(`dropped a request: ${err instanceof Error ? err.message : String(err)}`);
        res.destroy();
      });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRINUSE"
          ? new SibylError(
              `port ${opts.port} on ${host} is already in use`,
              "stop the other process or pick another port",
              { cause: err },
            )
          : err,
      ),
    );
    server.listen(opts.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  opts.log?.info(`JSON-RPC listening on ${url}`);

  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        closing = true;
        server.close((err) => (err ? reject(err) : resolve()));
        // Idle keep-alive sockets would hold the process open; busy ones get a moment to answer.
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
      }),
  };
}

/** The body, or undefined once it passes MAX_BODY_BYTES (the rest is not read). */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  if (Number(req.headers["content-length"] ?? 0) > MAX_BODY_BYTES) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners("data");
        req.pause();
        resolve(undefined);
      } else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function tooLarge(res: ServerResponse): void {
  // Closing the connection is the only way to stop a client that is still uploading.
  res.shouldKeepAlive = false;
  send(
    res,
    413,
    envelope(null, { code: INVALID_REQUEST, message: `request body over ${MAX_BODY_BYTES} bytes` }),
  );
}

async function answer(body: string, opts: RpcServerOptions, res: ServerResponse): Promise<void> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return send(res, 200, envelope(null, { code: PARSE_ERROR, message: "parse error: body is not JSON" }));
  }
  if (!Array.isArray(parsed)) {
    const single = await dispatch(parsed, opts);
    return single === undefined ? send(res, 204) : send(res, 200, single);
  }
  if (parsed.length === 0)
    return send(res, 200, envelope(null, { code: INVALID_REQUEST, message: "invalid request: empty batch" }));
  const entries = await Promise.all(parsed.map((request) => dispatch(request, opts)));
  const answered = entries.filter((e): e is string => e !== undefined);
  // A batch of notifications only gets nothing back, as the spec says.
  return answered.length === 0 ? send(res, 204) : send(res, 200, `[${answered.join(",")}]`);
}

/** One request's serialized response, or undefined for a notification. Never rejects. */
async function dispatch(request: unknown, opts: RpcServerOptions): Promise<string | undefined> {
  const invalid = (message: string) => envelope(validId(request) ?? null, { code: INVALID_REQUEST, message });
  if (!isObject(request)) return invalid("invalid request: not an object");
  const id = validId(request);
  if ("id" in request && id === undefined)
    return invalid("invalid request: id must be a string, number or null");
  if (request.jsonrpc !== "2.0") return invalid('invalid request: jsonrpc must be "2.0"');
  if (typeof request.method !== "string") return invalid("invalid request: method must be a string");
  const params = request.params ?? [];
  if (!Array.isArray(params))
    return envelope(id ?? null, { code: INVALID_PARAMS, message: "invalid params: params must be an array" });

  const isNotification = !("id" in request);
  let outcome: { result: unknown } | { error: object };
  try {
    outcome = { result: (await opts.handle(request.method, params)) ?? null };
  } catch (err) {
    if (!(err instanceof RpcError) || isNotification)
      opts.log?.warn(`${request.method} failed: ${err instanceof Error ? err.message : String(err)}`);
    outcome = { error: toErrorObject(err) };
  }
  if (isNotification) return undefined;
  try {
    return JSON.stringify({ jsonrpc: "2.0", id, ...outcome });
  } catch (err) {
    // A result JSON cannot carry (a bigint, a cycle) is the handler's bug; it must not sink the batch.
    return envelope(id ?? null, toErrorObject(err));
  }
}

function toErrorObject(err: unknown): { code: number; message: string; data?: unknown } {
  if (err instanceof RpcError) return err.toJSON();
  return { code: INTERNAL_ERROR, message: err instanceof Error ? err.message : String(err) };
}

function envelope(id: string | number | null, error: { code: number; message: string; data?: unknown }) {
  return JSON.stringify({ jsonrpc: "2.0", id, error });
}

/** The request's id if it is one JSON-RPC allows; undefined if absent or malformed. */
function validId(request: unknown): string | number | null | undefined {
  if (!isObject(request)) return undefined;
  const { id } = request;
  return typeof id === "string" || typeof id === "number" || id === null ? id : undefined;
}

function send(res: ServerResponse, status: number, json?: string): void {
  if (json === undefined) return void res.writeHead(status).end();
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(json) });
  res.end(json);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
