import { BrowserProvider } from "ethers";

/**
 * An ethers provider over a Hardhat connection whose endpoint the test can cut and restore:
 * while `broken`, every JSON-RPC call fails as a refused connection does.
 */
export function breakableProvider(connection: { provider: { request(call: never): Promise<unknown> } }): {
  provider: BrowserProvider;
  cut(broken: boolean): void;
} {
  let broken = false;
  const provider = new BrowserProvider(
    {
      request: (call: { method: string; params?: unknown[] }) =>
        broken
          ? Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:8545"))
          : connection.provider.request(call as never),
    },
    undefined,
    { cacheTimeout: -1 },
  );
  return { provider, cut: (b) => (broken = b) };
}
