import { KeyObject, createHash, sign, webcrypto } from "node:crypto";
import "reflect-metadata"; // before @peculiar/x509: its tsyringe needs the Reflect metadata API
import * as x509 from "@peculiar/x509";
import { encode } from "cbor2";
import { EnclaveError, NSM_LIMITS } from "./enclave.js";

/**
 * Attestation documents in the exact AWS Nitro Enclaves format, signed by a P-384
 * certificate chain generated here — NOT by the AWS Nitro root, and NOT backed by hardware.
 *
 * The building blocks (`createRootCertificate`, `importRootCertificate`, `issueCertificate`,
 * `CertificateChain`, `buildAttestationDocument`) are shared by `LocalEnclave` (in-process,
 * for format tests) and by the local enclave process (`./enclaveApp.ts`), which issues its
 * chain under the project's development root (`./devCa.ts`).
 */

/** Number of PCRs in a Nitro attestation document, and the length of each (SHA-384). */
export const PCR_COUNT = 16;
export const PCR_LENGTH = 48;

/** COSE protected header `{1: -35}`: alg = ES384. */
const PROTECTED_HEADER = encode(new Map([[1, -35]]));

const ECDSA_P384: EcKeyGenParams = { name: "ECDSA", namedCurve: "P-384" };
const ECDSA_SHA384: EcdsaParams = { name: "ECDSA", hash: "SHA-384" };

/** Node's WebCrypto, typed as the DOM `Crypto` that @peculiar/x509 expects (same object). */
const provider = webcrypto as unknown as Crypto;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Nitro leaf certificates live about three hours; ours are reissued when they run out. */
export const LEAF_LIFETIME = 3 * HOUR;
/**
 * Lifetimes of the intermediates, as AWS issues them: regional ~20 days, zonal ~6 days,
 * instance ~1 day. An intermediate is reissued (with everything below it) once less than a
 * leaf's lifetime is left.
 */
const REGIONAL_LIFETIME = 20 * DAY;
const ZONAL_LIFETIME = 6 * DAY;
const INSTANCE_LIFETIME = DAY;
/** Backdating of every notBefore, so a document is never older than its certificate. */
const SKEW = 5 * 60_000;
/** The most intermediates a chain may have (AWS uses 3). */
export const MAX_INTERMEDIATES = 8;

/** The organisation in every subject: says plainly what these certificates are. */
const ORG = "OU=NOT hardware-backed, O=Sibyl local enclave";

/** A certificate and the key pair it certifies: a CA that can issue, or a leaf that can sign. */
export interface CertificateSigner {
  der: Uint8Array<ArrayBuffer>;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** validity, ms since the epoch */
  notBefore: number;
  notAfter: number;
}

/**
 * A fresh self-signed P-384 root CA (basicConstraints CA without a path length, keyUsage
 * digitalSignature | keyCertSign | cRLSign, critical — as the AWS Nitro root). Its private key
 * is extractable only with `extractable` (the development CA stores it).
 */
export async function createRootCertificate(opts: {
  name: string;
  now: number;
  lifetimeMs: number;
  extractable?: boolean;
}): Promise<CertificateSigner> {
  const keys = await generateKeys(opts.extractable ?? false);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerial(),
      name: opts.name,
      notBefore: new Date(Math.ceil((opts.now - DAY) / 1000) * 1000),
      notAfter: new Date(Math.floor((opts.now + opts.lifetimeMs) / 1000) * 1000),
      keys,
      signingAlgorithm: ECDSA_SHA384,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, provider),
        new x509.KeyUsagesExtension(CA_USAGES, true),
      ],
    },
    provider,
  );
  return signerOf(cert, keys.privateKey, keys.publicKey);
}

/**
 * A root CA from its DER certificate and PKCS#8 private key (e.g. the development CA of
 * `./devCa.ts`). Throws an EnclaveError when either does not parse or they do not match.
 */
