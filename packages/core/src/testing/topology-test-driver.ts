// Runs a topology without a broker, like Kafka Streams' TopologyTestDriver. It drives the same
// StreamTask and commit coordinator the runtime uses, with one task per sub-topology on partition 0,
// an in-memory collector, and a clock that only moves when the test says so.
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, TopologyError } from '../errors.js'
import type { FetchedRecord, ProduceRecord } from '../kafka/kafka-port.js'
import { type Logger, silentLogger } from '../logger.js'
import type { Headers } from '../record.js'
import { CommitCoordinator } from '../runtime/commit-coordinator.js'
import { DEFAULT_CACHE_MAX_BYTES_PER_TASK } from '../runtime/config.js'
import type { ErrorPolicies } from '../runtime/error-policy.js'
import { GLOBAL_TASK_ID, globalStoreContext, readOnlyGlobalStore } from '../runtime/global-stores.js'
import type { RecordCollector } from '../runtime/record-collector.js'
import { StreamTask } from '../runtime/task.js'
import type { Serde, SerdeContext } from '../serde.js'
import { RecordCache } from '../state/record-cache.js'
import type { StateStore } from '../state-store.js'
import type { GlobalStoreNode, Topology } from '../topology.js'

export interface TestDriverOptions {
  /** @default 'test-driver' */
  applicationId?: string
  /** Wall-clock start, in ms since the epoch. @default 0 */
  initialWallClockMs?: number
  /** Error policies, as in the runtime config. @default all 'fail' */
  errorPolicies?: Partial<ErrorPolicies>
  /** Directory for persistent stores. @default a folder under the OS temp dir */
  stateDir?: string
  /**
   * Bytes of each task's record cache. The driver commits after every input record (as Kafka
   * Streams' driver does), so cached updates reach stores, changelogs and flush listeners then.
   * @default 20 MiB, as the app's `cacheMaxBytesPerTask`
   */
  cacheMaxBytesPerTask?: number
  logger?: Logger
}

/** A record read from an output topic, deserialized. */
export interface TestRecord<K, V> {
  key: K
  value: V
  timestamp: number
  headers: Headers
  partition: number | undefined
}

export interface TestInputTopic<K, V> {
  /** Pipes one record. Resolves when it and everything it caused were processed. */
  pipeInput(key: K, value: V, timestamp?: number, headers?: Headers): Promise<void>
  /** Pipes raw bytes, e.g. to test what a malformed record does. */
  pipeRawInput(
    key: Uint8Array | null,
    value: Uint8Array | null,
    timestamp?: number,
    headers?: Headers,
  ): Promise<void>
  pipeValues(values: Iterable<V>, timestamp?: number): Promise<void>
  pipeKeyValues(pairs: Iterable<readonly [K, V]>, timestamp?: number): Promise<void>
}

export interface TestOutputTopic<K, V> {
  /** Removes and returns everything written so far. */
  readRecords(): TestRecord<K, V>[]
  readKeyValues(): Array<[K, V]>
  readValues(): V[]
  /** Removes and returns the oldest record; throws when the topic is empty. */
  readRecord(): TestRecord<K, V>
  isEmpty(): boolean
  size(): number
}

export class TopologyTestDriver {
  readonly #topology: Topology
  readonly #tasks = new Map<number, StreamTask>()
  /** Global stores by name; piping into a global store's topic writes to it directly. */
  readonly #globalStores = new Map<string, StateStore>()
  /** The same stores as processors see them: writes throw. */
  readonly #readOnlyGlobalStores = new Map<string, StateStore>()
  readonly #outputs = new Map<string, ProduceRecord[]>()
  readonly #offsets = new Map<string, bigint>()
  /** Records written to topics the topology reads too, waiting to be read back. */
  readonly #internal: ProduceRecord[] = []
  readonly #options: Required<Omit<TestDriverOptions, 'errorPolicies'>> & { errorPolicies: ErrorPolicies }
  readonly #coordinator: CommitCoordinator
  /** Committed input offsets (next offset to read), by topic. */
  readonly #committed = new Map<string, bigint>()
  /** An error an asynchronous record failed with under the `fail` policy. */
  #failure: unknown
  #wallClock: number
  #ready: Promise<void>
  #closed = false

