import { expect } from "chai";
import "reflect-metadata"; // before @peculiar/x509: its tsyringe needs the Reflect metadata API
import * as x509 from "@peculiar/x509";
import { encode } from "cbor2";
import {
  KeyObject,
  X509Certificate,
  createECDH,
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  sign,
  verify as nodeVerify,
} from "node:crypto";
import { readFileSync } from "node:fs";
import { keccak256 } from "ethers";
import { network } from "hardhat";

import { AWS_NITRO_ROOT_SHA256, parseAttestation, sigStructure } from "../../src/tee/attestation.js";
import { LocalEnclave } from "../../src/tee/localEnclave.js";
import { type Made, makeCert } from "../helpers/certificates.js";
import type { AttestationVerifier, P384Probe } from "../../typechain-types/index.js";

/**
 * contracts/tee/AttestationVerifier.sol: certificates verified one transaction at a time against
 * a pinned root, then documents checked against the cached chain, on the default network
 * (Osaka: at most 2^24 gas a transaction). Also contracts/libraries/P384.sol, through
 * contracts/test/P384Probe.sol, against node:crypto and a BigInt reference.
 */

const DATA = new URL("../data/nitro/", import.meta.url);
const TX_GAS_CAP = 16_777_216n; // EIP-7825, Osaka's default

const hex = (b: Uint8Array | undefined): string => "0x" + Buffer.from(b ?? new Uint8Array()).toString("hex");
const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
const seconds = (d: Date): bigint => BigInt(Math.floor(d.getTime() / 1000));
const keccak = (b: Uint8Array): string => keccak256(b);

interface Fixture {
  name: string;
  bytes: Uint8Array;
  facts: {
    timestampMs: number;
    nonce: string;
    user_data: string;
    public_key: string;
    pcr0: string;
    chain: { validFrom: string; validTo: string }[];
  };
}

function fixture(name: string): Fixture {
  return {
    name,
    bytes: new Uint8Array(readFileSync(new URL(`${name}.cose`, DATA))),
    facts: JSON.parse(readFileSync(new URL(`${name}.json`, DATA), "utf8")),
  };
}

const AWS_2024 = fixture("aws-nitro-2024-09-17");
const AWS_2026 = fixture("aws-nitro-2026-02-02");

