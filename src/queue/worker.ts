import { EventEmitter } from "node:events";
import { hostname } from "node:os";
import { type Job, UnrecoverableError, Worker } from "bullmq";

import { SibylError } from "../errors.js";
import { type Logger, consoleLogger, step } from "../log.js";
import { type CircuitFiles, SnarkjsProver } from "../zk/prover.js";
import {
  DEFAULT_QUEUE_PREFIX,
  type ProofJobData,
  type ProofJobResult,
  queueNameOf,
  zkeyHex,
} from "./jobs.js";
import {
  DEFAULT_REDIS_URL,
  RedisLink,
  checkRedis,
  checkedRedisUrl,
  displayRedisUrl,
  errorText,
  hushClients,
  isConnectionError,
  withTimeout,
} from "./redis.js";

/**
 * A proving worker (`sibyl:prover`): takes jobs from the queues of the proving keys it holds
 * and proves them with a warm in-process prover per circuit. Any number of workers, on any
 * machines, serve the same queues. A job's lock is short (10 s by default) and renewed while it
 * proves, so the job of a worker that dies is handed to another within seconds by the stalled
 * check every worker runs.
 */

export interface ProverWorkerOptions {
  /** default redis://127.0.0.1:6379 */
  url?: string;
  /** BullMQ key prefix, as the nodes use it (default "sibyl") */
  prefix?: string;
  /** the circuits whose proving keys this worker holds */
  circuits: CircuitFiles[];
  /** how long a job stays locked without renewal before another worker may take it (ms, default 10 s) */
  lockMs?: number;
  /** how often this worker looks for jobs whose lock expired (ms, default half the lock, at most 5 s) */
  stalledIntervalMs?: number;
  /** how many times a job may lose its worker before it fails (default 2) */
  maxStalledCount?: number;
  /** recorded on each job it takes (`processedBy`), default `<host>#<pid>` */
  name?: string;
  log?: Logger;
}

/** A worker finished a job. */
export interface WorkerProvedEvent {
  circuit: string;
  jobId: string;
  ms: number;
}
/** A worker gave up on a job. */
export interface WorkerFailedEvent {
  circuit: string;
  jobId: string;
  error: Error;
}
/** The queue took back a job whose worker stopped renewing its lock (it crashed or hung). */
export interface WorkerStalledEvent {
  circuit: string;
  jobId: string;
}

export interface ProverWorkerEvents {
  proved: [WorkerProvedEvent];
  failed: [WorkerFailedEvent];
  /** a job whose worker stopped renewing its lock went back to its queue (seen by this worker's check) */
  stalled: [WorkerStalledEvent];
}

export const DEFAULT_LOCK_MS = 10_000;

/** One proof at a time in this process: a proof already uses every core. */
class OneAtATime {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** resolves once the work given so far is done */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}

export class ProverWorker extends EventEmitter<ProverWorkerEvents> {
  /** the queues it serves: queue name → circuit */
  readonly serves: ReadonlyMap<string, CircuitFiles>;
  private readonly log: Logger;
  private readonly shownUrl: string;
  private readonly link: RedisLink;
  private readonly workers: Worker<ProofJobData, ProofJobResult>[] = [];
  private readonly gate = new OneAtATime();
  /** the jobs taken and not yet reported to Redis: close() waits for them */
  private readonly inHand = new Map<string, { reported: Promise<void>; done(): void }>();
  /** Redis is unreachable and this worker said so */
  private down = false;
  private closing?: Promise<void>;

  private constructor(
    private readonly opts: ProverWorkerOptions & { url: string },
    private readonly provers: Map<string, SnarkjsProver>,
  ) {
    super();
    this.log = opts.log ?? consoleLogger;
    this.shownUrl = displayRedisUrl(opts.url);
    this.link = new RedisLink(opts.url);
    this.serves = new Map(opts.circuits.map((c) => [queueNameOf(c.zkeyHash), c]));
  }

  /**
   * Checks Redis (a clear error, not a wait, when it is not there), warms every circuit's
   * prover, then starts taking jobs: a worker never holds a job while it loads a key.
   */
  static async start(opts: ProverWorkerOptions): Promise<ProverWorker> {
    const log = opts.log ?? consoleLogger;
    const url = checkedRedisUrl(opts.url ?? DEFAULT_REDIS_URL);
    const lockMs = opts.lockMs ?? DEFAULT_LOCK_MS;
    if (!Number.isInteger(lockMs) || lockMs < 1000)
      throw new SibylError(`the job lock must be at least 1000 ms, got ${lockMs}`, "e.g. --lock-ms 10000");
    if (opts.circuits.length === 0)
      throw new SibylError(
        "a prover worker needs at least one circuit to serve",
        "pass --models (and --batch)",
      );
    // one queue per key: the same key under two names is served once
    const byQueue = new Map<string, CircuitFiles>();
    for (const c of opts.circuits) {
      const known = byQueue.get(queueNameOf(c.zkeyHash));
      if (known && zkeyHex(known.zkeyHash) !== zkeyHex(c.zkeyHash))
        throw new SibylError(
          `${known.name} and ${c.name} have different proving keys whose hashes share their first 64 bits ` +
            `(queue ${queueNameOf(c.zkeyHash)})`,
          "serve them from two workers",
        );
      if (!known) byQueue.set(queueNameOf(c.zkeyHash), c);
    }

    await checkRedis(url, { prefix: opts.prefix });
    const provers = new Map<string, SnarkjsProver>();
    for (const c of byQueue.values()) {
      const prover = new SnarkjsProver(c.wasmPath, c.zkeyPath);
      await step(log, `warming ${c.name}`, () => prover.warm());
      provers.set(queueNameOf(c.zkeyHash), prover);
    }
    const worker = new ProverWorker({ ...opts, circuits: [...byQueue.values()], url, lockMs }, provers);
    await worker.listen();
    return worker;
  }

