import { expect } from "chai";
import { encode } from "cbor2";
import { readFileSync } from "node:fs";
import { network } from "hardhat";

import { type AttestationDocument, parseAttestation, sigStructure } from "../../src/tee/attestation.js";

/**
 * contracts/libraries/NitroDocument.sol against the off-chain reader (src/tee/attestation.ts), on
 * the two real AWS Nitro attestation documents in test/data/nitro/.
 */

const DATA = new URL("../data/nitro/", import.meta.url);
const FIXTURES = [
  { name: "aws-nitro-2024-09-17.cose", debug: true },
  { name: "aws-nitro-2026-02-02.cose", debug: false },
];

const hex = (bytes: Uint8Array | undefined): string =>
  "0x" + Buffer.from(bytes ?? new Uint8Array()).toString("hex");
const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

const { ethers } = await network.create();

async function deploy() {
  return ethers.deployContract("NitroDocumentHarness");
}

/** The payload fields of `doc` as a CBOR map (definite length), without the listed keys. */
function payloadMap(doc: AttestationDocument, omit: string[] = []): Map<string, unknown> {
  const map = new Map<string, unknown>([
    ["module_id", doc.moduleId],
    ["digest", doc.digest],
    ["timestamp", doc.timestampMs],
    ["pcrs", doc.pcrs],
    ["certificate", doc.certificate],
    ["cabundle", doc.cabundle],
    ["public_key", doc.publicKey ?? null],
    ["user_data", doc.userData ?? null],
    ["nonce", doc.nonce ?? null],
  ]);
  for (const key of omit) map.delete(key);
  return map;
}

