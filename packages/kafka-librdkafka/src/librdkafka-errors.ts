// librdkafka's error codes that the adapter acts on, and the translation of a binding error into
// the KafkaError or FencedError the runtime expects.
import { FencedError, KafkaError } from '@kstreams/core'
import type { BindingError } from './binding.js'

/** librdkafka error codes (rdkafka.h; negative ones are the client's own, positive the broker's). */
export const Codes = {
  ASSIGN_PARTITIONS: -175,
  REVOKE_PARTITIONS: -174,
  QUEUE_FULL: -184,
  TIMED_OUT: -185,
  ALL_BROKERS_DOWN: -187,
  TRANSPORT: -195,
  NO_OFFSET: -168,
  UNKNOWN_TOPIC_OR_PART: 3,
  ILLEGAL_GENERATION: 22,
  UNKNOWN_MEMBER_ID: 25,
  REBALANCE_IN_PROGRESS: 27,
  TOPIC_ALREADY_EXISTS: 36,
  FENCED_INSTANCE_ID: 82,
  FENCED_MEMBER_EPOCH: 110,
  STALE_MEMBER_EPOCH: 113,
} as const

const fencing = new Set<number>([
  Codes.ILLEGAL_GENERATION,
  Codes.UNKNOWN_MEMBER_ID,
  Codes.FENCED_INSTANCE_ID,
  Codes.FENCED_MEMBER_EPOCH,
  Codes.STALE_MEMBER_EPOCH,
])

const retriableCodes = new Set<number>([
  Codes.QUEUE_FULL,
  Codes.TIMED_OUT,
  Codes.ALL_BROKERS_DOWN,
  Codes.TRANSPORT,
  Codes.REBALANCE_IN_PROGRESS,
])

export function isFencing(error: BindingError): boolean {
  return fencing.has(error.code)
}

/** `what` failed: a FencedError when the broker no longer accepts this member, else a KafkaError. */
export function toKafkaError(
  what: string,
  error: BindingError,
  context: { [name: string]: string | number | undefined } = {},
): KafkaError | FencedError {
  const message = `${what}: ${error.message} (librdkafka code ${error.code})`
  if (isFencing(error)) return new FencedError(message, { cause: error, context })
  return new KafkaError(message, {
    cause: error,
    retriable: error.isRetriable === true || retriableCodes.has(error.code),
    context,
  })
}

/** Node-style callback → promise, with the failure translated. */
export function settle<T>(
  what: string,
  call: (callback: (error: BindingError | null | undefined, result: T) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    call((error, result) => (error ? reject(toKafkaError(what, error)) : resolve(result)))
  })
}
