/**
 * When this machine first saw the chain reach a time. Chain time and wall time drift apart: a
 * development chain stamps each block at least a second after the last, however fast it mines,
 * and a quiet chain mines none. To turn "n seconds after this answer" into a wall-clock
 * moment that several nodes agree on, each node notes, for every new head it sees, the
 * block's timestamp and the moment it saw it; nodes polling the same chain see the same
 * blocks within a poll interval of each other.
 */
export class ChainClock {
  /** (block timestamp, wall ms when first seen), timestamps strictly ascending */
  private readonly marks: Array<{ timestamp: number; wallMs: number }> = [];

  constructor(private readonly keep = 4096) {}

  /** A new head with this timestamp (s) was seen now. */
  note(timestamp: number, wallMs = Date.now()): void {
    const last = this.marks[this.marks.length - 1];
    if (last && last.timestamp >= timestamp) return;
    this.marks.push({ timestamp, wallMs });
    if (this.marks.length > this.keep) this.marks.splice(0, this.marks.length - this.keep);
  }

  /**
   * The wall-clock moment (ms) the chain was first seen at time `t` (s) or later: the first
   * noted head stamped at or after `t`. A time not reached yet is projected from the latest
   * head at one chain second per second; with nothing noted, chain time is taken as wall time.
   */
  wallTimeOf(t: number): number {
    const { marks } = this;
    if (marks.length === 0) return t * 1000;
    let lo = 0;
    let hi = marks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (marks[mid].timestamp >= t) hi = mid;
      else lo = mid + 1;
    }
    if (lo < marks.length) return marks[lo].wallMs;
    const last = marks[marks.length - 1];
    return last.wallMs + (t - last.timestamp) * 1000;
  }

  clear(): void {
    this.marks.length = 0;
  }
}
