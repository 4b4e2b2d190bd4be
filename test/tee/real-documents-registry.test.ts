import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { expect } from "chai";
import { anyValue } from "@nomicfoundation/hardhat-ethers-chai-matchers/withArgs";
import hre, { network } from "hardhat";
import { keccak256 } from "ethers";

import { installPrecompile } from "../../src/chain/install.js";
import { sibylEnv } from "../../src/env.js";
import { AWS_NITRO_ROOT_SHA256, parseAttestation } from "../../src/tee/attestation.js";

/**
 * The two real AWS Nitro documents through the enclave registry's policy, on a chain whose
 * clock is at each document's time, pinned to the real AWS root: the debug-mode document is
 * refused under a production policy, the production one is refused until its measurement is
 * allowed, and then both are refused for their nonce, which was not made for this chain,
 * registry and registrant (the samples were made elsewhere): verification passes, the policy
 * decides.
 */

const DATA = new URL("../data/nitro/", import.meta.url);

for (const [name, debug] of [
  ["aws-nitro-2024-09-17", true],
  ["aws-nitro-2026-02-02", false],
] as const) {
  describe(`tee/real documents through the EnclaveRegistry: ${name} (${debug ? "debug" : "production"} enclave)`, function () {
    this.timeout(120_000);
    const bytes = new Uint8Array(readFileSync(new URL(`${name}.cose`, DATA)));
    const facts = JSON.parse(readFileSync(new URL(`${name}.json`, DATA), "utf8")) as { timestampMs: number };
    const doc = parseAttestation(bytes);

    async function setUp() {
      // a fresh chain starting a minute after the document: its clock cannot go back
      const connection = await network.create({
        override: { initialDate: new Date(facts.timestampMs + 60_000) },
      });
      const env = await sibylEnv(hre, connection);
      const { ethers } = connection;
      const [admin, node] = await ethers.getSigners();
      const { precompile, registry } = await installPrecompile(env, { answerWindow: 600n });
      const verifierCode = (await hre.artifacts.readArtifact("MockVerifier")).deployedBytecode;
      const config = {
        modelHash: keccak256("0x02"),
        weightCommitment: 0n,
        zkeyHash: keccak256("0x03"),
        inputLength: 4,
        outputLength: 3,
        fracBits: 8,
        valueBits: 24,
        inputBits: 24,
        outputFracBits: 8,
        fee: 1n,
        callbackGasPrice: 0n,
        stake: 1n,
        settlementWindow: 300n,
        unbonded: false,
      };
      const receipt = await (await registry.register(config, verifierCode, "mock")).wait();
      const registered = receipt!.logs
        .map((l) => registry.interface.parseLog(l))
        .find((e) => e?.name === "ModelRegistered");
      const modelId = registered!.args.modelId as string;
      const verifier = await ethers.deployContract("AttestationVerifier", [doc.cabundle[0]!]);
      const enclaves = await ethers.deployContract("EnclaveRegistry", [
        await verifier.getAddress(),
        await precompile.getAddress(),
        3600n,
        300n,
      ]);
      const chain = [...doc.cabundle, doc.certificate];
      for (let i = 1; i < chain.length; i++)
        await (await verifier.submitCertificate(chain[i], keccak256(chain[i - 1]))).wait();
      return { admin, node, modelId, verifier, enclaves, connection };
    }

    it("verifies against the real AWS root, and the registry's policy decides", async function () {
      const { admin, node, modelId, verifier, enclaves } = await setUp();
      expect(createHash("sha256").update(doc.cabundle[0]!).digest("hex")).to.equal(
        AWS_NITRO_ROOT_SHA256.replaceAll(":", "").toLowerCase(),
      );
      const att = await verifier.verifyDocument(bytes);
      expect(att.debug).to.equal(debug);

      if (debug) {
        // a production policy: the model does not allow debug enclaves
        await expect(enclaves.connect(node).registerEnclave(bytes, modelId))
          .to.be.revertedWithCustomError(enclaves, "Enclave__DebugNotAllowed")
          .withArgs(modelId);
        await (await enclaves.connect(admin).setDebugAllowed(modelId, true)).wait();
      } else {
        await expect(enclaves.connect(node).registerEnclave(bytes, modelId))
          .to.be.revertedWithCustomError(enclaves, "Enclave__MeasurementNotAllowed")
          .withArgs(modelId, att.measurement);
        await (await enclaves.connect(admin).setMeasurement(modelId, att.measurement, true)).wait();
      }
      // allowed now, but its nonce was not made for this chain, registry and registrant
      await expect(enclaves.connect(node).registerEnclave(bytes, modelId))
        .to.be.revertedWithCustomError(enclaves, "Enclave__WrongNonce")
        .withArgs(await enclaves.registrationNonce(node.address));
    });

    it("refuses it as stale once the chain's clock is past the maximum document age", async function () {
      const { node, modelId, enclaves, connection } = await setUp();
      await connection.networkHelpers.time.increase(3600);
      await expect(enclaves.connect(node).registerEnclave(bytes, modelId))
        .to.be.revertedWithCustomError(enclaves, "Enclave__StaleDocument")
        .withArgs(BigInt(Math.floor(facts.timestampMs / 1000)), anyValue, 3600n);
    });
  });
}
