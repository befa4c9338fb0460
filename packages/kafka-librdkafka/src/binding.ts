// The parts of @confluentinc/kafka-javascript (its node-rdkafka API over librdkafka) this adapter
// uses, declared structurally so that the package builds and typechecks without the native
// binding installed (it is built from source by a separate step, see native/install.sh), and the
// loader that finds it: installed beside this package as usual, or in native/node_modules.
import { createRequire } from 'node:module'
import { ConfigError } from '@kstreams/core'

/** An error as the binding reports it (a LibrdKafkaError). */
export interface BindingError extends Error {
  code: number
  isRetriable?: boolean
  isFatal?: boolean
}

export type BindingCallback<T = void> = (error: BindingError | null | undefined, result: T) => void

export interface BindingTopicPartition {
  topic: string
  partition: number
  offset?: number
  metadata?: string | null
  error?: BindingError
}

export interface BindingMessage {
  topic: string
  partition: number
  offset: number
  timestamp?: number
  key: Buffer | null | undefined
  value: Buffer | null | undefined
  size: number
  headers?: Array<{ [name: string]: Buffer | string | null }>
}

export interface BindingClient {
  connect(options: { timeout?: number }, callback: BindingCallback<unknown>): void
  disconnect(callback: BindingCallback<unknown>): void
  on(event: string, listener: (...args: never[]) => void): void
  queryWatermarkOffsets(
    topic: string,
    partition: number,
    timeoutMs: number,
    callback: BindingCallback<{ highOffset: number; lowOffset: number }>,
  ): void
}

export interface BindingConsumer extends BindingClient {
  setDefaultConsumeTimeout(timeoutMs: number): void
  setDefaultIsTimeoutOnlyForFirstMessage(value: boolean): void
  subscribe(topics: string[]): void
  consume(count: number, callback: BindingCallback<BindingMessage[]>): void
  assign(partitions: BindingTopicPartition[]): void
  unassign(): void
  incrementalAssign(partitions: BindingTopicPartition[]): void
  incrementalUnassign(partitions: BindingTopicPartition[]): void
  assignmentLost(): boolean
  assignments(): BindingTopicPartition[]
  pause(partitions: BindingTopicPartition[]): void
  resume(partitions: BindingTopicPartition[]): void
  seek(partition: BindingTopicPartition, timeoutMs: number, callback: BindingCallback): void
  position(partitions: BindingTopicPartition[]): BindingTopicPartition[]
  commit(partitions: BindingTopicPartition[]): void
  committed(
    partitions: BindingTopicPartition[],
    timeoutMs: number,
    callback: BindingCallback<BindingTopicPartition[]>,
  ): void
}

export interface BindingDeliveryReport {
  topic: string
  partition: number
  offset: number
  opaque: unknown
}

export interface BindingProducer extends BindingClient {
  produce(
    topic: string,
    partition: number,
    value: Buffer | null,
    key: Buffer | null,
    timestamp: number | null,
    opaque: unknown,
    headers: Array<{ [name: string]: Buffer }> | undefined,
  ): unknown
  setPollInBackground(value: boolean): void
  flush(timeoutMs: number, callback: BindingCallback): void
}

export interface BindingTopicDescription {
  name: string
  partitions: Array<{ partition: number }>
  error?: BindingError
}

export interface BindingAdmin {
  connect(): void
  disconnect(): void
  createTopic(
    topic: {
      topic: string
      num_partitions: number
      replication_factor: number
      config?: { [name: string]: string }
    },
    timeoutMs: number,
    callback: (error: BindingError | undefined) => void,
  ): void
  listTopics(options: { timeout?: number }, callback: BindingCallback<string[]>): void
  describeTopics(
    topics: string[],
    options: { timeout?: number },
    callback: BindingCallback<BindingTopicDescription[]>,
  ): void
}

export type BindingConfig = { [name: string]: string | number | boolean | ((...args: never[]) => void) }

export interface Binding {
  KafkaConsumer: new (config: BindingConfig, topicConfig?: BindingConfig) => BindingConsumer
  Producer: new (config: BindingConfig, topicConfig?: BindingConfig) => BindingProducer
  AdminClient: { create(config: BindingConfig): BindingAdmin }
  librdkafkaVersion: string
  CODES: { ERRORS: { [name: string]: number } }
}

export const bindingPackage = '@confluentinc/kafka-javascript'

let loaded: Binding | undefined

/**
 * The binding, from wherever Node finds it next to this package, else from native/node_modules
 * (where native/install.sh builds it). A missing binding is a configuration problem of the
 * application: the error says how to build it.
 */
export function loadBinding(): Binding {
  if (loaded) return loaded
  const failures: string[] = []
  for (const base of [import.meta.url, new URL('../native/package.json', import.meta.url).href]) {
    try {
      loaded = createRequire(base)(bindingPackage) as Binding
      return loaded
    } catch (error) {
      failures.push(error instanceof Error ? error.message.split('\n')[0]! : String(error))
    }
  }
  throw new ConfigError(
    `${bindingPackage} (librdkafka) is not installed or not built: run "npm run install-native -w @kstreams/kafka-librdkafka" (it builds librdkafka from source, several minutes) or install ${bindingPackage} in your application (${failures.join('; ')})`,
    { context: { option: 'kafka' } },
  )
}
