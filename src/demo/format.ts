import type { Contract, Log } from "ethers";
import { formatEther } from "ethers";

import type { SibylEnv } from "../env.js";

/** What the demo prints about consumer contracts and numbers, shared by its parts. */

export interface ConsumerAction {
  event: string;
  args: string;
}

// One borrower per Iris class, as raw measurements in cm.
export const SAMPLES: Array<{ features: number[]; species: string }> = [
  { features: [5.1, 3.5, 1.4, 0.2], species: "setosa" },
  { features: [6.4, 3.2, 4.5, 1.5], species: "versicolor" },
  { features: [6.3, 3.3, 6.0, 2.5], species: "virginica" },
];

/** The events the consumer emitted inside a transaction: what it did at that phase. */
export async function consumerActions(
  env: SibylEnv,
  consumer: Contract,
  txHash: string,
): Promise<ConsumerAction[]> {
  const receipt = await env.ethers.provider.getTransactionReceipt(txHash);
  const address = (await consumer.getAddress()).toLowerCase();
  return (receipt?.logs ?? [])
    .filter((l: Log) => l.address.toLowerCase() === address)
    .map((l: Log) => consumer.interface.parseLog(l))
    .filter((p): p is NonNullable<typeof p> => p !== null)
    .map((p) => ({
      event: p.name,
      args: p.fragment.inputs.map((input, k) => `${input.name}=${formatArg(p.args[k])}`).join(", "),
    }));
}

function formatArg(v: unknown): string {
  if (typeof v === "bigint") return v > 10n ** 15n ? `${formatEther(v)} ETH` : v.toString();
  if (typeof v === "string" && v.length > 20) return `${v.slice(0, 10)}…`;
  return String(v);
}

export function fmt(n: bigint): string {
  return Number(n).toLocaleString("en-US");
}