export async function importRootCertificate(
  der: Uint8Array,
  keyPkcs8: Uint8Array,
): Promise<CertificateSigner> {
  let cert: x509.X509Certificate;
  let privateKey: CryptoKey;
  let publicKey: CryptoKey;
  try {
    cert = new x509.X509Certificate(bytes(der));
    publicKey = await cert.publicKey.export(ECDSA_P384, ["verify"], provider);
    privateKey = await webcrypto.subtle.importKey("pkcs8", bytes(keyPkcs8), ECDSA_P384, false, ["sign"]);
  } catch (e) {
    throw new EnclaveError(
      `the root CA does not parse as a P-384 certificate and PKCS#8 key: ${(e as Error).message}`,
      "pass the rootDer and keyPkcs8 of loadOrCreateDevCa(dir)",
      { cause: e },
    );
  }
  // the key must be the certificate's: sign and verify a probe
  const probe = new TextEncoder().encode("sibyl root CA key check");
  const signature = await webcrypto.subtle.sign(ECDSA_SHA384, privateKey, probe);
  if (!(await webcrypto.subtle.verify(ECDSA_SHA384, publicKey, signature, probe)))
    throw new EnclaveError(
      "the root CA's private key does not match its certificate",
      "pass the rootDer and keyPkcs8 of the same loadOrCreateDevCa(dir) result",
    );
  return signerOf(cert, privateKey, publicKey);
}

/** keyUsage of the root, the regional and the zonal CA on Nitro (critical). */
const CA_USAGES =
  x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;

/** What kind of certificate `issueCertificate` makes, mirroring the AWS Nitro chain. */
export type CertificateRole =
  /** a CA below the root: basicConstraints CA with `pathLength`, keyUsage as AWS's */
  | { kind: "ca"; pathLength: number; usages: number }
  /** the document signer: basicConstraints not-CA (critical), digitalSignature | nonRepudiation */
  | { kind: "leaf" };

/**
 * A fresh P-384 key pair and a certificate for it, signed (ES384) by `issuer`. Validity is
 * rounded inward to whole seconds, and never outlasts the issuer's.
 */
export async function issueCertificate(
  issuer: CertificateSigner,
  cert: { name: string; notBefore: number; notAfter: number; role: CertificateRole },
): Promise<CertificateSigner> {
  const keys = await generateKeys(false);
  const issuerCert = new x509.X509Certificate(issuer.der);
  const extensions: x509.Extension[] =
    cert.role.kind === "ca"
      ? [
          new x509.BasicConstraintsExtension(true, cert.role.pathLength, true),
          await x509.AuthorityKeyIdentifierExtension.create(issuer.publicKey, false, provider),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, provider),
          new x509.KeyUsagesExtension(cert.role.usages, true),
        ]
      : [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(
            x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation,
            false,
          ),
        ];
  const generated = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: cert.name,
      issuer: issuerCert.subjectName,
      // X.509 times have whole seconds: round inward so the stored window is the one we keep
      notBefore: new Date(Math.ceil(Math.max(cert.notBefore, issuer.notBefore) / 1000) * 1000),
      notAfter: new Date(Math.floor(Math.min(cert.notAfter, issuer.notAfter) / 1000) * 1000),
      publicKey: keys.publicKey,
      signingKey: issuer.privateKey,
      signingAlgorithm: ECDSA_SHA384,
      extensions,
    },
    provider,
  );
  return signerOf(generated, keys.privateKey, keys.publicKey);
}

/**
 * A certificate chain shaped like AWS's: root → `intermediates` CAs → a ~3-hour leaf. With
 * three intermediates they are the regional, zonal and instance CAs (pathLength 2, 1, 0;
 * the instance CA may only sign certificates, as on Nitro). Expired parts are reissued on
 * demand by `at(now)`. Nitro's CRL distribution points are left out: nothing revokes here.
 */
