import { X509Certificate, createHash, verify as cryptoVerify } from "node:crypto";
import { Tag, decode } from "cbor2";

import { SibylError } from "../errors.js";

/**
 * Off-chain verification of AWS Nitro Enclave attestation documents.
 *
 * A document is a COSE_Sign1 structure `[protected, unprotected, payload, signature]`
 * signed with ES384 by a short-lived leaf certificate. The payload carries the leaf, a
 * bundle of certificates back to the AWS Nitro Enclaves root, the enclave's PCRs, and the
 * caller's nonce, user data and public key. `parseAttestation` checks the structure only;
 * `verifyAttestation` checks the chain, the signature and a caller's policy.
 */

/**
 * SHA-256 fingerprint of the AWS Nitro Enclaves root certificate (`CN=aws.nitro-enclaves`,
 * valid 2019-10-28 to 2049-10-28), as AWS publishes it.
 */
export const AWS_NITRO_ROOT_SHA256 =
  "64:1A:03:21:A3:E2:44:EF:E4:56:46:31:95:D6:06:31:7E:D7:CD:CC:3C:17:56:E0:98:93:F3:C6:8F:79:BB:5B";

/** Why an attestation was refused; one code per check. */
export type AttestationFailure =
  "format" | "root" | "chain" | "validity" | "signature" | "debug" | "pcr" | "nonce" | "stale";

/** An attestation document is malformed, or fails a check of `verifyAttestation`. */
export class AttestationError extends SibylError {
  constructor(
    readonly reason: AttestationFailure,
    message: string,
    hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, hint, options);
  }
}

/** The decoded fields of a Nitro attestation document, plus the raw COSE parts. */
export interface AttestationDocument {
  moduleId: string;
  /** Digest algorithm of the PCRs; always "SHA384" on Nitro. */
  digest: string;
  /** When the enclave produced the document (ms since the Unix epoch). */
  timestampMs: bigint;
  pcrs: Map<number, Uint8Array>;
  /** DER leaf certificate whose key signed the document. */
  certificate: Uint8Array;
  /** DER certificates, root first, then intermediates down to the leaf's issuer. */
  cabundle: Uint8Array[];
  publicKey?: Uint8Array;
  userData?: Uint8Array;
  nonce?: Uint8Array;
  /** Serialized protected header, as signed. */
  protectedHeader: Uint8Array;
  /** Serialized payload, as signed. */
  payload: Uint8Array;
  /** Raw ES384 signature r‖s (96 bytes). */
  signature: Uint8Array;
}

/** What a verifier accepts. Only `rootSha256` is required. */
export interface AttestationPolicy {
  /** SHA-256 of the pinned root certificate, hex; colons and case are ignored. */
  rootSha256: string;
  /** Accept debug-mode enclaves (PCR0 all zero). Never in production. */
  allowDebug?: boolean;
  /** For each listed PCR index, the hex values accepted (e.g. `{ 0: ["9bae…"] }`). */
  allowedPcrs?: Record<number, readonly string[]>;
  /** Refuse documents older than this, measured from `now`. */
  maxAgeMs?: number;
  /** The nonce the document must carry. */
  expectedNonce?: Uint8Array;
  /** Current time in ms for the age check; defaults to `Date.now()`. */
  now?: bigint;
}

/** A document that passed `verifyAttestation`. */
export interface VerifiedAttestation {
  document: AttestationDocument;
  /** True when the enclave ran in debug mode (only possible with `allowDebug`). */
  debug: boolean;
  /** Subject of the leaf certificate, e.g. `CN=i-…-enc….us-east-2.aws`. */
  leafSubject: string;
}

const COSE_TAG_SIGN1 = 18;
const COSE_ALG_ES384 = -35;
const PCR_LENGTH = 48;
const ES384_SIGNATURE_LENGTH = 96;

const FORMAT_HINT = "pass the raw bytes of a Nitro attestation document (COSE_Sign1, ES384)";

function formatError(message: string, cause?: unknown): AttestationError {
  return new AttestationError("format", message, FORMAT_HINT, cause === undefined ? undefined : { cause });
}

function decodeCbor(bytes: Uint8Array, what: string): unknown {
  try {
    return decode(bytes, { preferMap: true, rejectDuplicateKeys: true, ignoreGlobalTags: true });
  } catch (e) {
    throw formatError(`${what} is not valid CBOR: ${(e as Error).message}`, e);
  }
}

/** A copy, so the document never aliases the caller's buffer (or cbor2's). */
function bytesOf(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw formatError(`${what} is not a byte string`);
  return new Uint8Array(value);
}

function optionalBytes(value: unknown, what: string): Uint8Array | undefined {
  return value === undefined || value === null ? undefined : bytesOf(value, what);
}

function textOf(value: unknown, what: string): string {
  if (typeof value !== "string") throw formatError(`${what} is not a text string`);
  return value;
}

/**
 * Decode a Nitro attestation document (untagged or tag-18 COSE_Sign1). Checks structure
 * only: nothing here is trusted until `verifyAttestation` accepts it.
 */
