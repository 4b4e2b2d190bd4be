import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { Queue } from "bullmq";

import { freePort } from "./hardhat-node.js";

/**
 * Redis for the queue tests. Tests that only queue jobs use the Redis every machine here runs
 * (127.0.0.1:6379, or SIBYL_TEST_REDIS_URL) under a key prefix of their own; tests that stop
 * and restart Redis run their own `redis-server` on a free port, never the shared one.
 */

export const SHARED_REDIS_URL = process.env.SIBYL_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/** A BullMQ key prefix no other test (or run) uses. */
export function uniquePrefix(label: string): string {
  return `sibyl-test-${label}-${process.pid}-${Date.now().toString(36)}`;
}

/** Deletes every key of `queues` under `prefix` (what a test left in a shared Redis). */
export async function removeQueues(url: string, prefix: string, queues: string[]): Promise<void> {
  for (const name of queues) {
    const queue = new Queue(name, { connection: { url }, prefix });
    queue.on("error", () => {});
    try {
      await queue.obliterate({ force: true });
    } finally {
      await queue.close();
    }
  }
}

const REDIS_SERVER =
  ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].find(existsSync) ?? "redis-server";

/** Answers PING within `timeoutMs`? (inline command: no client library needed) */
function pings(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (d) => done(d.toString().startsWith("+PONG")));
  });
}

/** A `redis-server` of the test's own on 127.0.0.1, without persistence: a restart comes back empty. */
export class RedisServer {
  private proc?: ChildProcess;
  private exited?: Promise<void>;
  output = "";

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort());
    await server.restart();
    return server;
  }

  /** Starts the server (again) on its port and waits until it answers. */
  async restart(timeoutMs = 10_000): Promise<void> {
    if (this.proc) throw new Error("redis-server is already running");
    const proc = spawn(
      REDIS_SERVER,
      [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        tmpdir(),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    for (const s of [proc.stdout!, proc.stderr!]) s.on("data", (d: Buffer) => (this.output += d.toString()));
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once("exit", () => resolve()));
    const deadline = Date.now() + timeoutMs;
    while (!(await pings(this.port, 500))) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        await this.stop();
        throw new Error(`redis-server did not start on port ${this.port}:\n${this.output.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Whether it runs and answers. */
  async running(): Promise<boolean> {
    return this.proc !== undefined && (await pings(this.port, 500));
  }

  /** Kills the server at once (an outage, not a shutdown) and waits until it is gone. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.proc = undefined;
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    await this.exited;
  }
}
