import { formatHash } from "../zk/ceremony.js";

/** The ceremony's contributions as the ceremony tasks print them. */
export function printContributions(
  contributions: { name: string; hash: string; beacon?: { hash: string; iterationsExp: number } }[],
  numbered = true,
): void {
  contributions.forEach((c, i) => {
    const beacon = c.beacon
      ? ` (random beacon ${c.beacon.hash}, 2^${c.beacon.iterationsExp} iterations)`
      : "";
    console.log(`  ${numbered ? `#${i + 1} ` : ""}${c.name || "(no name)"}${beacon}`);
    console.log(formatHash(c.hash));
  });
}
