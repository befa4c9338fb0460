import type { CommitPoint, OwnershipToken } from './commit-point.js'
import type { Logger } from './logger.js'
import type { Serde } from './serde.js'
import type { InputPosition, RecordCache } from './state/record-cache.js'
import type { Awaitable, BackendWrite } from './state/store-backend.js'

/** Sends a store's changes to its changelog topic, in the task's partition. */
export interface ChangelogWriter {
  readonly topic: string
  readonly partition: number
  send(key: Uint8Array, value: Uint8Array | null, timestamp: number, input: InputPosition | undefined): void
}

/** What a store is told when its task opens it. */
export interface StateStoreContext {
  applicationId: string
  taskId: string
  /** Partition of the task, which is the changelog partition. */
  partition: number
  /** Root directory of persistent state. */
  stateDir: string
  /**
   * This store's own directory, `<stateDir>/<applicationId>/<taskId>/<store>`. It exists and is
   * locked for this instance when the store is persistent.
   */
  directory: string
  /** The task's record cache, shared by its stores. */
  cache: RecordCache
  /** Where changes are logged; undefined when logging is off for this store. */
  changelog: ChangelogWriter | undefined
  /** Who owns the task here (see `BackendContext.ownership`). */
  ownership: OwnershipToken
  /** Topic and offset of the input record being processed; undefined in punctuations. */
  currentInput(): InputPosition | undefined
  /** Timestamp of the record being processed (stream time in punctuations). */
  currentTimestamp(): number
  /**
   * True when the record (or punctuation) the caller runs for was given up (its task was revoked
   * or closed, or its processor timed out): stores drop its writes, so that results of work the
   * runtime no longer stands behind never reach a store. Optional for contexts made by hand.
   * @default () => false
   * @example if (context.abandoned?.()) return
   */
  abandoned?(): boolean
  /**
   * Persistent stores call this before they write to their backend, so that the task's checkpoint
   * stops vouching for the local state until the next commit writes it again.
   */
  beforeWrite(): void
  logger: Logger
}

/**
 * The lifecycle every state store has. Typed stores (key-value, window) build on it.
 */
export interface StateStore {
  readonly name: string
  /** True when the store keeps its data on local disk between runs (restored from a checkpoint). */
  readonly persistent: boolean
  /** Opens the store for a task. Called once, before restore and before the first record. */
  init(context: StateStoreContext): Awaitable<void>
  /**
   * After `init`, for a store whose backend keeps its data off this host (see
   * `StoreBackend.changelogCheckpoint`): `{ offset }`, the changelog offset its durable data
   * covers (`offset` undefined: none, restore from the start). Undefined when the backend keeps no
   * checkpoint of its own: the local checkpoint file vouches for it.
   */
  changelogCheckpoint?(): Awaitable<{ offset: bigint | undefined } | undefined>
  /** Applies changelog records during restore, as one batch (`value: null` deletes). */
  restore?(batch: readonly BackendWrite[]): Awaitable<void>
  /**
   * The raw value of `key` as restore wrote it (the backend's bytes, as in `restore` batches), or
   * undefined when the store has none. The restorer asks it, at the end of a restore, for the keys
   * of changelog entries caused by uncommitted input: such an entry is skipped when the key
   * already has a value (an older entry, or local state from before the checkpoint), and applied
   * otherwise. A store without it gets those entries applied (state ahead, never lost).
   *
   * @default undefined (not implemented)
   * @example
   * restoredValue(key) { return this.backend.get(key) }
   */
  restoredValue?(key: Uint8Array): Awaitable<Uint8Array | undefined>
  /**
   * Makes every write so far durable in the backend and hands changelog records to the producer.
   * Called at every commit, with the commit point the flush belongs to.
   */
  flush(commitPoint?: CommitPoint): Awaitable<void>
  close(): Awaitable<void>
}

/** Changelog settings of a store. */
export interface StoreLogging {
  /** Extra configs of the changelog topic (it is always `cleanup.policy=compact`). @default {} */
  topicConfigs?: { [name: string]: string }
}

/**
 * What interactive queries need to read a store: its kind and its serdes. Store builders that
 * leave it out cannot be queried (`app.store(name)` names the store and says so).
 */
export interface StoreQueryInfo {
  /** `session`: a window store whose windows are sessions (read per key with `fetch(key)`). */
  readonly kind: 'key-value' | 'window' | 'session'
  readonly keySerde: Serde<unknown>
  readonly valueSerde: Serde<unknown>
}

/** Makes a fresh store for each task that uses it. */
export interface StoreBuilder<S extends StateStore = StateStore, N extends string = string> {
  readonly name: N
  /** How interactive queries read the stores it builds; undefined: not queryable. @default undefined */
  readonly query?: StoreQueryInfo
  /** Whether the stores it builds are persistent (see StateStore.persistent). */
  readonly persistent: boolean
  /** Changelog settings, or false when the store is not backed by a changelog. */
  readonly logging: StoreLogging | false
  /**
   * A source topic that already holds the store's data, restored from instead of a changelog of
   * its own (a table read from a topic; Kafka Streams' `reuse.ktable.source.topics`). The store is
   * rebuilt from it, up to the committed input, whenever its task opens; `logging` is false.
   * @default undefined (restored from its own changelog, if logged)
   * @example sourceChangelog: 'customers'
   */
  readonly sourceChangelog?: string
  build(): S
}
