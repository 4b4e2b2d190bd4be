#!/usr/bin/env node
import { relative } from "node:path";

import { PACKAGE_NAME } from "../paths.js";
import { initProject } from "./init.js";

/** The package's command line: `npx hardhat-sibyl init`. */

const USAGE = `usage: npx ${PACKAGE_NAME} init [folder] [--sibyl <npm spec>]

Creates a Hardhat 3 project with an example consumer contract (contracts/SpeciesOracle.sol),
its test (test/SpeciesOracle.test.ts) and the Iris model (models/iris/model.json).
  folder          where to create it (default: the current folder)
  --sibyl <spec>  how to depend on ${PACKAGE_NAME} (default ^<this version>; e.g. a .tgz path)`;

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  if (command !== "init") {
    console.error(
      command === undefined || command === "--help" || command === "-h"
        ? USAGE
        : `unknown command "${command}"\n\n${USAGE}`,
    );
    return command === "--help" || command === "-h" ? 0 : 1;
  }
  let folder = ".";
  let sibylSpec: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "--sibyl") sibylSpec = rest[++i];
    else if (rest[i] === "--help" || rest[i] === "-h") return (console.log(USAGE), 0);
    else folder = rest[i];
  }
  try {
    const { dir, files } = initProject({ dir: folder, sibylSpec });
    console.log(`created a Sibyl project in ${dir}:`);
    for (const f of files) console.log(`  ${f}`);
    const cd = relative(process.cwd(), dir);
    console.log(`\nnext:\n${cd ? `  cd ${cd}\n` : ""}  npm install\n  npx hardhat test`);
    return 0;
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    return 1;
  }
}

process.exitCode = main(process.argv.slice(2));
