import { join } from "node:path";

import type { ModelArtifacts } from "../../src/build/artifacts";
import { buildModel } from "../../src/build/buildModel";
import { silentLogger } from "../../src/log";
import { PROJECT_ROOT } from "../../src/paths";

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
