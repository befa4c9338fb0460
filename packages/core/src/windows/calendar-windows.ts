// Calendar windows computed in an IANA time zone with the runtime's Intl data: days of 23 or 25
// hours across DST changes, months of 28 to 31 days. A window is the interval between two local
// boundaries (for example 06:00 on one day and 06:00 on the next), each turned into an instant.
import { ConfigError } from '../errors.js'
import { integerOption, type TimeWindows, type Window } from './windows.js'

export type CalendarUnit = 'day' | 'week' | 'month' | 'quarter' | 'year'
export type Weekday = 'monday' | 'tuesday' | 'wednesday' | 'thursday' | 'friday' | 'saturday' | 'sunday'

export interface CalendarWindowOptions {
  unit: CalendarUnit
  /** Window length in units, aligned to 1970-01-01 (days, weeks, months) in the zone. @default 1 */
  every?: number
  /** IANA time zone, e.g. `Europe/Berlin`. */
  zone: string
  /** Local time at which a window starts, `HH:MM`. @default '00:00' */
  startTime?: string
  /** First day of a week window. @default 'monday' */
  weekStart?: Weekday
  /** How long after a window's end its records are still accepted. @default 0 */
  graceMs?: number
}

const weekdays: readonly Weekday[] = [
  'sunday',
  'monday',
  'tuesday',
  'wednesday',
  'thursday',
  'friday',
  'saturday',
]
const DAY = 86_400_000

interface LocalDate {
  year: number
  /** 1-12 */
  month: number
  day: number
}

/**
 * Windows of calendar days, weeks, months, quarters or years in a time zone.
 *
 * A window is `[start, end)` between two local boundaries at `startTime`. Boundaries that fall in
 * a DST gap (a local time that does not exist) move forward by the length of the gap, as
 * java.time does (02:30 on a spring-forward night in Europe/Berlin becomes 03:30); boundaries in
 * an overlap (a local time that happens twice) take the first occurrence. Neighbouring windows
 * share their boundary, so every timestamp is in exactly one window.
 *
 * @example calendarWindows({ unit: 'day', zone: 'Europe/Berlin' })
 * @example calendarWindows({ unit: 'week', zone: 'America/New_York', weekStart: 'monday', startTime: '06:00' })
 */
export function calendarWindows(options: CalendarWindowOptions): TimeWindows {
  const units: readonly string[] = ['day', 'week', 'month', 'quarter', 'year']
  if (!units.includes(options?.unit)) {
    throw new ConfigError(
      `calendar window option "unit" must be one of ${units.join(', ')}, got ${JSON.stringify(options?.unit)}`,
      { context: { option: 'unit' } },
    )
  }
  const every = integerOption(options.every ?? 1, 'every', 1)
  const zone = new ZoneClock(options.zone)
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(options.startTime ?? '00:00')
  if (!match) {
    throw new ConfigError(
      `calendar window option "startTime" must be a local time "HH:MM", got ${JSON.stringify(options.startTime)}`,
      { context: { option: 'startTime' } },
    )
  }
  const startMinutes = Number(match[1]) * 60 + Number(match[2])
  const weekStart = weekdays.indexOf(options.weekStart ?? 'monday')
  if (weekStart < 0) {
    throw new ConfigError(
      `calendar window option "weekStart" must be a weekday name, got ${JSON.stringify(options.weekStart)}`,
      { context: { option: 'weekStart' } },
    )
  }
  const graceMs = integerOption(options.graceMs ?? 0, 'graceMs', 0)
  const months = options.unit === 'month' ? every : options.unit === 'quarter' ? 3 * every : 12 * every

  /** The boundary dates of the window whose first date is on or before `date`: [first, next). */
  const boundaries = (date: LocalDate): [LocalDate, LocalDate] => {
    const days = daysSinceEpoch(date)
    if (options.unit === 'day') {
      const first = Math.floor(days / every) * every
      return [dateOfDays(first), dateOfDays(first + every)]
    }
    if (options.unit === 'week') {
      // 1970-01-01 was a Thursday (4); weeks are counted from the first week start on or before it.
      const reference = -((4 - weekStart + 7) % 7)
      const first = reference + Math.floor((days - reference) / (7 * every)) * 7 * every
      return [dateOfDays(first), dateOfDays(first + 7 * every)]
    }
    const index = (date.year - 1970) * 12 + (date.month - 1)
    const first = Math.floor(index / months) * months
    return [dateOfMonths(first), dateOfMonths(first + months)]
  }
  const instant = (date: LocalDate) => zone.instantOf(date, startMinutes)
  const windowOf = (date: LocalDate): Window => {
    const [first, next] = boundaries(date)
    return { start: instant(first), end: instant(next) }
  }

  let cached: Window | undefined
  return {
    kind: 'calendar',
    graceMs,
    windowsFor(timestamp) {
      if (cached && cached.start <= timestamp && timestamp < cached.end) return [cached]
      const local = zone.localOf(timestamp)
      // Before the start time, the timestamp belongs to the previous calendar day.
      let date: LocalDate = { year: local.year, month: local.month, day: local.day }
      if (local.minutes < startMinutes) date = dateOfDays(daysSinceEpoch(date) - 1)
      let window = windowOf(date)
      // A boundary moved by a DST gap can leave the timestamp just outside; step to its neighbour.
      while (timestamp < window.start) {
        date = dateOfDays(daysSinceEpoch(boundaries(date)[0]) - 1)
        window = windowOf(date)
      }
      while (timestamp >= window.end) {
        date = boundaries(date)[1]
        window = windowOf(date)
      }
      cached = window
      return [window]
    },
    describe: () =>
      `calendar windows of ${every} ${options.unit}(s) in ${options.zone} starting at ${options.startTime ?? '00:00'}${options.unit === 'week' ? ` on ${weekdays[weekStart]}` : ''}, grace ${graceMs} ms`,
  }
}

