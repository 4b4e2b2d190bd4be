import { expect } from "chai";
import hre from "hardhat";
import { Queue } from "bullmq";

import { ProofError, SibylError } from "../../src/errors.js";
import type { ModelArtifacts } from "../../src/pipeline/artifacts.js";
import { modelCircuit } from "../../src/queue/circuits.js";
import { type QueueProvers, queueProvers } from "../../src/queue/client.js";
import { proofJobId, queueNameOf } from "../../src/queue/jobs.js";
import { RedisUnavailableError } from "../../src/queue/redis.js";
import { ProverWorker, type WorkerFailedEvent, type WorkerProvedEvent } from "../../src/queue/worker.js";
import { redisOptions } from "../../src/tasks/args.js";
import { type CircuitFiles, releaseProverThreads } from "../../src/zk/prover.js";
import { errorOf, taskErrorOf } from "../helpers/errors.js";
import { freePort } from "../helpers/hardhat-node.js";
import { builtModel } from "../helpers/models.js";
import { RecordingLogger } from "../helpers/recording-logger.js";
import { SHARED_REDIS_URL, removeQueues, uniquePrefix } from "../helpers/redis.js";
import { expectValidProof, nextEvent, singleCase } from "./fixtures.js";

describe("proving through the Redis queue (BullMQ)", function () {
  const url = SHARED_REDIS_URL;
  const prefix = uniquePrefix("queue");
  let iris: ModelArtifacts;
  let circuit: CircuitFiles;
  let workers: ProverWorker[];
  let provers: QueueProvers;
  const proved: (WorkerProvedEvent & { worker: string })[] = [];
  const log = new RecordingLogger();

  before(async function () {
    iris = await builtModel();
    circuit = modelCircuit(iris);
    // one after the other: two warm-ups at once would make snarkjs build a second curve, whose threads stay
    workers = [];
    for (const name of ["w1", "w2"])
      workers.push(await ProverWorker.start({ url, prefix, circuits: [circuit], name, log }));
    for (const [i, w] of workers.entries()) {
      w.on("proved", (e) => proved.push({ ...e, worker: `w${i + 1}` }));
    }
    provers = queueProvers({ url, prefix, log });
  });

  after(async function () {
    await provers?.close();
    await Promise.all((workers ?? []).map((w) => w.close()));
    await removeQueues(url, prefix, [queueNameOf(iris.zkeyHash)]);
    await releaseProverThreads();
  });

  it("returns proofs made by the workers that verify against the model's key, with the round trip", async function () {
    const prover = provers.factory(circuit);
    expect(prover.concurrency).to.be.greaterThan(1);
    const cases = [0, 1, 2, 3].map((i) => singleCase(iris, i));
    const results = await Promise.all(cases.map((c) => prover.prove(c.input)));
    for (const [i, r] of results.entries()) {
      await expectValidProof(iris.vk, r, cases[i].expected);
      expect(r.via).to.equal("queue");
      expect(r.jobId).to.equal(proofJobId(circuit.zkeyHash, cases[i].input));
      expect(r.ms).to.be.greaterThan(0);
      expect(r.queueMs).to.be.at.least(r.ms);
    }
    // each proof was made once, by one of the two workers, and the job records say which
    const jobs = new Queue(queueNameOf(circuit.zkeyHash), { connection: { url }, prefix });
    try {
      for (const r of results) {
        expect(proved.filter((p) => p.jobId === r.jobId)).to.have.length(1);
        const job = await jobs.getJob(r.jobId);
        expect(job?.processedBy).to.be.oneOf(["w1", "w2"]);
        expect(job?.data.circuit).to.equal("iris");
        expect(job?.data.zkeyHash).to.equal(iris.zkeyHash);
      }
    } finally {
      await jobs.close();
    }
  });

  it("makes one job and one proof of the same request asked for twice, at once and later", async function () {
    const prover = provers.factory(circuit);
    const c = singleCase(iris, 7);
    const [first, second] = await Promise.all([prover.prove(c.input), prover.prove(c.input)]);
    const third = await prover.prove(c.input); // the finished job is still in Redis: no new proof
    expect(second.jobId).to.equal(first.jobId);
    expect(third.jobId).to.equal(first.jobId);
    expect(second.proof).to.deep.equal(first.proof);
    expect(third.proof).to.deep.equal(first.proof);
    await expectValidProof(iris.vk, third, c.expected);
    expect(proved.filter((p) => p.jobId === first.jobId)).to.have.length(1);
    const jobs = new Queue(queueNameOf(circuit.zkeyHash), { connection: { url }, prefix });
    try {
      const completed = await jobs.getCompleted();
      expect(completed.filter((j) => j.id === first.jobId)).to.have.length(1);
    } finally {
      await jobs.close();
    }
  });

  it("a worker refuses a job for another proving key that lands in its queue, and the caller is told", async function () {
    // same first 64 bits (so the same queue), another key: the queue name alone must not decide
    const hex = iris.zkeyHash.slice(2);
    const impostor = { ...circuit, name: "impostor", zkeyHash: `0x${hex.slice(0, 16)}${"0".repeat(48)}` };
    expect(queueNameOf(impostor.zkeyHash)).to.equal(queueNameOf(iris.zkeyHash));
    expect(impostor.zkeyHash).to.not.equal(iris.zkeyHash);
    const c = singleCase(iris, 11);
    const jobId = proofJobId(impostor.zkeyHash, c.input);
    const refusal = nextEvent<WorkerFailedEvent>(workers, "failed", (e) => e.jobId === jobId, 20_000);
    refusal.catch(() => {}); // awaited below; a failure before that must not surface as unhandled
    const error = await errorOf(() => provers.factory(impostor).prove(c.input));
    expect(error).to.be.instanceOf(ProofError);
    expect(error.message)
      .to.match(/refused/)
      .and.match(/after 1 attempt/)
      .and.contain(iris.zkeyHash);
    expect((await refusal).error.message).to.contain(impostor.zkeyHash);
    expect(proved.filter((p) => p.jobId === jobId)).to.have.length(0);
  });

  it("sibyl:node's --redis takes a Redis URL and --prove-locally needs it", function () {
    expect(redisOptions({})).to.deep.equal({});
    expect(redisOptions({ redis: "redis://10.0.0.5:6380" })).to.deep.equal({
      redis: "redis://10.0.0.5:6380",
      proveLocally: false,
    });
    expect(redisOptions({ redis: url, proveLocally: true })).to.deep.equal({
      redis: url,
      proveLocally: true,
    });
    expect(() => redisOptions({ proveLocally: true })).to.throw(SibylError, /--prove-locally .* --redis/);
    expect(() => redisOptions({ redis: "http://127.0.0.1:6379" })).to.throw(
      SibylError,
      /redis:\/\/ or rediss:\/\//,
    );
  });

  it("a worker whose Redis cannot be reached at start says how to start Redis instead of waiting", async function () {
    const dead = `redis://127.0.0.1:${await freePort()}`;
    const error = await errorOf(() =>
      ProverWorker.start({ url: dead, circuits: [circuit], log: new RecordingLogger() }),
    );
    expect(error).to.be.instanceOf(RedisUnavailableError);
    expect(error.message).to.contain(`cannot reach Redis at ${dead}`).and.contain("ECONNREFUSED");
    expect((error as RedisUnavailableError).hint)
      .to.contain("redis-server")
      .and.contain("apt-get install redis-server");
    // and so does the task, before it warms anything
    const viaTask = await taskErrorOf(() => hre.tasks.getTask("sibyl:prover").run({ redis: dead }));
    expect(viaTask).to.be.instanceOf(RedisUnavailableError);
    expect(viaTask.hint).to.contain("redis-server");
  });
});
