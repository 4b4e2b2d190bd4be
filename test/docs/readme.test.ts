import { expect } from "chai";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

import { PROJECT_ROOT } from "../../src/paths.js";

/** The README is part of the product: its commands and its example must stay true. */
describe("README", function () {
  const readme = readFileSync(join(PROJECT_ROOT, "README.md"), "utf8");

  it("starts with the two commands CI runs", function () {
    const firstBlock = /```bash\n([\s\S]*?)```/.exec(readme)![1];
    const ci = readFileSync(join(PROJECT_ROOT, ".ci", "run"), "utf8");
    expect(firstBlock).to.match(/^npm ci && npm run demo\b/m);
    expect(firstBlock).to.match(/^npm test\b/m);
    expect(ci).to.match(/^npm ci && npm run demo$/m);
    expect(ci).to.match(/^npm test$/m);
  });

  it("shows the compiled FraudGate example verbatim", function () {
    const example = readFileSync(join(PROJECT_ROOT, "contracts", "examples", "FraudGate.sol"), "utf8");
    const block = /```solidity\n([\s\S]*?)```/.exec(readme)![1];
    expect(block).to.equal(example);
  });

  it("lists every sibyl task that the tasks folder registers", function () {
    const dir = join(PROJECT_ROOT, "tasks");
    const tasks = readdirSync(dir)
      .filter((f) => f.endsWith(".ts"))
      .map((f) => readFileSync(join(dir, f), "utf8"))
      .join("\n");
    const names = [...tasks.matchAll(/task\(\s*"(sibyl:[a-z-]+)"/g)].map((m) => m[1]);
    expect(names.length).to.be.at.least(7);
    for (const name of names) expect(readme, name).to.include(`\`${name}`);
  });
});
