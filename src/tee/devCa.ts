import { X509Certificate, createHash, createPrivateKey, createPublicKey, webcrypto } from "node:crypto";
import { existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { EnclaveError } from "./enclave.js";
import { createRootCertificate } from "./localEnclave.js";

/**
 * ============================================================================================
 *  INSECURE — DEVELOPMENT ONLY. The development root CA of local enclaves.
 * ============================================================================================
 *
 * Local enclave processes (`LocalEnclaveProcess`) sign their attestation documents with a
 * certificate chain under this root, where Nitro hardware would use the AWS Nitro Enclaves
 * root. Its PRIVATE KEY IS STORED IN PLAIN TEXT next to the certificate, and it is handed to
 * every local enclave process: anyone who can read the file can mint documents for any PCRs
 * and any answer key. A verifier or a contract that pins this root accepts forged
 * attestations — exactly like the insecure development powers-of-tau files, it is for tests
 * and local development only, and must never be pinned on a chain that holds value.
 *
 * It is created once per directory (a P-384 self-signed root, valid 30 years) and reused, so
 * the `rootSha256` a local deployment pins stays the same between runs. Delete the file to
 * start over (documents under the old root then stop verifying; re-pin the new one).
 */

/** The file name of the development CA inside its directory. */
export const DEV_CA_FILE = "dev-root.json";

/** What every development CA says about itself. */
export const DEV_CA_WARNING =
  "INSECURE development root CA for local enclave processes (NOT hardware-backed): its private key " +
  "is stored in plain text; anyone who reads it can forge attestations. Never pin it in production.";

const FORMAT = "sibyl-dev-ca/1";
const ROOT_NAME = "CN=sibyl.dev-enclaves.root, OU=INSECURE development root (NOT hardware-backed), O=Sibyl";
const ROOT_LIFETIME = 30 * 365 * 24 * 3_600_000;

/** The development root CA: its certificate, its private key, and where it is stored. */
export interface DevCa {
  /** DER of the self-signed root certificate */
  rootDer: Uint8Array;
  /** SHA-256 of `rootDer`, lowercase hex: what a verifier of local documents pins */
  rootSha256: string;
  /** the root's P-384 private key, PKCS#8 DER — in plain text, hence INSECURE */
  keyPkcs8: Uint8Array;
  /** the JSON file the CA is stored in */
  path: string;
  /** says that the CA is insecure and for development only (for logs) */
  describe: string;
}

/** The file as stored. */
interface StoredDevCa {
  format: typeof FORMAT;
  warning: string;
  createdAt: string;
  rootSha256: string;
  /** base64 DER */
  rootDer: string;
  /** base64 PKCS#8 DER */
  keyPkcs8: string;
}

/**
 * The development CA stored in `dir` (`<dir>/dev-root.json`), created on first use. Writing
 * is atomic and create-once: of two processes creating it at the same time, both end up
 * with the same CA. A corrupt file is refused (with the advice to delete it), never replaced.
 */
export async function loadOrCreateDevCa(dir: string): Promise<DevCa> {
  const path = join(dir, DEV_CA_FILE);
  if (existsSync(path)) return readDevCa(path);

  mkdirSync(dir, { recursive: true });
  const root = await createRootCertificate({
    name: ROOT_NAME,
    now: Date.now(),
    lifetimeMs: ROOT_LIFETIME,
    extractable: true,
  });
  const keyPkcs8 = new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", root.privateKey));
  const rootDer = root.der;
  const stored: StoredDevCa = {
    format: FORMAT,
    warning: DEV_CA_WARNING,
    createdAt: new Date().toISOString(),
    rootSha256: sha256(rootDer),
    rootDer: Buffer.from(rootDer).toString("base64"),
    keyPkcs8: Buffer.from(keyPkcs8).toString("base64"),
  };
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, JSON.stringify(stored, null, 1) + "\n", { mode: 0o600 });
  try {
    // a hard link creates the name only if it is free: a CA written meanwhile by another
    // process wins, and is the one everybody reads
    linkSync(tmp, path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return readDevCa(path);
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw e;
    renameSync(tmp, path); // a file system without hard links: atomic, last writer wins
    return readDevCa(path);
  } finally {
    rmSync(tmp, { force: true });
  }
  return readDevCa(path);
}

/** Reads and checks a stored development CA; a corrupt one is refused with what to do. */
export function readDevCa(path: string): DevCa {
  const corrupt = (why: string, cause?: unknown) =>
    new EnclaveError(
      `the development CA ${path} is corrupt: ${why}`,
      `delete ${path}; a new development CA is created on the next start ` +
        "(documents signed under the old one stop verifying: re-pin the new rootSha256)",
      cause === undefined ? undefined : { cause },
    );

  let stored: Partial<StoredDevCa>;
  try {
    stored = JSON.parse(readFileSync(path, "utf8")) as Partial<StoredDevCa>;
  } catch (e) {
    throw corrupt(`not readable JSON (${(e as Error).message})`, e);
  }
  if (stored === null || typeof stored !== "object" || stored.format !== FORMAT)
    throw corrupt(`its format is not "${FORMAT}"`);
  if (typeof stored.rootDer !== "string" || typeof stored.keyPkcs8 !== "string")
    throw corrupt("rootDer or keyPkcs8 is missing");

  const rootDer = new Uint8Array(Buffer.from(stored.rootDer, "base64"));
  const keyPkcs8 = new Uint8Array(Buffer.from(stored.keyPkcs8, "base64"));
  const rootSha256 = sha256(rootDer);
  if (stored.rootSha256 !== rootSha256) throw corrupt("rootSha256 does not match rootDer");

  let cert: X509Certificate;
  try {
    cert = new X509Certificate(rootDer);
  } catch (e) {
    throw corrupt("rootDer is not an X.509 certificate", e);
  }
  if (
    !cert.ca ||
    cert.publicKey.asymmetricKeyDetails?.namedCurve !== "secp384r1" ||
    !cert.verify(cert.publicKey)
  )
    throw corrupt("rootDer is not a self-signed P-384 CA certificate");
  try {
    const key = createPrivateKey({ key: Buffer.from(keyPkcs8), format: "der", type: "pkcs8" });
    const derived = createPublicKey(key).export({ format: "der", type: "spki" });
    if (!derived.equals(cert.publicKey.export({ format: "der", type: "spki" })))
      throw new Error("keyPkcs8 is not the root certificate's key");
  } catch (e) {
    throw corrupt((e as Error).message, e);
  }
  return {
    rootDer,
    rootSha256,
    keyPkcs8,
    path,
    describe: `${DEV_CA_WARNING} (root sha256 ${rootSha256}, ${path})`,
  };
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
