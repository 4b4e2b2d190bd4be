import { concat, keccak256 } from "ethers";

import { SibylError } from "../errors.js";

/**
 * The enclave a TEE-mode node runs its model in. It proves what it is with an attestation
 * document in the AWS Nitro Enclaves format (an untagged COSE_Sign1 whose payload names the
 * enclave's PCRs and binds its answer key as `public_key`, the caller's nonce and optional
 * user data). The answer key is a secp256k1 key that never leaves the enclave; with it the
 * enclave signs each answer (EIP-712 `TeeAnswer`, `./answer.ts`), which the precompile
 * accepts as final once the document has been verified on-chain.
 *
 * There is one implementation per environment:
 * - `LocalEnclaveProcess` (`./localEnclaveProcess.ts`): a separate local OS process
 *   (`./enclaveApp.ts`), NOT backed by hardware. Its documents have the exact Nitro format
 *   but are signed by a certificate chain under the project's development root
 *   (`./devCa.ts`), so they prove nothing to anyone who does not pin that root; the host's
 *   owner can read the process's memory. It exists so that the node, the verifier and the
 *   contracts run TEE mode end to end on real Nitro-format bytes.
 * - On Nitro hardware the same interface would be served by a process inside the enclave
 *   that asks the Nitro Security Module (`/dev/nsm`) for documents signed by the AWS Nitro
 *   Enclaves root, with the host talking to it over vsock. That implementation is NOT written
 *   here: there is no Nitro hardware to run or test it on.
 */
export interface Enclave {
  /** The answer key's address: the signer every answer recovers to. */
  readonly answerKey: string;
  /** The answer key's uncompressed secp256k1 public key (65 bytes, 0x04‖x‖y): the documents' `public_key`. */
  readonly publicKey: Uint8Array;
  /** The PCRs the enclave's documents report (Nitro: 16 SHA-384 values, PCR0 first). */
  readonly pcrs: readonly Uint8Array[];
  /** `enclaveMeasurement(pcrs)`: keccak256(PCR0‖PCR1‖PCR2), the value a model owner allow-lists on-chain. */
  readonly measurement: string;
  /** DER of the root certificate the documents chain to (pin its SHA-256). */
  readonly rootDer: Uint8Array;
  /**
   * An attestation document (the COSE_Sign1 bytes) binding `publicKey`, `nonce`, and
   * `userData` when given. Sizes follow the NSM's limits (`NSM_LIMITS`).
   */
  attest(opts: { nonce: Uint8Array; userData?: Uint8Array }): Promise<Uint8Array>;
  /** Runs the model on `input` inside the enclave and signs the answer with the answer key. */
  answer(request: TeeAnswerRequest): Promise<TeeAnswer>;
  /** A short description for logs, saying plainly whether it is hardware-backed. */
  describe(): string;
  /** Stops the enclave; pending and later calls are refused. */
  close(): Promise<void>;
}

/** What the enclave answers: one request of the precompile, bound to the chain and the precompile. */
export interface TeeAnswerRequest {
  chainId: bigint | number;
  /** the precompile's address (the EIP-712 verifying contract) */
  precompile: string;
  /** bytes32 hex */
  requestId: string;
  /** bytes32 hex */
  modelId: string;
  /** the fixed-point input */
  input: readonly bigint[];
  /** the registered weight commitment of a private-weights model (bound into `inputHash`) */
  weightCommitment?: bigint;
  /** unix seconds the answer is stamped with; the enclave's clock when absent */
  attestedAt?: bigint | number;
}

/** A signed answer. */
export interface TeeAnswer {
  /** the model's output, from the fixed-point runtime */
  output: bigint[];
  /** unix seconds (uint64) */
  attestedAt: bigint;
  /** `wordsHash(inputWords(model, input, weightCommitment))` */
  inputHash: string;
  /** `wordsHash(outputWords(model, output))` */
  outputHash: string;
  /** 65-byte r‖s‖v (v ∈ {27, 28}, low s) over the `TeeAnswer` EIP-712 digest, 0x hex */
  signature: string;
}

/** The largest fields the Nitro Security Module accepts in an attestation request, in bytes. */
export const NSM_LIMITS = { nonce: 512, publicKey: 1024, userData: 512 } as const;

/** keccak256(PCR0‖PCR1‖PCR2) as 0x hex: the enclave image measurement a model owner allow-lists. */
export function enclaveMeasurement(pcrs: readonly Uint8Array[]): string {
  if (pcrs.length < 3 || pcrs.slice(0, 3).some((p) => p.length !== 48))
    throw new EnclaveError(
      "an enclave measurement needs PCR0, PCR1 and PCR2 of 48 bytes each",
      "pass the PCRs of a Nitro attestation document (SHA-384 values)",
    );
  return keccak256(concat(pcrs.slice(0, 3)));
}

/** An enclave was configured wrongly, refused a request, or stopped. */
export class EnclaveError extends SibylError {}
