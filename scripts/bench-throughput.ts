/**
 * The throughput part of `npm run bench` (docs/operating.md): a burst of requests for a model
 * served by an in-process node whose proofs go through the Redis job queue to 1, 2 and 4
 * `sibyl:prover` worker processes, beside the same burst proved in the node's own process.
 * Per run: proofs per minute (requests / (last settlement − first request)), p50/p95 request →
 * settled latency, and the queue's overhead per job against in-process proving: proofs asked one
 * at a time of the idle queue before the burst, their round trip less the worker's proving time
 * (median), beside the same proofs' time in the node's process. On a 2-core machine the workers, the node and the chain share the cores: more
 * workers do not prove faster there, and the figures say so as they are.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { type Signer, id } from "ethers";

import type { SibylStack, StackModel } from "../src/chain/stack.js";
import { startNode } from "../src/chain/stack.js";
import { circuitInputFor } from "../src/circuit/inputs.js";
import { requestInference } from "../src/client/client.js";
import { type Logger, silentLogger } from "../src/log.js";
import { NodeTracker } from "../src/node/tracker.js";
import { PROJECT_ROOT } from "../src/paths.js";
import { weightSecretsOf } from "../src/pipeline/artifacts.js";
import { modelCircuit } from "../src/queue/circuits.js";
import { queueProvers } from "../src/queue/client.js";
import { type ProverFactory, SnarkjsProver } from "../src/zk/prover.js";
import { median } from "../src/bench/stats.js";

const require = createRequire(import.meta.url);

export interface ThroughputPoint {
  model: string;
  /** prover worker processes; 0 is the node proving in its own process, without the queue */
  workers: number;
  requests: number;
  proofsPerMinute: number;
  p50Ms: number;
  p95Ms: number;
  /**
   * what the queue adds to a proof (ms): the median, over proofs asked one at a time of the idle
   * queue, of the round trip (job added → result back in the node) less the worker's own proving
   * time; 0 in process
   */
  queueOverheadMs: number;
  /** the median proving time of those proofs: on the worker, or in the node's process (ms) */
  proveMs: number;
  /** the median round trip of those proofs through the queue (ms; in process: the proof itself) */
  roundTripMs: number;
}

export const WORKER_COUNTS = [1, 2, 4];
/** sequential proofs through the idle queue (and in process) for the overhead */
const OVERHEAD_PROOFS = 10;

/** The p-th percentile (nearest rank). */
function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** A Redis server for the run: `REDIS_URL`, else a `redis-server` of its own on a free port. */
export async function benchRedis(log: Logger): Promise<{ url: string; stop(): void } | undefined> {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: () => undefined };
  const port = await freePort();
  const server = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    {
      stdio: "ignore",
    },
  );
  const started = await new Promise<boolean>((resolve) => {
    server.once("error", () => resolve(false));
    server.once("spawn", () => resolve(true));
  });
  if (!started) {
    log.warn(
      "  no redis-server on this machine (apt-get install redis-server, or set REDIS_URL): throughput skipped",
    );
    return undefined;
  }
  await new Promise((r) => setTimeout(r, 300));
  return { url: `redis://127.0.0.1:${port}`, stop: () => server.kill("SIGKILL") };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `npx hardhat sibyl:prover` as a user runs it, up and warm ("prover ready"). */
