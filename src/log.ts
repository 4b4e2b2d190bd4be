/**
 * Minimal logging shared by tasks, the node, the demo and the bench: one line per event,
 * and a heartbeat for long steps so a user never stares at a silent terminal.
 */
export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export const consoleLogger: Logger = {
  info: (m) => console.log(m),
  warn: (m) => console.warn(`warning: ${m}`),
  error: (m) => console.error(`error: ${m}`),
};

export const silentLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} };

export function prefixed(log: Logger, prefix: string): Logger {
  return {
    info: (m) => log.info(`${prefix} ${m}`),
    warn: (m) => log.warn(`${prefix} ${m}`),
    error: (m) => log.error(`${prefix} ${m}`),
  };
}

/**
 * Runs a long step, printing its start, a heartbeat every `everyMs`, and its duration.
 * Returns the step's result and its wall time.
 */
export async function step<T>(
  log: Logger,
  label: string,
  fn: () => Promise<T>,
  everyMs = 5000,
): Promise<{ result: T; ms: number }> {
  const start = Date.now();
  log.info(`▸ ${label}…`);
  const timer = setInterval(
    () => log.info(`  … ${label} (${Math.round((Date.now() - start) / 1000)} s)`),
    everyMs,
  );
  timer.unref();
  try {
    const result = await fn();
    const ms = Date.now() - start;
    log.info(`  ✓ ${label} in ${(ms / 1000).toFixed(1)} s`);
    return { result, ms };
  } finally {
    clearInterval(timer);
  }
}

/** snarkjs takes a logger with debug/info/warn/error; forward its info lines (throttled). */
export function snarkjsLogger(
  log: Logger,
  throttleMs = 2000,
): {
  debug: (m: string) => void;
  info: (m: string) => void;
  warn: (m: string) => void;
  error: (m: string) => void;
} {
  let last = 0;
  return {
    debug: () => {},
    info: (m: string) => {
      if (/circuit hash/i.test(m)) return; // a multi-line hex dump, noise in a build log
      const now = Date.now();
      if (now - last >= throttleMs) {
        last = now;
        log.info(`    snarkjs: ${m}`);
      }
    },
    warn: (m: string) => log.warn(`snarkjs: ${m}`),
    error: (m: string) => log.error(`snarkjs: ${m}`),
  };
}

/**
 * Only the progress of real work — a step's start, its heartbeat and its end — and warnings:
 * silent when everything is cached. Tests use it so a build they trigger is never silent.
 */
export function progressLogger(log: Logger, prefix = ""): Logger {
  const isProgress = (m: string) => /^(▸ | {2}… | {2}✓ )/.test(m);
  return {
    info: (m) => {
      if (isProgress(m)) log.info(`${prefix}${m}`);
    },
    warn: (m) => log.warn(`${prefix}${m}`),
    error: (m) => log.error(`${prefix}${m}`),
  };
}
