import { expect } from "chai";
import { readFileSync } from "node:fs";
import { encode } from "cbor2";

import { SibylError } from "../../src/errors.js";
import {
  AWS_NITRO_ROOT_SHA256,
  AttestationError,
  type AttestationDocument,
  type AttestationFailure,
  type AttestationPolicy,
  parseAttestation,
  verifyAttestation,
} from "../../src/tee/attestation.js";

/** Decoded facts beside each fixture (see test/data/nitro/README.md). */
interface Facts {
  module_id: string;
  timestampMs: number;
  nonce: string;
  user_data: string;
  public_key: string;
  pcr0: string;
  chain: { subject: string; validTo: string }[];
}

const DATA = new URL("../data/nitro/", import.meta.url);

function fixture(name: string): { bytes: Buffer; facts: Facts } {
  return {
    bytes: readFileSync(new URL(`${name}.cose`, DATA)),
    facts: JSON.parse(readFileSync(new URL(`${name}.json`, DATA), "utf8")) as Facts,
  };
}

const DEBUG = fixture("aws-nitro-2024-09-17");
const PRODUCTION = fixture("aws-nitro-2026-02-02");

const production: AttestationPolicy = { rootSha256: AWS_NITRO_ROOT_SHA256 };

function hex(bytes: Uint8Array | undefined): string {
  return Buffer.from(bytes ?? []).toString("hex");
}

/** The AttestationError `fn` throws, checked for its reason (fails the test otherwise). */
function attestationErrorOf(fn: () => unknown, reason: AttestationFailure): AttestationError {
  try {
    fn();
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(AttestationError);
    expect(e).to.be.instanceOf(SibylError);
    expect((e as AttestationError).reason, String(e)).to.equal(reason);
    expect((e as AttestationError).hint)
      .to.be.a("string")
      .and.not.equal("");
    return e as AttestationError;
  }
  expect.fail(`expected an AttestationError (${reason})`);
}

/** A copy of the document bytes with one byte (at `offset` within `part`) changed. */
function flipped(bytes: Buffer, part: Uint8Array, offset: number, mask = 0x01): Buffer {
  const at = bytes.indexOf(Buffer.from(part));
  expect(at, "part not found in the document").to.be.greaterThan(-1);
  const copy = Buffer.from(bytes);
  copy[at + offset]! ^= mask;
  return copy;
}

/** Offset of an ASCII string inside a DER certificate: flipping its case keeps DER valid. */
function offsetOf(der: Uint8Array, text: string): number {
  const at = Buffer.from(der).indexOf(text, 0, "ascii");
  expect(at, `"${text}" not in the certificate`).to.be.greaterThan(-1);
  return at;
}

