import { EventEmitter } from "node:events";
import { Queue, QueueEvents } from "bullmq";

import { ProofError } from "../errors.js";
import { type Logger, consoleLogger } from "../log.js";
import type { CircuitFiles, CircuitInput, ProofResult, Prover, ProverFactory } from "../zk/prover.js";
import {
  DEFAULT_QUEUE_PREFIX,
  type ProofJobData,
  type ProofJobResult,
  proofJobId,
  proofJobOptions,
  proofResultOf,
  queueNameOf,
} from "./jobs.js";
import {
  DEFAULT_REDIS_URL,
  RedisUnavailableError,
  assertDriverInstalled,
  checkedRedisUrl,
  displayRedisUrl,
  errorText,
  hushClients,
  isConnectionError,
  isMissingDriver,
  missingDriverError,
  RedisLink,
  withTimeout,
} from "./redis.js";

/**
 * The node's side of the proving queue. `queueProvers()` gives a `ProverFactory` whose provers
 * put each proof on the Redis queue of its proving key and wait for a worker (`sibyl:prover`)
 * to return it. Redis may go away at any time: the node keeps answering (answers never wait
 * for a proof), is told (a "redis" event and one warning per outage), and no proof request is
 * lost: it is proved in this process meanwhile (`fallback`), or held in memory and enqueued
 * when Redis is back. A periodic check of every outstanding job backs up the completion
 * events, which a reconnecting client can miss, and re-adds a job Redis forgot (a restart
 * without persistence).
 */

export interface QueueProversOptions {
  /** default redis://127.0.0.1:6379 */
  url?: string;
  /** BullMQ key prefix; nodes and workers must use the same (default "sibyl") */
  prefix?: string;
  /** how many proofs the node may ask of one circuit at once (default 8): the workers share them */
  concurrency?: number;
  /** proves in this process while Redis is down (`inProcessProvers`; CLI `--prove-locally`) */
  fallback?: ProverFactory;
  log?: Logger;
  /** attempts of a job whose worker throws (default 3) */
  attempts?: number;
  /** how often Redis and every outstanding job are checked (ms, default 1000) */
  checkMs?: number;
  /** how long a Redis call may take before Redis counts as unreachable (ms, default 5000) */
  timeoutMs?: number;
}

/** Redis came or went: `up` false from the first failed call of an outage, true once it answers again. */
export interface RedisStatus {
  up: boolean;
  /** the URL, without its password */
  url: string;
  error?: string;
}

/** A proof as `QueueProver` returns it: the worker's proof and time, and the whole round trip. */
export interface QueuedProof extends ProofResult {
  jobId: string;
  /** ms from the request to its result; `queueMs - ms` is what the queue added */
  queueMs: number;
  /** made by a worker, or in this process while Redis was down */
  via: "queue" | "local";
}

export interface ProvedThroughQueue {
  circuit: string;
  jobId: string;
  ms: number;
  queueMs: number;
  via: "queue" | "local";
}

/** Job counts summed over the queues of every circuit asked for. */
export interface QueueDepth {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
}

export interface QueueProversEvents {
  redis: [RedisStatus];
  proved: [ProvedThroughQueue];
}

/** One proving key's queue, and the node's subscription to its events. */
interface CircuitQueue {
  circuit: CircuitFiles;
  name: string;
  queue: Queue<ProofJobData, ProofJobResult>;
  events: QueueEvents;
}

interface Waiter {
  at: number;
  resolve(proof: QueuedProof): void;
  reject(error: Error): void;
}

/** A proof asked for and not yet returned. */
interface Request {
  jobId: string;
  /** the circuit asked for (its queue's may be another key with the same first 64 bits) */
  circuit: CircuitFiles;
  cq: CircuitQueue;
  input: CircuitInput;
  /** when it was first asked for: a failed job older than this is a former request's */
  since: number;
  /** held: waiting for Redis; queued: a job was added; local: proving in this process */
  where: "held" | "queued" | "local";
  /** a Redis call about it is in flight (the periodic check skips it) */
  busy: boolean;
  waiters: Waiter[];
}