export function parseAttestation(bytes: Uint8Array): AttestationDocument {
  let cose = decodeCbor(bytes, "attestation document");
  if (cose instanceof Tag) {
    if (Number(cose.tag) !== COSE_TAG_SIGN1) {
      throw formatError(`attestation document has CBOR tag ${cose.tag}, expected none or ${COSE_TAG_SIGN1}`);
    }
    cose = cose.contents;
  }
  if (!Array.isArray(cose) || cose.length !== 4) {
    throw formatError("attestation document is not a COSE_Sign1 array of 4 items");
  }
  const protectedHeader = bytesOf(cose[0], "COSE protected header");
  if (!(cose[1] instanceof Map)) throw formatError("COSE unprotected header is not a map");
  const payload = bytesOf(cose[2], "COSE payload");
  const signature = bytesOf(cose[3], "COSE signature");

  checkProtectedHeader(protectedHeader);
  if (signature.length !== ES384_SIGNATURE_LENGTH) {
    throw formatError(`COSE signature is ${signature.length} bytes, expected ${ES384_SIGNATURE_LENGTH}`);
  }
  return { ...decodePayload(payload), protectedHeader, payload, signature };
}

function checkProtectedHeader(protectedHeader: Uint8Array): void {
  const header = decodeCbor(protectedHeader, "COSE protected header");
  if (!(header instanceof Map) || header.size !== 1 || header.get(1) !== COSE_ALG_ES384) {
    throw formatError("COSE protected header is not {1: -35} (ES384)");
  }
}

type PayloadFields = Omit<AttestationDocument, "protectedHeader" | "payload" | "signature">;

function decodePayload(payload: Uint8Array): PayloadFields {
  const fields = decodeCbor(payload, "attestation payload");
  if (!(fields instanceof Map)) throw formatError("attestation payload is not a CBOR map");

  const digest = textOf(fields.get("digest"), "digest");
  if (digest !== "SHA384") throw formatError(`digest is "${digest}", expected "SHA384"`);

  const timestamp = fields.get("timestamp");
  if (!(
    typeof timestamp === "bigint" ||
    (typeof timestamp === "number" && Number.isSafeInteger(timestamp))
  )) {
    throw formatError("timestamp is not an integer");
  }
  if (timestamp <= 0) throw formatError("timestamp is not positive");

  const pcrMap = fields.get("pcrs");
  if (!(pcrMap instanceof Map) || pcrMap.size === 0) throw formatError("pcrs is not a non-empty map");
  const pcrs = new Map<number, Uint8Array>();
  for (const [index, value] of pcrMap) {
    if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index > 31) {
      throw formatError(`pcrs has an invalid index ${String(index)}`);
    }
    const pcr = bytesOf(value, `PCR${index}`);
    if (pcr.length !== PCR_LENGTH) {
      throw formatError(`PCR${index} is ${pcr.length} bytes, expected ${PCR_LENGTH}`);
    }
    pcrs.set(index, pcr);
  }
  if (!pcrs.has(0)) throw formatError("pcrs has no PCR0");

  const bundle = fields.get("cabundle");
  if (!Array.isArray(bundle) || bundle.length === 0) throw formatError("cabundle is not a non-empty array");

  return {
    moduleId: textOf(fields.get("module_id"), "module_id"),
    digest,
    timestampMs: BigInt(timestamp),
    pcrs,
    certificate: bytesOf(fields.get("certificate"), "certificate"),
    cabundle: bundle.map((cert, i) => bytesOf(cert, `cabundle[${i}]`)),
    publicKey: optionalBytes(fields.get("public_key"), "public_key"),
    userData: optionalBytes(fields.get("user_data"), "user_data"),
    nonce: optionalBytes(fields.get("nonce"), "nonce"),
  };
}

/** CBOR head (major type + length) for lengths below 2^32. */
function cborHead(major: number, length: number): Uint8Array {
  const m = major << 5;
  if (length < 24) return Uint8Array.of(m | length);
  if (length < 0x100) return Uint8Array.of(m | 24, length);
  if (length < 0x10000) return Uint8Array.of(m | 25, length >> 8, length & 0xff);
  return Uint8Array.of(m | 26, length >>> 24, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff);
}

/**
 * The COSE Sig_structure `["Signature1", protected, h'', payload]` (RFC 9052 §4.4), built by
 * hand so that the byte strings are encoded exactly as signed.
 */
export function sigStructure(protectedHeader: Uint8Array, payload: Uint8Array): Uint8Array {
  const context = new TextEncoder().encode("Signature1");
  return Buffer.concat([
    cborHead(4, 4),
    cborHead(3, context.length),
    context,
    cborHead(2, protectedHeader.length),
    protectedHeader,
    cborHead(2, 0),
    cborHead(2, payload.length),
    payload,
  ]);
}