export class CertificateChain {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly root: CertificateSigner,
    private readonly levels: CertificateSigner[],
    private leaf: CertificateSigner,
    private readonly moduleId: string,
  ) {}

  /** Issues `intermediates` CAs and a leaf under `root`, valid from `now`. */
  static async issue(
    root: CertificateSigner,
    opts: { intermediates: number; moduleId: string; now: number },
  ): Promise<CertificateChain> {
    const n = opts.intermediates;
    if (!Number.isInteger(n) || n < 1 || n > MAX_INTERMEDIATES)
      throw new EnclaveError(
        `a chain with ${n} intermediates was asked for`,
        `use 1 to ${MAX_INTERMEDIATES} intermediates (AWS Nitro uses 3)`,
      );
    checkModuleId(opts.moduleId);
    checkRoot(root, opts.now);
    const levels: CertificateSigner[] = [];
    for (let i = 0; i < n; i++) levels.push(await issueLevel(levels[i - 1] ?? root, i, n, opts.now));
    const leaf = await issueLeaf(levels[n - 1]!, opts.moduleId, opts.now);
    return new CertificateChain(root, levels, leaf, opts.moduleId);
  }

  /** DER certificates of the root and the intermediates, root first (the document's `cabundle`). */
  get cabundle(): Uint8Array[] {
    return [this.root.der, ...this.levels.map((l) => l.der)];
  }

  /**
   * The leaf and bundle valid at `now` (ms): an intermediate with less than a leaf's lifetime
   * left is reissued with everything below it, an expired leaf is reissued. Calls are
   * serialized, so concurrent attestations never race to reissue.
   */
  at(now: number): Promise<{ leaf: CertificateSigner; cabundle: Uint8Array[] }> {
    const result = this.queue.then(() => this.refresh(now));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async refresh(now: number): Promise<{ leaf: CertificateSigner; cabundle: Uint8Array[] }> {
    checkRoot(this.root, now);
    const n = this.levels.length;
    let from = this.levels.findIndex((l) => now < l.notBefore || now > l.notAfter - LEAF_LIFETIME);
    if (from < 0 && (now < this.leaf.notBefore || now > this.leaf.notAfter)) from = n;
    if (from >= 0) {
      for (let i = from; i < n; i++)
        this.levels[i] = await issueLevel(this.levels[i - 1] ?? this.root, i, n, now);
      this.leaf = await issueLeaf(this.levels[n - 1]!, this.moduleId, now);
    }
    return { leaf: this.leaf, cabundle: this.cabundle };
  }
}

/** Intermediate `i` of `n`: the last is the instance CA, the one above it zonal, the rest regional. */
function issueLevel(
  issuer: CertificateSigner,
  i: number,
  n: number,
  now: number,
): Promise<CertificateSigner> {
  const fromBottom = n - 1 - i;
  const id = Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString("hex");
  const [name, lifetime, usages] =
    fromBottom === 0
      ? [`CN=i-${id}.local.sibyl-enclaves`, INSTANCE_LIFETIME, x509.KeyUsageFlags.keyCertSign]
      : fromBottom === 1
        ? [`CN=${id}.zonal.local.sibyl-enclaves`, ZONAL_LIFETIME, CA_USAGES]
        : [`CN=${id}.local.sibyl-enclaves`, REGIONAL_LIFETIME, CA_USAGES];
  return issueCertificate(issuer, {
    name: `${name}, ${ORG}`,
    notBefore: now - SKEW,
    notAfter: now + lifetime,
    role: { kind: "ca", pathLength: fromBottom, usages },
  });
}

function issueLeaf(issuer: CertificateSigner, moduleId: string, now: number): Promise<CertificateSigner> {
  return issueCertificate(issuer, {
    name: `CN=${moduleId}.local, ${ORG}`,
    notBefore: now - SKEW,
    notAfter: now + LEAF_LIFETIME,
    role: { kind: "leaf" },
  });
}

function checkRoot(root: CertificateSigner, now: number): void {
  if (now < root.notBefore || now > root.notAfter)
    throw new EnclaveError(
      `the root CA is not valid at ${new Date(now).toISOString()} ` +
        `(valid ${new Date(root.notBefore).toISOString()} to ${new Date(root.notAfter).toISOString()})`,
      "create a new development CA (delete its file) or check the clock",
    );
}

/** A module id as Nitro's (`i-…-enc…`): letters, digits, '.', '_' and '-'; it names the leaf. */
function checkModuleId(moduleId: string): void {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(moduleId))
    throw new EnclaveError(
      `module id ${JSON.stringify(moduleId)} is not usable`,
      "use 1 to 64 letters, digits, '.', '_' or '-' (Nitro's look like i-0123456789abcdef0-enc0123456789abcdef)",
    );
}

/** The fields of one attestation document. */
export interface DocumentFields {
  moduleId: string;
  /** ms since the epoch */
  timestamp: number;
  /** the PCRs, PCR0 first (Nitro reports 16) */
  pcrs: readonly Uint8Array[];
  /** the signer: its certificate is the document's `certificate` */
  leaf: CertificateSigner;
  /** root first, then the intermediates down to the leaf's issuer */
  cabundle: readonly Uint8Array[];
  publicKey?: Uint8Array;
  userData?: Uint8Array;
  nonce?: Uint8Array;
}

