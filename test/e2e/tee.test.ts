import { expect } from "chai";
import hre, { network } from "hardhat";
import { type Contract, JsonRpcProvider } from "ethers";

import { INFERENCE_ADDRESS } from "../../src/chain/install.js";
import { explainRequest } from "../../src/client/status.js";
import { deployCore } from "../../src/env.js";
import type { FailedEvent } from "../../src/node/node.js";
import { Mode, RequestState } from "../../src/protocol/state.js";
import { runQuantized } from "../../src/runtime/fixed.js";
import { type SibylTestbed, deploySibyl } from "../../src/testing/index.js";
import { EnclaveRegistry__factory, InferencePrecompile__factory } from "../../typechain-types/index.js";
import { HardhatProcess, deployAndRegister, runTask, startHardhatNode } from "../helpers/hardhat-node.js";
import { IRIS_MODEL_PATH } from "../helpers/models.js";

/**
 * TEE mode end to end with the local enclave process: its document verified on-chain at
 * registration, then TEE requests answered by the node through the enclave and final at once,
 * asynchronously and in a synchronous OpenGradient call with mode TEE; and a standalone
 * `sibyl:node --tee` doing the same against a `hardhat node` process.
 */

const SETOSA = [5.1, 3.5, 1.4, 0.2];

describe("e2e/tee: TEE mode with a local enclave process", function () {
  this.timeout(300_000);

  describe("in-process (deploySibyl with tee: true)", function () {
    let bed: SibylTestbed;

    before(async function () {
      // a chain whose clock runs 10 minutes behind the wall clock, as Hardhat 3's in-process
      // networks created late in a process do: the enclave's documents carry the wall clock
      const lagging = await network.create({ override: { initialDate: new Date(Date.now() - 600_000) } });
      bed = await deploySibyl(hre, lagging, { tee: true });
    });

    after(async function () {
      await bed?.close();
    });

    it("registered the enclave's key from its document, verified on-chain in one transaction per step", async function () {
      const { registration, enclave } = bed.enclaves!.iris;
      expect(registration.key).to.equal(enclave.answerKey);
      expect(registration.steps.map((s) => s.kind)).to.deep.equal([
        "certificate",
        "certificate",
        "certificate",
        "certificate",
        "document",
      ]);
      const registry = EnclaveRegistry__factory.connect(
        await bed.precompile.enclaveRegistry(),
        bed.env.ethers.provider,
      );
      const record = await registry.enclaveOf(enclave.answerKey);
      expect(record.operator).to.equal(await bed.nodeSigner.getAddress());
      expect(record.measurement).to.equal(enclave.measurement);
      expect(await registry.isMeasurementAllowed(bed.modelId(), enclave.measurement)).to.equal(true);
    });

    it("answers a TEE request through the enclave: Settled at once, with the fixed-point runtime's output", async function () {
      const input = bed.quantize(SETOSA);
      const node = await bed.nodeSigner.getAddress();
      const pendingBefore = await bed.precompile.pendingWithdrawal(node);
      const id = await bed.request(input, { mode: Mode.TEE });
      expect(await bed.waitFinal(id)).to.equal(RequestState.Settled);
      const expected = runQuantized(bed.models.iris.artifacts.quantized, input).output;
      expect([...(await bed.precompile.outputOf(id))]).to.deep.equal(expected);
      const request = await bed.precompile.getRequest(id);
      expect(request.mode).to.equal(BigInt(Mode.TEE));
      expect(request.node).to.equal(node);
      expect(await bed.precompile.outstandingOf(node)).to.equal(0n);
      expect(await bed.precompile.pendingWithdrawal(node)).to.equal(pendingBefore + request.fee);
      // one answer transaction, which also settled it
      const answered = await bed.precompile.queryFilter(bed.precompile.filters.InferenceAnswered(id));
      const settled = await bed.precompile.queryFilter(bed.precompile.filters.InferenceSettled(id));
      expect(answered).to.have.length(1);
      expect(settled).to.have.length(1);
      expect(settled[0].transactionHash).to.equal(answered[0].transactionHash);
      // sibyl:status says how it settled, and claims no deadline or stake for it
      const status = await explainRequest(bed.precompile, id);
      const text = status.lines.join("\n");
      expect(text).to.contain("mode       TEE: answered by an attested enclave");
      expect(text).to.contain("bond       none: a TEE answer locks no stake");
      expect(text).to.not.contain("deadline");
    });

    it("serves OpenGradient's runModelInference with mode TEE (2): the class in the caller's transaction, Settled", async function () {
      const [, , caller] = await bed.env.ethers.getSigners();
      const og = await deployCore("IrisClassifierOG", caller, bed.modelCid(), 2);
      const receipt = await (await (og.connect(caller) as Contract).classify([51n, 35n, 14n, 2n], 1)).wait();
      const consumed = receipt.logs
        .map((l: { topics: string[]; data: string }) => {
          try {
            return bed.precompile.interface.parseLog(l);
          } catch {
            return null;
          }
        })
        .find((e: { name: string } | null) => e?.name === "SyncInferenceConsumed");
      expect(consumed, "a prepared result was consumed").to.not.equal(undefined);
      const id = consumed!.args.requestId as string;
      expect(await bed.stateOf(id)).to.equal(RequestState.Settled);
      expect((await bed.precompile.getRequest(id)).mode).to.equal(BigInt(Mode.TEE));
      expect(Number(await (og as Contract).lastSpecies())).to.equal(0); // setosa
    });

    it("reports a TEE answer the registry refuses (its key revoked) as failed, naming the error; the request waits", async function () {
      const registry = EnclaveRegistry__factory.connect(
        await bed.precompile.enclaveRegistry(),
        bed.nodeSigner,
      );
      await (await registry.revokeEnclave(bed.enclaves!.iris.enclave.answerKey)).wait();
      const failed = new Promise<FailedEvent>((resolve) => bed.node!.once("failed", resolve));
      const id = await bed.request(bed.quantize(SETOSA), { mode: Mode.TEE });
      const event = await failed;
      expect(event.requestId).to.equal(id);
      expect(event.stage).to.equal("answer");
      expect(event.error.message).to.contain("Enclave__KeyRevoked");
      expect(await bed.stateOf(id)).to.equal(RequestState.Requested); // nothing lost: it can expire, refunded
    });
  });

  describe("standalone: sibyl:node --tee against a hardhat node process", function () {
    const processes: HardhatProcess[] = [];
    let provider: JsonRpcProvider;

    after(async function () {
      for (const p of processes) p.kill("SIGKILL");
      await Promise.all(processes.map((p) => p.exited));
      provider?.destroy();
    });

    it("sets up the enclave registry, registers its enclave and answers a TEE request, final at once", async function () {
      const { chain, url: rpcUrl } = await startHardhatNode();
      processes.push(chain);
      provider = new JsonRpcProvider(rpcUrl, 31337, { staticNetwork: true, pollingInterval: 100 });
      const env = { SIBYL_RPC_URL: rpcUrl };
      const modelId = await deployAndRegister(env, IRIS_MODEL_PATH);

      const node = new HardhatProcess(
        ["sibyl:node", "--network", "localhost", "--models", IRIS_MODEL_PATH, "--poll-ms", "100", "--tee"],
        env,
      );
      processes.push(node);
      await node.waitFor("node running", 120_000);
      expect(node.output).to.contain("local enclave process, NOT hardware-backed");
      expect(node.output).to.match(/key 0x[0-9a-fA-F]{40} registered: 5 transaction\(s\)/);

      // a user's TEE request, from the CLI
      const out = await runTask(
        [
          "sibyl:infer",
          "--network",
          "localhost",
          "--model",
          IRIS_MODEL_PATH,
          "--input",
          SETOSA.join(","),
          "--tee",
        ],
        env,
      );
      expect(out).to.contain("TEE mode");
      expect(out).to.contain("= setosa (already settled)");
      const requestId = /requested (0x[0-9a-f]{64})/.exec(out)?.[1];
      expect(requestId, out).to.be.a("string");
      await node.waitFor(
        `[${requestId!.slice(0, 10)}…] answered [0] with the enclave's signature: final`,
        60_000,
      );
      const precompile = InferencePrecompile__factory.connect(INFERENCE_ADDRESS, provider);
      expect(Number(await precompile.stateOf(requestId!))).to.equal(RequestState.Settled);
      expect(Number((await precompile.getRequest(requestId!)).mode)).to.equal(Mode.TEE);
      expect(modelId).to.equal((await precompile.getRequest(requestId!)).modelId);
      await node.stop();
    });
  });
});
