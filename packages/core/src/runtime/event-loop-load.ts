// How busy the event loop is with records, so that work that can wait (the idle write-down of
// cached store changes) runs only on spare capacity and never competes with processing under load.
import { performance } from 'node:perf_hooks'

/** How often the load is sampled: long enough that a gap between two fetches is not "spare". */
export const LOAD_SAMPLE_MS = 250
/** Below this share of a sample busy with other work than the deferrable one, the loop has spare capacity. */
const SPARE_BELOW = 0.5

/**
 * Event-loop utilization over the last sample (`performance.eventLoopUtilization`), minus the time
 * the deferrable work itself took (reported through `spent`), so that the work does not shut itself
 * out once it starts: under a steady input stream near capacity the loop never has spare capacity;
 * with a trickle of records it has, and the deferrable work can run flat out between them.
 */
export class EventLoopLoad {
  #sample = performance.eventLoopUtilization()
  #sampledAt = performance.now()
  #spentMs = 0
  #spare = false

  /** True when the loop had spare capacity over the last sample (of 250 to 500 ms). */
  get spare(): boolean {
    this.#resample()
    return this.#spare
  }

  /** Milliseconds until the next sample is taken. */
  get untilNextSampleMs(): number {
    return Math.max(0, Math.ceil(this.#sampledAt + LOAD_SAMPLE_MS - performance.now()))
  }

  /** Records milliseconds the deferrable work kept the loop busy, not counted as load. */
  spent(milliseconds: number): void {
    this.#spentMs += milliseconds
  }

  #resample(): void {
    const now = performance.now()
    const elapsed = now - this.#sampledAt
    if (elapsed < LOAD_SAMPLE_MS) return
    const sample = performance.eventLoopUtilization()
    const { active, idle } = performance.eventLoopUtilization(sample, this.#sample)
    // A sample much longer than asked for (nobody looked for a while) would dilute a long block of
    // the loop, such as a processor stuck in synchronous work past the session timeout, right
    // before now: it says nothing; the next one, of the asked-for length, decides.
    this.#spare =
      elapsed <= 2 * LOAD_SAMPLE_MS && Math.max(0, active - this.#spentMs) < SPARE_BELOW * (active + idle)
    this.#sample = sample
    this.#sampledAt = now
    this.#spentMs = 0
  }
}
