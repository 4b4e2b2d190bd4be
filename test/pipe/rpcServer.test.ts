import { request } from "node:http";

import { expect } from "chai";
import { network } from "hardhat";
import { JsonRpcProvider, isError } from "ethers";

import {
  type RpcCall,
  RpcError,
  type RpcServer,
  httpUpstream,
  startRpcServer,
} from "../../src/pipe/rpcServer.js";

/**
 * The proxy's transport: JSON-RPC 2.0 over HTTP as the spec and ethers expect it, upstream errors
 * carried through byte for byte, and an upstream that is down named in the error.
 */

interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

async function post(url: string, body: unknown, method = "POST"): Promise<Reply> {
  const response = await fetch(url, {
    method,
    headers: { "content-type": "application/json" },
    body:
      method === "GET" || method === "HEAD"
        ? undefined
        : typeof body === "string"
          ? body
          : JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

const call = (id: number | string | null, method: string, params: unknown[] = []) => ({
  jsonrpc: "2.0",
  id,
  method,
  params,
});

/** A handle that answers from `answers` and records every call it receives. */
function fakeHandle(answers: Record<string, (params: unknown[]) => Promise<unknown>>) {
  const calls: { method: string; params: unknown[] }[] = [];
  const handle: RpcCall = async (method, params) => {
    calls.push({ method, params });
    const answer = answers[method];
    if (!answer) throw new RpcError(-32601, `method ${method} not found`);
    return answer(params);
  };
  return { handle, calls };
}

/** Resolves once `count` callers have arrived: a serializing transport would never get there. */
function rendezvous(count: number): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  return async () => {
    if (++arrived === count) open();
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("requests were not handled concurrently")), 5_000);
    });
    await Promise.race([gate, stuck]).finally(() => clearTimeout(timer));
  };
}

const HARDHAT_REVERT = {
  code: -32603,
  message: "Error: VM Exception while processing transaction: reverted with custom error 'Nope()'",
  data: { message: "reverted with custom error 'Nope()'", data: "0x5f1b2f4e" },
};

