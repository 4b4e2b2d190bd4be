import { join, resolve } from "node:path";

/** Where things live, relative to the project root (the folder with hardhat.config.ts). */
export const PROJECT_ROOT = resolve(__dirname, "..");
export const CIRCUIT_LIB_DIR = join(PROJECT_ROOT, "circuits", "lib");
export const CIRCUIT_MODELS_DIR = join(PROJECT_ROOT, "circuits", "models");
export const VERIFIERS_DIR = join(PROJECT_ROOT, "contracts", "verifiers");
export const BUILD_DIR = process.env.SIBYL_BUILD_DIR
  ? resolve(process.env.SIBYL_BUILD_DIR)
  : join(PROJECT_ROOT, "build");
/** Development powers-of-tau shared by the team (../shared/ptau) — insecure, for tests and local use. */
export const SHARED_PTAU_DIR = resolve(PROJECT_ROOT, "..", "shared", "ptau");
/** Where Sibyl caches the development ptau files it generates itself. */
export const PTAU_CACHE_DIR = join(BUILD_DIR, "ptau");
