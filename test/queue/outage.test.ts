import { expect } from "chai";

import type { ModelArtifacts } from "../../src/pipeline/artifacts.js";
import { modelCircuit } from "../../src/queue/circuits.js";
import { type QueueProvers, type RedisStatus, queueProvers } from "../../src/queue/client.js";
import { proofJobId } from "../../src/queue/jobs.js";
import { ProverWorker, type WorkerProvedEvent } from "../../src/queue/worker.js";
import { type CircuitFiles, inProcessProvers, releaseProverThreads } from "../../src/zk/prover.js";
import { builtModel } from "../helpers/models.js";
import { RecordingLogger } from "../helpers/recording-logger.js";
import { RedisServer, uniquePrefix } from "../helpers/redis.js";
import { expectValidProof, nextEvent, singleCase } from "./fixtures.js";

/**
 * Redis goes away under a node that proves through the queue: the node is told, and no proof
 * request is lost. Each test stops and restarts a redis-server of its own (without persistence,
 * so it comes back empty, as a crashed cache would).
 */
describe("the proving queue while Redis is down", function () {
  let redis: RedisServer;
  let iris: ModelArtifacts;
  let circuit: CircuitFiles;
  let provers: QueueProvers | undefined;
  let worker: ProverWorker | undefined;
  const workerLog = new RecordingLogger();
  const proved: WorkerProvedEvent[] = [];

  before(async function () {
    iris = await builtModel();
    circuit = modelCircuit(iris);
    redis = await RedisServer.start();
  });

  afterEach(async function () {
    if (!(await redis.running())) await redis.restart(); // a test that failed mid-outage
    await provers?.close();
    await worker?.close();
    provers = worker = undefined;
    proved.length = 0;
    if (this.currentTest?.state === "failed") console.log(workerLog.lines.map((l) => l.msg).join("\n"));
  });

  after(async function () {
    await redis?.stop();
    await releaseProverThreads();
  });

  async function startWorker(prefix: string): Promise<ProverWorker> {
    const w = await ProverWorker.start({ url: redis.url, prefix, circuits: [circuit], log: workerLog });
    w.on("proved", (e) => proved.push(e));
    return w;
  }

  it("with a fallback, proves in this process while Redis is down, says so once, and returns to the queue after", async function () {
    const prefix = uniquePrefix("fallback");
    const log = new RecordingLogger();
    provers = queueProvers({ url: redis.url, prefix, log, fallback: inProcessProvers, checkMs: 200 });
    const statuses: RedisStatus[] = [];
    provers.on("redis", (s) => statuses.push(s));
    worker = await startWorker(prefix);
    const prover = provers.factory(circuit);

    const before = await prover.prove(singleCase(iris, 0).input);
    expect(before.via).to.equal("queue");

    const down = nextEvent(provers, "redis", (s: RedisStatus) => !s.up);
    await redis.stop();
    await down;
    const during = [1, 2, 3].map((i) => singleCase(iris, i));
    const results = await Promise.all(during.map((c) => prover.prove(c.input)));
    for (const [i, r] of results.entries()) {
      await expectValidProof(iris.vk, r, during[i].expected);
      expect(r.via).to.equal("local");
    }
    const warnings = log.messages("warn").filter((m) => m.includes("is unreachable"));
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.contain(redis.url).and.contain("proving in this process");

    const up = nextEvent(provers, "redis", (s: RedisStatus) => s.up);
    await redis.restart();
    await up;
    const again = singleCase(iris, 4);
    const after = await prover.prove(again.input);
    await expectValidProof(iris.vk, after, again.expected);
    expect(after.via).to.equal("queue");
    expect(statuses.map((s) => s.up)).to.deep.equal([true, false, true]);
    expect(statuses[1].error).to.be.a("string").and.not.equal("");
    expect(statuses.every((s) => s.url === redis.url)).to.equal(true);
  });

  it("without a fallback, holds the requests made while Redis is down and proves them once it is back", async function () {
    const prefix = uniquePrefix("drain");
    const log = new RecordingLogger();
    provers = queueProvers({ url: redis.url, prefix, log, checkMs: 200 });
    worker = await startWorker(prefix);
    const prover = provers.factory(circuit);
    expect((await prover.prove(singleCase(iris, 5).input)).via).to.equal("queue");

    const down = nextEvent(provers, "redis", (s: RedisStatus) => !s.up);
    await redis.stop();
    await down;
    const held = [6, 7, 8].map((i) => singleCase(iris, i));
    const pending = held.map((c) => prover.prove(c.input));
    expect(provers.outstanding).to.equal(3);
    expect(log.messages("warn").filter((m) => m.includes("is unreachable"))[0]).to.contain(
      "proof requests wait in memory until it is back",
    );

    await redis.restart(); // empty: the held requests were never in it
    const results = await Promise.all(pending);
    for (const [i, r] of results.entries()) {
      await expectValidProof(iris.vk, r, held[i].expected);
      expect(r.via).to.equal("queue");
      expect(proved.filter((p) => p.jobId === r.jobId)).to.have.length(1);
    }
    expect(
      log.messages("info").some((m) => m.includes("is back: 3 proof request(s) go to the queue")),
    ).to.equal(true);
    expect(provers.outstanding).to.equal(0);
  });

  it("adds again a queued job that Redis lost in a restart, and it is proved once a worker comes", async function () {
    const prefix = uniquePrefix("lost");
    const log = new RecordingLogger();
    provers = queueProvers({ url: redis.url, prefix, log, checkMs: 200 });
    const c = singleCase(iris, 9);
    const jobId = proofJobId(circuit.zkeyHash, c.input);
    // no worker yet: the job waits in Redis, then Redis restarts without it
    const pending = provers.factory(circuit).prove(c.input);
    while ((await provers.depth()).waiting < 1) await new Promise((r) => setTimeout(r, 50));
    await redis.stop();
    await redis.restart();
    await log.waitFor(`proving job ${jobId} of iris is gone from Redis`);
    worker = await startWorker(prefix);
    const result = await pending;
    await expectValidProof(iris.vk, result, c.expected);
    expect(proved.filter((p) => p.jobId === jobId)).to.have.length(1);
  });
});
