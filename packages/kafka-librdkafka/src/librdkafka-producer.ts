// The port's producer on librdkafka's: idempotent (acks=all implied), batching and compression on
// librdkafka's own threads. A send hands every record to librdkafka at once (in order, so the
// partitions keep the order of the sends) and resolves when each has its delivery report.
import {
  KafkaError,
  type ProducedOffset,
  type ProduceRecord,
  type ProducerOptions,
  type ProducerPort,
  topicPartitionKey,
} from '@kstreams/core'
import type {
  Binding,
  BindingConfig,
  BindingDeliveryReport,
  BindingError,
  BindingProducer,
} from './binding.js'
import { Codes, settle, toKafkaError } from './librdkafka-errors.js'

/** One send: how many delivery reports are still due, and where its records went. */
interface PendingSend {
  remaining: number
  offsets: Map<string, ProducedOffset>
  failure: KafkaError | undefined
  resolve(offsets: ProducedOffset[]): void
  reject(error: Error): void
}

const defaultDeliveryTimeoutMs = 120_000

export function producerConfig(base: BindingConfig, options: ProducerOptions): BindingConfig {
  return {
    ...base,
    'client.id': options.clientId,
    'enable.idempotence': true,
    acks: 'all',
    'linger.ms': options.lingerMs ?? 5,
    'batch.size': options.batchMaxBytes ?? 900_000,
    'compression.codec': options.compression ?? 'none',
    // A record that is not acknowledged in time fails its send, as the Java producer's delivery.timeout.ms.
    'message.timeout.ms': options.deliveryTimeoutMs ?? defaultDeliveryTimeoutMs,
    dr_cb: true,
  }
}

function asBuffer(bytes: Uint8Array | null): Buffer | null {
  if (bytes === null) return null
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

export class LibrdkafkaProducer implements ProducerPort {
  readonly #producer: BindingProducer
  readonly #connected: Promise<void>
  /** Resolved by the next delivery report: a send waiting for room in librdkafka's queue waits on it. */
  #room: { promise: Promise<void>; resolve: () => void } | undefined
  #closed = false

  constructor(binding: Binding, config: BindingConfig) {
    this.#producer = new binding.Producer(config)
    this.#producer.on('delivery-report', (error: BindingError | null, report: BindingDeliveryReport) =>
      this.#delivered(error, report),
    )
    // librdkafka serves delivery reports on its background thread; no poll timer on the JS side.
    this.#connected = settle('the librdkafka producer could not connect', (callback) =>
      this.#producer.connect({}, callback),
    ).then(() => this.#producer.setPollInBackground(true))
    this.#connected.catch(() => {})
  }

  async send(records: ProduceRecord[]): Promise<ProducedOffset[]> {
    if (records.length === 0) return []
    if (this.#closed) throw new KafkaError('send() after close() of the librdkafka producer')
    await this.#connected
    let resolve!: (offsets: ProducedOffset[]) => void
    let reject!: (error: Error) => void
    const done = new Promise<ProducedOffset[]>((resolvePromise, rejectPromise) => {
      resolve = resolvePromise
      reject = rejectPromise
    })
    const send: PendingSend = {
      remaining: records.length,
      offsets: new Map(),
      failure: undefined,
      resolve,
      reject,
    }
    for (let index = 0; index < records.length; index += 1) {
      const record = records[index]!
      const headers = record.headers?.map(([name, value]) => ({ [name]: asBuffer(value) ?? Buffer.alloc(0) }))
      for (;;) {
        try {
          this.#producer.produce(
            record.topic,
            record.partition ?? -1,
            asBuffer(record.value),
            asBuffer(record.key),
            record.timestamp ?? null,
            send,
            headers,
          )
          break
        } catch (error) {
          const code = (error as BindingError).code
          if (code !== Codes.QUEUE_FULL) {
            // The records handed over already get their reports; the rest fail the send now.
            send.remaining -= records.length - index
            send.failure ??= toKafkaError(`producing to "${record.topic}" failed`, error as BindingError, {
              topic: record.topic,
            })
            if (send.remaining === 0) reject(send.failure)
            return done
          }
          // librdkafka's queue is full: wait until it acknowledged something.
          await this.#waitForRoom()
        }
      }
    }
    return done
  }

  #waitForRoom(): Promise<void> {
    if (!this.#room) {
      let resolve!: () => void
      const promise = new Promise<void>((resolvePromise) => {
        resolve = resolvePromise
      })
      this.#room = { promise, resolve }
    }
    return this.#room.promise
  }

  #delivered(error: BindingError | null, report: BindingDeliveryReport): void {
    if (this.#room) {
      const { resolve } = this.#room
      this.#room = undefined
      resolve()
    }
    const send = report.opaque as PendingSend
    if (error) {
      send.failure ??= toKafkaError(`producing to "${report.topic}" failed`, error, {
        topic: report.topic,
        partition: report.partition,
      })
    } else {
      const key = topicPartitionKey(report.topic, report.partition)
      const offset = BigInt(report.offset)
      const known = send.offsets.get(key)
      if (!known) {
        send.offsets.set(key, { topic: report.topic, partition: report.partition, baseOffset: offset })
      } else if (offset < known.baseOffset) known.baseOffset = offset
    }
    send.remaining -= 1
    if (send.remaining > 0) return
    if (send.failure) send.reject(send.failure)
    else send.resolve([...send.offsets.values()])
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    try {
      await this.#connected
    } catch {
      return
    }
    await settle('flushing the librdkafka producer failed', (callback) =>
      this.#producer.flush(30_000, callback),
    )
    await settle('closing the librdkafka producer failed', (callback) => this.#producer.disconnect(callback))
  }
}
