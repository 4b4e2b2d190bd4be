import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { CIRCUIT_LIB_DIR } from "../paths.js";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/**
 * What a circuit's compiled form depends on besides its own text: the compiler version and
 * every file it includes, transitively — templates from circuits/lib by content, circomlib
 * by version. Build caches key on this, so editing a template rebuilds exactly the circuits
 * that use it, and adding an unrelated template rebuilds nothing.
 */
export function circuitFingerprint(source: string): string {
  const h = createHash("sha256");
  h.update(`circom2 ${packageVersion("circom2")}\0`);
  const seen = new Set<string>();
  const visit = (text: string) => {
    for (const [, name] of text.matchAll(/^\s*include\s+"([^"]+)"\s*;/gm)) {
      if (seen.has(name)) continue;
      seen.add(name);
      const local = join(CIRCUIT_LIB_DIR, name);
      if (existsSync(local)) {
        const body = readFileSync(local, "utf8");
        h.update(`${name}\0${body}\0`);
        visit(body);
      } else if (name.startsWith("circomlib/")) {
        h.update(`${name}\0circomlib ${packageVersion("circomlib")}\0`);
      } else {
        h.update(`${name}\0(unresolved)\0`);
      }
    }
  };
  visit(source);
  return h.digest("hex");
}

function packageVersion(name: string): string {
  return (require(`${name}/package.json`) as { version: string }).version;
}