/** x ‖ y of a certificate's P-384 key. */
function rawKey(der: Uint8Array): string {
  const jwk = new X509Certificate(der).publicKey.export({ format: "jwk" });
  return hex(concat(Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")));
}

/** keccak256(PCR0 ‖ PCR1 ‖ PCR2), an absent PCR as 48 zero bytes. */
function measurement(pcrs: Map<number, Uint8Array>): string {
  return keccak(concat(...[0, 1, 2].map((i) => pcrs.get(i) ?? new Uint8Array(48))));
}

/** `bytes` with one byte XOR-ed with `mask`. */
function flip(bytes: Uint8Array, at: number, mask = 0x01): Uint8Array {
  const out = new Uint8Array(bytes);
  out[at] = out[at]! ^ mask;
  return out;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array | string): number {
  const at = Buffer.from(haystack).indexOf(
    typeof needle === "string" ? Buffer.from(needle) : Buffer.from(needle),
  );
  expect(at, "the bytes to change are in the input").to.be.greaterThan(-1);
  return at;
}

// ------------------------------------------------------------------ certificates and documents made here

/** A document in Nitro's format (an indefinite-length payload map, Nitro's key order), signed by `signer`. */
function makeDocument(opts: {
  leaf: Made;
  cabundle: Uint8Array[];
  timestampMs: number;
  pcrs: Uint8Array[];
  nonce?: Uint8Array;
  publicKey?: Uint8Array;
  userData?: Uint8Array;
  signer?: Made;
}): Uint8Array {
  const optional = (b?: Uint8Array) => (b ? new Uint8Array(b) : null);
  const fields: [string, unknown][] = [
    ["module_id", "i-test-enc"],
    ["digest", "SHA384"],
    ["timestamp", opts.timestampMs],
    ["pcrs", new Map(opts.pcrs.map((pcr, i) => [i, new Uint8Array(pcr)]))],
    ["certificate", new Uint8Array(opts.leaf.der)],
    ["cabundle", opts.cabundle.map((c) => new Uint8Array(c))],
    ["public_key", optional(opts.publicKey)],
    ["user_data", optional(opts.userData)],
    ["nonce", optional(opts.nonce)],
  ];
  const payload = concat(
    Uint8Array.of(0xbf),
    ...fields.flatMap(([key, value]) => [encode(key), encode(value)]),
    Uint8Array.of(0xff),
  );
  const protectedHeader = encode(new Map([[1, -35]]));
  const signature = sign("sha384", sigStructure(protectedHeader, payload), {
    key: KeyObject.from((opts.signer ?? opts.leaf).keys.privateKey),
    dsaEncoding: "ieee-p1363",
  });
  return encode([protectedHeader, new Map(), payload, new Uint8Array(signature)]);
}

const pcr = (label: string): Uint8Array => new Uint8Array(createHash("sha384").update(label).digest());

// ------------------------------------------------------------------ chains on-chain

type Connection = Awaited<ReturnType<typeof network.create>>;
type Verifier = AttestationVerifier;

/** Deploys a verifier pinned to `root` and submits `chain` (root excluded) parent first. */
async function deployWithChain(
  ethers: Connection["ethers"],
  root: Uint8Array,
  chain: Uint8Array[],
): Promise<{ verifier: Verifier; hashes: string[] }> {
  const verifier = await ethers.deployContract("AttestationVerifier", [root]);
  const hashes = [ethers.keccak256(root)];
  for (const der of chain) {
    await (await verifier.submitCertificate(der, hashes.at(-1)!)).wait();
    hashes.push(ethers.keccak256(der));
  }
  return { verifier, hashes };
}

describe("AttestationVerifier (AWS Nitro attestation documents, verified on-chain)", function () {
  for (const fx of [AWS_2024, AWS_2026]) {
    describe(`the real document ${fx.name}`, function () {
      const doc = parseAttestation(fx.bytes);
      const chain = [...doc.cabundle.slice(1), doc.certificate];
      let conn: Connection;
      let verifier: Verifier;
      let deployGas: bigint;
      const submissions: { der: Uint8Array; hash: string; issuer: string; gasUsed: bigint; tx: unknown }[] =
        [];

      before(async function () {
        // The chain's clock at the document's time (the documents are older than a fresh chain's
        // clock, which cannot go back): a fresh network that starts then.
        conn = await network.create({ override: { initialDate: new Date(fx.facts.timestampMs) } });
        verifier = await conn.ethers.deployContract("AttestationVerifier", [doc.cabundle[0]!]);
        deployGas = (await verifier.deploymentTransaction()!.wait())!.gasUsed;
        let issuer = await verifier.root();
        for (const der of chain) {
          const tx = await verifier.submitCertificate(der, issuer);
          const receipt = await tx.wait();
          const hash = conn.ethers.keccak256(der);
          submissions.push({ der, hash, issuer, gasUsed: receipt!.gasUsed, tx });
          issuer = hash;
        }
      });

      it("pins the real AWS Nitro root and caches it as its own issuer", async function () {
        const root = doc.cabundle[0]!;
        const sha256 = createHash("sha256").update(root).digest("hex");
        expect(sha256).to.equal(AWS_NITRO_ROOT_SHA256.replace(/:/g, "").toLowerCase());
        const rootHash = conn.ethers.keccak256(root);
        expect(await verifier.root()).to.equal(rootHash);
        expect(await verifier.isCached(rootHash)).to.equal(true);
        const c = await verifier.certificateOf(rootHash);
        const node = new X509Certificate(root);
        expect(c.issuer).to.equal(rootHash);
        expect([c.notBefore, c.notAfter]).to.deep.equal([
          seconds(node.validFromDate),
          seconds(node.validToDate),
        ]);
        expect([c.ca, c.pathLen]).to.deep.equal([true, 255n]);
        expect(c.publicKey).to.equal(rawKey(root));
      });

      it("caches each certificate of the chain, parent first, one transaction each", async function () {
        expect(submissions.map((s) => s.der.length)).to.have.lengthOf(4);
        const pathLens = [2n, 1n, 0n, 0n]; // AWS: regional, zonal, instance CA, then the leaf
        for (const [i, s] of submissions.entries()) {
          const node = new X509Certificate(s.der);
          const [notBefore, notAfter] = [seconds(node.validFromDate), seconds(node.validToDate)];
          await expect(s.tx as Promise<unknown>)
            .to.emit(verifier, "CertificateVerified")
            .withArgs(s.hash, s.issuer, notBefore, notAfter, node.ca);
          const c = await verifier.certificateOf(s.hash);
          expect(c.issuer).to.equal(s.issuer);
          expect(c.subjectHash).to.equal(
            keccak(
              new Uint8Array(new x509.X509Certificate(new Uint8Array(s.der)).subjectName.toArrayBuffer()),
            ),
          );
          expect([c.notBefore, c.notAfter, c.ca, c.pathLen]).to.deep.equal([
            notBefore,
            notAfter,
            node.ca,
            pathLens[i],
          ]);
          expect(c.publicKey).to.equal(rawKey(s.der));
          // the validity is the one the JSON lists for that certificate
          expect(node.validFrom).to.equal(fx.facts.chain[i + 1]!.validFrom);
          expect(node.validTo).to.equal(fx.facts.chain[i + 1]!.validTo);
        }
      });

      it("verifyDocument returns exactly what the document says", async function () {
        const block = await conn.ethers.provider.getBlock("latest");
        expect(Math.abs(block!.timestamp - fx.facts.timestampMs / 1000)).to.be.lessThan(600);
        const a = await verifier.verifyDocument(fx.bytes);
        expect(a.leaf).to.equal(conn.ethers.keccak256(doc.certificate));
        expect(a.timestampMs).to.equal(BigInt(fx.facts.timestampMs));
        expect(a.measurement).to.equal(measurement(doc.pcrs));
        expect(a.debug).to.equal(/^0+$/.test(fx.facts.pcr0));
        expect(a.debug).to.equal(fx === AWS_2024);
        expect(a.pcr0).to.equal("0x" + fx.facts.pcr0);
        expect(a.publicKey).to.equal("0x" + fx.facts.public_key);
        expect(a.userData).to.equal("0x" + fx.facts.user_data);
        expect(a.nonce).to.equal("0x" + fx.facts.nonce);
      });

      it("submitting a cached certificate again is a no-op that returns its hash", async function () {
        const leaf = submissions.at(-1)!;
        expect(await verifier.submitCertificate.staticCall(leaf.der, leaf.issuer)).to.equal(leaf.hash);
        // even with an unknown issuer named: the certificate is known
        expect(await verifier.submitCertificate.staticCall(leaf.der, conn.ethers.ZeroHash)).to.equal(
          leaf.hash,
        );
        await expect(verifier.submitCertificate(leaf.der, leaf.issuer)).not.to.emit(
          verifier,
          "CertificateVerified",
        );
      });

      if (fx === AWS_2026) {
        it("measures the gas of each step (deployment, each certificate, the document) under 2^24", async function () {
          const verifyGas = await verifier.verifyDocument.estimateGas(fx.bytes);
          const lines = [
            `deployment (root ${doc.cabundle[0]!.length} bytes, its signature checked): ${deployGas}`,
            ...submissions.map((s, i) => `submitCertificate #${i + 1} (${s.der.length} bytes): ${s.gasUsed}`),
            `verifyDocument (${fx.bytes.length} bytes), estimateGas: ${verifyGas}`,
          ];
          console.log(`      gas, ${fx.name}:\n${lines.map((l) => `        ${l}`).join("\n")}`);
          for (const gas of [deployGas, ...submissions.map((s) => s.gasUsed), verifyGas]) {
            expect(gas).to.be.lessThan(TX_GAS_CAP);
          }
        });
      }
    });
  }

  it("checks validity at the document's own time, not by the chain's clock", async function () {
    // a chain whose clock is now (years after the 2024 document and all of its certificates)
    const { ethers } = await network.create();
    const doc = parseAttestation(AWS_2024.bytes);
    const block = await ethers.provider.getBlock("latest");
    expect(block!.timestamp * 1000).to.be.greaterThan(Date.parse("2024-10-05T00:00:00Z"));
    const { verifier } = await deployWithChain(ethers, doc.cabundle[0]!, [
      ...doc.cabundle.slice(1),
      doc.certificate,
    ]);
    expect((await verifier.verifyDocument(AWS_2024.bytes)).timestampMs).to.equal(
      BigInt(AWS_2024.facts.timestampMs),
    );
  });

  describe("refusals", function () {
    const doc = parseAttestation(AWS_2026.bytes);
    const chain = [...doc.cabundle.slice(1), doc.certificate];
    let conn: Connection;
    let full: Verifier;
    let rootOnly: Verifier;
    let rootHash: string;

    before(async function () {
      conn = await network.create();
      ({ verifier: full } = await deployWithChain(conn.ethers, doc.cabundle[0]!, chain));
      rootOnly = await conn.ethers.deployContract("AttestationVerifier", [doc.cabundle[0]!]);
      rootHash = conn.ethers.keccak256(doc.cabundle[0]!);
    });

    it("a changed byte in the payload (the timestamp, a PCR): BadDocumentSignature", async function () {
      // the timestamp is `timestamp` then 0x1b and 8 bytes: change its last byte (1 ms)
      const ts = indexOf(AWS_2026.bytes, "timestamp") + "timestamp".length;
      expect(AWS_2026.bytes[ts]).to.equal(0x1b);
      const later = flip(AWS_2026.bytes, ts + 8);
      expect(parseAttestation(later).timestampMs).to.equal(BigInt(AWS_2026.facts.timestampMs) ^ 1n);
      await expect(full.verifyDocument(later)).to.be.revertedWithCustomError(
        full,
        "Enclave__BadDocumentSignature",
      );
      // PCR0, one bit
      const pcr0 = flip(AWS_2026.bytes, indexOf(AWS_2026.bytes, doc.pcrs.get(0)!) + 20);
      expect(parseAttestation(pcr0).pcrs.get(0)).to.not.deep.equal(doc.pcrs.get(0));
      await expect(full.verifyDocument(pcr0)).to.be.revertedWithCustomError(
        full,
        "Enclave__BadDocumentSignature",
      );
    });

    it("a changed byte in the COSE signature: BadDocumentSignature", async function () {
      for (const at of [AWS_2026.bytes.length - 1, AWS_2026.bytes.length - 60]) {
        await expect(full.verifyDocument(flip(AWS_2026.bytes, at))).to.be.revertedWithCustomError(
          full,
          "Enclave__BadDocumentSignature",
        );
      }
    });

    it("a document whose leaf was not submitted: UnknownCertificate", async function () {
      const { verifier } = await deployWithChain(conn.ethers, doc.cabundle[0]!, chain.slice(0, -1));
      await expect(verifier.verifyDocument(AWS_2026.bytes))
        .to.be.revertedWithCustomError(verifier, "Enclave__UnknownCertificate")
        .withArgs(conn.ethers.keccak256(doc.certificate));
    });

    it("a certificate whose issuer was not submitted: UnknownIssuer", async function () {
      const issuer = conn.ethers.keccak256(chain[2]!);
      await expect(rootOnly.submitCertificate(doc.certificate, issuer))
        .to.be.revertedWithCustomError(rootOnly, "Enclave__UnknownIssuer")
        .withArgs(issuer);
    });

    it("a changed byte in a certificate: BadCertificateSignature; in its issuer name: IssuerMismatch", async function () {
      const regional = chain[0]!;
      // in the subject's common name "97729fd67d43eaa0.us-east-2…"
      const subject = flip(regional, indexOf(regional, "97729fd67d43eaa0"));
      await expect(rootOnly.submitCertificate(subject, rootHash))
        .to.be.revertedWithCustomError(rootOnly, "Enclave__BadCertificateSignature")
        .withArgs(conn.ethers.keccak256(subject));
      // the issuer name comes first: its "aws.nitro-enclaves"
      const issuerName = flip(regional, indexOf(regional, "aws.nitro-enclaves"));
      await expect(rootOnly.submitCertificate(issuerName, rootHash))
        .to.be.revertedWithCustomError(rootOnly, "Enclave__IssuerMismatch")
        .withArgs(conn.ethers.keccak256(issuerName), rootHash);
      // a byte of the signature itself
      const signature = flip(regional, regional.length - 3);
      await expect(rootOnly.submitCertificate(signature, rootHash))
        .to.be.revertedWithCustomError(rootOnly, "Enclave__BadCertificateSignature")
        .withArgs(conn.ethers.keccak256(signature));
      expect(await rootOnly.isCached(conn.ethers.keccak256(regional))).to.equal(false);
    });

    it("a truncated certificate: MalformedCertificate; a P-256 one: UnsupportedAlgorithm", async function () {
      await expect(rootOnly.submitCertificate(chain[0]!.subarray(0, 300), rootHash))
        .to.be.revertedWithCustomError(rootOnly, "Enclave__MalformedCertificate")
        .withArgs(0);
      const p256 = await makeCert({ name: "CN=p256", curve: "P-256", hash: "SHA-256" });
      await expect(rootOnly.submitCertificate(p256.der, rootHash)).to.be.revertedWithCustomError(
        rootOnly,
        "Enclave__UnsupportedAlgorithm",
      );
    });

    it("a root that is not a self-signed CA whose signature verifies: InvalidConfig", async function () {
      const factory = await conn.ethers.getContractFactory("AttestationVerifier");
      // an intermediate (issuer name is not its subject name)
      await expect(
        conn.ethers.deployContract("AttestationVerifier", [chain[0]!]),
      ).to.be.revertedWithCustomError(factory, "Enclave__InvalidConfig");
      // self-signed, but not a CA
      const notCa = await makeCert({ name: "CN=not a CA", basic: { ca: false } });
      await expect(
        conn.ethers.deployContract("AttestationVerifier", [notCa.der]),
      ).to.be.revertedWithCustomError(factory, "Enclave__InvalidConfig");
      // the real root with a changed byte in its serial number: its signature no longer verifies
      const root = doc.cabundle[0]!;
      await expect(
        conn.ethers.deployContract("AttestationVerifier", [flip(root, 16)]),
      ).to.be.revertedWithCustomError(factory, "Enclave__InvalidConfig");
      // not a certificate at all
      await expect(conn.ethers.deployContract("AttestationVerifier", [Uint8Array.of(1, 2, 3)]))
        .to.be.revertedWithCustomError(factory, "Enclave__MalformedCertificate")
        .withArgs(0);
    });
  });

  describe("chains made here", function () {
    const T = Date.UTC(2027, 0, 15, 12, 0, 0);
    const HOUR = 3_600_000;
    let conn: Connection;

    before(async function () {
      conn = await network.create();
    });

    it("a certificate issued by a non-CA: NotCA", async function () {
      const root = await makeCert({ name: "CN=root" });
      const leaf = await makeCert({ name: "CN=leaf", issuer: root, basic: { ca: false } });
      const below = await makeCert({ name: "CN=below the leaf", issuer: leaf, basic: { ca: false } });
      const { verifier, hashes } = await deployWithChain(conn.ethers, root.der, [leaf.der]);
      await expect(verifier.submitCertificate(below.der, hashes[1]!))
        .to.be.revertedWithCustomError(verifier, "Enclave__NotCA")
        .withArgs(hashes[1]!);
    });

    it("path lengths: a CA under a CA whose path length is used up is refused, an end entity is not", async function () {
      const root = await makeCert({ name: "CN=root", basic: { ca: true, pathLength: 1 } });
      // own pathLen absent (unlimited), capped by the root's: 1 - 1 = 0
      const ca = await makeCert({ name: "CN=ca", issuer: root, basic: { ca: true } });
      const subCa = await makeCert({ name: "CN=sub ca", issuer: ca, basic: { ca: true, pathLength: 0 } });
      const leaf = await makeCert({ name: "CN=leaf", issuer: ca, basic: { ca: false } });
      const { verifier, hashes } = await deployWithChain(conn.ethers, root.der, [ca.der]);
      expect((await verifier.certificateOf(hashes[0]!)).pathLen).to.equal(1n);
      expect((await verifier.certificateOf(hashes[1]!)).pathLen).to.equal(0n);
      await expect(verifier.submitCertificate(subCa.der, hashes[1]!))
        .to.be.revertedWithCustomError(verifier, "Enclave__NotCA")
        .withArgs(hashes[1]!);
      await expect(verifier.submitCertificate(leaf.der, hashes[1]!))
        .to.emit(verifier, "CertificateVerified")
        .withArgs(
          conn.ethers.keccak256(leaf.der),
          hashes[1]!,
          seconds(new X509Certificate(leaf.der).validFromDate),
          seconds(new X509Certificate(leaf.der).validToDate),
          false,
        );

      // under an unlimited root, a CA without pathLen stays unlimited
      const open = await makeCert({ name: "CN=open root" });
      const openCa = await makeCert({ name: "CN=open ca", issuer: open, basic: { ca: true } });
      const limited = await makeCert({
        name: "CN=limited ca",
        issuer: openCa,
        basic: { ca: true, pathLength: 3 },
      });
      const chain = await deployWithChain(conn.ethers, open.der, [openCa.der, limited.der]);
      expect((await chain.verifier.certificateOf(chain.hashes[1]!)).pathLen).to.equal(255n);
      expect((await chain.verifier.certificateOf(chain.hashes[2]!)).pathLen).to.equal(3n);
    });

    it("a document outside its leaf's validity, or its intermediate's: CertificateNotValidAt", async function () {
      const root = await makeCert({ name: "CN=root", notBefore: new Date(T - 365 * 24 * HOUR) });
      const ca = await makeCert({
        name: "CN=ca",
        issuer: root,
        notBefore: new Date(T - 24 * HOUR),
        notAfter: new Date(T + HOUR / 2),
        basic: { ca: true, pathLength: 0 },
      });
      const leaf = await makeCert({
        name: "CN=leaf",
        issuer: ca,
        notBefore: new Date(T),
        notAfter: new Date(T + HOUR),
        basic: { ca: false },
      });
      const { verifier, hashes } = await deployWithChain(conn.ethers, root.der, [ca.der, leaf.der]);
      const at = (timestampMs: number) =>
        makeDocument({
          leaf,
          cabundle: [root.der, ca.der],
          timestampMs,
          pcrs: [pcr("0"), pcr("1"), pcr("2")],
        });
      const [leafNb, leafNa] = [BigInt(T / 1000), BigInt((T + HOUR) / 1000)];
      const [caNb, caNa] = [BigInt((T - 24 * HOUR) / 1000), BigInt((T + HOUR / 2) / 1000)];

      expect((await verifier.verifyDocument(at(T + 60_000))).timestampMs).to.equal(BigInt(T + 60_000));
      // the bounds are inclusive, in whole seconds
      expect((await verifier.verifyDocument(at(T))).timestampMs).to.equal(BigInt(T));
      await expect(verifier.verifyDocument(at(T - 1)))
        .to.be.revertedWithCustomError(verifier, "Enclave__CertificateNotValidAt")
        .withArgs(hashes[2]!, leafNb - 1n, leafNb, leafNa);
      await expect(verifier.verifyDocument(at(T + 2 * HOUR)))
        .to.be.revertedWithCustomError(verifier, "Enclave__CertificateNotValidAt")
        .withArgs(hashes[2]!, leafNa + 3600n, leafNb, leafNa);
      // the leaf is valid at T + 45 min, its issuer is not any more
      await expect(verifier.verifyDocument(at(T + 45 * 60_000)))
        .to.be.revertedWithCustomError(verifier, "Enclave__CertificateNotValidAt")
        .withArgs(hashes[1]!, caNa + 15n * 60n, caNb, caNa);
    });

    it("a document signed by another key than its leaf's: BadDocumentSignature", async function () {
      const root = await makeCert({ name: "CN=root" });
      const leaf = await makeCert({ name: "CN=leaf", issuer: root, basic: { ca: false } });
      const other = await makeCert({ name: "CN=other", issuer: root, basic: { ca: false } });
      const { verifier, hashes } = await deployWithChain(conn.ethers, root.der, [leaf.der]);
      await (await verifier.submitCertificate(other.der, hashes[0]!)).wait();
      const doc = makeDocument({
        leaf,
        cabundle: [root.der],
        timestampMs: T,
        pcrs: [pcr("0")],
        signer: other,
      });
      await expect(verifier.verifyDocument(doc)).to.be.revertedWithCustomError(
        verifier,
        "Enclave__BadDocumentSignature",
      );
    });

    it("a document with PCR0 only: PCR1 and PCR2 count as 48 zero bytes; absent fields are empty", async function () {
      const root = await makeCert({ name: "CN=root" });
      const leaf = await makeCert({ name: "CN=leaf", issuer: root, basic: { ca: false } });
      const { verifier, hashes } = await deployWithChain(conn.ethers, root.der, [leaf.der]);
      const doc = makeDocument({ leaf, cabundle: [root.der], timestampMs: T, pcrs: [pcr("image")] });
      const a = await verifier.verifyDocument(doc);
      expect(a.leaf).to.equal(hashes[1]);
      expect(a.measurement).to.equal(keccak(concat(pcr("image"), new Uint8Array(96))));
      expect(a.pcr0).to.equal(hex(pcr("image")));
      expect(a.debug).to.equal(false);
      expect([a.publicKey, a.userData, a.nonce]).to.deep.equal(["0x", "0x", "0x"]);
    });
  });

  describe("LocalEnclave documents", function () {
    for (const debug of [false, true]) {
      it(`verify on-chain against the enclave's own root (${debug ? "debug" : "production"} mode)`, async function () {
        const { ethers } = await network.create();
        const enclave = await LocalEnclave.create(debug ? { debug } : { pcrs: { 0: pcr("my image") } });
        const nonce = ethers.getBytes(ethers.id("nonce"));
        const publicKey = ethers.getBytes(ethers.Wallet.createRandom().signingKey.publicKey);
        const userData = new TextEncoder().encode("model sha256 …");
        const bytes = await enclave.attest({ nonce, publicKey, userData });
        const doc = parseAttestation(bytes);
        const { verifier } = await deployWithChain(ethers, enclave.rootDer, [
          ...doc.cabundle.slice(1),
          doc.certificate,
        ]);
        const a = await verifier.verifyDocument(bytes);
        expect(a.leaf).to.equal(ethers.keccak256(doc.certificate));
        expect(a.timestampMs).to.equal(doc.timestampMs);
        expect(a.measurement).to.equal(keccak(concat(...enclave.pcrs.slice(0, 3))));
        expect(a.debug).to.equal(debug);
        expect(a.pcr0).to.equal(hex(debug ? new Uint8Array(48) : pcr("my image")));
        expect([a.publicKey, a.userData, a.nonce]).to.deep.equal([hex(publicKey), hex(userData), hex(nonce)]);
      });
    }
  });
});

// ------------------------------------------------------------------ P-384

const P = 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n;
const N = 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n;
const B = 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn;
const G: Point = [
  0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7n,
  0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5fn,
];
type Point = [bigint, bigint] | null;

const mod = (a: bigint, m: bigint): bigint => ((a % m) + m) % m;
function pow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  for (b = mod(b, m); e > 0n; e >>= 1n, b = (b * b) % m) if (e & 1n) r = (r * b) % m;
  return r;
}
const inv = (a: bigint, m: bigint): bigint => pow(a, m - 2n, m);

function add(p: Point, q: Point): Point {
  if (!p) return q;
  if (!q) return p;
  if (p[0] === q[0] && mod(p[1] + q[1], P) === 0n) return null;
  const l =
    p[0] === q[0]
      ? mod((3n * p[0] * p[0] - 3n) * inv(2n * p[1], P), P)
      : mod((q[1] - p[1]) * inv(q[0] - p[0], P), P);
  const x = mod(l * l - p[0] - q[0], P);
  return [x, mod(l * (p[0] - x) - p[1], P)];
}

function mul(k: bigint, p: Point): Point {
  let r: Point = null;
  for (let a = p; k > 0n; k >>= 1n, a = add(a, a)) if (k & 1n) r = add(r, a);
  return r;
}

const be48 = (v: bigint): Uint8Array => ethersBytes(v.toString(16).padStart(96, "0"));
const ethersBytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, "hex"));
const keyBytes = (q: Point): Uint8Array => concat(be48(q![0]), be48(q![1]));

