// The metadata kstreams commits with each input offset, versioned so that later formats can add
// fields while older ones stay readable. Version 3 holds the offsets done above the committed one
// (out-of-order completion) in whichever of two forms is shorter:
//   {"v":3,"streamTime":<ms>,"completed":"2-5,9,12-40"}  distances from the committed offset,
//       run-length encoded: a run of consecutive distances is "first-last", a lone one is itself;
//   {"v":3,"streamTime":<ms>,"bits":"<base64>"}           a bitset, bit d-1 set for distance d
//       (byte 0's lowest bit first): shorter when done and undone records alternate.
// Neither is there when nothing is done above. Version 2 is the run-length form alone, version 1
// carried the distances as a JSON array (`"completed":[2,3,4,5,9]`), version 0 is the earlier
// `{"streamTime":<ms>}`; all are still read.
import type { InputCommitPoint } from '../commit-point.js'

export const COMMIT_METADATA_VERSION = 3

/**
 * Kafka's default `offset.metadata.max.bytes`: the broker refuses longer metadata. The app reads
 * the broker's value at start (the metadata is ASCII, so characters are bytes); this is the
 * fallback when it cannot.
 */
export const MAX_METADATA_CHARACTERS = 4096

/**
 * Past this share of the metadata limit, a partition's completed-offset map holds new records of
 * that partition back, until the map shrinks.
 */
export function backpressureCharacters(maxCharacters: number): number {
  return Math.floor(maxCharacters * 0.75)
}

/** The characters around the completed-offset map in version 2 (the rest of the JSON). */
export const METADATA_OVERHEAD_CHARACTERS = 60

/** More completed offsets than a task can have in flight: the text is not ours. */
const MAX_DECODED_OFFSETS = 10_000_000n

export interface CommitMetadata {
  version: number
  streamTime: number | undefined
  /** Offsets done above the committed one, ascending. */
  completed: bigint[]
}

/** "2-5,9,12-40": the run-length encoding of `completed` (ascending) as distances from `offset`. */
export function encodeCompleted(offset: bigint, completed: readonly bigint[]): string {
  const parts: string[] = []
  let index = 0
  while (index < completed.length) {
    const first = completed[index]!
    let last = first
    while (index + 1 < completed.length && completed[index + 1] === last + 1n) {
      index += 1
      last = completed[index]!
    }
    index += 1
    parts.push(last === first ? String(first - offset) : `${first - offset}-${last - offset}`)
  }
  return parts.join(',')
}

/** The bitset form of `completed` (ascending, above `offset`): bit d-1 for distance d, base64. */
export function encodeCompletedBits(offset: bigint, completed: readonly bigint[]): string {
  if (completed.length === 0) return ''
  const highest = Number(completed[completed.length - 1]! - offset)
  const bits = new Uint8Array(Math.ceil(highest / 8))
  for (const done of completed) {
    const index = Number(done - offset) - 1
    bits[index >> 3]! |= 1 << (index & 7)
  }
  return Buffer.from(bits.buffer, bits.byteOffset, bits.byteLength).toString('base64')
}

/** Reads `encodeCompletedBits`' text back into offsets; undefined when it is not that format. */
export function decodeCompletedBits(offset: bigint, text: string): bigint[] | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined
  const bits = Buffer.from(text, 'base64')
  if (BigInt(bits.byteLength) * 8n > MAX_DECODED_OFFSETS) return undefined
  const completed: bigint[] = []
  for (let byte = 0; byte < bits.byteLength; byte += 1) {
    const value = bits[byte]!
    if (value === 0) continue
    for (let bit = 0; bit < 8; bit += 1) {
      if (value & (1 << bit)) completed.push(offset + BigInt(byte * 8 + bit + 1))
    }
  }
  return completed
}

