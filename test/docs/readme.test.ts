import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import {
  GAS_SNAPSHOT_PATH,
  GAS_TABLE_BEGIN,
  GAS_TABLE_END,
  readSnapshot,
  withGasTable,
} from "../../src/bench/gasSnapshot.js";
import { sibylTasks } from "../../src/plugin/tasks.js";
import { PROJECT_ROOT } from "../../src/paths.js";

/** The README is part of the product: its commands and its examples must stay true. */
describe("README", function () {
  const readme = readFileSync(join(PROJECT_ROOT, "README.md"), "utf8");
  const blocks = (lang: string) =>
    [...readme.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]);
  const template = (file: string) => readFileSync(join(PROJECT_ROOT, "templates", "project", file), "utf8");

  it("starts with the two commands CI runs, after the documented Node set-up only", function () {
    const firstBlock = blocks("bash")[0];
    const ci = readFileSync(join(PROJECT_ROOT, ".ci", "run"), "utf8");
    expect(firstBlock).to.match(/^npm ci && npm run demo\b/m);
    expect(firstBlock).to.match(/^npm test\b/m);
    expect(ci).to.match(/^npm ci && npm run demo$/m);
    expect(ci).to.match(/^npm test$/m);
    // the older-machine step CI takes is the one the README documents
    const nodeStep = blocks("bash").find((b) => b.includes("node@22"));
    expect(nodeStep, "README documents bringing node@22").to.not.equal(undefined);
    expect(ci).to.include(nodeStep!.trim());
  });

  it("requires the Node version Hardhat 3 needs", function () {
    const manifest = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8"));
    expect(manifest.engines.node).to.equal(">=22.13");
    expect(readme).to.include("Node ≥ 22.13");
  });

  it("names the package it is published as, and the import path of its contracts", function () {
    const manifest = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8"));
    expect(readme.split("\n")[0]).to.include(`\`${manifest.name}\``);
    expect(readme).to.include(`npm i -D ${manifest.name}`);
    expect(readme).to.include(`from "${manifest.name}/contracts/InferenceConsumer.sol"`);
  });

  it("shows the scaffold's consumer, its test and its config verbatim", function () {
    expect(blocks("solidity")).to.include(template("contracts/SpeciesOracle.sol"));
    const ts = blocks("ts");
    expect(ts).to.include(template("test/SpeciesOracle.test.ts"));
    expect(ts).to.include(template("hardhat.config.ts"));
  });

  it("shows the gas figures of gas-snapshot.json (`npm run gas:readme` writes them)", function () {
    const table = (text: string) => text.slice(text.indexOf(GAS_TABLE_BEGIN), text.indexOf(GAS_TABLE_END));
    const expected = withGasTable(readme, readSnapshot(GAS_SNAPSHOT_PATH)); // throws without the markers
    expect(table(readme), "README's gas table: run `npm run gas:readme`").to.equal(table(expected));
  });

  it("lists every sibyl task the plugin defines", function () {
    const names = sibylTasks.map((t) => t.id.join(" "));
    expect(names.length).to.be.at.least(16);
    for (const name of names) expect(readme, name).to.include(`\`${name}`);
  });
});