function normalizeHex(hex: string): string {
  return hex.replace(/^0x/i, "").replace(/:/g, "").toLowerCase();
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

function certificateOf(der: Uint8Array, name: string): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch (e) {
    throw new AttestationError(
      "chain",
      `${name} is not a valid X.509 certificate`,
      "the document was altered or truncated",
      { cause: e },
    );
  }
}

/**
 * Verify a parsed document against `policy`: the pinned root, the certificate chain at
 * the document's own time, the COSE signature, then debug mode, PCRs, nonce and age.
 * The decoded fields are re-read from the signed payload; the returned `document` holds
 * them. Throws an AttestationError whose `reason` names the first failed check.
 */
export function verifyAttestation(
  parsed: AttestationDocument,
  policy: AttestationPolicy,
): VerifiedAttestation {
  // Trust only what is signed: re-derive every field from the payload bytes, so an edited
  // field of `parsed` cannot slip past the signature check.
  checkProtectedHeader(parsed.protectedHeader);
  const doc: AttestationDocument = {
    ...decodePayload(parsed.payload),
    protectedHeader: parsed.protectedHeader,
    payload: parsed.payload,
    signature: parsed.signature,
  };

  const rootSha256 = createHash("sha256").update(doc.cabundle[0]!).digest("hex");
  if (rootSha256 !== normalizeHex(policy.rootSha256)) {
    throw new AttestationError(
      "root",
      `the document's root certificate has SHA-256 ${rootSha256}, not the pinned root`,
      "pin AWS_NITRO_ROOT_SHA256, or check that the document comes from AWS Nitro Enclaves",
    );
  }

  // Root first, leaf last: every certificate must be issued and signed by the one before it.
  const names = [...doc.cabundle.map((_, i) => `cabundle[${i}]`), "leaf certificate"];
  const chain = [...doc.cabundle, doc.certificate].map((der, i) => certificateOf(der, names[i]!));
  for (let i = 1; i < chain.length; i++) {
    const issuer = chain[i - 1]!;
    const cert = chain[i]!;
    if (!issuer.ca || !cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) {
      throw new AttestationError(
        "chain",
        `${names[i]} is not signed by ${names[i - 1]}`,
        "the certificate chain was altered; do not trust this document",
      );
    }
  }

  const at = new Date(Number(doc.timestampMs));
  chain.forEach((cert, i) => {
    if (at < cert.validFromDate || at > cert.validToDate) {
      throw new AttestationError(
        "validity",
        `${names[i]} is not valid at the document's time ${at.toISOString()} ` +
          `(valid ${cert.validFromDate.toISOString()} to ${cert.validToDate.toISOString()})`,
        "the timestamp or the chain was altered; do not trust this document",
      );
    }
  });

  const leaf = chain[chain.length - 1]!;
  const signed = cryptoVerify(
    "sha384",
    sigStructure(doc.protectedHeader, doc.payload),
    { key: leaf.publicKey, dsaEncoding: "ieee-p1363" },
    doc.signature,
  );
  if (!signed) {
    throw new AttestationError(
      "signature",
      "the COSE signature does not verify with the leaf certificate's key",
      "the payload or the signature was altered; do not trust this document",
    );
  }

  const debug = doc.pcrs.get(0)!.every((b) => b === 0);
  if (debug && !policy.allowDebug) {
    throw new AttestationError(
      "debug",
      "the enclave ran in debug mode (PCR0 is all zero)",
      "debug enclaves expose their memory; set allowDebug only for development",
    );
  }

  for (const [key, allowed] of Object.entries(policy.allowedPcrs ?? {})) {
    const index = Number(key);
    const pcr = doc.pcrs.get(index);
    const actual = pcr === undefined ? undefined : toHex(pcr);
    if (actual === undefined || !allowed.some((hex) => normalizeHex(hex) === actual)) {
      throw new AttestationError(
        "pcr",
        `PCR${index} is ${actual ?? "missing"}, not one of the ${allowed.length} allowed values`,
        "the enclave runs an image you did not allow; add its PCR to allowedPcrs if you trust it",
      );
    }
  }

  if (policy.expectedNonce !== undefined) {
    if (doc.nonce === undefined || !Buffer.from(doc.nonce).equals(Buffer.from(policy.expectedNonce))) {
      throw new AttestationError(
        "nonce",
        `the document's nonce is ${doc.nonce ? toHex(doc.nonce) : "missing"}, ` +
          `expected ${toHex(policy.expectedNonce)}`,
        "request a fresh attestation with your nonce; this one may be a replay",
      );
    }
  }

  if (policy.maxAgeMs !== undefined) {
    const now = policy.now ?? BigInt(Date.now());
    const age = now - doc.timestampMs;
    if (age > BigInt(policy.maxAgeMs)) {
      throw new AttestationError(
        "stale",
        `the document is ${age} ms old, more than the allowed ${policy.maxAgeMs} ms`,
        "request a fresh attestation",
      );
    }
  }

  return { document: doc, debug, leafSubject: leaf.subject.replace(/\n/g, ", ") };
}
