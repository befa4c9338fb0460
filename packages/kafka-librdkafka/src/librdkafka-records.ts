// Fetched messages as the port's records and batches, and one consume call as a promise.
import type { FetchedBatch, FetchedRecord } from '@kstreams/core'
import type { BindingConsumer, BindingMessage } from './binding.js'
import { toKafkaError } from './librdkafka-errors.js'

const encoder = new TextEncoder()

export function toFetchedRecord(message: BindingMessage): FetchedRecord {
  const headers: Array<readonly [string, Uint8Array | null]> = []
  if (message.headers) {
    for (const header of message.headers) {
      for (const name in header) {
        const value = header[name]
        headers.push([name, typeof value === 'string' ? encoder.encode(value) : (value ?? null)])
      }
    }
  }
  return {
    topic: message.topic,
    partition: message.partition,
    offset: BigInt(message.offset),
    timestamp: message.timestamp ?? 0,
    key: message.key ?? null,
    value: message.value ?? null,
    headers,
  }
}

/** Up to `count` messages: waits at most `timeoutMs` for the first, then takes what is ready. */
export function consumeOnce(
  consumer: BindingConsumer,
  count: number,
  timeoutMs: number,
): Promise<BindingMessage[]> {
  consumer.setDefaultConsumeTimeout(timeoutMs)
  return new Promise((resolve, reject) => {
    consumer.consume(count, (error, messages) => {
      if (error) reject(toKafkaError('consuming failed', error))
      else resolve(messages ?? [])
    })
  })
}

/** Batches of the records held per partition, emptying those `take` allows. */
export function takeBatches(
  held: Map<string, FetchedRecord[]>,
  take: (key: string) => boolean,
  highWatermark: (record: FetchedRecord) => bigint,
): FetchedBatch[] {
  const batches: FetchedBatch[] = []
  for (const [key, records] of held) {
    if (records.length === 0 || !take(key)) continue
    held.delete(key)
    const first = records[0]!
    batches.push({
      topic: first.topic,
      partition: first.partition,
      records,
      highWatermark: highWatermark(records[records.length - 1]!),
    })
  }
  return batches
}
