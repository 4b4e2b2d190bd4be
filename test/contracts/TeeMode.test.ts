import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { anyValue } from "@nomicfoundation/hardhat-ethers-chai-matchers/withArgs";
import {
  type BaseWallet,
  Signature,
  SigningKey,
  Wallet,
  ZeroAddress,
  concat,
  getBytes,
  keccak256,
  solidityPacked,
  toBeHex,
} from "ethers";

import { registerEnclave } from "../../src/tee/register.js";
import { loadOrCreateDevCa } from "../../src/tee/devCa.js";
import { parseAttestation } from "../../src/tee/attestation.js";
import { LocalEnclave } from "../../src/tee/localEnclave.js";
import { silentLogger } from "../../src/log.js";
import type { EnclaveRegistry, ISyncInference } from "../../typechain-types/index.js";
import {
  CALLBACK_GAS,
  FEE,
  Finality,
  Hook,
  INPUT,
  Mode,
  OUTPUT,
  PROOF,
  REQUEST_FEE,
  State,
  VALUE_BITS,
  ethers,
  networkHelpers,
  packReference,
  registerMockModel,
  requestIdOf,
  sibylFixture,
} from "./fixtures.js";

/**
 * TEE mode on-chain: an enclave key registered from a Nitro-format attestation document verified
 * by the EnclaveRegistry (documents from the in-process LocalEnclave, under its own P-384 root
 * with three intermediates like AWS's chain), then answers signed with that key (EIP-712, signed
 * here with ethers independently of the library) settled by the precompile at once.
 */

const { loadFixture, time } = networkHelpers;

const MAX_DOCUMENT_AGE = 3600n;
const MAX_ANSWER_AGE = 300n;
/** secp256k1's group order: `n - s` is the malleated twin of a signature's s. */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const TEE_TYPES = {
  TeeAnswer: [
    { name: "requestId", type: "bytes32" },
    { name: "modelId", type: "bytes32" },
    { name: "inputHash", type: "bytes32" },
    { name: "outputHash", type: "bytes32" },
    { name: "attestedAt", type: "uint64" },
  ],
};

/** keccak256 of words concatenated, as the precompile hashes packed input and output words. */
const wordsHash = (words: readonly bigint[]) =>
  keccak256(solidityPacked(Array<string>(words.length).fill("uint256"), words));

const INPUT_HASH = wordsHash(packReference(INPUT, VALUE_BITS));
const OUTPUT_HASH = wordsHash(packReference(OUTPUT, VALUE_BITS));

interface AnswerFields {
  requestId: string;
  modelId: string;
  inputHash?: string;
  outputHash?: string;
  attestedAt: bigint;
  chainId?: bigint;
  verifyingContract?: string;
}

