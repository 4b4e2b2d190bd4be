import { expect } from "chai";
import { X509Certificate, createHash, verify as nodeVerify } from "node:crypto";
import { decode, encode } from "cbor2";
import { errorOf } from "../helpers/errors.js";
import { EnclaveError } from "../../src/tee/enclave.js";
import { LocalEnclave, PCR_COUNT, PCR_LENGTH } from "../../src/tee/localEnclave.js";
import {
  AWS_NITRO_ROOT_SHA256,
  AttestationError,
  parseAttestation,
  verifyAttestation,
} from "../../src/tee/attestation.js";

const NITRO_KEYS = [
  "module_id",
  "digest",
  "timestamp",
  "pcrs",
  "certificate",
  "cabundle",
  "public_key",
  "user_data",
  "nonce",
];

const NONCE = Uint8Array.from({ length: 20 }, (_, i) => i + 1);
const PUBLIC_KEY = new TextEncoder().encode("answer-signing key");
const USER_DATA = new TextEncoder().encode("model sha256 …");
const T0 = Date.UTC(2030, 0, 2, 3, 4, 5, 678);

/** The document's parts, decoded with every CBOR map as a Map. */
function cose(doc: Uint8Array): [Uint8Array, Map<unknown, unknown>, Uint8Array, Uint8Array] {
  const value = decode(doc, { preferMap: true }) as unknown[];
  expect(value).to.be.an("array").with.lengthOf(4);
  return value as [Uint8Array, Map<unknown, unknown>, Uint8Array, Uint8Array];
}

function payloadOf(doc: Uint8Array): Map<string, unknown> {
  return decode(cose(doc)[2], { preferMap: true }) as Map<string, unknown>;
}

/** A CBOR byte-string header + content, written by hand so the test does not trust cbor2's encoder. */
function bstr(b: Uint8Array): Uint8Array {
  const n = b.length;
  const head =
    n < 24
      ? [0x40 | n]
      : n < 0x100
        ? [0x58, n]
        : n < 0x10000
          ? [0x59, n >> 8, n & 0xff]
          : [0x5a, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Uint8Array.from(head), b]);
}

/** COSE Sig_structure ["Signature1", protected, h'', payload], byte by byte. */
function sigStructure(protectedHeader: Uint8Array, payload: Uint8Array): Uint8Array {
  return Buffer.concat([
    Uint8Array.from([0x84, 0x6a]),
    Buffer.from("Signature1"),
    bstr(protectedHeader),
    Uint8Array.from([0x40]),
    bstr(payload),
  ]);
}

function signatureVerifies(doc: Uint8Array, payload?: Uint8Array): boolean {
  const [protectedHeader, , signed, signature] = cose(doc);
  const leaf = new X509Certificate(payloadOf(doc).get("certificate") as Uint8Array);
  return nodeVerify(
    "sha384",
    sigStructure(protectedHeader, payload ?? signed),
    { key: leaf.publicKey, dsaEncoding: "ieee-p1363" },
    signature,
  );
}