export const DEFAULT_QUEUE_CONCURRENCY = 8;

/**
 * A prover backed by the queue of one circuit. Made by `QueueProvers.factory`; `concurrency`
 * tells the node it may ask for several proofs at once (the workers prove them in parallel).
 */
export class QueueProver implements Prover {
  constructor(
    private readonly provers: QueueProvers,
    readonly circuit: CircuitFiles,
    readonly queueName: string,
    readonly concurrency: number,
  ) {}

  prove(input: CircuitInput): Promise<QueuedProof> {
    return this.provers.prove(this.circuit, input);
  }

  /** connects the circuit's queue (without failing when Redis is down) and warms the fallback */
  warm(): Promise<void> {
    return this.provers.warm(this.circuit);
  }
}

/**
 * The queue provers of one node: the factory, the Redis status ("redis" events), a "proved"
 * event per proof (with its round trip), `depth()` for metrics and `close()`.
 */
export class QueueProvers extends EventEmitter<QueueProversEvents> {
  readonly url: string;
  readonly prefix: string;
  /** what the node takes as `provers` (a `ProverFactory`) */
  readonly factory: (circuit: CircuitFiles) => QueueProver;
  private readonly shownUrl: string;
  private readonly link: RedisLink;
  private readonly concurrency: number;
  private readonly fallback?: ProverFactory;
  private readonly log: Logger;
  private readonly attempts: number;
  private readonly timeoutMs: number;
  private readonly queues = new Map<string, CircuitQueue>();
  private readonly requests = new Map<string, Request>();
  /** the fallback's prover of each proving key, made on first need */
  private readonly localProvers = new Map<string, Prover>();
  /** undefined until the first call tells */
  private up?: boolean;
  private readonly timer: NodeJS.Timeout;
  private ticking = false;
  private closed = false;
  /** in-process work (the fallback's warm-ups and proofs), one at a time */
  private localTail: Promise<unknown> = Promise.resolve();

  constructor(opts: QueueProversOptions = {}) {
    super();
    assertDriverInstalled();
    this.url = checkedRedisUrl(opts.url ?? DEFAULT_REDIS_URL);
    this.shownUrl = displayRedisUrl(this.url);
    this.link = new RedisLink(this.url);
    this.prefix = opts.prefix ?? DEFAULT_QUEUE_PREFIX;
    this.concurrency = opts.concurrency ?? DEFAULT_QUEUE_CONCURRENCY;
    this.fallback = opts.fallback;
    this.log = opts.log ?? consoleLogger;
    this.attempts = opts.attempts ?? 3;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.factory = (circuit) => {
      if (this.closed)
        throw new ProofError(
          "the proving queue is closed",
          "make a new one with queueProvers() for a new node",
        );
      const cq = this.queueOf(circuit);
      return new QueueProver(this, circuit, cq.name, this.concurrency);
    };
    this.timer = setInterval(() => void this.tick(), opts.checkMs ?? 1000);
    this.timer.unref();
  }

  /** true once Redis answered, false during an outage, undefined before the first call */
  get redisUp(): boolean | undefined {
    return this.up;
  }

  /** Proof requests not yet returned: held for Redis, on the queue, or proving here. */
  get outstanding(): number {
    return this.requests.size;
  }

  /**
   * The proof of `input` with `circuit`'s key. The same input asked for twice (while the first
   * is outstanding, or later while Redis keeps the finished job) is one job and one proof.
   */
  prove(circuit: CircuitFiles, input: CircuitInput): Promise<QueuedProof> {
    if (this.closed)
      return Promise.reject(
        new ProofError("the proving queue is closed", "make a new one with queueProvers() to ask for proofs"),
      );
    const cq = this.queueOf(circuit);
    const jobId = proofJobId(circuit.zkeyHash, input);
    return new Promise<QueuedProof>((resolve, reject) => {
      const waiter = { at: Date.now(), resolve, reject };
      const known = this.requests.get(jobId);
      if (known) {
        known.waiters.push(waiter);
        return;
      }
      const request: Request = {
        jobId,
        circuit,
        cq,
        input,
        since: waiter.at,
        where: "held",
        busy: false,
        waiters: [waiter],
      };
      this.requests.set(jobId, request);
      if (this.up === false) this.whileDown(request);
      else this.run(request, () => this.submit(request));
    });
  }

