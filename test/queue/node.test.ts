import { expect } from "chai";
import hre, { network } from "hardhat";

import { type SibylStack, setUpStack, startNode } from "../../src/chain/stack.js";
import { requestInference } from "../../src/client/client.js";
import { sibylEnv } from "../../src/env.js";
import { silentLogger } from "../../src/log.js";
import { quantizeInput } from "../../src/model/quantize.js";
import { RequestState } from "../../src/node/node.js";
import { NodeTracker } from "../../src/node/tracker.js";
import { modelCircuit } from "../../src/queue/circuits.js";
import { type ProvedThroughQueue, queueProvers } from "../../src/queue/client.js";
import { queueNameOf } from "../../src/queue/jobs.js";
import { ProverWorker, type WorkerProvedEvent } from "../../src/queue/worker.js";
import { runQuantized } from "../../src/runtime/fixed.js";
import { releaseProverThreads } from "../../src/zk/prover.js";
import { IRIS_MODEL_PATH, buildProgress } from "../helpers/models.js";
import { RecordingLogger } from "../helpers/recording-logger.js";
import { SHARED_REDIS_URL, removeQueues, uniquePrefix } from "../helpers/redis.js";

const connection = await network.create();
const { ethers } = connection;
const env = await sibylEnv(hre, connection);

describe("an inference node proving through the queue", function () {
  const url = SHARED_REDIS_URL;
  const prefix = uniquePrefix("node");
  let stack: SibylStack;

  before(async function () {
    stack = await setUpStack(env, { modelPaths: [IRIS_MODEL_PATH], log: buildProgress });
  });

  after(async function () {
    await removeQueues(url, prefix, [queueNameOf(stack.models.iris.artifacts.zkeyHash)]);
    await releaseProverThreads();
  });

  it("settles its answers on-chain with the proofs a worker made", async function () {
    const { modelId, artifacts } = stack.models.iris;
    const worker = await ProverWorker.start({
      url,
      prefix,
      circuits: [modelCircuit(artifacts)],
      log: new RecordingLogger(),
    });
    const byWorker: WorkerProvedEvent[] = [];
    worker.on("proved", (e) => byWorker.push(e));
    const provers = queueProvers({ url, prefix, log: silentLogger });
    const throughQueue: ProvedThroughQueue[] = [];
    provers.on("proved", (e) => throughQueue.push(e));
    const [requester, nodeSigner] = (await ethers.getSigners()).slice(17);
    const node = await startNode(stack, {
      signer: nodeSigner,
      provers: provers.factory,
      pollMs: 20,
      log: silentLogger,
    });
    const tracker = new NodeTracker(node);
    try {
      const fee = (await stack.registry.getModel(modelId)).config.fee;
      const q = artifacts.quantized;
      const flowers = [
        [5.1, 3.5, 1.4, 0.2],
        [6.3, 3.3, 6.0, 2.5],
        [5.8, 2.7, 4.1, 1.0],
      ];
      const sent = await Promise.all(
        flowers.map(async (f) => {
          const input = quantizeInput(q, f);
          const { requestId } = await requestInference(stack.precompile.connect(requester), modelId, input, {
            fee,
          });
          return { requestId, expected: runQuantized(q, input).output };
        }),
      );
      for (const { requestId, expected } of sent) {
        await tracker.waitSettled(requestId);
        expect(await stack.precompile.stateOf(requestId)).to.equal(RequestState.Settled);
        expect(await stack.precompile.outputOf(requestId)).to.deep.equal(expected);
      }
      // one job per request, each proved once by the worker
      const jobs = [...new Set(throughQueue.map((p) => p.jobId))].sort();
      expect(jobs).to.have.length(3);
      expect(throughQueue.every((p) => p.via === "queue")).to.equal(true);
      expect(byWorker.map((p) => p.jobId).sort()).to.deep.equal(jobs);
    } finally {
      await node.stop();
      await provers.close();
      await worker.close();
    }
  });
});
