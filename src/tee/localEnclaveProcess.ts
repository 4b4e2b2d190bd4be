import { type ChildProcess, fork } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { computeAddress, hexlify } from "ethers";

import { type Logger, silentLogger } from "../log.js";
import type { QuantizedModel } from "../runtime/fixed.js";
import type { DevCa } from "./devCa.js";
import type { EnclaveMessage, HostMessage, RemoteError } from "./enclaveApp.js";
import {
  type Enclave,
  EnclaveError,
  type TeeAnswer,
  type TeeAnswerRequest,
  NSM_LIMITS,
  enclaveMeasurement,
} from "./enclave.js";

/**
 * The host side of a local enclave process: an `Enclave` whose model and answer key live in a
 * separate OS process (`./enclaveApp.ts`, forked with an IPC channel), NOT backed by
 * hardware. Its attestation documents have the exact Nitro format and chain to the project's
 * development root (`loadOrCreateDevCa`), which a verifier must pin to accept them.
 *
 * Calls carry ids and time out; if the process exits or crashes, every pending call is
 * rejected with an EnclaveError saying how it ended, and later calls are refused. A refused
 * request (bad input, an oversized nonce, …) comes back as an EnclaveError and the process
 * keeps serving.
 */

export interface LocalEnclaveProcessOptions {
  /** the development root CA the process issues its chain under (`loadOrCreateDevCa(dir)`) */
  ca: Pick<DevCa, "rootDer" | "keyPkcs8">;
  /** the model the enclave runs */
  model: QuantizedModel;
  /** a debug-mode enclave: every PCR reads zero, as Nitro reports for `--debug-mode` */
  debug?: boolean;
  /** the documents' `module_id`; a random Nitro-like id by default */
  moduleId?: string;
  /** intermediates between the root and the leaf (default 3, as AWS) */
  intermediates?: number;
  /** where the process's own output goes (stdout as info, stderr as warnings) */
  log?: Logger;
  /** how long a call may take, ms (default 30 s) */
  timeoutMs?: number;
  /** how long the process may take to start, ms (default 60 s: loading TypeScript sources is slow) */
  startTimeoutMs?: number;
}

/** How the enclave program is launched: the file next to this module, and Node's flags for it. */
export interface EnclaveLaunch {
  entry: string;
  execArgv: string[];
}

/**
 * The enclave program beside this module — `enclaveApp.ts` when running from TypeScript
 * sources (e.g. under Hardhat's test runner, which loads .ts through tsx registered
 * in-process, so a child needs tsx's loader passed explicitly with `--import`), or
 * `enclaveApp.js` from compiled `dist/` (plain Node, no loader).
 */
export function enclaveLaunch(moduleUrl: string = import.meta.url): EnclaveLaunch {
  const here = fileURLToPath(moduleUrl);
  const ext = extname(here);
  const entry = join(dirname(here), `enclaveApp${ext}`);
  if (!existsSync(entry))
    throw new EnclaveError(
      `the local enclave program ${entry} is missing`,
      "reinstall the package (or rebuild dist/ with tsc -p tsconfig.build.json)",
    );
  if (ext !== ".ts") return { entry, execArgv: ["--enable-source-maps"] };
  let tsx: string;
  try {
    tsx = import.meta.resolve("tsx/esm");
  } catch (e) {
    throw new EnclaveError(
      "running the local enclave from TypeScript sources needs tsx, which is not installed",
      "install tsx (a dev dependency of Hardhat projects), or run from the compiled dist/",
      { cause: e },
    );
  }
  return { entry, execArgv: ["--enable-source-maps", "--import", tsx] };
}

interface Pending {
  method: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** What to do about a refused call, when the enclave's error says nothing more. */
const REQUEST_HINTS = {
  answer:
    "pass the model's fixed-point input (bigints, as quantizeInput makes), bytes32 requestId and modelId, " +
    "the precompile's address and, if given, attestedAt as uint64 unix seconds",
  attest: `pass a nonce and optional userData as Uint8Arrays of at most ${NSM_LIMITS.nonce} bytes`,
} as const;

/** Lines of the process's stderr kept for error messages. */
const STDERR_TAIL = 20;

export class LocalEnclaveProcess implements Enclave {
  readonly answerKey: string;
  readonly publicKey: Uint8Array;
  readonly pcrs: readonly Uint8Array[];
  readonly measurement: string;
  readonly rootDer: Uint8Array;
  /** SHA-256 of `rootDer`, lowercase hex (the value a verifier pins) */
  readonly rootSha256: string;
  /** the project files the enclave program measured into PCR0 */
  readonly image: readonly string[];
  readonly pid: number;

  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private ended?: string;
  private closing = false;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    ready: Extract<EnclaveMessage, { type: "ready" }>,
    private readonly opts: Required<Pick<LocalEnclaveProcessOptions, "debug" | "moduleId" | "timeoutMs">> & {
      modelName: string;
    },
    private readonly stderr: string[],
    exited: Promise<void>,
  ) {
    this.answerKey = ready.answerKey;
    this.publicKey = new Uint8Array(ready.publicKey);
    this.pcrs = ready.pcrs.map((p) => new Uint8Array(p));
    this.measurement = enclaveMeasurement(this.pcrs);
    this.rootDer = new Uint8Array(ready.rootDer);
    this.rootSha256 = createHash("sha256").update(this.rootDer).digest("hex");
    this.image = ready.image;
    this.pid = child.pid!;
    this.exited = exited;
    child.on("message", (message: EnclaveMessage) => this.onMessage(message));
    child.on("close", (code, signal) => this.onExit(code, signal));
  }

