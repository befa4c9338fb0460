// The port's admin on librdkafka's AdminClient: topic checks and creation. The binding has no
// DescribeConfigs call, so topic configs (`configKeys`) and broker configs are not reported: the
// runtime then skips its cleanup.policy check of existing changelogs and assumes Kafka's default
// commit-metadata limit (see the README's capability table).
import { type AdminPort, KafkaError, type TopicDescription } from '@kstreams/core'
import type { Binding, BindingAdmin, BindingConfig, BindingTopicDescription } from './binding.js'
import { Codes, settle, toKafkaError } from './librdkafka-errors.js'

export class LibrdkafkaAdmin implements AdminPort {
  readonly #admin: BindingAdmin
  readonly #timeoutMs: number
  readonly #servers: string

  constructor(binding: Binding, config: BindingConfig, timeoutMs: number) {
    this.#admin = binding.AdminClient.create(config)
    this.#timeoutMs = timeoutMs
    this.#servers = String(config['bootstrap.servers'])
  }

  async describeTopics(topics: string[]): Promise<Map<string, TopicDescription>> {
    const described = new Map<string, TopicDescription>()
    if (topics.length === 0) return described
    const existing = new Set(
      await this.#call<string[]>('listing topics', (callback) =>
        this.#admin.listTopics({ timeout: this.#timeoutMs }, callback),
      ),
    )
    const wanted = [...new Set(topics)].filter((topic) => existing.has(topic))
    if (wanted.length === 0) return described
    const descriptions = await this.#call<BindingTopicDescription[]>('describing topics', (callback) =>
      this.#admin.describeTopics(wanted, { timeout: this.#timeoutMs }, callback),
    )
    for (const description of descriptions) {
      // Deleted between the listing and the description: absent, as a missing topic is.
      if (description.error?.code === Codes.UNKNOWN_TOPIC_OR_PART) continue
      if (description.error) throw toKafkaError(`describing topic "${description.name}"`, description.error)
      described.set(description.name, { name: description.name, partitions: description.partitions.length })
    }
    return described
  }

  async createTopics(topics: Array<TopicDescription & { replicationFactor?: number }>): Promise<void> {
    await Promise.all(
      topics.map(
        (topic) =>
          new Promise<void>((resolve, reject) => {
            this.#admin.createTopic(
              {
                topic: topic.name,
                num_partitions: topic.partitions,
                replication_factor: topic.replicationFactor ?? -1,
                ...(topic.configs ? { config: topic.configs } : {}),
              },
              this.#timeoutMs,
              (error) => {
                if (!error || error.code === Codes.TOPIC_ALREADY_EXISTS) resolve()
                else reject(toKafkaError(`creating topic "${topic.name}"`, error, { topic: topic.name }))
              },
            )
          }),
      ),
    )
  }

  #call<T>(what: string, call: Parameters<typeof settle<T>>[1]): Promise<T> {
    return settle<T>(`${what} on ${this.#servers}`, call).catch((error: unknown) => {
      if (error instanceof KafkaError && error.retriable) {
        throw new KafkaError(`${this.#servers} did not answer in time: ${error.message}`, {
          cause: error,
          retriable: true,
        })
      }
      throw error
    })
  }

  async close(): Promise<void> {
    this.#admin.disconnect()
  }
}