/** Refuses what the Nitro Security Module refuses: fields over `NSM_LIMITS`. */
export function checkAttestationRequest(opts: {
  nonce?: Uint8Array;
  publicKey?: Uint8Array;
  userData?: Uint8Array;
}): void {
  for (const field of ["nonce", "publicKey", "userData"] as const) {
    const value = opts[field];
    if (value === undefined) continue;
    if (!(value instanceof Uint8Array))
      throw new EnclaveError(`attestation request: ${field} is not bytes`, `pass ${field} as a Uint8Array`);
    if (value.length > NSM_LIMITS[field])
      throw new EnclaveError(
        `attestation request: ${field} is ${value.length} bytes`,
        `the Nitro Security Module accepts at most ${NSM_LIMITS[field]} bytes; hash it first`,
      );
  }
}

/**
 * The COSE_Sign1 attestation document, byte for byte as the NSM writes one: an untagged
 * array `[protected {1: -35}, {}, payload, ES384 signature]` whose payload is an
 * indefinite-length map with Nitro's keys in Nitro's order; absent optional fields are null.
 */
export function buildAttestationDocument(doc: DocumentFields): Uint8Array {
  checkAttestationRequest(doc);
  // Byte strings are copied into plain Uint8Arrays: cbor2 encodes a Node Buffer as an
  // object, not as a byte string.
  const optional = (value: Uint8Array | undefined) => (value === undefined ? null : bytes(value));
  const fields: [string, unknown][] = [
    ["module_id", doc.moduleId],
    ["digest", "SHA384"],
    ["timestamp", doc.timestamp],
    ["pcrs", new Map(doc.pcrs.map((value, index) => [index, bytes(value)]))],
    ["certificate", bytes(doc.leaf.der)],
    ["cabundle", doc.cabundle.map(bytes)],
    ["public_key", optional(doc.publicKey)],
    ["user_data", optional(doc.userData)],
    ["nonce", optional(doc.nonce)],
  ];
  const payload = Buffer.concat([
    Uint8Array.of(0xbf),
    ...fields.flatMap(([key, value]) => [encode(key), encode(value)]),
    Uint8Array.of(0xff),
  ]);
  const sigStructure = encode(["Signature1", PROTECTED_HEADER, new Uint8Array(0), bytes(payload)]);
  const signature = sign("sha384", sigStructure, {
    key: KeyObject.from(doc.leaf.privateKey),
    dsaEncoding: "ieee-p1363",
  });
  return encode([PROTECTED_HEADER, new Map(), bytes(payload), bytes(signature)]);
}

export interface LocalEnclaveOptions {
  /** PCR values by index (0..15, 48 bytes each); unset PCR0..2 get label-derived defaults. */
  pcrs?: Partial<Record<number, Uint8Array>>;
  /** A debug-mode enclave: every PCR is zero, as Nitro reports for `--debug-mode`. */
  debug?: boolean;
  /** The document's `module_id`. */
  moduleId?: string;
  /** Milliseconds since the epoch, for `timestamp` and certificate validity. */
  clock?: () => number;
  /**
   * The root CA to issue under (DER certificate + PKCS#8 key, e.g. the development CA of
   * `loadOrCreateDevCa`); a fresh throwaway root when absent.
   */
  root?: { rootDer: Uint8Array; keyPkcs8: Uint8Array };
  /** Intermediates between the root and the leaf: 1 by default, 3 mirrors AWS. */
  intermediates?: number;
}

/**
 * A Nitro-format document signer that runs in this process, NOT backed by hardware: it emits
 * attestation documents in the exact AWS Nitro format, signed by a P-384 chain (root →
 * intermediates → leaf) under its own or a given root. Pin `rootSha256` to accept its
 * documents; never accept them where a real Nitro document is expected.
 *
 * It binds whatever `publicKey` it is asked to, so it is not an `Enclave` by itself: the
 * local enclave process (`LocalEnclaveProcess`) uses it with the answer key it keeps.
 */
export class LocalEnclave {
  private constructor(
    /** DER of the root certificate (first entry of `cabundle`). */
    readonly rootDer: Uint8Array,
    /** SHA-256 of `rootDer`, lowercase hex: the value a verifier pins (`rootSha256`). */
    readonly rootSha256: string,
    private readonly chain: CertificateChain,
    /** The 16 PCRs every document reports. */
    readonly pcrs: readonly Uint8Array[],
    readonly moduleId: string,
    readonly debug: boolean,
    private readonly clock: () => number,
  ) {}

