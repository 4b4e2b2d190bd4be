import { type CollectorOptions, DashboardCollector } from "./collector.js";
import { startDashboardServer } from "./server.js";

/**
 * The dashboard in one call: a collector following the installation, and the server showing it.
 * What `sibyl:dashboard` runs; scripts and tests can run it beside their own stack.
 *
 * ```ts
 * const { precompile, registry } = await connectSibyl(env);
 * const dashboard = await startDashboard({ precompile, registry, port: 0 });
 * console.log(dashboard.url);
 * ```
 */

export interface DashboardOptions extends CollectorOptions {
  /** default 7077 (`DEFAULT_DASHBOARD_PORT`); 0 picks a free one */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
}

export interface Dashboard {
  url: string;
  collector: DashboardCollector;
  /** stops the server, then the collector */
  close(): Promise<void>;
}

/** Starts the server, then reads up to the head once (a failing endpoint shows on the page) and polls. */
export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const collector = new DashboardCollector(opts);
  const server = await startDashboardServer({ collector, port: opts.port, host: opts.host });
  await collector.start();
  return {
    url: server.url,
    collector,
    async close() {
      await server.close();
      await collector.stop();
    },
  };
}
