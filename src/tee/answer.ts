import {
  Signature,
  type SigningKey,
  type TypedDataDomain,
  type TypedDataField,
  TypedDataEncoder,
  getBytes,
  isAddress,
  isHexString,
  recoverAddress,
  solidityPackedKeccak256,
} from "ethers";

import { inputWordsFor } from "../circuit/inputs.js";
import { pack } from "../circuit/packing.js";
import { ProofError, SibylError } from "../errors.js";
import { checkInput, inSignedRange, type QuantizedModel } from "../runtime/fixed.js";

/**
 * The signature a TEE-mode enclave puts on each answer (EIP-712). The enclave's answer key
 * (a secp256k1 key whose public half the attestation document's `public_key` carries) signs
 *
 *   TeeAnswer(bytes32 requestId,bytes32 modelId,bytes32 inputHash,bytes32 outputHash,uint64 attestedAt)
 *
 * in the domain `{ name: "Sibyl", version: "1", chainId, verifyingContract: precompile }`.
 * `inputHash` and `outputHash` hash the words the ZK mode makes public signals of
 * (`inputWordsFor`): the input packed at `model.inputBits`, followed by the weight
 * commitment for a private-weights model, and the output packed at `model.valueBits`;
 * each as keccak256(abi.encodePacked(uint256[] words)).
 *
 * A signature is 65 bytes r‖s‖v with v ∈ {27, 28} and a low s (s ≤ n/2), the form
 * OpenZeppelin's ECDSA library accepts; a high-s signature is neither produced nor accepted.
 */

/** A field of a TEE answer is malformed (not bytes32, out of range, not an address, …). */
export class TeeAnswerError extends SibylError {}

/** The EIP-712 primary type, as it is hashed into the type hash. */
export const TEE_ANSWER_TYPE =
  "TeeAnswer(bytes32 requestId,bytes32 modelId,bytes32 inputHash,bytes32 outputHash,uint64 attestedAt)";

/** The EIP-712 types object (ethers' `TypedDataEncoder` form) of `TEE_ANSWER_TYPE`. */
export const TEE_ANSWER_TYPES: Record<"TeeAnswer", TypedDataField[]> = {
  TeeAnswer: [
    { name: "requestId", type: "bytes32" },
    { name: "modelId", type: "bytes32" },
    { name: "inputHash", type: "bytes32" },
    { name: "outputHash", type: "bytes32" },
    { name: "attestedAt", type: "uint64" },
  ],
};

/** The EIP-712 domain name and version. */
export const TEE_ANSWER_DOMAIN_NAME = "Sibyl";
export const TEE_ANSWER_DOMAIN_VERSION = "1";

/** Length of a TEE answer signature: r‖s‖v. */
export const TEE_SIGNATURE_LENGTH = 65;

/** The secp256k1 group order, and half of it: the largest `s` a signature may have. */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = SECP256K1_N >> 1n;
const UINT64_MAX = (1n << 64n) - 1n;
const UINT256_MAX = (1n << 256n) - 1n;

/** Everything a TEE answer signature covers. Hashes and ids are 0x-prefixed bytes32 hex. */
export interface TeeAnswerFields {
  /** the chain the precompile lives on (EIP-712 domain) */
  chainId: bigint | number;
  /** the precompile's address (EIP-712 `verifyingContract`) */
  precompile: string;
  requestId: string;
  modelId: string;
  /** `wordsHash(inputWords(model, input, weightCommitment))` */
  inputHash: string;
  /** `wordsHash(outputWords(model, output))` */
  outputHash: string;
  /** when the enclave computed the answer, unix seconds (uint64) */
  attestedAt: bigint | number;
}

/** The EIP-712 domain of TEE answers on `chainId` for `precompile`. */
export function teeAnswerDomain(chainId: bigint | number, precompile: string): TypedDataDomain {
  return {
    name: TEE_ANSWER_DOMAIN_NAME,
    version: TEE_ANSWER_DOMAIN_VERSION,
    chainId: uintField("chainId", chainId, UINT256_MAX),
    verifyingContract: addressField("precompile", precompile),
  };
}

