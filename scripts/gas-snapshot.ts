/**
 * Measures the gas snapshot (every operation on every model, src/bench/gasSnapshot.ts), prints
 * it beside the committed figures, and rewrites gas-snapshot.json and README's gas table.
 *
 *   npm run gas:snapshot
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import hre from "hardhat";

import { GAS_SNAPSHOT_PATH, readSnapshot, withGasTable, writeSnapshot } from "../src/bench/gasSnapshot.js";
import { measureGasSnapshot } from "../src/bench/measureGas.js";
import { consoleLogger } from "../src/log.js";
import { PROJECT_ROOT } from "../src/paths.js";

async function main(): Promise<void> {
  const previous = existsSync(GAS_SNAPSHOT_PATH) ? readSnapshot(GAS_SNAPSHOT_PATH).entries : {};
  const measured = await measureGasSnapshot(hre, { log: consoleLogger });
  const keys = [...new Set([...Object.keys(previous), ...Object.keys(measured.entries)])].sort();
  console.table(
    keys.map((key) => {
      const [before, now] = [previous[key], measured.entries[key]];
      return {
        key,
        "gas before": before ?? "—",
        "gas now": now ?? "(dropped)",
        change:
          before === undefined
            ? "new"
            : now === undefined
              ? "dropped"
              : now === before
                ? ""
                : `${now > before ? "+" : ""}${now - before} (${(((now - before) / before) * 100).toFixed(2)}%)`,
      };
    }),
  );
  writeSnapshot(GAS_SNAPSHOT_PATH, measured);
  console.log(`wrote ${GAS_SNAPSHOT_PATH}`);
  const readme = join(PROJECT_ROOT, "README.md");
  const text = readFileSync(readme, "utf8");
  const updated = withGasTable(text, measured);
  if (updated !== text) writeFileSync(readme, updated);
  console.log(updated === text ? `${readme}: gas table unchanged` : `rewrote the gas table in ${readme}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
