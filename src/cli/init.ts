import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";

import { PACKAGE_NAME, PACKAGE_ROOT } from "../paths.js";

/**
 * `npx hardhat-sibyl init [folder] [--sibyl <npm spec>]` (src/cli/bin.ts): scaffolds a Hardhat 3 project with
 * an example consumer (SpeciesOracle), its test and the Iris model, ready for
 * `npm install && npx hardhat test`. Refuses to overwrite any file.
 */

const TEMPLATE_DIR = join(PACKAGE_ROOT, "templates", "project");

/** The Hardhat packages the scaffold needs, at the versions Sibyl is tested with. */
const SCAFFOLD_DEV_DEPENDENCIES = [
  "hardhat",
  "@nomicfoundation/hardhat-ethers",
  "@nomicfoundation/hardhat-ethers-chai-matchers",
  "@nomicfoundation/hardhat-mocha",
  "chai",
  "ethers",
  "mocha",
];

interface Manifest {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}

export interface InitOptions {
  /** the folder to create the project in (created if missing) */
  dir: string;
  /** how the project depends on Sibyl (default: ^ this version; a tarball path works too) */
  sibylSpec?: string;
}

export interface InitResult {
  dir: string;
  files: string[];
}

function templateFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? templateFiles(join(dir, e.name)) : [join(dir, e.name)],
  );
}

export function initProject(opts: InitOptions): InitResult {
  const dir = resolve(opts.dir);
  const own = JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as Manifest;
  const version = (name: string) => own.devDependencies[name] ?? own.dependencies[name];
  const name =
    basename(dir)
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, "-") || "sibyl-project";
  const packageJson = {
    name,
    private: true,
    type: "module",
    engines: { node: ">=22.13" },
    scripts: {
      build: "hardhat sibyl:build --model models/iris/model.json",
      test: "hardhat test",
    },
    devDependencies: Object.fromEntries(
      [
        ...SCAFFOLD_DEV_DEPENDENCIES.map((d) => [d, version(d)]),
        [PACKAGE_NAME, opts.sibylSpec ?? `^${own.version}`],
      ].sort(([a], [b]) => a.localeCompare(b)),
    ),
  };
  const planned: Array<[string, () => void]> = [
    [
      "package.json",
      () => writeFileSync(join(dir, "package.json"), JSON.stringify(packageJson, null, 2) + "\n"),
    ],
    [
      ".gitignore",
      () => writeFileSync(join(dir, ".gitignore"), "node_modules/\nartifacts/\ncache/\nbuild/\ntypes/\n"),
    ],
    [
      "models/iris/model.json",
      () =>
        copyFileSync(
          join(PACKAGE_ROOT, "models", "iris", "model.json"),
          join(dir, "models", "iris", "model.json"),
        ),
    ],
    ...templateFiles(TEMPLATE_DIR).map((src): [string, () => void] => {
      const rel = relative(TEMPLATE_DIR, src);
      return [rel, () => copyFileSync(src, join(dir, rel))];
    }),
  ];
  const clashes = planned.map(([rel]) => rel).filter((rel) => existsSync(join(dir, rel)));
  if (clashes.length > 0)
    throw new Error(`${dir} already has ${clashes.join(", ")}: init never overwrites; pick an empty folder`);
  for (const [rel, write] of planned) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    write();
  }
  return { dir, files: planned.map(([rel]) => rel) };
}