describe("Nitro attestation (off-chain)", function () {
  describe("parseAttestation", function () {
    for (const { name, fx } of [
      { name: "debug 2024-09-17", fx: DEBUG },
      { name: "production 2026-02-02", fx: PRODUCTION },
    ]) {
      it(`decodes the ${name} document to its published facts`, function () {
        const doc = parseAttestation(fx.bytes);
        expect(doc.moduleId).to.equal(fx.facts.module_id);
        expect(doc.digest).to.equal("SHA384");
        expect(doc.timestampMs).to.equal(BigInt(fx.facts.timestampMs));
        expect(hex(doc.nonce)).to.equal(fx.facts.nonce);
        expect(hex(doc.userData)).to.equal(fx.facts.user_data);
        expect(hex(doc.publicKey)).to.equal(fx.facts.public_key);
        expect(hex(doc.pcrs.get(0))).to.equal(fx.facts.pcr0);
        expect(doc.cabundle.length + 1).to.equal(fx.facts.chain.length);
        expect(doc.signature.length).to.equal(96);
      });
    }

    it("accepts a COSE_Sign1 wrapped in tag 18", function () {
      const doc = parseAttestation(Buffer.concat([Uint8Array.of(0xd2), PRODUCTION.bytes]));
      expect(doc.moduleId).to.equal(PRODUCTION.facts.module_id);
    });

    it("refuses truncated bytes", function () {
      attestationErrorOf(() => parseAttestation(PRODUCTION.bytes.subarray(0, 500)), "format");
    });

    it("refuses bytes that are not CBOR", function () {
      attestationErrorOf(() => parseAttestation(Uint8Array.of(0xff, 0x00)), "format");
    });

    it("refuses CBOR that is not a COSE_Sign1 array", function () {
      attestationErrorOf(() => parseAttestation(encode([1, 2, 3])), "format");
    });

    it("refuses a protected header other than ES384", function () {
      const { payload, signature } = parseAttestation(PRODUCTION.bytes);
      const es256 = encode(new Map([[1, -7]]));
      const error = attestationErrorOf(
        () => parseAttestation(encode([es256, new Map(), payload, signature])),
        "format",
      );
      expect(error.message).to.include("ES384");
    });
  });

  describe("verifyAttestation", function () {
    it("accepts the production document under the AWS root", function () {
      const verified = verifyAttestation(parseAttestation(PRODUCTION.bytes), production);
      expect(verified.debug).to.equal(false);
      expect(verified.leafSubject).to.include(PRODUCTION.facts.module_id);
      expect(verified.document.timestampMs).to.equal(BigInt(PRODUCTION.facts.timestampMs));
    });

    it("accepts the debug document only with allowDebug", function () {
      const verified = verifyAttestation(parseAttestation(DEBUG.bytes), { ...production, allowDebug: true });
      expect(verified.debug).to.equal(true);
    });

    it("refuses a debug-mode enclave under a production policy", function () {
      attestationErrorOf(() => verifyAttestation(parseAttestation(DEBUG.bytes), production), "debug");
    });

    it("accepts a pinned root written in lower case without colons", function () {
      const rootSha256 = AWS_NITRO_ROOT_SHA256.replace(/:/g, "").toLowerCase();
      verifyAttestation(parseAttestation(PRODUCTION.bytes), { rootSha256 });
    });

    it("refuses a chain that does not start at the pinned root", function () {
      const policy = { rootSha256: "00".repeat(32) };
      attestationErrorOf(() => verifyAttestation(parseAttestation(PRODUCTION.bytes), policy), "root");
    });

    describe("tampering", function () {
      const doc = parseAttestation(PRODUCTION.bytes);

      it("refuses one flipped byte in the payload (the nonce)", function () {
        const bytes = flipped(PRODUCTION.bytes, doc.nonce!, 5);
        attestationErrorOf(() => verifyAttestation(parseAttestation(bytes), production), "signature");
      });

      it("refuses one flipped byte in the payload (PCR0)", function () {
        const bytes = flipped(PRODUCTION.bytes, doc.pcrs.get(0)!, 0);
        attestationErrorOf(() => verifyAttestation(parseAttestation(bytes), production), "signature");
      });

      it("refuses one flipped byte in the signature", function () {
        const bytes = flipped(PRODUCTION.bytes, doc.signature, 40);
        attestationErrorOf(() => verifyAttestation(parseAttestation(bytes), production), "signature");
      });

      it("refuses one flipped byte in the root certificate", function () {
        const root = doc.cabundle[0]!;
        const bytes = flipped(PRODUCTION.bytes, root, offsetOf(root, "nitro-enclaves"), 0x20);
        attestationErrorOf(() => verifyAttestation(parseAttestation(bytes), production), "root");
      });

      it("refuses one flipped byte in an intermediate certificate", function () {
        const intermediate = doc.cabundle[1]!;
        const at = offsetOf(intermediate, "us-east-2");
        const bytes = flipped(PRODUCTION.bytes, intermediate, at, 0x20);
        attestationErrorOf(() => verifyAttestation(parseAttestation(bytes), production), "chain");
      });

      it("refuses one flipped byte in the leaf certificate", function () {
        const leaf = doc.certificate;
        const at = offsetOf(leaf, PRODUCTION.facts.module_id);
        const bytes = flipped(PRODUCTION.bytes, leaf, at, 0x20);
        attestationErrorOf(() => verifyAttestation(parseAttestation(bytes), production), "chain");
      });

      it("refuses a leaf certificate that is not DER", function () {
        const bytes = flipped(PRODUCTION.bytes, doc.certificate, 0, 0xff);
        attestationErrorOf(() => verifyAttestation(parseAttestation(bytes), production), "chain");
      });

      it("ignores edits to the decoded fields and reads the signed payload", function () {
        const edited: AttestationDocument = {
          ...doc,
          moduleId: "i-forged",
          pcrs: new Map([[0, new Uint8Array(48)]]),
        };
        const verified = verifyAttestation(edited, production);
        expect(verified.document.moduleId).to.equal(PRODUCTION.facts.module_id);
        expect(verified.debug).to.equal(false);
      });
    });

    describe("policy", function () {
      const doc = parseAttestation(PRODUCTION.bytes);
      const takenAt = BigInt(PRODUCTION.facts.timestampMs);

      it("accepts PCR0 on the allow-list", function () {
        verifyAttestation(doc, {
          ...production,
          allowedPcrs: { 0: ["0x" + PRODUCTION.facts.pcr0.toUpperCase()] },
        });
      });

      it("refuses PCR0 missing from the allow-list", function () {
        const policy = { ...production, allowedPcrs: { 0: [DEBUG.facts.pcr0, "ab".repeat(48)] } };
        attestationErrorOf(() => verifyAttestation(doc, policy), "pcr");
      });

      it("accepts the expected nonce", function () {
        verifyAttestation(doc, { ...production, expectedNonce: Buffer.from(PRODUCTION.facts.nonce, "hex") });
      });

      it("refuses another nonce", function () {
        const expectedNonce = Buffer.from(DEBUG.facts.nonce, "hex");
        attestationErrorOf(() => verifyAttestation(doc, { ...production, expectedNonce }), "nonce");
      });

      it("accepts a document younger than maxAgeMs", function () {
        verifyAttestation(doc, { ...production, maxAgeMs: 60_000, now: takenAt + 30_000n });
      });

      it("refuses a document older than maxAgeMs", function () {
        const policy = { ...production, maxAgeMs: 60_000, now: takenAt + 86_400_000n };
        attestationErrorOf(() => verifyAttestation(doc, policy), "stale");
      });

      it("checks the chain at the document's time, not today's (both leaves long expired)", function () {
        const leafValidTo = new Date(PRODUCTION.facts.chain.at(-1)!.validTo);
        expect(leafValidTo.getTime()).to.be.lessThan(Date.now());
        verifyAttestation(doc, production);
      });
    });
  });
});
