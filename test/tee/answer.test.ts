import { expect } from "chai";
import {
  AbiCoder,
  Signature,
  TypedDataEncoder,
  Wallet,
  concat,
  getBytes,
  hexlify,
  keccak256,
  randomBytes,
  toBeHex,
  toUtf8Bytes,
} from "ethers";

import { publicSignalsFor } from "../../src/circuit/inputs.js";
import { pack } from "../../src/circuit/packing.js";
import { SibylError } from "../../src/errors.js";
import { quantizeInput } from "../../src/model/quantize.js";
import { loadArtifacts } from "../../src/pipeline/artifacts.js";
import { type QuantizedModel, runQuantized } from "../../src/runtime/fixed.js";
import {
  TEE_ANSWER_TYPE,
  TEE_ANSWER_TYPES,
  TeeAnswerError,
  type TeeAnswerFields,
  checkTeeSignature,
  inputWords,
  outputWords,
  recoverTeeSigner,
  signTeeAnswer,
  teeAnswerDigest,
  wordsHash,
} from "../../src/tee/answer.js";

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const abi = AbiCoder.defaultAbiCoder();

const FIELDS: TeeAnswerFields = {
  chainId: 31337n,
  precompile: "0x0000000000000000000000000000000000000A11",
  requestId: keccak256(toUtf8Bytes("request")),
  modelId: keccak256(toUtf8Bytes("model")),
  inputHash: keccak256(toUtf8Bytes("input")),
  outputHash: keccak256(toUtf8Bytes("output")),
  attestedAt: 1_900_000_000n,
};

