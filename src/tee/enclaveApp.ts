import { createHash } from "node:crypto";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { dirname, extname, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { type HDNodeWallet, Wallet, getBytes } from "ethers";

import { SibylError } from "../errors.js";
import { canonicalModelJson } from "../model/quantize.js";
import { type QuantizedModel, runQuantized } from "../runtime/fixed.js";
import { inputWords, outputWords, signTeeAnswer, wordsHash } from "./answer.js";
import { EnclaveError, type TeeAnswer, type TeeAnswerRequest } from "./enclave.js";
import { LocalEnclave, PCR_COUNT, PCR_LENGTH } from "./localEnclave.js";

/**
 * The program that runs INSIDE a local enclave process (`LocalEnclaveProcess` forks this file
 * with an IPC channel). It stands where, on Nitro hardware, the enclave image would: it holds
 * the answer key (a secp256k1 key made here with `Wallet.createRandom()` that never leaves
 * this process), reports PCRs measured the way Nitro measures an image, asks its document
 * signer for attestation documents binding the answer key, and runs the model with the
 * fixed-point runtime to answer requests, signing each answer.
 *
 * NOT hardware-backed: the host's owner can read this process's memory, and the documents
 * are signed under the development root (`./devCa.ts`), not the AWS Nitro root.
 *
 * PCRs, as Nitro defines them (SHA-384 each; all zero in debug mode, as Nitro reports):
 * - PCR0, the enclave image: SHA-384 over the program's own source files — this file and
 *   every project module it imports, followed transitively (third-party packages such as
 *   ethers are not measured) — and the model's canonical JSON (`enclavePcrs` spells out the
 *   exact bytes). Running from TypeScript sources and from compiled `dist/` gives different
 *   PCR0s, as two builds of an image do.
 * - PCR1, on Nitro the Linux kernel and bootstrap: a local process has no enclave kernel (it
 *   runs on the host's), so PCR1 is SHA-384 of the fixed label `PCR1_LABEL`.
 * - PCR2, the application: SHA-384 of the model's canonical JSON (`canonicalModelJson`).
 *   For a private-weights model the canonical JSON leaves the weights out (the registered
 *   weight commitment binds them), so PCR0 and PCR2 do not measure them either.
 */

/** What PCR1 measures: the absent enclave kernel. */
export const PCR1_LABEL = "sibyl/local-enclave-process/pcr1: no enclave kernel (a host OS process)";

/** Prefix of the bytes PCR0 hashes, naming this measurement scheme. */
const PCR0_DOMAIN = "sibyl/local-enclave-process/pcr0/v1\n";

/** This program's own file: `.ts` when run from sources (under tsx), `.js` from `dist/`. */
export const ENCLAVE_APP_FILE = fileURLToPath(import.meta.url);

/** The host's messages. */
export type HostMessage =
  | {
      type: "init";
      ca: { rootDer: Uint8Array; keyPkcs8: Uint8Array };
      /** the model, structured-cloned (bigints intact) */
      model: QuantizedModel;
      options: { debug: boolean; moduleId: string; intermediates: number };
    }
  | { type: "call"; id: number; method: "attest"; params: { nonce: Uint8Array; userData?: Uint8Array } }
  | { type: "call"; id: number; method: "answer"; params: TeeAnswerRequest }
  | { type: "close" };

/** An error as it crosses the process boundary. */
export interface RemoteError {
  name: string;
  message: string;
  hint?: string;
}

/** The enclave's messages. */
export type EnclaveMessage =
  | {
      type: "ready";
      answerKey: string;
      /** uncompressed secp256k1 public key of the answer key, 65 bytes */
      publicKey: Uint8Array;
      pcrs: Uint8Array[];
      rootDer: Uint8Array;
      /** the measured files, relative to this file's folder */
      image: string[];
    }
  | { type: "failed"; error: RemoteError }
  | { type: "result"; id: number; ok: true; value: Uint8Array | TeeAnswer }
  | { type: "result"; id: number; ok: false; error: RemoteError };

/**
 * The project source files the enclave program runs: `entry` and, transitively, every
 * relative module it imports at run time (`import type` is erased and not followed). Sorted
 * absolute paths. Modules are resolved as the program runs them: `./x.js` is `./x.ts` when
 * running from TypeScript sources.
 */
export function enclaveImageFiles(entry: string = ENCLAVE_APP_FILE): string[] {
  const typescript = extname(entry) === ".ts";
  const seen = new Set<string>();
  const pending = [resolve(entry)];
  // static imports and re-exports of relative modules, at the start of a line
  const pattern =
    /^[ \t]*(?:(?:import|export)(?![ \t]+type\b)[^;"'`]*?\bfrom[ \t]*|import[ \t]*)["'](\.{1,2}\/[^"']+)["']/gm;
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, "utf8");
    for (const [, specifier] of source.matchAll(pattern)) {
      let target = resolve(dirname(file), specifier!);
      if (typescript && target.endsWith(".js") && !existsSync(target)) target = target.slice(0, -3) + ".ts";
      if (!existsSync(target))
        throw new EnclaveError(
          `the enclave program imports ${specifier} from ${file}, which does not exist`,
          "rebuild the package (the enclave image is incomplete)",
        );
      pending.push(target);
    }
  }
  return [...seen].sort();
}

