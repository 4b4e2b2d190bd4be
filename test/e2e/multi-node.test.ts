import { expect } from "chai";
import { JsonRpcProvider } from "ethers";

import { INFERENCE_ADDRESS } from "../../src/chain/install.js";
import { requestInference } from "../../src/client/client.js";
import { quantizeInput } from "../../src/model/quantize.js";
import { rankNodes } from "../../src/node/assignment.js";
import { loadArtifacts } from "../../src/pipeline/artifacts.js";
import { RequestState } from "../../src/protocol/state.js";
import { InferencePrecompile__factory } from "../../typechain-types/index.js";
import { HardhatProcess, deployAndRegister, runTask, startHardhatNode } from "../helpers/hardhat-node.js";
import { IRIS_MODEL_PATH } from "../helpers/models.js";

/**
 * Three bonded `sibyl:node` processes serve one precompile under the assignment rule
 * (docs/operating.md); one of them is killed (SIGKILL) while it holds an unsettled answer.
 * Every request ends settled, none slashed or expired: each answered by its primary while
 * that node lived, by the next in its ranking after; the dead node's answer settled by the
 * first of its peers in line, near its deadline; and no transaction reverted on a lost race.
 */
describe("e2e/multi-node: three nodes under the assignment rule, one killed mid-run", function () {
  this.timeout(600_000);
  const processes: HardhatProcess[] = [];
  let provider: JsonRpcProvider | undefined;

  after(async function () {
    for (const p of processes) p.kill("SIGKILL");
    await Promise.all(processes.map((p) => p.exited));
    provider?.destroy();
  });

  it("every request settles, none slashed; the rule decides who answers and who rescues", async function () {
    const { chain, url } = await startHardhatNode();
    processes.push(chain);
    provider = new JsonRpcProvider(url, 31337, { staticNetwork: true, pollingInterval: 100 });
    const env = { SIBYL_RPC_URL: url };
    // a 90 s settlement window: a peer's unsettled answer is taken over 75 s before its deadline
    const window = ["--window", "90"];
    const modelId = await deployAndRegister(env, IRIS_MODEL_PATH, window);
    await runTask(
      ["sibyl:register", "--network", "localhost", "--model", IRIS_MODEL_PATH, ...window, "--batch", "4"],
      env,
      300_000,
    );

    const rule = [
      "--takeover-grace",
      "2",
      "--takeover-margin",
      "75",
      "--poll-ms",
      "100",
      "--metrics-port",
      "0",
    ];
    const start = (signer: number, extra: string[] = []) => {
      const p = new HardhatProcess(
        [
          "sibyl:node",
          "--network",
          "localhost",
          "--models",
          IRIS_MODEL_PATH,
          "--ids",
          modelId,
          "--signer",
          String(signer),
          ...rule,
          ...extra,
        ],
        env,
      );
      processes.push(p);
      return p;
    };
    // B settles in batches of 4: an answer of B's waits for its batch, so killing B leaves one unsettled
    // one after another: Hardhat processes started together race on its compile cache
    const nodes: HardhatProcess[] = [];
    for (const [signer, extra] of [
      [1, []],
      [2, ["--batch", "4", "--batch-margin", "80"]],
      [3, []],
    ] as const) {
      nodes.push(start(signer, [...extra]));
      await nodes[nodes.length - 1].waitFor("node running", 180_000);
    }
    for (const n of nodes)
      expect(n.output).to.contain("assignment rule: answers at once as a request's primary");

    const precompile = InferencePrecompile__factory.connect(INFERENCE_ADDRESS, await provider.getSigner(0));
    const [a, b, c] = await Promise.all([1, 2, 3].map(async (i) => (await provider!.getSigner(i)).address));
    const all = [a, b, c];
    const model = loadArtifacts("iris");
    const features = [
      [5.1, 3.5, 1.4, 0.2],
      [6.3, 3.3, 6.0, 2.5],
      [5.9, 3.0, 4.2, 1.5],
    ];
    const request = async (i: number) =>
      (await requestInference(precompile, modelId, quantizeInput(model.quantized, features[i % 3])))
        .requestId;
    const answererOf = async (id: string): Promise<string | undefined> => {
      const events = await precompile.queryFilter(precompile.filters.InferenceAnswered(id));
      expect(events.length, `answers of ${id}`).to.be.at.most(1);
      return events[0]?.args.node;
    };
    const until = async (what: string, done: () => Promise<boolean>, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      while (!(await done())) {
        if (Date.now() > deadline)
          throw new Error(
            `timed out waiting for ${what}; the nodes said:\n${nodes.map((n, i) => `--- node ${"ABC"[i]}\n${n.tail(2500)}`).join("\n")}`,
          );
        await new Promise((r) => setTimeout(r, 200));
      }
    };

    // while all three live: each request is answered by its primary, until B holds an answer
    const before: string[] = [];
    let held: string | undefined;
    for (let i = 0; i < 24 && !held; i++) {
      const id = await request(i);
      before.push(id);
      await until(`an answer to ${id}`, async () => (await answererOf(id)) !== undefined, 30_000);
      const answerer = (await answererOf(id))!;
      expect(answerer.toLowerCase(), `request ${i}`).to.equal(rankNodes(id, all)[0]);
      if (answerer === b) held = id;
    }
    expect(held, "B was the primary of none of 24 requests").to.not.equal(undefined);
    nodes[1].kill("SIGKILL");
    await nodes[1].exited;
    expect(Number(await precompile.stateOf(held!))).to.equal(RequestState.Answered);

    // after B's death: its requests go to the next in their ranking, one grace period later
    const after: string[] = [];
    for (let i = 0; i < 6; i++) after.push(await request(i));
    await until(
      "every request settled",
      async () => {
        const states = await Promise.all([...before, ...after].map((id) => precompile.stateOf(id)));
        return states.every((s) => Number(s) === RequestState.Settled);
      },
      150_000,
    );
    for (const id of after) {
      const expected = rankNodes(id, all).filter((n) => n !== b.toLowerCase())[0];
      expect((await answererOf(id))!.toLowerCase(), id).to.equal(expected);
    }
    expect(
      after.some((id) => rankNodes(id, all)[0] === b.toLowerCase()),
      "none of the later requests had B as its primary: the takeover went untested",
    ).to.equal(true);

    // B's held answer was settled by the first of its peers in line; B keeps its fee
    const [settledHeld] = await precompile.queryFilter(precompile.filters.InferenceSettled(held));
    expect(settledHeld.args.node).to.equal(b);
    const rescuer = rankNodes(held!, all).filter((n) => n !== b.toLowerCase())[0];
    const about = (id: string) =>
      nodes
        .map(
          (n, i) =>
            `--- node ${"ABC"[i]}\n${n.output
              .split("\n")
              .filter((l) => l.includes(id.slice(0, 10)))
              .join("\n")}`,
        )
        .join("\n");
    expect(settledHeld.args.settler.toLowerCase(), about(held!)).to.equal(rescuer);
    const rescuerLog = nodes[all.findIndex((n) => n.toLowerCase() === rescuer)].output;
    expect(rescuerLog).to.contain("is still unsettled near its deadline; settling it");

    // each live node's Prometheus metrics count what it did, as the chain shows it
    for (const i of [0, 2]) {
      const url = /metrics at (http:\/\/\S+)/.exec(nodes[i].output)?.[1];
      expect(url, `node ${"ABC"[i]} printed no metrics URL`).to.be.a("string");
      const text = await (await fetch(url!)).text();
      const value = (line: string) =>
        Number(new RegExp(`^${line.replace(/[{}"]/g, "\\$&")} (\\S+)$`, "m").exec(text)?.[1]);
      const settledBy = (await precompile.queryFilter(precompile.filters.InferenceSettled())).filter(
        (e) => e.args.settler === all[i],
      ).length;
      expect(value('sibyl_requests_total{state="settled"}'), `node ${"ABC"[i]}`).to.equal(settledBy);
      expect(value('sibyl_takeovers_total{stage="settle"}'), `node ${"ABC"[i]}`).to.equal(
        all[i].toLowerCase() === rescuer ? 1 : 0,
      );
      expect(value("sibyl_value_at_risk_wei")).to.equal(0);
    }

    expect(await precompile.queryFilter(precompile.filters.InferenceSlashed())).to.have.length(0);
    expect(await precompile.queryFilter(precompile.filters.InferenceExpired())).to.have.length(0);
    // no lost race cost gas: not one transaction on the chain reverted
    const head = await provider.getBlockNumber();
    for (let n = 1; n <= head; n++) {
      const block = await provider.getBlock(n, false);
      for (const hash of block!.transactions) {
        const receipt = await provider.getTransactionReceipt(hash);
        expect(receipt!.status, `transaction ${hash} in block ${n}`).to.equal(1);
      }
    }
    await Promise.all([nodes[0].stop(), nodes[2].stop()]);
  });
});
