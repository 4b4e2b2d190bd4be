import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/**
 * Where things live. Two roots matter:
 * - the package root: Sibyl's own files (circuit library, compiled core contracts), found by
 *   walking up from this module to the package.json named hardhat-sibyl (it is the repository
 *   when you work on Sibyl, node_modules/hardhat-sibyl in a user's project);
 * - the project root: the user's Hardhat project, where models are built into build/ and
 *   verifiers are written into contracts/verifiers/. The plugin sets it from the Hardhat config
 *   (`useProjectRoot`); by default it is the package root, so Sibyl's own scripts work as is.
 *
 * The project-relative values are live ES-module bindings: importers see the update.
 */
export const PACKAGE_NAME = "hardhat-sibyl";

function findPackageRoot(start: string): string {
  let dir = start;
  for (;;) {
    const manifest = join(dir, "package.json");
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === PACKAGE_NAME
    )
      return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the ${PACKAGE_NAME} package above ${start}`);
    dir = up;
  }
}

export const PACKAGE_ROOT = findPackageRoot(import.meta.dirname);
export const CIRCUIT_LIB_DIR = join(PACKAGE_ROOT, "circuits", "lib");
/** Compiled artifacts of Sibyl's own contracts (shipped in the package). */
export const CORE_ARTIFACTS_DIR = join(PACKAGE_ROOT, "artifacts", "contracts");

export let PROJECT_ROOT = PACKAGE_ROOT;
export let CIRCUIT_MODELS_DIR = "";
export let VERIFIERS_DIR = "";
export let BUILD_DIR = "";
/** Development powers-of-tau shared by the team (../shared/ptau) — insecure, for tests and local use. */
export let SHARED_PTAU_DIR = "";
/** Where Sibyl caches the development ptau files it generates itself. */
export let PTAU_CACHE_DIR = "";
/** Where the development root CA of local enclave processes is kept (insecure, for local use). */
export let TEE_DEV_DIR = "";

/** Points every project-relative path at `root` (the folder with hardhat.config.ts). */
export function useProjectRoot(root: string): void {
  PROJECT_ROOT = resolve(root);
  CIRCUIT_MODELS_DIR = join(PROJECT_ROOT, "circuits", "models");
  VERIFIERS_DIR = join(PROJECT_ROOT, "contracts", "verifiers");
  BUILD_DIR = process.env.SIBYL_BUILD_DIR
    ? resolve(process.env.SIBYL_BUILD_DIR)
    : join(PROJECT_ROOT, "build");
  SHARED_PTAU_DIR = resolve(PROJECT_ROOT, "..", "shared", "ptau");
  PTAU_CACHE_DIR = join(BUILD_DIR, "ptau");
  TEE_DEV_DIR = join(BUILD_DIR, "tee");
}
useProjectRoot(PACKAGE_ROOT);
