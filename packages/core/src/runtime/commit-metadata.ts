// The metadata kstreams commits with each input offset, versioned so that later formats can add
// fields while older ones stay readable. Version 2:
//   {"v":2,"streamTime":<ms>,"completed":"2-5,9,12-40"}
// `completed` holds the offsets done above the committed one (out-of-order completion), as
// distances from it, run-length encoded: a run of consecutive distances is "first-last", a lone
// one is itself. It is left out when empty. Version 1 carried the same distances as a JSON array
// (`"completed":[2,3,4,5,9]`); version 0 is the earlier `{"streamTime":<ms>}`. Both are still read.
import type { InputCommitPoint } from '../commit-point.js'

export const COMMIT_METADATA_VERSION = 2

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
  let completed = point.completed
  for (;;) {
    const text = encode(point.streamTime, encodeCompleted(point.offset, completed))
    if (text.length <= maxCharacters || completed.length === 0) {
      if (completed.length < point.completed.length) onTruncated?.(point.completed.length - completed.length)
      return text
    }
    // Leave out the highest run (a restart processes those records again) and try again.
    let cut = completed.length - 1
    while (cut > 0 && completed[cut - 1] === completed[cut]! - 1n) cut -= 1
    completed = completed.slice(0, cut)
  }
}

function encode(streamTime: number, completed: string): string {
  const encoded: { v: number; streamTime: number; completed?: string } = {
    v: COMMIT_METADATA_VERSION,
    streamTime,
  }
  if (completed !== '') encoded.completed = completed
  return JSON.stringify(encoded)
}

/** Reads metadata written by `encodeCommitMetadata` (any version); undefined for foreign metadata. */
export function decodeCommitMetadata(
  metadata: string | null | undefined,
  committedOffset?: bigint,
): CommitMetadata | undefined {
  if (!metadata) return undefined
  let parsed: { v?: unknown; streamTime?: unknown; completed?: unknown }
  try {
    parsed = JSON.parse(metadata)
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined
  const version = typeof parsed.v === 'number' ? parsed.v : 0
  const streamTime = typeof parsed.streamTime === 'number' ? parsed.streamTime : undefined
  let completed: bigint[] = []
  if (committedOffset !== undefined && typeof parsed.completed === 'string') {
    completed = decodeCompleted(committedOffset, parsed.completed) ?? []
  } else if (committedOffset !== undefined && Array.isArray(parsed.completed)) {
    for (const distance of parsed.completed) {
      if (Number.isSafeInteger(distance) && distance > 0) completed.push(committedOffset + BigInt(distance))
    }
  }
  return { version, streamTime, completed }
}
