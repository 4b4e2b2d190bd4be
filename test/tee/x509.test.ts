import { expect } from "chai";
import "reflect-metadata"; // before @peculiar/x509: its tsyringe needs the Reflect metadata API
import * as x509 from "@peculiar/x509";
import fc from "fast-check";
import { X509Certificate, verify as nodeVerify } from "node:crypto";
import { readFileSync } from "node:fs";
import { network } from "hardhat";

import { parseAttestation } from "../../src/tee/attestation.js";
import { LocalEnclave } from "../../src/tee/localEnclave.js";
import { makeCert } from "../helpers/certificates.js";

/**
 * contracts/libraries/X509.sol (through contracts/test/X509Harness.sol) against node:crypto and
 * @peculiar/x509, on the certificates of the two real AWS Nitro documents, of a LocalEnclave
 * chain, and on certificates made or corrupted here.
 */

const DATA = new URL("../data/nitro/", import.meta.url);
const { ethers } = await network.create();

const hex = (b: Uint8Array): string => "0x" + Buffer.from(b).toString("hex");
const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
const seconds = (d: Date): bigint => BigInt(Math.floor(d.getTime() / 1000));

async function deploy() {
  return ethers.deployContract("X509Harness");
}

// ------------------------------------------------------------------ a DER tree, to corrupt certificates

interface Der {
  tag: number;
  /** offset of the element's first byte in the DER it was read from */
  pos: number;
  content?: Uint8Array;
  children?: Der[];
  /** the length bytes to write instead of the DER ones */
  head?: Uint8Array;
}

function readDer(b: Uint8Array, pos = 0): [Der, number] {
  const tag = b[pos]!;
  let length = b[pos + 1]!;
  let p = pos + 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + b[p++]!;
  }
  const end = p + length;
  if ((tag & 0x20) === 0) return [{ tag, pos, content: b.slice(p, end) }, end];
  const children: Der[] = [];
  while (p < end) {
    const [child, next] = readDer(b, p);
    children.push(child);
    p = next;
  }
  return [{ tag, pos, children }, end];
}

function lengthBytes(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return Uint8Array.of(0x80 | out.length, ...out);
}

function writeDer(node: Der): Uint8Array {
  const body = node.children ? concat(...node.children.map(writeDer)) : node.content!;
  return concat(Uint8Array.of(node.tag), node.head ?? lengthBytes(body.length), body);
}

const tree = (der: Uint8Array): Der => readDer(der)[0];
/** tbsCertificate's fields: version, serial, signature, issuer, validity, subject, spki, extensions */
const tbsOf = (cert: Der): Der[] => cert.children![0]!.children!;

/** The signature value's ECDSA-Sig-Value { r, s } of a certificate tree. */
function ecdsaSig(cert: Der): Der {
  return readDer(cert.children![2]!.content!.subarray(1))[0];
}

function withEcdsaSig(cert: Der, r: Uint8Array, s: Uint8Array): Uint8Array {
  const sig = writeDer({
    tag: 0x30,
    pos: 0,
    children: [
      { tag: 0x02, pos: 0, content: r },
      { tag: 0x02, pos: 0, content: s },
    ],
  });
  const copy = structuredClone(cert);
  copy.children![2] = { tag: 0x03, pos: 0, content: concat(Uint8Array.of(0), sig) };
  return writeDer(copy);
}

// ------------------------------------------------------------------ certificates made here

