import { expect } from "chai";
import {
  X509Certificate,
  createECDH,
  createHash,
  generateKeyPairSync,
  randomBytes,
  randomInt,
  sign,
  verify as nodeVerify,
  type KeyObject,
} from "node:crypto";
import { readFileSync } from "node:fs";
import { network } from "hardhat";

import { parseAttestation, sigStructure } from "../../src/tee/attestation.js";
import type { P384Probe, SolarityP384Reference } from "../../typechain-types/index.js";

/**
 * contracts/libraries/P384.sol (through contracts/test/P384Probe.sol), Sibyl's own ECDSA P-384
 * verification, against @solarity/solidity-lib's ECDSA384 (through
 * contracts/test/SolarityP384Reference.sol), the maintained library it is checked with. ECDSA384
 * calls MODEXP at every step; since Osaka (EIP-7883's MODEXP prices) one of its verifications
 * costs more than the 2^24 gas a transaction may use (EIP-7825), so the comparison runs on a
 * Prague network, and the gas figures show why Sibyl uses P384 on-chain.
 */

const TX_GAS_CAP = 16_777_216n; // EIP-7825, from Osaka (Hardhat 3's default hardfork)
const DIFFERENTIAL_CASES = 12; // key pairs, 10 inputs each: about 20 s alone on 2 CPUs, more under load

const P = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn;
const N = 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n;

type Connection = Awaited<ReturnType<typeof network.create>>;
type Ethers = Connection["ethers"];

const be48 = (x: bigint): Uint8Array => new Uint8Array(Buffer.from(x.toString(16).padStart(96, "0"), "hex"));
const big = (b: Uint8Array): bigint => BigInt("0x" + Buffer.from(b).toString("hex"));
const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
const sha384 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash("sha384").update(b).digest());

/** x ‖ y of a P-384 public key. */
function rawKey(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: "jwk" });
  expect(jwk.crv).to.equal("P-384");
  return concat(Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url"));
}

/** `bytes` with bit `bit` (0 = the last byte's lowest) flipped. */
function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = new Uint8Array(bytes);
  const at = bytes.length - 1 - (bit >> 3);
  out[at] = out[at]! ^ (1 << (bit & 7));
  return out;
}

/** The error message of a call that must fail. */
async function failure(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (e) {
    return (e as Error).message;
  }
  expect.fail("the call succeeded");
}

// ------------------------------------------------------------------ DER (certificates of the real document)

interface Der {
  tag: number;
  start: number;
  body: number;
  end: number;
}

function derAt(der: Uint8Array, at: number): Der {
  let p = at + 1;
  let length = der[p++]!;
  if (length & 0x80) {
    const count = length & 0x7f;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[p++]!;
  }
  return { tag: der[at]!, start: at, body: p, end: p + length };
}

/** A certificate's TBSCertificate (as signed) and its ECDSA signature as raw r ‖ s. */
function certificateParts(der: Uint8Array): { tbs: Uint8Array; signature: Uint8Array } {
  const cert = derAt(der, 0);
  const tbs = derAt(der, cert.body);
  const algorithm = derAt(der, tbs.end);
  const bits = derAt(der, algorithm.end);
  expect(bits.tag).to.equal(0x03);
  expect(der[bits.body]).to.equal(0); // no unused bits
  // ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }
  const value = derAt(der, bits.body + 1);
  const r = derAt(der, value.body);
  const s = derAt(der, r.end);
  const int48 = (e: Der) => be48(big(der.subarray(e.body, e.end)));
  return { tbs: der.subarray(tbs.start, tbs.end), signature: concat(int48(r), int48(s)) };
}

// ------------------------------------------------------------------ the tests