  /**
   * Forks the enclave program, hands it the CA, the model and the options, and waits until it
   * has made its answer key and certificate chain.
   */
  static async start(opts: LocalEnclaveProcessOptions): Promise<LocalEnclaveProcess> {
    const log = opts.log ?? silentLogger;
    const debug = opts.debug ?? false;
    const moduleId =
      opts.moduleId ?? `i-${randomBytes(8).toString("hex")}-enc${randomBytes(8).toString("hex")}`;
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const startTimeoutMs = opts.startTimeoutMs ?? 60_000;
    const { entry, execArgv } = enclaveLaunch();

    const child = fork(entry, [], {
      execArgv,
      serialization: "advanced", // structured clone: bigints and byte arrays cross intact
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    const stderr: string[] = [];
    const prefix = `[local enclave ${child.pid ?? "?"}]`;
    forwardLines(child.stdout, (line) => log.info(`${prefix} ${line}`));
    forwardLines(child.stderr, (line) => {
      stderr.push(line);
      if (stderr.length > STDERR_TAIL) stderr.shift();
      log.warn(`${prefix} ${line}`);
    });
    // "close", not "exit": by then its stderr has been read to the end
    const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));

    const ready = await new Promise<Extract<EnclaveMessage, { type: "ready" }>>((resolve, reject) => {
      const fail = (error: EnclaveError) => {
        cleanup();
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
        reject(error);
      };
      const onMessage = (message: EnclaveMessage) => {
        if (message.type === "ready") {
          cleanup();
          resolve(message);
        } else if (message.type === "failed") {
          fail(
            new EnclaveError(
              `the local enclave process could not start: ${message.error.message}`,
              message.error.hint ?? "check the CA and the model it was given",
              { cause: causeOf(message.error) },
            ),
          );
        }
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
        fail(
          new EnclaveError(
            `the local enclave process exited while starting (${how(code, signal)})${tail(stderr)}`,
            `check that ${entry} runs with node ${execArgv.join(" ")}`,
          ),
        );
      const onError = (e: Error) =>
        fail(
          new EnclaveError(`the local enclave process could not be started: ${e.message}`, undefined, {
            cause: e,
          }),
        );
      const timer = setTimeout(
        () =>
          fail(
            new EnclaveError(
              `the local enclave process did not start within ${startTimeoutMs} ms${tail(stderr)}`,
              "raise startTimeoutMs on a slow machine",
            ),
          ),
        startTimeoutMs,
      );
      const cleanup = () => {
        clearTimeout(timer);
        child.off("message", onMessage);
        child.off("close", onExit);
        child.off("error", onError);
      };
      child.on("message", onMessage);
      child.once("close", onExit);
      child.once("error", onError);
      try {
        const init: HostMessage = {
          type: "init",
          ca: { rootDer: opts.ca.rootDer, keyPkcs8: opts.ca.keyPkcs8 },
          model: opts.model,
          options: { debug, moduleId, intermediates: opts.intermediates ?? 3 },
        };
        child.send(init);
      } catch (e) {
        fail(
          new EnclaveError(
            `the local enclave process could not be given its model: ${(e as Error).message}`,
            "pass a QuantizedModel (from loadArtifacts(name).quantized)",
            { cause: e },
          ),
        );
      }
    });

    if (computeAddress(hexlify(ready.publicKey)) !== ready.answerKey) {
      child.kill("SIGKILL");
      throw new EnclaveError(
        "the local enclave process reported an answer key that does not match its public key",
        "this is a bug in the enclave program: report it",
      );
    }
    const enclave = new LocalEnclaveProcess(
      child,
      ready,
      { debug, moduleId, timeoutMs, modelName: opts.model.name },
      stderr,
      exited,
    );
    // a forgotten enclave must not keep the host alive: only pending calls (their timers) do
    child.unref();
    child.channel?.unref();
    for (const stream of [child.stdout, child.stderr])
      (stream as unknown as { unref?: () => void } | null)?.unref?.();
    log.info(`${prefix} ${enclave.describe()}`);
    return enclave;
  }

  get moduleId(): string {
    return this.opts.moduleId;
  }

  get debug(): boolean {
    return this.opts.debug;
  }

  /** Whether the process is still serving. */
  get running(): boolean {
    return this.ended === undefined && !this.closing;
  }

  async attest(opts: { nonce: Uint8Array; userData?: Uint8Array }): Promise<Uint8Array> {
    const params = {
      nonce: opts?.nonce,
      ...(opts?.userData === undefined ? {} : { userData: opts.userData }),
    };
    const document = await this.call("attest", params);
    return new Uint8Array(document as Uint8Array);
  }

  async answer(request: TeeAnswerRequest): Promise<TeeAnswer> {
    return (await this.call("answer", request)) as TeeAnswer;
  }

  describe(): string {
    const mode = this.opts.debug ? ", DEBUG mode (all PCRs zero: never trust it)" : "";
    return (
      `local enclave process, NOT hardware-backed: pid ${this.pid}, model ${this.opts.modelName}, ` +
      `module ${this.opts.moduleId}, measurement ${this.measurement}, answer key ${this.answerKey}, ` +
      `development root sha256 ${this.rootSha256.slice(0, 16)}…${mode}`
    );
  }

  /** Asks the process to exit (killing it if it does not within 5 s) and waits for it. */
  async close(): Promise<void> {
    if (this.ended !== undefined) return;
    this.closing = true;
    if (this.child.connected) {
      try {
        this.child.send({ type: "close" } satisfies HostMessage);
      } catch {
        // the channel is closing already: the kill below ends it
      }
    }
    const kill = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
    await this.exited;
    clearTimeout(kill);
  }

  private call(method: "attest" | "answer", params: unknown): Promise<unknown> {
    if (this.ended !== undefined || this.closing)
      return Promise.reject(
        new EnclaveError(
          `local enclave process ${this.pid}: ${method} refused: the process ${this.ended ?? "is closing"}`,
          "start a new LocalEnclaveProcess",
        ),
      );
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new EnclaveError(
            `local enclave process ${this.pid}: ${method} (call #${id}) got no answer within ${this.opts.timeoutMs} ms`,
            "the process may be stuck; close it and start a new one, or raise timeoutMs",
          ),
        );
      }, this.opts.timeoutMs);
      this.pending.set(id, { method, resolve, reject, timer });
      const fail = (e: unknown) => {
        if (!this.pending.delete(id)) return;
        clearTimeout(timer);
        reject(
          new EnclaveError(
            `local enclave process ${this.pid}: ${method} could not be sent: ${(e as Error).message}`,
            method === "answer"
              ? "pass plain values: bigint input, hex strings, numbers or bigints"
              : "pass the nonce and userData as Uint8Arrays",
            { cause: e },
          ),
        );
      };
      try {
        this.child.send({ type: "call", id, method, params } as HostMessage, (e) => {
          if (e) fail(e);
        });
      } catch (e) {
        fail(e);
      }
    });
  }

  private onMessage(message: EnclaveMessage): void {
    if (message.type !== "result") return;
    const pending = this.pending.get(message.id);
    if (!pending) return; // timed out meanwhile
    this.pending.delete(message.id);
    clearTimeout(pending.timer);
    if (message.ok) pending.resolve(message.value);
    else
      pending.reject(
        new EnclaveError(
          `local enclave process ${this.pid}: ${pending.method} refused: ${message.error.message}`,
          message.error.hint ?? REQUEST_HINTS[pending.method as keyof typeof REQUEST_HINTS],
          { cause: causeOf(message.error) },
        ),
      );
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.ended = this.closing ? "was closed" : `exited (${how(code, signal)})`;
    const hint = this.closing
      ? "the enclave was closed with calls pending; start a new LocalEnclaveProcess"
      : "it crashed or was killed; start a new LocalEnclaveProcess (a new answer key: attest it again)";
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(
        new EnclaveError(
          `local enclave process ${this.pid} ${this.ended} before answering ${pending.method} ` +
            `(call #${id})${this.closing ? "" : tail(this.stderr)}`,
          hint,
        ),
      );
    }
    this.pending.clear();
  }
}

/** The error the enclave reported, as a cause (an Error named as the original). */
function causeOf(remote: RemoteError): Error {
  const error = new Error(remote.message);
  error.name = remote.name;
  return error;
}

function how(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}

function tail(lines: readonly string[]): string {
  return lines.length === 0 ? "" : `; its last output:\n    ${lines.join("\n    ")}`;
}

function forwardLines(stream: NodeJS.ReadableStream | null, line: (text: string) => void): void {
  if (!stream) return;
  let buffered = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split("\n");
    buffered = lines.pop()!;
    for (const l of lines) if (l.trim() !== "") line(l);
  });
  stream.on("end", () => {
    if (buffered.trim() !== "") line(buffered);
    buffered = "";
  });
}
