import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

import { SibylError } from "../errors.js";

/**
 * The endpoint Prometheus scrapes: `GET /metrics` answers the registry's exposition text,
 * anything else is a 404. It listens on the loopback interface unless told otherwise, since
 * the metrics name the node's account and its bond.
 */

export interface MetricsServerOptions {
  registry: Registry;
  /** 0 picks a free port (read it back from `url`) */
  port: number;
  /** default 127.0.0.1; "0.0.0.0" to be scraped from other machines */
  host?: string;
}

export interface MetricsServer {
  /** where the metrics are, e.g. http://127.0.0.1:9464/metrics */
  url: string;
  close(): Promise<void>;
}

export const METRICS_PATH = "/metrics";

export async function serveMetrics(opts: MetricsServerOptions): Promise<MetricsServer> {
  const host = opts.host ?? "127.0.0.1";
  const server = createServer((req, res) => void answer(opts.registry, req, res));
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        new SibylError(
          `the metrics server could not listen on ${host}:${opts.port}: ${e.message}`,
          e.code === "EADDRINUSE" ? "choose another metrics port, or 0 for a free one" : undefined,
          { cause: e },
        ),
      ),
    );
    server.listen(opts.port, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}${METRICS_PATH}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        // a scraper's keep-alive connection would otherwise hold the server open
        server.closeAllConnections();
      }),
  };
}

async function answer(registry: Registry, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (path !== METRICS_PATH) return reply(res, 404, `not found: the metrics are at ${METRICS_PATH}\n`);
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("Allow", "GET, HEAD");
    return reply(res, 405, "method not allowed\n");
  }
  try {
    const text = await registry.metrics();
    res.writeHead(200, { "Content-Type": registry.contentType });
    res.end(req.method === "HEAD" ? undefined : text);
  } catch (e) {
    // a collector that throws (not ours: they contain their failures) must not hang the scrape
    reply(res, 500, `collecting the metrics failed: ${(e as Error).message}\n`);
  }
}

function reply(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8" });
  res.end(text);
}
