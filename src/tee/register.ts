import { X509Certificate } from "node:crypto";
import {
  type ContractTransactionResponse,
  type Signer,
  getAddress,
  getBytes,
  hexlify,
  keccak256,
} from "ethers";

import { ChainError } from "../errors.js";
import { type Logger, consoleLogger } from "../log.js";
import { coreContract } from "../env.js";
import type { AttestationVerifier, EnclaveRegistry } from "../../typechain-types/index.js";
import { parseAttestation } from "./attestation.js";

/**
 * Registers an enclave's answer key on-chain from a fresh attestation document, in the steps
 * `IEnclaveRegistry` describes: each certificate below the root that is not cached yet is
 * verified in its own transaction (parent first), then the document itself. The enclave is
 * asked for the document only after the registry named the nonce it must carry.
 */

/** The registry's attestation verifier (where certificates are submitted and cached). */
export async function verifierOf(registry: EnclaveRegistry): Promise<AttestationVerifier> {
  return coreContract<AttestationVerifier>("AttestationVerifier", await registry.verifier(), registry.runner);
}

/** What registration needs of an enclave. */
export interface AttestingEnclave {
  /** the address of the key the enclave signs answers with (the document's `public_key`) */
  readonly answerKey: string;
  attest(opts: { nonce: Uint8Array }): Promise<Uint8Array>;
}

/** One transaction of a registration. */
export interface RegistrationStep {
  kind: "certificate" | "document";
  /** the certificate's subject, or "attestation document" */
  subject: string;
  txHash: string;
  gasUsed: bigint;
}

export interface EnclaveRegistration {
  /** the registered answer key (an address) */
  key: string;
  /** keccak256(PCR0 ‖ PCR1 ‖ PCR2) of the enclave */
  measurement: string;
  debug: boolean;
  /** the transactions sent, in order (certificates already cached are not sent again) */
  steps: RegistrationStep[];
  /** certificates found in the cache (verified by an earlier registration) */
  cached: number;
  gasUsed: bigint;
}

export interface RegisterEnclaveOptions {
  /** the enclave registry, connected to the operator: the node account that will submit answers */
  registry: EnclaveRegistry;
  enclave: AttestingEnclave;
  /** the model whose allow-list the enclave is checked against */
  modelId: string;
  log?: Logger;
}

/** Each step is one P-384 verification (9–10M gas): a fixed limit spares running it twice to estimate. */
const STEP_GAS_LIMIT = 16_000_000n;

export async function registerEnclave(opts: RegisterEnclaveOptions): Promise<EnclaveRegistration> {
  const { registry, enclave, modelId } = opts;
  const log = opts.log ?? consoleLogger;
  const runner = registry.runner as Signer | null;
  if (!runner || !("getAddress" in runner))
    throw new ChainError("the enclave registry handle has no signer", "connect it to the node's account");
  const operator = await runner.getAddress();

  const nonce = await registry.registrationNonce(operator);
  const document = await enclave.attest({ nonce: getBytes(nonce) });
  const parsed = parseAttestation(document);
  const chain = [...parsed.cabundle, parsed.certificate];
  const root = keccak256(chain[0]);
  const verifier = await verifierOf(registry);
  const pinned = await verifier.root();
  if (root !== pinned)
    throw new ChainError(
      `the enclave's certificate chain starts at root ${root}, but the enclave registry pins ${pinned}`,
      "an enclave registry accepts only documents under the root it was deployed with: the AWS Nitro root for real enclaves, the project's development root for local enclave processes",
    );

  const steps: RegistrationStep[] = [];
  let cached = 0;
  for (let i = 1; i < chain.length; i++) {
    const der = chain[i];
    const subject = subjectOf(der);
    if (await verifier.isCached(keccak256(der))) {
      cached++;
      continue;
    }
    log.info(`  verifying certificate ${i}/${chain.length - 1} on-chain (${subject})…`);
    steps.push(
      await step("certificate", subject, () =>
        verifier.submitCertificate(hexlify(der), keccak256(chain[i - 1]), { gasLimit: STEP_GAS_LIMIT }),
      ),
    );
  }
  log.info("  verifying the attestation document on-chain and registering its key…");
  steps.push(
    await step("document", "attestation document", () =>
      registry.registerEnclave(hexlify(document), modelId, { gasLimit: STEP_GAS_LIMIT }),
    ),
  );
  const record = await registry.enclaveOf(enclave.answerKey);
  if (getAddress(record.operator) !== getAddress(operator))
    throw new ChainError(
      `the registry did not register the enclave's answer key ${enclave.answerKey} for ${operator}`,
      "the document's public_key is not the enclave's answer key: the enclave is misconfigured",
    );
  const gasUsed = steps.reduce((sum, s) => sum + s.gasUsed, 0n);
  return {
    key: getAddress(enclave.answerKey),
    measurement: record.measurement,
    debug: record.debug,
    steps,
    cached,
    gasUsed,
  };
}

async function step(
  kind: RegistrationStep["kind"],
  subject: string,
  send: () => Promise<ContractTransactionResponse>,
): Promise<RegistrationStep> {
  const receipt = await (await send()).wait();
  if (!receipt) throw new ChainError(`the ${kind} transaction was dropped`, "try the registration again");
  return { kind, subject, txHash: receipt.hash, gasUsed: receipt.gasUsed };
}

function subjectOf(der: Uint8Array): string {
  try {
    return new X509Certificate(der).subject.replaceAll("\n", ", ");
  } catch {
    return "an unreadable certificate";
  }
}
