// Connections and metadata for the group consumer, on @platformatic/kafka's exported protocol
// layer: which broker leads each partition, topic ids, and the group coordinator.
import {
  apiVersionsV3,
  type Connection,
  ConnectionPool,
  findCoordinatorV6,
  metadataV12,
} from '@platformatic/kafka'
import { KafkaError } from '../errors.js'
import type { ConnectionSecurity } from './connection-security.js'
import { brokerVersionProblem } from './platformatic-broker-versions.js'
import type { ConnectivityTracker } from './platformatic-connectivity.js'
import { describeError, isUnreachable, partialResponse } from './platformatic-errors.js'
import { securityClientOptions, securityFailure } from './platformatic-security.js'

export interface Broker {
  host: string
  port: number
}

export interface PartitionLeader {
  leader: number
  leaderEpoch: number
}

export interface TopicMetadata {
  name: string
  id: string
  partitions: PartitionLeader[]
}

export interface ClusterOptions {
  bootstrapServers: string[]
  clientId: string
  connectTimeoutMs: number
  requestTimeoutMs: number
  /**
   * Told about every request of this cluster's: answered (`reachable`) or not reaching any broker
   * (`unreachable`). The port shares one tracker between all its clients.
   */
  connectivity?: ConnectivityTracker
  /** TLS and SASL of every connection. @default none */
  security?: ConnectionSecurity
}

function parseServer(server: string): Broker {
  const index = server.lastIndexOf(':')
  return { host: server.slice(0, index), port: Number(server.slice(index + 1)) }
}

export class Cluster {
  readonly #options: ClusterOptions
  readonly #bootstrap: Broker[]
  /** Separate pools: a long-poll fetch must never delay a heartbeat or a commit on the same socket. */
  readonly fetchPool: ConnectionPool
  readonly groupPool: ConnectionPool
  readonly #brokers = new Map<number, Broker>()
  readonly #topics = new Map<string, TopicMetadata>()
  readonly #topicNamesById = new Map<string, string>()

  constructor(options: ClusterOptions) {
    this.#options = options
    this.#bootstrap = options.bootstrapServers.map(parseServer)
    const connectionOptions = {
      connectTimeout: options.connectTimeoutMs,
      requestTimeout: options.requestTimeoutMs,
      ...(options.security ? securityClientOptions(options.security) : {}),
    }
    this.fetchPool = new ConnectionPool(`${options.clientId}-fetch`, connectionOptions)
    this.groupPool = new ConnectionPool(`${options.clientId}-group`, connectionOptions)
  }

  /** The bootstrap servers as "host:port, …", for messages. */
  get servers(): string {
    return this.#options.bootstrapServers.join(', ')
  }

  get connectivity(): ConnectivityTracker | undefined {
    return this.#options.connectivity
  }

