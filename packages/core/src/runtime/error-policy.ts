import { KStreamsError } from '../errors.js'
import type { FetchedRecord, ProduceRecord } from '../kafka/kafka-port.js'

/**
 * What to do when a record cannot be read or processed:
 * - `fail` (default): stop the application with the error; nothing past the record is committed.
 * - `continue`: log the error, count it, and go on with the next record.
 * - `dead-letter`: send the original bytes, with headers describing the error, to the dead-letter
 *   topic, then go on.
 */
export type RecordErrorPolicy = 'fail' | 'continue' | 'dead-letter'

/** What to do when the broker refuses a produced record: stop (`fail`), or log, count and go on. */
export type ProductionErrorPolicy = 'fail' | 'continue'

export interface ErrorPolicies {
  deserialization: RecordErrorPolicy
  processing: RecordErrorPolicy
  production: ProductionErrorPolicy
  /** Topic that `dead-letter` writes to. */
  deadLetterTopic: string
}

/** Header names on dead-letter records. */
export const DeadLetterHeaders = {
  stage: 'kstreams.error.stage',
  errorClass: 'kstreams.error.class',
  errorMessage: 'kstreams.error.message',
  /** The error's cause (for a retried record: the last attempt's error), class and message. */
  causeClass: 'kstreams.error.cause.class',
  causeMessage: 'kstreams.error.cause.message',
  /** Attempts made, for a record whose retries were exhausted. */
  attempts: 'kstreams.error.attempts',
  topic: 'kstreams.source.topic',
  partition: 'kstreams.source.partition',
  offset: 'kstreams.source.offset',
} as const

const encoder = new TextEncoder()

/** The dead-letter copy of a record: original key, value and headers, plus the error headers. */
export function deadLetterRecord(
  topic: string,
  stage: 'deserialization' | 'processing',
  record: FetchedRecord,
  error: unknown,
): ProduceRecord {
  const errorClass = error instanceof Error ? error.name : typeof error
  const message = error instanceof Error ? error.message : String(error)
  const headers: Array<readonly [string, Uint8Array | null]> = [...record.headers]
  headers.push(
    [DeadLetterHeaders.stage, encoder.encode(stage)],
    [
      DeadLetterHeaders.errorClass,
      encoder.encode(KStreamsError.isInstance(error) ? `${errorClass}(${error.code})` : errorClass),
    ],
    [DeadLetterHeaders.errorMessage, encoder.encode(message)],
    [DeadLetterHeaders.topic, encoder.encode(record.topic)],
    [DeadLetterHeaders.partition, encoder.encode(String(record.partition))],
    [DeadLetterHeaders.offset, encoder.encode(String(record.offset))],
  )
  const cause = error instanceof Error ? error.cause : undefined
  if (cause !== undefined) {
    headers.push(
      [DeadLetterHeaders.causeClass, encoder.encode(cause instanceof Error ? cause.name : typeof cause)],
      [
        DeadLetterHeaders.causeMessage,
        encoder.encode(cause instanceof Error ? cause.message : String(cause)),
      ],
    )
  }
  if (KStreamsError.isInstance(error) && typeof error.context.attempts === 'number') {
    headers.push([DeadLetterHeaders.attempts, encoder.encode(String(error.context.attempts))])
  }
  return { topic, key: record.key, value: record.value, timestamp: record.timestamp, headers }
}