  /**
   * Starts connecting `circuit`'s queue (an outage is reported, not thrown) and warms the
   * fallback prover, so the first outage does not begin with loading keys.
   */
  async warm(circuit: CircuitFiles): Promise<void> {
    const cq = this.queueOf(circuit);
    void withTimeout(
      Promise.all([cq.queue.waitUntilReady(), cq.events.waitUntilReady()]),
      this.timeoutMs,
      `connecting to ${this.shownUrl}`,
    ).then(
      () => this.markUp(),
      (e: unknown) => this.redisFailed(e),
    );
    if (this.fallback) await this.local(async () => this.localProverOf(circuit).warm?.());
  }

  /** Waiting, active, delayed and failed jobs over the queues of every circuit asked for. */
  async depth(): Promise<QueueDepth> {
    const total: QueueDepth = { waiting: 0, active: 0, delayed: 0, failed: 0 };
    if (this.up === false)
      throw new RedisUnavailableError(
        `cannot count the proving jobs: Redis at ${this.shownUrl} is unreachable`,
        "the queue's depth is unknown until Redis is back",
      );
    try {
      const counts = await Promise.all([...this.queues.values()].map((cq) => this.countsOf(cq)));
      for (const c of counts)
        for (const k of Object.keys(total) as (keyof QueueDepth)[]) total[k] += c[k] ?? 0;
    } catch (e) {
      if (isConnectionError(e)) this.redisFailed(e);
      throw new RedisUnavailableError(
        `cannot count the proving jobs: Redis at ${this.shownUrl} does not answer (${errorText(e)})`,
        "the queue's depth is unknown until Redis is back",
        { cause: e },
      );
    }
    return total;
  }

  /**
   * Stops checking, fails the proofs still outstanding (their callers are told, not left
   * waiting) and closes the connections, also during an outage. Call it after the node has stopped.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.link.stop();
    for (const request of [...this.requests.values()])
      this.fail(
        request,
        new ProofError(
          `the proving queue closed before the proof of job ${request.jobId} came back`,
          "stop the node before closing its queue",
        ),
      );
    // a connection Redis left cannot close cleanly; it ends at its next reconnect attempt (link.stop)
    const patience = Math.min(this.timeoutMs, 2000); // a healthy close takes milliseconds
    await Promise.all(
      [...this.queues.values()].flatMap((cq) =>
        [cq.events, cq.queue].map(async (c) => {
          await hushClients(c);
          await withTimeout(c.close(), patience, "closing the queue").catch(() => undefined);
        }),
      ),
    );
  }

  private queueOf(circuit: CircuitFiles): CircuitQueue {
    const name = queueNameOf(circuit.zkeyHash);
    const known = this.queues.get(name);
    if (known) return known;
    const queue = new Queue<ProofJobData, ProofJobResult>(name, {
      connection: this.link.producer(),
      prefix: this.prefix,
    });
    const events = new QueueEvents(name, { connection: this.link.blocking(), prefix: this.prefix });
    const cq: CircuitQueue = { circuit, name, queue, events };
    // BullMQ reports connection trouble as 'error' events: an unheard one would end the process
    queue.on("error", (e) => this.redisFailed(e));
    events.on("error", (e) => this.redisFailed(e));
    events.on("completed", ({ jobId, returnvalue }) => {
      const request = this.requests.get(jobId);
      if (request?.cq !== cq) return;
      try {
        this.resolve(request, proofResultOf(returnvalue), "queue");
      } catch (e) {
        this.fail(request, e as Error);
      }
    });
    // a final failure (retries are 'retrying' events); the job's record says why
    events.on("failed", ({ jobId }) => {
      const request = this.requests.get(jobId);
      if (request?.cq === cq && request.where !== "local") this.run(request, () => this.sync(request));
    });
    this.queues.set(name, cq);
    return cq;
  }

  /** Adds the request's job (a no-op when it exists), then reads where it stands. */
  private async submit(request: Request): Promise<void> {
    const { cq, circuit, jobId, input } = request;
    await withTimeout(
      cq.queue.add(
        circuit.name,
        { circuit: circuit.name, zkeyHash: circuit.zkeyHash, input },
        proofJobOptions(jobId, this.attempts),
      ),
      this.timeoutMs,
      "adding a proving job",
    );
    if (request.where === "held") request.where = "queued";
    await this.sync(request, true);
  }

