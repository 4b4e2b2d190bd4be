import { expect } from "chai";
import hre from "hardhat";
import { Interface, id } from "ethers";

/**
 * The OpenGradient interfaces must reproduce OpenGradient's ABI exactly: a contract compiled
 * against them calls the same selectors and lays out the same tuples as one compiled against
 * OpenGradient's own files. The selectors are recomputed here from canonical signatures written
 * out by hand, not read back from the compiler.
 */

const NUMBER = "(int128,int128)";
const NUMBER_TENSOR = `(string,${NUMBER}[],uint32[])`;
const STRING_TENSOR = "(string,string[])";
const MODEL_REQUEST = `(uint8,string,(${NUMBER_TENSOR}[],${STRING_TENSOR}[]))`;
const COMPLETION_REQUEST = "(uint8,string,string,uint32,string[],uint32)";
const TOOL_CALL = "(string,string,string)";
const CHAT_MESSAGE = `(string,string,string,string,${TOOL_CALL}[])`;
const TOOL_DEFINITION = "(string,string,string)";
const CHAT_REQUEST = `(uint8,string,${CHAT_MESSAGE}[],${TOOL_DEFINITION}[],string,uint32,string[],uint32)`;

const selector = (signature: string) => id(signature).slice(0, 10);

async function abiOf(fullyQualifiedName: string): Promise<Interface> {
  return new Interface((await hre.artifacts.readArtifact(fullyQualifiedName)).abi);
}

describe("OpenGradient interfaces", function () {
  describe("current (contracts/opengradient/OGInference.sol)", function () {
    let abi: Interface;
    before(async function () {
      abi = await abiOf("contracts/opengradient/OGInference.sol:OGInference");
    });

    it("runModelInference is 0x7289e9c2", function () {
      expect(selector(`runModelInference(${MODEL_REQUEST})`)).to.equal("0x7289e9c2");
      expect(abi.getFunction("runModelInference")!.selector).to.equal("0x7289e9c2");
    });

    it("runLLMCompletion and runLLMChat take the canonical tuples", function () {
      expect(abi.getFunction("runLLMCompletion")!.selector).to.equal(
        selector(`runLLMCompletion(${COMPLETION_REQUEST})`),
      );
      expect(abi.getFunction("runLLMChat")!.selector).to.equal(selector(`runLLMChat(${CHAT_REQUEST})`));
    });

    it("has exactly these three functions, none payable, none view", function () {
      const functions = abi.fragments.filter((f) => f.type === "function");
      expect(functions.map((f) => abi.getFunction(f.format("sighash"))!.name).sort()).to.deep.equal([
        "runLLMChat",
        "runLLMCompletion",
        "runModelInference",
      ]);
      for (const f of abi.fragments) {
        if (f.type === "function")
          expect(abi.getFunction(f.format("sighash"))!.stateMutability).to.equal("nonpayable");
      }
    });

    it("returns ModelOutput as (numbers, strings, jsons, is_simulation_result)", function () {
      const output = abi.getFunction("runModelInference")!.outputs[0];
      expect(output.format()).to.equal(`(${NUMBER_TENSOR}[],${STRING_TENSOR}[],(string,string)[],bool)`);
      expect(output.components!.map((c) => c.name)).to.deep.equal([
        "numbers",
        "strings",
        "jsons",
        "is_simulation_result",
      ]);
    });

    it("returns LLMChatResponse as (finish_reason, message) and LLMCompletionResponse as (answer)", function () {
      expect(abi.getFunction("runLLMChat")!.outputs[0].format()).to.equal(`(string,${CHAT_MESSAGE})`);
      expect(abi.getFunction("runLLMCompletion")!.outputs[0].format()).to.equal("(string)");
    });
  });

  describe("legacy (contracts/opengradient/legacy/OGInference.sol)", function () {
    let abi: Interface;
    before(async function () {
      abi = await abiOf("contracts/opengradient/legacy/OGInference.sol:OGInference");
    });

    it("runModelInference is 0x7289e9c2, the same as the current generation", function () {
      expect(abi.getFunction("runModelInference")!.selector).to.equal("0x7289e9c2");
    });

    it("runLLMInference takes the canonical tuple", function () {
      expect(abi.getFunction("runLLMInference")!.selector).to.equal(
        selector(`runLLMInference(${COMPLETION_REQUEST})`),
      );
    });

    it("returns ModelOutput as (numbers, strings, is_simulation_result), without jsons", function () {
      const output = abi.getFunction("runModelInference")!.outputs[0];
      expect(output.format()).to.equal(`(${NUMBER_TENSOR}[],${STRING_TENSOR}[],bool)`);
      expect(output.components!.map((c) => c.name)).to.deep.equal([
        "numbers",
        "strings",
        "is_simulation_result",
      ]);
    });
  });
});
