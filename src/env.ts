import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import type { NetworkConnection } from "hardhat/types/network";
import type { ArtifactManager } from "hardhat/types/artifacts";
import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import type {} from "@nomicfoundation/hardhat-ethers";
import { Contract, ContractFactory, type ContractRunner, type Signer } from "ethers";

import { ChainError } from "./errors.js";
import { CORE_ARTIFACTS_DIR, useProjectRoot } from "./paths.js";

/**
 * What the chain-facing library needs from Hardhat: one network connection (its ethers
 * helpers and name), the project's artifacts (model verifiers compiled in the user's
 * project) and a way to compile them. Tasks, tests, the demo and the bench all make one
 * with `sibylEnv`.
 */
export interface SibylEnv {
  readonly ethers: HardhatEthers;
  readonly networkName: string;
  /** The Hardhat network connection this env works on. */
  readonly connection: NetworkConnection;
  /** The network is Hardhat's in-process simulated chain (a throwaway chain per process). */
  readonly inProcess: boolean;
  readonly artifacts: ArtifactManager;
  /** The Hardhat project's root folder. */
  readonly root: string;
  /** Compiles the project's contracts (incremental; quiet). */
  compile(): Promise<void>;
}

/**
 * A SibylEnv for `hre`, on `connection` (default: the network the task runs on, shared with
 * other callers). Also points Sibyl's project paths (build/, contracts/verifiers/) at the
 * project's root.
 */
export async function sibylEnv(
  hre: HardhatRuntimeEnvironment,
  connection?: NetworkConnection,
): Promise<SibylEnv> {
  useProjectRoot(hre.config.paths.root);
  const conn = connection ?? (await hre.network.getOrCreate());
  await checkReachable(conn);
  return {
    ethers: conn.ethers,
    networkName: conn.networkName,
    connection: conn,
    inProcess: conn.networkConfig.type === "edr-simulated",
    artifacts: hre.artifacts,
    root: hre.config.paths.root,
    compile: () => compileProject(hre),
  };
}

/** How long the first call to a JSON-RPC network may take by default (ms; `SIBYL_RPC_TIMEOUT_MS`). */
export const DEFAULT_RPC_TIMEOUT_MS = 10_000;

/** The wait for a JSON-RPC network's first answer: `SIBYL_RPC_TIMEOUT_MS`, else 10 s. */
export function rpcTimeoutMs(): number {
  const raw = process.env.SIBYL_RPC_TIMEOUT_MS;
  if (raw === undefined || raw.trim() === "") return DEFAULT_RPC_TIMEOUT_MS;
  const ms = Number(raw);
  if (!Number.isFinite(ms) || ms <= 0)
    throw new ChainError(
      `SIBYL_RPC_TIMEOUT_MS is ${JSON.stringify(raw)}, not a positive number of milliseconds`,
      `set it to e.g. 30000, or unset it for the default ${DEFAULT_RPC_TIMEOUT_MS}`,
    );
  return ms;
}

/** Connections whose endpoint answered already. */
const reachable = new WeakSet<NetworkConnection>();

/**
 * Asks a JSON-RPC network (not an in-process one) for its chain id, within `rpcTimeoutMs()`:
 * an endpoint that never answers, or where nothing listens, fails here at once with its URL
 * and what to do, instead of after Hardhat's own timeouts and retries. Skipped when an HTTP
 * proxy from the environment would carry the calls (Hardhat's provider uses it; this probe
 * could not, and would fail a network that works).
 */
async function checkReachable(conn: NetworkConnection): Promise<void> {
  const config = conn.networkConfig;
  if (config.type !== "http" || reachable.has(conn)) return;
  const url = await urlOf(config.url);
  if (behindEnvProxy(url)) return;
  const timeoutMs = rpcTimeoutMs();
  const where = `network ${conn.networkName} at ${displayUrl(url)}`;
  const hint = isLoopback(url)
    ? `is \`npx hardhat node\` running? check the url of network ${conn.networkName} in hardhat.config.ts`
    : `is its node running and reachable? check the url of network ${conn.networkName} in hardhat.config.ts`;
  let text: string;
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...config.httpHeaders },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await response.text();
    if (!response.ok)
      throw new ChainError(`${where} answered eth_chainId with HTTP ${response.status}`, hint);
  } catch (e) {
    if (e instanceof ChainError) throw e;
    const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    if (err.name === "TimeoutError" || err.name === "AbortError")
      throw new ChainError(
        `no answer from ${where} within ${timeoutMs} ms`,
        `${hint} (the wait is SIBYL_RPC_TIMEOUT_MS, in ms)`,
        { cause: e },
      );
    const code = err.cause?.code;
    const why =
      code === "ECONNREFUSED"
        ? "connection refused (nothing listens there)"
        : code === "ENOTFOUND" || code === "EAI_AGAIN"
          ? "host not found"
          : (err.cause?.message ?? err.message ?? String(e));
    throw new ChainError(`cannot reach ${where}: ${why}`, hint, { cause: e });
  }
  let body: { result?: unknown } | undefined;
  try {
    body = JSON.parse(text) as { result?: unknown };
  } catch {
    body = undefined;
  }
  if (typeof body?.result !== "string")
    throw new ChainError(
      `${where} is not a JSON-RPC endpoint: eth_chainId got ${JSON.stringify(text.slice(0, 120))}`,
      hint,
    );
  reachable.add(conn);
}