/** x ‖ y of a certificate's P-384 key, as node:crypto reads it. */
function rawKey(cert: X509Certificate): Buffer {
  const jwk = cert.publicKey.export({ format: "jwk" });
  expect(jwk.crv).to.equal("P-384");
  return Buffer.concat([Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")]);
}

/** The chains to check: root first, leaf last. */
async function chains(): Promise<{ name: string; ders: Uint8Array[] }[]> {
  const out = [];
  for (const name of ["aws-nitro-2024-09-17.cose", "aws-nitro-2026-02-02.cose"]) {
    const doc = parseAttestation(new Uint8Array(readFileSync(new URL(name, DATA))));
    out.push({ name, ders: [...doc.cabundle, doc.certificate] });
  }
  const enclave = await LocalEnclave.create();
  const local = parseAttestation(
    await enclave.attest({ nonce: new Uint8Array(8), publicKey: new Uint8Array(65) }),
  );
  out.push({ name: "a LocalEnclave document", ders: [...local.cabundle, local.certificate] });
  return out;
}

/** "ok", or the name of the custom error the call reverted with (or "other"). */
async function outcome(harness: Awaited<ReturnType<typeof deploy>>, der: Uint8Array): Promise<string> {
  try {
    await harness.parse(der);
    return "ok";
  } catch (e) {
    const data = (e as { data?: string }).data;
    const parsed = data ? harness.interface.parseError(data) : null;
    return parsed?.name ?? `other: ${(e as Error).message.slice(0, 200)}`;
  }
}

describe("X509 (on-chain DER certificate reader)", function () {
  describe("matches node:crypto and @peculiar/x509", function () {
    it("on every certificate of the real AWS chains and of a LocalEnclave chain", async function () {
      const harness = await deploy();
      for (const { name, ders } of await chains()) {
        let issuerKey: X509Certificate | undefined;
        for (const [i, der] of ders.entries()) {
          const what = `${name}, certificate ${i}`;
          const node = new X509Certificate(der);
          const peculiar = new x509.X509Certificate(new Uint8Array(der));
          const basic = peculiar.getExtension(x509.BasicConstraintsExtension);
          const p = await harness.parse(der);

          expect(p.notBefore, what).to.equal(seconds(node.validFromDate));
          expect(p.notAfter, what).to.equal(seconds(node.validToDate));
          expect(p.subjectHash, what).to.equal(
            ethers.keccak256(new Uint8Array(peculiar.subjectName.toArrayBuffer())),
          );
          expect(p.issuerHash, what).to.equal(
            ethers.keccak256(new Uint8Array(peculiar.issuerName.toArrayBuffer())),
          );
          expect(p.publicKey, what).to.equal(hex(rawKey(node)));
          expect(p.ca, what).to.equal(node.ca);
          expect(p.pathLen, what).to.equal(node.ca ? BigInt(basic?.pathLength ?? 255) : 0n);

          // tbs is the exact span the issuer signed, and r ‖ s is its signature
          const tbs = ethers.getBytes(p.tbs);
          expect(Buffer.from(der).indexOf(tbs), what).to.equal(4);
          const key = (issuerKey ?? node).publicKey;
          expect(
            nodeVerify("sha384", tbs, { key, dsaEncoding: "ieee-p1363" }, ethers.getBytes(p.signature)),
            what,
          ).to.be.true;
          issuerKey = node;
        }
        // the root is a self-signed CA; the AWS leaves and the local leaf are not CAs
        expect((await harness.parse(ders[0]!)).issuerHash).to.equal(
          (await harness.parse(ders[0]!)).subjectHash,
        );
        expect((await harness.parse(ders.at(-1)!)).ca).to.be.false;
      }
    });

    it("reports the gas of reading each certificate of the 2026 chain", async function () {
      const harness = await deploy();
      const [, aws2026] = await chains();
      const figures = [];
      for (const der of aws2026!.ders) {
        const gas = await harness.measure(der);
        expect(gas).to.be.greaterThan(0n).and.lessThan(200_000n);
        figures.push(`${der.length} bytes: ${gas}`);
      }
      console.log(`      X509.parse gas (root → leaf): ${figures.join("; ")}`);
    });
  });

  describe("times", function () {
    it("reads UTCTime with the RFC 5280 century rule (YY >= 50: 19YY) and GeneralizedTime", async function () {
      const harness = await deploy();
      const cases: [Date, Date, number, number][] = [
        // notBefore, notAfter, and the DER tags expected for them
        [new Date("1999-12-31T23:59:59Z"), new Date("2049-12-31T23:59:59Z"), 0x17, 0x17],
        [new Date("2000-02-29T12:00:00Z"), new Date("2050-01-01T00:00:00Z"), 0x17, 0x18],
        [new Date("2028-02-29T23:59:59Z"), new Date("2400-02-29T06:07:08Z"), 0x17, 0x18],
        [new Date("1970-01-01T00:00:00Z"), new Date("9999-12-31T23:59:59Z"), 0x17, 0x18],
      ];
      for (const [notBefore, notAfter, tagBefore, tagAfter] of cases) {
        const { der } = await makeCert({ name: "CN=times", notBefore, notAfter });
        const validity = tbsOf(tree(der))[4]!.children!;
        expect([validity[0]!.tag, validity[1]!.tag]).to.deep.equal([tagBefore, tagAfter]);
        const p = await harness.parse(der);
        expect(p.notBefore, notBefore.toISOString()).to.equal(seconds(notBefore));
        expect(p.notAfter, notAfter.toISOString()).to.equal(seconds(notAfter));
      }
    });

    it("reads a GeneralizedTime before 2050 as the same instant as its UTCTime, and a time before 1970 as 0", async function () {
      const harness = await deploy();
      const { der } = await makeCert({
        name: "CN=times",
        notBefore: new Date("1960-06-01T00:00:00Z"),
        notAfter: new Date("2024-09-17T04:30:41Z"),
      });
      const cert = tree(der);
      const validity = tbsOf(cert)[4]!;
      expect(Buffer.from(validity.children![0]!.content!).toString()).to.equal("600601000000Z");
      validity.children![1] = { tag: 0x18, pos: 0, content: new TextEncoder().encode("20240917043041Z") };
      const p = await harness.parse(writeDer(cert));
      expect(p.notBefore).to.equal(0n);
      expect(p.notAfter).to.equal(seconds(new Date("2024-09-17T04:30:41Z")));
    });

    it("refuses impossible or malformed times, at the time's offset", async function () {
      const harness = await deploy();
      const { der } = await makeCert({ name: "CN=times", notAfter: new Date("2030-01-01T00:00:00Z") });
      const bad: [number, string][] = [
        [0x17, "241301000000Z"], // month 13
        [0x17, "240230000000Z"], // 30 February
        [0x17, "230229000000Z"], // 29 February of a common year
        [0x18, "21000229000000Z"], // 2100 is not a leap year
        [0x17, "240431000000Z"], // 31 April
        [0x17, "240101240000Z"], // hour 24
        [0x17, "240101006000Z"], // minute 60
        [0x17, "240101000060Z"], // second 60
        [0x17, "24010100000aZ"], // not a digit
        [0x17, "240101000000+"], // no Z
        [0x17, "2401010000Z"], // no seconds
        [0x18, "240101000000Z"], // a UTCTime's text as GeneralizedTime
        [0x18, "20240101000000.5Z"], // fractional seconds
        [0x04, "240101000000Z"], // not a time at all
      ];
      for (const [tag, text] of bad) {
        const cert = tree(der);
        const validity = tbsOf(cert)[4]!;
        validity.children![0] = { tag, pos: 0, content: new TextEncoder().encode(text) };
        const corrupted = writeDer(cert);
        const offset = tbsOf(tree(corrupted))[4]!.children![0]!.pos;
        await expect(harness.parse(corrupted), text)
          .to.be.revertedWithCustomError(harness, "Enclave__MalformedCertificate")
          .withArgs(offset);
      }
    });
  });

  describe("basicConstraints", function () {
    it("reads cA and pathLenConstraint: absent or above 254 is unlimited (255), a non-CA has 0", async function () {
      const harness = await deploy();
      const cases: [{ ca: boolean; pathLength?: number } | null, boolean, bigint][] = [
        [{ ca: true }, true, 255n],
        [{ ca: true, pathLength: 0 }, true, 0n],
        [{ ca: true, pathLength: 2 }, true, 2n],
        [{ ca: true, pathLength: 254 }, true, 254n],
        [{ ca: true, pathLength: 255 }, true, 255n],
        [{ ca: true, pathLength: 100_000 }, true, 255n],
        [{ ca: false }, false, 0n],
        [null, false, 0n], // no basicConstraints at all
      ];
      for (const [basic, ca, pathLen] of cases) {
        const { der } = await makeCert({ name: "CN=constraints", basic });
        const p = await harness.parse(der);
        expect([p.ca, p.pathLen], JSON.stringify(basic)).to.deep.equal([ca, pathLen]);
        expect(p.ca).to.equal(new X509Certificate(der).ca);
      }
    });

    it("skips other extensions, critical or not, and refuses a second basicConstraints", async function () {
      const harness = await deploy();
      const { der } = await makeCert({
        name: "CN=extensions",
        basic: { ca: true, pathLength: 1 },
        extraExtensions: [
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
          new x509.ExtendedKeyUsageExtension(["1.3.6.1.5.5.7.3.1"], false),
        ],
      });
      const p = await harness.parse(der);
      expect([p.ca, p.pathLen]).to.deep.equal([true, 1n]);

      const twice = await makeCert({
        name: "CN=extensions",
        basic: { ca: true },
        extraExtensions: [new x509.BasicConstraintsExtension(false, undefined, false)],
      });
      const list = tbsOf(tree(twice.der))[7]!.children![0]!.children!;
      await expect(harness.parse(twice.der))
        .to.be.revertedWithCustomError(harness, "Enclave__MalformedCertificate")
        .withArgs(list[1]!.pos + writeDer(list[1]!).length);
    });
  });

  describe("signature value", function () {
    it("left-pads short integers and drops the sign byte", async function () {
      const harness = await deploy();
      const cert = tree((await makeCert({ name: "CN=sig" })).der);
      const r = concat(Uint8Array.of(0x00, 0x80), new Uint8Array(47).fill(7)); // 48 bytes after the 0x00
      const s = Uint8Array.of(0x01); // 1 byte
      const p = await harness.parse(withEcdsaSig(cert, r, s));
      expect(p.signature).to.equal(hex(concat(r.subarray(1), new Uint8Array(47), s)));
      // redundant leading zeros are read too (they change nothing)
      const q = await harness.parse(withEcdsaSig(cert, Uint8Array.of(0, 0, 5), Uint8Array.of(0, 6)));
      expect(q.signature).to.equal(
        hex(concat(new Uint8Array(47), Uint8Array.of(5), new Uint8Array(47), Uint8Array.of(6))),
      );
    });

    it("refuses an integer of more than 48 significant bytes, a negative one, an empty one", async function () {
      const harness = await deploy();
      const made = await makeCert({ name: "CN=sig" });
      const cert = tree(made.der);
      const good = ecdsaSig(cert).children![1]!.content!;
      const rOffset = cert.children![2]!.pos + 2 + 1 + 2; // BIT STRING head, unused bits, SEQUENCE head
      for (const r of [
        concat(Uint8Array.of(0x01), new Uint8Array(48)), // 49 significant bytes
        Uint8Array.of(0x80, 0x01), // negative
        new Uint8Array(0), // empty
      ]) {
        await expect(harness.parse(withEcdsaSig(cert, r, good)))
          .to.be.revertedWithCustomError(harness, "Enclave__MalformedCertificate")
          .withArgs(rOffset);
      }
      // the BIT STRING must have no unused bits
      const unused = structuredClone(cert);
      unused.children![2]!.content![0] = 1;
      await expect(harness.parse(writeDer(unused)))
        .to.be.revertedWithCustomError(harness, "Enclave__MalformedCertificate")
        .withArgs(cert.children![2]!.pos + 2);
    });
  });

  describe("malformed DER", function () {
    it("refuses every truncation of a real certificate and a byte after it", async function () {
      const harness = await deploy();
      const [aws2026] = (await chains()).slice(1);
      const leaf = aws2026!.ders.at(-1)!;
      for (let n = 0; n < leaf.length; n += n < 16 || n > leaf.length - 16 ? 1 : 7) {
        expect(await outcome(harness, leaf.subarray(0, n)), `${n} bytes`).to.equal(
          "Enclave__MalformedCertificate",
        );
      }
      await expect(harness.parse(leaf.subarray(0, leaf.length - 1)))
        .to.be.revertedWithCustomError(harness, "Enclave__MalformedCertificate")
        .withArgs(0);
      await expect(harness.parse(concat(leaf, Uint8Array.of(0))))
        .to.be.revertedWithCustomError(harness, "Enclave__MalformedCertificate")
        .withArgs(leaf.length);
    });

    it("refuses lengths that are not DER: long form for a short length, a leading zero, 5 bytes, indefinite", async function () {
      const harness = await deploy();
      const der = (await makeCert({ name: "CN=lengths" })).der;
      const serial = tbsOf(tree(der))[1]!;
      const n = serial.content!.length;
      for (const head of [[0x81, n], [0x82, 0, n], [0x85, 0, 0, 0, 0, n], [0x80]]) {
        const cert = tree(der);
        tbsOf(cert)[1]!.head = Uint8Array.of(...head);
        await expect(harness.parse(writeDer(cert)), head.join(" "))
          .to.be.revertedWithCustomError(harness, "Enclave__MalformedCertificate")
          .withArgs(serial.pos);
      }
    });

    it("fails only with its own two errors on random corruptions of a real certificate", async function () {
      const harness = await deploy();
      const [aws2026] = (await chains()).slice(1);
      const der = aws2026!.ders[1]!;
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(fc.nat(der.length - 1), fc.integer({ min: 1, max: 255 })), {
            minLength: 1,
            maxLength: 3,
          }),
          async (flips) => {
            const corrupted = new Uint8Array(der);
            for (const [i, x] of flips) corrupted[i] = corrupted[i]! ^ x;
            const result = await outcome(harness, corrupted);
            return ["ok", "Enclave__MalformedCertificate", "Enclave__UnsupportedAlgorithm"].includes(result);
          },
        ),
        { numRuns: 60 },
      );
    });
  });

  describe("algorithms", function () {
    it("refuses anything but ecdsa-with-SHA384 over an uncompressed P-384 key", async function () {
      const harness = await deploy();
      const root = await makeCert({ name: "CN=root" });
      const cases: [string, Uint8Array][] = [
        ["P-256 key, ES256", (await makeCert({ name: "CN=p256", curve: "P-256", hash: "SHA-256" })).der],
        ["P-384 key, ecdsa-with-SHA256", (await makeCert({ name: "CN=sha256", hash: "SHA-256" })).der],
        [
          "P-256 key under a P-384 issuer",
          (await makeCert({ name: "CN=p256", curve: "P-256", issuer: root })).der,
        ],
      ];
      // outer signatureAlgorithm ecdsa-with-SHA256 while the inner one is ecdsa-with-SHA384
      const outer = tree(root.der);
      outer.children![1]!.children![0]!.content![7] = 0x02;
      cases.push(["outer algorithm differs", writeDer(outer)]);
      // a compressed point
      const compressed = tree(root.der);
      const spki = tbsOf(compressed)[6]!;
      const point = spki.children![1]!.content!;
      spki.children![1]!.content = concat(
        Uint8Array.of(0x00, 0x02 + (point[97]! & 1)),
        point.subarray(2, 50),
      );
      cases.push(["compressed point", writeDer(compressed)]);
      for (const [what, der] of cases) {
        await expect(harness.parse(der), what).to.be.revertedWithCustomError(
          harness,
          "Enclave__UnsupportedAlgorithm",
        );
      }
    });
  });
});
