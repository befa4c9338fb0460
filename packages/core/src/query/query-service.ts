// What an application needs for interactive queries, in one place: the local views, the instance
// registry (once the application advertises), and the owner of a key.
import { ConfigError, IllegalStateError } from '../errors.js'
import type { AdminPort, KafkaPort, ProducerPort } from '../kafka/kafka-port.js'
import type { Logger } from '../logger.js'
import { type InstanceMetadata, InstanceRegistry, ownerOf } from './instance-registry.js'
import { type LocalStoreHost, LocalStores } from './local-stores.js'

/** How an application advertises itself to the other instances (`app.advertise`). */
export interface AdvertiseOptions {
  /** Where this instance's query server answers, e.g. `http://10.0.0.5:7070`. */
  endpoint?: string
  /** How often an instance writes its entry when nothing changed. @default 3000 */
  heartbeatIntervalMs?: number
  /** An instance whose heartbeat is older is not live. @default 15000 */
  instanceTimeoutMs?: number
}

/** Who owns a key of a store (`app.metadataForKey`). */
export interface KeyMetadata {
  store: string
  partition: number
  taskId: string
  /** The owning instance; undefined when no live instance claims the partition (yet). */
  owner: InstanceMetadata | undefined
}

export interface QueryServiceHost extends LocalStoreHost {
  applicationId: string
  clientId: string
  logger: Logger
  /** The Kafka clients; undefined before the application started. */
  clients(): { kafka: KafkaPort; admin: AdminPort; producer: ProducerPort } | undefined
}

export class QueryService {
  readonly local: LocalStores
  readonly #host: QueryServiceHost
  #registry: InstanceRegistry | undefined
  #starting: Promise<InstanceRegistry> | undefined

  constructor(host: QueryServiceHost) {
    this.#host = host
    this.local = new LocalStores(host)
  }

  get advertised(): boolean {
    return this.#registry !== undefined
  }

  advertise(options: AdvertiseOptions = {}): Promise<InstanceRegistry> {
    if (this.#starting) {
      return Promise.reject(
        new IllegalStateError(
          'this application advertises already (advertise() or serveQueries() was called)',
        ),
      )
    }
    const clients = this.#host.clients()
    if (!clients) {
      return Promise.reject(
        new IllegalStateError(
          'advertise() and serveQueries() need a started application: await app.start() first',
        ),
      )
    }
    const heartbeatIntervalMs = positive(options.heartbeatIntervalMs ?? 3000, 'heartbeatIntervalMs')
    const instanceTimeoutMs = positive(
      options.instanceTimeoutMs ?? 5 * heartbeatIntervalMs,
      'instanceTimeoutMs',
    )
    const registry = new InstanceRegistry({
      applicationId: this.#host.applicationId,
      clientId: this.#host.clientId,
      endpoint: options.endpoint,
      ...clients,
      tasks: () => this.#host.tasks(),
      storesOf: (subtopology) =>
        [...this.local.stores.values()]
          .filter((store) => store.subtopology.id === subtopology)
          .map((store) => store.name),
      heartbeatIntervalMs,
      instanceTimeoutMs,
      logger: this.#host.logger,
    })
    this.#starting = registry.start().then(() => {
      this.#registry = registry
      return registry
    })
    return this.#starting
  }

  metadata(): InstanceMetadata[] {
    if (!this.#registry) {
      throw new IllegalStateError(
        'app.metadata() needs the instances to know each other: call app.serveQueries() or app.advertise() first',
      )
    }
    return this.#registry.instances()
  }

  async metadataForKey(storeName: string, key: unknown): Promise<KeyMetadata> {
    const store = this.local.store(storeName)
    const partition = await this.local.partitionOf(storeName, key)
    const owner = ownerOf(this.metadata(), store.subtopology.id, partition)
    return {
      store: storeName,
      partition,
      taskId: `${store.subtopology.id}_${partition}`,
      owner: owner?.instance,
    }
  }

  /** Partition counts of every queryable store, for clients. */
  async storePartitions(): Promise<{
    [store: string]: { kind: string; partitions: number; subtopology: number }
  }> {
    const out: { [store: string]: { kind: string; partitions: number; subtopology: number } } = {}
    for (const store of this.local.stores.values()) {
      out[store.name] = {
        kind: store.info.kind,
        partitions: await this.#host.partitionCount(store.topic),
        subtopology: store.subtopology.id,
      }
    }
    return out
  }

  async close(): Promise<void> {
    const registry = await this.#starting?.catch(() => undefined)
    await registry?.close()
  }
}

function positive(value: number, option: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigError(`"${option}" must be a positive integer of milliseconds, got ${String(value)}`, {
      context: { option },
    })
  }
  return value
}