/** The EIP-712 message of `fields`, checked (bytes32 fields, uint64 `attestedAt`). */
export function teeAnswerMessage(
  fields: Omit<TeeAnswerFields, "chainId" | "precompile">,
): Record<keyof typeof fields, string | bigint> {
  return {
    requestId: bytes32Field("requestId", fields.requestId),
    modelId: bytes32Field("modelId", fields.modelId),
    inputHash: bytes32Field("inputHash", fields.inputHash),
    outputHash: bytes32Field("outputHash", fields.outputHash),
    attestedAt: uintField("attestedAt", fields.attestedAt, UINT64_MAX),
  };
}

/** The EIP-712 digest an answer key signs: keccak256(0x1901 ‖ domainSeparator ‖ structHash). */
export function teeAnswerDigest(fields: TeeAnswerFields): string {
  return TypedDataEncoder.hash(
    teeAnswerDomain(fields.chainId, fields.precompile),
    TEE_ANSWER_TYPES,
    teeAnswerMessage(fields),
  );
}

/**
 * Signs `fields` with an answer key: the 65-byte r‖s‖v signature (v ∈ {27, 28}, low s) as
 * 0x hex. Used inside the enclave; the key never leaves it.
 */
export function signTeeAnswer(key: SigningKey, fields: TeeAnswerFields): string {
  const signature = key.sign(teeAnswerDigest(fields));
  // ethers' SigningKey always produces canonical (low-s) signatures; the contract refuses
  // any other, so make sure of it rather than trust it
  if (BigInt(signature.s) > HALF_N)
    throw new TeeAnswerError(
      "the answer key produced a high-s signature",
      "this is a bug in the signing library: report it; a high-s signature is refused on-chain",
    );
  return checkTeeSignature(signature.serialized);
}

/**
 * Checks a TEE answer signature's form and returns it as lowercase 0x hex: 65 bytes r‖s‖v,
 * v ∈ {27, 28}, 0 < r < n, 0 < s ≤ n/2. Throws a TeeAnswerError otherwise.
 */
export function checkTeeSignature(signature: string | Uint8Array): string {
  let bytes: Uint8Array;
  try {
    bytes = getBytes(signature);
  } catch (e) {
    throw new TeeAnswerError("the TEE answer signature is not hex or bytes", SIGNATURE_HINT, { cause: e });
  }
  if (bytes.length !== TEE_SIGNATURE_LENGTH)
    throw new TeeAnswerError(
      `the TEE answer signature is ${bytes.length} bytes, expected ${TEE_SIGNATURE_LENGTH}`,
      SIGNATURE_HINT,
    );
  const r = BigInt("0x" + Buffer.from(bytes.subarray(0, 32)).toString("hex"));
  const s = BigInt("0x" + Buffer.from(bytes.subarray(32, 64)).toString("hex"));
  const v = bytes[64]!;
  if (v !== 27 && v !== 28)
    throw new TeeAnswerError(`the TEE answer signature has v = ${v}, expected 27 or 28`, SIGNATURE_HINT);
  if (r === 0n || r >= SECP256K1_N || s === 0n)
    throw new TeeAnswerError("the TEE answer signature has r or s out of range", SIGNATURE_HINT);
  if (s > HALF_N)
    throw new TeeAnswerError(
      "the TEE answer signature has a high s (s > n/2)",
      "only low-s signatures are accepted (EIP-2); normalize it with s' = n − s and v flipped",
    );
  return "0x" + Buffer.from(bytes).toString("hex");
}

const SIGNATURE_HINT = "pass the 65-byte r‖s‖v signature the enclave returned with the answer";

