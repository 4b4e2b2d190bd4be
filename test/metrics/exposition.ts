import type { Registry } from "prom-client";

/**
 * Reads samples back out of Prometheus exposition text (what `/metrics` serves), so tests
 * assert what a scraper would see rather than the client library's internals.
 */

type Labels = Record<string, string>;

interface Sample {
  name: string;
  labels: Labels;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function samples(text: string): Sample[] {
  return text
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const m = SAMPLE.exec(line);
      if (!m) throw new Error(`not a sample line: ${line}`);
      const labels: Labels = {};
      for (const [, k, v] of (m[2] ?? "").matchAll(LABEL)) labels[k] = v;
      return { name: m[1], labels, value: Number(m[3]) };
    });
}

/** The value of the sample with exactly this name and these labels, or undefined if there is none. */
export function sample(text: string, name: string, labels: Labels = {}): number | undefined {
  const same = (a: Labels) =>
    Object.keys(a).length === Object.keys(labels).length &&
    Object.entries(labels).every(([k, v]) => a[k] === v);
  return samples(text).find((s) => s.name === name && same(s.labels))?.value;
}

/** One metric's exposition text, as a scrape of it alone would give it. */
export function scrape(registry: Registry, name: string): Promise<string> {
  return registry.getSingleMetricAsString(name);
}
