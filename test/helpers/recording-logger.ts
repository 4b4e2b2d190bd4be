import type { Logger } from "../../src/log.js";

/** A Logger that keeps every line, for tests that assert what was logged. */
export class RecordingLogger implements Logger {
  readonly lines: { level: "info" | "warn" | "error"; msg: string }[] = [];
  private readonly waiters: (() => void)[] = [];

  info = (msg: string): void => this.record("info", msg);
  warn = (msg: string): void => this.record("warn", msg);
  error = (msg: string): void => this.record("error", msg);

  private record(level: "info" | "warn" | "error", msg: string): void {
    this.lines.push({ level, msg });
    for (const w of this.waiters.splice(0)) w();
  }

  /** Messages of one level. */
  messages(level: "info" | "warn" | "error"): string[] {
    return this.lines.filter((l) => l.level === level).map((l) => l.msg);
  }

  /** Resolves with the first line (of any level) that contains `text`; rejects after `timeoutMs`. */
  waitFor(text: string, timeoutMs = 30_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no log line containing ${JSON.stringify(text)} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const check = (): void => {
        const hit = this.lines.find((l) => l.msg.includes(text));
        if (hit) {
          clearTimeout(timer);
          resolve(hit.msg);
        } else this.waiters.push(check);
      };
      check();
    });
  }
}
