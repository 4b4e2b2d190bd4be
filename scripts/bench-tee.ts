/**
 * TEE mode in the benchmark, on one model: the gas of registering an enclave key from a full
 * attestation document (every certificate below the root verified on-chain: the cold cache) and
 * with the intermediates cached (the leaf and the document only), the gas of the transaction
 * that makes a TEE answer final (`answerAttested`), and the time from request to final answer
 * beside ZK mode's request → settled on the same chain.
 */
import type { Signer } from "ethers";

import { type StackModel, type SibylStack, startEnclaves, startNode } from "../src/chain/stack.js";
import { requestInference } from "../src/client/client.js";
import { silentLogger } from "../src/log.js";
import { NodeTracker } from "../src/node/tracker.js";
import { Mode } from "../src/protocol/state.js";
import { median } from "../src/bench/stats.js";

export interface TeeBench {
  /** gas of every transaction of the first registration: intermediates, leaf, document */
  registerGasCold: number;
  /**
   * gas when the intermediates are cached (a later enclave under the same CAs): the leaf
   * certificate and the document, the only transactions such a registration sends
   */
  registerGasCached: number;
  /** each transaction of the cold registration */
  registrationSteps: { kind: string; subject: string; gasUsed: number }[];
  /** median gas of the transaction that answers a TEE request and makes it final (no hooks) */
  settleGas: number;
  /** `settleGas` minus a ZK `answer`'s gas: what finality costs beyond answering (ZK: a proof's `settle`) */
  settleGasOverAnswer: number;
  latencyMs: {
    /** request sent → the enclave's signed answer mined (final) */
    tee: number;
    /** request sent → settled with a Groth16 proof */
    zk: number;
    /** ZK's trust gap: answer mined → settled (TEE has none: its answer is final) */
    zkAnswerToFinal: number;
  };
  runs: number;
}

export async function benchTee(
  stack: SibylStack,
  model: StackModel,
  input: readonly bigint[],
  deployer: Signer,
  nodeSigner: Signer,
  requester: Signer,
  zk: { answerGas: number; settledLatencyMs: number; answerLatencyMs: number },
  runs: number,
): Promise<TeeBench> {
  const name = model.artifacts.name;
  const tee = await startEnclaves(stack.precompile, [model], {
    admin: deployer,
    owner: deployer,
    operator: nodeSigner,
    log: silentLogger,
  });
  const { registration, enclave } = tee.enclaves[name];
  const node = await startNode(stack, {
    signer: nodeSigner,
    pollMs: 50,
    log: silentLogger,
    serve: [name],
    enclaves: { [name]: enclave },
  });
  const tracker = new NodeTracker(node);
  const fee = (await stack.registry.getModel(model.modelId)).config.fee;
  const gas: number[] = [];
  const latency: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const t0 = Date.now();
      const { requestId } = await requestInference(
        stack.precompile.connect(requester),
        model.modelId,
        [...input],
        {
          fee,
          mode: Mode.TEE,
        },
      );
      const final = await tracker.waitAttested(requestId);
      latency.push(final.at - t0);
      gas.push(Number(final.gasUsed));
    }
  } finally {
    await node.stop();
    await tee.close();
  }
  const steps = registration.steps.map((s) => ({
    kind: s.kind,
    subject: s.subject,
    gasUsed: Number(s.gasUsed),
  }));
  const certificates = steps.filter((s) => s.kind === "certificate");
  const document = steps.filter((s) => s.kind === "document");
  const settleGas = median(gas);
  return {
    registerGasCold: Number(registration.gasUsed),
    // the leaf is the last certificate of the chain
    registerGasCached: [...certificates.slice(-1), ...document].reduce((sum, s) => sum + s.gasUsed, 0),
    registrationSteps: steps,
    settleGas,
    settleGasOverAnswer: settleGas - zk.answerGas,
    latencyMs: {
      tee: median(latency),
      zk: zk.settledLatencyMs,
      zkAnswerToFinal: zk.settledLatencyMs - zk.answerLatencyMs,
    },
    runs,
  };
}