async function urlOf(url: unknown): Promise<string> {
  if (typeof url === "string") return url;
  const variable = url as { getUrl?: () => Promise<string>; get?: () => Promise<string> };
  return variable.getUrl ? variable.getUrl() : variable.get!();
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

function behindEnvProxy(url: string): boolean {
  const env = process.env;
  const proxy = url.startsWith("https:")
    ? (env.HTTPS_PROXY ?? env.https_proxy ?? env.HTTP_PROXY ?? env.http_proxy)
    : (env.HTTP_PROXY ?? env.http_proxy);
  return proxy !== undefined && proxy !== "" && !isLoopback(url);
}

function isLoopback(url: string): boolean {
  try {
    return LOOPBACK.has(new URL(url).hostname);
  } catch {
    return false;
  }
}

/**
 * A network URL as Sibyl prints it: credentials, query values and key-like path segments
 * (an Infura or Alchemy key) masked.
 */
export function displayUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  if (u.username || u.password) u.username = u.password = "";
  u.pathname = u.pathname
    .split("/")
    .map((seg) => (/^[A-Za-z0-9_-]{20,}$/.test(seg) ? "***" : seg))
    .join("/");
  for (const key of [...u.searchParams.keys()]) u.searchParams.set(key, "***");
  const text = u.toString();
  return u.pathname === "/" && !u.search && !url.endsWith("/") ? text.replace(/\/$/, "") : text;
}

/**
 * Compiles the project's contracts (incremental, quiet) and makes `hre.artifacts` see what it
 * wrote: Hardhat caches the artifact list, so a verifier compiled after the first lookup would
 * otherwise stay invisible to this process.
 */
export async function compileProject(hre: HardhatRuntimeEnvironment): Promise<void> {
  await hre.tasks.getTask("build").run({ quiet: true, noTests: true });
  await hre.artifacts.clearCache();
}

/** Sibyl's own contracts, compiled into the package (a user's project does not compile them). */
export type CoreContract =
  | "InferencePrecompile"
  | "ModelRegistry"
  | "OpenGradientAdapter"
  | "EnclaveRegistry"
  | "AttestationVerifier"
  | "SimulationProbe"
  | "Simulator"
  | "CreditLine"
  | "FraudGate"
  | "InstantClassifier"
  | "IrisClassifierOG";

export interface CoreArtifact {
  contractName: string;
  sourceName: string;
  abi: unknown[];
  bytecode: string;
  deployedBytecode: string;
  immutableReferences?: Record<string, { start: number; length: number }[]>;
}

const SOURCES: Record<CoreContract, string> = {
  InferencePrecompile: "InferencePrecompile.sol",
  ModelRegistry: "ModelRegistry.sol",
  OpenGradientAdapter: "OpenGradientAdapter.sol",
  EnclaveRegistry: "tee/EnclaveRegistry.sol",
  AttestationVerifier: "tee/AttestationVerifier.sol",
  SimulationProbe: "pipe/SimulationProbe.sol",
  Simulator: "pipe/Simulator.sol",
  CreditLine: "examples/CreditLine.sol",
  FraudGate: "examples/FraudGate.sol",
  InstantClassifier: "examples/InstantClassifier.sol",
  IrisClassifierOG: "examples/opengradient/IrisClassifierOG.sol",
};

const cache = new Map<CoreContract, CoreArtifact>();

export function coreArtifact(name: CoreContract): CoreArtifact {
  const hit = cache.get(name);
  if (hit) return hit;
  const file = join(CORE_ARTIFACTS_DIR, SOURCES[name], `${name}.json`);
  let artifact: CoreArtifact;
  try {
    artifact = JSON.parse(readFileSync(file, "utf8")) as CoreArtifact;
  } catch (e) {
    throw new ChainError(
      `Sibyl's compiled ${name} is missing (${file})`,
      "in Sibyl's repository run npx hardhat build; in a project, reinstall hardhat-sibyl",
      { cause: e },
    );
  }
  cache.set(name, artifact);
  return artifact;
}

/** A typed handle on one of Sibyl's contracts at `address`. */
export function coreContract<T>(name: CoreContract, address: string, runner: ContractRunner | null): T {
  return new Contract(address, coreArtifact(name).abi as never, runner) as unknown as T;
}

/** Deploys one of Sibyl's contracts from the package's artifact. */
export async function deployCore(name: CoreContract, signer: Signer, ...args: unknown[]): Promise<Contract> {
  const { abi, bytecode } = coreArtifact(name);
  const contract = await new ContractFactory(abi as never, bytecode, signer).deploy(...args);
  await contract.waitForDeployment();
  return contract as Contract;
}

/** The network's first account, or its provider (read-only) when it has none. */
export async function runnerOf(env: SibylEnv): Promise<ContractRunner> {
  const [signer] = await env.ethers.getSigners();
  return signer ?? env.ethers.provider;
}
