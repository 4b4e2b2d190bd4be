import type { QueueDepth } from "../queue/client.js";

/**
 * What the metrics read from, as small structural interfaces. The node, the precompile, the
 * job queue and the prover workers satisfy them as they are (the payloads are the queue's own
 * types), and tests can stand in with plain objects.
 */

/** Anything that emits events: an `InferenceNode`, a prover worker, a queue's connection watch. */
export interface EventSource {
  on(event: string, listener: (payload: unknown) => void): unknown;
  off(event: string, listener: (payload: unknown) => void): unknown;
}

/** The precompile's bond views (`IInference.nodeOf`, `outstandingOf`); the typechain handle fits. */
export interface BondReader {
  /** `bond` counts the locked part too: free = bond − locked */
  nodeOf(node: string): Promise<{ bond: bigint; locked: bigint }>;
  /** the stakes locked behind the node's answered, unsettled requests */
  outstandingOf(node: string): Promise<bigint>;
}

/** Where the chain gauges read, and for whom. */
export interface ChainSource {
  reader: BondReader;
  /** the node's account; empty until the node has started, and then nothing is read */
  address(): string;
}

/** The queue's depth and Redis status, and the worker's events, as the job queue defines them. */
export type { QueueDepth, RedisStatus } from "../queue/client.js";
export type { WorkerFailedEvent, WorkerProvedEvent, WorkerStalledEvent } from "../queue/worker.js";

export interface QueueDepthSource {
  depth(): Promise<QueueDepth>;
}

/** The queue's Redis connection as it comes and goes: emits `"redis"` with `{ up }`. */
export type RedisStatusSource = EventSource;

/**
 * Subscribes each handler to its event and returns what unsubscribes them all. A handler
 * that throws is contained here: the emitter is the node or a worker, and a metric must never
 * break the job that emitted it.
 */
export function subscribe(
  source: EventSource,
  handlers: Record<string, (payload: never) => void>,
): () => void {
  const bound = Object.entries(handlers).map(([event, handle]) => {
    const listener = (payload: unknown) => {
      try {
        // the payload is taken to be the event's type; one that is not fails inside the handler
        handle(payload as never);
      } catch {
        // a malformed event is not worth failing the emitter for; the metric just misses it
      }
    };
    source.on(event, listener);
    return [event, listener] as const;
  });
  return () => {
    for (const [event, listener] of bound) source.off(event, listener);
  };
}
