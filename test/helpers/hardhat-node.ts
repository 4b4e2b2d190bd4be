import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { dirname, join } from "node:path";

import { PROJECT_ROOT } from "../../src/paths.js";

const require = createRequire(import.meta.url);

/**
 * Hardhat CLI processes for tests that need a chain (or a task) in a process of its own:
 * `npx hardhat node` on a free port, a `sibyl:*` task run to completion.
 */

/** Hardhat's CLI entry (its package's `bin`), run under this process's Node. */
const HARDHAT_CLI = ((): string => {
  const manifest = require.resolve("hardhat/package.json");
  const { bin } = JSON.parse(readFileSync(manifest, "utf8")) as { bin: { hardhat: string } };
  return join(dirname(manifest), bin.hardhat);
})();
/** A Hardhat CLI process with its output recorded, killed as a process group. */
export class HardhatProcess {
  output = "";
  readonly exited: Promise<number | null>;
  private readonly proc: ChildProcess;
  private readonly waiters: Array<() => void> = [];
  private done = false;

  constructor(args: string[], env: Record<string, string> = {}) {
    const { HARDHAT_NETWORK: _ignored, ...inherited } = process.env;
    this.proc = spawn(process.execPath, [HARDHAT_CLI, ...args], {
      cwd: PROJECT_ROOT,
      env: { ...inherited, NO_COLOR: "1", FORCE_COLOR: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // its own process group, so a kill reaches everything it started
    });
    for (const stream of [this.proc.stdout!, this.proc.stderr!])
      stream.on("data", (chunk: Buffer) => {
        this.output += chunk.toString("utf8");
        this.notify();
      });
    this.exited = new Promise((resolve) =>
      this.proc.on("exit", (code) => {
        this.done = true;
        this.notify();
        resolve(code);
      }),
    );
  }

  get running(): boolean {
    return !this.done;
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves when the output contains `text`; rejects if the process exits first or after `timeoutMs`. */
  waitFor(text: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "${text}" within ${timeoutMs} ms; output:\n${this.tail()}`)),
        timeoutMs,
      );
      const check = (): void => {
        if (this.output.includes(text)) {
          clearTimeout(timer);
          resolve();
        } else if (this.done) {
          clearTimeout(timer);
          reject(new Error(`exited before printing "${text}"; output:\n${this.tail()}`));
        } else this.waiters.push(check);
      };
      check();
    });
  }

  /** Sends `signal` to the process group, if it is still running. */
  kill(signal: NodeJS.Signals): void {
    if (this.done || this.proc.pid === undefined) return;
    try {
      process.kill(-this.proc.pid, signal);
    } catch {
      // already gone
    }
  }

  /** Asks the process to stop (SIGINT, as Ctrl-C), and kills it if it has not exited in time. */
  async stop(timeoutMs = 15_000): Promise<void> {
    this.kill("SIGINT");
    const timer = setTimeout(() => this.kill("SIGKILL"), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  tail(chars = 3000): string {
    return this.output.slice(-chars);
  }
}

/** Runs a task to completion; throws with its output when it fails or overruns. */
export async function runTask(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<string> {
  const task = new HardhatProcess(args, env);
  const timer = setTimeout(() => task.kill("SIGKILL"), timeoutMs);
  const code = await task.exited;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`hardhat ${args.join(" ")} exited with ${code}:\n${task.tail()}`);
  return task.output;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Waits until `url` answers `eth_chainId`. */
export async function waitForChain(url: string, chain: HardhatProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
        signal: AbortSignal.timeout(1_000),
      });
      if (((await response.json()) as { result?: string }).result) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`${url} did not answer within ${timeoutMs} ms:\n${chain.tail()}`);
    if (!chain.running) throw new Error(`hardhat node exited:\n${chain.tail()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A `hardhat node` process on a free port of 127.0.0.1, answering JSON-RPC. */
export async function startHardhatNode(timeoutMs = 60_000): Promise<{ chain: HardhatProcess; url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const chain = new HardhatProcess(["node", "--hostname", "127.0.0.1", "--port", String(port)]);
  try {
    await waitForChain(url, chain, timeoutMs);
  } catch (e) {
    chain.kill("SIGKILL");
    throw e;
  }
  return { chain, url };
}

/**
 * Sibyl deployed and a model registered on the chain at `SIBYL_RPC_URL`, by the CLI tasks as a
 * user runs them (`sibyl:deploy`, then `sibyl:register` with `registerArgs`); returns the model id
 * it printed.
 */
export async function deployAndRegister(
  env: Record<string, string>,
  modelPath: string,
  registerArgs: string[] = [],
): Promise<string> {
  await runTask(["sibyl:deploy", "--network", "localhost"], env);
  const registered = await runTask(
    ["sibyl:register", "--network", "localhost", "--model", modelPath, ...registerArgs],
    env,
  );
  const modelId = /modelId\s+(0x[0-9a-f]{64})/.exec(registered)?.[1];
  if (!modelId) throw new Error(`sibyl:register printed no model id:\n${registered}`);
  return modelId;
}