  constructor(unresolved: Topology, options: TestDriverOptions = {}) {
    const applicationId = options.applicationId ?? 'test-driver'
    // Internal topics (repartition topics) are `<applicationId>-<name>`, as the runtime names them.
    const topology = unresolved.resolve(applicationId)
    this.#topology = topology
    this.#options = {
      applicationId,
      initialWallClockMs: options.initialWallClockMs ?? 0,
      stateDir: options.stateDir ?? join(tmpdir(), 'kstreams-test-driver', `${process.pid}-${Date.now()}`),
      cacheMaxBytesPerTask: options.cacheMaxBytesPerTask ?? DEFAULT_CACHE_MAX_BYTES_PER_TASK,
      logger: options.logger ?? silentLogger,
      errorPolicies: {
        deserialization: 'fail',
        processing: 'fail',
        production: 'fail',
        deadLetterTopic: `${applicationId}-dlq`,
        ...options.errorPolicies,
      },
    }
    this.#wallClock = this.#options.initialWallClockMs
    const collector: RecordCollector = {
      send: (record, partitioner, source) => {
        const partition = record.partition ?? (partitioner && source ? partitioner(source, 1) : undefined)
        const list = this.#outputs.get(record.topic) ?? []
        list.push(partition === undefined ? record : { ...record, partition })
        this.#outputs.set(record.topic, list)
        if (topology.subtopologyByTopic.has(record.topic) || this.#globalTopic(record.topic)) {
          this.#internal.push(record)
        }
      },
    }
    this.#coordinator = new CommitCoordinator({
      flushProduced: async () => {},
      endOffset: () => undefined,
      commitOffsets: async (offsets) => {
        for (const { topic, offset } of offsets) this.#committed.set(topic, offset)
      },
      logger: this.#options.logger,
    })
    for (const subtopology of topology.subtopologies) {
      this.#tasks.set(
        subtopology.id,
        new StreamTask({
          applicationId,
          topology,
          subtopology,
          partition: 0,
          collector,
          errorPolicies: this.#options.errorPolicies,
          logger: this.#options.logger,
          stateDir: this.#options.stateDir,
          cacheMaxBytes: this.#options.cacheMaxBytesPerTask,
          globalStores: this.#readOnlyGlobalStores,
          now: () => this.#wallClock,
          onFailure: (error) => {
            this.#failure ??= error
          },
        }),
      )
    }
    this.#ready = this.#openGlobalStores().then(async () => {
      await Promise.all([...this.#tasks.values()].map((task) => task.init()))
    })
    this.#ready.catch(() => {})
  }

  /** The current wall-clock time of the driver. */
  get wallClockTime(): number {
    return this.#wallClock
  }

  #globalTopic(topic: string): GlobalStoreNode | undefined {
    for (const node of this.#topology.globalStores.values()) if (node.topic === topic) return node
    return undefined
  }

  async #openGlobalStores(): Promise<void> {
    const cache = new RecordCache(this.#options.cacheMaxBytesPerTask)
    for (const node of this.#topology.globalStores.values()) {
      const store = node.builder.build()
      const { applicationId, stateDir, logger } = this.#options
      const directory = join(stateDir, applicationId, GLOBAL_TASK_ID, node.name)
      await store.init(globalStoreContext({ applicationId, stateDir, directory, cache, logger }))
      this.#globalStores.set(node.name, store)
      this.#readOnlyGlobalStores.set(node.name, readOnlyGlobalStore(store))
    }
  }

  createInputTopic<K, V>(topic: string, keySerde: Serde<K>, valueSerde: Serde<V>): TestInputTopic<K, V> {
    const subtopology = this.#topology.subtopologyByTopic.get(topic)
    const global = this.#globalTopic(topic)
    if (!subtopology && !global) {
      throw new TopologyError(
        `topic "${topic}" is not read by any source or global store of the topology (sources read: ${this.#topology.sourceTopics.join(', ')})`,
        { context: { topic } },
      )
    }
    const context = (target: 'key' | 'value', headers: Headers): SerdeContext => ({ topic, target, headers })
    const pipeRawInput = async (
      key: Uint8Array | null,
      value: Uint8Array | null,
      timestamp = this.#wallClock,
      headers: Headers = [],
    ): Promise<void> => {
      this.#assertOpen()
      await this.#ready
      if (global) {
        // As the runtime's global store reader: the topic's bytes go into the store as they are.
        if (key !== null) await this.#globalStores.get(global.name)!.restore!([{ key, value }])
        return
      }
      await this.#process(topic, { key, value, timestamp, headers })
      await this.#pipeInternal()
    }
    const pipeInput = (key: K, value: V, timestamp?: number, headers: Headers = []) =>
      pipeRawInput(
        key === null || key === undefined ? null : keySerde.serialize(key, context('key', headers)),
        value === null || value === undefined ? null : valueSerde.serialize(value, context('value', headers)),
        timestamp,
        headers,
      )
    return {
      pipeInput,
      pipeRawInput,
      pipeValues: async (values, timestamp) => {
        for (const value of values) await pipeInput(null as K, value, timestamp)
      },
      pipeKeyValues: async (pairs, timestamp) => {
        for (const [key, value] of pairs) await pipeInput(key, value, timestamp)
      },
    }
  }

  createOutputTopic<K, V>(topic: string, keySerde: Serde<K>, valueSerde: Serde<V>): TestOutputTopic<K, V> {
    const take = (count: number): TestRecord<K, V>[] => {
      const list = this.#outputs.get(topic) ?? []
      return list.splice(0, count).map((record) => ({
        key: (record.key === null
          ? null
          : keySerde.deserialize(record.key, { topic, target: 'key', headers: record.headers ?? [] })) as K,
        value: (record.value === null
          ? null
          : valueSerde.deserialize(record.value, {
              topic,
              target: 'value',
              headers: record.headers ?? [],
            })) as V,
        timestamp: record.timestamp ?? this.#wallClock,
        headers: record.headers ?? [],
        partition: record.partition,
      }))
    }
    const size = () => this.#outputs.get(topic)?.length ?? 0
    return {
      readRecords: () => take(size()),
      readKeyValues: () => take(size()).map((record) => [record.key, record.value]),
      readValues: () => take(size()).map((record) => record.value),
      readRecord: () => {
        const [record] = take(1)
        if (!record)
          throw new ConfigError(`output topic "${topic}" has no record to read`, { context: { topic } })
        return record
      },
      isEmpty: () => size() === 0,
      size,
    }
  }

  /** Runs one record through the task that reads `topic`, then commits (flushes) that task. */
  async #process(
    topic: string,
    record: Pick<FetchedRecord, 'key' | 'value' | 'timestamp' | 'headers'>,
  ): Promise<void> {
    const subtopology = this.#topology.subtopologyByTopic.get(topic)!
    const offset = this.#offsets.get(topic) ?? 0n
    this.#offsets.set(topic, offset + 1n)
    const task = this.#tasks.get(subtopology.id)!
    task.enqueue(topic, [{ topic, partition: 0, offset, ...record }])
    await task.runUntilIdle(this.#wallClock)
    this.#throwFailure()
    await this.#coordinator.commit([task])
  }

  #throwFailure(): void {
    if (this.#failure === undefined) return
    const failure = this.#failure
    this.#failure = undefined
    throw failure
  }

  /**
   * Records written to a topic that the topology also reads (e.g. a repartition topic between
   * sub-topologies) are read back, as a broker would deliver them, until none are left.
   */
  async #pipeInternal(): Promise<void> {
    for (let record = this.#internal.shift(); record; record = this.#internal.shift()) {
      const global = this.#globalTopic(record.topic)
      if (global) {
        if (record.key !== null) {
          await this.#globalStores.get(global.name)!.restore!([{ key: record.key, value: record.value }])
        }
        continue
      }
      await this.#process(record.topic, {
        key: record.key,
        value: record.value,
        timestamp: record.timestamp ?? this.#wallClock,
        headers: record.headers ?? [],
      })
    }
  }

  /** Moves the wall clock forward and fires due wall-clock punctuations. */
  async advanceWallClockTime(milliseconds: number): Promise<void> {
    this.#assertOpen()
    await this.#ready
    this.#wallClock += milliseconds
    for (const task of this.#tasks.values()) {
      await task.punctuateWallClock(this.#wallClock)
      await this.#coordinator.commit([task])
    }
    await this.#pipeInternal()
  }

  /** A store of the topology, for assertions. Throws when no sub-topology has it. */
  async getStore<S extends StateStore>(name: string): Promise<S> {
    await this.#ready
    const global = this.#globalStores.get(name)
    if (global) return global as S
    for (const task of this.#tasks.values()) {
      const store = task.getStore<S>(name)
      if (store) return store
    }
    throw new TopologyError(`the topology has no store named "${name}"`, { context: { store: name } })
  }

  /** The committed offset of an input topic (the next offset to read), as the runtime would commit it. */
  committedOffset(topic: string): bigint | undefined {
    return this.#committed.get(topic)
  }

  /** Raw records written to a topic so far, including ones no output topic reads (e.g. a DLQ). */
  producedRecords(topic: string): readonly ProduceRecord[] {
    return this.#outputs.get(topic) ?? []
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#ready.catch(() => {})
    await this.#coordinator.commit(this.#tasks.values())
    for (const task of this.#tasks.values()) await task.close()
    for (const store of this.#globalStores.values()) await store.close()
  }

  #assertOpen(): void {
    if (this.#closed) throw new ConfigError('the test driver is closed')
  }
}
