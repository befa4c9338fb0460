// How the instances of an application find each other: a compacted topic,
// `<applicationId>-instances` (one partition), keyed by instance id. Each instance that advertises
// writes its endpoint and the tasks it owns whenever they change (it looks every
// `publishCheckMs`, so within a moment of each rebalance) and at least every
// `heartbeatIntervalMs`; on a clean close it writes a tombstone. Each reads the topic from the
// start and keeps the newest entry per instance; an entry whose heartbeat is older than
// `instanceTimeoutMs` (a crashed instance) is not live. No service besides Kafka is needed, and it
// works with whichever group protocol the consumer speaks, because it does not touch the group.
// Heartbeat ages use the writers' clocks: keep hosts' clocks within a fraction of the timeout.
import { randomUUID } from 'node:crypto'
import type { AdminPort, KafkaPort, PartitionReader, ProducerPort } from '../kafka/kafka-port.js'
import type { Logger } from '../logger.js'
import type { LocalTask } from './local-stores.js'

/** A task as an instance advertises it. */
export interface AdvertisedTask {
  taskId: string
  subtopology: number
  partition: number
  /** When the instance got the task (its clock, ms): of two claims, the newer one owns it. */
  since: number
  restoring: boolean
}

/** One live instance of the application. */
export interface InstanceMetadata {
  instanceId: string
  /** Where its query server answers (`http://host:port`); undefined when it serves none. */
  endpoint: string | undefined
  tasks: AdvertisedTask[]
  /** Partitions of each store it owns. */
  stores: { [store: string]: number[] }
  /** Since its last heartbeat. */
  heartbeatAgeMs: number
  /** True for this instance. */
  self: boolean
}

interface Entry {
  version: 1
  instanceId: string
  endpoint: string | null
  tasks: AdvertisedTask[]
  stores: { [store: string]: number[] }
  heartbeatAt: number
}

export interface InstanceRegistryOptions {
  applicationId: string
  clientId: string
  endpoint: string | undefined
  kafka: KafkaPort
  admin: AdminPort
  producer: ProducerPort
  /** This instance's tasks now, and the stores of each sub-topology. */
  tasks: () => LocalTask[]
  storesOf: (subtopology: number) => readonly string[]
  heartbeatIntervalMs: number
  instanceTimeoutMs: number
  logger: Logger
}

const PUBLISH_CHECK_MS = 200
const CATCH_UP_MS = 30_000
const encoder = new TextEncoder()
const decoder = new TextDecoder()

export class InstanceRegistry {
  readonly instanceId = randomUUID()
  readonly topic: string
  readonly #options: InstanceRegistryOptions
  readonly #entries = new Map<string, Entry>()
  readonly #since = new Map<string, number>()
  #reader: PartitionReader | undefined
  #stopped = false
  #loops: Promise<unknown> | undefined
  #published = ''
  #publishedAt = 0
  #caughtUp: Promise<void>
  #markCaughtUp!: () => void

