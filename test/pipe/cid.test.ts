import { expect } from "chai";
import { hexlify, randomBytes } from "ethers";

import { ModelIdFormatError, modelCid, modelIdFromCid } from "../../src/pipe/cid.js";

/**
 * Model CIDs: CIDv1 · raw · keccak-256 multihash whose digest is the model id, lower-case
 * base32. The expected strings are spelled here with a base32 encoder independent of
 * `multiformats`, so the test does not check the library against itself.
 */

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

/** RFC 4648 base32, lower case, no padding: 5 bits per digit, most significant first. */
function base32(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >> bits) & 31];
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** "b" ‖ base32(prefix ‖ digest), by hand. */
function spell(prefix: number[], digestHex: string): string {
  return "b" + base32(Uint8Array.from([...prefix, ...Buffer.from(digestHex.slice(2), "hex")]));
}

const MODEL_PREFIX = [0x01, 0x55, 0x1b, 0x20];

describe("model CIDs (src/pipe/cid)", function () {
  it("spells a model id as CIDv1 · raw · keccak-256, 59 lower-case base32 characters", function () {
    const modelId = "0x" + "00112233445566778899aabbccddeeff".repeat(2);
    const cid = modelCid(modelId);
    expect(cid).to.equal(spell(MODEL_PREFIX, modelId));
    expect(cid).to.have.length(59);
    expect(cid.startsWith("bafkrwi")).to.equal(true); // 01 55 1b 20 always starts this way
    expect(cid).to.match(/^b[a-z2-7]{58}$/);
  });

  it("spells the all-zero and all-one ids", function () {
    for (const modelId of ["0x" + "00".repeat(32), "0x" + "ff".repeat(32)]) {
      expect(modelCid(modelId)).to.equal(spell(MODEL_PREFIX, modelId));
      expect(modelIdFromCid(modelCid(modelId))).to.equal(modelId);
    }
  });

  it("round-trips random ids, returning lower-case hex whatever case went in", function () {
    for (let i = 0; i < 32; i++) {
      const modelId = hexlify(randomBytes(32));
      expect(modelIdFromCid(modelCid(modelId))).to.equal(modelId);
      expect(modelIdFromCid(modelCid(modelId.toUpperCase().replace("0X", "0x")))).to.equal(modelId);
    }
  });

  it("throws ModelIdFormatError for a model id that is not 32 bytes of hex", function () {
    for (const bad of ["", "0x", "0x1234", "00".repeat(32), "0x" + "zz".repeat(32), "0x" + "00".repeat(33)]) {
      expect(() => modelCid(bad)).to.throw(ModelIdFormatError);
    }
  });

  describe("refuses anything but exactly a model CID", function () {
    const modelId = "0x" + "5a".repeat(32);
    const good = modelCid(modelId);

    it("a CIDv0 (Qm…)", function () {
      expect(modelIdFromCid("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")).to.equal(undefined);
    });

    it("another codec (dag-pb 0x70, dag-cbor 0x71)", function () {
      expect(modelIdFromCid(spell([0x01, 0x70, 0x1b, 0x20], modelId))).to.equal(undefined);
      expect(modelIdFromCid(spell([0x01, 0x71, 0x1b, 0x20], modelId))).to.equal(undefined);
    });

    it("another hash (sha2-256 0x12, blake2b-256 is two bytes and so the wrong length)", function () {
      const sha = spell([0x01, 0x55, 0x12, 0x20], modelId);
      expect(sha).to.have.length(59);
      expect(modelIdFromCid(sha)).to.equal(undefined);
    });

    it("another CID version byte", function () {
      expect(modelIdFromCid(spell([0x02, 0x55, 0x1b, 0x20], modelId))).to.equal(undefined);
    });

    it("upper case, whole or in part", function () {
      expect(modelIdFromCid(good.toUpperCase())).to.equal(undefined);
      expect(modelIdFromCid("B" + good.slice(1))).to.equal(undefined);
      const letter = 7 + good.slice(7).search(/[a-z]/); // a digest letter, not the fixed prefix
      expect(
        modelIdFromCid(good.slice(0, letter) + good[letter].toUpperCase() + good.slice(letter + 1)),
      ).to.equal(undefined);
    });

    it("the wrong length: a digit short, a digit long, padded, empty", function () {
      expect(modelIdFromCid(good.slice(0, -1))).to.equal(undefined);
      expect(modelIdFromCid(good + "a")).to.equal(undefined);
      expect(modelIdFromCid(good + "=")).to.equal(undefined);
      expect(modelIdFromCid("")).to.equal(undefined);
    });

    it("another multibase (base58btc 'z', base16 'f')", function () {
      expect(modelIdFromCid("z" + good.slice(1))).to.equal(undefined);
      expect(modelIdFromCid("f" + good.slice(1))).to.equal(undefined);
    });

    it("non-zero trailing bits (the last digit carries 3 data bits and 2 zero bits)", function () {
      const last = ALPHABET.indexOf(good[58]);
      expect(last & 3).to.equal(0);
      expect(modelIdFromCid(good.slice(0, 58) + ALPHABET[last | 1])).to.equal(undefined);
    });

    it("a digit outside the alphabet ('0', '1', '8', '9')", function () {
      for (const digit of "0189") {
        expect(modelIdFromCid(good.slice(0, 20) + digit + good.slice(21))).to.equal(undefined);
      }
    });
  });
});
