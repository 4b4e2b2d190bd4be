import { NodeMetrics, type NodeMetricsOptions } from "./nodeMetrics.js";
import { type MetricsServer, serveMetrics } from "./server.js";
import type { EventSource, QueueDepthSource, RedisStatusSource } from "./sources.js";
import { WorkerMetrics } from "./workerMetrics.js";

/**
 * What `sibyl:node --metrics-port` and `sibyl:prover --metrics-port` start: the metrics of one
 * node or one worker (with the process's default metrics), served for Prometheus.
 */

export interface MetricsEndpoint {
  /** default 127.0.0.1 */
  host?: string;
  /** 0 picks a free port */
  port: number;
}

/**
 * A node's metrics, subscribed before the node starts so that none of its events is missed;
 * with a proving queue, its depth and its Redis connection too.
 */
export async function startNodeMetrics(
  node: EventSource,
  opts: MetricsEndpoint &
    Pick<NodeMetricsOptions, "chain" | "modelLabel"> & { queue?: QueueDepthSource & RedisStatusSource },
): Promise<MetricsServer> {
  const metrics = new NodeMetrics({
    defaultMetrics: true,
    ...(opts.chain ? { chain: opts.chain } : {}),
    ...(opts.modelLabel ? { modelLabel: opts.modelLabel } : {}),
    ...(opts.queue ? { queue: opts.queue } : {}),
  });
  const unsubscribe = [metrics.observe(node), ...(opts.queue ? [metrics.observeRedis(opts.queue)] : [])];
  const server = await serve(metrics.registry, opts, unsubscribe);
  return server;
}

/** A prover worker's metrics. */
export async function startWorkerMetrics(worker: EventSource, opts: MetricsEndpoint): Promise<MetricsServer> {
  const metrics = new WorkerMetrics({ defaultMetrics: true });
  return serve(metrics.registry, opts, [metrics.observe(worker)]);
}

async function serve(
  registry: NodeMetrics["registry"],
  opts: MetricsEndpoint,
  unsubscribe: Array<() => void>,
): Promise<MetricsServer> {
  try {
    const server = await serveMetrics({
      registry,
      port: opts.port,
      ...(opts.host ? { host: opts.host } : {}),
    });
    return {
      url: server.url,
      close: async () => {
        for (const u of unsubscribe) u();
        await server.close();
      },
    };
  } catch (e) {
    for (const u of unsubscribe) u();
    throw e;
  }
}
