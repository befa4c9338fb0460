// Produces a run's input lines to the input topic, in order, as fast as the broker takes them or
// paced at a rate, and can hold (R2 holds it while the broker is away, so that no send has to be
// retried by a new producer, which could write a line twice).
import { compatibilityPartitioner, Producer, stringSerializers } from '@platformatic/kafka'
import { generateLines, type WorkloadOptions } from './workload.js'

const linesPerSend = 2000

export class InputFeeder {
  readonly #producer: Producer<string, string, string, string>
  readonly #topic: string
  readonly #workload: WorkloadOptions
  readonly #linesPerSecond: number | undefined
  #held: Promise<void> | undefined
  #release: (() => void) | undefined
  #idle: Promise<void> = Promise.resolve()
  #produced = 0
  #resends = 0

  constructor(options: {
    bootstrapServers: string[]
    topic: string
    workload: WorkloadOptions
    /** Paced at this rate; unset: as fast as the broker takes them. */
    linesPerSecond?: number
  }) {
    this.#topic = options.topic
    this.#workload = options.workload
    this.#linesPerSecond = options.linesPerSecond
    this.#producer = new Producer({
      // Kafka's Java default partitioner, as kstreams uses.
      partitioner: compatibilityPartitioner,
      clientId: `chaos-feeder-${process.pid}`,
      bootstrapBrokers: options.bootstrapServers,
      serializers: stringSerializers,
      idempotent: true,
    })
  }

  get produced(): number {
    return this.#produced
  }

  /** Sends that failed and were made again (each may have written its lines twice). */
  get resends(): number {
    return this.#resends
  }

  /** Produces every line; resolves when the last one is acknowledged. */
  async run(): Promise<void> {
    const startedAt = Date.now()
    let batch: Array<{ topic: string; key: string; value: string }> = []
    for (const line of generateLines(this.#workload)) {
      batch.push({ topic: this.#topic, key: line.key, value: line.value })
      if (batch.length === linesPerSend) {
        await this.#send(batch)
        batch = []
        if (this.#linesPerSecond !== undefined) {
          const dueMs = startedAt + (this.#produced / this.#linesPerSecond) * 1000
          if (dueMs > Date.now()) await new Promise((resolve) => setTimeout(resolve, dueMs - Date.now()))
        }
      }
    }
    if (batch.length > 0) await this.#send(batch)
    await this.#producer.close()
  }

  async #send(batch: Array<{ topic: string; key: string; value: string }>): Promise<void> {
    for (;;) {
      while (this.#held) await this.#held
      let done!: () => void
      this.#idle = new Promise((resolve) => {
        done = resolve
      })
      try {
        await this.#producer.send({ messages: batch, acks: -1 })
        this.#produced += batch.length
        return
      } catch {
        this.#resends += 1
        await new Promise((resolve) => setTimeout(resolve, 1000))
      } finally {
        done()
      }
    }
  }

  /** Holds the next send; resolves once the send in flight is done. */
  async hold(): Promise<void> {
    if (!this.#held) this.#held = new Promise((resolve) => (this.#release = resolve))
    await this.#idle
  }

  release(): void {
    const release = this.#release
    this.#held = undefined
    this.#release = undefined
    release?.()
  }
}