/** The reference: SEC 1 §4.1.4 on BigInts. */
function referenceVerify(e: bigint, r: bigint, s: bigint, q: Point): boolean {
  if (r <= 0n || r >= N || s <= 0n || s >= N || !q) return false;
  if (mod(q[1] * q[1] - (q[0] ** 3n - 3n * q[0] + B), P) !== 0n) return false;
  const w = inv(s, N);
  const point = add(mul(mod(e * w, N), G), mul(mod(r * w, N), q));
  return point !== null && mod(point[0], N) === r;
}

/** A signature made for chosen u1, u2 and key Q (R = u1 G + u2 Q): the digest e, and r, s. */
function crafted(
  q: Point,
  u1: bigint,
  u2: bigint,
): { digest: Uint8Array; signature: Uint8Array; r: bigint; x: bigint } {
  const point = add(mul(u1, G), mul(u2, q))!;
  const r = mod(point[0], N);
  const s = mod(r * inv(u2, N), N);
  const e = mod(u1 * s, N);
  return { digest: be48(e), signature: concat(be48(r), be48(s)), r, x: point[0] };
}

/** The key of the private scalar `d` (a P-384 key object that node:crypto signs with). */
function keyOf(d: bigint): { q: Point; privateKey: KeyObject } {
  const ecdh = createECDH("secp384r1");
  ecdh.setPrivateKey(Buffer.from(be48(d)));
  const pub = ecdh.getPublicKey();
  const q: Point = [
    BigInt("0x" + pub.subarray(1, 49).toString("hex")),
    BigInt("0x" + pub.subarray(49).toString("hex")),
  ];
  const privateKey = createPrivateKey({
    format: "jwk",
    key: {
      kty: "EC",
      crv: "P-384",
      d: Buffer.from(be48(d)).toString("base64url"),
      x: pub.subarray(1, 49).toString("base64url"),
      y: pub.subarray(49).toString("base64url"),
    },
  });
  return { q, privateKey };
}

