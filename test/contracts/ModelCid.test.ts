import { expect } from "chai";
import { network } from "hardhat";
import { hexlify, randomBytes } from "ethers";

import { modelCid } from "../../src/pipe/cid.js";

/**
 * The on-chain decoder (contracts/libraries/ModelCid.sol) reads exactly the CIDs that
 * src/pipe/cid.ts writes, and refuses everything else.
 */

const { ethers, networkHelpers } = await network.create();
const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
const ZERO = "0x" + "00".repeat(32);

describe("ModelCid", function () {
  async function harnessFixture() {
    return { harness: await ethers.deployContract("ModelCidHarness") };
  }

  it("decodes the model id of modelCid(id) for random ids and the extremes", async function () {
    const { harness } = await networkHelpers.loadFixture(harnessFixture);
    const ids = ["0x" + "00".repeat(32), "0x" + "ff".repeat(32)];
    for (let i = 0; i < 16; i++) ids.push(hexlify(randomBytes(32)));
    for (const modelId of ids) {
      expect(await harness.modelIdOf(modelCid(modelId))).to.deep.equal([true, modelId]);
    }
  });

  it("refuses strings that are not exactly a model CID", async function () {
    const { harness } = await networkHelpers.loadFixture(harnessFixture);
    const good = modelCid(hexlify(randomBytes(32)));
    const lastDigit = ALPHABET.indexOf(good[58]);
    const bad = {
      empty: "",
      "CIDv0 (Qm…)": "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
      "upper-case multibase": "B" + good.slice(1),
      "upper case": good.toUpperCase(),
      "one digit short": good.slice(0, -1),
      "one digit long": good + "a",
      "another multibase": "z" + good.slice(1),
      "non-zero trailing bits": good.slice(0, 58) + ALPHABET[lastDigit | 2],
      "digit outside the alphabet": good.slice(0, 30) + "1" + good.slice(31),
      "non-ASCII byte": good.slice(0, 40) + "é" + good.slice(42),
      // bafkrwi… → bafyrwi…: codec 0x55 becomes 0x71-ish, the prefix no longer matches.
      "another codec": good.slice(0, 4) + "y" + good.slice(5),
      "another hash": modelCid(ZERO).replace("bafkrwi", "bafkrei"),
    };
    for (const [why, cid] of Object.entries(bad)) {
      expect(await harness.modelIdOf(cid), why).to.deep.equal([false, ZERO]);
    }
  });
});