/**
 * The 16 PCRs of a local enclave process running `model` (all zero when `debug`).
 *
 *   PCR0 = SHA-384( "sibyl/local-enclave-process/pcr0/v1\n"
 *                   ‖ for each image file, sorted: "file <path relative to this folder> <byte length>\n" ‖ bytes
 *                   ‖ "model <byte length>\n" ‖ canonical JSON )
 *   PCR1 = SHA-384(PCR1_LABEL)
 *   PCR2 = SHA-384(canonical JSON)
 *   PCR3..15 = zero
 */
export function enclavePcrs(
  model: QuantizedModel,
  opts: { debug?: boolean; entry?: string } = {},
): Uint8Array[] {
  const pcrs = Array.from({ length: PCR_COUNT }, () => new Uint8Array(PCR_LENGTH));
  if (opts.debug) return pcrs;
  const entry = opts.entry ?? ENCLAVE_APP_FILE;
  const json = Buffer.from(canonicalModelJson(model), "utf8");
  const image = createHash("sha384").update(PCR0_DOMAIN);
  for (const file of enclaveImageFiles(entry)) {
    const bytes = readFileSync(file);
    image.update(`file ${relativeName(entry, file)} ${bytes.length}\n`).update(bytes);
  }
  image.update(`model ${json.length}\n`).update(json);
  pcrs[0] = new Uint8Array(image.digest());
  pcrs[1] = new Uint8Array(createHash("sha384").update(PCR1_LABEL).digest());
  pcrs[2] = new Uint8Array(createHash("sha384").update(json).digest());
  return pcrs;
}

function relativeName(entry: string, file: string): string {
  return relative(dirname(resolve(entry)), file)
    .split(sep)
    .join("/");
}

/** The enclave's state once initialized. */
interface Running {
  model: QuantizedModel;
  wallet: HDNodeWallet;
  publicKey: Uint8Array;
  documents: LocalEnclave;
}

async function initialize(message: Extract<HostMessage, { type: "init" }>): Promise<Running> {
  const { model, options, ca } = message;
  const pcrs = enclavePcrs(model, { debug: options.debug });
  // the answer key: made here, and only its public half ever leaves the process
  const wallet = Wallet.createRandom();
  const publicKey = getBytes(wallet.signingKey.publicKey);
  const documents = await LocalEnclave.create({
    root: { rootDer: ca.rootDer, keyPkcs8: ca.keyPkcs8 },
    intermediates: options.intermediates,
    moduleId: options.moduleId,
    ...(options.debug ? { debug: true } : { pcrs: { 0: pcrs[0], 1: pcrs[1], 2: pcrs[2] } }),
  });
  return { model, wallet, publicKey, documents };
}

