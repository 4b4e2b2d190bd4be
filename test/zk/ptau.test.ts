import { expect } from "chai";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { BuildError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import { SHARED_PTAU_DIR } from "../../src/paths.js";
import {
  ensurePtau,
  findPtau,
  generateDevPtau,
  listPtauFiles,
  ptauSearchDirs,
  requiredPower,
} from "../../src/zk/ptau.js";
import { releaseProverThreads } from "../../src/zk/prover.js";

/** snarkjs zkey_new: cirPower = log2(nConstraints + nPubInputs + nOutputs) + 1, with log2 = floor(log2). */
function snarkjsCirPower(constraints: number, publicInputs: number, outputs: number): number {
  return 31 - Math.clz32(constraints + publicInputs + outputs) + 1;
}

describe("zk/ptau: requiredPower", function () {
  it("is the bit length of constraints + public inputs + outputs, as snarkjs requires", function () {
    expect(requiredPower(508, 3)).to.equal(9); // 511 = 0b111111111
    expect(requiredPower(509, 3)).to.equal(10); // 512 needs a 10th bit
    // the Iris circuit: 510 constraints and 3 public inputs → 513 → power 10
    expect(requiredPower(510, 3)).to.equal(10);
    expect(requiredPower(500, 3, 9)).to.equal(10);
    expect(requiredPower(1, 0)).to.equal(1);
    expect(requiredPower(2, 1)).to.equal(2);
    expect(requiredPower(4, 0)).to.equal(3);
  });

  it("agrees with snarkjs's formula on every size up to 2^14", function () {
    const disagreements: number[] = [];
    for (let n = 1; n <= 1 << 14; n++)
      if (requiredPower(n, 2, 1) !== snarkjsCirPower(n, 2, 1)) disagreements.push(n);
    expect(disagreements).to.deep.equal([]);
  });
});

describe("zk/ptau: finding a file", function () {
  let root: string;
  let dirA: string;
  let dirB: string;
  let envDir: string;
  const savedEnv = process.env.SIBYL_PTAU_DIR;

  before(function () {
    root = mkdtempSync(join(tmpdir(), "sibyl-ptau-"));
    dirA = join(root, "a");
    dirB = join(root, "b");
    envDir = join(root, "env");
    for (const d of [dirA, dirB, envDir]) mkdirSync(d);
    for (const f of ["dev-10.ptau", "powersOfTau28_hez_final_12.ptau", "notes.txt"])
      writeFileSync(join(dirA, f), "");
    for (const f of ["dev-16.ptau", "dev-9.ptau.bak", "nopower.ptau"]) writeFileSync(join(dirB, f), "");
    writeFileSync(join(envDir, "powersOfTau28_hez_final_11.ptau"), "");
  });

  afterEach(function () {
    if (savedEnv === undefined) delete process.env.SIBYL_PTAU_DIR;
    else process.env.SIBYL_PTAU_DIR = savedEnv;
  });

  after(function () {
    rmSync(root, { recursive: true, force: true });
  });

  it("lists only files whose name ends in <power>.ptau, and marks dev- files as development", function () {
    const found = listPtauFiles([dirA, dirB]).sort((a, b) => a.power - b.power);
    expect(found).to.deep.equal([
      { path: join(dirA, "dev-10.ptau"), power: 10, development: true },
      { path: join(dirA, "powersOfTau28_hez_final_12.ptau"), power: 12, development: false },
      { path: join(dirB, "dev-16.ptau"), power: 16, development: true },
    ]);
  });

  it("picks the smallest file that fits, across directories", function () {
    const dirs = [dirB, dirA];
    expect(findPtau(1, dirs)?.path).to.equal(join(dirA, "dev-10.ptau"));
    expect(findPtau(10, dirs)?.path).to.equal(join(dirA, "dev-10.ptau"));
    expect(findPtau(11, dirs)).to.deep.equal({
      path: join(dirA, "powersOfTau28_hez_final_12.ptau"),
      power: 12,
      development: false,
    });
    expect(findPtau(13, dirs)?.path).to.equal(join(dirB, "dev-16.ptau"));
  });

  it("returns undefined when no file fits, and skips missing directories", function () {
    expect(findPtau(17, [dirA, dirB])).to.equal(undefined);
    expect(findPtau(1, [join(root, "missing")])).to.equal(undefined);
    expect(findPtau(10, [join(root, "missing"), dirA])?.power).to.equal(10);
  });

  it("searches $SIBYL_PTAU_DIR first", function () {
    process.env.SIBYL_PTAU_DIR = envDir;
    expect(ptauSearchDirs()[0]).to.equal(envDir);
    expect(ptauSearchDirs()).to.include(SHARED_PTAU_DIR);
    // 11 is below every shared development file (12, 14, 16), so the env file is the smallest fit
    expect(findPtau(11)).to.deep.equal({
      path: join(envDir, "powersOfTau28_hez_final_11.ptau"),
      power: 11,
      development: false,
    });
  });

  it("ensurePtau returns a fitting file without generating one", async function () {
    process.env.SIBYL_PTAU_DIR = envDir;
    const got = await ensurePtau(11, silentLogger, { generate: false });
    expect(got.path).to.equal(join(envDir, "powersOfTau28_hez_final_11.ptau"));
  });

  it("ensurePtau refuses to generate when told not to, and says how to make one", async function () {
    process.env.SIBYL_PTAU_DIR = envDir;
    let caught: unknown;
    try {
      await ensurePtau(29, silentLogger, { generate: false });
    } catch (e) {
      caught = e;
    }
    expect(caught).to.be.instanceOf(BuildError);
    const err = caught as BuildError;
    expect(err.message).to.contain("no powers-of-tau file of power ≥ 29 in ");
    expect(err.message).to.contain(envDir);
    expect(err.hint).to.equal("put one there (named …29.ptau), or run: npx hardhat sibyl:ptau --power 29");
  });
});

describe("zk/ptau: generateDevPtau", function () {
  let dir: string;

  before(function () {
    dir = mkdtempSync(join(tmpdir(), "sibyl-ptau-gen-"));
  });
  after(async function () {
    rmSync(dir, { recursive: true, force: true });
    await releaseProverThreads();
  });

  it("generates a development file named dev-<power>.ptau and leaves no temporary files", async function () {
    const out = join(dir, "cache");
    const ptau = await generateDevPtau(4, silentLogger, out);
    expect(ptau).to.deep.equal({ path: join(out, "dev-4.ptau"), power: 4, development: true });
    expect(existsSync(ptau.path)).to.equal(true);
    expect(statSync(ptau.path).size).to.be.greaterThan(0);
    expect(readdirSync(out)).to.deep.equal(["dev-4.ptau"]);
    // and it is found like any other file
    expect(findPtau(3, [out])?.path).to.equal(ptau.path);
  });

  it("refuses powers outside 1..28", async function () {
    for (const power of [0, 29]) {
      let caught: unknown;
      try {
        await generateDevPtau(power, silentLogger, dir);
      } catch (e) {
        caught = e;
      }
      expect(caught, `power ${power}`).to.be.instanceOf(BuildError);
      expect((caught as Error).message).to.contain(`cannot generate a ptau of power ${power}`);
    }
    expect(readdirSync(dir)).to.not.include("dev-0.ptau");
  });
});
