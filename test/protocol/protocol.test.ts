import { expect } from "chai";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

import { PACKAGE_ROOT } from "../../src/paths.js";
import * as constants from "../../src/protocol/constants.js";
import { Finality, Mode, RequestState } from "../../src/protocol/state.js";

/**
 * The protocol's facts are stated once on the TypeScript side (src/protocol) and must say
 * what the contracts say; and the library's folders depend on each other one way only.
 */

const source = (file: string) => readFileSync(join(PACKAGE_ROOT, "contracts", file), "utf8");

/** The members of a Solidity enum, in order. */
function solidityEnum(file: string, name: string): string[] {
  const m = new RegExp(`enum ${name}\\s*\\{([^}]*)\\}`).exec(source(file));
  expect(m, `enum ${name} in ${file}`).to.not.equal(null);
  return m![1].split(",").map((s) => s.trim());
}

/** The value of a `Sibyl` library constant (`1 days` and `5_000_000` forms). */
function sibylConstant(name: string): bigint {
  const m = new RegExp(`constant ${name}\\s*=\\s*([\\d_]+)\\s*(days)?;`).exec(
    source("libraries/SibylAddresses.sol"),
  );
  expect(m, `Sibyl.${name}`).to.not.equal(null);
  return BigInt(m![1].replace(/_/g, "")) * (m![2] ? 86_400n : 1n);
}

/** Names of a TypeScript numeric enum, in value order. */
const names = (e: Record<string, string | number>) =>
  Object.entries(e)
    .filter(([, v]) => typeof v === "number")
    .sort(([, a], [, b]) => Number(a) - Number(b))
    .map(([k]) => k);

describe("protocol facts", function () {
  it("RequestState, Mode and Finality number their members as IInference and ISyncInference do", function () {
    expect(names(RequestState)).to.deep.equal(solidityEnum("interfaces/IInference.sol", "RequestState"));
    expect(names(Mode)).to.deep.equal(solidityEnum("interfaces/IInference.sol", "Mode"));
    expect(names(Finality)).to.deep.equal(solidityEnum("interfaces/ISyncInference.sol", "Finality"));
  });

  it("each constant equals the Sibyl library's", function () {
    expect(constants.MAX_SETTLEMENT_WINDOW).to.equal(sibylConstant("MAX_SETTLEMENT_WINDOW"));
    expect(constants.MAX_ANSWER_WINDOW).to.equal(sibylConstant("MAX_ANSWER_WINDOW"));
    expect(constants.PRICED_HOOKS).to.equal(sibylConstant("PRICED_HOOKS"));
    expect(BigInt(constants.MAX_CALLBACK_GAS_LIMIT)).to.equal(sibylConstant("MAX_CALLBACK_GAS_LIMIT"));
  });
});

describe("library layering", function () {
  const src = join(PACKAGE_ROOT, "src");

  /** folder → the folders its modules import (top-level files count as the folder "."). */
  function folderGraph(): Map<string, Set<string>> {
    const graph = new Map<string, Set<string>>();
    const folderOf = (file: string) => {
      const rel = relative(src, file);
      return rel.includes("/") ? rel.split("/")[0] : ".";
    };
    const walk = (dir: string): string[] =>
      readdirSync(dir).flatMap((f) => {
        const p = join(dir, f);
        return statSync(p).isDirectory() ? walk(p) : p.endsWith(".ts") ? [p] : [];
      });
    for (const file of walk(src)) {
      // the public entry point re-exports everything by design
      if (relative(src, file) === "index.ts") continue;
      const from = folderOf(file);
      const deps = graph.get(from) ?? new Set<string>();
      graph.set(from, deps);
      for (const m of readFileSync(file, "utf8").matchAll(/from\s*"(\.{1,2}\/[^"]+)"/g)) {
        const target = normalize(join(dirname(file), m[1]));
        if (!target.startsWith(src + "/")) continue;
        const to = folderOf(target);
        if (to !== from) deps.add(to);
      }
    }
    return graph;
  }

  it("has no cycle between folders (protocol facts live in src/protocol, not in the node)", function () {
    const graph = folderGraph();
    const cycles: string[] = [];
    const visit = (node: string, path: string[]) => {
      for (const next of graph.get(node) ?? []) {
        if (next === path[0]) cycles.push([...path, next].join(" → "));
        else if (!path.includes(next) && path.length < graph.size) visit(next, [...path, next]);
      }
    };
    for (const start of graph.keys()) visit(start, [start]);
    expect(cycles).to.deep.equal([]);
  });

  it("keeps the plugin light: task definitions import no library module", function () {
    const graph = folderGraph();
    expect([...(graph.get("plugin") ?? [])]).to.deep.equal([]);
  });
});