/** The address whose key signed `fields` (the enclave's answer key, if the answer is genuine). */
export function recoverTeeSigner(fields: TeeAnswerFields, signature: string | Uint8Array): string {
  const checked = checkTeeSignature(signature);
  return recoverAddress(teeAnswerDigest(fields), Signature.from(checked));
}

/**
 * The words `inputHash` covers: `pack(input, model.inputBits)`, then the weight commitment
 * for a private-weights model — the input public signals of the ZK mode, in order.
 */
export function inputWords(
  model: Pick<QuantizedModel, "name" | "inputLength" | "inputBits" | "valueBits" | "fracBits" | "weights">,
  input: readonly bigint[],
  weightCommitment?: bigint,
): bigint[] {
  checkInput(model as QuantizedModel, input);
  try {
    return inputWordsFor(model, input, weightCommitment);
  } catch (e) {
    if (!(e instanceof ProofError)) throw e;
    throw new TeeAnswerError(
      `model ${model.name}: ${model.weights === "private" ? "no" : "an unexpected"} weight commitment`,
      model.weights === "private"
        ? "a private-weights model's answers bind its registered weight commitment: pass weightCommitment"
        : "a public-weights model has no weight commitment: leave weightCommitment out",
      { cause: e },
    );
  }
}

/** The words `outputHash` covers: `pack(output, model.valueBits)`. */
export function outputWords(
  model: Pick<QuantizedModel, "name" | "outputLength" | "valueBits">,
  output: readonly bigint[],
): bigint[] {
  if (output.length !== model.outputLength)
    throw new TeeAnswerError(
      `model ${model.name} has ${model.outputLength} outputs, got ${output.length}`,
      "pass the output the fixed-point runtime computed (runQuantized(model, input).output)",
    );
  output.forEach((v, i) => {
    if (typeof v !== "bigint" || !inSignedRange(v, model.valueBits))
      throw new TeeAnswerError(
        `output[${i}] = ${String(v)} is not a signed ${model.valueBits}-bit integer`,
        "pass the output the fixed-point runtime computed (runQuantized(model, input).output)",
      );
  });
  return pack(output, model.valueBits);
}

/** keccak256(abi.encodePacked(uint256[] words)): the words as concatenated 32-byte big-endian. */
export function wordsHash(words: readonly bigint[]): string {
  words.forEach((w, i) => {
    if (typeof w !== "bigint" || w < 0n || w > UINT256_MAX)
      throw new TeeAnswerError(
        `word ${i} = ${String(w)} is not a uint256`,
        "pass packed words (inputWords / outputWords)",
      );
  });
  return solidityPackedKeccak256(["uint256[]"], [words]);
}

function bytes32Field(name: string, value: unknown): string {
  if (typeof value !== "string" || !isHexString(value, 32))
    throw new TeeAnswerError(
      `${name} is not a bytes32 (got ${describeValue(value)})`,
      `pass ${name} as 0x-prefixed hex of exactly 32 bytes`,
    );
  return value.toLowerCase();
}

function uintField(name: string, value: unknown, max: bigint): bigint {
  const n =
    typeof value === "bigint"
      ? value
      : typeof value === "number" && Number.isSafeInteger(value)
        ? BigInt(value)
        : undefined;
  if (n === undefined || n < 0n || n > max)
    throw new TeeAnswerError(
      `${name} = ${describeValue(value)} is not an integer in [0, ${max}]`,
      name === "attestedAt"
        ? "attestedAt is unix seconds, a uint64"
        : `pass ${name} as a non-negative integer`,
    );
  return n;
}

function addressField(name: string, value: unknown): string {
  if (typeof value !== "string" || !isHexString(value, 20) || !isAddress(value))
    throw new TeeAnswerError(
      `${name} is not an address (got ${describeValue(value)})`,
      `pass ${name} as a 0x-prefixed 20-byte address`,
    );
  return value;
}

function describeValue(value: unknown): string {
  const text = typeof value === "string" ? JSON.stringify(value) : String(value);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}