async function teeFixture() {
  const f = await loadFixture(sibylFixture);
  const { admin, node, precompile, modelId } = f;
  const chainId = (await ethers.provider.getNetwork()).chainId;
  // Documents are stamped with the chain's clock (this chain's time runs ahead of the wall
  // clock after other files' time travel): `clock.ms` is set before each attestation.
  const clock = { ms: (await time.latest()) * 1000 };
  // one root CA for both enclaves, as every enclave on Nitro has the AWS root
  const root = await loadOrCreateDevCa(mkdtempSync(join(tmpdir(), "sibyl-tee-")));
  const local = await LocalEnclave.create({ clock: () => clock.ms, intermediates: 3, root });
  const debugLocal = await LocalEnclave.create({ clock: () => clock.ms, debug: true, root });
  const verifier = await ethers.deployContract("AttestationVerifier", [local.rootDer]);
  const enclaves = (await ethers.deployContract("EnclaveRegistry", [
    await verifier.getAddress(),
    await precompile.getAddress(),
    MAX_DOCUMENT_AGE,
    MAX_ANSWER_AGE,
  ])) as unknown as EnclaveRegistry;
  await (await precompile.connect(admin).setEnclaveRegistry(await enclaves.getAddress())).wait();
  const measurement = keccak256(concat([local.pcrs[0], local.pcrs[1], local.pcrs[2]]));
  await (await enclaves.connect(admin).setMeasurement(modelId, measurement, true)).wait();

  /** An enclave whose answer key is `key`, attesting with `source`'s chain and PCRs at the chain's time. */
  const enclaveWith = (key: BaseWallet, source: LocalEnclave = local) => ({
    answerKey: key.address,
    attest: async ({ nonce }: { nonce: Uint8Array }) => {
      clock.ms = (await time.latest()) * 1000;
      return source.attest({ nonce, publicKey: getBytes(key.signingKey.publicKey) });
    },
  });
  const register = (
    key: BaseWallet,
    opts: { by?: typeof node; source?: LocalEnclave; modelId?: string } = {},
  ) =>
    registerEnclave({
      registry: enclaves.connect(opts.by ?? node),
      enclave: enclaveWith(key, opts.source),
      modelId: opts.modelId ?? modelId,
      log: silentLogger,
    });

  /**
   * A document for `nonce` stamped at chain time `at` (default: now), its certificates already
   * verified and cached, so that `registerEnclave` is the step under test.
   */
  const document = async (nonce: string, opts: { publicKey?: Uint8Array; at?: number } = {}) => {
    clock.ms = (opts.at ?? (await time.latest())) * 1000;
    const doc = await local.attest({
      nonce: getBytes(nonce),
      publicKey: opts.publicKey ?? getBytes(Wallet.createRandom().signingKey.publicKey),
    });
    const parsed = parseAttestation(doc);
    const chain = [...parsed.cabundle, parsed.certificate];
    for (let i = 1; i < chain.length; i++)
      if (!(await verifier.isCached(keccak256(chain[i]))))
        await (await verifier.submitCertificate(chain[i], keccak256(chain[i - 1]))).wait();
    return doc;
  };

  const key = Wallet.createRandom();
  const registration = await register(key);

  /** The enclave key's EIP-712 signature of an answer (domain: this chain and the precompile by default). */
  const sign = (fields: AnswerFields, signer: BaseWallet = key) =>
    signer.signTypedData(
      {
        name: "Sibyl",
        version: "1",
        chainId: fields.chainId ?? chainId,
        verifyingContract: fields.verifyingContract ?? INFERENCE,
      },
      TEE_TYPES,
      {
        requestId: fields.requestId,
        modelId: fields.modelId,
        inputHash: fields.inputHash ?? INPUT_HASH,
        outputHash: fields.outputHash ?? OUTPUT_HASH,
        attestedAt: fields.attestedAt,
      },
    );

  /** A TEE request from the recording consumer. */
  const teeRequest = () =>
    requestIdOf(
      precompile,
      f.recording.connect(f.user).makeRequestInMode(modelId, [...INPUT], CALLBACK_GAS, Mode.TEE, {
        value: REQUEST_FEE,
      }),
    );
  const INFERENCE = await precompile.getAddress();
  return {
    ...f,
    verifier,
    document,
    chainId,
    clock,
    local,
    debugLocal,
    enclaves,
    measurement,
    key,
    registration,
    register,
    sign,
    teeRequest,
  };
}

/** The malleated twin of a 65-byte signature: s → n − s, v flipped. */
function highS(signature: string): string {
  const sig = Signature.from(signature);
  const s = SECP256K1_N - BigInt(sig.s);
  return concat([sig.r, toBeHex(s, 32), new Uint8Array([sig.v === 27 ? 28 : 27])]);
}

