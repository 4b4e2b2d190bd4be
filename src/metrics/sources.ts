/**
 * What the metrics read from, as small structural interfaces. The node, the precompile, the
 * job queue and the prover workers satisfy them as they are; declaring them here keeps this
 * folder free of the queue (which sits above it) and lets tests stand in with plain objects.
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

/** How many proving jobs the queue holds, by state (the job queue exposes exactly this). */
export interface QueueDepth {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
}

export interface QueueDepthSource {
  depth(): Promise<QueueDepth>;
}

/** The queue's Redis connection as it comes and goes: emits `"redis"` with `{ up }`. */
export type RedisStatusSource = EventSource;
export interface RedisStatus {
  up: boolean;
}

/** A prover worker finished a job. */
export interface WorkerProvedEvent {
  circuit: string;
  jobId: string;
  ms: number;
}

/** A prover worker gave up on a job. */
export interface WorkerFailedEvent {
  circuit: string;
  jobId: string;
  error: Error;
}

/** The queue took back a job whose worker stopped renewing its lock (it crashed or hung). */
export interface WorkerStalledEvent {
  jobId: string;
}

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