  async anyConnection(pool: ConnectionPool = this.groupPool): Promise<Connection> {
    const known = [...this.#brokers.values()]
    try {
      return await pool.getFirstAvailable(known.length > 0 ? known : this.#bootstrap)
    } catch (error) {
      const servers = this.#options.bootstrapServers.join(', ')
      const security = securityFailure(error)
      if (security) {
        // A broker answered and refused us: no outage, and no retry can change its mind.
        this.#options.connectivity?.reachable()
        throw new KafkaError(`cannot connect to Kafka at ${servers}: ${security.message}`, {
          cause: error,
          retriable: false,
          context: { brokers: servers, reason: security.kind },
        })
      }
      this.#options.connectivity?.unreachable(error)
      throw new KafkaError(`cannot reach Kafka at ${servers}: ${describeError(error)}`, {
        cause: error,
        retriable: true,
      })
    }
  }

  async connectionTo(nodeId: number, pool: ConnectionPool): Promise<Connection> {
    let broker = this.#brokers.get(nodeId)
    if (!broker) {
      await this.refresh([])
      broker = this.#brokers.get(nodeId)
    }
    if (!broker) throw new KafkaError(`broker ${nodeId} is not in the cluster metadata`, { retriable: true })
    try {
      return await pool.get(broker)
    } catch (error) {
      this.#report(error)
      throw error
    }
  }

  /**
   * Fails with a KafkaError naming what is missing when the broker lacks a protocol version that
   * kstreams sends (see platformatic-broker-versions.ts).
   */
  async checkBrokerVersions(): Promise<void> {
    const connection = await this.anyConnection()
    const broker = `${connection.host}:${connection.port}`
    let response: Awaited<ReturnType<typeof apiVersionsV3.api.async>>
    try {
      response = await apiVersionsV3.api.async(connection, 'kstreams', '1')
      this.#options.connectivity?.reachable()
    } catch (error) {
      this.#report(error)
      throw new KafkaError(`cannot ask Kafka at ${broker} for its API versions: ${describeError(error)}`, {
        cause: error,
        retriable: isUnreachable(error),
        context: { broker },
      })
    }
    const problem = brokerVersionProblem(broker, response.apiKeys)
    if (problem) throw new KafkaError(problem, { retriable: false, context: { broker } })
  }

  /** Fetches metadata for `topics` (and the broker list). Missing topics are simply absent. */
  async refresh(topics: string[]): Promise<Map<string, TopicMetadata>> {
    const connection = await this.anyConnection()
    let response: Awaited<ReturnType<typeof metadataV12.api.async>>
    try {
      response = await metadataV12.api.async(connection, topics, false, false)
      this.#options.connectivity?.reachable()
    } catch (error) {
      this.#report(error)
      const partial = partialResponse<typeof response>(error)
      if (!partial)
        throw new KafkaError(`metadata request failed: ${describeError(error)}`, {
          cause: error,
          retriable: true,
        })
      response = partial
    }
    for (const broker of response.brokers)
      this.#brokers.set(broker.nodeId, { host: broker.host, port: broker.port })
    const found = new Map<string, TopicMetadata>()
    for (const topic of response.topics) {
      if (topic.errorCode !== 0 || !topic.name) continue
      const partitions: PartitionLeader[] = []
      for (const partition of topic.partitions) {
        partitions[partition.partitionIndex] = {
          leader: partition.leaderId,
          leaderEpoch: partition.leaderEpoch,
        }
      }
      const metadata = { name: topic.name, id: topic.topicId, partitions }
      this.#topics.set(topic.name, metadata)
      this.#topicNamesById.set(topic.topicId, topic.name)
      found.set(topic.name, metadata)
    }
    return found
  }

  topic(name: string): TopicMetadata | undefined {
    return this.#topics.get(name)
  }

  topicNameById(id: string): string | undefined {
    return this.#topicNamesById.get(id)
  }

  async coordinatorFor(groupId: string): Promise<Connection> {
    const connection = await this.anyConnection()
    const response = await findCoordinatorV6.api.async(connection, 0, [groupId]).catch((error: unknown) => {
      this.#report(error)
      throw new KafkaError(`cannot find the coordinator of group "${groupId}": ${describeError(error)}`, {
        cause: error,
        retriable: true,
      })
    })
    this.#options.connectivity?.reachable()
    const coordinator = response.coordinators.find((candidate) => candidate.errorCode === 0)
    if (!coordinator) throw new KafkaError(`no coordinator for group "${groupId}" yet`, { retriable: true })
    this.#brokers.set(coordinator.nodeId, { host: coordinator.host, port: coordinator.port })
    try {
      return await this.groupPool.get({ host: coordinator.host, port: coordinator.port })
    } catch (error) {
      this.#report(error)
      throw error
    }
  }

  /** A failed request counts against connectivity only when no broker answered it. */
  #report(error: unknown): void {
    if (isUnreachable(error)) this.#options.connectivity?.unreachable(error)
    else this.#options.connectivity?.reachable()
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.fetchPool.close(), this.groupPool.close()])
  }
}
