import { expect } from "chai";
import { X509Certificate, createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import "reflect-metadata"; // before @peculiar/x509
import * as x509 from "@peculiar/x509";
import { computeAddress, concat, hexlify, keccak256, toUtf8Bytes } from "ethers";

import { canonicalModelJson, quantizeInput } from "../../src/model/quantize.js";
import { loadArtifacts } from "../../src/pipeline/artifacts.js";
import { type QuantizedModel, runQuantized } from "../../src/runtime/fixed.js";
import { inputWords, outputWords, recoverTeeSigner, wordsHash } from "../../src/tee/answer.js";
import {
  AWS_NITRO_ROOT_SHA256,
  AttestationError,
  parseAttestation,
  verifyAttestation,
} from "../../src/tee/attestation.js";
import { DEV_CA_FILE, type DevCa, loadOrCreateDevCa } from "../../src/tee/devCa.js";
import { EnclaveError, type TeeAnswerRequest } from "../../src/tee/enclave.js";
import { PCR1_LABEL, enclavePcrs } from "../../src/tee/enclaveApp.js";
import { PCR_COUNT, PCR_LENGTH } from "../../src/tee/localEnclave.js";
import { LocalEnclaveProcess, enclaveLaunch } from "../../src/tee/localEnclaveProcess.js";
import { errorOf } from "../helpers/errors.js";

const sha384 = (b: Uint8Array | string) => new Uint8Array(createHash("sha384").update(b).digest());
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

const PRECOMPILE = "0x0000000000000000000000000000000000000A11";
const SETOSA = [5.1, 3.5, 1.4, 0.2];
const VIRGINICA = [6.3, 2.9, 5.6, 1.8];

/** Whether a process with this pid exists (signal 0 only checks). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) expect.fail("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("LocalEnclaveProcess", function () {
  this.timeout(120_000);

  let dir: string;
  let ca: DevCa;
  let model: QuantizedModel;
  let enclave: LocalEnclaveProcess;
  const started: LocalEnclaveProcess[] = [];

  const start = async (opts: { debug?: boolean; moduleId?: string } = {}) => {
    const e = await LocalEnclaveProcess.start({ ca, model, ...opts });
    started.push(e);
    return e;
  };

  const request = (
    input: readonly bigint[],
    overrides: Partial<TeeAnswerRequest> = {},
  ): TeeAnswerRequest => ({
    chainId: 31337n,
    precompile: PRECOMPILE,
    requestId: keccak256(toUtf8Bytes(`request ${input.join(",")}`)),
    modelId: keccak256(toUtf8Bytes("iris")),
    input,
    ...overrides,
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "sibyl-dev-ca-"));
    ca = await loadOrCreateDevCa(join(dir, "tee"));
    model = loadArtifacts("iris").quantized;
    enclave = await start({ moduleId: "i-0123456789abcdef0-enc0123456789abcdef" });
  });

  after(async () => {
    await Promise.all(started.map((e) => e.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  describe("development CA", () => {
    it("is created once, stored as JSON, and reused", async () => {
      const again = await loadOrCreateDevCa(join(dir, "tee"));
      expect(again.rootSha256).to.equal(ca.rootSha256);
      expect(again.keyPkcs8).to.deep.equal(ca.keyPkcs8);
      expect(ca.path).to.equal(join(dir, "tee", DEV_CA_FILE));
      const stored = JSON.parse(readFileSync(ca.path, "utf8")) as Record<string, string>;
      expect(stored.warning).to.match(/INSECURE/);
      expect(stored.rootSha256).to.equal(ca.rootSha256);
      expect(ca.describe).to.match(/INSECURE.*development/);
      const root = new X509Certificate(ca.rootDer);
      expect(root.ca).to.equal(true);
      expect(root.publicKey.asymmetricKeyDetails?.namedCurve).to.equal("secp384r1");
      expect(createHash("sha256").update(ca.rootDer).digest("hex")).to.equal(ca.rootSha256);
    });

    it("is the same CA for concurrent creators", async () => {
      const fresh = join(dir, "concurrent");
      const cas = await Promise.all([1, 2, 3, 4].map(() => loadOrCreateDevCa(fresh)));
      for (const c of cas) expect(c.rootSha256).to.equal(cas[0]!.rootSha256);
    });

    it("refuses a corrupt file with the advice to delete it", async () => {
      const corrupt = join(dir, "corrupt");
      const good = await loadOrCreateDevCa(corrupt);
      const stored = JSON.parse(readFileSync(good.path, "utf8")) as Record<string, string>;
      const variants = [
        "{ not json",
        JSON.stringify({ ...stored, format: "other" }),
        JSON.stringify({ ...stored, rootSha256: "00".repeat(32) }),
        JSON.stringify({ ...stored, keyPkcs8: Buffer.from(ca.keyPkcs8).toString("base64") }), // another CA's key
      ];
      for (const text of variants) {
        writeFileSync(good.path, text);
        const error = await errorOf(() => loadOrCreateDevCa(corrupt));
        expect(error, text).to.be.instanceOf(EnclaveError);
        expect(error.message).to.contain(`${good.path} is corrupt`).and.contain(`delete ${good.path}`);
      }
    });
  });

  describe("launch", () => {
    it("runs the TypeScript entry through tsx under the test runner, plain JavaScript from dist/", () => {
      const ts = enclaveLaunch();
      expect(ts.entry).to.match(/src[/\\]tee[/\\]enclaveApp\.ts$/);
      expect(ts.execArgv).to.include("--import");
      expect(ts.execArgv.find((a) => a.includes("tsx"))).to.match(/^file:.*tsx/);
      // a compiled module beside an enclaveApp.js
      writeFileSync(join(dir, "enclaveApp.js"), "");
      const js = enclaveLaunch(pathToFileURL(join(dir, "localEnclaveProcess.js")).href);
      expect(js.entry).to.equal(join(dir, "enclaveApp.js"));
      expect(js.execArgv).to.not.include("--import");
      expect(() => enclaveLaunch(pathToFileURL(join(dir, "nowhere", "x.js")).href)).to.throw(
        EnclaveError,
        /missing/,
      );
    });
  });

  describe("attestation", () => {
    const NONCE = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
    const USER_DATA = toUtf8Bytes("model iris");

    it("parses and verifies off-chain with the development root pinned", async () => {
      const doc = await enclave.attest({ nonce: NONCE, userData: USER_DATA });
      const verified = verifyAttestation(parseAttestation(doc), {
        rootSha256: ca.rootSha256,
        expectedNonce: NONCE,
        maxAgeMs: 60_000,
        allowedPcrs: { 0: [hex(enclave.pcrs[0]!)], 2: [hex(sha384(canonicalModelJson(model)))] },
      });
      expect(verified.debug).to.equal(false);
      expect(verified.document.moduleId).to.equal("i-0123456789abcdef0-enc0123456789abcdef");
      expect(verified.document.userData).to.deep.equal(USER_DATA);
      expect(verified.document.cabundle[0]).to.deep.equal(ca.rootDer);
      expect(enclave.rootDer).to.deep.equal(ca.rootDer);
      expect(enclave.rootSha256).to.equal(ca.rootSha256);
    });

    it("is refused where the AWS Nitro root is pinned", async () => {
      const doc = await enclave.attest({ nonce: NONCE });
      expect(() => verifyAttestation(parseAttestation(doc), { rootSha256: AWS_NITRO_ROOT_SHA256 }))
        .to.throw(AttestationError)
        .with.property("reason", "root");
    });

    it("binds the answer key: public_key is its uncompressed secp256k1 key", async () => {
      const doc = parseAttestation(await enclave.attest({ nonce: NONCE }));
      expect(doc.publicKey).to.deep.equal(enclave.publicKey);
      expect(doc.publicKey).to.have.lengthOf(65);
      expect(doc.publicKey![0]).to.equal(0x04);
      expect(computeAddress(hexlify(doc.publicKey!))).to.equal(enclave.answerKey);
      expect(doc.userData).to.equal(undefined);
    });

    it("reports PCRs measured like Nitro's: image, (absent) kernel, application", async () => {
      const doc = parseAttestation(await enclave.attest({ nonce: NONCE }));
      expect([...doc.pcrs.keys()]).to.deep.equal([...Array(PCR_COUNT).keys()]);
      const json = canonicalModelJson(model);
      expect(doc.pcrs.get(2)).to.deep.equal(sha384(json));
      expect(doc.pcrs.get(1)).to.deep.equal(sha384(PCR1_LABEL));
      expect(doc.pcrs.get(0)).to.deep.equal(enclavePcrs(model)[0]); // the same program, measured here
      for (let i = 3; i < PCR_COUNT; i++) expect(doc.pcrs.get(i)).to.deep.equal(new Uint8Array(PCR_LENGTH));
      expect([...doc.pcrs.values()]).to.deep.equal(enclave.pcrs.map((p) => new Uint8Array(p)));
      expect(enclave.measurement).to.equal(
        keccak256(concat([doc.pcrs.get(0)!, doc.pcrs.get(1)!, doc.pcrs.get(2)!])),
      );
      expect(enclave.image).to.include.members([
        "enclaveApp.ts",
        "answer.ts",
        "localEnclave.ts",
        "../runtime/fixed.ts",
      ]);
      // another model is another image
      const other: QuantizedModel = { ...model, name: "iris-renamed" };
      expect(enclavePcrs(other)[0]).to.not.deep.equal(doc.pcrs.get(0));
      expect(enclavePcrs(other)[2]).to.deep.equal(sha384(canonicalModelJson(other)));
    });

    it("chains root → regional → zonal → instance → ~3-hour leaf, as AWS does", async () => {
      const doc = parseAttestation(await enclave.attest({ nonce: NONCE }));
      const chain = [...doc.cabundle, doc.certificate].map(
        (der) => new x509.X509Certificate(new Uint8Array(der)),
      );
      expect(chain).to.have.lengthOf(5);
      const constraints = chain.map((c) => c.getExtension(x509.BasicConstraintsExtension)!);
      expect(constraints.map((c) => c.ca)).to.deep.equal([true, true, true, true, false]);
      expect(constraints.map((c) => c.pathLength)).to.deep.equal([undefined, 2, 1, 0, undefined]);
      expect(constraints.every((c) => c.critical)).to.equal(true);
      const F = x509.KeyUsageFlags;
      const caUsages = F.digitalSignature | F.keyCertSign | F.cRLSign;
      expect(chain.map((c) => c.getExtension(x509.KeyUsagesExtension)!.usages)).to.deep.equal([
        caUsages,
        caUsages,
        caUsages,
        F.keyCertSign,
        F.digitalSignature | F.nonRepudiation,
      ]);
      for (let i = 1; i < chain.length; i++) {
        expect(chain[i]!.issuer).to.equal(chain[i - 1]!.subject);
        expect(await chain[i]!.verify({ publicKey: chain[i - 1]!.publicKey, signatureOnly: true })).to.equal(
          true,
        );
      }
      const leaf = chain[4]!;
      const lifetime = leaf.notAfter.getTime() - leaf.notBefore.getTime();
      expect(lifetime).to.be.within(3 * 3_600_000, 3 * 3_600_000 + 10 * 60_000);
      expect(leaf.subject).to.contain("i-0123456789abcdef0-enc0123456789abcdef");
      expect(enclave.describe()).to.match(/^local enclave process, NOT hardware-backed/);
    });

    it("refuses a nonce longer than the NSM accepts, and keeps serving", async () => {
      const error = await errorOf(() => enclave.attest({ nonce: new Uint8Array(513) }));
      expect(error).to.be.instanceOf(EnclaveError);
      expect(error.message).to.match(/nonce is 513 bytes/);
      expect((error as EnclaveError).hint).to.match(/at most 512 bytes/);
      const userData = await errorOf(() => enclave.attest({ nonce: NONCE, userData: new Uint8Array(600) }));
      expect(userData).to.be.instanceOf(EnclaveError);
      expect(await errorOf(() => enclave.attest({} as { nonce: Uint8Array }))).to.be.instanceOf(EnclaveError);
      const doc = await enclave.attest({ nonce: new Uint8Array(512) });
      expect(parseAttestation(doc).nonce).to.have.lengthOf(512);
    });

    it("in debug mode reports all-zero PCRs, accepted only with allowDebug", async () => {
      const debug = await start({ debug: true });
      expect(debug.pcrs).to.have.lengthOf(PCR_COUNT);
      for (const pcr of debug.pcrs) expect(pcr).to.deep.equal(new Uint8Array(PCR_LENGTH));
      expect(debug.measurement).to.equal(keccak256(new Uint8Array(3 * PCR_LENGTH)));
      expect(debug.describe()).to.match(/NOT hardware-backed.*DEBUG/);
      const doc = parseAttestation(await debug.attest({ nonce: NONCE }));
      for (const pcr of doc.pcrs.values()) expect(pcr).to.deep.equal(new Uint8Array(PCR_LENGTH));
      expect(() => verifyAttestation(doc, { rootSha256: ca.rootSha256 }))
        .to.throw(AttestationError)
        .with.property("reason", "debug");
      expect(verifyAttestation(doc, { rootSha256: ca.rootSha256, allowDebug: true }).debug).to.equal(true);
      expect(debug.answerKey).to.not.equal(enclave.answerKey); // every process makes its own key
    });
  });

  describe("answers", () => {
    it("returns runQuantized's output, signed by the answer key", async () => {
      for (const features of [SETOSA, VIRGINICA]) {
        const input = quantizeInput(model, features);
        const req = request(input);
        const before = Math.floor(Date.now() / 1000);
        const answer = await enclave.answer(req);
        expect(answer.output).to.deep.equal(runQuantized(model, input).output);
        expect(answer.inputHash).to.equal(wordsHash(inputWords(model, input)));
        expect(answer.outputHash).to.equal(wordsHash(outputWords(model, answer.output)));
        expect(answer.attestedAt).to.be.a("bigint");
        expect(Number(answer.attestedAt)).to.be.within(before, Math.floor(Date.now() / 1000));
        const fields = {
          ...req,
          inputHash: answer.inputHash,
          outputHash: answer.outputHash,
          attestedAt: answer.attestedAt,
        };
        expect(recoverTeeSigner(fields, answer.signature)).to.equal(enclave.answerKey);
        expect(recoverTeeSigner({ ...fields, chainId: 1n }, answer.signature)).to.not.equal(
          enclave.answerKey,
        );
      }
    });

    it("stamps the attestedAt it is given", async () => {
      const input = quantizeInput(model, SETOSA);
      const answer = await enclave.answer(request(input, { attestedAt: 1_234_567_890 }));
      expect(answer.attestedAt).to.equal(1_234_567_890n);
      const fields = { ...request(input), ...answer, attestedAt: 1_234_567_890n };
      expect(recoverTeeSigner(fields, answer.signature)).to.equal(enclave.answerKey);
    });

    it("answers concurrent calls each with its own result", async () => {
      const inputs = Array.from({ length: 12 }, (_, i) =>
        quantizeInput(model, [4.5 + i * 0.2, 3 - i * 0.05, 1 + i * 0.4, 0.1 + i * 0.2]),
      );
      const answers = await Promise.all(inputs.map((input) => enclave.answer(request(input))));
      answers.forEach((answer, i) => {
        expect(answer.output).to.deep.equal(runQuantized(model, inputs[i]!).output);
        expect(answer.inputHash).to.equal(wordsHash(inputWords(model, inputs[i]!)));
      });
      expect(new Set(answers.map((a) => a.output[0])).size).to.be.greaterThan(1);
    });

    it("refuses bad requests with an EnclaveError, and the next call still works", async () => {
      const good = quantizeInput(model, SETOSA);
      const bad: [string, TeeAnswerRequest, RegExp][] = [
        ["too few inputs", request([1n, 2n, 3n]), /takes 4 inputs, got 3/],
        ["an input out of range", request([1n, 2n, 3n, 1n << 40n]), /outside the signed 24-bit range/],
        ["a number input", request([1, 2, 3, 4] as unknown as bigint[]), /not an integer/],
        ["a short requestId", request(good, { requestId: "0x1234" }), /requestId is not a bytes32/],
        ["attestedAt beyond uint64", request(good, { attestedAt: 1n << 64n }), /attestedAt/],
        [
          "a weight commitment for public weights",
          request(good, { weightCommitment: 5n }),
          /weight commitment/,
        ],
        ["no input", { ...request(good), input: undefined } as unknown as TeeAnswerRequest, /no input/],
      ];
      for (const [what, req, pattern] of bad) {
        const error = await errorOf(() => enclave.answer(req));
        expect(error, what).to.be.instanceOf(EnclaveError);
        expect(error.message, what)
          .to.match(/answer refused/)
          .and.match(pattern);
        expect((error as EnclaveError).hint, what)
          .to.be.a("string")
          .and.not.equal("");
        const answer = await enclave.answer(request(good));
        expect(answer.output, `after ${what}`).to.deep.equal(runQuantized(model, good).output);
      }
      expect(enclave.running).to.equal(true);
    });

    it("refuses a request it cannot even send (not structured-cloneable)", async () => {
      const error = await errorOf(() =>
        enclave.answer({ ...request(quantizeInput(model, SETOSA)), chainId: (() => 1) as unknown as bigint }),
      );
      expect(error).to.be.instanceOf(EnclaveError);
      expect(error.message).to.match(/could not be sent/);
      expect((await enclave.answer(request(quantizeInput(model, SETOSA)))).output).to.have.lengthOf(1);
    });
  });

  describe("lifecycle", () => {
    it("rejects every pending call when the process is killed, and refuses later calls", async () => {
      const victim = await start();
      const input = quantizeInput(model, SETOSA);
      const calls = [
        ...Array.from({ length: 20 }, () => victim.attest({ nonce: new Uint8Array(16) })),
        ...Array.from({ length: 20 }, () => victim.answer(request(input))),
      ];
      process.kill(victim.pid, "SIGKILL");
      const results = await Promise.allSettled(calls);
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(rejected.length).to.be.greaterThan(0);
      for (const r of rejected) {
        expect(r.reason).to.be.instanceOf(EnclaveError);
        expect(r.reason.message).to.match(/exited \(killed by SIGKILL\) before answering (attest|answer)/);
        expect(r.reason.hint).to.match(/start a new LocalEnclaveProcess/);
      }
      expect(victim.running).to.equal(false);
      const later = await errorOf(() => victim.answer(request(input)));
      expect(later).to.be.instanceOf(EnclaveError);
      expect(later.message).to.match(/the process exited \(killed by SIGKILL\)/);
      await victim.close(); // closing a dead enclave is a no-op
    });

    it("close() ends the process; later calls are refused", async () => {
      const closing = await start();
      const pid = closing.pid;
      expect(alive(pid)).to.equal(true);
      await closing.close();
      await waitUntil(() => !alive(pid));
      expect(closing.running).to.equal(false);
      const error = await errorOf(() => closing.attest({ nonce: new Uint8Array(1) }));
      expect(error).to.be.instanceOf(EnclaveError);
      expect(error.message).to.match(/was closed/);
      await closing.close(); // twice is fine
    });

    it("refuses to start with a CA whose key is not its certificate's", async () => {
      const other = await loadOrCreateDevCa(join(dir, "other"));
      const error = await errorOf(() =>
        LocalEnclaveProcess.start({ ca: { rootDer: ca.rootDer, keyPkcs8: other.keyPkcs8 }, model }),
      );
      expect(error).to.be.instanceOf(EnclaveError);
      expect(error.message).to.match(/could not start: .*does not match its certificate/);
    });
  });
});
