// The byte formats of the foreign-key join (foreign-key-join.ts): subscriptions and answers on its
// internal topics, and the values of its stores. Topics and changelogs outlive a deployment, so a
// format that changes gets a new version, and the old version is still read.
import { TopologyError } from '../../errors.js'
import { readInt64, readUint32, writeInt64, writeUint32 } from '../../state/key-bytes.js'

// What a subscription asks for.
export const UNSUBSCRIBE = 0
export const ANSWER_EVEN_WITHOUT_ROW = 1
export const ANSWER_ONLY_WITH_ROW = 2

const SUBSCRIPTION_VERSION = 1
// Version 2 of an answer adds the right row's timestamp; version 1 answers (no timestamp) are read.
const ANSWER_VERSION = 2
const HASH_BYTES = 16

export function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  if (a.byteLength !== b.byteLength) return false
  for (let index = 0; index < a.byteLength; index += 1) if (a[index] !== b[index]) return false
  return true
}

// subscription: version | instruction | hash (16, zeros when none) | partition (u32) | primary key.
// The left row's timestamp is the record's, as in Kafka Streams (internal topics keep it).
export function subscription(
  instruction: number,
  hash: Uint8Array | undefined,
  partition: number,
  primaryKey: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(2 + HASH_BYTES + 4 + primaryKey.byteLength)
  out[0] = SUBSCRIPTION_VERSION
  out[1] = instruction
  if (hash) out.set(hash, 2)
  writeUint32(out, 2 + HASH_BYTES, partition)
  out.set(primaryKey, 6 + HASH_BYTES)
  return out
}

export function parseSubscription(value: Uint8Array) {
  if (value.byteLength < 6 + HASH_BYTES || value[0] !== SUBSCRIPTION_VERSION) {
    throw new TopologyError(
      `a foreign-key join subscription of unknown format (version ${value[0]}, ${value.byteLength} bytes)`,
    )
  }
  return {
    instruction: value[1]!,
    hash: value.subarray(2, 2 + HASH_BYTES),
    partition: readUint32(value, 2 + HASH_BYTES),
    primaryKey: value.subarray(6 + HASH_BYTES),
  }
}

// subscription store: key = foreign key length (u32) | foreign key | primary key; value = hash | partition
export function subscriptionKey(foreignKey: Uint8Array, primaryKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + foreignKey.byteLength + primaryKey.byteLength)
  writeUint32(out, 0, foreignKey.byteLength)
  out.set(foreignKey, 4)
  out.set(primaryKey, 4 + foreignKey.byteLength)
  return out
}

export function subscriberEntry(hash: Uint8Array, partition: number): Uint8Array {
  const out = new Uint8Array(HASH_BYTES + 4)
  out.set(hash, 0)
  writeUint32(out, HASH_BYTES, partition)
  return out
}

export function parseSubscriberEntry(value: Uint8Array) {
  return { hash: value.subarray(0, HASH_BYTES), partition: readUint32(value, HASH_BYTES) }
}

// answer (version 2): version | partition (u32) | hash (16) | row (1: 0 none, 1 a row, 2 a row and
// its timestamp) | with a row: its timestamp (i64, 0 when unknown) and its bytes. Version 1 had no
// timestamp (row: 0 or 1, then the bytes). The partition stays at offset 1 in both: the response
// sink's partitioner reads it there.
export function answer(
  partition: number,
  hash: Uint8Array,
  value: Uint8Array | undefined,
  rightTimestamp: number | undefined,
): Uint8Array {
  const head = 6 + HASH_BYTES
  const out = new Uint8Array(head + (value === undefined ? 0 : 8 + value.byteLength))
  out[0] = ANSWER_VERSION
  writeUint32(out, 1, partition)
  out.set(hash, 5)
  if (value === undefined) return out
  out[head - 1] = rightTimestamp === undefined ? 1 : 2
  writeInt64(out, head, rightTimestamp ?? 0)
  out.set(value, head + 8)
  return out
}

export function parseAnswer(value: Uint8Array): {
  hash: Uint8Array
  value: Uint8Array | undefined
  rightTimestamp: number | undefined
} {
  const head = 6 + HASH_BYTES
  const version = value[0]
  if (value.byteLength < head || (version !== 1 && version !== ANSWER_VERSION)) {
    throw new TopologyError(
      `a foreign-key join answer of unknown format (version ${version}, ${value.byteLength} bytes)`,
    )
  }
  const hash = value.subarray(5, 5 + HASH_BYTES)
  const flag = value[head - 1]
  if (flag === 0) return { hash, value: undefined, rightTimestamp: undefined }
  if (version === 1) return { hash, value: value.subarray(head), rightTimestamp: undefined }
  if (value.byteLength < head + 8) {
    throw new TopologyError(`a foreign-key join answer is cut short (${value.byteLength} bytes)`)
  }
  return {
    hash,
    value: value.subarray(head + 8),
    // 1: the right side knew the row but not its timestamp (a row older than the timestamp store).
    rightTimestamp: flag === 2 ? readInt64(value, head) : undefined,
  }
}

/** A result as the rows it joined: the left row, and the right row (none: a left join's null). */
export interface ResultEntry {
  left: Uint8Array
  right: Uint8Array | undefined
  rightTimestamp: number | undefined
}

// results store value: flags (1: has right row, 2: has its timestamp) | right row's timestamp
// (i64) | left row's length (u32) | left row bytes | right row bytes
export function resultEntry(entry: ResultEntry): Uint8Array {
  const head = 1 + 8 + 4
  const out = new Uint8Array(head + entry.left.byteLength + (entry.right?.byteLength ?? 0))
  out[0] = (entry.right ? 1 : 0) | (entry.rightTimestamp === undefined ? 0 : 2)
  writeInt64(out, 1, entry.rightTimestamp ?? 0)
  writeUint32(out, 9, entry.left.byteLength)
  out.set(entry.left, head)
  if (entry.right) out.set(entry.right, head + entry.left.byteLength)
  return out
}

export function parseResultEntry(value: Uint8Array): ResultEntry {
  const head = 1 + 8 + 4
  const flags = value[0]!
  const leftEnd = head + readUint32(value, 9)
  return {
    left: value.subarray(head, leftEnd),
    right: flags & 1 ? value.subarray(leftEnd) : undefined,
    rightTimestamp: flags & 2 ? readInt64(value, 1) : undefined,
  }
}
