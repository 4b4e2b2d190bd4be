/**
 * Rewrites README's gas table (between `<!-- gas-snapshot:begin -->` and `<!-- gas-snapshot:end -->`)
 * from gas-snapshot.json, without measuring. `npm run gas:snapshot` does this too after measuring.
 *
 *   npm run gas:readme
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { GAS_SNAPSHOT_PATH, readSnapshot, withGasTable } from "../src/bench/gasSnapshot.js";
import { PROJECT_ROOT } from "../src/paths.js";

const readme = join(PROJECT_ROOT, "README.md");
const text = readFileSync(readme, "utf8");
const updated = withGasTable(text, readSnapshot(GAS_SNAPSHOT_PATH));
if (updated === text) console.log(`${readme}: gas table already matches ${GAS_SNAPSHOT_PATH}`);
else {
  writeFileSync(readme, updated);
  console.log(`rewrote the gas table in ${readme} from ${GAS_SNAPSHOT_PATH}`);
}
