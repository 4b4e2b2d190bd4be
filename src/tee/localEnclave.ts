import { KeyObject, createHash, sign, webcrypto } from "node:crypto";
import "reflect-metadata"; // before @peculiar/x509: its tsyringe needs the Reflect metadata API
import * as x509 from "@peculiar/x509";
import { encode } from "cbor2";
import { type Enclave, EnclaveError, NSM_LIMITS } from "./enclave.js";

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
/** Nitro leaf certificates live about three hours; this one is reissued when it runs out. */
const LEAF_LIFETIME = 3 * HOUR;
/** Backdating of every notBefore, so a document is never older than its certificate. */
const SKEW = 5 * 60_000;

export interface LocalEnclaveOptions {
  /** PCR values by index (0..15, 48 bytes each); unset PCR0..2 get label-derived defaults. */
  pcrs?: Partial<Record<number, Uint8Array>>;
  /** A debug-mode enclave: every PCR is zero, as Nitro reports for `--debug-mode`. */
  debug?: boolean;
  /** The document's `module_id`. */
  moduleId?: string;
  /** Milliseconds since the epoch, for `timestamp` and certificate validity. */
  clock?: () => number;
}

interface Signer {
  der: Uint8Array<ArrayBuffer>;
  keys: CryptoKeyPair;
  notBefore: number;
  notAfter: number;
}

/**
 * An `Enclave` that runs in this process, NOT backed by hardware: it emits attestation
 * documents in the exact AWS Nitro format, signed by a P-384 chain (root → intermediate →
 * leaf) it generates in `create`. Pin `rootSha256` to accept its documents; never accept
 * them where a real Nitro document is expected.
 */
export class LocalEnclave implements Enclave {
  private leaf: Promise<Signer>;

  private constructor(
    /** DER of the self-signed root certificate (first entry of `cabundle`). */
    readonly rootDer: Uint8Array,
    /** SHA-256 of `rootDer`, lowercase hex: the value a verifier pins (`rootSha256`). */
    readonly rootSha256: string,
    private readonly intermediate: Signer,
    leaf: Signer,
    /** The 16 PCRs every document reports. */
    readonly pcrs: readonly Uint8Array[],
    readonly moduleId: string,
    readonly debug: boolean,
    private readonly clock: () => number,
  ) {
    this.leaf = Promise.resolve(leaf);
  }

  /** Generates the certificate chain and fixes the PCRs. */
  static async create(opts: LocalEnclaveOptions = {}): Promise<LocalEnclave> {
    const clock = opts.clock ?? Date.now;
    const debug = opts.debug ?? false;
    const pcrs = pcrValues(opts.pcrs, debug);
    const moduleId = opts.moduleId ?? "sibyl-local-enclave";
    const now = clock();

    const rootKeys = await generateKeys();
    const rootCert = await x509.X509CertificateGenerator.createSelfSigned(
      {
        serialNumber: randomSerial(),
        name: "CN=sibyl.local-enclave.root, O=Sibyl (NOT hardware-backed)",
        notBefore: new Date(now - DAY),
        notAfter: new Date(now + 30 * 365 * DAY),
        keys: rootKeys,
        signingAlgorithm: ECDSA_SHA384,
        extensions: [
          new x509.BasicConstraintsExtension(true, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey, false, provider),
        ],
      },
      provider,
    );
    const root: Signer = {
      der: new Uint8Array(rootCert.rawData),
      keys: rootKeys,
      notBefore: rootCert.notBefore.getTime(),
      notAfter: rootCert.notAfter.getTime(),
    };
    const intermediate = await issue(root, {
      name: "CN=sibyl.local-enclave.intermediate, O=Sibyl (NOT hardware-backed)",
      notBefore: now - DAY,
      notAfter: now + 10 * 365 * DAY,
      ca: true,
    });
    const leaf = await issueLeaf(intermediate, moduleId, now);
    const rootSha256 = createHash("sha256").update(root.der).digest("hex");
    return new LocalEnclave(root.der, rootSha256, intermediate, leaf, pcrs, moduleId, debug, clock);
  }

