// Global stores: every instance reads all partitions of each global store's topic into its own
// copy, without a consumer group. start() returns once every store holds its topic up to the end
// offsets it found, then a background loop keeps the stores up to date. The topic is the store's
// changelog, so its bytes go into the store through restore(), as a changelog restore does. A
// persistent store keeps the offsets it holds in a checkpoint (written after its data was flushed)
// and resumes from them; replaying records past the checkpoint again is harmless (upserts in order).
import { join } from 'node:path'
import type { OwnershipToken } from '../commit-point.js'
import { StoreError, TopologyError } from '../errors.js'
import {
  type AdminPort,
  type KafkaPort,
  type PartitionReader,
  topicPartitionKey,
} from '../kafka/kafka-port.js'
import type { Logger } from '../logger.js'
import { RecordCache } from '../state/record-cache.js'
import type { BackendWrite } from '../state/store-backend.js'
import { TaskDirectory } from '../state/task-directory.js'
import type { StateStore, StateStoreContext } from '../state-store.js'
import type { GlobalStoreNode, Topology } from '../topology.js'

/** The task id global stores are opened with (and their state directory's name). */
export const GLOBAL_TASK_ID = 'global'

export interface GlobalStoresOptions {
  kafka: KafkaPort
  admin: AdminPort
  topology: Topology
  applicationId: string
  clientId: string
  stateDir: string
  logger: Logger
  fetchMaxBytes: number
  /** Records per restore() call, at most. */
  batchSize: number
  /** How often a persistent store is flushed and its offsets checkpointed. */
  checkpointIntervalMs: number
  /** How long one poll of the background loop waits for records. */
  pollWaitMs: number
  /** Called when the background loop fails (the application then stops). */
  onError: (error: Error) => void
}

interface OpenStore {
  node: GlobalStoreNode
  store: StateStore
  partitions: number
}

/** A global store's record cache: about 12,000 small entries (see `CACHE_ENTRY_OVERHEAD`). */
const CACHE_BYTES = 5 * 1024 * 1024

export class GlobalStores {
  readonly #options: GlobalStoresOptions
  /** Open stores by name, read-only, for the tasks' processors. */
  readonly stores = new Map<string, StateStore>()
  readonly #byTopic = new Map<string, OpenStore>()
  /** Next offset to read, by `topicPartitionKey`. */
  readonly #positions = new Map<string, bigint>()
  #directory: TaskDirectory | undefined
  #reader: PartitionReader | undefined
  #loop: Promise<void> | undefined
  #closed = false
  #lastCheckpoint = Date.now()

  constructor(options: GlobalStoresOptions) {
    this.#options = options
  }

