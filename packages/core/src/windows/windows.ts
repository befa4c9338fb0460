// Window definitions. A window is `[start, end)` in epoch milliseconds; both ends are kept, so
// windows of different lengths (calendar days of 23 or 25 hours, months) need no fixed size.
import { ConfigError } from '../errors.js'

export interface Window {
  /** Inclusive start, ms since the epoch. */
  start: number
  /** Exclusive end, ms since the epoch. */
  end: number
}

/** Assigns timestamps to time windows (tumbling, hopping, calendar). */
export interface TimeWindows {
  readonly kind: string
  /** Every window that contains `timestamp`, ordered by start. */
  windowsFor(timestamp: number): Window[]
  /** How long after a window's end its records are still accepted. */
  readonly graceMs: number
  /** A readable description for `describe()` and errors. */
  describe(): string
}

/**
 * Checks a whole-number option of a window definition (`minimum` 0 or 1) and names it when wrong.
 * @internal
 */
export function integerOption(value: unknown, option: string, minimum: 0 | 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < minimum) {
    throw new ConfigError(
      `window option "${option}" must be an integer ${minimum === 0 ? '>= 0' : '> 0'}, got ${JSON.stringify(value)}`,
      { context: { option } },
    )
  }
  return value
}

/** Floor division that rounds towards negative infinity, for timestamps before the epoch. */
function floorTo(value: number, step: number): number {
  return Math.floor(value / step) * step
}

/**
 * Fixed-size windows that advance by `advanceMs`, aligned to the epoch; `advanceMs === sizeMs`
 * gives tumbling windows. A timestamp belongs to `ceil(size / advance)` windows at most.
 */
export function hoppingWindows(options: {
  sizeMs: number
  advanceMs: number
  graceMs?: number
}): TimeWindows {
  const size = integerOption(options?.sizeMs, 'sizeMs', 1)
  const advance = integerOption(options.advanceMs, 'advanceMs', 1)
  const grace = integerOption(options.graceMs ?? 0, 'graceMs', 0)
  if (advance > size) {
    throw new ConfigError(
      `window option "advanceMs" (${advance}) must not exceed "sizeMs" (${size}), or some records would fall between windows`,
      { context: { option: 'advanceMs' } },
    )
  }
  return {
    kind: advance === size ? 'tumbling' : 'hopping',
    graceMs: grace,
    windowsFor(timestamp) {
      const windows: Window[] = []
      // Starts are multiples of `advance` in (timestamp - size, timestamp].
      for (let start = floorTo(timestamp - size, advance) + advance; start <= timestamp; start += advance) {
        if (start > timestamp - size) windows.push({ start, end: start + size })
      }
      return windows
    },
    describe: () =>
      advance === size
        ? `tumbling windows of ${size} ms, grace ${grace} ms`
        : `hopping windows of ${size} ms advancing by ${advance} ms, grace ${grace} ms`,
  }
}

/** Fixed-size, non-overlapping windows aligned to the epoch. */
export function tumblingWindows(options: { sizeMs: number; graceMs?: number }): TimeWindows {
  return hoppingWindows({ sizeMs: options?.sizeMs, advanceMs: options?.sizeMs, graceMs: options?.graceMs })
}
