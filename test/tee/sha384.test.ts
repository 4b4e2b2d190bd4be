import { expect } from "chai";
import { createHash, randomBytes } from "node:crypto";
import { network } from "hardhat";

/** Sha384 library (FIPS 180-4 SHA-384) against Node's implementation, plus its gas per block. */

const nodeSha384 = (b: Uint8Array) => "0x" + createHash("sha384").update(b).digest("hex");

describe("Sha384 library", function () {
  let harness: any;
  let ethers: any;

  before(async function () {
    // a large block so the 10 KB case is not cut off by a gas cap
    ({ ethers } = await network.create({ override: { blockGasLimit: 1_000_000_000n } }));
    harness = await ethers.deployContract("Sha384Harness");
  });

  it("hashes the empty string", async function () {
    const empty = new Uint8Array(0);
    expect(await harness.hash(empty)).to.equal(nodeSha384(empty));
    expect(await harness.hash(empty)).to.equal(
      "0x38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b",
    );
  });

  it('hashes "abc" (the FIPS 180-4 example)', async function () {
    const abc = new TextEncoder().encode("abc");
    expect(await harness.hash(abc)).to.equal(
      "0xcb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
    );
    expect(await harness.hash(abc)).to.equal(nodeSha384(abc));
  });

  it("hashes the FIPS 180-4 two-block example", async function () {
    const msg = new TextEncoder().encode(
      "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
    );
    expect(await harness.hash(msg)).to.equal(
      "0x09330c33f71147e83d192fc782cd1b4753111b173b3b05d22fa08086e3b0f712fcc7c71a557e2db966c3e9fa91746039",
    );
  });

  it("matches node:crypto for every length 1..300 (crosses 111/112/127/128/239/240)", async function () {
    const src = randomBytes(300);
    for (let n = 1; n <= 300; n++) {
      const msg = src.subarray(0, n);
      expect(await harness.hash(msg), `length ${n}`).to.equal(nodeSha384(msg));
    }
  });

  it("matches node:crypto on 4,469 bytes (a Nitro COSE Sig_structure) and random sizes up to 10 KB", async function () {
    const sizes = [
      4469,
      1000 + Math.floor(Math.random() * 2000),
      5000 + Math.floor(Math.random() * 5000),
      10_240,
    ];
    for (const n of sizes) {
      const msg = randomBytes(n);
      expect(await harness.hash(msg), `length ${n}`).to.equal(nodeSha384(msg));
    }
  });

  it("the transaction variant stores the digest", async function () {
    const msg = randomBytes(777);
    await (await harness.hashTx(msg)).wait();
    expect(await harness.lastDigest()).to.equal(nodeSha384(msg));
  });

  it("reports gas per 128-byte block and for 4,469 bytes", async function () {
    const provider = ethers.provider;
    const to = await harness.getAddress();
    const viewGas = async (n: number) =>
      BigInt(
        await provider.send("eth_estimateGas", [
          { to, data: harness.interface.encodeFunctionData("hash", [randomBytes(n)]) },
        ]),
      );
    // 1,000 and 9,000 bytes have the same padded tail (104 bytes left: one final block)
    const small = await viewGas(1000);
    const large = await viewGas(1000 + 64 * 128);
    const perBlock = (large - small) / 64n;
    const nitro = await viewGas(4469);
    const nitroTx = await harness.hashTx.estimateGas(randomBytes(4469));
    console.log(
      `\n      Sha384: ~${perBlock} gas per 128-byte block (estimateGas, 64-block difference incl. calldata)`,
    );
    console.log(
      `      Sha384: hash(4,469 bytes) view ${nitro}, hashTx ${nitroTx} (estimateGas, incl. 21k + calldata)`,
    );
    expect(perBlock < 74_000n).to.equal(true);
  });
});
