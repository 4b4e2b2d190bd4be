import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";

import { SibylError } from "../errors.js";
import type { ChangeKind, DashboardCollector } from "./collector.js";
import { dashboardPage } from "./page.js";

/**
 * The dashboard's HTTP side, on `node:http` alone: `GET /` the page, `GET /api/state` the
 * snapshot as JSON, `GET /api/events` a Server-Sent Events stream (a `snapshot` event with the
 * whole picture when it changes, a `status` event when only the head or the endpoint's health
 * does). SSE rather than WebSockets: one-way is all the page needs, browsers reconnect by
 * themselves, and it needs no dependency. It binds 127.0.0.1 unless told otherwise: the page
 * shows the chain's accounts and amounts to whoever can reach it.
 */

/** The port `sibyl:dashboard` serves on unless told otherwise. */
export const DEFAULT_DASHBOARD_PORT = 7077;

export interface DashboardServerOptions {
  collector: DashboardCollector;
  /** default `DEFAULT_DASHBOARD_PORT`; 0 picks a free one */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** how often an idle event stream gets a comment, so proxies and browsers keep it open (default 15 s) */
  heartbeatMs?: number;
}

export interface DashboardServer {
  /** where the page is, e.g. http://127.0.0.1:7077/ */
  url: string;
  /** ends the event streams and stops listening */
  close(): Promise<void>;
}

/** The page allows nothing from elsewhere: its own inline script and style, and requests to itself. */
const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "content-security-policy":
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
  "x-content-type-options": "nosniff",
};

export async function startDashboardServer(opts: DashboardServerOptions): Promise<DashboardServer> {
  const { collector } = opts;
  const host = opts.host ?? "127.0.0.1";
  const streams = new Set<ServerResponse>();
  const page = dashboardPage();

  const server = createServer((req, res) => {
    try {
      route(req, res);
    } catch (e) {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(`dashboard error: ${(e as Error).message}\n`);
    }
  });

  function route(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? "/", "http://dashboard").pathname;
    if (req.method !== "GET") {
      res.writeHead(405, { allow: "GET", "content-type": "text/plain" }).end("GET only\n");
    } else if (path === "/" || path === "/index.html") {
      res.writeHead(200, PAGE_HEADERS).end(page);
    } else if (path === "/api/state") {
      res
        .writeHead(200, { "content-type": "application/json", "cache-control": "no-store" })
        .end(JSON.stringify(collector.snapshot()));
    } else if (path === "/api/events") {
      openStream(req, res);
    } else {
      res
        .writeHead(404, { "content-type": "text/plain" })
        .end("not found: the dashboard serves /, /api/state and /api/events\n");
    }
  }

  function openStream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-store",
      connection: "keep-alive",
    });
    res.write("retry: 2000\n\n"); // how soon the browser reconnects after losing the stream
    res.write(event("snapshot", JSON.stringify(collector.snapshot())));
    streams.add(res);
    req.on("close", () => streams.delete(res));
  }

  const broadcast = (kind: ChangeKind) => {
    if (streams.size === 0) return;
    const data = JSON.stringify(kind === "snapshot" ? collector.snapshot() : collector.statusNow());
    for (const res of streams) res.write(event(kind, data));
  };
  const unsubscribe = collector.onChange(broadcast);
  const heartbeat = setInterval(() => {
    for (const res of streams) res.write(": keep-alive\n\n");
  }, opts.heartbeatMs ?? 15_000);
  heartbeat.unref();

  try {
    await listen(server, opts.port ?? DEFAULT_DASHBOARD_PORT, host);
  } catch (e) {
    unsubscribe();
    clearInterval(heartbeat);
    throw e;
  }
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${displayHost(host)}:${port}/`,
    async close() {
      unsubscribe();
      clearInterval(heartbeat);
      for (const res of streams) res.end();
      streams.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** One SSE message; JSON has no raw newlines, so `data` is one line. */
function event(name: ChangeKind, data: string): string {
  return `event: ${name}\ndata: ${data}\n\n`;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) =>
      reject(
        e.code === "EADDRINUSE"
          ? new SibylError(
              `port ${port} on ${host} is in use`,
              "pass another --port, or --port 0 for a free one",
              {
                cause: e,
              },
            )
          : e,
      );
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

/** A host as it goes in a URL: IPv6 in brackets, and a wildcard address as the loopback one. */
function displayHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}
