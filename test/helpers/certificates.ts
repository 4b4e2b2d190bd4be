import "reflect-metadata"; // before @peculiar/x509: its tsyringe needs the Reflect metadata API
import * as x509 from "@peculiar/x509";
import { webcrypto } from "node:crypto";

/** Node's WebCrypto, typed as the DOM `Crypto` that @peculiar/x509 expects (same object). */
const provider = webcrypto as unknown as Crypto;

/** A certificate made for a test, with the key pair that can issue under it. */
export interface Made {
  der: Uint8Array;
  keys: CryptoKeyPair;
}

let serial = 1;

/**
 * A certificate, self-signed unless `issuer` is given, ES384 over P-384 unless told. It is a CA
 * (basicConstraints cA, critical) unless `basic` says otherwise; `basic: null` leaves the
 * extension out.
 */
export async function makeCert(opts: {
  name: string;
  issuer?: Made;
  notBefore?: Date;
  notAfter?: Date;
  basic?: { ca: boolean; pathLength?: number } | null;
  extraExtensions?: x509.Extension[];
  curve?: "P-384" | "P-256";
  hash?: "SHA-384" | "SHA-256";
}): Promise<Made> {
  const keys = (await webcrypto.subtle.generateKey(
    { name: "ECDSA", namedCurve: opts.curve ?? "P-384" },
    true,
    ["sign", "verify"],
  )) as CryptoKeyPair;
  const basic = opts.basic === undefined ? { ca: true } : opts.basic;
  const extensions: x509.Extension[] = [
    ...(basic ? [new x509.BasicConstraintsExtension(basic.ca, basic.pathLength, true)] : []),
    ...(opts.extraExtensions ?? []),
  ];
  const common = {
    serialNumber: (serial++).toString(16).padStart(4, "0"),
    notBefore: opts.notBefore ?? new Date("2025-01-01T00:00:00Z"),
    notAfter: opts.notAfter ?? new Date("2045-01-01T00:00:00Z"),
    signingAlgorithm: { name: "ECDSA", hash: opts.hash ?? "SHA-384" },
    extensions,
  };
  const cert = opts.issuer
    ? await x509.X509CertificateGenerator.create(
        {
          ...common,
          subject: opts.name,
          issuer: new x509.X509Certificate(new Uint8Array(opts.issuer.der)).subjectName,
          publicKey: keys.publicKey,
          signingKey: opts.issuer.keys.privateKey,
        },
        provider,
      )
    : await x509.X509CertificateGenerator.createSelfSigned({ ...common, name: opts.name, keys }, provider);
  return { der: new Uint8Array(cert.rawData), keys };
}
