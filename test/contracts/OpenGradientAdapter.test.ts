import { expect } from "chai";
import hre from "hardhat";
import {
  AbiCoder,
  Contract,
  Interface,
  ZeroHash,
  concat,
  getAddress,
  id as hashText,
  keccak256,
  toBeHex,
  toTwos,
} from "ethers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";

import { INFERENCE_ADDRESS } from "../../src/chain/install.js";
import { modelCid } from "../../src/pipe/cid.js";
import { SIM_SLOT as LIB_SIM_SLOT, callKeyOf as libCallKeyOf } from "../../src/pipe/simulate.js";
import type { ISyncInference } from "../../typechain-types/InferencePrecompile.js";
import type {
  IrisClassifierLegacyOG,
  IrisClassifierOG,
  OGRouter,
  OpenGradientAdapter,
  SyncConsumer,
} from "../../typechain-types/index.js";
import {
  ethers,
  FEE,
  Finality,
  networkHelpers,
  OUTPUT,
  PROOF,
  registerMockModel,
  runtimeCodeOf,
  sibylFixture,
  slashCompensation,
  slashReward,
  State,
} from "./fixtures.js";

/**
 * The OpenGradient adapter: contracts written for OpenGradient's precompile (both ABI
 * generations) call Sibyl's precompile at 0x…F4 through its fallback. These tests check the
 * conversions (decimal `Number`s to the model's fixed point, rounding half to even, and back),
 * the refusals, the modes (VANILLA → deferred, ZK → proof-carrying), name binding and the
 * simulated answer.
 *
 * The model is served by MockVerifier code, which checks no proof: these tests test the
 * adapter's conversions and the synchronous state machine, not proofs. Each conversion is
 * checked exactly by preparing a result bound to the fixed-point input worked out by hand here:
 * the call key binds the exact input, so the call is served only if the adapter produced it.
 */

const { loadFixture, time } = networkHelpers;
const abi = AbiCoder.defaultAbiCoder();

/** `ModelInferenceMode` */
const OGMode = { VANILLA: 0, ZK: 1, TEE: 2 } as const;

const SIM_SLOT = keccak256(Buffer.from("sibyl.pipe.simulation"));
const PREVIEW_SLOT = keccak256(Buffer.from("sibyl.pipe.preview"));
/** Any address serves as the simulator's: the simulation slot names it. */
const SIMULATOR = getAddress("0x0000000000000000000000000000000000005157");
const word = (v: bigint) => toBeHex(toTwos(v, 256), 32);

type StateOverrides = Record<string, { code?: string; stateDiff?: Record<string, string> }>;

/**
 * The two overrides of a simulation: the precompile's slot `1 | (legacy ? 2 : 0) | (SIMULATOR << 8)`
 * and the Simulator's runtime code at SIMULATOR, with `previews` (slot → word) in its storage.
 */
async function simulationOverrides(
  legacy = false,
  previews: Record<string, string> = {},
): Promise<StateOverrides> {
  const flags = 1n | (legacy ? 2n : 0n) | (BigInt(SIMULATOR) << 8n);
  return {
    [INFERENCE_ADDRESS]: { stateDiff: { [SIM_SLOT]: word(flags) } },
    [SIMULATOR]: {
      code: await runtimeCodeOf("contracts/pipe/Simulator.sol:Simulator"),
      stateDiff: previews,
    },
  };
}

/** The call key written out: keccak256(abi.encode(origin, consumer, modelId, finality, keccak256(input words))). */
function callKeyReference(
  origin: string,
  consumer: string,
  modelId: string,
  input: readonly bigint[],
  finality: number,
): string {
  const inputHash = keccak256(concat(input.map((v) => word(v))));
  return keccak256(
    abi.encode(
      ["address", "address", "bytes32", "uint8", "bytes32"],
      [origin, consumer, modelId, finality, inputHash],
    ),
  );
}
const FIVE_8 = 5n ** 8n; // 390,625: y · 2^-8 = y · 5^8 · 10^-8

type NumberT = { value: bigint; decimals: bigint };
type Tensor = { name: string; values: NumberT[]; shape: number[] };
type Request = {
  mode: number;
  modelCID: string;
  input: { numbers: Tensor[]; strings: { name: string; values: string[] }[] };
};

const num = (value: bigint, decimals: bigint): NumberT => ({ value, decimals });
const vector = (name: string, values: NumberT[]): Tensor => ({ name, values, shape: [values.length] });
const request = (modelCID: string, numbers: Tensor[], mode: number = OGMode.ZK): Request => ({
  mode,
  modelCID,
  input: { numbers, strings: [] },
});

const LLM_COMPLETION = {
  mode: 0,
  modelCID: "meta-llama/Llama-3",
  prompt: "hi",
  max_tokens: 10,
  stop_sequence: [],
  temperature: 0,
};

