import type {
  AnsweredEvent,
  AttestedEvent,
  DeclinedEvent,
  FailedEvent,
  InferenceNode,
  SettledEvent,
} from "./node.js";

/**
 * Records a node's events from the moment it is attached, so a caller can wait for a
 * request's answer or settlement even if it happened before the caller asked.
 */
export class NodeTracker {
  private readonly answered = new Map<string, AnsweredEvent & { at: number }>();
  private readonly settled = new Map<string, SettledEvent & { at: number }>();
  private readonly attested = new Map<string, AttestedEvent & { at: number }>();
  private readonly failed = new Map<string, FailedEvent & { at: number }>();
  private readonly declined = new Map<string, DeclinedEvent & { at: number }>();
  private readonly waiters: Array<() => void> = [];

  constructor(node: InferenceNode) {
    node.on("answered", (e: AnsweredEvent) => this.record(this.answered, e));
    node.on("settled", (e: SettledEvent) => this.record(this.settled, e));
    node.on("attested", (e: AttestedEvent) => this.record(this.attested, e));
    node.on("failed", (e: FailedEvent) => this.record(this.failed, e));
    node.on("declined", (e: DeclinedEvent) => this.record(this.declined, e));
  }

  private record<T extends { requestId: string }>(map: Map<string, T & { at: number }>, e: T): void {
    map.set(e.requestId, { ...e, at: Date.now() });
    for (const w of this.waiters.splice(0)) w();
  }

  /**
   * Resolves with the answer (and the wall-clock time it was seen); rejects if the node failed
   * the request or declined it by its policy (a decline for want of free bond is not final: the
   * node answers once its bond suffices, so the wait goes on).
   */
  waitAnswered(requestId: string, timeoutMs = 60_000): Promise<AnsweredEvent & { at: number }> {
    return this.waitFor(this.answered, requestId, timeoutMs, "answered");
  }

  waitSettled(requestId: string, timeoutMs = 120_000): Promise<SettledEvent & { at: number }> {
    return this.waitFor(this.settled, requestId, timeoutMs, "settled");
  }

  /** Resolves when a TEE-mode request was answered with its enclave's signature (final at once). */
  waitAttested(requestId: string, timeoutMs = 60_000): Promise<AttestedEvent & { at: number }> {
    return this.waitFor(this.attested, requestId, timeoutMs, "answered by its enclave");
  }

  private waitFor<T>(map: Map<string, T>, requestId: string, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`request ${requestId} was not ${what} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const check = (): void => {
        const hit = map.get(requestId);
        const failure = this.failed.get(requestId);
        const declined = this.declined.get(requestId);
        if (hit) {
          clearTimeout(timer);
          resolve(hit);
        } else if (failure) {
          clearTimeout(timer);
          reject(
            new Error(`the node failed request ${requestId} at ${failure.stage}: ${failure.error.message}`),
          );
        } else if (declined && declined.reason !== "bond") {
          clearTimeout(timer);
          reject(new Error(`the node declined request ${requestId}: ${declined.detail}`));
        } else this.waiters.push(check);
      };
      check();
    });
  }
}
