import { join } from "node:path";

import type { ModelArtifacts } from "../../src/pipeline/artifacts.js";
import { buildModel } from "../../src/pipeline/buildModel.js";
import { consoleLogger, progressLogger } from "../../src/log.js";
import { PROJECT_ROOT } from "../../src/paths.js";

export const IRIS_MODEL_PATH = join(PROJECT_ROOT, "models", "iris", "model.json");

/** What a test's model build prints: nothing when cached, each step's progress when it builds. */
export const buildProgress = progressLogger(consoleLogger, "      [build] ");

const cache = new Map<string, Promise<ModelArtifacts>>();

/** Builds a model once per test run (the build itself is cached on disk across runs). */
export function builtModel(path = IRIS_MODEL_PATH): Promise<ModelArtifacts> {
  let p = cache.get(path);
  if (!p) {
    p = buildModel(path, { log: buildProgress }).then((r) => r.artifacts);
    cache.set(path, p);
  }
  return p;
}
