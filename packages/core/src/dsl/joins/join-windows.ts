// Join windows of a stream–stream join, as Kafka Streams' `JoinWindows`: a left record at time t
// joins right records in [t - before, t + after]; out-of-order records are accepted for `grace`
// after their window ends, later ones are dropped.
import { TopologyError } from '../../errors.js'

export interface JoinWindows {
  /** How far before a left record a right record may be and still join it. */
  readonly beforeMs: number
  /** How far after a left record a right record may be and still join it. */
  readonly afterMs: number
  /** How long after its window ends an out-of-order record is still joined. */
  readonly graceMs: number
}

export interface JoinWindowsOptions {
  /** Out-of-order records within this time after their window ended still join. @default 0 */
  graceMs?: number
  /** Overrides the time difference before the left record. @default timeDifferenceMs */
  beforeMs?: number
  /** Overrides the time difference after the left record. @default timeDifferenceMs */
  afterMs?: number
}

/**
 * Join windows: records join when their timestamps differ by at most `timeDifferenceMs` (each
 * side can be set apart with `beforeMs`/`afterMs`), and records up to `graceMs` late still join.
 * As Kafka Streams' `JoinWindows.ofTimeDifferenceAndGrace(difference, grace)` (no grace: `0`).
 *
 * @example joinWindows(5 * 60_000, { graceMs: 30_000 })
 */
export function joinWindows(timeDifferenceMs: number, options: JoinWindowsOptions = {}): JoinWindows {
  const check = (name: string, value: number) => {
    if (!Number.isInteger(value) || value < 0) {
      throw new TopologyError(
        `join windows: "${name}" must be an integer number of ms >= 0, got ${String(value)}`,
        {
          context: { option: name },
        },
      )
    }
    return value
  }
  check('timeDifferenceMs', timeDifferenceMs)
  const windows = {
    beforeMs: check('beforeMs', options.beforeMs ?? timeDifferenceMs),
    afterMs: check('afterMs', options.afterMs ?? timeDifferenceMs),
    graceMs: check('graceMs', options.graceMs ?? 0),
  }
  return Object.freeze(windows)
}

/** Throws a TopologyError unless `windows` is a valid `JoinWindows` (from `joinWindows`). */
export function checkJoinWindows(join: string, windows: JoinWindows | undefined): JoinWindows {
  const valid =
    windows !== null &&
    typeof windows === 'object' &&
    [windows.beforeMs, windows.afterMs, windows.graceMs].every(
      (value) => Number.isInteger(value) && value >= 0,
    )
  if (!valid) {
    throw new TopologyError(
      `join "${join}" needs "windows" from joinWindows(timeDifferenceMs, { graceMs }), got ${JSON.stringify(windows)}`,
      { context: { processor: join, option: 'windows' } },
    )
  }
  return windows
}
