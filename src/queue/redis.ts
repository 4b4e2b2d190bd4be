import { createRequire } from "node:module";
import { Queue } from "bullmq";

import { SibylError } from "../errors.js";
import { DEFAULT_QUEUE_PREFIX } from "./jobs.js";
import { displayRedisUrl } from "./url.js";

export { DEFAULT_REDIS_URL, checkedRedisUrl, displayRedisUrl } from "./url.js";

/**
 * Connections to Redis, as BullMQ opens them for Sibyl's queues. BullMQ creates its ioredis
 * clients from these options (it loads the driver itself), so the queue code never holds a raw
 * client; what it needs is that no call waits forever on a dead server, and that a lost server
 * is noticed.
 */

/** Redis cannot be reached, or refuses us: says how to start it or what to fix. */
export class RedisUnavailableError extends SibylError {}

const HOW_TO_START =
  "start Redis (`redis-server`; on Debian/Ubuntu `sudo apt-get install redis-server` runs it as a service) " +
  "or pass --redis redis://<host>:<port>";

/** ioredis's wait before reconnect attempt `times`: quick at first, then every 2 s. */
const reconnectDelay = (times: number): number => Math.min(250 * times, 2000);

/** How long ioredis waits for a TCP connection (and the server's hello) before trying again. */
const CONNECT_TIMEOUT_MS = 5000;

/**
 * The connections of one node's queue client or one worker, as BullMQ opens them from these
 * options. ioredis reconnects forever on its own; `stop()` ends that (BullMQ's close cannot
 * reach a client that is reconnecting), so a process that closes during an outage still exits.
 */
export class RedisLink {
  private stopped = false;

  constructor(readonly url: string) {}

  /** ioredis asks before each reconnect attempt: a delay, or null to give up */
  private readonly retry = (times: number): number | null => (this.stopped ? null : reconnectDelay(times));

  /**
   * The node's side (adding jobs, reading their state): a command sent while Redis is away fails
   * at once (`enableOfflineQueue: false`) instead of waiting in ioredis's queue, so the node finds
   * out and proves in-process or holds the request itself; ioredis keeps reconnecting meanwhile.
   */
  producer() {
    return {
      url: this.url,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy: this.retry,
    };
  }

  /**
   * Connections that block (a worker waiting for jobs, QueueEvents reading the event stream):
   * BullMQ requires `maxRetriesPerRequest: null` there, so a blocking call outlives a reconnect.
   */
  blocking() {
    return {
      url: this.url,
      maxRetriesPerRequest: null,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy: this.retry,
    };
  }

  /** From now on a connection that loses Redis ends at its next attempt instead of retrying. */
  stop(): void {
    this.stopped = true;
  }
}

const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

/** An error that means Redis is not there (as opposed to a command Redis refused). */
export function isConnectionError(e: unknown): boolean {
  if (e instanceof RedisTimeoutError) return true;
  const { code, message = "", name = "" } = (e ?? {}) as { code?: string; message?: string; name?: string };
  if (code && CONNECTION_CODES.has(code)) return true;
  return (
    name === "MaxRetriesPerRequestError" ||
    /Connection is closed|Stream isn't writeable|enableOfflineQueue|max retries per request|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|LOADING/.test(
      message,
    )
  );
}

/** BullMQ could not load ioredis: a broken installation, not an outage. */
export function isMissingDriver(e: unknown): boolean {
  return /could not load the optional 'ioredis' package/.test((e as Error | undefined)?.message ?? "");
}

/** The error to raise for a missing ioredis package. */
export function missingDriverError(cause: unknown): SibylError {
  return new SibylError(
    "Sibyl's Redis client (the ioredis package, which BullMQ loads) is not installed",
    "install it in the project: npm install ioredis",
    { cause },
  );
}

/**
 * Fails at once when ioredis cannot be loaded: BullMQ loads it lazily, at the first connection,
 * where a missing package would look like an outage that never ends.
 */
export function assertDriverInstalled(): void {
  try {
    createRequire(import.meta.url).resolve("ioredis");
  } catch (e) {
    throw missingDriverError(e);
  }
}

/** A Redis call that did not answer in time. */
export class RedisTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer from Redis within ${ms} ms`);
    this.name = "RedisTimeoutError";
  }
}

/** `promise`, or a RedisTimeoutError after `ms` (the promise itself is left to settle on its own). */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisTimeoutError(what, ms)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * BullMQ stops listening to a connection it closes; an ioredis client that is still
 * reconnecting (Redis is down) would then print "[ioredis] Unhandled error event" at each
 * attempt. A no-op listener on the raw clients keeps the shutdown of an outage quiet. (The
 * backend's `client` and `blockingClient` are BullMQ's Redis escape hatch.)
 */
export async function hushClients(owner: { getBackend(): unknown }): Promise<void> {
  type Listenable = { on(event: string, listener: () => void): unknown };
  const backend = owner.getBackend() as {
    client?: Promise<Listenable>;
    blockingClient?: Promise<Listenable>;
  };
  for (const client of [backend.client, backend.blockingClient])
    if (client)
      await withTimeout(client, 100, "reaching a client")
        .then((c) => c.on("error", () => {}))
        .catch(() => undefined);
}

/** A short error text: the message's first line, or the code. */
export function errorText(e: unknown): string {
  const err = e as { message?: string; code?: string } | undefined;
  const message = err?.message?.split("\n")[0];
  return message || err?.code || String(e);
}

/**
 * Connects once to `url` and fails fast with a clear error when Redis is not there, refuses us
 * (wrong password, a server that is not Redis) or the driver is missing. Long-running commands
 * call it before anything else, so a wrong URL is an error, not a silent wait.
 */
export async function checkRedis(
  url: string,
  opts: { timeoutMs?: number; prefix?: string } = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? CONNECT_TIMEOUT_MS;
  const probe = new Queue("probe", {
    prefix: opts.prefix ?? DEFAULT_QUEUE_PREFIX,
    skipMetasUpdate: true, // connects and writes nothing
    connection: {
      url,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: timeoutMs,
      retryStrategy: () => null, // one attempt: the probe reports, it does not wait
    },
  });
  let lastError: unknown;
  probe.on("error", (e) => (lastError ??= e));
  try {
    await withTimeout(probe.waitUntilReady(), timeoutMs + 1000, `connecting to ${displayRedisUrl(url)}`);
  } catch (e) {
    const cause = lastError ?? e;
    if (isMissingDriver(cause)) throw missingDriverError(cause);
    throw new RedisUnavailableError(
      `cannot reach Redis at ${displayRedisUrl(url)}: ${errorText(cause)}`,
      isConnectionError(cause)
        ? HOW_TO_START
        : "check the URL, its password and that the server is Redis 6.2 or newer",
      { cause },
    );
  } finally {
    await withTimeout(probe.close(), 2000, "closing the probe").catch(() =>
      probe.disconnect().catch(() => {}),
    );
  }
}
