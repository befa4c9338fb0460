// Backoff for requests that wait out an outage: exponential so that a long outage costs few
// attempts, capped so that the first attempt after the broker returns comes soon, and jittered so
// that many clients do not reconnect in lockstep.

export interface BackoffOptions {
  /** @default 100 */
  initialMs?: number
  /** @default 5000 */
  maxMs?: number
  /** Fraction of the delay added or removed at random. @default 0.2 */
  jitter?: number
}

/**
 * The pause before retry number `attempt` (0 for the first retry): `initialMs` doubling up to
 * `maxMs`, then ±`jitter` of that at random. `random` is injectable for tests.
 */
export function retryDelayMs(attempt: number, options: BackoffOptions = {}, random = Math.random): number {
  const initialMs = options.initialMs ?? 100
  const maxMs = options.maxMs ?? 5000
  const jitter = options.jitter ?? 0.2
  const base = Math.min(initialMs * 2 ** Math.min(attempt, 30), maxMs)
  return Math.round(base * (1 - jitter + 2 * jitter * random()))
}