/** Reads `encodeCompleted`'s text back into offsets; undefined when it is not that format. */
export function decodeCompleted(offset: bigint, text: string): bigint[] | undefined {
  if (text === '') return []
  const completed: bigint[] = []
  for (const part of text.split(',')) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part)
    if (!match) return undefined
    const first = BigInt(match[1]!)
    const last = match[2] === undefined ? first : BigInt(match[2])
    if (first <= 0n || last < first) return undefined
    // Foreign or damaged text must not make a restart allocate without bound.
    if (BigInt(completed.length) + last - first >= MAX_DECODED_OFFSETS) return undefined
    for (let distance = first; distance <= last; distance += 1n) completed.push(offset + distance)
  }
  return completed
}

/**
 * The metadata of one input partition's commit. The completed-offset map is never dropped
 * silently: the runtime holds a partition back before its map nears the broker's limit; should
 * it pass the limit all the same, the highest runs are left out (those records are processed
 * again after a restart) and `onTruncated` is told how many offsets that is.
 */
export function encodeCommitMetadata(
  point: Pick<InputCommitPoint, 'offset' | 'completed' | 'streamTime'>,
  onTruncated?: (offsets: number) => void,
  maxCharacters = MAX_METADATA_CHARACTERS,
): string {
  const whole = encode(point.streamTime, point.offset, point.completed)
  if (whole.length <= maxCharacters || point.completed.length === 0) return whole
  // Too long: keep the longest prefix that fits (a restart processes the records left out again),
  // found by bisection, so a map far past the limit costs a few encodings, not one per offset.
  let fits = 0
  let tooLong = point.completed.length
  while (tooLong - fits > 1) {
    const middle = (fits + tooLong) >>> 1
    if (encode(point.streamTime, point.offset, point.completed.slice(0, middle)).length <= maxCharacters)
      fits = middle
    else tooLong = middle
  }
  onTruncated?.(point.completed.length - fits)
  return encode(point.streamTime, point.offset, point.completed.slice(0, fits))
}

/** The shorter of the two forms (the run-length one on a tie). */
function encode(streamTime: number, offset: bigint, completed: readonly bigint[]): string {
  const base = `{"v":${COMMIT_METADATA_VERSION},"streamTime":${JSON.stringify(streamTime)}`
  if (completed.length === 0) return `${base}}`
  const runs = `${base},"completed":"${encodeCompleted(offset, completed)}"}`
  // The bitset takes 4 characters per 24 distances: build it only when it may be shorter.
  const bitsBound = Math.ceil(Number(completed[completed.length - 1]! - offset) / 24) * 4 + base.length + 12
  if (bitsBound >= runs.length) return runs
  const bits = `${base},"bits":"${encodeCompletedBits(offset, completed)}"}`
  return bits.length < runs.length ? bits : runs
}

/** Reads metadata written by `encodeCommitMetadata` (any version); undefined for foreign metadata. */
export function decodeCommitMetadata(
  metadata: string | null | undefined,
  committedOffset?: bigint,
): CommitMetadata | undefined {
  if (!metadata) return undefined
  let parsed: { v?: unknown; streamTime?: unknown; completed?: unknown; bits?: unknown }
  try {
    parsed = JSON.parse(metadata)
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined
  const version = typeof parsed.v === 'number' ? parsed.v : 0
  const streamTime = typeof parsed.streamTime === 'number' ? parsed.streamTime : undefined
  let completed: bigint[] = []
  if (committedOffset !== undefined && typeof parsed.bits === 'string') {
    completed = decodeCompletedBits(committedOffset, parsed.bits) ?? []
  } else if (committedOffset !== undefined && typeof parsed.completed === 'string') {
    completed = decodeCompleted(committedOffset, parsed.completed) ?? []
  } else if (committedOffset !== undefined && Array.isArray(parsed.completed)) {
    for (const distance of parsed.completed) {
      if (Number.isSafeInteger(distance) && distance > 0) completed.push(committedOffset + BigInt(distance))
    }
  }
  return { version, streamTime, completed }
}