  async attest(opts: {
    nonce: Uint8Array;
    publicKey: Uint8Array;
    userData?: Uint8Array;
  }): Promise<Uint8Array> {
    checkSize("nonce", opts.nonce, NSM_LIMITS.nonce);
    checkSize("publicKey", opts.publicKey, NSM_LIMITS.publicKey);
    if (opts.userData !== undefined) checkSize("userData", opts.userData, NSM_LIMITS.userData);

    const timestamp = Math.floor(this.clock());
    let leaf = await this.leaf;
    if (timestamp < leaf.notBefore || timestamp > leaf.notAfter) {
      this.leaf = issueLeaf(this.intermediate, this.moduleId, timestamp);
      leaf = await this.leaf;
    }

    // Key order and framing as the NSM writes them: an indefinite-length map (0xbf … 0xff).
    // Byte strings are copied into plain Uint8Arrays: cbor2 encodes a Node Buffer as an
    // object, not as a byte string.
    const fields: [string, unknown][] = [
      ["module_id", this.moduleId],
      ["digest", "SHA384"],
      ["timestamp", timestamp],
      ["pcrs", new Map(this.pcrs.map((value, index) => [index, bytes(value)]))],
      ["certificate", bytes(leaf.der)],
      ["cabundle", [bytes(this.rootDer), bytes(this.intermediate.der)]],
      ["public_key", bytes(opts.publicKey)],
      ["user_data", opts.userData === undefined ? null : bytes(opts.userData)],
      ["nonce", bytes(opts.nonce)],
    ];
    const payload = Buffer.concat([
      Uint8Array.of(0xbf),
      ...fields.flatMap(([key, value]) => [encode(key), encode(value)]),
      Uint8Array.of(0xff),
    ]);
    const sigStructure = encode(["Signature1", PROTECTED_HEADER, new Uint8Array(0), bytes(payload)]);
    const signature = sign("sha384", sigStructure, {
      key: KeyObject.from(leaf.keys.privateKey),
      dsaEncoding: "ieee-p1363",
    });
    return encode([PROTECTED_HEADER, new Map(), bytes(payload), bytes(signature)]);
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

function checkSize(field: string, value: Uint8Array, max: number): void {
  if (value.length > max) {
    throw new EnclaveError(
      `LocalEnclave: ${field} is ${value.length} bytes`,
      `the Nitro Security Module accepts at most ${max} bytes; hash it first`,
    );
  }
}

function issueLeaf(intermediate: Signer, moduleId: string, now: number): Promise<Signer> {
  return issue(intermediate, {
    name: `CN=${moduleId}, O=Sibyl (NOT hardware-backed)`,
    notBefore: now - SKEW,
    notAfter: now + LEAF_LIFETIME,
    ca: false,
  });
}

/** A fresh P-384 key pair and a certificate for it, signed by `issuer`. */
async function issue(
  issuer: Signer,
  cert: { name: string; notBefore: number; notAfter: number; ca: boolean },
): Promise<Signer> {
  const keys = await generateKeys();
  const issuerCert = new x509.X509Certificate(issuer.der);
  const usages = cert.ca
    ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign
    : x509.KeyUsageFlags.digitalSignature;
  const generated = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: cert.name,
      issuer: issuerCert.subjectName,
      // X.509 times have whole seconds: round inward so the stored window is the one we keep
      notBefore: new Date(Math.ceil(cert.notBefore / 1000) * 1000),
      notAfter: new Date(Math.floor(cert.notAfter / 1000) * 1000),
      publicKey: keys.publicKey,
      signingKey: issuer.keys.privateKey,
      signingAlgorithm: ECDSA_SHA384,
      extensions: [
        new x509.BasicConstraintsExtension(cert.ca, cert.ca ? 0 : undefined, true),
        new x509.KeyUsagesExtension(usages, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, provider),
        await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey, false, provider),
      ],
    },
    provider,
  );
  return {
    der: new Uint8Array(generated.rawData),
    keys,
    notBefore: generated.notBefore.getTime(),
    notAfter: generated.notAfter.getTime(),
  };
}

function generateKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ECDSA_P384, true, ["sign", "verify"]) as Promise<CryptoKeyPair>;
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
