import { SibylError } from "../errors.js";

/** Redis URLs as options take them and logs show them (no driver loaded: the CLI's parsing uses it). */

export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

/** A Redis URL, checked: redis:// or rediss:// (TLS), with a host. */
export function checkedRedisUrl(value: string, option = "--redis"): string {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new SibylError(
      `${option} must be a Redis URL, got "${value}"`,
      `e.g. ${option} ${DEFAULT_REDIS_URL}`,
    );
  }
  if ((url.protocol !== "redis:" && url.protocol !== "rediss:") || url.hostname === "")
    throw new SibylError(
      `${option} must be a redis:// or rediss:// URL with a host, got "${value}"`,
      `e.g. ${option} ${DEFAULT_REDIS_URL}`,
    );
  return value.trim();
}

/** The URL as logs may show it: without its password. */
export function displayRedisUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = "***";
    return url.toString().replace(/\/$/, "");
  } catch {
    return value;
  }
}
