// One ioredis client per factory, shared by the backends it opened (every task of every store that
// uses the factory), connected while at least one backend is open. The client queues nothing while
// Redis is away: a command then fails at once, and the caller decides whether to wait (reads) or
// to give up (a flush, which the runtime retries at the next commit). So nothing piles up in memory
// during an outage, and no stale write is sent when Redis comes back.
import { Redis, type RedisOptions } from 'ioredis'
import type { Script } from './redis-scripts.js'
import type { ResolvedRedisStoreOptions } from './redis-store-options.js'

/** Redis answered with an error that retrying can help with (out of memory, busy, loading, failover). */
const retriableReplies = /^(OOM|BUSY|LOADING|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|NOREPLICAS)\b/

/** True when `error` says Redis could not be reached or did not answer (as opposed to refusing the command). */
export function isConnectionError(error: unknown): boolean {
  return !(error instanceof Error && error.name === 'ReplyError')
}

/** True when trying again later may succeed: Redis unreachable, or a transient refusal. */
export function isRetriable(error: unknown): boolean {
  return isConnectionError(error) || (error instanceof Error && retriableReplies.test(error.message))
}

export class RedisConnection {
  readonly #options: ResolvedRedisStoreOptions
  #client: Redis | undefined
  #users = 0
  #lastError: Error | undefined

  constructor(options: ResolvedRedisStoreOptions) {
    this.#options = options
  }

  /** Where Redis is, for messages (the URL without its password). */
  get where(): string {
    const { host, port } = this.#options.redis
    if (host !== undefined) return `${host}:${port ?? 6379}`
    return this.#options.url.replace(/\/\/([^@/]*)@/, '//***@')
  }

  /** The client, for the backends that acquired it. */
  get client(): Redis {
    if (this.#client === undefined) throw new Error('the Redis connection is not open')
    return this.#client
  }

  /** The last connection error ioredis reported, for messages. */
  get lastError(): Error | undefined {
    return this.#lastError
  }

  /** Starts using the shared client (connecting it on first use). */
  acquire(): Redis {
    this.#users += 1
    if (this.#client === undefined) {
      const options: RedisOptions = {
        retryStrategy: (times: number) => Math.min(times * 100, 1000),
        connectTimeout: this.#options.commandTimeoutMs,
        commandTimeout: this.#options.commandTimeoutMs,
        ...this.#options.redis,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
        lazyConnect: false,
      }
      const client = new Redis(this.#options.url, options)
      client.on('error', (error: Error) => {
        this.#lastError = error
      })
      client.on('ready', () => {
        this.#lastError = undefined
      })
      this.#client = client
    }
    return this.#client
  }

  /** Stops using the client; the last user closes it. */
  async release(): Promise<void> {
    this.#users -= 1
    if (this.#users > 0 || this.#client === undefined) return
    const client = this.#client
    this.#client = undefined
    if (client.status === 'ready') await client.quit().catch(() => client.disconnect())
    else client.disconnect()
  }

  /** Resolves true once the client is ready, false when `deadline` (epoch ms) passes first. */
  untilReady(deadline: number): Promise<boolean> {
    const client = this.#client
    if (client === undefined) return Promise.resolve(false)
    if (client.status === 'ready') return Promise.resolve(true)
    const remaining = deadline - Date.now()
    if (remaining <= 0 || client.status === 'end') return Promise.resolve(false)
    return new Promise((resolve) => {
      const done = (ready: boolean) => {
        clearTimeout(timer)
        client.off('ready', onReady)
        client.off('end', onEnd)
        resolve(ready)
      }
      const onReady = () => done(true)
      const onEnd = () => done(false)
      const timer = setTimeout(() => done(false), remaining)
      client.once('ready', onReady)
      client.once('end', onEnd)
    })
  }

  /**
   * Runs `command`; while Redis is unreachable and `waitMs` allows, waits for the connection and
   * tries again. Errors other than an unreachable Redis are thrown at once.
   */
  async run<T>(command: (client: Redis) => Promise<T>, waitMs: number): Promise<T> {
    const deadline = Date.now() + waitMs
    for (;;) {
      try {
        return await command(this.client)
      } catch (error) {
        if (!isConnectionError(error) || Date.now() >= deadline) throw error
        // A command may fail just before ioredis notices the connection dropped; do not spin.
        if (this.client.status === 'ready') await new Promise((resolve) => setTimeout(resolve, 50))
        else if (!(await this.untilReady(deadline))) throw error
      }
    }
  }

  /** Runs a script by its SHA, loading it when the server does not know it (after a restart). */
  async script(
    script: Script,
    keys: readonly string[],
    args: ReadonlyArray<string | Buffer>,
  ): Promise<unknown> {
    const client = this.client
    try {
      return await client.callBuffer('EVALSHA', [script.sha, script.keys, ...keys, ...args])
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error
      return await client.callBuffer('EVAL', [script.lua, script.keys, ...keys, ...args])
    }
  }
}
