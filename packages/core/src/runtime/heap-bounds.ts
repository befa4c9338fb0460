// Bounds V8's heap while an app runs (`maxSemiSpaceSizeMb`, `heapGrowingPercent`). A stream
// processor allocates fast and keeps little: measured on a 10M-record pass-through, about 30 MB
// of the heap is live after a full collection, yet V8 alone lets the young generation grow to
// 128 MiB (two semi-spaces of 64 MiB on Node 24) and the old generation to several times its live
// size before it collects again: 570 MB of resident memory where 360 MB do, at a few percent
// fewer records/s (V8 collects more often).
//
// V8 reads its sizing flags at process start, so `--max-semi-space-size` set later does nothing.
// What it reads again at every collection: the factor by which it grows a semi-space, and the
// percentage by which it lets the old generation grow past what survived the last full
// collection. So the limiter lets a semi-space grow up to the bound in one step and then sets the
// factor to 1, looking again after every collection (V8 also shrinks the young generation while
// idle, and it may grow back); and it sets the old generation's growth once.
import { PerformanceObserver } from 'node:perf_hooks'
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8'

/** How an app bounds V8's heap; 0 leaves that part to V8. */
export interface HeapBounds {
  /** Each semi-space's capacity at most, in MiB. */
  readonly maxSemiSpaceSizeMb: number
  /** The old generation's growth past the live heap before a full collection, in percent. */
  readonly heapGrowingPercent: number
}

/** Flags that size the young generation: when the process was started with one, it wins. */
const SEMI_SPACE_FLAGS =
  /--(max|min)[-_]semi[-_]space[-_]size|--semi[-_]space[-_]growth[-_]factor|--max[-_]heap[-_]size/
/** The flag that sets the old generation's growth. */
const GROWING_FLAGS = /--heap[-_]growing[-_]percent/

/** V8's own semi-space growth factor, put back when no app bounds the young generation. */
const V8_GROWTH_FACTOR = 2
/** `--heap-growing-percent=0`: V8 chooses the growth itself (its default). */
const V8_GROWING_PERCENT = 0

/** The capacity of one semi-space now (what `--max-semi-space-size` bounds), in bytes. */
export function semiSpaceBytes(): number {
  const space = getHeapSpaceStatistics().find((each) => each.space_name === 'new_space')
  return space ? space.space_used_size + space.space_available_size : 0
}

/** The growth factor that takes a semi-space of `current` bytes at most to `limit`, and no further. */
export function growthFactor(current: number, limit: number): number {
  if (current <= 0 || current * 2 > limit) return 1
  return Math.floor(limit / current)
}

/** Which parts of the heap the process's own flags (or NODE_OPTIONS) size already: those win. */
export function sizedByFlags(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env.NODE_OPTIONS,
): { semiSpace: boolean; growing: boolean } {
  const flags = [...execArgv, nodeOptions ?? '']
  return {
    semiSpace: flags.some((flag) => SEMI_SPACE_FLAGS.test(flag)),
    growing: flags.some((flag) => GROWING_FLAGS.test(flag)),
  }
}

/** The smallest positive value of a bound over the apps holding one; 0 when none does. */
function smallest(bounds: Iterable<HeapBounds>, key: keyof HeapBounds): number {
  let least = 0
  for (const each of bounds) if (each[key] > 0 && (least === 0 || each[key] < least)) least = each[key]
  return least
}

/** One per process, since V8's flags are: with several apps in it, the smallest bound holds. */
class HeapLimiter {
  readonly #bounds = new Map<symbol, HeapBounds>()
  #observer: PerformanceObserver | undefined
  #factor = V8_GROWTH_FACTOR
  #growing = V8_GROWING_PERCENT

  hold(bounds: HeapBounds): symbol {
    const token = Symbol('heap-bounds')
    this.#bounds.set(token, bounds)
    this.#adjust()
    return token
  }

  release(token: symbol): void {
    if (this.#bounds.delete(token)) this.#adjust()
  }

  #adjust(): void {
    const semiSpace = smallest(this.#bounds.values(), 'maxSemiSpaceSizeMb') * 1024 * 1024
    if (semiSpace > 0 && !this.#observer) {
      this.#observer = new PerformanceObserver(() => this.#adjust())
      this.#observer.observe({ entryTypes: ['gc'] })
    } else if (semiSpace === 0 && this.#observer) {
      this.#observer.disconnect()
      this.#observer = undefined
    }
    this.#setFactor(semiSpace > 0 ? growthFactor(semiSpaceBytes(), semiSpace) : V8_GROWTH_FACTOR)
    this.#setGrowing(smallest(this.#bounds.values(), 'heapGrowingPercent'))
  }

  #setFactor(factor: number): void {
    if (factor === this.#factor) return
    this.#factor = factor
    setFlagsFromString(`--semi-space-growth-factor=${factor}`)
  }

  #setGrowing(percent: number): void {
    if (percent === this.#growing) return
    this.#growing = percent
    setFlagsFromString(`--heap-growing-percent=${percent}`)
  }
}

const limiter = new HeapLimiter()

/**
 * Bounds V8's heap as `bounds` says while the returned release function is not called. A part
 * whose bound is 0, or that the process's own flags size, is left to V8. A semi-space larger
 * already (grown before the app started) keeps its size.
 */
export function boundHeap(bounds: HeapBounds): () => void {
  const flagged = sizedByFlags()
  const effective: HeapBounds = {
    maxSemiSpaceSizeMb: flagged.semiSpace ? 0 : bounds.maxSemiSpaceSizeMb,
    heapGrowingPercent: flagged.growing ? 0 : bounds.heapGrowingPercent,
  }
  if (effective.maxSemiSpaceSizeMb <= 0 && effective.heapGrowingPercent <= 0) return () => {}
  // Releasing twice is harmless: the limiter forgets a token once.
  const token = limiter.hold(effective)
  return () => limiter.release(token)
}
