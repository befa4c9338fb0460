// One outage tracker per port: the producer, the group consumer, the fetcher and the admin client
// report every request that could not reach a broker and every request that succeeded, so the
// runtime can tell "the broker is away" (degraded, keep retrying) from "it has been away too long".
import type { BrokerConnectivity, BrokerOutage } from './kafka-port.js'
import { isUnknownTopic, protocolFailures } from './platformatic-errors.js'
import { securityFailure } from './platformatic-security.js'

export class ConnectivityTracker implements BrokerConnectivity {
  readonly #brokers: string
  #outage: BrokerOutage | undefined

  constructor(bootstrapServers: string[]) {
    this.#brokers = bootstrapServers.join(', ')
  }

  outage(): BrokerOutage | undefined {
    return this.#outage
  }

  /** A request reached a broker and was answered (an error code in the answer counts as an answer). */
  reachable(): void {
    this.#outage = undefined
  }

  /** A request could not reach any broker (refused, reset, timed out, no leader known). */
  unreachable(error: unknown, now = Date.now()): void {
    const lastError = error instanceof Error ? error.message : String(error)
    if (this.#outage) this.#outage.lastError = lastError
    else this.#outage = { sinceMs: now, brokers: this.#brokers, lastError }
  }
}

/**
 * Backoff before retry number `attempt` (1 for the first retry): 100 ms doubling to 5 s, each
 * ±20% at random so that the clients of many instances do not hit a returning broker in step.
 */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(5000, 100 * 2 ** Math.max(0, attempt - 1))
  return Math.round(base * (0.8 + 0.4 * random()))
}

/**
 * How many retries it takes for the backoff delays alone, each at its shortest (-20%), to add up
 * to `budgetMs`: a client configured with that many retries cannot give up on a retriable error
 * before the budget is spent, whatever the attempts themselves take.
 */
export function retriesWithin(budgetMs: number): number {
  let retries = 0
  for (let spent = 0; spent < budgetMs; retries += 1) spent += 0.8 * Math.min(5000, 100 * 2 ** retries)
  return retries
}

interface ClientError {
  code?: unknown
  canRetry?: unknown
  errors?: unknown[]
}

function someInChain(error: unknown, test: (candidate: ClientError) => boolean, depth = 0): boolean {
  const candidate = error as ClientError | undefined
  if (typeof candidate !== 'object' || candidate === null || depth > 6) return false
  if (test(candidate)) return true
  return (
    Array.isArray(candidate.errors) && candidate.errors.some((inner) => someInChain(inner, test, depth + 1))
  )
}

/**
 * True when no broker answered: refused, reset or timed-out connections and requests (the
 * client's PLT_KFK_NETWORK and PLT_KFK_TIMEOUT errors). A protocol error code in an answer is
 * not one: that broker is up.
 */
export function isUnreachable(error: unknown): boolean {
  // A refused TLS handshake or login also arrives as PLT_KFK_NETWORK, but a broker answered.
  if (securityFailure(error)) return false
  return someInChain(
    error,
    (candidate) => candidate.code === 'PLT_KFK_NETWORK' || candidate.code === 'PLT_KFK_TIMEOUT',
  )
}

/**
 * Whether trying again can help, as @platformatic/kafka marks its errors (`canRetry`, taken from
 * Kafka's own list for protocol errors): MESSAGE_TOO_LARGE, INVALID_RECORD or an authorization
 * failure anywhere in the chain make the whole failure final.
 */
export function isRetriable(error: unknown): boolean {
  if (securityFailure(error)) return false
  return !someInChain(error, (candidate) => candidate.canRetry === false)
}

/** A failure without a broker's answer is part of an outage; an error code from a broker ends one. */
function report(tracker: ConnectivityTracker, error: unknown): void {
  if (isUnreachable(error)) tracker.unreachable(error)
  else if (protocolFailures(error).length > 0 || isUnknownTopic(error) || securityFailure(error))
    tracker.reachable()
}

/**
 * A retry-delay function for a @platformatic/kafka client: the backoff above, and every failed
 * attempt reported to `tracker` (as an outage when no broker answered, as reachable otherwise).
 */
export function trackingRetryDelay(tracker: ConnectivityTracker): (...args: unknown[]) => number {
  return (_client, _operationId, attempt, _retries, error) => {
    report(tracker, error)
    return retryDelayMs(typeof attempt === 'number' ? attempt : 1)
  }
}

/**
 * Runs `operation` until it succeeds, fails for a reason that retrying cannot fix, or `budgetMs`
 * has passed, with the backoff above between attempts. Past that it throws what `giveUp` makes of
 * the last failure, how long it tried and how many attempts it made.
 */
export async function retryWithin<T>(options: {
  budgetMs: number
  tracker: ConnectivityTracker
  operation: () => Promise<T>
  giveUp: (lastError: unknown, elapsedMs: number, attempts: number) => Error
  retriable?: (error: unknown) => boolean
}): Promise<T> {
  const { budgetMs, tracker, operation, giveUp, retriable = isRetriable } = options
  const started = Date.now()
  for (let attempt = 1; ; attempt += 1) {
    try {
      const result = await operation()
      tracker.reachable()
      return result
    } catch (error) {
      report(tracker, error)
      const elapsedMs = Date.now() - started
      if (!retriable(error) || elapsedMs >= budgetMs) throw giveUp(error, elapsedMs, attempt)
      // The last attempt is made when the budget ends rather than given up a backoff early.
      const delay = Math.min(retryDelayMs(attempt), budgetMs - elapsedMs)
      await new Promise((resolve) => setTimeout(resolve, delay))
    }
  }
}