function daysSinceEpoch({ year, month, day }: LocalDate): number {
  return Math.floor(Date.UTC(year, month - 1, day) / DAY)
}

function dateOfDays(days: number): LocalDate {
  const date = new Date(days * DAY)
  return { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate() }
}

function dateOfMonths(months: number): LocalDate {
  return { year: 1970 + Math.floor(months / 12), month: (((months % 12) + 12) % 12) + 1, day: 1 }
}

/** Local calendar fields of instants in one zone, and instants of local times, via Intl. */
export class ZoneClock {
  readonly zone: string
  readonly #format: Intl.DateTimeFormat

  constructor(zone: string) {
    try {
      this.#format = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      })
    } catch (cause) {
      throw new ConfigError(
        `calendar window option "zone" must be an IANA time zone such as "Europe/Berlin", got ${JSON.stringify(zone)}`,
        { cause, context: { option: 'zone' } },
      )
    }
    this.zone = zone
  }

  /** The local date and minutes since local midnight at `timestamp`. */
  localOf(timestamp: number): LocalDate & { minutes: number } {
    const fields = this.#fields(timestamp)
    return {
      year: fields.year,
      month: fields.month,
      day: fields.day,
      minutes: fields.hour * 60 + fields.minute,
    }
  }

  /** Offset from UTC at `timestamp`, in ms (local = UTC + offset). */
  offsetAt(timestamp: number): number {
    const fields = this.#fields(timestamp)
    const local = Date.UTC(
      fields.year,
      fields.month - 1,
      fields.day,
      fields.hour,
      fields.minute,
      fields.second,
    )
    return local - (timestamp - (((timestamp % 1000) + 1000) % 1000))
  }

  /**
   * The instant of local `date` at `minutes` past midnight. In a gap, the time moves forward by the
   * gap's length; in an overlap, the earlier instant wins.
   */
  instantOf(date: LocalDate, minutes: number): number {
    const asUtc = Date.UTC(date.year, date.month - 1, date.day, 0, minutes)
    const before = this.offsetAt(asUtc - DAY)
    const after = this.offsetAt(asUtc + DAY)
    const candidates = [asUtc - before, asUtc - after].filter(
      (instant) => this.offsetAt(instant) === asUtc - instant,
    )
    if (candidates.length > 0) return Math.min(...candidates)
    // A gap: read the local time with the offset in force before it, which lands after the gap.
    return asUtc - before
  }

  #fields(timestamp: number) {
    const fields = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 }
    for (const part of this.#format.formatToParts(timestamp)) {
      if (part.type in fields) fields[part.type as keyof typeof fields] = Number(part.value)
    }
    return fields
  }
}
