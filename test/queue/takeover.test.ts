import { expect } from "chai";
import { Queue } from "bullmq";

import { silentLogger } from "../../src/log.js";
import { type BatchArtifacts, buildBatch } from "../../src/pipeline/buildBatch.js";
import { batchCircuit } from "../../src/queue/circuits.js";
import { type ProvedThroughQueue, type QueueProvers, queueProvers } from "../../src/queue/client.js";
import { DEFAULT_QUEUE_PREFIX, proofJobId, queueNameOf } from "../../src/queue/jobs.js";
import { ProverWorker, type WorkerProvedEvent, type WorkerStalledEvent } from "../../src/queue/worker.js";
import { releaseProverThreads } from "../../src/zk/prover.js";
import { HardhatProcess } from "../helpers/hardhat-node.js";
import { IRIS_MODEL_PATH, buildProgress, builtModel } from "../helpers/models.js";
import { RecordingLogger } from "../helpers/recording-logger.js";
import { RedisServer } from "../helpers/redis.js";
import { batchCase, expectValidProof, nextEvent } from "./fixtures.js";

/**
 * A `sibyl:prover` process is killed (SIGKILL) while it proves: its job's lock is no longer
 * renewed, another worker's stalled check puts the job back and that worker proves it. The
 * proof is Iris's batch circuit of 4 (a few hundred ms, far longer than the kill takes to land
 * after the worker says it started), and the test asserts the takeover in the job's record
 * rather than trusting the timing.
 */
describe("a sibyl:prover worker killed mid-proof", function () {
  let redis: RedisServer;
  let batch: BatchArtifacts;

  before(async function () {
    await builtModel();
    batch = (await buildBatch("iris", 4, { log: buildProgress })).artifacts;
    redis = await RedisServer.start(); // its own server: the CLI uses the default key prefix
  });

  after(async function () {
    await redis?.stop();
    await releaseProverThreads();
  });

  it("has its job taken over by another worker, and the caller gets exactly one proof", async function () {
    const circuit = batchCircuit(batch);
    const first = new HardhatProcess([
      "sibyl:prover",
      "--redis",
      redis.url,
      "--models",
      IRIS_MODEL_PATH,
      "--batch",
      "4",
      "--lock-ms",
      "2000",
    ]);
    let provers: QueueProvers | undefined;
    let second: ProverWorker | undefined;
    const log = new RecordingLogger();
    try {
      await first.waitFor("prover ready", 120_000);
      expect(first.output).to.contain(`iris/batch-k4 (queue ${queueNameOf(circuit.zkeyHash)})`);

      provers = queueProvers({ url: redis.url, log: silentLogger });
      const results: ProvedThroughQueue[] = [];
      provers.on("proved", (e) => results.push(e));
      const c = batchCase(batch);
      const jobId = proofJobId(circuit.zkeyHash, c.input);
      const proof = provers.factory(circuit).prove(c.input);

      await first.waitFor(`proving iris/batch-k4 job ${jobId}`, 30_000);
      first.kill("SIGKILL");
      await first.exited;
      expect(first.output).to.not.contain(`proved iris/batch-k4 job ${jobId}`);

      // started after the kill: it cannot have taken the job before the first worker did
      second = await ProverWorker.start({
        url: redis.url,
        circuits: [circuit],
        lockMs: 2000,
        name: "second",
        log,
      });
      const proved: WorkerProvedEvent[] = [];
      second.on("proved", (e) => proved.push(e));
      const stalled = nextEvent<WorkerStalledEvent>(second, "stalled", (e) => e.jobId === jobId, 30_000);

      const result = await proof;
      await expectValidProof(batch.vk, result, c.expected);
      expect(result.via).to.equal("queue");
      expect((await stalled).circuit).to.equal("iris/batch-k4");
      expect(proved.map((p) => p.jobId)).to.deep.equal([jobId]);
      expect(results.map((r) => r.jobId)).to.deep.equal([jobId]);

      const jobs = new Queue(queueNameOf(circuit.zkeyHash), {
        connection: { url: redis.url },
        prefix: DEFAULT_QUEUE_PREFIX,
      });
      try {
        const job = await jobs.getJob(jobId);
        expect(await job?.getState()).to.equal("completed");
        expect(job?.stalledCounter, "times the job lost its worker").to.equal(1);
        expect(job?.attemptsStarted, "times a worker took the job").to.equal(2);
        expect(job?.processedBy).to.equal("second");
        expect(await jobs.getJobCounts("completed", "waiting", "active", "failed")).to.deep.equal({
          completed: 1,
          waiting: 0,
          active: 0,
          failed: 0,
        });
      } finally {
        await jobs.close();
      }
      expect(log.messages("info").some((m) => m.includes(`start #2, lost its worker 1×`))).to.equal(true);
    } finally {
      first.kill("SIGKILL");
      await provers?.close();
      await second?.close();
    }
  });
});
