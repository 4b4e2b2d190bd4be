import type { Prover } from "../zk/prover.js";

/**
 * How many proofs run at once. A prover in this process uses every core on one proof, so all
 * of them share one lane of width 1: proofs (and the settlement that follows each) run one
 * after another, as they always have. A prover that hands proofs to workers (a job queue)
 * says how many it can have in flight (`concurrency`) and gets a lane of that width of its
 * own, so the node keeps every worker busy.
 */
export class ProofLanes {
  private readonly local = new Lane(1);
  private readonly wide = new Map<Prover, Lane>();

  /** Runs `work` (a proof and its settlement) in the prover's lane, when the lane has room. */
  run<R>(prover: Prover, work: () => Promise<R>): Promise<R> {
    return this.laneOf(prover).run(work);
  }

  private laneOf(prover: Prover): Lane {
    const width = prover.concurrency ?? 1;
    if (width <= 1) return this.local;
    let lane = this.wide.get(prover);
    if (!lane) this.wide.set(prover, (lane = new Lane(width)));
    return lane;
  }
}

/** A counting semaphore: at most `width` pieces of work at a time, in the order they came. */
class Lane {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly width: number) {}

  async run<R>(work: () => Promise<R>): Promise<R> {
    if (this.running >= this.width) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next)
        next(); // the slot passes straight to the next in line
      else this.running--;
    }
  }
}