describe("P384 against @solarity/solidity-lib's ECDSA384 (the reference)", function () {
  let probe: P384Probe; // on Prague, next to the reference
  let reference: SolarityP384Reference;

  before(async function () {
    // Prague: MODEXP at its EIP-2565 prices, no per-transaction cap; a block large enough for
    // the reference's ~9M gas calls.
    const { ethers } = await network.create({
      override: { hardfork: "prague", blockGasLimit: 1_000_000_000n },
    });
    probe = await ethers.deployContract("P384Probe");
    reference = await ethers.deployContract("SolarityP384Reference");
  });

  it("the reference is given the P-384 curve (checked against node:crypto's generator and order)", async function () {
    const curve = await reference.curve();
    const [a, b, gx, gy, p, n] = [curve.a, curve.b, curve.gx, curve.gy, curve.p, curve.n].map((h) =>
      BigInt(h),
    );
    const point = (d: bigint) => {
      const ecdh = createECDH("secp384r1");
      ecdh.setPrivateKey(be48(d));
      const q = ecdh.getPublicKey(); // 04 ‖ x ‖ y
      return [big(q.subarray(1, 49)), big(q.subarray(49))];
    };
    expect(point(1n), "G = 1 G").to.deep.equal([gx, gy]);
    expect(point(n - 1n), "(n - 1) G = -G = (gx, p - gy)").to.deep.equal([gx, p - gy!]);
    expect(p).to.equal(P);
    expect(n).to.equal(N);
    expect(a).to.equal(p - 3n);
    expect((gy! * gy!) % p, "G is on y^2 = x^3 + a x + b").to.equal((gx! ** 3n + a! * gx! + b!) % p);
  });

  it("agrees with @solarity/solidity-lib's ECDSA384 (the reference)", async function () {
    this.timeout(600_000);
    const started = Date.now();
    const pairs = Array.from({ length: DIFFERENTIAL_CASES + 1 }, () =>
      generateKeyPairSync("ec", { namedCurve: "secp384r1" }),
    );
    let highS = 0;
    let checks = 0;
    for (let i = 0; i < DIFFERENTIAL_CASES; i++) {
      const { privateKey, publicKey } = pairs[i]!;
      const key = rawKey(publicKey);
      const otherKey = rawKey(pairs[i + 1]!.publicKey);
      const message = randomBytes(64);
      const digest = sha384(message);
      const signature = new Uint8Array(
        sign("sha384", message, { key: privateKey, dsaEncoding: "ieee-p1363" }),
      );
      const [r, s] = [big(signature.subarray(0, 48)), big(signature.subarray(48))];
      if (s > N / 2n) highS++;
      const twin = concat(be48(r), be48(N - s)); // high when s is low and low when s is high
      expect(nodeVerify("sha384", message, { key: publicKey, dsaEncoding: "ieee-p1363" }, twin)).to.equal(
        true,
      );
      const [x, y] = [key.subarray(0, 48), big(key.subarray(48))];
      const cases: [string, Uint8Array, Uint8Array, Uint8Array, boolean][] = [
        ["the signature", digest, signature, key, true],
        ["its twin (r, n - s)", digest, twin, key, true],
        ["a digest with one bit flipped", flipBit(digest, randomInt(384)), signature, key, false],
        ["r + 1", digest, concat(be48(r + 1n), be48(s)), key, false],
        ["another pair's key", digest, signature, otherKey, false],
        ["r = 0", digest, concat(be48(0n), be48(s)), key, false],
        ["s = 0", digest, concat(be48(r), be48(0n)), key, false],
        ["r = n", digest, concat(be48(N), be48(s)), key, false],
        ["s = n", digest, concat(be48(r), be48(N)), key, false],
        ["a key off the curve (y + 1)", digest, signature, concat(x, be48(y + 1n)), false],
      ];
      await Promise.all(
        cases.map(async ([what, d, sig, q, expected]) => {
          const [ours, theirs] = await Promise.all([
            probe.verifyDigest(d, sig, q),
            reference.verifyDigest(d, sig, q),
          ]);
          expect(theirs, `case ${i}, ${what}: the reference`).to.equal(expected);
          expect(ours, `case ${i}, ${what}: P384`).to.equal(expected);
          checks++;
        }),
      );
    }
    const seconds = (Date.now() - started) / 1000;
    console.log(
      `      ${DIFFERENTIAL_CASES} key pairs, ${checks} inputs, each verified by both libraries ` +
        `(${highS} of node:crypto's signatures had a high s, their twins a low one): ${seconds.toFixed(1)} s`,
    );
  });

  it("both refuse inputs of the wrong length", async function () {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "secp384r1" });
    const message = Buffer.from("lengths");
    const digest = sha384(message);
    const signature = new Uint8Array(sign("sha384", message, { key: privateKey, dsaEncoding: "ieee-p1363" }));
    const key = rawKey(publicKey);
    for (const [what, d, sig, q, expected] of [
      ["the signature", digest, signature, key, true],
      ["47-byte digest", digest.subarray(1), signature, key, false],
      ["49-byte digest", concat(Uint8Array.of(0), digest), signature, key, false],
      ["95-byte signature", digest, signature.subarray(1), key, false],
      ["97-byte key (SEC 1 prefix 04)", digest, signature, concat(Uint8Array.of(4), key), false],
    ] as const) {
      expect(await reference.verifyDigest(d, sig, q), `${what}: the reference`).to.equal(expected);
      expect(await probe.verifyDigest(d, sig, q), `${what}: P384`).to.equal(expected);
    }
  });
});

