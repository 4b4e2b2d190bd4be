import { SibylError } from "../errors.js";

/**
 * The enclave a TEE-mode node runs its model in. It proves what it is with an attestation
 * document in the AWS Nitro Enclaves format (an untagged COSE_Sign1 whose payload names the
 * enclave's PCRs and binds a public key, a nonce and optional user data), and it holds the
 * private half of `publicKey`, with which it signs its answers.
 *
 * There is one implementation per environment:
 * - `LocalEnclave` (`./localEnclave.ts`) runs in-process, with no hardware behind it. Its
 *   documents have the exact Nitro format but are signed by a certificate chain it generates
 *   itself, so they prove nothing to anyone who does not pin that chain's root. It exists so
 *   that the parser, the verifier and the contracts are exercised on real Nitro bytes.
 * - On Nitro hardware the same interface is served by the Nitro Security Module through
 *   `/dev/nsm`, which returns documents signed by the AWS Nitro Enclaves root. That
 *   implementation is not written yet.
 */
export interface Enclave {
  /**
   * An attestation document (the COSE_Sign1 bytes) binding `publicKey` and `nonce`, and
   * `userData` when given. Sizes follow the NSM's limits (`NSM_LIMITS`).
   */
  attest(opts: { nonce: Uint8Array; publicKey: Uint8Array; userData?: Uint8Array }): Promise<Uint8Array>;
  /** A short description for logs, e.g. "local enclave (NOT hardware-backed) …". */
  describe(): string;
}

/** The largest fields the Nitro Security Module accepts in an attestation request, in bytes. */
export const NSM_LIMITS = { nonce: 512, publicKey: 1024, userData: 512 } as const;

/** An enclave was configured wrongly or asked for an attestation it cannot give. */
export class EnclaveError extends SibylError {}
