import { expect } from "chai";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";

import { PACKAGE_ROOT, PTAU_CACHE_DIR, SHARED_PTAU_DIR } from "../../src/paths.js";

/**
 * Sibyl as a user gets it: `npm pack` the project, scaffold a fresh Hardhat 3 project with the
 * packed `hardhat-sibyl init`, install the tarball there from the local npm cache, build the
 * Iris model with the plugin's task, and run the scaffold's test (the README's consumer test:
 * a contract importing `hardhat-sibyl/contracts/InferenceConsumer.sol`, request → answered →
 * settled, and a slashed answer) against the in-process network.
 */

interface Run {
  code: number | null;
  out: string;
}

/** Runs a command under this process's Node (Hardhat 3 and npm's native-binding choice need ≥ 22). */
function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    // a user's shell: none of this process's npm/Hardhat variables or node_modules/.bin on PATH
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !/^(npm_|HARDHAT_|INIT_CWD$)/i.test(k)),
    );
    const path = (process.env.PATH ?? "").split(delimiter).filter((p) => !p.includes("node_modules"));
    const child = spawn(cmd, args, {
      cwd,
      env: {
        ...inherited,
        PATH: [dirname(process.execPath), ...path].join(delimiter),
        NO_COLOR: "1",
        FORCE_COLOR: "0",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (out += c.toString("utf8")));
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, out }));
  });
}

function expectOk(step: string, r: Run): void {
  expect(r.code, `${step} failed:\n${r.out.slice(-4000)}`).to.equal(0);
}

describe("the packed package in a fresh Hardhat 3 project", function () {
  this.timeout(900_000);
  const work = mkdtempSync(join(tmpdir(), "sibyl-consumer-"));
  const project = join(work, "my-project");
  const npm = ["--no-audit", "--no-fund", "--prefer-offline"];
  // the development ptau files this checkout already has, so the consumer's build needs no ceremony
  const ptauDir = [SHARED_PTAU_DIR, PTAU_CACHE_DIR].find((d) => existsSync(d));
  let tarball: string;

  after(function () {
    rmSync(work, { recursive: true, force: true });
  });

  // One key npm does not know is deliberate: onnxruntime-node's postinstall (a dev dependency, for the
  // ONNX tests) reads `onnxruntime-node-install=skip` from .npmrc, and without it `npm ci` tries to
  // download CUDA binaries and fails offline. npm warns about that key; it must warn about nothing else.
  const KNOWN_FOREIGN_KEY = 'Unknown project config "onnxruntime-node-install"';

  it("reads the project's npm config without warnings but onnxruntime-node's install flag", async function () {
    const r = await run("npm", ["config", "list"], PACKAGE_ROOT);
    expectOk("npm config list", r);
    const warnings = r.out.split("\n").filter((l) => /npm warn/i.test(l));
    expect(warnings.filter((l) => !l.includes(KNOWN_FOREIGN_KEY))).to.deep.equal([]);
    expect(r.out.split("Unknown project config").length - 1).to.be.at.most(1);
  });

  it("packs: the tarball has the compiled library with its types, the contracts and the plugin", async function () {
    const r = await run("npm", ["pack", "--pack-destination", work, ...npm], PACKAGE_ROOT);
    expectOk("npm pack", r);
    const name = r.out.trim().split("\n").pop()!.trim();
    expect(name).to.match(/^hardhat-sibyl-.*\.tgz$/);
    tarball = join(work, name);
    const list = await run("tar", ["tzf", tarball], work);
    expectOk("tar", list);
    for (const file of [
      "package/dist/src/plugin/index.js",
      "package/dist/src/index.d.ts",
      "package/dist/src/testing/index.d.ts",
      "package/dist/src/cli/bin.js",
      "package/contracts/InferenceConsumer.sol",
      "package/artifacts/contracts/InferencePrecompile.sol/InferencePrecompile.json",
      "package/circuits/lib/dense.circom",
      "package/templates/project/test/SpeciesOracle.test.ts",
    ])
      expect(list.out, file).to.include(file);
    expect(list.out).not.to.include("package/test/");
    expect(list.out).not.to.include("package/contracts/test/");
  });

  it("scaffolds a project with `hardhat-sibyl init` and installs it from the tarball", async function () {
    const init = await run(
      "npm",
      [
        "exec",
        ...npm,
        "--yes",
        "--package",
        tarball,
        "--",
        "hardhat-sibyl",
        "init",
        project,
        "--sibyl",
        tarball,
      ],
      work,
    );
    expectOk("hardhat-sibyl init", init);
    for (const f of [
      "package.json",
      "hardhat.config.ts",
      "contracts/SpeciesOracle.sol",
      "test/SpeciesOracle.test.ts",
    ])
      expect(existsSync(join(project, f)), f).to.equal(true);
    const manifest = JSON.parse(readFileSync(join(project, "package.json"), "utf8"));
    expect(manifest.devDependencies["hardhat-sibyl"]).to.equal(tarball);

    // init refuses to overwrite
    const again = await run(
      "npm",
      ["exec", ...npm, "--yes", "--package", tarball, "--", "hardhat-sibyl", "init", project],
      work,
    );
    expect(again.code).to.not.equal(0);
    expect(again.out).to.include("never overwrites");

    expectOk("npm install", await run("npm", ["install", ...npm], project));
    // the library is importable, typed, from the installed package
    const lib = await run(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        "const m = await import('hardhat-sibyl/lib'); console.log(typeof m.buildModel, typeof m.decodeRevert);",
      ],
      project,
    );
    expectOk("import hardhat-sibyl/lib", lib);
    expect(lib.out.trim()).to.equal("function function");
    expect(
      existsSync(join(project, "node_modules", "hardhat-sibyl", "dist", "src", "testing", "index.d.ts")),
    ).to.equal(true);
  });

  it("lists the plugin's tasks and builds the model with sibyl:build", async function () {
    const env: Record<string, string> = ptauDir ? { SIBYL_PTAU_DIR: ptauDir } : {};
    const help = await run("npx", ["hardhat", "--help"], project, env);
    expectOk("hardhat --help", help);
    for (const t of [
      "sibyl:build",
      "sibyl:deploy",
      "sibyl:register",
      "sibyl:node",
      "sibyl:infer",
      "sibyl:status",
    ])
      expect(help.out, t).to.include(t);
    const build = await run(
      "npx",
      ["hardhat", "sibyl:build", "--model", "models/iris/model.json"],
      project,
      env,
    );
    expectOk("sibyl:build", build);
    expect(build.out).to.match(/built iris: \d+ constraints/);
    expect(existsSync(join(project, "build", "models", "iris", "iris.zkey"))).to.equal(true);
  });

  it("runs the consumer's test: answered, settled, slashed, a synchronous proof-carrying call and a TEE answer from a local enclave process, against the in-process network", async function () {
    const env: Record<string, string> = ptauDir ? { SIBYL_PTAU_DIR: ptauDir } : {};
    const test = await run("npx", ["hardhat", "test"], project, env);
    expectOk("npx hardhat test", test);
    expect(test.out).to.include("gets an answer at once and its proof later");
    expect(test.out).to.match(/\b5 passing\b/);
    expect(test.out).not.to.match(/\bfailing\b/);
  });
});