/** EIP-712 written out by hand: keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message)). */
function independentDigest(f: TeeAnswerFields): string {
  const domainTypeHash = keccak256(
    toUtf8Bytes("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
  );
  const domainSeparator = keccak256(
    abi.encode(
      ["bytes32", "bytes32", "bytes32", "uint256", "address"],
      [domainTypeHash, keccak256(toUtf8Bytes("Sibyl")), keccak256(toUtf8Bytes("1")), f.chainId, f.precompile],
    ),
  );
  const typeHash = keccak256(
    toUtf8Bytes(
      "TeeAnswer(bytes32 requestId,bytes32 modelId,bytes32 inputHash,bytes32 outputHash,uint64 attestedAt)",
    ),
  );
  const structHash = keccak256(
    abi.encode(
      ["bytes32", "bytes32", "bytes32", "bytes32", "bytes32", "uint64"],
      [typeHash, f.requestId, f.modelId, f.inputHash, f.outputHash, f.attestedAt],
    ),
  );
  return keccak256(concat(["0x1901", domainSeparator, structHash]));
}

/** The same signature with s' = n − s and v flipped: valid for ecrecover, but high-s. */
function highS(signature: string): string {
  const sig = Signature.from(signature);
  const s = N - BigInt(sig.s);
  return concat([sig.r, toBeHex(s, 32), Uint8Array.of(sig.v === 27 ? 28 : 27)]);
}

function teeErrorOf(fn: () => unknown): TeeAnswerError {
  try {
    fn();
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(TeeAnswerError);
    expect(e).to.be.instanceOf(SibylError);
    expect((e as TeeAnswerError).hint)
      .to.be.a("string")
      .and.not.equal("");
    return e as TeeAnswerError;
  }
  expect.fail("expected a TeeAnswerError");
}

describe("TEE answer signature", function () {
  const wallet = Wallet.createRandom();

  describe("EIP-712 digest", () => {
    it("has the documented type string, as ethers encodes the types object", () => {
      expect(TEE_ANSWER_TYPE).to.equal(
        "TeeAnswer(bytes32 requestId,bytes32 modelId,bytes32 inputHash,bytes32 outputHash,uint64 attestedAt)",
      );
      expect(TypedDataEncoder.from(TEE_ANSWER_TYPES).encodeType("TeeAnswer")).to.equal(TEE_ANSWER_TYPE);
    });

    it("matches an independent encoding with AbiCoder + keccak256", () => {
      expect(teeAnswerDigest(FIELDS)).to.equal(independentDigest(FIELDS));
      for (let i = 0; i < 10; i++) {
        const random: TeeAnswerFields = {
          chainId: BigInt(1 + i * 7919),
          precompile: Wallet.createRandom().address,
          requestId: hexlify(randomBytes(32)),
          modelId: hexlify(randomBytes(32)),
          inputHash: hexlify(randomBytes(32)),
          outputHash: hexlify(randomBytes(32)),
          attestedAt: BigInt(hexlify(randomBytes(8))),
        };
        expect(teeAnswerDigest(random)).to.equal(independentDigest(random));
      }
    });

    it("accepts numbers for chainId and attestedAt, and any hex case", () => {
      const mixed = {
        ...FIELDS,
        chainId: 31337,
        attestedAt: 1_900_000_000,
        requestId: FIELDS.requestId.toUpperCase().replace("0X", "0x"),
      };
      expect(teeAnswerDigest(mixed)).to.equal(teeAnswerDigest(FIELDS));
    });
  });

  describe("signing and recovery", () => {
    it("recovers the signer, and signs as ethers' signTypedData does", async () => {
      const signature = signTeeAnswer(wallet.signingKey, FIELDS);
      expect(getBytes(signature)).to.have.lengthOf(65);
      expect(recoverTeeSigner(FIELDS, signature)).to.equal(wallet.address);
      expect(recoverTeeSigner(FIELDS, getBytes(signature))).to.equal(wallet.address);
      const domain = {
        name: "Sibyl",
        version: "1",
        chainId: FIELDS.chainId,
        verifyingContract: FIELDS.precompile,
      };
      const { chainId: _c, precompile: _p, ...message } = FIELDS;
      expect(await wallet.signTypedData(domain, TEE_ANSWER_TYPES, message)).to.equal(signature);
    });

    it("recovers another address when any signed field changes", () => {
      const signature = signTeeAnswer(wallet.signingKey, FIELDS);
      const changes: Partial<TeeAnswerFields>[] = [
        { chainId: 31338n },
        { precompile: "0x0000000000000000000000000000000000000A12" },
        { requestId: keccak256(toUtf8Bytes("other request")) },
        { modelId: keccak256(toUtf8Bytes("other model")) },
        { inputHash: keccak256(toUtf8Bytes("other input")) },
        { outputHash: keccak256(toUtf8Bytes("other output")) },
        { attestedAt: 1_900_000_001n },
      ];
      for (const change of changes) {
        const changed = { ...FIELDS, ...change };
        expect(
          teeAnswerDigest(changed),
          JSON.stringify(change, (_k, v) => String(v)),
        ).to.not.equal(teeAnswerDigest(FIELDS));
        expect(recoverTeeSigner(changed, signature)).to.not.equal(wallet.address);
      }
    });

    it("never produces a high-s signature; v is 27 or 28", () => {
      const seen = new Set<number>();
      for (let i = 0; i < 200; i++) {
        const signature = signTeeAnswer(wallet.signingKey, {
          ...FIELDS,
          requestId: hexlify(randomBytes(32)),
        });
        const bytes = getBytes(signature);
        const s = BigInt(hexlify(bytes.subarray(32, 64)));
        expect(s <= N / 2n, `s = ${s}`).to.equal(true);
        expect([27, 28]).to.include(bytes[64]);
        seen.add(bytes[64]!);
      }
      expect([...seen].sort()).to.deep.equal([27, 28]); // both recovery ids occur
    });

    it("refuses the high-s twin of a valid signature, and malformed signatures", () => {
      const signature = signTeeAnswer(wallet.signingKey, FIELDS);
      const twin = highS(signature);
      expect(teeErrorOf(() => recoverTeeSigner(FIELDS, twin)).message).to.match(/high s/);
      expect(teeErrorOf(() => checkTeeSignature(signature.slice(0, -2))).message).to.match(/64 bytes/);
      const bytes = getBytes(signature);
      bytes[64] = 1;
      expect(teeErrorOf(() => checkTeeSignature(bytes)).message).to.match(/v = 1/);
      const zeroR = getBytes(signature);
      zeroR.fill(0, 0, 32);
      teeErrorOf(() => checkTeeSignature(zeroR));
      teeErrorOf(() => checkTeeSignature("not hex"));
    });
  });

  describe("field checks", () => {
    it("refuses fields that are not bytes32", () => {
      for (const field of ["requestId", "modelId", "inputHash", "outputHash"] as const) {
        for (const bad of [
          "0x1234",
          FIELDS[field] + "00",
          FIELDS[field].slice(2),
          "0x" + "zz".repeat(32),
          7,
        ]) {
          const error = teeErrorOf(() => teeAnswerDigest({ ...FIELDS, [field]: bad }));
          expect(error.message).to.contain(`${field} is not a bytes32`);
        }
      }
    });

    it("refuses attestedAt outside uint64, and a bad chainId or precompile", () => {
      for (const bad of [-1n, 1n << 64n, 1.5, -1, Number.MAX_SAFE_INTEGER + 2, "1"]) {
        const error = teeErrorOf(() => teeAnswerDigest({ ...FIELDS, attestedAt: bad as bigint }));
        expect(error.message).to.match(/^attestedAt = .* is not an integer in \[0, 18446744073709551615\]/);
      }
      expect(teeAnswerDigest({ ...FIELDS, attestedAt: (1n << 64n) - 1n })).to.match(/^0x[0-9a-f]{64}$/);
      teeErrorOf(() => teeAnswerDigest({ ...FIELDS, chainId: -1n }));
      teeErrorOf(() => teeAnswerDigest({ ...FIELDS, precompile: "0x1234" }));
      teeErrorOf(() => signTeeAnswer(wallet.signingKey, { ...FIELDS, requestId: "0x12" }));
    });
  });

  describe("input and output words", () => {
    let iris: QuantizedModel;
    before(() => {
      iris = loadArtifacts("iris").quantized;
    });

    it("hashes words as abi.encodePacked(uint256[]): concatenated 32-byte big-endian words", () => {
      const words = [0n, 1n, (1n << 256n) - 1n, 0x1234n << 200n];
      expect(wordsHash(words)).to.equal(keccak256(concat(words.map((w) => toBeHex(w, 32)))));
      expect(wordsHash([])).to.equal(keccak256("0x"));
      teeErrorOf(() => wordsHash([-1n]));
      teeErrorOf(() => wordsHash([1n << 256n]));
    });

    it("packs the input at inputBits and the output at valueBits, as the public signals", () => {
      const input = quantizeInput(iris, [5.1, 3.5, 1.4, 0.2]);
      const output = runQuantized(iris, input).output;
      expect(inputWords(iris, input)).to.deep.equal(pack(input, iris.inputBits));
      expect(outputWords(iris, output)).to.deep.equal(pack(output, iris.valueBits));
      // the words layout's [binding, inPacked…, outPacked…]; Iris's one compact signal carries the same words
      expect(
        publicSignalsFor(
          { ...iris, weights: "public", inputLength: 25 },
          1n,
          [...input, ...new Array<bigint>(21).fill(0n)],
          output,
        ).slice(1, 4),
      ).to.deep.equal(pack([...input, ...new Array<bigint>(21).fill(0n)], iris.inputBits));
      const [compact] = publicSignalsFor(iris, 1n, input, output);
      const V = BigInt(iris.outputLength * iris.valueBits);
      expect(compact & ((1n << V) - 1n)).to.equal(outputWords(iris, output)[0]);
      expect(compact >> (V + 128n)).to.equal(inputWords(iris, input)[0]);
    });

    it("spans several words for a long input", () => {
      const wide: QuantizedModel = { ...iris, inputLength: 25 };
      const input = Array.from({ length: 25 }, (_, i) => BigInt(i * 1000 - 12_000));
      const words = inputWords(wide, input);
      expect(words).to.have.lengthOf(3); // 10 values of 24 bits per word
      expect(words).to.deep.equal(pack(input, wide.inputBits));
    });

    it("appends the weight commitment for a private-weights model, and only for one", () => {
      const input = quantizeInput(iris, [6.3, 2.9, 5.6, 1.8]);
      const privateIris: QuantizedModel = { ...iris, weights: "private" };
      expect(inputWords(privateIris, input, 42n)).to.deep.equal([...pack(input, iris.inputBits), 42n]);
      expect(teeErrorOf(() => inputWords(privateIris, input)).hint).to.match(/pass weightCommitment/);
      expect(teeErrorOf(() => inputWords(iris, input, 42n)).hint).to.match(/leave weightCommitment out/);
    });

    it("refuses inputs and outputs the model cannot have", () => {
      expect(() => inputWords(iris, [1n, 2n, 3n])).to.throw(SibylError, /takes 4 inputs, got 3/);
      expect(() => inputWords(iris, [1n, 2n, 3n, 1n << 30n])).to.throw(
        SibylError,
        /outside the signed 24-bit/,
      );
      teeErrorOf(() => outputWords(iris, [0n, 1n]));
      teeErrorOf(() => outputWords(iris, [1n << 40n]));
    });
  });
});
