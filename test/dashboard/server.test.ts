import { expect } from "chai";
import hre, { network } from "hardhat";

import { DashboardCollector } from "../../src/dashboard/collector.js";
import { type DashboardServer, startDashboardServer } from "../../src/dashboard/server.js";
import type { DashboardSnapshot } from "../../src/dashboard/snapshot.js";
import { SibylError } from "../../src/errors.js";
import { type SibylTestbed, deploySibyl } from "../../src/testing/index.js";
import { errorOf } from "../helpers/errors.js";

/**
 * The dashboard's HTTP side against a real collector (a stack without a node on the in-process
 * network): the page, the JSON snapshot, the event stream that pushes a new snapshot when the
 * chain changes, and what it refuses.
 */

const connection = await network.create();

describe("dashboard/startDashboardServer", function () {
  this.timeout(120_000);
  let sibyl: SibylTestbed;
  let collector: DashboardCollector;
  let server: DashboardServer;

  before(async function () {
    sibyl = await deploySibyl(hre, connection, { node: false });
    collector = new DashboardCollector({ precompile: sibyl.precompile, fromBlock: 0 });
    await collector.refresh();
    server = await startDashboardServer({ collector, port: 0 });
  });

  after(async function () {
    await server?.close();
    await collector?.stop();
    await sibyl?.close();
  });

  it("binds the loopback address on a free port when given port 0", function () {
    expect(server.url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(server.url).not.to.contain(":0/");
  });

  it("serves the page with a policy that lets it load nothing from elsewhere", async function () {
    const res = await fetch(server.url);
    expect(res.status).to.equal(200);
    expect(res.headers.get("content-type")).to.contain("text/html");
    expect(res.headers.get("content-security-policy")).to.contain("default-src 'none'");
    const html = await res.text();
    expect(html).to.contain("<title>Sibyl trust gap</title>");
    expect(html).not.to.match(/(src|href)="https?:/);
  });

  it("serves the collector's snapshot as JSON", async function () {
    const res = await fetch(`${server.url}api/state`);
    expect(res.headers.get("content-type")).to.equal("application/json");
    const body = (await res.json()) as DashboardSnapshot;
    expect(body).to.deep.equal(JSON.parse(JSON.stringify(collector.snapshot())));
    expect(body.precompile).to.equal(String(sibyl.precompile.target));
  });

  it("streams a snapshot at once, and another when a request changes the picture", async function () {
    const controller = new AbortController();
    const res = await fetch(`${server.url}api/events`, { signal: controller.signal });
    expect(res.headers.get("content-type")).to.equal("text/event-stream");
    const events = sseEvents(res.body!);
    try {
      const first = await events.next();
      expect(first.value?.event).to.equal("snapshot");

      const id = await sibyl.request(sibyl.quantize([5.1, 3.5, 1.4, 0.2]));
      await collector.refresh();
      let pushed: DashboardSnapshot | undefined;
      while (!pushed) {
        const { value } = await events.next();
        if (value?.event === "snapshot") pushed = JSON.parse(value.data) as DashboardSnapshot;
      }
      expect(pushed.requests.map((r) => [r.id, r.state])).to.deep.include([id, "requested"]);
    } finally {
      controller.abort();
    }
  });

  it("answers 404 for other paths and 405 for other methods", async function () {
    expect((await fetch(`${server.url}nope`)).status).to.equal(404);
    expect((await fetch(`${server.url}api/state`, { method: "POST" })).status).to.equal(405);
  });

  it("says which port is taken, and what to do", async function () {
    const port = Number(new URL(server.url).port);
    const error = await errorOf(() => startDashboardServer({ collector, port }));
    expect(error).to.be.instanceOf(SibylError);
    expect(error.message).to.contain(`port ${port} on 127.0.0.1 is in use`);
    expect(error.message).to.contain("--port 0");
  });
});

/** The events of a Server-Sent Events stream, one by one. */
async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<{ event: string; data: string }> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const field = (name: string) =>
        block
          .split("\n")
          .filter((l) => l.startsWith(`${name}: `))
          .map((l) => l.slice(name.length + 2))
          .join("\n");
      if (field("event")) yield { event: field("event"), data: field("data") };
    }
  }
}