describe("P384 on a real AWS Nitro attestation document (aws-nitro-2026-02-02)", function () {
  const document = parseAttestation(
    new Uint8Array(readFileSync(new URL("../data/nitro/aws-nitro-2026-02-02.cose", import.meta.url))),
  );
  const signed = sigStructure(document.protectedHeader, document.payload);
  const chainDer = [...document.cabundle, document.certificate]; // root, intermediates, leaf
  const chain = chainDer.map((der) => new X509Certificate(der));
  const leafKey = rawKey(chain.at(-1)!.publicKey);
  const leaf = certificateParts(document.certificate);
  const intermediateKey = rawKey(chain.at(-2)!.publicKey);

  let probe: P384Probe; // on the default network: Osaka, where AttestationVerifier runs

  before(async function () {
    const { ethers } = await network.create();
    probe = await ethers.deployContract("P384Probe");
  });

  it("node:crypto verifies the COSE signature and the leaf certificate (the inputs are right)", function () {
    const es384 = (key: KeyObject) => ({ key, dsaEncoding: "ieee-p1363" as const });
    expect(nodeVerify("sha384", signed, es384(chain.at(-1)!.publicKey), document.signature)).to.equal(true);
    expect(nodeVerify("sha384", leaf.tbs, es384(chain.at(-2)!.publicKey), leaf.signature)).to.equal(true);
  });

  it("P384 verifies the COSE signature over the Sig_structure and refuses a one-byte change", async function () {
    expect(await probe.verifyMessage(signed, document.signature, leafKey)).to.equal(true);
    expect(await probe.verifyMessage(flipBit(signed, 8 * 200), document.signature, leafKey)).to.equal(false);
    expect(await probe.verifyMessage(signed, flipBit(document.signature, 0), leafKey)).to.equal(false);
    expect(await probe.verifyMessage(signed, document.signature, flipBit(leafKey, 8 * 10))).to.equal(false);
  });

  it("P384 verifies the leaf certificate with the intermediate's key and refuses a one-byte change", async function () {
    expect(await probe.verifyMessage(leaf.tbs, leaf.signature, intermediateKey)).to.equal(true);
    expect(await probe.verifyMessage(flipBit(leaf.tbs, 8 * 50), leaf.signature, intermediateKey)).to.equal(
      false,
    );
    expect(await probe.verifyMessage(leaf.tbs, flipBit(leaf.signature, 8 * 92), intermediateKey)).to.equal(
      false,
    );
  });

  it("P384 verifies every certificate signature of the chain", async function () {
    for (let i = 1; i < chainDer.length; i++) {
      const { tbs, signature } = certificateParts(chainDer[i]!);
      expect(
        await probe.verifyMessage(tbs, signature, rawKey(chain[i - 1]!.publicKey)),
        `certificate ${i}`,
      ).to.equal(true);
    }
  });
});

