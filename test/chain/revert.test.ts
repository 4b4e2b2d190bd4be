import { expect } from "chai";
import hre, { network } from "hardhat";
import type { HardhatEthers, HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { JsonRpcServer, NetworkConnection } from "hardhat/types/network";
import type { EdrNetworkHDAccountsConfig } from "hardhat/types/config";
import { AbiCoder, Contract, HDNodeWallet, Interface, JsonRpcProvider, concat, id } from "ethers";

import { INFERENCE_ADDRESS } from "../../src/chain/install.js";
import { MAX_SETTLEMENT_WINDOW, modelConfig, termsOf, verifierRuntimeCode } from "../../src/chain/models.js";
import { RevertError, decodeRevert, explainRevert, revertDataOf } from "../../src/protocol/revert.js";
import { type SibylStack, setUpStack } from "../../src/chain/stack.js";
import { requestInference } from "../../src/client/client.js";
import { type SibylEnv, coreArtifact, deployCore, sibylEnv } from "../../src/env.js";
import { ChainError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import { quantizeInput } from "../../src/model/quantize.js";
import { InferenceNode } from "../../src/node/node.js";
import { errorOf } from "../helpers/errors.js";
import { IRIS_MODEL_PATH } from "../helpers/models.js";

/**
 * Reverts reach the user by name: every Sibyl custom error (registry, precompile, consumer
 * base, examples) is decoded with its arguments, whether it comes from the in-process chain
 * or from a chain served over JSON-RPC (where each client nests the revert data its own way),
 * and whether the contract that reverted is Sibyl's or a consumer it bubbled up through. The
 * library's own error paths (requestInference, the node's transactions) say it the same way.
 */

const coder = AbiCoder.defaultAbiCoder();
const selector = (signature: string): string => id(signature).slice(0, 10);
/** Revert data of `Inference__FeeTooLow(required, sent)`. */
const feeTooLowData = (required: bigint, sent: bigint): string =>
  concat([
    selector("Inference__FeeTooLow(uint256,uint256)"),
    coder.encode(["uint256", "uint256"], [required, sent]),
  ]);

/** A contract whose every call reverts with `data` (not Sibyl's: no chain knows its ABI). */
function revertingContractCode(data: string): string {
  const bytes = data.slice(2);
  const len = bytes.length / 2;
  if (len > 255) throw new Error("revert data too long for this stub");
  // runtime: CODECOPY the data that follows it to memory 0, then REVERT(0, len)
  const runtimeHead = (dataOffset: number): string =>
    `60${hex1(len)}60${hex1(dataOffset)}600039` + `60${hex1(len)}6000fd`;
  const headLength = runtimeHead(0).length / 2;
  const runtime = runtimeHead(headLength) + bytes;
  const runtimeLength = runtime.length / 2;
  // init: CODECOPY the runtime to memory 0 and return it
  const init = (offset: number): string =>
    `60${hex1(runtimeLength)}60${hex1(offset)}600039` + `60${hex1(runtimeLength)}6000f3`;
  const initLength = init(0).length / 2;
  return `0x${init(initLength)}${runtime}`;
}
const hex1 = (n: number): string => n.toString(16).padStart(2, "0");

const UNKNOWN_DATA = concat([selector("SomeoneElse__Nope(uint256)"), coder.encode(["uint256"], [7n])]);

describe("chain/revert: Sibyl's custom errors by name", function () {
  this.timeout(120_000);

  describe("revert data however a client nests it", function () {
    const data = feeTooLowData(1000n, 1n);

    it("finds it in `data`, `info.error.data`, `error.data.data`, `data.originalError.data` and a JSON body", function () {
      const shapes: unknown[] = [
        { code: 3, data }, // Hardhat's providers
        {
          code: "CALL_EXCEPTION",
          data: null,
          info: { error: { code: 3, message: "execution reverted", data } },
        },
        { error: { code: -32603, message: "Internal JSON-RPC error.", data: { message: "reverted", data } } },
        { data: { originalError: { code: 3, data, message: "execution reverted" } } },
        { code: "SERVER_ERROR", body: JSON.stringify({ jsonrpc: "2.0", id: 1, error: { code: 3, data } }) },
        new Error("wrapped", { cause: { code: 3, data } }),
      ];
      for (const shape of shapes) {
        expect(revertDataOf(shape)).to.equal(data);
        const explained = explainRevert(shape);
        expect(explained).to.be.instanceOf(RevertError);
        expect((explained as RevertError).message).to.equal(
          "the transaction reverted: Inference__FeeTooLow(1000, 1)\n  → send at least the required fee: ModelRegistry.feeFor(modelId, callbackGasLimit)",
        );
        expect((explained as RevertError).cause).to.equal(shape);
      }
    });

    it('reads "Reverted 0x…" (Nethermind) and, with no data field, a message that carries the data', function () {
      expect(decodeRevert({ code: -32015, data: `Reverted ${data}` })?.text).to.equal(
        "Inference__FeeTooLow(1000, 1)",
      );
      expect(
        decodeRevert(
          new Error(
            `VM Exception while processing transaction: reverted with an unrecognized custom error (return data: ${data})`,
          ),
        )?.text,
      ).to.equal("Inference__FeeTooLow(1000, 1)");
      expect(decodeRevert({ error: { message: `execution reverted: ${data}` } })?.text).to.equal(
        "Inference__FeeTooLow(1000, 1)",
      );
    });

    it("decodes Error(string) and Panic(uint256), the consumer base's and the examples' errors", function () {
      const errorString = new Interface(["error Error(string)"]).encodeErrorResult("Error", ["no"]);
      expect(decodeRevert({ data: errorString })).to.deep.include({ name: "Error", text: "Error(no)" });
      const panic = new Interface(["error Panic(uint256)"]).encodeErrorResult("Panic", [0x11]);
      expect(decodeRevert({ data: panic })?.text).to.equal("Panic(17)");
      const onlyInference = new Interface(coreArtifact("FraudGate").abi as never).encodeErrorResult(
        "InferenceConsumer__OnlyInference",
        ["0x00000000000000000000000000000000000000aa"],
      );
      expect(decodeRevert({ data: onlyInference })?.text).to.equal(
        "InferenceConsumer__OnlyInference(0x00000000000000000000000000000000000000AA)",
      );
      const tiers = new Interface(coreArtifact("CreditLine").abi as never).encodeErrorResult(
        "CreditLine__InvalidTierLimits",
        [[3n, 2n, 1n]],
      );
      expect(decodeRevert({ data: tiers })?.text).to.equal("CreditLine__InvalidTierLimits([3, 2, 1])");
    });

    it("leaves an unknown selector, a SibylError and an error without data alone", function () {
      const unknown = { code: 3, data: UNKNOWN_DATA, message: "execution reverted" };
      expect(decodeRevert(unknown)).to.equal(undefined);
      expect(explainRevert(unknown)).to.equal(unknown);
      const ours = new ChainError("already explained");
      expect(explainRevert(ours)).to.equal(ours);
      const network = new Error("connect ECONNREFUSED 127.0.0.1:8545");
      expect(explainRevert(network)).to.equal(network);
      // a transaction hash is hex too, but not under a revert-data key
      expect(
        revertDataOf({ transaction: { data: feeTooLowData(1n, 0n) }, hash: `0x${"ab".repeat(32)}` }),
      ).to.equal(undefined);
    });
  });

  /** The same checks on the in-process chain and on a chain served over JSON-RPC. */
  for (const kind of ["in-process", "JSON-RPC"] as const) {
    describe(`reverts from the ${kind} chain`, function () {
      let server: JsonRpcServer | undefined;
      let url = "";
      let connection: NetworkConnection;
      let ethers: HardhatEthers;
      let env: SibylEnv;
      let stack: SibylStack;
      let requester: HardhatEthersSigner;
      const input = (): bigint[] =>
        quantizeInput(stack.models.iris.artifacts.quantized, [5.1, 3.5, 1.4, 0.2]);

      before(async function () {
        if (kind === "in-process") connection = await network.create();
        else {
          server = await network.createServer("default", "127.0.0.1", 0);
          const { port } = await server.listen();
          url = `http://127.0.0.1:${port}`;
          connection = await network.create({ network: "localhost", override: { url } });
        }
        ethers = connection.ethers;
        env = await sibylEnv(hre, connection);
        stack = await setUpStack(env, { modelPaths: [IRIS_MODEL_PATH], log: silentLogger });
        requester = (await ethers.getSigners())[3];
      });

      after(async function () {
        await connection?.close();
        await server?.close();
      });

      it("a registry error: registering a settlement window above the maximum is Registry__InvalidSettlementWindow(window, max)", async function () {
        const artifacts = stack.models.iris.artifacts;
        const config = modelConfig(artifacts, termsOf({ settlementWindow: MAX_SETTLEMENT_WINDOW + 1n }));
        const code = await verifierRuntimeCode(env, artifacts);
        const e = await errorOf(() => stack.registry.register(config, code, "too slow"));
        const explained = explainRevert(e, "registering iris");
        expect(explained).to.be.instanceOf(RevertError);
        const { revert } = explained as RevertError;
        expect(revert.name).to.equal("Registry__InvalidSettlementWindow");
        expect(revert.args).to.deep.equal([MAX_SETTLEMENT_WINDOW + 1n, MAX_SETTLEMENT_WINDOW]);
        expect((explained as Error).message).to.equal(
          `registering iris reverted: Registry__InvalidSettlementWindow(${MAX_SETTLEMENT_WINDOW + 1n}, ${MAX_SETTLEMENT_WINDOW})`,
        );
        expect((explained as Error).cause).to.equal(e);
      });

      it("a precompile error from requestInference: a fee too low is Inference__FeeTooLow(required, sent)", async function () {
        const { modelId } = stack.models.iris;
        const required = await stack.registry.feeFor(modelId, 0);
        const e = await errorOf(() =>
          requestInference(stack.precompile.connect(requester), modelId, input(), { fee: 1n }),
        );
        expect(e).to.be.instanceOf(RevertError);
        expect((e as RevertError).revert).to.deep.equal({
          name: "Inference__FeeTooLow",
          args: [required, 1n],
          text: `Inference__FeeTooLow(${required}, 1)`,
        });
        expect(e.message.split("\n")[0]).to.equal(
          `the request for model ${modelId} reverted: Inference__FeeTooLow(${required}, 1)`,
        );
        expect(e.message).to.not.match(/0xf3080908/);
        expect(revertDataOf(e.cause)).to.equal(feeTooLowData(required, 1n));
      });

      it("a registry error on the way to a request: an unknown model is Registry__UnknownModel(modelId)", async function () {
        const unknown = id("no such model");
        const e = await errorOf(() =>
          requestInference(stack.precompile.connect(requester), unknown, input()),
        );
        expect(e).to.be.instanceOf(RevertError);
        expect((e as RevertError).revert.name).to.equal("Registry__UnknownModel");
        expect((e as RevertError).revert.args).to.deep.equal([unknown]);
        expect(e.message.split("\n")[0]).to.equal(
          `reading the fee of model ${unknown} reverted: Registry__UnknownModel(${unknown})`,
        );
      });

      it("an error bubbled up through a consumer (FraudGate), whose own ABI does not declare it", async function () {
        const { modelId } = stack.models.iris;
        const [owner] = await ethers.getSigners();
        const gate = await deployCore("FraudGate", owner, modelId);
        const required = await stack.registry.feeFor(modelId, 200_000); // FraudGate's hooks get 200k gas
        const payee = "0x00000000000000000000000000000000000000bb";
        const e = await errorOf(() => gate.getFunction("screen")(payee, input(), { value: 1n }));
        // the consumer's interface cannot name it: it is the precompile's error
        expect(gate.interface.parseError(revertDataOf(e)!)).to.equal(null);
        const explained = explainRevert(e, "screening");
        expect(explained).to.be.instanceOf(RevertError);
        expect((explained as RevertError).revert.args).to.deep.equal([required, 1n]);
        expect((explained as Error).message.split("\n")[0]).to.equal(
          `screening reverted: Inference__FeeTooLow(${required}, 1)`,
        );
      });

      it("a consumer base error: a hook called by anyone but the precompile is InferenceConsumer__OnlyInference(caller)", async function () {
        const [owner, stranger] = await ethers.getSigners();
        const gate = await deployCore("FraudGate", owner, stack.models.iris.modelId);
        const e = await errorOf(() =>
          (gate.connect(stranger) as Contract).getFunction("onInferenceFailed")(id("x"), 1),
        );
        expect(decodeRevert(e)?.text).to.equal(`InferenceConsumer__OnlyInference(${stranger.address})`);
      });

      it("leaves a revert with an unknown selector alone", async function () {
        const [owner] = await ethers.getSigners();
        const deploy = await owner.sendTransaction({ data: revertingContractCode(UNKNOWN_DATA) });
        const address = (await deploy.wait())!.contractAddress!;
        const e = await errorOf(() => owner.sendTransaction({ to: address, data: "0x" }));
        expect(revertDataOf(e)).to.equal(UNKNOWN_DATA);
        expect(decodeRevert(e)).to.equal(undefined);
        expect(explainRevert(e)).to.equal(e);
      });

      it("the node's own failures name the error: a signer that is no node cannot publish its policy (Inference__NotNode)", async function () {
        const stranger = (await ethers.getSigners())[4];
        const node = new InferenceNode({
          precompile: stack.precompile.connect(stranger),
          models: [{ modelId: stack.models.iris.modelId, artifacts: stack.models.iris.artifacts }],
          log: silentLogger,
        });
        const e = await errorOf(() => node.start());
        expect(e).to.be.instanceOf(ChainError);
        expect(e.message.split("\n")[0]).to.equal(
          `${stranger.address} could not publish its policy: the policy transaction reverted: Inference__NotNode(${stranger.address})`,
        );
        expect(e.cause).to.be.instanceOf(RevertError);
        await node.stop();
      });

      if (kind === "JSON-RPC")
        it("decodes ethers' own JSON-RPC errors (CALL_EXCEPTION, the data under info.error) of a plain JsonRpcProvider", async function () {
          const provider = new JsonRpcProvider(url, 31337, { staticNetwork: true });
          try {
            const { modelId } = stack.models.iris;
            // account #5 of the served chain, with its own key (not the node's accounts)
            const accounts = hre.config.networks.default.accounts as EdrNetworkHDAccountsConfig;
            const wallet = HDNodeWallet.fromPhrase(
              await accounts.mnemonic.get(),
              await accounts.passphrase.get(),
              `${accounts.path}/${accounts.initialIndex + 5}`,
            ).connect(provider);
            expect(wallet.address).to.equal((await ethers.getSigners())[5].address);
            const gate = await deployCore("FraudGate", (await ethers.getSigners())[0], modelId);
            const required = await stack.registry.feeFor(modelId, 200_000);
            const asWallet = new Contract(await gate.getAddress(), gate.interface, wallet);
            const e = await errorOf(() =>
              asWallet.getFunction("screen")(wallet.address, input(), { value: 2n }),
            );
            expect((e as { code?: string }).code).to.equal("CALL_EXCEPTION");
            expect(explainRevert(e, "screening")).to.be.instanceOf(RevertError);
            expect((explainRevert(e, "screening") as Error).message.split("\n")[0]).to.equal(
              `screening reverted: Inference__FeeTooLow(${required}, 2)`,
            );
            // and a precompile call straight from ethers' Contract, with the precompile's ABI
            const precompile = new Contract(
              INFERENCE_ADDRESS,
              coreArtifact("InferencePrecompile").abi as never,
              wallet,
            );
            const direct = await errorOf(() =>
              precompile.getFunction("request")(modelId, input(), 0, 0, 0, { value: 3n }),
            );
            expect(decodeRevert(direct)?.text).to.equal(
              `Inference__FeeTooLow(${await stack.registry.feeFor(modelId, 0)}, 3)`,
            );
          } finally {
            provider.destroy();
          }
        });
    });
  }
});
