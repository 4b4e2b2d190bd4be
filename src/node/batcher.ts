/**
 * The node's settlement batching policy (docs/batching.md), with no chain in it: answered
 * requests wait per model, and a batch is due when it is full (the largest registered batch
 * size) or when its oldest answer's settlement deadline is within the safety margin, whichever
 * comes first. A due batch that is not full settles with the smallest registered size that
 * holds it. Nothing waits past `deadline − margin`, so no answer is slashed for waiting.
 */

export interface BatchPolicy {
  /** batch sizes with a registered verifier, any order */
  sizes: readonly number[];
  /** settle a waiting answer once its deadline is this close (ms) */
  marginMs: number;
}

interface Waiting<T> {
  item: T;
  deadlineMs: number;
}

export interface DueBatch<T> {
  /** the registered batch size to settle with */
  k: number;
  items: T[];
  /** why it is due */
  reason: "full" | "deadline" | "flush";
}

export class BatchQueue<T> {
  private readonly sizes: number[];
  private waiting: Waiting<T>[] = [];

  constructor(private readonly policy: BatchPolicy) {
    if (policy.sizes.length === 0) throw new RangeError("a batch queue needs at least one batch size");
    if (!(policy.marginMs >= 0))
      throw new RangeError(`the batch margin must be ≥ 0 ms, not ${policy.marginMs}`);
    this.sizes = [...new Set(policy.sizes)].sort((a, b) => a - b);
  }

  get size(): number {
    return this.waiting.length;
  }

  /** the largest batch: a queue this long settles at once */
  get maxSize(): number {
    return this.sizes[this.sizes.length - 1];
  }

  add(item: T, deadlineMs: number): void {
    this.waiting.push({ item, deadlineMs });
    this.waiting.sort((a, b) => a.deadlineMs - b.deadlineMs);
  }

  /** Removes an item (its request was settled or closed elsewhere); true if it was waiting. */
  remove(item: T): boolean {
    const before = this.waiting.length;
    this.waiting = this.waiting.filter((w) => w.item !== item);
    return this.waiting.length !== before;
  }

  /** When the oldest waiting answer falls due (ms), or undefined when nothing waits. */
  nextDueMs(): number | undefined {
    return this.waiting.length ? this.waiting[0].deadlineMs - this.policy.marginMs : undefined;
  }

  /**
   * Takes the batches due at `nowMs`, oldest deadlines first: every full batch, then, if the
   * oldest remaining answer is due, all that remain (a partial batch). `flush` takes everything.
   */
  take(nowMs: number, flush = false): DueBatch<T>[] {
    const due: DueBatch<T>[] = [];
    while (this.waiting.length >= this.maxSize) due.push(this.cut(this.maxSize, "full"));
    const next = this.nextDueMs();
    if (this.waiting.length > 0 && (flush || (next !== undefined && next <= nowMs)))
      due.push(this.cut(this.waiting.length, flush ? "flush" : "deadline"));
    return due;
  }

  private cut(count: number, reason: DueBatch<T>["reason"]): DueBatch<T> {
    const items = this.waiting.splice(0, count).map((w) => w.item);
    const k = this.sizes.find((s) => s >= items.length) ?? this.maxSize;
    return { k, items, reason };
  }
}
