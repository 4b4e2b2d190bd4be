import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";

/**
 * The JSON-RPC URL of a network in the Hardhat config (its `url`, a configuration variable
 * resolved here), or undefined for a network that has none: Hardhat's in-process network.
 */
export async function rpcUrlOf(
  hre: HardhatRuntimeEnvironment,
  networkName: string,
): Promise<string | undefined> {
  const config = hre.config.networks[networkName];
  if (config?.type !== "http") return undefined;
  const url: unknown = config.url;
  if (typeof url === "string") return url;
  const variable = url as { getUrl?: () => Promise<string>; get?: () => Promise<string> };
  return variable.getUrl ? variable.getUrl() : variable.get!();
}

/** The HTTP headers a network in the Hardhat config sends with each request (an API key, say). */
export function rpcHeadersOf(hre: HardhatRuntimeEnvironment, networkName: string): Record<string, string> {
  const config = hre.config.networks[networkName];
  return config?.type === "http" ? { ...config.httpHeaders } : {};
}