  /** Generates (or imports) the root, issues the chain and fixes the PCRs. */
  static async create(opts: LocalEnclaveOptions = {}): Promise<LocalEnclave> {
    const clock = opts.clock ?? Date.now;
    const debug = opts.debug ?? false;
    const pcrs = pcrValues(opts.pcrs, debug);
    const moduleId = opts.moduleId ?? "sibyl-local-enclave";
    const now = clock();

    const root = opts.root
      ? await importRootCertificate(opts.root.rootDer, opts.root.keyPkcs8)
      : await createRootCertificate({
          name: `CN=sibyl.local-enclave.root, ${ORG}`,
          now,
          lifetimeMs: 30 * 365 * DAY,
        });
    const chain = await CertificateChain.issue(root, {
      intermediates: opts.intermediates ?? 1,
      moduleId,
      now,
    });
    const rootSha256 = createHash("sha256").update(root.der).digest("hex");
    return new LocalEnclave(root.der, rootSha256, chain, pcrs, moduleId, debug, clock);
  }

  /** A document binding `publicKey`, `nonce` and `userData` (each within `NSM_LIMITS`). */
  async attest(opts: {
    nonce: Uint8Array;
    publicKey: Uint8Array;
    userData?: Uint8Array;
  }): Promise<Uint8Array> {
    checkAttestationRequest(opts);
    const timestamp = Math.floor(this.clock());
    const { leaf, cabundle } = await this.chain.at(timestamp);
    return buildAttestationDocument({
      moduleId: this.moduleId,
      timestamp,
      pcrs: this.pcrs,
      leaf,
      cabundle,
      publicKey: opts.publicKey,
      userData: opts.userData,
      nonce: opts.nonce,
    });
  }

  describe(): string {
    const pcr0 = Buffer.from(this.pcrs[0]!).toString("hex").slice(0, 16);
    const mode = this.debug ? ", debug mode" : "";
    return `local enclave (NOT hardware-backed): module ${this.moduleId}, PCR0 ${pcr0}…${mode}`;
  }
}

/** The 16 PCRs: zeros in debug mode; otherwise PCR0..2 from a label unless given, the rest zero. */
function pcrValues(given: LocalEnclaveOptions["pcrs"], debug: boolean): Uint8Array[] {
  const entries = Object.entries(given ?? {}).filter(([, v]) => v !== undefined);
  if (debug && entries.length > 0) {
    throw new EnclaveError(
      "LocalEnclave: `debug` and `pcrs` were both given",
      "a debug-mode enclave reports all-zero PCRs; drop one of the two options",
    );
  }
  const pcrs = Array.from({ length: PCR_COUNT }, (_, i) =>
    !debug && i <= 2
      ? new Uint8Array(createHash("sha384").update(`sibyl/local-enclave/pcr${i}`).digest())
      : new Uint8Array(PCR_LENGTH),
  );
  for (const [key, value] of entries) {
    const index = Number(key);
    if (!Number.isInteger(index) || index < 0 || index >= PCR_COUNT) {
      throw new EnclaveError(`LocalEnclave: no PCR ${key}`, `PCR indices run from 0 to ${PCR_COUNT - 1}`);
    }
    if (value!.length !== PCR_LENGTH) {
      throw new EnclaveError(
        `LocalEnclave: PCR${index} is ${value!.length} bytes`,
        `a PCR is a SHA-384 digest of ${PCR_LENGTH} bytes`,
      );
    }
    pcrs[index] = bytes(value!);
  }
  return pcrs;
}

function signerOf(
  cert: x509.X509Certificate,
  privateKey: CryptoKey,
  publicKey: CryptoKey,
): CertificateSigner {
  return {
    der: new Uint8Array(cert.rawData),
    privateKey,
    publicKey,
    notBefore: cert.notBefore.getTime(),
    notAfter: cert.notAfter.getTime(),
  };
}

function generateKeys(extractable: boolean): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ECDSA_P384, extractable, ["sign", "verify"]) as Promise<CryptoKeyPair>;
}

/** A positive 16-byte serial number, in hex. */
function randomSerial(): string {
  const serial = webcrypto.getRandomValues(new Uint8Array(16));
  serial[0]! &= 0x7f;
  serial[0]! |= 0x01;
  return Buffer.from(serial).toString("hex");
}

/** A plain Uint8Array copy (never a Buffer, which cbor2 would not encode as a byte string). */
function bytes(value: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(value);
}
