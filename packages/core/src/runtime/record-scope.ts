// The per-record scope: everything that belongs to one record while it runs through a task's
// processors, and nothing task-wide. The executor opens a scope for each input record (and for
// each punctuation or store flush) and runs the processors inside it; the processor context and
// the store context read the scope they run in. Scopes travel with the async continuations of the
// processors (AsyncLocalStorage), so two records in flight at once, in different tasks or (later)
// in different key lanes of one task, never see each other's metadata.
import { AsyncLocalStorage } from 'node:async_hooks'
import type { FetchedRecord } from '../kafka/kafka-port.js'
import type { RecordMetadata } from '../record.js'
import type { InputPosition } from '../state/record-cache.js'

export type ScopeKind = 'record' | 'punctuation' | 'flush'

export class RecordScope {
  readonly kind: ScopeKind
  /** The input record, for records; undefined in punctuations and flushes. */
  readonly fetched: FetchedRecord | undefined
  /** Where the input record came from (processor context `recordMetadata`). */
  readonly metadata: RecordMetadata | undefined
  /** Input position written into changelog headers by stores. */
  readonly input: InputPosition | undefined
  /** Timestamp of the record (after the timestamp extractor), or the punctuation time. */
  timestamp: number
  /** Work started in this scope (asynchronous processors downstream) that the scope waits for. */
  pending: Promise<unknown>[] = []
  /** Records this scope handed to the collector (sinks, dead-letter). */
  sends = 0
  /**
   * Set when the scope was given up (its processor timed out, or its task was closed): later
   * forwards and sends from its leftover continuations are dropped instead of reaching sinks.
   */
  abandoned = false
  /** Set when the scope was given up before it finished: its input record does not count as done. */
  incomplete = false
  /**
   * When the current attempt started (wall clock), for `processingTimeoutMs`: a retry starts a new
   * attempt; +Infinity while the record waits to retry. Undefined: when the scope started.
   */
  attemptStartedAt: number | undefined
  /** The attempt running (or waiting to run), from 1; more with a processor's `retry` option. */
  attempt = 1
  /** When the record's asynchronous work began (wall clock); undefined for synchronous work. */
  startedAt: number | undefined

  constructor(kind: ScopeKind, fetched: FetchedRecord | undefined, timestamp: number) {
    this.kind = kind
    this.fetched = fetched
    this.timestamp = timestamp
    if (fetched) {
      this.metadata = { topic: fetched.topic, partition: fetched.partition, offset: fetched.offset }
      this.input = { topic: fetched.topic, offset: fetched.offset }
    } else {
      this.metadata = undefined
      this.input = undefined
    }
  }

  /** Where the scope is, for error messages. */
  describe(): string {
    if (this.metadata)
      return `the record at ${this.metadata.topic}[${this.metadata.partition}]@${this.metadata.offset}`
    return this.kind === 'flush' ? 'a store flush' : 'a punctuation'
  }

  /** Waits for the asynchronous work started in this scope, including work started meanwhile. */
  async settle(): Promise<void> {
    while (this.pending.length > 0) {
      const pending = this.pending
      this.pending = []
      await Promise.all(pending)
    }
  }
}

const storage = new AsyncLocalStorage<RecordScope>()

/** Runs `work` inside `scope`: processors and stores called from it (and its continuations) see it. */
export function runInScope<T>(scope: RecordScope, work: () => T): T {
  return storage.run(scope, work)
}

/** The scope the caller runs in, or undefined outside any (e.g. during restore). */
export function currentScope(): RecordScope | undefined {
  return storage.getStore()
}
