import { join } from "node:path";

import type { ModelArtifacts } from "../../src/build/artifacts.js";
import { buildModel } from "../../src/build/buildModel.js";
import { silentLogger } from "../../src/log.js";
import { PROJECT_ROOT } from "../../src/paths.js";

export const IRIS_MODEL_PATH = join(PROJECT_ROOT, "models", "iris", "model.json");

const cache = new Map<string, Promise<ModelArtifacts>>();

/** Builds a model once per test run (the build itself is cached on disk across runs). */
export function builtModel(path = IRIS_MODEL_PATH): Promise<ModelArtifacts> {
  let p = cache.get(path);
  if (!p) {
    p = buildModel(path, { log: silentLogger }).then((r) => r.artifacts);
    cache.set(path, p);
  }
  return p;
}
