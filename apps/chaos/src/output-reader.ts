// Reads the output topic from the start into an OutputTally, all through the run. It can be
// stopped and started again (R2 stops it while the broker is away; a failed stream restarts it):
// it resumes each partition after the last offset it counted, so no record is counted twice.
import { Consumer, type MessagesStream, stringDeserializers } from '@platformatic/kafka'
import type { OutputTally } from './tally.js'

export class OutputReader {
  readonly #bootstrapServers: string[]
  readonly #topic: string
  readonly #tally: OutputTally
  readonly #next: bigint[]
  #consumer: Consumer<string, string, string, string> | undefined
  #stream: MessagesStream<string, string, string, string> | undefined
  #generation = 0
  #restarts = 0
  #stopped = true

  constructor(options: {
    bootstrapServers: string[]
    topic: string
    partitions: number
    tally: OutputTally
  }) {
    this.#bootstrapServers = options.bootstrapServers
    this.#topic = options.topic
    this.#tally = options.tally
    this.#next = Array.from({ length: options.partitions }, () => 0n)
  }

  /** Times the stream failed and was opened again. */
  get restarts(): number {
    return this.#restarts
  }

  async start(): Promise<void> {
    this.#stopped = false
    const generation = ++this.#generation
    const consumer = new Consumer({
      groupId: `chaos-reader-${process.pid}-${Date.now()}-${generation}`,
      clientId: `chaos-reader-${process.pid}`,
      bootstrapBrokers: this.#bootstrapServers,
      deserializers: stringDeserializers,
      maxWaitTime: 200,
    })
    this.#consumer = consumer
    const stream = await consumer.consume({
      topics: [this.#topic],
      mode: 'manual',
      offsets: this.#next.map((offset, partition) => ({ topic: this.#topic, partition, offset })),
      autocommit: false,
    })
    this.#stream = stream
    stream.on('data', (message) => {
      if (generation !== this.#generation) return
      // The manual offsets only start the stream there; guard against a redelivery all the same.
      if (message.offset < this.#next[message.partition]!) return
      this.#next[message.partition] = message.offset + 1n
      this.#tally.add(message.key, message.value)
    })
    stream.on('error', () => {
      if (generation !== this.#generation || this.#stopped) return
      this.#restarts += 1
      void this.#reopen()
    })
  }

  async #reopen(): Promise<void> {
    await this.#close()
    while (!this.#stopped) {
      try {
        await this.start()
        return
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 1000))
      }
    }
  }

  async #close(): Promise<void> {
    this.#generation += 1
    const stream = this.#stream
    const consumer = this.#consumer
    this.#stream = undefined
    this.#consumer = undefined
    await stream?.close().catch(() => {})
    await consumer?.close(true).catch(() => {})
  }

  async stop(): Promise<void> {
    this.#stopped = true
    await this.#close()
  }
}
