import { expect } from "chai";
import { X509Certificate, createHash, verify as nodeVerify } from "node:crypto";
import { readFileSync } from "node:fs";
import { network } from "hardhat";

/**
 * Measurement spike for TEE mode: gas of ES384 (ECDSA P-384 / SHA-384) verification on-chain,
 * measured on a real AWS Nitro attestation document (shared fixture).
 */

const FIXTURE = "/work/shared/fixtures/nitro/aws-nitro-2026-02-02.cose";

// ---- a tiny CBOR reader: values, plus the raw byte strings we need ----
type Cbor = bigint | number | Uint8Array | string | Cbor[] | Map<Cbor, Cbor> | boolean | null | undefined;

function readCbor(buf: Uint8Array, pos: number): { value: Cbor; end: number } {
  const ib = buf[pos]!;
  const major = ib >> 5;
  const info = ib & 31;
  let p = pos + 1;
  let arg: number;
  if (info === 31 && (major === 4 || major === 5)) {
    // indefinite length (the Nitro payload map is one), ended by the break byte 0xff
    const items: Cbor[] = [];
    while (buf[p] !== 0xff) {
      const r = readCbor(buf, p);
      items.push(r.value);
      p = r.end;
    }
    p += 1;
    if (major === 4) return { value: items, end: p };
    const map = new Map<Cbor, Cbor>();
    for (let i = 0; i < items.length; i += 2) map.set(items[i], items[i + 1]);
    return { value: map, end: p };
  }
  if (info < 24) arg = info;
  else if (info === 24) arg = buf[p++]!;
  else if (info === 25) {
    arg = (buf[p]! << 8) | buf[p + 1]!;
    p += 2;
  } else if (info === 26) {
    arg = Buffer.from(buf.subarray(p, p + 4)).readUInt32BE();
    p += 4;
  } else if (info === 27) {
    arg = Number(Buffer.from(buf.subarray(p, p + 8)).readBigUInt64BE());
    p += 8;
  } else throw new Error(`unsupported CBOR head 0x${ib.toString(16)}`);
  switch (major) {
    case 0:
      return { value: arg, end: p };
    case 1:
      return { value: -1 - arg, end: p };
    case 2:
      return { value: buf.subarray(p, p + arg), end: p + arg };
    case 3:
      return { value: Buffer.from(buf.subarray(p, p + arg)).toString("utf8"), end: p + arg };
    case 4: {
      const items: Cbor[] = [];
      for (let i = 0; i < arg; i++) {
        const r = readCbor(buf, p);
        items.push(r.value);
        p = r.end;
      }
      return { value: items, end: p };
    }
    case 5: {
      const map = new Map<Cbor, Cbor>();
      for (let i = 0; i < arg; i++) {
        const k = readCbor(buf, p);
        const v = readCbor(buf, k.end);
        map.set(k.value, v.value);
        p = v.end;
      }
      return { value: map, end: p };
    }
    case 6:
      return readCbor(buf, p); // tag: the tagged value
    default:
      if (info === 20) return { value: false, end: p };
      if (info === 21) return { value: true, end: p };
      if (info === 22) return { value: null, end: p };
      throw new Error(`unsupported CBOR simple 0x${ib.toString(16)}`);
  }
}

function cborHead(major: number, len: number): Buffer {
  if (len < 24) return Buffer.from([(major << 5) | len]);
  if (len < 0x100) return Buffer.from([(major << 5) | 24, len]);
  if (len < 0x10000) return Buffer.from([(major << 5) | 25, len >> 8, len & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(len, 1);
  return b;
}
const bstr = (b: Uint8Array) => Buffer.concat([cborHead(2, b.length), b]);

// ---- a tiny DER walker ----
function derElement(
  buf: Buffer,
  pos: number,
): { tag: number; start: number; contentStart: number; end: number } {
  const tag = buf[pos]!;
  let p = pos + 1;
  let len = buf[p++]!;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++]!;
  }
  return { tag, start: pos, contentStart: p, end: p + len };
}

/** DER ECDSA-Sig-Value { r INTEGER, s INTEGER } → raw r‖s, 48 bytes each. */
function derSigToRaw(der: Buffer): Buffer {
  const seq = derElement(der, 0);
  const r = derElement(der, seq.contentStart);
  const s = derElement(der, r.end);
  const fix = (e: { contentStart: number; end: number }) => {
    let v = der.subarray(e.contentStart, e.end);
    while (v.length > 48 && v[0] === 0) v = v.subarray(1);
    return Buffer.concat([Buffer.alloc(48 - v.length), v]);
  };
  return Buffer.concat([fix(r), fix(s)]);
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }. */
function splitCertificate(der: Buffer): { tbs: Buffer; sigDer: Buffer } {
  const cert = derElement(der, 0);
  const tbs = derElement(der, cert.contentStart);
  const alg = derElement(der, tbs.end);
  const bits = derElement(der, alg.end);
  expect(bits.tag).to.equal(0x03);
  expect(der[bits.contentStart]).to.equal(0); // no unused bits
  return { tbs: der.subarray(tbs.start, tbs.end), sigDer: der.subarray(bits.contentStart + 1, bits.end) };
}