describe("P384 (ECDSA P-384 verification without MODEXP per step)", function () {
  let probe: P384Probe;

  before(async function () {
    const { ethers } = await network.create();
    probe = await ethers.deployContract("P384Probe");
  });

  async function check(
    digest: Uint8Array,
    signature: Uint8Array,
    key: Uint8Array,
    expected: boolean,
    what: string,
  ) {
    expect(await probe.verifyDigest(digest, signature, key), what).to.equal(expected);
  }

  it("agrees with node:crypto on random keys and messages; both s and n - s verify", async function () {
    for (let i = 0; i < 6; i++) {
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
      const jwk = publicKey.export({ format: "jwk" });
      const key = concat(Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url"));
      const message = Buffer.from(`message ${i}`);
      const digest = new Uint8Array(createHash("sha384").update(message).digest());
      const signature = new Uint8Array(
        sign("sha384", message, { key: privateKey, dsaEncoding: "ieee-p1363" }),
      );
      const s = BigInt(hex(signature.subarray(48)));
      const twin = concat(signature.subarray(0, 48), be48(N - s));
      for (const sig of [signature, twin]) {
        expect(nodeVerify("sha384", message, { key: publicKey, dsaEncoding: "ieee-p1363" }, sig)).to.equal(
          true,
        );
        await check(digest, sig, key, true, `key ${i}`);
      }
      await check(flip(digest, 47), signature, key, false, "digest changed");
      await check(digest, flip(signature, 5), key, false, "r changed");
      await check(digest, flip(signature, 90), key, false, "s changed");
      await check(digest, signature, flip(key, 10), false, "key changed (off the curve)");
    }
  });

  it("refuses r or s outside [1, n - 1], keys off the curve or outside the field, wrong lengths", async function () {
    const { q, privateKey } = keyOf(0x1234567890abcdefn);
    const message = Buffer.from("range");
    const digest = new Uint8Array(createHash("sha384").update(message).digest());
    const signature = new Uint8Array(sign("sha384", message, { key: privateKey, dsaEncoding: "ieee-p1363" }));
    const [r, s] = [signature.subarray(0, 48), signature.subarray(48)];
    const key = keyBytes(q);
    await check(digest, signature, key, true, "the signature itself");
    for (const [what, sig] of [
      ["r = 0", concat(be48(0n), s)],
      ["s = 0", concat(r, be48(0n))],
      ["r = n", concat(be48(N), s)],
      ["s = n", concat(r, be48(N))],
      ["r = n + r", concat(be48(N + BigInt(hex(r))), s)],
    ] as const) {
      await check(digest, sig, key, false, what);
    }
    await check(digest, signature, keyBytes([q![0], q![1] + 1n]), false, "y + 1");
    await check(digest, signature, keyBytes([q![0] + P, q![1]]), false, "x + p");
    await check(digest, signature, new Uint8Array(96), false, "(0, 0)");
    await check(digest.subarray(1), signature, key, false, "47-byte digest");
    await check(digest, signature.subarray(1), key, false, "95-byte signature");
    await check(digest, signature, concat(Uint8Array.of(4), key), false, "97-byte key");
  });

  it("keys that are small multiples of G (table points that coincide or vanish) verify", async function () {
    for (const d of [1n, 2n, 3n, N - 1n, N - 2n, N - 3n]) {
      const { q, privateKey } = keyOf(d);
      const message = Buffer.from(`d = ${d}`);
      const digest = new Uint8Array(createHash("sha384").update(message).digest());
      const signature = new Uint8Array(
        sign("sha384", message, { key: privateKey, dsaEncoding: "ieee-p1363" }),
      );
      expect(
        referenceVerify(
          BigInt(hex(digest)),
          BigInt(hex(signature.subarray(0, 48))),
          BigInt(hex(signature.subarray(48))),
          q,
        ),
      ).to.equal(true);
      await check(digest, signature, keyBytes(q), true, `d = ${d}`);
      await check(flip(digest, 0), signature, keyBytes(q), false, `d = ${d}, digest changed`);
    }
  });

  it("signatures whose sums double, vanish mid-way, or whose x(R) is at least n verify", async function () {
    const cases: [string, Point, bigint, bigint][] = [
      // Q = G, u1 = 6, u2 = 2: windows (1, 0) then (2, 2): 4G + (2G + 2Q) is a doubling
      ["a doubling inside the sum", G, 6n, 2n],
      // Q = -2G, u1 = 19, u2 = 9: G, then 4G + 2Q = O, then O + (3G + Q) = G
      ["the sum at infinity mid-way", mul(N - 2n, G), 19n, 9n],
    ];
    // a point R with x(R) >= n, and a key Q = (R - u1 G) / u2 for random u1, u2
    let x = N + 1n; // (x = n itself would make r = 0)
    for (; ; x++) {
      const rhs = mod(x ** 3n - 3n * x + B, P);
      const y = pow(rhs, (P + 1n) / 4n, P);
      if ((y * y) % P === rhs) {
        const [u1, u2] = [0x5eedn * 0x1234567n, 0xc0ffeen * 0x89abcdefn];
        const q = mul(inv(u2, N), add([x, y], mul(N - u1, G)));
        cases.push(["x(R) >= n (r = x(R) - n)", q, u1, u2]);
        break;
      }
    }
    for (const [what, q, u1, u2] of cases) {
      const { digest, signature, r, x: xr } = crafted(q, u1, u2);
      const [e, s] = [BigInt(hex(digest)), BigInt(hex(signature.subarray(48)))];
      expect(referenceVerify(e, r, s, q), what).to.equal(true);
      await check(digest, signature, keyBytes(q), true, what);
      await check(flip(digest, 47), signature, keyBytes(q), false, `${what}, digest changed`);
      if (xr >= N) {
        // the unreduced x(R) is not a valid r (r < n)
        await check(digest, concat(be48(xr), signature.subarray(48)), keyBytes(q), false, "r = x(R)");
      }
    }
  });
});