  /** Opens every global store and fills it up to its topic's current end. */
  async start(): Promise<void> {
    const { topology, admin } = this.#options
    const globals = [...topology.globalStores.values()]
    if (globals.length === 0) return
    const described = await admin.describeTopics(globals.map((node) => node.topic))
    const missing = globals.filter((node) => !described.has(node.topic))
    if (missing.length > 0) {
      throw new TopologyError(
        `the topic(s) of global store(s) ${missing.map((node) => `"${node.name}" ("${node.topic}")`).join(', ')} do not exist; create them before starting`,
        { context: { topic: missing[0]!.topic, store: missing[0]!.name } },
      )
    }
    const checkpoint = await this.#open(globals, (topic) => described.get(topic)!.partitions)
    const reader = this.#options.kafka.createReader({
      clientId: `${this.#options.clientId}-global`,
      fetchMaxBytes: this.#options.fetchMaxBytes,
    })
    this.#reader = reader
    const partitions = [...this.#byTopic.values()].flatMap(({ node, partitions: count }) =>
      Array.from({ length: count }, (_, partition) => ({
        topic: node.topic,
        partition,
        offset: checkpoint.get(checkpointKey(node.name, partition)),
      })),
    )
    await reader.assign(partitions)
    const started = Date.now()
    const ends = await reader.endOffsets(partitions)
    const behind = () =>
      partitions.some(
        (partition) =>
          (reader.position(partition) ?? 0n) <
          (ends.get(topicPartitionKey(partition.topic, partition.partition)) ?? 0n),
      )
    let records = 0
    while (!this.#closed && behind()) records += await this.#pollOnce(100)
    await this.#checkpoint()
    this.#options.logger.info(
      `global stores ${globals.map((node) => `"${node.name}"`).join(', ')}: restored ${records} record(s) in ${Date.now() - started} ms`,
    )
    this.#loop = this.#run()
  }

  /** Stops the background loop and closes the stores (a persistent one is checkpointed first). */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#loop
    const failures: unknown[] = []
    try {
      if (this.#reader) await this.#checkpoint()
    } catch (error) {
      failures.push(error)
    }
    for (const { store } of this.#byTopic.values()) {
      try {
        await store.close()
      } catch (error) {
        failures.push(error)
      }
    }
    await this.#reader?.close().catch((error: unknown) => failures.push(error))
    this.#directory?.release()
    this.stores.clear()
    if (failures.length > 0) {
      this.#options.logger.warn(`closing the global stores failed: ${String(failures[0])}`)
    }
  }

  async #open(
    globals: GlobalStoreNode[],
    partitionsOf: (topic: string) => number,
  ): Promise<Map<string, bigint>> {
    const { applicationId, stateDir, logger } = this.#options
    const checkpoint = new Map<string, bigint>()
    const cache = new RecordCache(CACHE_BYTES)
    for (const node of globals) {
      let directory = join(stateDir, applicationId, GLOBAL_TASK_ID, node.name)
      if (node.builder.persistent) {
        if (!this.#directory) {
          this.#directory = await TaskDirectory.lock(stateDir, applicationId, GLOBAL_TASK_ID, node.name)
          for (const [key, offset] of this.#directory.readCheckpoint()) checkpoint.set(key, offset)
        }
        const partitions = partitionsOf(node.topic)
        const covered = Array.from({ length: partitions }, (_, partition) =>
          checkpoint.has(checkpointKey(node.name, partition)),
        )
        if (!covered.every(Boolean)) {
          for (let partition = 0; partition < partitions; partition += 1) {
            checkpoint.delete(checkpointKey(node.name, partition))
          }
          this.#directory.wipeStore(node.name)
        }
        directory = this.#directory.storeDirectory(node.name)
      }
      const store = node.builder.build()
      if (!store.restore) {
        throw new StoreError(
          `global store "${node.name}" has no restore() method, so it cannot mirror a topic`,
          {
            context: { store: node.name, topic: node.topic },
          },
        )
      }
      const context = globalStoreContext({ applicationId, stateDir, directory, cache, logger })
      await store.init(context)
      const open = { node, store, partitions: partitionsOf(node.topic) }
      this.#byTopic.set(node.topic, open)
      this.stores.set(node.name, readOnlyGlobalStore(store))
    }
    return checkpoint
  }

  /** Reads one poll's records into the stores; returns how many were applied. */
  async #pollOnce(maxWaitMs: number): Promise<number> {
    const batches = await this.#reader!.poll(maxWaitMs)
    let applied = 0
    for (const batch of batches) {
      const open = this.#byTopic.get(batch.topic)
      if (!open) continue
      let writes: BackendWrite[] = []
      for (const record of batch.records) {
        // A record without a key cannot be a table row (Kafka Streams drops it too).
        if (record.key !== null) writes.push({ key: record.key, value: record.value })
        if (writes.length >= this.#options.batchSize) {
          await open.store.restore!(writes)
          applied += writes.length
          writes = []
        }
      }
      if (writes.length > 0) await open.store.restore!(writes)
      applied += writes.length
      const last = batch.records.at(-1)
      if (last) this.#positions.set(topicPartitionKey(batch.topic, batch.partition), last.offset + 1n)
    }
    return applied
  }

  async #run(): Promise<void> {
    try {
      while (!this.#closed) {
        await this.#pollOnce(this.#options.pollWaitMs)
        if (Date.now() - this.#lastCheckpoint >= this.#options.checkpointIntervalMs) await this.#checkpoint()
      }
    } catch (error) {
      if (this.#closed) return
      this.#options.onError(error instanceof Error ? error : new Error(String(error)))
    }
  }

  /** Flushes persistent stores, then records the offsets their data now covers. */
  async #checkpoint(): Promise<void> {
    this.#lastCheckpoint = Date.now()
    if (!this.#directory) return
    const offsets = new Map<string, bigint>()
    for (const { node, store, partitions } of this.#byTopic.values()) {
      if (!node.builder.persistent) continue
      for (let partition = 0; partition < partitions; partition += 1) {
        const position = this.#positions.get(topicPartitionKey(node.topic, partition))
        const resumed = this.#reader!.position({ topic: node.topic, partition })
        const offset = position ?? resumed
        if (offset !== undefined) offsets.set(checkpointKey(node.name, partition), offset)
      }
      await store.flush()
    }
    if (offsets.size > 0) this.#directory.writeCheckpoint(offsets)
  }
}

/** What a global store is opened with: no changelog (its topic is one), no input record. */
export function globalStoreContext(options: {
  applicationId: string
  stateDir: string
  directory: string
  cache: RecordCache
  logger: Logger
}): StateStoreContext {
  const ownership: OwnershipToken = { taskId: GLOBAL_TASK_ID, memberId: '', memberEpoch: 0 }
  return {
    ...options,
    taskId: GLOBAL_TASK_ID,
    partition: 0,
    changelog: undefined,
    ownership,
    currentInput: () => undefined,
    currentTimestamp: () => Date.now(),
    beforeWrite: () => {},
  }
}

const WRITES = new Set(['put', 'putMany', 'putIfAbsent', 'delete'])

/**
 * A global store as processors see it: reads pass through, writes throw. It mirrors its topic, and
 * a write would make one instance's copy differ from the topic (as Kafka Streams, which refuses them).
 */
export function readOnlyGlobalStore(store: StateStore): StateStore {
  return new Proxy(store, {
    get(target, property) {
      if (typeof property === 'string' && WRITES.has(property)) {
        return () => {
          throw new StoreError(
            `global store "${target.name}" is read-only for processors (${property}): it mirrors its topic, so write to the topic instead`,
            { context: { store: target.name } },
          )
        }
      }
      const value = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

function checkpointKey(store: string, partition: number): string {
  return `${store}:${partition}`
}