  /**
   * Reads the request's job and acts on it: returns a completed proof, reports a failed one,
   * adds the job again if Redis lost it. `justAdded`: the job was added a moment ago, so a
   * missing one is left to the next check rather than added in a loop.
   */
  private async sync(request: Request, justAdded = false): Promise<void> {
    const { cq, jobId } = request;
    const stale = () => this.requests.get(jobId) !== request || request.where === "local";
    // the state first, the record after: a finished job's record no longer changes
    const state = await withTimeout(
      cq.queue.getJobState(jobId),
      this.timeoutMs,
      "reading a proving job's state",
    );
    if (stale()) return;
    if (state === "unknown") {
      if (justAdded) return;
      if (request.where === "queued")
        this.log.warn(
          `proving job ${jobId} of ${request.circuit.name} is gone from Redis (restarted empty?): adding it again`,
        );
      return this.submit(request);
    }
    if (state !== "completed" && state !== "failed") return;
    const job = await withTimeout(cq.queue.getJob(jobId), this.timeoutMs, "reading a proving job");
    if (stale() || !job) return; // removed meanwhile: the next check adds it again
    if (state === "completed") return this.resolve(request, proofResultOf(job.returnvalue), "queue");
    if (job.timestamp < request.since) {
      // an earlier request's failure, kept for inspection (the add was ignored for its id):
      // this request gets attempts of its own
      await withTimeout(job.remove(), this.timeoutMs, "removing a failed proving job");
      return this.submit(request);
    }
    this.fail(
      request,
      new ProofError(
        `proving job ${jobId} of ${request.circuit.name} failed after ${job.attemptsMade} attempt(s): ${job.failedReason}`,
        "see the sibyl:prover workers' output for the failure",
      ),
    );
  }

  /** Every `checkMs`: is Redis there, and where does each outstanding job stand? */
  private async tick(): Promise<void> {
    if (this.ticking || this.closed || this.queues.size === 0) return;
    this.ticking = true;
    try {
      try {
        await Promise.all([...this.queues.values()].map((cq) => this.countsOf(cq)));
      } catch (e) {
        this.redisFailed(e);
        return;
      }
      this.markUp();
      for (const request of [...this.requests.values()])
        if (request.where !== "local" && !request.busy) await this.guarded(request, () => this.sync(request));
    } finally {
      this.ticking = false;
    }
  }

  private countsOf(cq: CircuitQueue): Promise<Partial<QueueDepth>> {
    return withTimeout(
      cq.queue.getJobCounts("waiting", "active", "delayed", "failed"),
      this.timeoutMs,
      "counting proving jobs",
    );
  }

  /** Runs a Redis step for a request in the background; its failure is handled, never thrown. */
  private run(request: Request, step: () => Promise<void>): void {
    void this.guarded(request, step);
  }