describe("LocalEnclave", function () {
  this.timeout(20_000);

  let enclave: LocalEnclave;
  let doc: Uint8Array;

  before(async () => {
    enclave = await LocalEnclave.create({ clock: () => T0, moduleId: "i-local-enc0001" });
    doc = await enclave.attest({ nonce: NONCE, publicKey: PUBLIC_KEY, userData: USER_DATA });
  });

  it("emits an untagged COSE_Sign1 with protected header {1: -35} and empty unprotected map", () => {
    expect(doc[0]).to.equal(0x84); // array(4), no tag 18
    const [protectedHeader, unprotected, payload, signature] = cose(doc);
    expect(protectedHeader).to.be.instanceOf(Uint8Array);
    expect(decode(protectedHeader)).to.deep.equal(new Map([[1, -35]]));
    expect(unprotected).to.be.instanceOf(Map).with.property("size", 0);
    expect(payload).to.be.instanceOf(Uint8Array);
    expect([payload[0], payload[payload.length - 1]]).to.deep.equal([0xbf, 0xff]); // indefinite map, as Nitro
    expect(signature).to.be.instanceOf(Uint8Array).with.lengthOf(96);
  });

  it("carries exactly the Nitro payload keys, in order, with their types", () => {
    const p = payloadOf(doc);
    expect([...p.keys()]).to.deep.equal(NITRO_KEYS);
    expect(p.get("module_id")).to.equal("i-local-enc0001");
    expect(p.get("digest")).to.equal("SHA384");
    expect(p.get("timestamp")).to.equal(T0);
    const pcrs = p.get("pcrs") as Map<number, Uint8Array>;
    expect([...pcrs.keys()]).to.deep.equal([...Array(PCR_COUNT).keys()]);
    for (const value of pcrs.values()) expect(value).to.be.instanceOf(Uint8Array).with.lengthOf(PCR_LENGTH);
    expect(p.get("certificate")).to.be.instanceOf(Uint8Array);
    const cabundle = p.get("cabundle") as Uint8Array[];
    expect(cabundle).to.have.lengthOf(2);
    expect(cabundle[0]).to.deep.equal(enclave.rootDer); // root first
    for (const key of ["public_key", "user_data", "nonce"]) expect(p.get(key)).to.be.instanceOf(Uint8Array);
  });

  it("is signed (ES384 over the Sig_structure) by the leaf certificate's key", () => {
    expect(signatureVerifies(doc)).to.equal(true);
  });

  it("fails the signature check when one payload byte is flipped", () => {
    const payload = new Uint8Array(cose(doc)[2]);
    payload[payload.length - 2]! ^= 0x01; // last byte of the nonce: still valid CBOR
    expect(signatureVerifies(doc, payload)).to.equal(false);
  });

  it("chains root → intermediate → leaf, each signed by its parent, root pinned by rootSha256", () => {
    const p = payloadOf(doc);
    const [root, intermediate] = (p.get("cabundle") as Uint8Array[]).map((der) => new X509Certificate(der));
    const leaf = new X509Certificate(p.get("certificate") as Uint8Array);
    expect(root!.verify(root!.publicKey)).to.equal(true);
    expect(intermediate!.verify(root!.publicKey)).to.equal(true);
    expect(leaf.verify(intermediate!.publicKey)).to.equal(true);
    expect(leaf.verify(root!.publicKey)).to.equal(false);
    expect(intermediate!.checkIssued(root!)).to.equal(true);
    expect(leaf.checkIssued(intermediate!)).to.equal(true);
    expect([root!.ca, intermediate!.ca, leaf.ca]).to.deep.equal([true, true, false]);
    for (const cert of [root!, intermediate!, leaf]) {
      expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).to.equal("secp384r1");
      expect(cert.validFromDate.getTime()).to.be.at.most(T0);
      expect(cert.validToDate.getTime()).to.be.at.least(T0);
    }
    expect(createHash("sha256").update(root!.raw).digest("hex")).to.equal(enclave.rootSha256);
  });

  it("round-trips nonce, public_key and user_data, and writes null for absent user_data", async () => {
    const p = payloadOf(doc);
    expect(p.get("nonce")).to.deep.equal(NONCE);
    expect(p.get("public_key")).to.deep.equal(PUBLIC_KEY);
    expect(p.get("user_data")).to.deep.equal(USER_DATA);
    const bare = payloadOf(await enclave.attest({ nonce: NONCE, publicKey: Buffer.from(PUBLIC_KEY) }));
    expect(bare.get("user_data")).to.equal(null);
    expect(bare.get("public_key")).to.deep.equal(PUBLIC_KEY); // a Buffer is written as a byte string
  });

  it("reports fixed non-zero PCR0..2 by default, the same for every enclave", async () => {
    const pcrs = payloadOf(doc).get("pcrs") as Map<number, Uint8Array>;
    const other = await LocalEnclave.create();
    for (let i = 0; i < PCR_COUNT; i++) {
      expect(pcrs.get(i)!.some((b) => b !== 0)).to.equal(i <= 2);
      expect(other.pcrs[i]).to.deep.equal(pcrs.get(i));
    }
  });

  it("reports the PCRs it is given", async () => {
    const pcr0 = new Uint8Array(PCR_LENGTH).fill(0xab);
    const custom = await LocalEnclave.create({ pcrs: { 0: pcr0 } });
    const pcrs = payloadOf(await custom.attest({ nonce: NONCE, publicKey: PUBLIC_KEY })).get("pcrs") as Map<
      number,
      Uint8Array
    >;
    expect(pcrs.get(0)).to.deep.equal(pcr0);
    expect(pcrs.get(1)).to.deep.equal(enclave.pcrs[1]);
  });

  it("reports all-zero PCRs in debug mode", async () => {
    const debug = await LocalEnclave.create({ debug: true });
    const pcrs = payloadOf(await debug.attest({ nonce: NONCE, publicKey: PUBLIC_KEY })).get("pcrs") as Map<
      number,
      Uint8Array
    >;
    expect(pcrs.size).to.equal(PCR_COUNT);
    for (const value of pcrs.values()) expect(value).to.deep.equal(new Uint8Array(PCR_LENGTH));
    expect(debug.describe()).to.match(/NOT hardware-backed.*debug/);
  });

  it("reissues the short-lived leaf once the clock passes its validity", async () => {
    let now = T0;
    const e = await LocalEnclave.create({ clock: () => now });
    const first = payloadOf(await e.attest({ nonce: NONCE, publicKey: PUBLIC_KEY }));
    now = T0 + 5 * 3_600_000;
    const later = await e.attest({ nonce: NONCE, publicKey: PUBLIC_KEY });
    const p = payloadOf(later);
    expect(p.get("certificate")).to.not.deep.equal(first.get("certificate"));
    expect(new X509Certificate(p.get("certificate") as Uint8Array).validFromDate.getTime()).to.be.at.most(
      now,
    );
    expect(signatureVerifies(later)).to.equal(true);
  });

  it("refuses inputs the Nitro Security Module would refuse", async () => {
    const refusals = [
      () => enclave.attest({ nonce: new Uint8Array(513), publicKey: PUBLIC_KEY }),
      () => LocalEnclave.create({ pcrs: { 0: new Uint8Array(32) } }),
      () => LocalEnclave.create({ pcrs: { 16: new Uint8Array(PCR_LENGTH) } }),
      () => LocalEnclave.create({ debug: true, pcrs: { 0: new Uint8Array(PCR_LENGTH) } }),
    ];
    for (const refusal of refusals) expect(await errorOf(refusal)).to.be.instanceOf(EnclaveError);
  });

  describe("with verifyAttestation", () => {
    it("passes with the local root pinned", () => {
      const verified = verifyAttestation(parseAttestation(doc), {
        rootSha256: enclave.rootSha256,
        expectedNonce: NONCE,
      });
      expect(verified.debug).to.equal(false);
      expect(verified.document.publicKey).to.deep.equal(PUBLIC_KEY);
    });

    it("is refused where the AWS Nitro root is pinned", () => {
      expect(() => verifyAttestation(parseAttestation(doc), { rootSha256: AWS_NITRO_ROOT_SHA256 }))
        .to.throw(AttestationError)
        .with.property("reason", "root");
    });

    it("is refused with a flipped payload byte", () => {
      const [protectedHeader, , payload, signature] = cose(doc);
      const tampered = new Uint8Array(payload);
      tampered[tampered.length - 2]! ^= 0x01;
      const bytes = encode([protectedHeader, new Map(), tampered, signature]);
      expect(() => verifyAttestation(parseAttestation(bytes), { rootSha256: enclave.rootSha256 }))
        .to.throw(AttestationError)
        .with.property("reason", "signature");
    });
  });
});