describe("OpenGradient adapter (MockVerifier: tests conversions and the state machine, not proofs)", function () {
  async function ogFixture() {
    const f = await loadFixture(sibylFixture);
    const { precompile, user, node, admin, registry, modelId } = f;
    const adapter = (await ethers.getContractAt(
      "OpenGradientAdapter",
      await precompile.adapter(),
    )) as unknown as OpenGradientAdapter;
    const currentAbi = (
      await hre.artifacts.readArtifact("contracts/opengradient/OGInference.sol:OGInference")
    ).abi;
    const legacyAbi = (
      await hre.artifacts.readArtifact("contracts/opengradient/legacy/OGInference.sol:OGInference")
    ).abi;
    /** The precompile in OpenGradient's ABI, current and legacy generation. */
    const og = (signer: HardhatEthersSigner = user) => new Contract(INFERENCE_ADDRESS, currentAbi, signer);
    const ogLegacy = (signer: HardhatEthersSigner = user) =>
      new Contract(INFERENCE_ADDRESS, legacyAbi, signer);
    const cid = modelCid(modelId);
    const byClass = await registerMockModel(registry, admin, { outputFracBits: 0 }, "classes");
    await (await precompile.connect(user).deposit(node.address, { value: 20n * FEE })).wait();

    let salt = 0n;
    /** Prepares one result for `consumer` (default: `user` calling directly) bound to `input`. */
    const prepareFor = async (
      input: readonly bigint[],
      opts: {
        consumer?: string;
        finality?: number;
        legacyLayout?: boolean;
        output?: readonly bigint[];
        modelId?: string;
      } = {},
    ) => {
      const item: ISyncInference.PreparationStruct = {
        origin: user.address,
        consumer: opts.consumer ?? user.address,
        modelId: opts.modelId ?? modelId,
        finality: opts.finality ?? Finality.ProofCarrying,
        legacyLayout: opts.legacyLayout ?? false,
        salt: toBeHex(++salt, 32),
        input: [...input],
        output: [...(opts.output ?? OUTPUT)],
        proof: [...PROOF],
        attestedAt: 0n,
        signature: "0x",
      };
      const [requestId] = await precompile.connect(node).prepare.staticCall([item]);
      await (await precompile.connect(node).prepare([item])).wait();
      return requestId;
    };
    const deployIris = async (modelCID: string, mode: number) =>
      (await ethers.deployContract("IrisClassifierOG", [modelCID, mode])) as unknown as IrisClassifierOG;
    const deployLegacyIris = async (modelCID: string, mode: number) =>
      (await ethers.deployContract("IrisClassifierLegacyOG", [
        modelCID,
        mode,
      ])) as unknown as IrisClassifierLegacyOG;
    return { ...f, adapter, og, ogLegacy, cid, byClass, prepareFor, deployIris, deployLegacyIris };
  }

  /** The current-layout ModelOutput a served call returns for `output` at scale `f`. */
  function expectOutput(result: unknown, output: readonly bigint[], f: bigint, simulated = false) {
    // Positional access: a Result's `values` key is shadowed by Array.prototype.values.
    const r = result as {
      numbers: [string, [bigint, bigint][], bigint[]][];
      strings: unknown[];
      jsons?: unknown[];
      is_simulation_result: boolean;
    };
    expect(r.is_simulation_result).to.equal(simulated);
    expect(r.strings.length).to.equal(0);
    if (r.jsons) expect(r.jsons.length).to.equal(0);
    expect(r.numbers.length).to.equal(1);
    const [name, values, shape] = r.numbers[0];
    expect(name).to.equal("output");
    expect([...shape]).to.deep.equal([BigInt(output.length)]);
    expect([...values].map(([value, decimals]) => [value, decimals])).to.deep.equal(
      output.map((y) => [y * 5n ** f, f]),
    );
  }

  describe("input conversion: value · 10^-decimals → round_half_even(value · 2^8 / 10^decimals)", function () {
    // Every expected fixed-point value is worked out by hand (fracBits 8, inputBits 24).
    const groups: { what: string; numbers: NumberT[]; fixed: bigint[] }[] = [
      {
        what: "plain values: 1.5, 0.256, 0.5, 123.45",
        numbers: [num(15n, 1n), num(1n, 3n), num(5n, 1n), num(12345n, 2n)],
        fixed: [384n, 0n, 128n, 31603n], // 384, 0.256 → 0, 128, 31603.2 → 31603
      },
      {
        what: "exact ties round to even: 0.5 → 0, 1.5 → 2, 2.5 → 2, 3.5 → 4",
        // 1953125 · 256 / 10^9 = 0.5 exactly, and odd multiples of it
        numbers: [num(1953125n, 9n), num(5859375n, 9n), num(9765625n, 9n), num(13671875n, 9n)],
        fixed: [0n, 2n, 2n, 4n],
      },
      {
        what: "negative ties are symmetric: -0.5 → 0, -1.5 → -2, -2.5 → -2, -3.5 → -4",
        numbers: [num(-1953125n, 9n), num(-5859375n, 9n), num(-9765625n, 9n), num(-13671875n, 9n)],
        fixed: [0n, -2n, -2n, -4n],
      },
      {
        what: "just off a tie rounds to nearest: 0.500000256 → 1, 0.499999744 → 0, -0.500000256 → -1, -0.499999744 → 0",
        numbers: [num(1953126n, 9n), num(1953124n, 9n), num(-1953126n, 9n), num(-1953124n, 9n)],
        fixed: [1n, 0n, -1n, 0n],
      },
      {
        what: "negative decimals multiply: 3·10^2, -7·10^1, 0·10^76, and decimals 76",
        numbers: [num(3n, -2n), num(-7n, -1n), num(0n, -76n), num(10n ** 38n, 76n)],
        fixed: [76800n, -17920n, 0n, 0n], // 10^38 · 256 / 10^76 ≈ 2.6e-36 → 0
      },
      {
        what: "the ends of the signed 24-bit input range: -32768 and 32767.99609375",
        numbers: [num(-32768n, 0n), num(3276799609375n, 8n), num(0n, 0n), num(-1n, 0n)],
        fixed: [-8388608n, 8388607n, 0n, -256n],
      },
    ];
    for (const { what, numbers, fixed } of groups) {
      it(what, async function () {
        const { og, cid, prepareFor } = await loadFixture(ogFixture);
        const req = request(cid, [vector("input", numbers)]);
        // Not prepared for this input yet: NotPrepared (so a wrong conversion could not pass silently).
        await expect(og().runModelInference.staticCall(req)).to.be.revert(ethers);
        await prepareFor(fixed);
        expectOutput(await og().runModelInference.staticCall(req), OUTPUT, 8n);
      });
    }

    it("flattens several tensors in order, any shape whose product is the value count", async function () {
      const { og, cid, prepareFor } = await loadFixture(ogFixture);
      const a: Tensor = { name: "a", values: [num(1n, 0n), num(-1n, 0n)], shape: [2] };
      const b: Tensor = { name: "b", values: [num(2n, 0n), num(3n, 0n)], shape: [1, 2] };
      await prepareFor([256n, -256n, 512n, 768n]);
      expectOutput(await og().runModelInference.staticCall(request(cid, [a, b])), OUTPUT, 8n);
      // The other order is another input: not prepared.
      await expect(og().runModelInference.staticCall(request(cid, [b, a]))).to.be.revert(ethers);
    });
  });

  describe("refusals", function () {
    it("decimals beyond ±76 or an overflowing product revert OpenGradient__NotRepresentable", async function () {
      const { og, cid, adapter } = await loadFixture(ogFixture);
      const base = [num(1n, 0n), num(1n, 0n), num(1n, 0n)];
      for (const [bad, index] of [
        [num(1n, 77n), 3],
        [num(1n, -77n), 3],
        [num(1n, -76n), 3], // 256 · 10^76 > 2^255
      ] as const) {
        const values = [...base];
        values.splice(index, 0, bad);
        await expect(og().runModelInference.staticCall(request(cid, [vector("x", values)])))
          .to.be.revertedWithCustomError(adapter, "OpenGradient__NotRepresentable")
          .withArgs("x", index, bad.value, bad.decimals);
      }
    });

    it("a value outside the model's inputBits range reverts OpenGradient__InputOutOfRange, naming the tensor and index", async function () {
      const { og, cid, adapter } = await loadFixture(ogFixture);
      const values = [num(0n, 0n), num(0n, 0n), num(32768n, 0n), num(0n, 0n)];
      await expect(og().runModelInference.staticCall(request(cid, [vector("feat", values)])))
        .to.be.revertedWithCustomError(adapter, "OpenGradient__InputOutOfRange")
        .withArgs("feat", 2, 8388608n, 24);
      // In a second tensor the index is within that tensor.
      const first: Tensor = vector("a", [num(0n, 0n), num(0n, 0n)]);
      const second: Tensor = vector("b", [num(0n, 0n), num(-327681n, 1n)]); // -32768.1 → -8388634
      await expect(og().runModelInference.staticCall(request(cid, [first, second])))
        .to.be.revertedWithCustomError(adapter, "OpenGradient__InputOutOfRange")
        .withArgs("b", 1, -8388634n, 24);
      // Rounding comes first: 32767.998046875 · 2^8 = 8388607.5 ties to the even 8388608, out of range.
      const tie = [num(0n, 0n), num(32767998046875n, 9n), num(0n, 0n), num(0n, 0n)];
      await expect(og().runModelInference.staticCall(request(cid, [vector("t", tie)])))
        .to.be.revertedWithCustomError(adapter, "OpenGradient__InputOutOfRange")
        .withArgs("t", 1, 8388608n, 24);
    });

    it("a shape whose product is not the number of values reverts OpenGradient__ShapeMismatch", async function () {
      const { og, cid, adapter } = await loadFixture(ogFixture);
      const values = [num(1n, 0n), num(2n, 0n), num(3n, 0n), num(4n, 0n)];
      await expect(og().runModelInference.staticCall(request(cid, [{ name: "m", values, shape: [5] }])))
        .to.be.revertedWithCustomError(adapter, "OpenGradient__ShapeMismatch")
        .withArgs("m", 5, 4);
      await expect(og().runModelInference.staticCall(request(cid, [{ name: "m", values, shape: [2, 3] }])))
        .to.be.revertedWithCustomError(adapter, "OpenGradient__ShapeMismatch")
        .withArgs("m", 6, 4);
    });

    it("a total other than the model's input length reverts OpenGradient__WrongInputLength", async function () {
      const { og, cid, adapter } = await loadFixture(ogFixture);
      const three = vector("x", [num(1n, 0n), num(2n, 0n), num(3n, 0n)]);
      await expect(og().runModelInference.staticCall(request(cid, [three])))
        .to.be.revertedWithCustomError(adapter, "OpenGradient__WrongInputLength")
        .withArgs(4, 3);
      await expect(og().runModelInference.staticCall(request(cid, [three, three])))
        .to.be.revertedWithCustomError(adapter, "OpenGradient__WrongInputLength")
        .withArgs(4, 6);
      await expect(og().runModelInference.staticCall(request(cid, [])))
        .to.be.revertedWithCustomError(adapter, "OpenGradient__WrongInputLength")
        .withArgs(4, 0);
    });

    it("a string tensor reverts OpenGradient__StringInputNotServed", async function () {
      const { og, cid, adapter } = await loadFixture(ogFixture);
      const req = request(cid, [vector("x", [num(1n, 0n), num(2n, 0n), num(3n, 0n), num(4n, 0n)])]);
      req.input.strings = [{ name: "words", values: ["a"] }];
      await expect(og().runModelInference.staticCall(req))
        .to.be.revertedWithCustomError(adapter, "OpenGradient__StringInputNotServed")
        .withArgs("words");
    });

    it("an unknown modelCID reverts OpenGradient__UnknownModelCID", async function () {
      const { og, cid, adapter } = await loadFixture(ogFixture);
      const four = [vector("x", [num(1n, 0n), num(2n, 0n), num(3n, 0n), num(4n, 0n)])];
      for (const name of [
        "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
        "",
        cid.toUpperCase(),
        cid.slice(0, -1),
      ]) {
        await expect(og().runModelInference.staticCall(request(name, four)))
          .to.be.revertedWithCustomError(adapter, "OpenGradient__UnknownModelCID")
          .withArgs(name);
      }
    });

    it("the CID of a model nobody registered reverts OpenGradient__UnknownModelCID", async function () {
      const { og, adapter } = await loadFixture(ogFixture);
      const unregistered = keccak256("0xdead");
      const four = [vector("x", [num(1n, 0n), num(2n, 0n), num(3n, 0n), num(4n, 0n)])];
      // A well-formed CID decodes to a model id, which the adapter checks is registered and active.
      const cid = modelCid(unregistered);
      await expect(og().runModelInference.staticCall(request(cid, four)))
        .to.be.revertedWithCustomError(adapter, "OpenGradient__UnknownModelCID")
        .withArgs(cid);
    });

    it("the CID (or a bound name) of a deactivated model reverts OpenGradient__UnknownModelCID", async function () {
      const { og, adapter, registry, admin, cid, modelId, prepareFor } = await loadFixture(ogFixture);
      const four = [vector("x", [num(1n, 0n), num(0n, 0n), num(0n, 0n), num(0n, 0n)])];
      await (await registry.connect(admin).bindName("iris", modelId)).wait();
      await prepareFor([256n, 0n, 0n, 0n]);
      // Served while active, by CID and by name.
      await og().runModelInference.staticCall(request(cid, four));
      await og().runModelInference.staticCall(request("iris", four));
      await (await registry.connect(admin).deactivate(modelId)).wait();
      for (const name of [cid, "iris"]) {
        await expect(og().runModelInference.staticCall(request(name, four)))
          .to.be.revertedWithCustomError(adapter, "OpenGradient__UnknownModelCID")
          .withArgs(name);
      }
    });

    it("TEE (2) asks for an attested result: a proof-carrying one prepared for the same input does not serve it", async function () {
      const { og, cid, precompile, prepareFor } = await loadFixture(ogFixture);
      const four = [vector("x", [num(1n, 0n), num(2n, 0n), num(3n, 0n), num(4n, 0n)])];
      await prepareFor([256n, 512n, 768n, 1024n]); // ZK's finality
      await expect(
        og().runModelInference.staticCall(request(cid, four, OGMode.TEE)),
      ).to.be.revertedWithCustomError(precompile, "Inference__NotPrepared");
      await og().runModelInference.staticCall(request(cid, four, OGMode.ZK));
    });

    it("every LLM function reverts OpenGradient__LLMNotServed(selector)", async function () {
      const { og, ogLegacy, adapter } = await loadFixture(ogFixture);
      const current = og();
      const completion = current.interface.getFunction("runLLMCompletion")!.selector;
      await expect(current.runLLMCompletion.staticCall(LLM_COMPLETION))
        .to.be.revertedWithCustomError(adapter, "OpenGradient__LLMNotServed")
        .withArgs(completion);
      const chat = current.interface.getFunction("runLLMChat")!.selector;
      await expect(
        current.runLLMChat.staticCall({
          mode: 0,
          modelCID: "m",
          messages: [{ role: "user", content: "hi", name: "", tool_call_id: "", tool_calls: [] }],
          tools: [],
          tool_choice: "",
          max_tokens: 10,
          stop_sequence: [],
          temperature: 0,
        }),
      )
        .to.be.revertedWithCustomError(adapter, "OpenGradient__LLMNotServed")
        .withArgs(chat);
      const legacy = ogLegacy();
      const inference = legacy.interface.getFunction("runLLMInference")!.selector;
      await expect(legacy.runLLMInference.staticCall(LLM_COMPLETION))
        .to.be.revertedWithCustomError(adapter, "OpenGradient__LLMNotServed")
        .withArgs(inference);
      // The selectors are the canonical ones.
      expect(completion).to.equal(
        hashText("runLLMCompletion((uint8,string,string,uint32,string[],uint32))").slice(0, 10),
      );
      expect(inference).to.equal(
        hashText("runLLMInference((uint8,string,string,uint32,string[],uint32))").slice(0, 10),
      );
      // Also as a mined transaction.
      await expect(current.runLLMCompletion(LLM_COMPLETION))
        .to.be.revertedWithCustomError(adapter, "OpenGradient__LLMNotServed")
        .withArgs(completion);
    });

    it("any other selector reverts OpenGradient__UnknownFunction", async function () {
      const { user, adapter } = await loadFixture(ogFixture);
      await expect(user.sendTransaction({ to: INFERENCE_ADDRESS, data: "0xdeadbeef" }))
        .to.be.revertedWithCustomError(adapter, "OpenGradient__UnknownFunction")
        .withArgs("0xdeadbeef");
    });

    it("the adapter refuses calls that do not come through a precompile naming it: OpenGradient__NotThroughPrecompile", async function () {
      const { user, adapter, cid, prepareFor, og } = await loadFixture(ogFixture);
      const four = [vector("x", [num(1n, 0n), num(0n, 0n), num(0n, 0n), num(0n, 0n)])];
      // Even with a result prepared for exactly this call, so only the refusal can stop it.
      await prepareFor([256n, 0n, 0n, 0n]);
      const adapterAddress = await adapter.getAddress();
      const calldata = adapter.interface.encodeFunctionData("runModelInference", [request(cid, four)]);
      // From an EOA, with or without a caller appended.
      await expect(adapter.connect(user).runModelInference(request(cid, four)))
        .to.be.revertedWithCustomError(adapter, "OpenGradient__NotThroughPrecompile")
        .withArgs();
      await expect(user.sendTransaction({ to: adapterAddress, data: concat([calldata, user.address]) }))
        .to.be.revertedWithCustomError(adapter, "OpenGradient__NotThroughPrecompile")
        .withArgs();
      // From a contract that is not a precompile (its `adapter()` reverts), with a caller appended.
      const forwarder = (await ethers.deployContract("SyncConsumer")) as unknown as SyncConsumer;
      const appended = concat([calldata, user.address]);
      await expect(forwarder.connect(user).forward(adapterAddress, appended))
        .to.be.revertedWithCustomError(adapter, "OpenGradient__NotThroughPrecompile")
        .withArgs();
      // From a contract whose `adapter()` names another address.
      for (const other of [await forwarder.getAddress(), INFERENCE_ADDRESS]) {
        await (await forwarder.setNamedAdapter(other)).wait();
        await expect(forwarder.connect(user).forward(adapterAddress, appended))
          .to.be.revertedWithCustomError(adapter, "OpenGradient__NotThroughPrecompile")
          .withArgs();
      }
      // Through the precompile the same call is served.
      expectOutput(await og().runModelInference.staticCall(request(cid, four)), OUTPUT, 8n);
    });
  });

  describe("outputs and modes", function () {
    it("outputs come back as value = y·5^f, decimals = f (f = outputFracBits = 8)", async function () {
      const { og, cid, prepareFor } = await loadFixture(ogFixture);
      const output = [-3n, 1_000n, -8_388_608n];
      await prepareFor([256n, 0n, 0n, 0n], { output });
      const result = await og().runModelInference.staticCall(
        request(cid, [vector("x", [num(1n, 0n), num(0n, 0n), num(0n, 0n), num(0n, 0n)])]),
      );
      expectOutput(result, output, 8n);
      expect(result.numbers[0][1][2][0]).to.equal(-8_388_608n * FIVE_8);
    });

    it("a model registered with outputFracBits 0 answers with decimals 0", async function () {
      const { og, byClass, prepareFor } = await loadFixture(ogFixture);
      const output = [2n, 0n, -1n];
      await prepareFor([256n, 0n, 0n, 0n], { output, modelId: byClass.modelId });
      const req = request(modelCid(byClass.modelId), [
        vector("x", [num(1n, 0n), num(0n, 0n), num(0n, 0n), num(0n, 0n)]),
      ]);
      expectOutput(await og().runModelInference.staticCall(req), output, 0n);
    });

    it("an output beyond int128 at its decimal scale reverts OpenGradient__OutputNotRepresentable", async function () {
      const { og, registry, admin, prepareFor, adapter } = await loadFixture(ogFixture);
      // outputFracBits 54: 5^54 ≈ 5.55e37, so |y| ≤ 3 fits int128 (≈ 1.70e38) and 4 does not.
      const fine = await registerMockModel(
        registry,
        admin,
        { fracBits: 60, valueBits: 100, inputBits: 100, outputFracBits: 54 },
        "fine",
      );
      const req = request(modelCid(fine.modelId), [
        vector("x", [num(1n, 0n), num(0n, 0n), num(0n, 0n), num(0n, 0n)]),
      ]);
      const one = 1n << 60n;
      await prepareFor([one, 0n, 0n, 0n], { modelId: fine.modelId, output: [3n, -3n, 0n] });
      expectOutput(await og().runModelInference.staticCall(req), [3n, -3n, 0n], 54n);
      await prepareFor([one, 0n, 0n, 0n], { modelId: fine.modelId, output: [4n, 0n, 0n] });
      await (await og().runModelInference(req)).wait(); // consumes the first preparation
      await expect(og().runModelInference.staticCall(req))
        .to.be.revertedWithCustomError(adapter, "OpenGradient__OutputNotRepresentable")
        .withArgs(0, 4n, 54);
    });

    it("VANILLA is a deferred result: the request is Answered, the stake locked", async function () {
      const { og, cid, prepareFor, precompile, user, node } = await loadFixture(ogFixture);
      const id = await prepareFor([256n, 0n, 0n, 0n], { finality: Finality.Deferred });
      const req = request(
        cid,
        [vector("x", [num(1n, 0n), num(0n, 0n), num(0n, 0n), num(0n, 0n)])],
        OGMode.VANILLA,
      );
      await expect(og().runModelInference(req))
        .to.emit(precompile, "SyncInferenceConsumed")
        .withArgs(id, user.address, user.address, Finality.Deferred);
      expect(await precompile.stateOf(id)).to.equal(State.Answered);
      expect(await precompile.outstandingOf(node.address)).to.be.greaterThan(0n);
      // A ZK call with the same input is another call key.
      await expect(
        og().runModelInference.staticCall({ ...req, mode: OGMode.ZK }),
      ).to.be.revertedWithCustomError(precompile, "Inference__NotPrepared");
    });

    it("ZK is a proof-carrying result: Settled in the call", async function () {
      const { og, cid, prepareFor, precompile, node, user } = await loadFixture(ogFixture);
      const id = await prepareFor([256n, 0n, 0n, 0n]);
      const req = request(
        cid,
        [vector("x", [num(1n, 0n), num(0n, 0n), num(0n, 0n), num(0n, 0n)])],
        OGMode.ZK,
      );
      await expect(og().runModelInference(req))
        .to.emit(precompile, "InferenceSettled")
        .withArgs(id, node.address, user.address, true);
      expect(await precompile.stateOf(id)).to.equal(State.Settled);
      expect(await precompile.pendingWithdrawal(node.address)).to.equal(FEE);
    });
  });

  describe("OpenGradient-style consumers", function () {
    // IrisClassifier's [5.1, 3.5, 1.4, 0.2] cm at decimals 1: 1305.6 → 1306, 896, 358.4 → 358, 51.2 → 51.
    const CM: [bigint, bigint, bigint, bigint] = [51n, 35n, 14n, 2n];
    const FIXED = [1306n, 896n, 358n, 51n];
    const SPECIES = [2n, 0n, -1n];

    it("a current-generation consumer (VANILLA) gets its number: species 2 as 2·5^8 with 8 decimals", async function () {
      const { cid, deployIris, prepareFor, precompile, user } = await loadFixture(ogFixture);
      const iris = await deployIris(cid, OGMode.VANILLA);
      const irisAddress = await iris.getAddress();
      const id = await prepareFor(FIXED, {
        consumer: irisAddress,
        finality: Finality.Deferred,
        output: SPECIES,
      });
      const tx = iris.connect(user).classify([...CM], 1n);
      await expect(tx)
        .to.emit(iris, "Classified")
        .withArgs(user.address, 2n * FIVE_8, 8n);
      await expect(tx)
        .to.emit(precompile, "SyncInferenceConsumed")
        .withArgs(id, irisAddress, user.address, Finality.Deferred);
      expect(await iris.lastSpecies()).to.equal(2n * FIVE_8);
      expect(await iris.lastDecimals()).to.equal(8n);
      expect(await iris.classifications()).to.equal(1n);
      expect(await precompile.stateOf(id)).to.equal(State.Answered);
    });

    it("the request's consumer is the classifier contract: a slash of its deferred result compensates the classifier", async function () {
      const { cid, deployIris, prepareFor, precompile, user, node, stranger } = await loadFixture(ogFixture);
      const iris = await deployIris(cid, OGMode.VANILLA);
      const irisAddress = await iris.getAddress();
      const id = await prepareFor(FIXED, {
        consumer: irisAddress,
        finality: Finality.Deferred,
        output: SPECIES,
      });
      const request_ = await precompile.getRequest(id);
      expect(request_.consumer).to.equal(irisAddress);
      expect(await precompile.originOf(id)).to.equal(user.address);
      const stake = request_.stake;
      expect(stake).to.be.greaterThan(0n);
      await (await iris.connect(user).classify([...CM], 1n)).wait();
      await time.setNextBlockTimestamp((await precompile.settlementDeadline(id)) + 1n);
      await expect(precompile.connect(stranger).slash(id))
        .to.emit(precompile, "InferenceSlashed")
        .withArgs(
          id,
          node.address,
          stranger.address,
          slashCompensation(stake),
          slashReward(stake),
          FEE,
          true,
        );
      expect(await precompile.stateOf(id)).to.equal(State.Slashed);
      expect(await precompile.pendingWithdrawal(irisAddress)).to.equal(slashCompensation(stake) + FEE);
      expect(await precompile.pendingWithdrawal(user.address)).to.equal(0n);
    });

    it("a current-generation consumer (ZK) is settled in the call; through a router, the classifier is still the consumer", async function () {
      const { cid, deployIris, prepareFor, precompile, user } = await loadFixture(ogFixture);
      const iris = await deployIris(cid, OGMode.ZK);
      const irisAddress = await iris.getAddress();
      const router = (await ethers.deployContract("OGRouter")) as unknown as OGRouter;
      const id = await prepareFor(FIXED, { consumer: irisAddress, output: SPECIES });
      await expect(router.connect(user).classify(irisAddress, [...CM], 1n))
        .to.emit(router, "Routed")
        .withArgs(irisAddress, 2n * FIVE_8);
      expect(await precompile.stateOf(id)).to.equal(State.Settled);
    });

    it("classifyTwice needs one prepared result per inference", async function () {
      const { cid, deployIris, prepareFor, user, precompile } = await loadFixture(ogFixture);
      const iris = await deployIris(cid, OGMode.ZK);
      const irisAddress = await iris.getAddress();
      const other = [10n, 20n, 30n, 40n] as [bigint, bigint, bigint, bigint]; // 1.0, 2.0, 3.0, 4.0 → 256, 512, 768, 1024
      await prepareFor(FIXED, { consumer: irisAddress, output: SPECIES });
      await expect(iris.connect(user).classifyTwice([...CM], [...other], 1n)).to.be.revertedWithCustomError(
        precompile,
        "Inference__NotPrepared",
      );
      await prepareFor([256n, 512n, 768n, 1024n], { consumer: irisAddress, output: [1n, 0n, 0n] });
      expect(await iris.connect(user).classifyTwice.staticCall([...CM], [...other], 1n)).to.deep.equal([
        2n * FIVE_8,
        FIVE_8,
      ]);
    });

    it("a legacy consumer gets the earlier layout when prepared with legacyLayout", async function () {
      const { cid, deployLegacyIris, prepareFor, user, precompile } = await loadFixture(ogFixture);
      const iris = await deployLegacyIris(cid, OGMode.ZK);
      const irisAddress = await iris.getAddress();
      const id = await prepareFor(FIXED, { consumer: irisAddress, legacyLayout: true, output: SPECIES });
      await expect(iris.connect(user).classify([...CM], 1n))
        .to.emit(iris, "Classified")
        .withArgs(user.address, 2n * FIVE_8, 8n);
      expect(await iris.lastSpecies()).to.equal(2n * FIVE_8);
      expect(await precompile.stateOf(id)).to.equal(State.Settled);
    });

    it("the wrong layout makes the consumer's call revert (both ways)", async function () {
      const { cid, deployIris, deployLegacyIris, prepareFor, user, precompile } =
        await loadFixture(ogFixture);
      const current = await deployIris(cid, OGMode.ZK);
      const legacy = await deployLegacyIris(cid, OGMode.ZK);
      const currentId = await prepareFor(FIXED, {
        consumer: await current.getAddress(),
        legacyLayout: true,
        output: SPECIES,
      });
      const legacyId = await prepareFor(FIXED, {
        consumer: await legacy.getAddress(),
        legacyLayout: false,
        output: SPECIES,
      });
      await expect(current.connect(user).classify([...CM], 1n)).to.be.revert(ethers);
      await expect(legacy.connect(user).classify([...CM], 1n)).to.be.revert(ethers);
      expect(await precompile.stateOf(currentId)).to.equal(State.Prepared);
      expect(await precompile.stateOf(legacyId)).to.equal(State.Prepared);
    });

    it("without a prepared result the consumer's transaction reverts Inference__NotPrepared", async function () {
      const { cid, deployIris, user, precompile, modelId } = await loadFixture(ogFixture);
      const iris = await deployIris(cid, OGMode.VANILLA);
      const irisAddress = await iris.getAddress();
      const key = await precompile.callKeyOf(user.address, irisAddress, modelId, FIXED, Finality.Deferred);
      await expect(iris.connect(user).classify([...CM], 1n))
        .to.be.revertedWithCustomError(precompile, "Inference__NotPrepared")
        .withArgs(key, user.address, irisAddress, modelId);
    });
  });

  describe("name binding", function () {
    it("the model's owner binds a name; the name then resolves for a consumer that hard-codes it", async function () {
      const { registry, admin, modelId, deployIris, prepareFor, user } = await loadFixture(ogFixture);
      const name = "QmIrisOnOpenGradient";
      expect(await registry.modelIdOfName(name)).to.equal(ZeroHash);
      await expect(registry.connect(admin).bindName(name, modelId))
        .to.emit(registry, "NameBound")
        .withArgs(hashText(name), modelId, admin.address, name);
      expect(await registry.modelIdOfName(name)).to.equal(modelId);
      const iris = await deployIris(name, OGMode.ZK);
      await prepareFor([1306n, 896n, 358n, 51n], { consumer: await iris.getAddress(), output: [1n, 0n, 0n] });
      await (await iris.connect(user).classify([51n, 35n, 14n, 2n], 1n)).wait();
      expect(await iris.lastSpecies()).to.equal(FIVE_8);
      // A second name for the same model is fine.
      await (await registry.connect(admin).bindName("iris", modelId)).wait();
      expect(await registry.modelIdOfName("iris")).to.equal(modelId);
    });

    it("by anyone but the owner reverts Registry__NotOwner; an unknown model Registry__UnknownModel", async function () {
      const { registry, stranger, modelId } = await loadFixture(ogFixture);
      await expect(registry.connect(stranger).bindName("mine", modelId))
        .to.be.revertedWithCustomError(registry, "Registry__NotOwner")
        .withArgs(modelId, stranger.address);
      const unknown = keccak256("0x01");
      await expect(registry.connect(stranger).bindName("mine", unknown))
        .to.be.revertedWithCustomError(registry, "Registry__UnknownModel")
        .withArgs(unknown);
    });

    it("a name binds once, for good: binding it again (to any model) reverts Registry__NameNotBindable", async function () {
      const { registry, admin, modelId, byClass } = await loadFixture(ogFixture);
      await (await registry.connect(admin).bindName("iris", modelId)).wait();
      for (const target of [modelId, byClass.modelId]) {
        await expect(registry.connect(admin).bindName("iris", target))
          .to.be.revertedWithCustomError(registry, "Registry__NameNotBindable")
          .withArgs("iris", modelId);
      }
      expect(await registry.modelIdOfName("iris")).to.equal(modelId);
    });

    it("a CID-shaped, empty or over-long name reverts Registry__NameNotBindable", async function () {
      const { registry, admin, modelId, byClass } = await loadFixture(ogFixture);
      for (const name of [modelCid(byClass.modelId), modelCid(modelId), "", "x".repeat(129)]) {
        await expect(registry.connect(admin).bindName(name, modelId))
          .to.be.revertedWithCustomError(registry, "Registry__NameNotBindable")
          .withArgs(name, ZeroHash);
      }
      await (await registry.connect(admin).bindName("x".repeat(128), modelId)).wait();
    });
  });

  describe("simulation (eth_call overriding the simulation slot and placing the Simulator)", function () {
    const INPUT_ONE = [vector("x", [num(1n, 0n), num(0n, 0n), num(0n, 0n), num(0n, 0n)])];

    async function simulatedCall(
      contract: Contract,
      fn: string,
      args: unknown[],
      from: string,
      overrides: StateOverrides,
    ) {
      const data = contract.interface.encodeFunctionData(fn, args);
      const raw = (await ethers.provider.send("eth_call", [
        { from, to: await contract.getAddress(), data },
        "latest",
        overrides,
      ])) as string;
      return contract.interface.decodeFunctionResult(fn, raw)[0];
    }

    it("a current consumer's call gets is_simulation_result = true and no numbers", async function () {
      const { og, cid, user } = await loadFixture(ogFixture);
      const result = await simulatedCall(
        og(),
        "runModelInference",
        [request(cid, INPUT_ONE)],
        user.address,
        await simulationOverrides(),
      );
      expect(result.is_simulation_result).to.equal(true);
      expect(result.numbers.length).to.equal(0);
      expect(result.strings.length).to.equal(0);
      expect(result.jsons.length).to.equal(0);
    });

    it("with the legacy bit, the answer is in the earlier layout", async function () {
      const { ogLegacy, cid, user } = await loadFixture(ogFixture);
      const contract = ogLegacy();
      const data = contract.interface.encodeFunctionData("runModelInference", [request(cid, INPUT_ONE)]);
      const raw = (await ethers.provider.send("eth_call", [
        { from: user.address, to: INFERENCE_ADDRESS, data },
        "latest",
        await simulationOverrides(true),
      ])) as string;
      const [numbers, strings, simulated] = abi.decode(
        ["tuple(string,tuple(int128,int128)[],uint32[])[]", "tuple(string,string[])[]", "bool"],
        "0x" + raw.slice(66), // skip the outer tuple's offset
      );
      expect(simulated).to.equal(true);
      expect(numbers.length).to.equal(0);
      expect(strings.length).to.equal(0);
      expect((raw.length - 2) / 2).to.equal(32 * 6); // offset, 3 head words, 2 empty array lengths
    });

    it("a preview stored in the simulator's storage is returned as a real answer (is_simulation_result false)", async function () {
      const { og, cid, user, precompile, modelId } = await loadFixture(ogFixture);
      const fixed = [256n, 0n, 0n, 0n];
      // The adapter's call: origin and consumer are `user` (calling the precompile directly).
      const callKey = callKeyReference(user.address, user.address, modelId, fixed, Finality.ProofCarrying);
      expect(
        await precompile.callKeyOf(user.address, user.address, modelId, fixed, Finality.ProofCarrying),
      ).to.equal(callKey);
      expect(libCallKeyOf(user.address, user.address, modelId, fixed, Finality.ProofCarrying)).to.equal(
        callKey,
      );
      const base = BigInt(
        keccak256(abi.encode(["bytes32", "uint256", "bytes32"], [callKey, 0n, PREVIEW_SLOT])),
      );
      const previews: Record<string, string> = { [toBeHex(base, 32)]: word(3n) };
      OUTPUT.forEach((v, i) => (previews[toBeHex(base + 1n + BigInt(i), 32)] = word(v)));
      const result = await simulatedCall(
        og(),
        "runModelInference",
        [request(cid, INPUT_ONE)],
        user.address,
        await simulationOverrides(false, previews),
      );
      expectOutput(result, OUTPUT, 8n);
      // The same preview under a VANILLA call is another key: a simulated answer.
      const vanilla = await simulatedCall(
        og(),
        "runModelInference",
        [request(cid, INPUT_ONE, OGMode.VANILLA)],
        user.address,
        await simulationOverrides(false, previews),
      );
      expect(vanilla.is_simulation_result).to.equal(true);
      expect(vanilla.numbers.length).to.equal(0);
    });

    it("an unknown model CID is refused while simulating too", async function () {
      const { og, adapter, user } = await loadFixture(ogFixture);
      const cid = modelCid(keccak256("0xdead"));
      await expect(
        ethers.provider.send("eth_call", [
          {
            from: user.address,
            to: INFERENCE_ADDRESS,
            data: og().interface.encodeFunctionData("runModelInference", [request(cid, INPUT_ONE)]),
          },
          "latest",
          await simulationOverrides(),
        ]),
      ).to.be.revertedWithCustomError(adapter, "OpenGradient__UnknownModelCID");
    });

    it("the Iris consumer returns 0 while simulated, and reverts NotPrepared without the overrides", async function () {
      const { cid, deployIris, user, precompile } = await loadFixture(ogFixture);
      const iris = await deployIris(cid, OGMode.VANILLA);
      const species = await simulatedCall(
        iris as unknown as Contract,
        "classify",
        [[51n, 35n, 14n, 2n], 1n],
        user.address,
        await simulationOverrides(),
      );
      expect(species).to.equal(0n);
      await expect(
        iris.connect(user).classify.staticCall([51n, 35n, 14n, 2n], 1n),
      ).to.be.revertedWithCustomError(precompile, "Inference__NotPrepared");
      // The slot alone, without the simulator's code, does not simulate.
      const slotOnly = await simulationOverrides();
      delete slotOnly[SIMULATOR].code;
      let reverted = false;
      try {
        await simulatedCall(
          iris as unknown as Contract,
          "classify",
          [[51n, 35n, 14n, 2n], 1n],
          user.address,
          slotOnly,
        );
      } catch {
        reverted = true;
      }
      expect(reverted).to.equal(true);
      expect(LIB_SIM_SLOT).to.equal(SIM_SLOT);
      expect(await ethers.provider.getCode(SIMULATOR)).to.equal("0x");
    });
  });

  it("the adapter's ABI lists its errors (so tools decode them)", async function () {
    const { adapter } = await loadFixture(ogFixture);
    const iface = adapter.interface as unknown as Interface;
    for (const name of [
      "OpenGradient__LLMNotServed",
      "OpenGradient__UnknownModelCID",
      "OpenGradient__ShapeMismatch",
      "OpenGradient__WrongInputLength",
      "OpenGradient__StringInputNotServed",
      "OpenGradient__NotRepresentable",
      "OpenGradient__InputOutOfRange",
      "OpenGradient__OutputNotRepresentable",
      "OpenGradient__NotThroughPrecompile",
    ])
      expect(iface.getError(name), name).to.not.equal(null);
  });
});