async function attest(state: Running, params: { nonce?: unknown; userData?: unknown }): Promise<Uint8Array> {
  if (!(params?.nonce instanceof Uint8Array))
    throw new EnclaveError("attest: nonce is missing or not bytes", "pass a fresh nonce as a Uint8Array");
  return state.documents.attest({
    nonce: params.nonce,
    publicKey: state.publicKey,
    ...(params.userData === undefined ? {} : { userData: params.userData as Uint8Array }),
  });
}

function answer(state: Running, request: TeeAnswerRequest): TeeAnswer {
  if (request === null || typeof request !== "object" || !Array.isArray(request.input))
    throw new EnclaveError(
      "answer: the request has no input array",
      "pass { chainId, precompile, requestId, modelId, input }",
    );
  const output = runQuantized(state.model, request.input).output;
  const inputHash = wordsHash(inputWords(state.model, request.input, request.weightCommitment));
  const outputHash = wordsHash(outputWords(state.model, output));
  const attestedAt =
    request.attestedAt === undefined ? BigInt(Math.floor(Date.now() / 1000)) : request.attestedAt;
  const signature = signTeeAnswer(state.wallet.signingKey, {
    chainId: request.chainId,
    precompile: request.precompile,
    requestId: request.requestId,
    modelId: request.modelId,
    inputHash,
    outputHash,
    attestedAt,
  });
  return { output, attestedAt: BigInt(attestedAt), inputHash, outputHash, signature };
}

/** An error as the host gets it: SibylErrors keep their message and hint apart. */
function remoteError(e: unknown): RemoteError {
  if (e instanceof SibylError) {
    const suffix = e.hint ? `\n  → ${e.hint}` : "";
    const message = suffix && e.message.endsWith(suffix) ? e.message.slice(0, -suffix.length) : e.message;
    return { name: e.name, message, ...(e.hint ? { hint: e.hint } : {}) };
  }
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: "Error", message: String(e) };
}

/** Serves the host over IPC until it closes the channel or asks to close. */
function serve(): void {
  const send = (message: EnclaveMessage) => process.send!(message);
  let state: Promise<Running> | undefined;

  process.on("disconnect", () => process.exit(0)); // the host is gone: so is the enclave
  process.on("message", (message: HostMessage) => {
    switch (message.type) {
      case "init":
        if (state) return;
        state = initialize(message);
        state.then(
          (s) =>
            send({
              type: "ready",
              answerKey: s.wallet.address,
              publicKey: s.publicKey,
              pcrs: [...s.documents.pcrs],
              rootDer: s.documents.rootDer,
              image: enclaveImageFiles().map((f) => relativeName(ENCLAVE_APP_FILE, f)),
            }),
          (e: unknown) => {
            send({ type: "failed", error: remoteError(e) });
            process.disconnect();
          },
        );
        return;
      case "call": {
        const { id } = message;
        if (!state) {
          send({
            type: "result",
            id,
            ok: false,
            error: remoteError(new EnclaveError("the enclave is not initialized")),
          });
          return;
        }
        state
          .then<Uint8Array | TeeAnswer>((s) =>
            message.method === "attest" ? attest(s, message.params) : answer(s, message.params),
          )
          .then(
            (value) => send({ type: "result", id, ok: true, value }),
            (e: unknown) => send({ type: "result", id, ok: false, error: remoteError(e) }),
          );
        return;
      }
      case "close":
        process.disconnect();
        process.exit(0);
    }
  });
}

/** Whether this module is the process's entry (forked), not merely imported. */
function isEntry(): boolean {
  const argv1 = process.argv[1];
  if (argv1 === undefined || !existsSync(argv1)) return false;
  return realpathSync(argv1) === realpathSync(ENCLAVE_APP_FILE);
}

if (process.send !== undefined && isEntry()) serve();