describe("P-384 verification gas: P384 against the reference, on Osaka and Prague", function () {
  const document = parseAttestation(
    new Uint8Array(readFileSync(new URL("../data/nitro/aws-nitro-2026-02-02.cose", import.meta.url))),
  );
  // the real document's COSE signature: a fixed input, so the figures are reproducible
  const digest = sha384(sigStructure(document.protectedHeader, document.payload));
  const signature = document.signature;
  const key = rawKey(new X509Certificate(document.certificate).publicKey);

  async function deploy(ethers: Ethers) {
    return {
      probe: await ethers.deployContract("P384Probe"),
      reference: await ethers.deployContract("SolarityP384Reference"),
    };
  }

  it("measures gas", async function () {
    const rows: [string, string][] = [];
    const record = (what: string, value: bigint | string) => {
      rows.push([what, typeof value === "bigint" ? value.toLocaleString("en-US") : value]);
      return value;
    };

    // The default network: Osaka, with EIP-7825's cap on every transaction and eth_call.
    const osaka = await deploy((await network.create()).ethers);
    expect(await osaka.probe.verifyDigest(digest, signature, key)).to.equal(true);
    const p384Osaka = await osaka.probe.verifyDigest.estimateGas(digest, signature, key);
    record("P384, Osaka (default network): eth_estimateGas of verifyDigest", p384Osaka);
    const signed = sigStructure(document.protectedHeader, document.payload);
    const p384Tx = await (await osaka.probe.verifyMessageTx(signed, signature, key)).wait();
    record("P384 + Sha384 (the whole COSE check), Osaka (default network): receipt", p384Tx!.gasUsed);
    expect(await osaka.probe.lastResult()).to.equal(true);
    const estimateRefused = await failure(osaka.reference.verifyDigest.estimateGas(digest, signature, key));
    record("reference, Osaka (default network): eth_estimateGas", estimateRefused);
    expect(estimateRefused).to.match(/out of gas/i);
    const callRefused = await failure(
      osaka.reference.verifyDigest(digest, signature, key, { gasLimit: TX_GAS_CAP }),
    );
    record("reference, Osaka (default network): eth_call with 2^24 gas", callRefused);
    expect(callRefused).to.match(/out of gas/i);
    const overCap = await failure(
      osaka.reference.verifyDigest(digest, signature, key, { gasLimit: TX_GAS_CAP + 1n }),
    );
    record("reference, Osaka (default network): eth_call with 2^24 + 1 gas", overCap);
    expect(overCap).to.match(/cap/i);

    // Osaka's prices with the cap lifted (Hardhat's `transactionGasCap: false`), to see how far
    // above it the reference goes.
    const uncapped = await deploy(
      (
        await network.create({
          override: { hardfork: "osaka", blockGasLimit: 1_000_000_000n, transactionGasCap: false },
        })
      ).ethers,
    );
    expect(
      await uncapped.probe.verifyDigest.estimateGas(digest, signature, key),
      "same prices as the default",
    ).to.equal(p384Osaka);
    const [okOsaka, innerOsaka] = await uncapped.reference.measureDigest(digest, signature, key);
    expect(okOsaka).to.equal(true);
    record("reference, Osaka, cap lifted: gasleft() around ECDSA384.verify", innerOsaka);
    const solarityOsaka = await uncapped.reference.verifyDigest.estimateGas(digest, signature, key);
    record("reference, Osaka, cap lifted: eth_estimateGas of verifyDigest", solarityOsaka);
    const receiptOsaka = await (await uncapped.reference.verifyDigestTx(digest, signature, key)).wait();
    record("reference, Osaka, cap lifted: receipt of verifyDigestTx", receiptOsaka!.gasUsed);
    expect(await uncapped.reference.lastResult()).to.equal(true);

    // Prague: MODEXP at its earlier (EIP-2565) prices, no cap.
    const prague = await deploy(
      (await network.create({ override: { hardfork: "prague", blockGasLimit: 1_000_000_000n } })).ethers,
    );
    const p384Prague = await prague.probe.verifyDigest.estimateGas(digest, signature, key);
    record("P384, Prague: eth_estimateGas of verifyDigest", p384Prague);
    const [okPrague, innerPrague] = await prague.reference.measureDigest(digest, signature, key);
    expect(okPrague).to.equal(true);
    record("reference, Prague: gasleft() around ECDSA384.verify", innerPrague);
    const solarityPrague = await prague.reference.verifyDigest.estimateGas(digest, signature, key);
    record("reference, Prague: eth_estimateGas of verifyDigest", solarityPrague);
    const receiptPrague = await (await prague.reference.verifyDigestTx(digest, signature, key)).wait();
    record("reference, Prague: receipt of verifyDigestTx", receiptPrague!.gasUsed);

    const width = Math.max(...rows.map(([what]) => what.length));
    console.log("\n      P-384 verification gas (the COSE signature of aws-nitro-2026-02-02):");
    for (const [what, value] of rows) console.log(`        ${what.padEnd(width)}  ${value}`);

    expect(p384Osaka).to.be.lessThan(TX_GAS_CAP);
    expect(p384Tx!.gasUsed).to.be.lessThan(TX_GAS_CAP);
    expect(solarityPrague).to.be.lessThan(TX_GAS_CAP);
    expect(solarityOsaka).to.be.greaterThan(TX_GAS_CAP);
    expect(receiptOsaka!.gasUsed).to.be.greaterThan(TX_GAS_CAP);
    expect(innerOsaka).to.be.greaterThan(TX_GAS_CAP);
    expect(solarityOsaka).to.be.greaterThan(solarityPrague); // EIP-7883
  });
});