function rawPublicKey(cert: X509Certificate): Buffer {
  const jwk = cert.publicKey.export({ format: "jwk" });
  expect(jwk.crv).to.equal("P-384");
  return Buffer.concat([Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")]);
}

function flip(b: Buffer, i: number): Buffer {
  const c = Buffer.from(b);
  c[i] = c[i]! ^ 0x01;
  return c;
}

describe("TEE spike: P-384 gas on a real Nitro attestation", function () {
  const cose = readFileSync(FIXTURE);
  const top = readCbor(cose, 0);
  expect(top.end).to.equal(cose.length);
  const [protectedHdr, , payload, signature] = top.value as [Uint8Array, unknown, Uint8Array, Uint8Array];
  const doc = readCbor(payload, 0).value as Map<Cbor, Cbor>;
  const leafDer = Buffer.from(doc.get("certificate") as Uint8Array);
  const cabundle = (doc.get("cabundle") as Uint8Array[]).map((c) => Buffer.from(c));
  const chainDer = [...cabundle, leafDer]; // root, …, intermediate, leaf
  const chain = chainDer.map((d) => new X509Certificate(d));

  // Sig_structure = ["Signature1", protected, h'', payload]
  const sigStructure = Buffer.concat([
    Buffer.from([0x84]),
    cborHead(3, 10),
    Buffer.from("Signature1"),
    bstr(protectedHdr),
    bstr(new Uint8Array(0)),
    bstr(payload),
  ]);
  const coseSig = Buffer.from(signature);
  const leafKey = rawPublicKey(chain.at(-1)!);

  const leafParts = splitCertificate(leafDer);
  const leafSigRaw = derSigToRaw(leafParts.sigDer);
  const intermediateKey = rawPublicKey(chain.at(-2)!);

  let probe: any;
  let ethers: any;
  const figures: Record<string, string> = {};

  before(async function () {
    // Hardhat 3's default hardfork is Osaka, whose EIP-7825 caps one transaction at 2^24 gas
    // (16,777,216); measure on Prague with a large block so the figures are not cut off.
    ({ ethers } = await network.create({
      override: { hardfork: "prague", blockGasLimit: 1_000_000_000n },
    }));
    probe = await ethers.deployContract("P384Probe");
  });

  after(function () {
    console.log("\n    P-384 gas figures (aws-nitro-2026-02-02):");
    for (const [k, v] of Object.entries(figures)) console.log(`      ${k}: ${v}`);
  });

  it("parses the document: protected header ES384, chain of certificates", function () {
    expect(Buffer.from(protectedHdr).toString("hex")).to.equal("a1013822"); // {1: -35}
    expect(coseSig.length).to.equal(96);
    figures["payload bytes"] = String(payload.length);
    figures["Sig_structure bytes"] = String(sigStructure.length);
    figures["certificates in chain (root..leaf)"] = String(chain.length);
    figures["signatures in chain (excl. root self-sig)"] = String(chain.length - 1);
    figures["chain DER sizes"] = chainDer.map((d) => d.length).join(", ");
    figures["TBS sizes (non-root)"] = chainDer
      .slice(1)
      .map((d) => splitCertificate(d).tbs.length)
      .join(", ");
  });

  it("Node's crypto verifies the COSE signature and the leaf certificate signature", function () {
    const key = chain.at(-1)!.publicKey;
    expect(nodeVerify("sha384", sigStructure, { key, dsaEncoding: "ieee-p1363" }, coseSig)).to.equal(true);
    expect(
      nodeVerify("sha384", flip(sigStructure, 100), { key, dsaEncoding: "ieee-p1363" }, coseSig),
    ).to.equal(false);
    const issuer = chain.at(-2)!.publicKey;
    expect(nodeVerify("sha384", leafParts.tbs, issuer, leafParts.sigDer)).to.equal(true);
    expect(
      nodeVerify("sha384", leafParts.tbs, { key: issuer, dsaEncoding: "ieee-p1363" }, leafSigRaw),
    ).to.equal(true);
    for (let i = 1; i < chain.length; i++) expect(chain[i]!.verify(chain[i - 1]!.publicKey)).to.equal(true);
  });

  it("the contract's SHA-384 matches Node's", async function () {
    for (const msg of [
      Buffer.alloc(0),
      Buffer.from("abc"),
      Buffer.alloc(111, 7),
      Buffer.alloc(112, 7),
      sigStructure,
    ]) {
      expect(await probe.sha384(msg)).to.equal("0x" + createHash("sha384").update(msg).digest("hex"));
    }
  });

  it("the contract verifies the COSE signature over the Sig_structure and rejects a one-byte change", async function () {
    expect(await probe.verifyMessage(sigStructure, coseSig, leafKey)).to.equal(true);
    expect(await probe.verifyMessage(flip(sigStructure, 200), coseSig, leafKey)).to.equal(false);
    expect(await probe.verifyMessage(sigStructure, flip(coseSig, 95), leafKey)).to.equal(false);
    expect(await probe.verifyMessage(sigStructure, coseSig, flip(leafKey, 10))).to.equal(false);
  });

  it("the contract verifies the leaf certificate with the intermediate's key and rejects a one-byte change", async function () {
    expect(await probe.verifyMessage(leafParts.tbs, leafSigRaw, intermediateKey)).to.equal(true);
    expect(await probe.verifyMessage(flip(leafParts.tbs, 50), leafSigRaw, intermediateKey)).to.equal(false);
    expect(await probe.verifyMessage(leafParts.tbs, flip(leafSigRaw, 3), intermediateKey)).to.equal(false);
  });

  it("the contract verifies every signature of the chain", async function () {
    for (let i = 1; i < chainDer.length; i++) {
      const { tbs, sigDer } = splitCertificate(chainDer[i]!);
      expect(await probe.verifyMessage(tbs, derSigToRaw(sigDer), rawPublicKey(chain[i - 1]!))).to.equal(true);
    }
  });

  it("measures gas", async function () {
    const provider = ethers.provider;
    const to = await probe.getAddress();
    const viewGas = async (fn: string, args: unknown[]) =>
      BigInt(
        await provider.send("eth_estimateGas", [{ to, data: probe.interface.encodeFunctionData(fn, args) }]),
      );

    // SHA-384 alone
    const shaSig = await viewGas("sha384", [sigStructure]);
    figures["sha384(Sig_structure) view, eth_estimateGas"] = shaSig.toString();
    const shaTbs = await viewGas("sha384", [leafParts.tbs]);
    figures["sha384(leaf TBS) view, eth_estimateGas"] = shaTbs.toString();

    // ECDSA alone (digest given)
    const digest = createHash("sha384").update(sigStructure).digest();
    expect(await probe.verifyDigest(digest, coseSig, leafKey)).to.equal(true);
    const ecdsa = await viewGas("verifyDigest", [digest, coseSig, leafKey]);
    figures["ECDSA384 verifyDigest (hash given) view, eth_estimateGas"] = ecdsa.toString();

    // COSE: SHA-384 of the Sig_structure + ECDSA
    const coseView = await viewGas("verifyMessage", [sigStructure, coseSig, leafKey]);
    figures["COSE ES384 (SHA-384 + ECDSA) view, eth_estimateGas"] = coseView.toString();
    const coseTxEst = await probe.verifyMessageTx.estimateGas(sigStructure, coseSig, leafKey);
    figures["COSE ES384 tx, estimateGas"] = coseTxEst.toString();
    const rc = await (await probe.verifyMessageTx(sigStructure, coseSig, leafKey)).wait();
    figures["COSE ES384 tx, receipt gasUsed"] = rc.gasUsed.toString();
    expect(await probe.lastResult()).to.equal(true);

    // One certificate signature: leaf TBS with the intermediate's key
    const certView = await viewGas("verifyMessage", [leafParts.tbs, leafSigRaw, intermediateKey]);
    figures["leaf cert sig (SHA-384 TBS + ECDSA) view, eth_estimateGas"] = certView.toString();
    const certTxEst = await probe.verifyMessageTx.estimateGas(leafParts.tbs, leafSigRaw, intermediateKey);
    figures["leaf cert sig tx, estimateGas"] = certTxEst.toString();

    // every cert signature in the chain
    let chainTotal = 0n;
    const perCert: string[] = [];
    for (let i = 1; i < chainDer.length; i++) {
      const { tbs, sigDer } = splitCertificate(chainDer[i]!);
      const g = await probe.verifyMessageTx.estimateGas(
        tbs,
        derSigToRaw(sigDer),
        rawPublicKey(chain[i - 1]!),
      );
      perCert.push(g.toString());
      chainTotal += g;
    }
    figures["each cert sig tx estimateGas (intermediates..leaf)"] = perCert.join(", ");
    figures["sum: COSE tx + all cert sig txs (no CBOR/DER walking)"] = (coseTxEst + chainTotal).toString();
  });
});