async function startWorker(url: string, modelPath: string): Promise<ChildProcess> {
  const manifest = require.resolve("hardhat/package.json");
  const { bin } = JSON.parse(readFileSync(manifest, "utf8")) as { bin: { hardhat: string } };
  const cli = join(dirname(manifest), bin.hardhat);
  const { HARDHAT_NETWORK: _ignored, ...env } = process.env;
  const worker = spawn(process.execPath, [cli, "sibyl:prover", "--redis", url, "--models", modelPath], {
    cwd: PROJECT_ROOT,
    env: { ...env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sibyl:prover did not start:\n${output}`)), 180_000);
    const seen = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (output.includes("prover ready")) {
        clearTimeout(timer);
        resolve();
      }
    };
    worker.stdout!.on("data", seen);
    worker.stderr!.on("data", seen);
    worker.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`sibyl:prover exited with ${code}:\n${output}`));
    });
  });
  worker.stdout!.removeAllListeners("data").resume();
  worker.stderr!.removeAllListeners("data").resume();
  worker.removeAllListeners("exit");
  return worker;
}

/** `requests` requests sent back to back, each waited for until settled; latency per request. */
async function burst(
  stack: SibylStack,
  model: StackModel,
  requester: Signer,
  nodeSigner: Signer,
  input: bigint[],
  requests: number,
  provers?: ProverFactory,
): Promise<{ proofsPerMinute: number; p50Ms: number; p95Ms: number }> {
  const node = await startNode(stack, {
    signer: nodeSigner,
    pollMs: 50,
    serve: [model.artifacts.name],
    log: silentLogger,
    ...(provers ? { provers } : {}),
  });
  const tracker = new NodeTracker(node);
  const fee = (await stack.registry.getModel(model.modelId)).config.fee;
  const sent: Array<{ requestId: string; at: number }> = [];
  try {
    for (let i = 0; i < requests; i++) {
      const at = Date.now();
      const { requestId } = await requestInference(
        stack.precompile.connect(requester),
        model.modelId,
        input,
        {
          fee,
        },
      );
      sent.push({ requestId, at });
    }
    const settled = await Promise.all(sent.map((s) => tracker.waitSettled(s.requestId, 1_800_000)));
    const latency = settled.map((s, i) => s.at - sent[i].at);
    const span = Math.max(...settled.map((s) => s.at)) - sent[0].at;
    return {
      proofsPerMinute: Math.round((requests / span) * 60_000 * 10) / 10,
      p50Ms: percentile(latency, 50),
      p95Ms: percentile(latency, 95),
    };
  } finally {
    await node.stop();
  }
}

/**
 * Throughput for one model: the in-process baseline, then through the queue with each worker
 * count. Returns the queue rows (`throughput`) and the baseline (`throughputInProcess`).
 */
export async function benchThroughput(
  stack: SibylStack,
  model: StackModel,
  requester: Signer,
  nodeSigner: Signer,
  input: bigint[],
  output: bigint[],
  requests: number,
  redisUrl: string,
  log: Logger,
): Promise<{ queued: ThroughputPoint[]; inProcess: ThroughputPoint }> {
  const a = model.artifacts;
  const secrets = weightSecretsOf(a);
  // a request id of its own for every proof, as random as a real one (Iris binds only its high
  // bits): a job id is a hash of the circuit input, and a proof asked for again would be an
  // earlier run's finished job
  const proofInput = (run: number, i: number) =>
    circuitInputFor(a.quantized, BigInt(id(`throughput ${a.name} ${run} ${i}`)), input, output, secrets);

  // the in-process reference: warm proofs, one at a time
  const local = new SnarkjsProver(a.wasmPath, a.zkeyPath);
  await local.warm();
  const localMs: number[] = [];
  for (let i = 0; i < OVERHEAD_PROOFS; i++) localMs.push((await local.prove(proofInput(0, i))).ms);
  log.info(`  ${a.name}: ${requests} requests proved in the node's process…`);
  const base = await burst(stack, model, requester, nodeSigner, input, requests);
  const inProcess: ThroughputPoint = {
    model: a.name,
    workers: 0,
    requests,
    ...base,
    queueOverheadMs: 0,
    proveMs: median(localMs),
    roundTripMs: median(localMs),
  };

  const queued: ThroughputPoint[] = [];
  for (const workers of WORKER_COUNTS) {
    log.info(`  ${a.name}: ${requests} requests through the queue with ${workers} worker(s)…`);
    const procs: ChildProcess[] = [];
    const queue = queueProvers({ url: redisUrl, log: silentLogger });
    try {
      // one after another: Hardhat processes started together race on its compile cache
      for (let w = 0; w < workers; w++) procs.push(await startWorker(redisUrl, a.modelPath));
      const prover = queue.factory(modelCircuit(a));
      const roundTrips: number[] = [];
      const added: number[] = [];
      const onWorker: number[] = [];
      for (let i = 0; i < OVERHEAD_PROOFS; i++) {
        const proof = (await prover.prove(proofInput(workers, i))) as { queueMs: number; ms: number };
        roundTrips.push(proof.queueMs);
        onWorker.push(proof.ms);
        added.push(proof.queueMs - proof.ms);
      }
      const run = await burst(stack, model, requester, nodeSigner, input, requests, queue.factory);
      queued.push({
        model: a.name,
        workers,
        requests,
        ...run,
        queueOverheadMs: median(added),
        proveMs: median(onWorker),
        roundTripMs: median(roundTrips),
      });
    } finally {
      await queue.close();
      for (const p of procs) p.kill("SIGINT");
      await Promise.all(
        procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once("exit", r)))),
      );
    }
  }
  return { queued, inProcess };
}