  private async guarded(request: Request, step: () => Promise<void>): Promise<void> {
    request.busy = true;
    try {
      await step();
      this.markUp(); // every step starts with a Redis call, and it answered
    } catch (e) {
      if (!isConnectionError(e) && !isMissingDriver(e)) {
        this.fail(
          request,
          new ProofError(`the proving queue refused job ${request.jobId}: ${errorText(e)}`, undefined, {
            cause: e,
          }),
        );
        return;
      }
      this.redisFailed(e);
      if (this.requests.get(request.jobId) === request && request.where !== "local") this.whileDown(request);
    } finally {
      request.busy = false;
    }
  }

  /** A request while Redis is down: proved here with a fallback, else held for the drain. */
  private whileDown(request: Request): void {
    if (!this.fallback) {
      if (request.where !== "queued") request.where = "held";
      return;
    }
    request.where = "local";
    const prover = this.localProverOf(request.circuit);
    this.local(() => prover.prove(request.input)).then(
      (result) => this.resolve(request, result, "local"),
      (e: unknown) => this.fail(request, e as Error),
    );
  }

  /**
   * Runs in-process work one at a time: a proof uses every core, and snarkjs would build a
   * second curve (with threads never released) for two warm-ups at once.
   */
  private local<T>(work: () => Promise<T>): Promise<T> {
    const run = this.localTail.then(work, work);
    this.localTail = run.catch(() => undefined);
    return run;
  }

  private localProverOf(circuit: CircuitFiles): Prover {
    let prover = this.localProvers.get(circuit.zkeyHash);
    if (!prover) {
      prover = (this.fallback as ProverFactory)(circuit);
      this.localProvers.set(circuit.zkeyHash, prover);
    }
    return prover;
  }

  private redisFailed(e: unknown): void {
    if (this.closed) return;
    if (isMissingDriver(e)) {
      if (this.up !== false) this.log.error(missingDriverError(e).message);
    } else if (!isConnectionError(e)) {
      // a command Redis refused, not an outage: say it, the status stays
      this.log.warn(`proving queue at ${this.shownUrl}: ${errorText(e)}`);
      return;
    }
    if (this.up === false) return; // said once per outage
    this.up = false;
    const error = errorText(e);
    const held = [...this.requests.values()].filter((r) => r.where !== "local").length;
    this.log.warn(
      `Redis at ${this.shownUrl} is unreachable (${error}): ` +
        (this.fallback
          ? "proving in this process until it is back"
          : `proof requests wait in memory until it is back (${held} now); answers go on`),
    );
    this.emit("redis", { up: false, url: this.shownUrl, error });
    if (this.fallback)
      for (const request of [...this.requests.values()])
        if (request.where !== "local") this.whileDown(request);
  }

  private markUp(): void {
    if (this.up === true || this.closed) return;
    const wasDown = this.up === false;
    this.up = true;
    if (wasDown) {
      const held = [...this.requests.values()].filter((r) => r.where !== "local").length;
      this.log.info(
        `Redis at ${this.shownUrl} is back` + (held ? `: ${held} proof request(s) go to the queue` : ""),
      );
    }
    this.emit("redis", { up: true, url: this.shownUrl });
  }

  private resolve(request: Request, result: ProofResult, via: "queue" | "local"): void {
    if (this.requests.get(request.jobId) !== request) return;
    this.requests.delete(request.jobId);
    const now = Date.now();
    const proof = { proof: result.proof, publicSignals: result.publicSignals, ms: result.ms };
    for (const w of request.waiters) w.resolve({ ...proof, jobId: request.jobId, queueMs: now - w.at, via });
    this.emit("proved", {
      circuit: request.circuit.name,
      jobId: request.jobId,
      ms: result.ms,
      queueMs: now - request.since,
      via,
    });
  }

  private fail(request: Request, error: Error): void {
    if (this.requests.get(request.jobId) !== request) return;
    this.requests.delete(request.jobId);
    for (const w of request.waiters) w.reject(error);
  }
}

/** The node's queue provers (see `QueueProvers`): `new InferenceNode({ …, provers: q.factory })`. */
export function queueProvers(opts: QueueProversOptions = {}): QueueProvers {
  return new QueueProvers(opts);
}
