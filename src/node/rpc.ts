import { RevertError, decodeRevert } from "../protocol/revert.js";
import type { Logger } from "../log.js";

/**
 * Living with an RPC endpoint that fails: reads retried with a growing pause, and the one
 * distinction every retry depends on, a revert (the chain said no: retrying cannot help)
 * versus a delivery failure (the chain may never have heard).
 */

export interface BackoffOptions {
  /** attempts for each chain read before giving up on it */
  readAttempts: number;
  /** first pause between two attempts (ms); it doubles at each attempt up to `maxBackoffMs` */
  backoffMs: number;
  /** longest pause between two attempts (ms) */
  maxBackoffMs: number;
}

export class Retrier {
  constructor(
    private readonly opts: BackoffOptions,
    private readonly log: Logger,
  ) {}

  /** A chain read, retried with a growing pause on RPC failures (a revert is thrown at once). */
  async read<T>(what: string, requestId: string | undefined, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (isRevert(e) || attempt >= this.opts.readAttempts) throw e;
        const ms = this.backoff(attempt);
        this.log.warn(
          `${requestId ? `[${short(requestId)}] ` : ""}reading ${what} failed (${brief(e)}); retry ${attempt} of ${this.opts.readAttempts - 1} in ${ms} ms`,
        );
        await sleep(ms);
      }
    }
  }

  /** The pause before attempt `attempt + 1`: doubling from `base`, capped. */
  backoff(attempt: number, base = this.opts.backoffMs): number {
    return Math.min(base * 2 ** (attempt - 1), this.opts.maxBackoffMs);
  }
}

/** A request or model id as the node's log prints it. */
export function short(id: string): string {
  return `${id.slice(0, 10)}…`;
}

export function sameAddress(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Whether an error is the chain refusing a call or transaction (retrying cannot help), as
 * opposed to the RPC failing to deliver it. ethers reports any JSON-RPC error to an
 * `eth_call` or `eth_estimateGas` as a CALL_EXCEPTION: only one that carries revert data,
 * a reason or a mined receipt is a revert.
 */
export function isRevert(e: unknown): boolean {
  if (e instanceof RevertError) return true;
  const err = e as { code?: unknown; data?: unknown; reason?: unknown; receipt?: unknown; message?: unknown };
  if (err.code === "CALL_EXCEPTION")
    return err.receipt != null || err.reason != null || (typeof err.data === "string" && err.data.length > 2);
  return typeof err.message === "string" && /revert/i.test(err.message);
}

/**
 * The first line of an error, with the JSON-RPC error ethers wraps when it has one; a revert
 * with one of Sibyl's custom errors is named with its arguments instead of its raw data.
 */
export function brief(e: unknown): string {
  const revert = e instanceof RevertError ? undefined : decodeRevert(e);
  if (revert) return `reverted: ${revert.text}`;
  const err = e as {
    shortMessage?: string;
    message?: string;
    error?: { message?: string };
    info?: { error?: { message?: string } };
  };
  let text = err.shortMessage ?? err.message ?? String(e);
  const inner = err.error?.message ?? err.info?.error?.message;
  if (inner && !text.includes(inner)) text = `${text}: ${inner}`;
  const line = text.split("\n")[0];
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}
