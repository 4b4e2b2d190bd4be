import { expect } from "chai";
import { EventEmitter } from "node:events";
import { Counter, Registry } from "prom-client";

import { SibylError } from "../../src/errors.js";
import { NodeMetrics } from "../../src/metrics/nodeMetrics.js";
import { type MetricsServer, serveMetrics } from "../../src/metrics/server.js";
import { sample } from "./exposition.js";

/** The /metrics endpoint over real HTTP on a free loopback port. */

describe("metrics/serveMetrics", function () {
  const open: MetricsServer[] = [];

  afterEach(async function () {
    for (const s of open.splice(0)) await s.close();
  });

  async function serve(registry: Registry, port = 0): Promise<MetricsServer> {
    const server = await serveMetrics({ registry, port });
    open.push(server);
    return server;
  }

  /** A registry with one counter at 3. */
  function registryWithCounter(): Registry {
    const registry = new Registry();
    new Counter({ name: "sibyl_test_total", help: "a test counter", registers: [registry] }).inc(3);
    return registry;
  }

  it("serves the registry's exposition text at /metrics with Prometheus' content type", async function () {
    const registry = registryWithCounter();
    const server = await serve(registry);
    expect(server.url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);

    const res = await fetch(server.url);
    expect(res.status).to.equal(200);
    expect(res.headers.get("content-type")).to.equal(registry.contentType);
    const text = await res.text();
    expect(text).to.equal(await registry.metrics());
    expect(sample(text, "sibyl_test_total")).to.equal(3);
  });

  it("ignores a query string on /metrics", async function () {
    const server = await serve(registryWithCounter());
    const res = await fetch(`${server.url}?name[]=sibyl_test_total`);
    expect(res.status).to.equal(200);
    expect(sample(await res.text(), "sibyl_test_total")).to.equal(3);
  });

  it("answers 404 on any other path and 405 to a method other than GET or HEAD", async function () {
    const server = await serve(registryWithCounter());
    const base = server.url.replace(/\/metrics$/, "");
    for (const path of ["/", "/metric", "/metrics/x", "/favicon.ico"]) {
      const res = await fetch(base + path);
      expect(res.status, path).to.equal(404);
      expect(await res.text()).to.contain("/metrics");
    }
    const post = await fetch(server.url, { method: "POST" });
    expect(post.status).to.equal(405);
    expect(post.headers.get("allow")).to.equal("GET, HEAD");
    const head = await fetch(server.url, { method: "HEAD" });
    expect(head.status).to.equal(200);
  });

  it("keeps answering when the node's chain read fails, and the scrape shows the rpc error", async function () {
    const metrics = new NodeMetrics({
      chain: {
        reader: {
          nodeOf: () => Promise.reject(new Error("connect ECONNREFUSED")),
          outstandingOf: () => Promise.reject(new Error("connect ECONNREFUSED")),
        },
        address: () => "0x" + "ab".repeat(20),
      },
    });
    const node = new EventEmitter(); // stands in for the node's event emitter only
    metrics.observe(node);
    node.emit("failed", { requestId: "1", stage: "settle", error: new Error("reverted") });
    const server = await serve(metrics.registry);

    for (const expected of [1, 2]) {
      const res = await fetch(server.url);
      expect(res.status).to.equal(200);
      const text = await res.text();
      expect(sample(text, "sibyl_errors_total", { kind: "rpc" })).to.equal(expected);
      expect(sample(text, "sibyl_requests_total", { state: "failed" })).to.equal(1);
      expect(sample(text, "sibyl_bond_wei", { part: "free" })).to.equal(undefined);
    }
  });

  it("answers 500, and keeps serving, when a collector throws", async function () {
    const registry = registryWithCounter();
    let broken = true;
    new Counter({
      name: "sibyl_broken_total",
      help: "a counter whose collector throws while broken",
      registers: [registry],
      collect: () => {
        if (broken) throw new Error("collector broke");
      },
    });
    const server = await serve(registry);
    const res = await fetch(server.url);
    expect(res.status).to.equal(500);
    expect(await res.text()).to.contain("collector broke");
    broken = false;
    expect((await fetch(server.url)).status).to.equal(200);
  });

  it("picks a free port for port 0, and says what to do when the port is taken", async function () {
    const first = await serve(registryWithCounter());
    const port = Number(new URL(first.url).port);
    expect(port).to.be.greaterThan(0);
    const taken = await serveMetrics({ registry: new Registry(), port }).then(
      () => expect.fail("listened on a port already taken"),
      (e: unknown) => e,
    );
    expect(taken).to.be.instanceOf(SibylError);
    expect((taken as SibylError).hint).to.equal("choose another metrics port, or 0 for a free one");
  });

  it("stops listening when closed, even with a scraper's connection kept alive", async function () {
    const server = await serveMetrics({ registry: registryWithCounter(), port: 0 });
    expect((await fetch(server.url, { keepalive: true })).status).to.equal(200);
    await server.close();
    let refused: unknown;
    try {
      await fetch(server.url);
    } catch (e) {
      refused = e;
    }
    expect(refused, "a fetch after close").to.be.instanceOf(Error);
  });
});
