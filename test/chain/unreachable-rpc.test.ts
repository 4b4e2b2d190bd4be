import { expect } from "chai";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { type Server, type Socket, createServer } from "node:net";
import { dirname, join } from "node:path";
import hre, { network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";

import { DEFAULT_RPC_TIMEOUT_MS, displayUrl, rpcTimeoutMs, sibylEnv } from "../../src/env.js";
import { ChainError } from "../../src/errors.js";
import { PROJECT_ROOT } from "../../src/paths.js";
import { errorOf } from "../helpers/errors.js";

/**
 * A JSON-RPC network that does not answer fails the first contact at once, with its URL and
 * what to do: an endpoint that accepts connections and never answers (it would otherwise
 * hold a task silently through Hardhat's timeouts and retries), and a port where nothing
 * listens. `sibylEnv` asks every JSON-RPC network for its chain id within SIBYL_RPC_TIMEOUT_MS
 * (default 10 s); in-process networks are not asked.
 */

const require = createRequire(import.meta.url);
const HARDHAT_CLI = ((): string => {
  const manifest = require.resolve("hardhat/package.json");
  const { bin } = JSON.parse(readFileSync(manifest, "utf8")) as { bin: { hardhat: string } };
  return join(dirname(manifest), bin.hardhat);
})();

/** A TCP server on 127.0.0.1 that accepts every connection and never writes a byte. */
async function silentServer(): Promise<{ url: string; accepted: () => number; close: () => Promise<void> }> {
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    accepted: () => sockets.length,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A port of 127.0.0.1 nothing listens on (it was free a moment ago). */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

describe("env/sibylEnv: a JSON-RPC network that does not answer", function () {
  this.timeout(120_000);
  const saved = process.env.SIBYL_RPC_TIMEOUT_MS;
  const connections: NetworkConnection[] = [];

  const localhostAt = async (url: string): Promise<NetworkConnection> => {
    const c = await network.create({ network: "localhost", override: { url } });
    connections.push(c);
    return c;
  };

  afterEach(async function () {
    if (saved === undefined) delete process.env.SIBYL_RPC_TIMEOUT_MS;
    else process.env.SIBYL_RPC_TIMEOUT_MS = saved;
    for (const c of connections.splice(0)) await c.close();
  });

  it("gives up on an endpoint that accepts and never answers after SIBYL_RPC_TIMEOUT_MS, naming the URL and what to do", async function () {
    const silent = await silentServer();
    try {
      process.env.SIBYL_RPC_TIMEOUT_MS = "300";
      const e = await errorOf(async () => sibylEnv(hre, await localhostAt(silent.url)));
      expect(e).to.be.instanceOf(ChainError);
      expect(e.message).to.equal(
        `no answer from network localhost at ${silent.url} within 300 ms\n` +
          "  → is `npx hardhat node` running? check the url of network localhost in hardhat.config.ts " +
          "(the wait is SIBYL_RPC_TIMEOUT_MS, in ms)",
      );
      expect(silent.accepted()).to.be.greaterThan(0);
    } finally {
      await silent.close();
    }
  });

  it("fails at once on a port where nothing listens, naming the URL", async function () {
    const url = await closedPortUrl();
    const e = await errorOf(async () => sibylEnv(hre, await localhostAt(url)));
    expect(e).to.be.instanceOf(ChainError);
    expect(e.message).to.equal(
      `cannot reach network localhost at ${url}: connection refused (nothing listens there)\n` +
        "  → is `npx hardhat node` running? check the url of network localhost in hardhat.config.ts",
    );
    expect((e.cause as { cause?: { code?: string } }).cause?.code).to.equal("ECONNREFUSED");
  });

  it("says so when the URL answers but is no JSON-RPC endpoint", async function () {
    const { createServer: createHttpServer } = await import("node:http");
    const http = createHttpServer((_, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<html>hello</html>");
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
    try {
      const e = await errorOf(async () => sibylEnv(hre, await localhostAt(url)));
      expect(e).to.be.instanceOf(ChainError);
      expect(e.message.split("\n")[0]).to.equal(
        `network localhost at ${url} is not a JSON-RPC endpoint: eth_chainId got "<html>hello</html>"`,
      );
    } finally {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    }
  });

  it("passes a served chain, and does not ask an in-process network at all", async function () {
    const server = await network.createServer("default", "127.0.0.1", 0);
    const { port } = await server.listen();
    try {
      const env = await sibylEnv(hre, await localhostAt(`http://127.0.0.1:${port}`));
      expect(env.inProcess).to.equal(false);
      expect(await env.ethers.provider.getBlockNumber()).to.be.a("number");
    } finally {
      await server.close();
    }
    // an invalid timeout would fail any probe: the in-process network is not probed
    process.env.SIBYL_RPC_TIMEOUT_MS = "soon";
    const inProcess = await network.create();
    connections.push(inProcess);
    expect((await sibylEnv(hre, inProcess)).inProcess).to.equal(true);
  });

  it("reads SIBYL_RPC_TIMEOUT_MS, refusing a value that is not a positive number", function () {
    delete process.env.SIBYL_RPC_TIMEOUT_MS;
    expect(rpcTimeoutMs()).to.equal(DEFAULT_RPC_TIMEOUT_MS);
    expect(DEFAULT_RPC_TIMEOUT_MS).to.equal(10_000);
    process.env.SIBYL_RPC_TIMEOUT_MS = "2500";
    expect(rpcTimeoutMs()).to.equal(2500);
    for (const bad of ["0", "-1", "soon"]) {
      process.env.SIBYL_RPC_TIMEOUT_MS = bad;
      expect(() => rpcTimeoutMs(), bad).to.throw(ChainError, "not a positive number of milliseconds");
    }
  });

  it("masks credentials and keys in the URL it prints", function () {
    expect(displayUrl("http://127.0.0.1:8545")).to.equal("http://127.0.0.1:8545");
    expect(displayUrl("https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef")).to.equal(
      "https://mainnet.infura.io/v3/***",
    );
    expect(displayUrl("https://user:secret@rpc.example.org/?apikey=abc")).to.equal(
      "https://rpc.example.org/?apikey=***",
    );
  });

  it("a task run with --network on a silent endpoint exits with the message instead of hanging", async function () {
    const silent = await silentServer();
    try {
      const { HARDHAT_NETWORK: _ignored, ...inherited } = process.env;
      const child = spawn(process.execPath, [HARDHAT_CLI, "sibyl:deploy", "--network", "localhost"], {
        cwd: PROJECT_ROOT,
        env: {
          ...inherited,
          NO_COLOR: "1",
          FORCE_COLOR: "0",
          SIBYL_RPC_URL: silent.url,
          SIBYL_RPC_TIMEOUT_MS: "500",
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stdout.on("data", (c: Buffer) => (output += c.toString("utf8")));
      child.stderr.on("data", (c: Buffer) => (output += c.toString("utf8")));
      // a task that hangs is killed (and fails the test) long before Hardhat's own timeouts
      const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
      clearTimeout(killer);
      expect(code, output).to.equal(1);
      expect(output).to.include(`no answer from network localhost at ${silent.url} within 500 ms`);
      expect(output).to.include(
        "is `npx hardhat node` running? check the url of network localhost in hardhat.config.ts",
      );
    } finally {
      await silent.close();
    }
  });
});