describe("pipe/rpcServer: JSON-RPC transport of the proxy", function () {
  const servers: RpcServer[] = [];
  const providers: JsonRpcProvider[] = [];
  let server: RpcServer;
  let fake: ReturnType<typeof fakeHandle>;
  let meet: () => Promise<void>;

  before(async function () {
    fake = fakeHandle({
      echo: async (params) => ({ echoed: params }),
      eth_chainId: async () => "0x7a69",
      eth_blockNumber: async () => "0x2a",
      nothing: async () => undefined,
      slow: async (params) => {
        await new Promise((r) => setTimeout(r, Number(params[0])));
        return params[0];
      },
      meet: async (params) => {
        await meet();
        return params[0];
      },
      revert3: async () => {
        throw new RpcError(3, "execution reverted", "0xdeadbeef");
      },
      revertHardhat: async () => {
        throw new RpcError(HARDHAT_REVERT.code, HARDHAT_REVERT.message, HARDHAT_REVERT.data);
      },
      crash: async () => {
        throw new Error("handler bug");
      },
      bigint: async () => 1n,
    });
    server = await startRpcServer({ port: 0, handle: fake.handle });
    servers.push(server);
  });

  beforeEach(() => (fake.calls.length = 0));

  after(async function () {
    for (const p of providers) p.destroy();
    await Promise.all(servers.map((s) => s.close()));
  });

  it("listens on the real port when asked for port 0", function () {
    expect(server.port).to.be.greaterThan(0);
    expect(server.url).to.equal(`http://127.0.0.1:${server.port}`);
  });

  it("answers a single call with the handler's result and the request's id", async function () {
    const reply = await post(server.url, call("a-7", "echo", [1, "x"]));
    expect(reply.status).to.equal(200);
    expect(reply.headers.get("content-type")).to.equal("application/json");
    expect(JSON.parse(reply.text)).to.deep.equal({ jsonrpc: "2.0", id: "a-7", result: { echoed: [1, "x"] } });
    expect(fake.calls).to.deep.equal([{ method: "echo", params: [1, "x"] }]);
  });

  it("sends null, not a missing member, when the handler returns nothing", async function () {
    const reply = await post(server.url, call(1, "nothing"));
    expect(JSON.parse(reply.text)).to.deep.equal({ jsonrpc: "2.0", id: 1, result: null });
  });

  it("treats absent params as an empty list", async function () {
    await post(server.url, { jsonrpc: "2.0", id: 1, method: "echo" });
    expect(fake.calls).to.deep.equal([{ method: "echo", params: [] }]);
  });

  it("serves an ethers JsonRpcProvider", async function () {
    const provider = new JsonRpcProvider(server.url, undefined, { staticNetwork: true });
    providers.push(provider);
    expect(await provider.getBlockNumber()).to.equal(42);
  });

  it("answers a batch in request order even when later entries finish first", async function () {
    const reply = await post(server.url, [
      call(1, "slow", [60]),
      call(2, "slow", [0]),
      call(3, "echo", ["z"]),
    ]);
    expect(JSON.parse(reply.text)).to.deep.equal([
      { jsonrpc: "2.0", id: 1, result: 60 },
      { jsonrpc: "2.0", id: 2, result: 0 },
      { jsonrpc: "2.0", id: 3, result: { echoed: ["z"] } },
    ]);
  });

  it("handles the entries of a batch concurrently", async function () {
    meet = rendezvous(2);
    const reply = await post(server.url, [call(1, "meet", ["a"]), call(2, "meet", ["b"])]);
    expect(JSON.parse(reply.text)).to.deep.equal([
      { jsonrpc: "2.0", id: 1, result: "a" },
      { jsonrpc: "2.0", id: 2, result: "b" },
    ]);
  });

  it("handles separate HTTP requests concurrently", async function () {
    meet = rendezvous(2);
    const replies = await Promise.all([
      post(server.url, call(1, "meet", ["a"])),
      post(server.url, call(2, "meet", ["b"])),
    ]);
    expect(replies.map((r) => JSON.parse(r.text).result)).to.deep.equal(["a", "b"]);
  });

  it("runs a notification but leaves it out of the response", async function () {
    const reply = await post(server.url, [
      { jsonrpc: "2.0", method: "echo", params: ["n"] },
      call(5, "eth_blockNumber"),
    ]);
    expect(JSON.parse(reply.text)).to.deep.equal([{ jsonrpc: "2.0", id: 5, result: "0x2a" }]);
    expect(fake.calls.map((c) => c.method).sort()).to.deep.equal(["echo", "eth_blockNumber"]);
  });

  it("answers a lone notification, or a batch of them, with an empty 204", async function () {
    const lone = await post(server.url, { jsonrpc: "2.0", method: "crash" });
    expect([lone.status, lone.text]).to.deep.equal([204, ""]);
    const batch = await post(server.url, [
      { jsonrpc: "2.0", method: "echo" },
      { jsonrpc: "2.0", method: "echo" },
    ]);
    expect([batch.status, batch.text]).to.deep.equal([204, ""]);
    expect(fake.calls.map((c) => c.method)).to.deep.equal(["crash", "echo", "echo"]);
  });

  it("answers a body that is not JSON with -32700 and id null", async function () {
    const reply = await post(server.url, '{"jsonrpc":"2.0","id":1,');
    expect(reply.status).to.equal(200);
    const body = JSON.parse(reply.text);
    expect(body).to.deep.equal({
      jsonrpc: "2.0",
      id: null,
      error: { code: -32700, message: body.error.message },
    });
    expect(body.error.message).to.match(/^parse error/);
    expect(fake.calls).to.deep.equal([]);
  });

  it("answers malformed requests with -32600, keeping a valid id", async function () {
    const cases: [unknown, unknown][] = [
      [{ jsonrpc: "2.0", id: 7 }, 7],
      [{ jsonrpc: "1.0", id: 8, method: "echo" }, 8],
      [{ jsonrpc: "2.0", id: { no: 1 }, method: "echo" }, null],
      [{ jsonrpc: "2.0", id: 9, method: 42 }, 9],
      ['"echo"', null],
    ];
    for (const [request, id] of cases) {
      const body = JSON.parse((await post(server.url, request)).text);
      expect(body.id, JSON.stringify(request)).to.equal(id);
      expect(body.error.code, JSON.stringify(request)).to.equal(-32600);
      expect(body).to.not.have.property("result");
    }
    expect(fake.calls).to.deep.equal([]);
  });

  it("answers params that are not a list with -32602", async function () {
    const body = JSON.parse(
      (await post(server.url, { jsonrpc: "2.0", id: 3, method: "echo", params: { a: 1 } })).text,
    );
    expect([body.id, body.error.code]).to.deep.equal([3, -32602]);
  });

  it("answers an empty batch with one -32600, and a batch of junk with one error per entry", async function () {
    const empty = JSON.parse((await post(server.url, [])).text);
    expect(empty).to.deep.equal({
      jsonrpc: "2.0",
      id: null,
      error: { code: -32600, message: empty.error.message },
    });
    const junk = JSON.parse((await post(server.url, [1, call(2, "echo")])).text);
    expect(junk).to.have.length(2);
    expect([junk[0].id, junk[0].error.code]).to.deep.equal([null, -32600]);
    expect(junk[1]).to.deep.equal({ jsonrpc: "2.0", id: 2, result: { echoed: [] } });
  });

  it("says what it is on GET, allows CORS preflight, and refuses other methods with 405", async function () {
    const get = await post(server.url, undefined, "GET");
    expect(get.status).to.equal(200);
    expect(get.text).to.match(/JSON-RPC/);
    const preflight = await fetch(server.url, {
      method: "OPTIONS",
      headers: { Origin: "https://dapp.example", "Access-Control-Request-Headers": "content-type" },
    });
    expect(preflight.status).to.equal(204);
    expect(preflight.headers.get("access-control-allow-origin")).to.equal("*");
    expect(preflight.headers.get("access-control-allow-methods")).to.contain("POST");
    expect(preflight.headers.get("access-control-allow-headers")).to.equal("content-type");
    const put = await post(server.url, call(1, "echo"), "PUT");
    expect(put.status).to.equal(405);
    expect(put.headers.get("allow")).to.equal("POST, GET, OPTIONS");
    expect(fake.calls).to.deep.equal([]);
    const posted = await post(server.url, call(1, "echo"));
    expect(posted.headers.get("access-control-allow-origin")).to.equal("*");
  });

  it("refuses a body over 10 MB with 413 without calling the handler", async function () {
    const huge = JSON.stringify(call(1, "echo", ["0x" + "ab".repeat(5 * 1024 * 1024)]));
    const reply = await post(server.url, huge);
    expect(reply.status).to.equal(413);
    expect(JSON.parse(reply.text).error.code).to.equal(-32600);
    expect(fake.calls).to.deep.equal([]);
    // the server still serves the next client
    expect(JSON.parse((await post(server.url, call(2, "eth_blockNumber"))).text).result).to.equal("0x2a");
  });

  it("refuses a chunked body once it grows past 10 MB", async function () {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        server.url,
        { method: "POST", headers: { "content-type": "application/json" } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      const chunk = Buffer.alloc(1024 * 1024, 0x61);
      let sent = 0;
      const pump = () => {
        while (sent < 12 && !req.destroyed) {
          sent++;
          if (!req.write(chunk)) return void req.once("drain", pump);
        }
        req.end();
      };
      pump();
    });
    expect(status).to.equal(413);
    expect(fake.calls).to.deep.equal([]);
  });

  it("passes a handler's RpcError through verbatim, code, message and data", async function () {
    const plain = JSON.parse((await post(server.url, call(1, "revert3"))).text);
    expect(plain).to.deep.equal({
      jsonrpc: "2.0",
      id: 1,
      error: { code: 3, message: "execution reverted", data: "0xdeadbeef" },
    });
    const nested = JSON.parse((await post(server.url, call(2, "revertHardhat"))).text);
    expect(nested).to.deep.equal({ jsonrpc: "2.0", id: 2, error: HARDHAT_REVERT });
  });

  it("delivers an RpcError to ethers as a revert carrying its data", async function () {
    const revertingServer = await startRpcServer({
      port: 0,
      handle: async (method) => {
        if (method === "eth_chainId") return "0x7a69";
        if (method === "eth_call") throw new RpcError(3, "execution reverted", "0xdeadbeef");
        throw new RpcError(-32601, `${method} not supported here`);
      },
    });
    servers.push(revertingServer);
    const provider = new JsonRpcProvider(revertingServer.url, undefined, { staticNetwork: true });
    providers.push(provider);
    let caught: unknown;
    try {
      await provider.call({ to: "0x000000000000000000000000000000000000dEaD", data: "0x12345678" });
    } catch (err) {
      caught = err;
    }
    expect(isError(caught, "CALL_EXCEPTION"), String(caught)).to.equal(true);
    expect((caught as { data?: string }).data).to.equal("0xdeadbeef");
  });

  it("turns any other thrown Error into -32603 with its message", async function () {
    const body = JSON.parse((await post(server.url, call(1, "crash"))).text);
    expect(body).to.deep.equal({ jsonrpc: "2.0", id: 1, error: { code: -32603, message: "handler bug" } });
  });

  it("keeps a batch answering when one result cannot be serialized", async function () {
    const body = JSON.parse((await post(server.url, [call(1, "bigint"), call(2, "eth_blockNumber")])).text);
    expect([body[0].id, body[0].error.code]).to.deep.equal([1, -32603]);
    expect(body[1]).to.deep.equal({ jsonrpc: "2.0", id: 2, result: "0x2a" });
  });

  describe("httpUpstream", function () {
    it("resolves the upstream result", async function () {
      const upstream = await startRpcServer({
        port: 0,
        handle: async (method, params) => ({ method, params }),
      });
      servers.push(upstream);
      const rpc = httpUpstream(upstream.url);
      expect(await rpc("eth_getBalance", ["0xabc", "latest"])).to.deep.equal({
        method: "eth_getBalance",
        params: ["0xabc", "latest"],
      });
      expect(await rpc("eth_chainId", [])).to.deep.equal({ method: "eth_chainId", params: [] });
    });

    it("numbers its requests 1, 2, 3 on the wire", async function () {
      const seen: unknown[] = [];
      const { createServer } = await import("node:http");
      const raw = createServer((req, res) => {
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => {
          const { id } = JSON.parse(body);
          seen.push(id);
          res
            .writeHead(200, { "content-type": "application/json" })
            .end(JSON.stringify({ jsonrpc: "2.0", id, result: id }));
        });
      });
      await new Promise<void>((r) => raw.listen(0, "127.0.0.1", r));
      try {
        const port = (raw.address() as { port: number }).port;
        const rpc = httpUpstream(`http://127.0.0.1:${port}`);
        await Promise.all([rpc("a", []), rpc("b", []), rpc("c", [])]);
        expect([...seen].sort()).to.deep.equal([1, 2, 3]);
      } finally {
        raw.closeAllConnections();
        await new Promise((r) => raw.close(r));
      }
    });

    it("rejects with the upstream error object unchanged", async function () {
      const upstream = await startRpcServer({
        port: 0,
        handle: async () => {
          throw new RpcError(HARDHAT_REVERT.code, HARDHAT_REVERT.message, HARDHAT_REVERT.data);
        },
      });
      servers.push(upstream);
      const err = await httpUpstream(upstream.url)("eth_call", [{}]).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(RpcError);
      expect((err as RpcError).toJSON()).to.deep.equal(HARDHAT_REVERT);
    });

    it("names the upstream and asks whether the chain is running when nothing listens", async function () {
      const gone = await startRpcServer({ port: 0, handle: async () => null });
      await gone.close();
      const err = await httpUpstream(gone.url)("eth_chainId", []).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(RpcError);
      expect((err as RpcError).code).to.equal(-32603);
      expect((err as RpcError).message).to.contain(`upstream ${gone.url} unreachable`);
      expect((err as RpcError).message).to.contain("ECONNREFUSED");
      expect((err as RpcError).message).to.contain("is the chain running there");
    });

    it("gives up on a silent upstream after timeoutMs with the same advice", async function () {
      const silent = await startRpcServer({ port: 0, handle: () => new Promise(() => {}) });
      servers.push(silent);
      const err = await httpUpstream(silent.url, { timeoutMs: 200 })("eth_chainId", []).catch(
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(RpcError);
      expect((err as RpcError).code).to.equal(-32603);
      expect((err as RpcError).message).to.contain("no answer within 200 ms");
      expect((err as RpcError).message).to.contain("is the chain running there");
    });

    it("reports an upstream that is not JSON-RPC with its HTTP status", async function () {
      const { createServer } = await import("node:http");
      const raw = createServer((_req, res) => res.writeHead(502).end("Bad Gateway"));
      await new Promise<void>((r) => raw.listen(0, "127.0.0.1", r));
      try {
        const url = `http://127.0.0.1:${(raw.address() as { port: number }).port}`;
        const err = await httpUpstream(url)("eth_chainId", []).catch((e: unknown) => e);
        expect((err as RpcError).code).to.equal(-32603);
        expect((err as RpcError).message).to.contain("HTTP 502");
      } finally {
        raw.closeAllConnections();
        await new Promise((r) => raw.close(r));
      }
    });
  });

  describe("forwarding to a Hardhat chain", function () {
    this.timeout(60_000);

    it("passes eth_chainId and a real revert through unchanged", async function () {
      const chain = await network.createServer("default", "127.0.0.1", 0);
      const { port } = await chain.listen();
      const chainUrl = `http://127.0.0.1:${port}`;
      try {
        const proxy = await startRpcServer({ port: 0, handle: httpUpstream(chainUrl) });
        servers.push(proxy);
        const provider = new JsonRpcProvider(proxy.url, undefined, { staticNetwork: true });
        providers.push(provider);
        expect(await provider.send("eth_chainId", [])).to.equal("0x7a69");

        // init code that reverts with 0xdeadbeef: PUSH4 deadbeef PUSH1 0 MSTORE PUSH1 4 PUSH1 28 REVERT
        const revert = call(1, "eth_call", [{ data: "0x63deadbeef6000526004601cfd" }, "latest"]);
        const direct = JSON.parse((await post(chainUrl, revert)).text);
        const proxied = JSON.parse((await post(proxy.url, revert)).text);
        expect(direct.error, JSON.stringify(direct)).to.be.an("object");
        expect(proxied).to.deep.equal(direct);
      } finally {
        await chain.close();
      }
    });
  });
});