describe("TEE mode", function () {
  describe("EnclaveRegistry: registering an enclave key", function () {
    it("registers the document's public key for the operator, after verifying its chain and signature on-chain", async function () {
      const { enclaves, key, node, measurement, registration } = await loadFixture(teeFixture);
      expect(registration.key).to.equal(key.address);
      // three intermediates and the leaf, then the document
      expect(registration.steps.map((s) => s.kind)).to.deep.equal([
        "certificate",
        "certificate",
        "certificate",
        "certificate",
        "document",
      ]);
      const record = await enclaves.enclaveOf(key.address);
      expect(record.operator).to.equal(node.address);
      expect(record.measurement).to.equal(measurement);
      expect(record.debug).to.equal(false);
      expect(record.revoked).to.equal(false);
      expect(registration.steps.every((s) => s.gasUsed < 16_777_216n)).to.equal(true);
    });

    it("verifies only the new leaf when the intermediates are cached", async function () {
      const { register } = await loadFixture(teeFixture);
      // a later enclave under the same CAs: its leaf is new (Nitro leaves live about three hours)
      await time.increase(4 * 3600);
      const second = await register(Wallet.createRandom());
      expect(second.cached).to.equal(3);
      expect(second.steps.map((s) => s.kind)).to.deep.equal(["certificate", "document"]);
    });

    it("emits EnclaveRegistered and moves the registrant's nonce on", async function () {
      const { enclaves, node, document, measurement, modelId } = await loadFixture(teeFixture);
      const key = Wallet.createRandom();
      const nonce = await enclaves.registrationNonce(node.address);
      const doc = await document(nonce, { publicKey: getBytes(key.signingKey.publicKey) });
      await expect(enclaves.connect(node).registerEnclave(doc, modelId))
        .to.emit(enclaves, "EnclaveRegistered")
        .withArgs(key.address, node.address, measurement, false, anyValue, anyValue);
      expect(await enclaves.registrationNonce(node.address)).to.not.equal(nonce);
    });

    it("refuses a document whose nonce was made for another registrant", async function () {
      const { enclaves, node, node2, document, modelId } = await loadFixture(teeFixture);
      const doc = await document(await enclaves.registrationNonce(node.address));
      await expect(enclaves.connect(node2).registerEnclave(doc, modelId))
        .to.be.revertedWithCustomError(enclaves, "Enclave__WrongNonce")
        .withArgs(await enclaves.registrationNonce(node2.address));
    });

    it("refuses a document used twice (the nonce has moved on)", async function () {
      const { enclaves, node, document, modelId } = await loadFixture(teeFixture);
      const doc = await document(await enclaves.registrationNonce(node.address));
      await (await enclaves.connect(node).registerEnclave(doc, modelId)).wait();
      await expect(enclaves.connect(node).registerEnclave(doc, modelId)).to.be.revertedWithCustomError(
        enclaves,
        "Enclave__WrongNonce",
      );
    });

    it("refuses a document older than maxDocumentAge by the chain's clock", async function () {
      const { enclaves, node, document, modelId } = await loadFixture(teeFixture);
      const stampedAt = BigInt(await time.latest());
      const doc = await document(await enclaves.registrationNonce(node.address), { at: Number(stampedAt) });
      await time.increase(Number(MAX_DOCUMENT_AGE) + 1);
      await expect(enclaves.connect(node).registerEnclave(doc, modelId))
        .to.be.revertedWithCustomError(enclaves, "Enclave__StaleDocument")
        .withArgs(stampedAt, anyValue, MAX_DOCUMENT_AGE);
    });

    it("refuses a document stamped more than MAX_CLOCK_SKEW later than the chain's clock, and accepts one within it", async function () {
      const { enclaves, node, document, modelId } = await loadFixture(teeFixture);
      const skew = await enclaves.MAX_CLOCK_SKEW();
      expect(skew).to.equal(300n);
      const ahead = await document(await enclaves.registrationNonce(node.address), {
        at: (await time.latest()) + Number(skew) + 60,
      });
      await expect(enclaves.connect(node).registerEnclave(ahead, modelId)).to.be.revertedWithCustomError(
        enclaves,
        "Enclave__DocumentFromFuture",
      );
      const slightly = await document(await enclaves.registrationNonce(node.address), {
        at: (await time.latest()) + 60,
      });
      await expect(enclaves.connect(node).registerEnclave(slightly, modelId)).to.emit(
        enclaves,
        "EnclaveRegistered",
      );
    });

    it("refuses an enclave whose measurement the model does not allow", async function () {
      const { enclaves, node, admin, local, document, registry } = await loadFixture(teeFixture);
      const other = await registerMockModel(registry, admin, { fee: FEE + 1n }, "other");
      const doc = await document(await enclaves.registrationNonce(node.address));
      await expect(enclaves.connect(node).registerEnclave(doc, other.modelId))
        .to.be.revertedWithCustomError(enclaves, "Enclave__MeasurementNotAllowed")
        .withArgs(other.modelId, keccak256(concat([local.pcrs[0], local.pcrs[1], local.pcrs[2]])));
    });

    it("refuses a debug-mode enclave unless the model allows debug enclaves", async function () {
      const { enclaves, admin, modelId, register, debugLocal } = await loadFixture(teeFixture);
      const key = Wallet.createRandom();
      await expect(register(key, { source: debugLocal }))
        .to.be.revertedWithCustomError(enclaves, "Enclave__DebugNotAllowed")
        .withArgs(modelId);
      await expect(enclaves.connect(admin).setDebugAllowed(modelId, true))
        .to.emit(enclaves, "DebugEnclavesAllowed")
        .withArgs(modelId, true);
      const registration = await register(key, { source: debugLocal });
      expect(registration.debug).to.equal(true);
    });

    it("refuses a document whose public_key is not an uncompressed secp256k1 key", async function () {
      const { enclaves, node, document, modelId } = await loadFixture(teeFixture);
      const compressed = getBytes(
        SigningKey.computePublicKey(Wallet.createRandom().signingKey.publicKey, true),
      );
      const doc = await document(await enclaves.registrationNonce(node.address), { publicKey: compressed });
      await expect(enclaves.connect(node).registerEnclave(doc, modelId)).to.be.revertedWithCustomError(
        enclaves,
        "Enclave__BadPublicKey",
      );
    });

    it("refuses a key that is registered already", async function () {
      const { enclaves, key, register } = await loadFixture(teeFixture);
      await expect(register(key))
        .to.be.revertedWithCustomError(enclaves, "Enclave__KeyExists")
        .withArgs(key.address);
    });

    it("lets only the model's owner change its allow-list", async function () {
      const { enclaves, stranger, modelId } = await loadFixture(teeFixture);
      await expect(enclaves.connect(stranger).setMeasurement(modelId, keccak256("0x01"), true))
        .to.be.revertedWithCustomError(enclaves, "Enclave__NotModelOwner")
        .withArgs(modelId, stranger.address);
      await expect(enclaves.connect(stranger).setDebugAllowed(modelId, true)).to.be.revertedWithCustomError(
        enclaves,
        "Enclave__NotModelOwner",
      );
    });

    it("lets the operator or the precompile's admin revoke a key, and nobody else", async function () {
      const { enclaves, key, node, admin, stranger, register } = await loadFixture(teeFixture);
      await expect(enclaves.connect(stranger).revokeEnclave(key.address))
        .to.be.revertedWithCustomError(enclaves, "Enclave__NotAllowedToRevoke")
        .withArgs(key.address, stranger.address);
      await expect(enclaves.connect(node).revokeEnclave(key.address))
        .to.emit(enclaves, "EnclaveRevoked")
        .withArgs(key.address, node.address);
      const other = Wallet.createRandom();
      await register(other);
      await expect(enclaves.connect(admin).revokeEnclave(other.address))
        .to.emit(enclaves, "EnclaveRevoked")
        .withArgs(other.address, admin.address);
      expect((await enclaves.enclaveOf(other.address)).revoked).to.equal(true);
      await expect(enclaves.connect(admin).revokeEnclave(ZeroAddress))
        .to.be.revertedWithCustomError(enclaves, "Enclave__UnknownKey")
        .withArgs(ZeroAddress);
    });

    it("refuses to deploy without a verifier or a precompile, or with a zero age", async function () {
      const { verifier, enclaves, precompile } = await loadFixture(teeFixture);
      const factory = await ethers.getContractFactory("EnclaveRegistry");
      const [v, p] = [await verifier.getAddress(), await precompile.getAddress()];
      for (const args of [
        [ZeroAddress, p, MAX_DOCUMENT_AGE, MAX_ANSWER_AGE],
        [v, ZeroAddress, MAX_DOCUMENT_AGE, MAX_ANSWER_AGE],
        [v, p, 0n, MAX_ANSWER_AGE],
        [v, p, MAX_DOCUMENT_AGE, 0n],
      ] as const)
        await expect(factory.deploy(args[0], args[1], args[2], args[3])).to.be.revertedWithCustomError(
          enclaves,
          "Enclave__InvalidConfig",
        );
    });
  });

  describe("the precompile: TEE requests", function () {
    it("refuses TEE requests while no enclave registry is set, and lets only the admin set one, once", async function () {
      const f = await loadFixture(sibylFixture);
      await expect(
        f.precompile
          .connect(f.user)
          .request(f.modelId, [...INPUT], Mode.TEE, CALLBACK_GAS, 0n, { value: REQUEST_FEE }),
      )
        .to.be.revertedWithCustomError(f.precompile, "Inference__UnsupportedMode")
        .withArgs(Mode.TEE);
      const t = await loadFixture(teeFixture);
      await expect(t.precompile.connect(t.stranger).setEnclaveRegistry(await t.enclaves.getAddress()))
        .to.be.revertedWithCustomError(t.precompile, "Inference__NotAdmin")
        .withArgs(t.stranger.address);
      await expect(t.precompile.connect(t.admin).setEnclaveRegistry(await t.enclaves.getAddress()))
        .to.be.revertedWithCustomError(t.precompile, "Inference__EnclaveRegistryNotSettable")
        .withArgs(await t.enclaves.getAddress());
      expect(await t.precompile.enclaveRegistry()).to.equal(await t.enclaves.getAddress());
    });

    it("settles a signed answer at once: Answered then Settled in one transaction, both hooks, fee to the node, no stake", async function () {
      const { precompile, recording, node, modelId, sign, teeRequest } = await loadFixture(teeFixture);
      const id = await teeRequest();
      const attestedAt = BigInt(await time.latest());
      const signature = await sign({ requestId: id, modelId, attestedAt });
      const pendingBefore = await precompile.pendingWithdrawal(node.address);
      const tx = precompile.connect(node).answerAttested(id, [...OUTPUT], attestedAt, signature);
      await expect(tx).to.emit(precompile, "InferenceAnswered");
      await expect(tx).to.emit(precompile, "InferenceSettled").withArgs(id, node.address, node.address, true);
      expect(await precompile.stateOf(id)).to.equal(State.Settled);
      expect(await precompile.isFinal(id)).to.equal(true);
      expect(await precompile.outputOf(id)).to.deep.equal(OUTPUT);
      expect(await precompile.outstandingOf(node.address)).to.equal(0n);
      expect(await precompile.pendingWithdrawal(node.address)).to.equal(pendingBefore + REQUEST_FEE);
      expect(await recording.callCount()).to.equal(2n);
      const [first, second] = [await recording.callAt(0), await recording.callAt(1)];
      expect(first.hook).to.equal(Hook.Answered);
      expect(second.hook).to.equal(Hook.Settled);
      // state before calls: the request is final when the first hook runs
      expect(first.stateSeen).to.equal(State.Settled);
      expect(second.output).to.deep.equal(OUTPUT);
    });

    it("refuses the same answer twice", async function () {
      const { precompile, node, modelId, sign, teeRequest } = await loadFixture(teeFixture);
      const id = await teeRequest();
      const attestedAt = BigInt(await time.latest());
      const signature = await sign({ requestId: id, modelId, attestedAt });
      await (await precompile.connect(node).answerAttested(id, [...OUTPUT], attestedAt, signature)).wait();
      await expect(precompile.connect(node).answerAttested(id, [...OUTPUT], attestedAt, signature))
        .to.be.revertedWithCustomError(precompile, "Inference__WrongState")
        .withArgs(id, State.Settled, State.Requested);
    });

    it("refuses a malleated (high-s) copy of a valid signature", async function () {
      const { precompile, enclaves, node, modelId, sign, teeRequest } = await loadFixture(teeFixture);
      const id = await teeRequest();
      const attestedAt = BigInt(await time.latest());
      const signature = await sign({ requestId: id, modelId, attestedAt });
      await expect(
        precompile.connect(node).answerAttested(id, [...OUTPUT], attestedAt, highS(signature)),
      ).to.be.revertedWithCustomError(enclaves, "Enclave__MalleableSignature");
    });

    for (const [what, change] of [
      ["another chain", { chainId: 1n }],
      ["another precompile address", { verifyingContract: "0x00000000000000000000000000000000000000F5" }],
      ["another output", { outputHash: wordsHash(packReference([0n, 0n, 0n], VALUE_BITS)) }],
      ["another input", { inputHash: wordsHash(packReference([1n, 1n, 1n, 1n], VALUE_BITS)) }],
    ] as const) {
      it(`refuses a signature made for ${what} (it recovers to an unknown key)`, async function () {
        const { precompile, enclaves, node, modelId, sign, teeRequest } = await loadFixture(teeFixture);
        const id = await teeRequest();
        const attestedAt = BigInt(await time.latest());
        const signature = await sign({ requestId: id, modelId, attestedAt, ...change });
        await expect(
          precompile.connect(node).answerAttested(id, [...OUTPUT], attestedAt, signature),
        ).to.be.revertedWithCustomError(enclaves, "Enclave__UnknownKey");
      });
    }

    it("refuses a signature made for another request", async function () {
      const { precompile, enclaves, node, modelId, sign, teeRequest } = await loadFixture(teeFixture);
      const first = await teeRequest();
      const second = await teeRequest();
      const attestedAt = BigInt(await time.latest());
      const signature = await sign({ requestId: first, modelId, attestedAt });
      await expect(
        precompile.connect(node).answerAttested(second, [...OUTPUT], attestedAt, signature),
      ).to.be.revertedWithCustomError(enclaves, "Enclave__UnknownKey");
    });

    it("refuses a signature by a key that was never registered", async function () {
      const { precompile, enclaves, node, modelId, sign, teeRequest } = await loadFixture(teeFixture);
      const id = await teeRequest();
      const attestedAt = BigInt(await time.latest());
      const stranger = Wallet.createRandom();
      const signature = await sign({ requestId: id, modelId, attestedAt }, stranger);
      await expect(precompile.connect(node).answerAttested(id, [...OUTPUT], attestedAt, signature))
        .to.be.revertedWithCustomError(enclaves, "Enclave__UnknownKey")
        .withArgs(stranger.address);
    });

    it("refuses an answer by a revoked key", async function () {
      const { precompile, enclaves, node, key, modelId, sign, teeRequest } = await loadFixture(teeFixture);
      await (await enclaves.connect(node).revokeEnclave(key.address)).wait();
      const id = await teeRequest();
      const attestedAt = BigInt(await time.latest());
      const signature = await sign({ requestId: id, modelId, attestedAt });
      await expect(precompile.connect(node).answerAttested(id, [...OUTPUT], attestedAt, signature))
        .to.be.revertedWithCustomError(enclaves, "Enclave__KeyRevoked")
        .withArgs(key.address);
    });

    it("refuses an answer older than maxAnswerAge, and one stamped in the future", async function () {
      const { precompile, enclaves, node, modelId, sign, teeRequest } = await loadFixture(teeFixture);
      const id = await teeRequest();
      const now = BigInt(await time.latest());
      const old = now - MAX_ANSWER_AGE - 10n;
      await expect(
        precompile
          .connect(node)
          .answerAttested(id, [...OUTPUT], old, await sign({ requestId: id, modelId, attestedAt: old })),
      ).to.be.revertedWithCustomError(enclaves, "Enclave__StaleAnswer");
      const later = now + 3600n;
      await expect(
        precompile
          .connect(node)
          .answerAttested(id, [...OUTPUT], later, await sign({ requestId: id, modelId, attestedAt: later })),
      ).to.be.revertedWithCustomError(enclaves, "Enclave__AnswerFromFuture");
    });

    it("refuses an answer once the model's owner no longer allows the enclave's measurement", async function () {
      const { precompile, enclaves, admin, node, modelId, measurement, sign, teeRequest } =
        await loadFixture(teeFixture);
      await (await enclaves.connect(admin).setMeasurement(modelId, measurement, false)).wait();
      const id = await teeRequest();
      const attestedAt = BigInt(await time.latest());
      await expect(
        precompile
          .connect(node)
          .answerAttested(id, [...OUTPUT], attestedAt, await sign({ requestId: id, modelId, attestedAt })),
      )
        .to.be.revertedWithCustomError(enclaves, "Enclave__MeasurementNotAllowed")
        .withArgs(modelId, measurement);
    });

    it("lets only the key's operator submit its answers", async function () {
      const { precompile, enclaves, node, node2, key, modelId, sign, teeRequest } =
        await loadFixture(teeFixture);
      const id = await teeRequest();
      const attestedAt = BigInt(await time.latest());
      const signature = await sign({ requestId: id, modelId, attestedAt });
      await expect(precompile.connect(node2).answerAttested(id, [...OUTPUT], attestedAt, signature))
        .to.be.revertedWithCustomError(enclaves, "Enclave__NotOperator")
        .withArgs(key.address, node.address, node2.address);
    });

    it("refuses a signature that is not 65 bytes, and a caller that is not a node", async function () {
      const { precompile, enclaves, node, stranger, modelId, sign, teeRequest } =
        await loadFixture(teeFixture);
      const id = await teeRequest();
      const attestedAt = BigInt(await time.latest());
      const signature = await sign({ requestId: id, modelId, attestedAt });
      await expect(
        precompile
          .connect(node)
          .answerAttested(id, [...OUTPUT], attestedAt, getBytes(signature).slice(0, 64)),
      ).to.be.revertedWithCustomError(enclaves, "Enclave__BadSignature");
      await expect(precompile.connect(stranger).answerAttested(id, [...OUTPUT], attestedAt, signature))
        .to.be.revertedWithCustomError(precompile, "Inference__NotNode")
        .withArgs(stranger.address);
    });

    it("keeps the two kinds of answer apart: answer() refuses a TEE request, answerAttested() a ZK one", async function () {
      const { precompile, node, modelId, sign, teeRequest, requestFromUser } = await loadFixture(teeFixture);
      const tee = await teeRequest();
      await expect(precompile.connect(node).answer(tee, [...OUTPUT]))
        .to.be.revertedWithCustomError(precompile, "Inference__WrongMode")
        .withArgs(tee, Mode.TEE);
      const zk = await requestFromUser();
      const attestedAt = BigInt(await time.latest());
      const signature = await sign({ requestId: zk, modelId, attestedAt });
      await expect(precompile.connect(node).answerAttested(zk, [...OUTPUT], attestedAt, signature))
        .to.be.revertedWithCustomError(precompile, "Inference__WrongMode")
        .withArgs(zk, Mode.ZK);
    });
  });

  describe("the precompile: attested synchronous results", function () {
    async function syncFixture() {
      const t = await loadFixture(teeFixture);
      await (await t.precompile.connect(t.user).deposit(t.node.address, { value: 10n * FEE })).wait();
      const consumer = await ethers.deployContract("SyncConsumer");
      let salt = 0n;
      const prepare = async (signature: (requestId: string) => Promise<string>, attestedAt: bigint) => {
        const s = toBeHex(++salt, 32);
        const requestId = keccak256(
          ethers.AbiCoder.defaultAbiCoder().encode(
            ["uint256", "address", "address", "bytes32"],
            [t.chainId, await t.precompile.getAddress(), t.node.address, s],
          ),
        );
        const item: ISyncInference.PreparationStruct = {
          origin: t.user.address,
          consumer: await consumer.getAddress(),
          modelId: t.modelId,
          finality: Finality.Attested,
          legacyLayout: false,
          salt: s,
          input: [...INPUT],
          output: [...OUTPUT],
          proof: [...PROOF],
          attestedAt,
          signature: await signature(requestId),
        };
        return { requestId, tx: t.precompile.connect(t.node).prepare([item]) };
      };
      return { ...t, consumer, prepare };
    }

    it("checks the enclave's signature when the result is prepared, and settles it when the call consumes it", async function () {
      const { precompile, consumer, user, node, modelId, sign, prepare } = await loadFixture(syncFixture);
      const attestedAt = BigInt(await time.latest());
      const { requestId, tx } = await prepare(
        (id) => sign({ requestId: id, modelId, attestedAt }),
        attestedAt,
      );
      await (await tx).wait();
      expect(await precompile.stateOf(requestId)).to.equal(State.Prepared);
      expect(await precompile.bondBacking(requestId)).to.equal(0n); // no stake behind an attested result
      const call = consumer.connect(user).consume(modelId, [...INPUT], Finality.Attested);
      await expect(call)
        .to.emit(precompile, "InferenceSettled")
        .withArgs(requestId, node.address, await consumer.getAddress(), true);
      expect(await precompile.stateOf(requestId)).to.equal(State.Settled);
      expect((await precompile.getRequest(requestId)).mode).to.equal(Mode.TEE);
    });

    it("refuses to prepare an attested result whose signature does not check", async function () {
      const { enclaves, modelId, sign, prepare } = await loadFixture(syncFixture);
      const attestedAt = BigInt(await time.latest());
      const { tx } = await prepare(
        (id) => sign({ requestId: id, modelId, attestedAt }, Wallet.createRandom()),
        attestedAt,
      );
      await expect(tx).to.be.revertedWithCustomError(enclaves, "Enclave__UnknownKey");
    });
  });
});