  constructor(options: InstanceRegistryOptions) {
    this.#options = options
    this.topic = `${options.applicationId}-instances`
    this.#caughtUp = new Promise((resolve) => {
      this.#markCaughtUp = resolve
    })
  }

  /** Creates the topic if needed, publishes this instance and starts following the others. */
  async start(): Promise<void> {
    const { admin, kafka, clientId } = this.#options
    const existing = await admin.describeTopics([this.topic])
    if (!existing.has(this.topic)) {
      await admin.createTopics([
        {
          name: this.topic,
          partitions: 1,
          configs: { 'cleanup.policy': 'compact', 'segment.ms': '600000' },
        },
      ])
    }
    this.#reader = kafka.createReader({ clientId: `${clientId}-instances` })
    const partition = { topic: this.topic, partition: 0 }
    const end = (await this.#reader.endOffsets([partition])).values().next().value ?? 0n
    await this.#reader.assign([{ ...partition, offset: undefined }])
    await this.#publish(true)
    this.#loops = Promise.all([this.#readLoop(end), this.#publishLoop()])
    // Start serving metadata once the entries written before this instance came are read (or,
    // when the topic cannot be read that fast, after a while: entries keep arriving).
    let timer: NodeJS.Timeout | undefined
    const waited = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), CATCH_UP_MS)
    })
    const caughtUp = await Promise.race([this.#caughtUp.then(() => true), waited])
    clearTimeout(timer)
    if (!caughtUp) {
      this.#options.logger.warn(
        `${this.topic} was not read to its end within ${CATCH_UP_MS} ms; metadata lists the other instances as their entries arrive`,
      )
    }
  }

  /** Live instances: this one (as it is now) and every other with a fresh heartbeat. */
  instances(): InstanceMetadata[] {
    const now = Date.now()
    const self = this.#entry()
    const others = [...this.#entries.values()].filter(
      (entry) =>
        entry.instanceId !== this.instanceId && now - entry.heartbeatAt <= this.#options.instanceTimeoutMs,
    )
    return [self, ...others].map((entry) => ({
      instanceId: entry.instanceId,
      endpoint: entry.endpoint ?? undefined,
      tasks: entry.tasks,
      stores: entry.stores,
      heartbeatAgeMs: Math.max(0, now - entry.heartbeatAt),
      self: entry.instanceId === this.instanceId,
    }))
  }

  /** Stops, and writes a tombstone so that the others drop this instance at once. */
  async close(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    await this.#loops?.catch(() => {})
    try {
      await this.#options.producer.send([
        { topic: this.topic, partition: 0, key: encoder.encode(this.instanceId), value: null },
      ])
    } catch (error) {
      this.#options.logger.warn(
        `could not write the tombstone of instance ${this.instanceId} to ${this.topic} (${error instanceof Error ? error.message : String(error)}); the others drop it once its heartbeat is older than ${this.#options.instanceTimeoutMs} ms`,
      )
    }
    await this.#reader?.close().catch(() => {})
  }

  #entry(): Entry {
    const tasks = this.#options.tasks()
    const live = new Set(tasks.map((task) => task.id))
    for (const id of this.#since.keys()) if (!live.has(id)) this.#since.delete(id)
    const stores: { [store: string]: number[] } = {}
    const advertised = tasks
      .map((task) => {
        if (!this.#since.has(task.id)) this.#since.set(task.id, Date.now())
        for (const store of this.#options.storesOf(task.subtopologyId)) {
          const partitions = stores[store] ?? []
          partitions.push(task.partition)
          stores[store] = partitions
        }
        return {
          taskId: task.id,
          subtopology: task.subtopologyId,
          partition: task.partition,
          since: this.#since.get(task.id)!,
          restoring: task.restoring() !== undefined,
        }
      })
      .sort((left, right) => (left.taskId < right.taskId ? -1 : 1))
    for (const partitions of Object.values(stores)) partitions.sort((left, right) => left - right)
    return {
      version: 1,
      instanceId: this.instanceId,
      endpoint: this.#options.endpoint ?? null,
      tasks: advertised,
      stores,
      heartbeatAt: Date.now(),
    }
  }

  async #publish(force: boolean): Promise<void> {
    const entry = this.#entry()
    const { heartbeatAt: _ignored, ...content } = entry
    const signature = JSON.stringify(content)
    const due = Date.now() - this.#publishedAt >= this.#options.heartbeatIntervalMs
    if (!force && !due && signature === this.#published) return
    await this.#options.producer.send([
      {
        topic: this.topic,
        partition: 0,
        key: encoder.encode(this.instanceId),
        value: encoder.encode(JSON.stringify(entry)),
      },
    ])
    this.#published = signature
    this.#publishedAt = entry.heartbeatAt
  }

  async #publishLoop(): Promise<void> {
    while (!this.#stopped) {
      await new Promise((resolve) => setTimeout(resolve, PUBLISH_CHECK_MS))
      if (this.#stopped) break
      try {
        await this.#publish(false)
      } catch (error) {
        this.#options.logger.warn(
          `could not publish instance ${this.instanceId} to ${this.topic}: ${error instanceof Error ? error.message : String(error)}; retrying`,
        )
      }
    }
  }

  async #readLoop(end: bigint): Promise<void> {
    const reader = this.#reader!
    const partition = { topic: this.topic, partition: 0 }
    if (end === 0n) this.#markCaughtUp()
    while (!this.#stopped) {
      try {
        for (const batch of await reader.poll(500)) {
          for (const record of batch.records) this.#apply(record.key, record.value)
        }
        if ((reader.position(partition) ?? 0n) >= end) this.#markCaughtUp()
      } catch (error) {
        if (this.#stopped) break
        this.#options.logger.warn(
          `reading ${this.topic} failed: ${error instanceof Error ? error.message : String(error)}; retrying`,
        )
        await new Promise((resolve) => setTimeout(resolve, 500))
      }
    }
    this.#markCaughtUp()
  }

  #apply(key: Uint8Array | null, value: Uint8Array | null): void {
    if (key === null) return
    const instanceId = decoder.decode(key)
    if (value === null) {
      this.#entries.delete(instanceId)
      return
    }
    try {
      const entry = JSON.parse(decoder.decode(value)) as Entry
      if (entry.version === 1 && entry.instanceId === instanceId) this.#entries.set(instanceId, entry)
    } catch {
      this.#options.logger.warn(`ignoring an unreadable entry of instance ${instanceId} in ${this.topic}`)
    }
  }
}

/** The instance that owns a store partition: of all claims, the newest (a rebalance may overlap). */
export function ownerOf(
  instances: readonly InstanceMetadata[],
  subtopology: number,
  partition: number,
): { instance: InstanceMetadata; task: AdvertisedTask } | undefined {
  let best: { instance: InstanceMetadata; task: AdvertisedTask } | undefined
  for (const instance of instances) {
    for (const task of instance.tasks) {
      if (task.subtopology !== subtopology || task.partition !== partition) continue
      if (!best || task.since > best.task.since) best = { instance, task }
    }
  }
  return best
}