  private async listen(): Promise<void> {
    const lockMs = this.opts.lockMs as number;
    const name = this.opts.name ?? `${hostname()}#${process.pid}`;
    for (const [queueName, circuit] of this.serves) {
      const worker = new Worker<ProofJobData, ProofJobResult>(
        queueName,
        (job) => this.process(circuit, job),
        {
          connection: this.link.blocking(),
          prefix: this.opts.prefix ?? DEFAULT_QUEUE_PREFIX,
          name,
          concurrency: 1,
          lockDuration: lockMs,
          stalledInterval: this.opts.stalledIntervalMs ?? Math.min(5000, Math.floor(lockMs / 2)),
          maxStalledCount: this.opts.maxStalledCount ?? 2,
        },
      );
      worker.on("completed", (job, result) => {
        this.reported(job.id);
        this.log.info(`proved ${circuit.name} job ${job.id} in ${result.ms} ms`);
        this.emit("proved", { circuit: circuit.name, jobId: job.id as string, ms: result.ms });
      });
      worker.on("failed", (job, error) => {
        this.reported(job?.id);
        this.log.warn(`${circuit.name} job ${job?.id ?? "(removed)"} failed: ${error.message}`);
        this.emit("failed", { circuit: circuit.name, jobId: job?.id ?? "", error });
      });
      worker.on("stalled", (jobId) => {
        this.log.warn(
          `${circuit.name} job ${jobId} lost its worker (its lock was not renewed in time): back in the queue`,
        );
        this.emit("stalled", { circuit: circuit.name, jobId });
      });
      // connection trouble arrives as 'error' events: heard here, said once per outage
      worker.on("error", (e) => this.redisError(e));
      worker.getBackend().on("ready", () => this.redisBack());
      this.workers.push(worker);
    }
    await Promise.all(this.workers.map((w) => w.waitUntilReady()));
    this.log.info(
      `prover ready: ${[...this.serves].map(([q, c]) => `${c.name} (queue ${q})`).join(", ")} on ${this.shownUrl}`,
    );
  }

  private async process(
    circuit: CircuitFiles,
    job: Job<ProofJobData, ProofJobResult>,
  ): Promise<ProofJobResult> {
    const asked = job.data.zkeyHash;
    // the queue is named after 64 bits of the key: the full hash must match too, or the proof
    // would be made with another key than the one its requester will check it against
    if (typeof asked !== "string" || asked.toLowerCase() !== circuit.zkeyHash.toLowerCase())
      throw new UnrecoverableError(
        `refused: job ${job.id} asks for proving key ${asked}, this worker holds ${circuit.zkeyHash} (${circuit.name})`,
      );
    if (job.id) {
      let done = () => {};
      const reported = new Promise<void>((resolve) => (done = resolve));
      this.inHand.set(job.id, { reported, done });
    }
    const prover = this.provers.get(queueNameOf(circuit.zkeyHash)) as SnarkjsProver;
    return this.gate.run(async () => {
      const again =
        job.attemptsStarted > 1
          ? ` (start #${job.attemptsStarted}, lost its worker ${job.stalledCounter}×)`
          : "";
      this.log.info(`proving ${circuit.name} job ${job.id}${again}…`);
      return prover.prove(job.data.input);
    });
  }

  /** BullMQ told Redis how the job ended (its 'completed' and 'failed' events come after) */
  private reported(jobId: string | undefined): void {
    if (jobId === undefined) return;
    this.inHand.get(jobId)?.done();
    this.inHand.delete(jobId);
  }

  private redisError(e: Error): void {
    if (!isConnectionError(e)) {
      this.log.warn(`prover worker: ${errorText(e)}`);
      return;
    }
    if (this.down || this.closing) return;
    this.down = true;
    this.log.warn(`Redis at ${this.shownUrl} is unreachable (${errorText(e)}): reconnecting…`);
  }

  private redisBack(): void {
    if (!this.down) return;
    this.down = false;
    this.log.info(`Redis at ${this.shownUrl} is back: taking jobs again`);
  }

  /**
   * Stops taking jobs, finishes the proof in hand and reports it, then disconnects. With Redis
   * gone the proof cannot be reported: after the proof and one lock's time it stops anyway, and
   * the job goes to another worker once its lock expires. (BullMQ's own graceful close waits for
   * Redis without end, so the worker closes with `force` once its job is accounted for.)
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(this.workers.map((w) => w.pause(true).catch(() => undefined)));
      const reported = Promise.all([...this.inHand.values()].map((job) => job.reported));
      let timer: NodeJS.Timeout | undefined;
      let over = false;
      const patience = this.gate
        .idle()
        .then(() => (over ? undefined : new Promise((r) => (timer = setTimeout(r, this.opts.lockMs)))));
      const inTime = await Promise.race([reported.then(() => true), patience.then(() => false)]);
      over = true;
      clearTimeout(timer);
      if (!inTime)
        this.log.warn(
          `Redis at ${this.shownUrl} did not take the last result: its job goes to another worker when its lock expires`,
        );
      this.link.stop(); // a connection that lost Redis ends instead of reconnecting
      await Promise.all(this.workers.map(hushClients));
      const closed = Promise.all(this.workers.map((w) => w.close(true).catch(() => undefined)));
      await withTimeout(closed, 5000, "closing the worker").catch(() => undefined);
    })();
    return this.closing;
  }
}