describe("NitroDocument (on-chain CBOR / COSE_Sign1 reader)", function () {
  for (const { name, debug } of FIXTURES) {
    describe(name, function () {
      const bytes = new Uint8Array(readFileSync(new URL(name, DATA)));
      const doc = parseAttestation(bytes);

      it("decodeCose returns the signed parts, as the TypeScript reader does", async function () {
        const harness = await deploy();
        const cose = await harness.decodeCose(bytes);
        expect(cose.protectedHeader).to.equal(hex(doc.protectedHeader));
        expect(cose.protectedHeader).to.equal("0xa1013822");
        expect(cose.payload).to.equal(hex(doc.payload));
        expect(cose.signature).to.equal(hex(doc.signature));
      });

      it("decodePayload matches parseAttestation field by field", async function () {
        const harness = await deploy();
        const p = await harness.decodeDocument(bytes);
        expect(p.timestampMs).to.equal(doc.timestampMs);
        expect(p.pcr0).to.equal(hex(doc.pcrs.get(0)));
        expect(p.pcr1).to.equal(hex(doc.pcrs.get(1)));
        expect(p.pcr2).to.equal(hex(doc.pcrs.get(2)));
        expect(p.pcr0Hash).to.equal(ethers.keccak256(doc.pcrs.get(0)!));
        expect(p.certificate).to.equal(hex(doc.certificate));
        expect(p.cabundle.length).to.equal(doc.cabundle.length);
        doc.cabundle.forEach((cert, i) => expect(p.cabundle[i]).to.equal(hex(cert), `cabundle[${i}]`));
        expect(p.publicKey).to.equal(hex(doc.publicKey));
        expect(p.userData).to.equal(hex(doc.userData));
        expect(p.nonce).to.equal(hex(doc.nonce));
        expect(p.debug).to.equal(debug);
        expect(p.debug).to.equal(doc.pcrs.get(0)!.every((b) => b === 0));
      });

      it("sigStructure equals the TypeScript Sig_structure bytes", async function () {
        const harness = await deploy();
        const onChain = await harness.sigStructure(doc.protectedHeader, doc.payload);
        expect(onChain).to.equal(hex(sigStructure(doc.protectedHeader, doc.payload)));
      });

      it("reports the gas of decodeCose + decodePayload", async function () {
        const harness = await deploy();
        const [timestampMs, pcr0Hash, isDebug, cabundleLength, decodeGas] = await harness.measure(bytes);
        expect(timestampMs).to.equal(doc.timestampMs);
        expect(pcr0Hash).to.equal(ethers.keccak256(doc.pcrs.get(0)!));
        expect(isDebug).to.equal(debug);
        expect(cabundleLength).to.equal(BigInt(doc.cabundle.length));
        const txGas = await harness.measure.estimateGas(bytes);
        console.log(
          `      ${name} (${bytes.length} bytes, payload ${doc.payload.length}): ` +
            `decode ${decodeGas} gas inside the call; estimateGas of the call ${txGas}`,
        );
      });
    });
  }

  describe("payload encodings", function () {
    const doc = parseAttestation(new Uint8Array(readFileSync(new URL(FIXTURES[0]!.name, DATA))));

    it("reads an indefinite-length map with unknown keys and null optional fields", async function () {
      const harness = await deploy();
      const entries = [...payloadMap(doc, ["public_key", "nonce"])];
      const pairs = entries.map(([k, v]) => concat(encode(k), encode(v)));
      const payload = concat(
        Uint8Array.of(0xbf),
        encode("extra"),
        encode([1, { a: [h(3)] }, -7n, 1.5]),
        ...pairs,
        encode(7),
        encode(null),
        encode("public_key"),
        encode(null),
        Uint8Array.of(0xff),
      );
      const p = await harness.decodePayload(payload);
      expect(p.timestampMs).to.equal(doc.timestampMs);
      expect(p.certificate).to.equal(hex(doc.certificate));
      expect(p.cabundle).to.deep.equal(doc.cabundle.map((c) => hex(c)));
      expect(p.userData).to.equal(hex(doc.userData));
      expect(p.publicKey).to.equal("0x");
      expect(p.nonce).to.equal("0x");
    });
  });

  describe("malformed input", function () {
    const bytes = new Uint8Array(readFileSync(new URL(FIXTURES[1]!.name, DATA)));
    const doc = parseAttestation(bytes);
    const envelope = (protectedHeader: Uint8Array, payload: Uint8Array, signature: Uint8Array): Uint8Array =>
      concat(
        Uint8Array.of(0x84),
        encode(protectedHeader),
        Uint8Array.of(0xa0),
        encode(payload),
        encode(signature),
      );

    it("a truncated document", async function () {
      const harness = await deploy();
      await expect(harness.decodeCose(bytes.subarray(0, bytes.length - 1))).to.be.revertedWithCustomError(
        harness,
        "NitroDocument__Malformed",
      );
      await expect(harness.decodeCose(bytes.subarray(0, 3))).to.be.revertedWithCustomError(
        harness,
        "NitroDocument__Malformed",
      );
      await expect(harness.decodeCose(concat(bytes, Uint8Array.of(0)))).to.be.revertedWithCustomError(
        harness,
        "NitroDocument__Malformed",
      );
    });

    it("a protected header other than {1: -35}", async function () {
      const harness = await deploy();
      for (const header of [Uint8Array.of(0xa1, 0x01, 0x26), Uint8Array.of(0xa1, 0x01, 0x38, 0x23)]) {
        await expect(
          harness.decodeCose(envelope(header, doc.payload, doc.signature)),
        ).to.be.revertedWithCustomError(harness, "NitroDocument__NotES384");
      }
    });

    it("a 95-byte signature", async function () {
      const harness = await deploy();
      await expect(
        harness.decodeCose(envelope(doc.protectedHeader, doc.payload, doc.signature.subarray(0, 95))),
      )
        .to.be.revertedWithCustomError(harness, "NitroDocument__BadSignatureLength")
        .withArgs(95n);
    });

    it("a payload whose length runs past the end", async function () {
      const harness = await deploy();
      // The certificate's head claims 4 KiB more than the payload holds.
      const payload = concat(
        Uint8Array.of(0xa1),
        encode("certificate"),
        Uint8Array.of(0x59, 0x10, 0x00),
        doc.certificate.subarray(0, 100),
      );
      await expect(harness.decodePayload(payload))
        .to.be.revertedWithCustomError(harness, "NitroDocument__Malformed")
        .withArgs(13n);
      // The real payload, cut short.
      await expect(
        harness.decodePayload(doc.payload.subarray(0, doc.payload.length - 10)),
      ).to.be.revertedWithCustomError(harness, "NitroDocument__Malformed");
      // The envelope's payload head claims one byte more than the document holds.
      const doc2 = envelope(doc.protectedHeader, doc.payload, doc.signature);
      await expect(
        harness.decodeCose(doc2.subarray(0, 6 + 3 + doc.payload.length - 1)),
      ).to.be.revertedWithCustomError(harness, "NitroDocument__Malformed");
    });

    it("a payload without certificate, or without PCR0", async function () {
      const harness = await deploy();
      await expect(harness.decodePayload(encode(payloadMap(doc, ["certificate"]))))
        .to.be.revertedWithCustomError(harness, "NitroDocument__MissingField")
        .withArgs(ethers.encodeBytes32String("certificate"));
      const noPcr0 = payloadMap(doc);
      noPcr0.set("pcrs", new Map([...doc.pcrs].filter(([i]) => i !== 0)));
      await expect(harness.decodePayload(encode(noPcr0)))
        .to.be.revertedWithCustomError(harness, "NitroDocument__MissingField")
        .withArgs(ethers.encodeBytes32String("PCR0"));
    });

    it("wrong types, duplicate keys, a bad digest, a short PCR", async function () {
      const harness = await deploy();
      const cases: Map<string, unknown>[] = [];
      const badDigest = payloadMap(doc);
      badDigest.set("digest", "SHA256");
      cases.push(badDigest);
      const textCert = payloadMap(doc);
      textCert.set("certificate", "not bytes");
      cases.push(textCert);
      const shortPcr = payloadMap(doc);
      shortPcr.set("pcrs", new Map([[0, new Uint8Array(47)]]));
      cases.push(shortPcr);
      const emptyBundle = payloadMap(doc);
      emptyBundle.set("cabundle", []);
      cases.push(emptyBundle);
      const zeroTime = payloadMap(doc);
      zeroTime.set("timestamp", 0);
      cases.push(zeroTime);
      for (const map of cases) {
        await expect(harness.decodePayload(encode(map))).to.be.revertedWithCustomError(
          harness,
          "NitroDocument__Malformed",
        );
      }
      // "nonce" twice, in an indefinite map.
      const dup = concat(
        Uint8Array.of(0xbf),
        ...[...payloadMap(doc)].map(([k, v]) => concat(encode(k), encode(v))),
        encode("nonce"),
        encode(null),
        Uint8Array.of(0xff),
      );
      await expect(harness.decodePayload(dup)).to.be.revertedWithCustomError(
        harness,
        "NitroDocument__Malformed",
      );
    });
  });
});

function h(n: number): Uint8Array {
  return new Uint8Array(n).fill(0xab);
}
