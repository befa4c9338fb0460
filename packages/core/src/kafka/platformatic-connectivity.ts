// One outage tracker per port: the producer, the group consumer, the fetcher and the admin client
// report every request that could not reach a broker and every request that succeeded, so the
// runtime can tell "the broker is away" (degraded, keep retrying) from "it has been away too long".
import type { BrokerConnectivity, BrokerOutage } from './kafka-port.js'

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
