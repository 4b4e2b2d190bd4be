import { type Logger, consoleLogger } from "../log.js";
import { builtModelOf } from "../pipeline/finalizeCeremony.js";
import { circuitsOf } from "../queue/circuits.js";
import { DEFAULT_REDIS_URL, checkedRedisUrl } from "../queue/redis.js";
import { ProverWorker } from "../queue/worker.js";
import { releaseProverThreads } from "../zk/prover.js";
import { sibylAction } from "./action.js";
import { batchSizesOption, intOption, listOption, modelFileOption } from "./args.js";
import { metricsEndpointFromCli, untilInterrupted } from "./node.js";
import { type MetricsEndpoint, startWorkerMetrics } from "../metrics/start.js";

export interface ProverOptions {
  /** Redis URL (default redis://127.0.0.1:6379) */
  url: string;
  /** model files (built with sibyl:build) */
  models: string[];
  /** also serve these batch circuits of each model (built with sibyl:build --batch) */
  batchSizes?: number[];
  /** job lock (ms): how soon a dead worker's job goes to another */
  lockMs?: number;
  /** serve Prometheus metrics here */
  metrics?: MetricsEndpoint;
  log?: Logger;
}

/** What a stopped `sibyl:prover` served. */
export interface ProverRun {
  circuits: string[];
  /** jobs it proved */
  proved: number;
}

/**
 * Loads the builds, checks Redis, warms every circuit and starts taking jobs (`ProverWorker`).
 * A missing build or an unreachable Redis fails here, before anything waits.
 */
export async function startProver(opts: ProverOptions): Promise<ProverWorker> {
  const circuits = circuitsOf(opts.models.map(builtModelOf), opts.batchSizes ?? []);
  return ProverWorker.start({
    url: opts.url,
    circuits,
    log: opts.log ?? consoleLogger,
    ...(opts.lockMs === undefined ? {} : { lockMs: opts.lockMs }),
  });
}

/** `sibyl:prover`: proves queued jobs until Ctrl-C, then finishes the job in hand and stops. */
export async function runProver(opts: ProverOptions): Promise<ProverRun> {
  const log = opts.log ?? consoleLogger;
  const worker = await startProver(opts);
  let proved = 0;
  worker.on("proved", () => proved++);
  const metrics = opts.metrics ? await startWorkerMetrics(worker, opts.metrics) : undefined;
  if (metrics) log.info(`metrics at ${metrics.url}`);
  log.info("Ctrl-C to stop");
  await untilInterrupted(log);
  await worker.close();
  await metrics?.close();
  await releaseProverThreads();
  return { circuits: [...worker.serves.values()].map((c) => c.name), proved };
}

export interface ProverCliArgs {
  redis: string;
  models: string;
  batch?: string;
  lockMs?: string;
  metricsPort?: string;
  metricsHost?: string;
}

/** `sibyl:prover`'s CLI options, checked. */
export function proverOptionsFromCli(args: ProverCliArgs): ProverOptions {
  return {
    url: checkedRedisUrl(args.redis ?? DEFAULT_REDIS_URL),
    models: listOption(args.models, "--models").map((m) => modelFileOption(m, "--models")),
    batchSizes: batchSizesOption(args.batch),
    lockMs: intOption(args.lockMs, "--lock-ms"),
    ...metricsEndpointFromCli(args),
  };
}

/** `sibyl:prover`: no chain, only Redis and the builds. */
export default sibylAction(
  async (args: ProverCliArgs): Promise<ProverRun> => runProver(proverOptionsFromCli(args)),
  { chain: false },
);
