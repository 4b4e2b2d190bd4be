import type { SibylEnv } from "../env.js";
import { connectSibyl } from "../chain/connect.js";
import { type Dashboard, startDashboard } from "../dashboard/start.js";
import { SibylError } from "../errors.js";
import { type Logger, consoleLogger } from "../log.js";
import { sibylAction } from "./action.js";
import { intOption } from "./args.js";

export interface DashboardCliArgs {
  port: number;
  host: string;
  fromBlock?: string;
  pollMs: number;
}

/** What `sibyl:dashboard` served, once it has stopped. */
export interface DashboardRun {
  url: string;
  fromBlock: number | null;
}

/**
 * Starts the dashboard against the installation on the task's network (`connectSibyl` says
 * clearly when there is none) and says where it is. The caller stops it.
 */
export async function openDashboard(env: SibylEnv, args: DashboardCliArgs, log: Logger): Promise<Dashboard> {
  const fromBlock = intOption(args.fromBlock, "--from-block");
  if (fromBlock !== undefined && fromBlock < 0)
    throw new SibylError(`--from-block must be 0 or more, got ${fromBlock}`);
  if (args.pollMs < 50) throw new SibylError(`--poll-ms must be at least 50, got ${args.pollMs}`);
  const { precompile, registry } = await connectSibyl(env);
  const dashboard = await startDashboard({
    precompile,
    registry,
    fromBlock,
    pollMs: args.pollMs,
    port: args.port,
    host: args.host,
    log,
  });
  const { fromBlock: from, head } = dashboard.collector.snapshot();
  log.info(
    `Sibyl dashboard on ${dashboard.url} (network ${env.networkName}, following the precompile at ` +
      `${String(precompile.target)} from block ${from ?? "?"}${head ? `, head ${head.block}` : ""})`,
  );
  return dashboard;
}

/** Resolves at the first SIGINT or SIGTERM (Ctrl-C). */
function untilInterrupted(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}

/**
 * `sibyl:dashboard`: a local live page of the trust gap (src/dashboard), until Ctrl-C. On the
 * in-process network it would show an empty chain, so it is meant for `--network localhost` (or
 * any JSON-RPC chain with Sibyl installed).
 */
export default sibylAction(async (args: DashboardCliArgs, env): Promise<DashboardRun> => {
  const log = consoleLogger;
  const dashboard = await openDashboard(env, args, log);
  log.info("Ctrl-C to stop");
  await untilInterrupted();
  const { fromBlock } = dashboard.collector.snapshot();
  await dashboard.close();
  log.info("dashboard stopped");
  return { url: dashboard.url, fromBlock };
});
