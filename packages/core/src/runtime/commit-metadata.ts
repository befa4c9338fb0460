// The metadata kstreams commits with each input offset, versioned so that later formats can add
// fields while older ones stay readable. Version 1:
//   {"v":1,"streamTime":<ms>,"completed":[<offset - committed offset>, …]}
// `completed` lists offsets done above the committed one (out-of-order completion), as distances,
// and is left out when empty. Version 0 is the earlier `{"streamTime":<ms>}`.
import type { InputCommitPoint } from '../commit-point.js'

export const COMMIT_METADATA_VERSION = 1

/** Kafka's default `offset.metadata.max.bytes`: longer metadata is refused by the broker. */
const MAX_METADATA_CHARACTERS = 4096

export interface CommitMetadata {
  version: number
  streamTime: number | undefined
  /** Offsets done above the committed one, ascending. */
  completed: bigint[]
}

/** The metadata of one input partition's commit. */
export function encodeCommitMetadata(
  point: Pick<InputCommitPoint, 'offset' | 'completed' | 'streamTime'>,
): string {
  const encoded: { v: number; streamTime: number; completed?: number[] } = {
    v: COMMIT_METADATA_VERSION,
    streamTime: point.streamTime,
  }
  if (point.completed.length > 0)
    encoded.completed = point.completed.map((offset) => Number(offset - point.offset))
  let text = JSON.stringify(encoded)
  if (text.length > MAX_METADATA_CHARACTERS) {
    // Too many to carry: a restart reprocesses them (at-least-once), it never skips one wrongly.
    delete encoded.completed
    text = JSON.stringify(encoded)
  }
  return text
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
  const completed: bigint[] = []
  if (committedOffset !== undefined && Array.isArray(parsed.completed)) {
    for (const distance of parsed.completed) {
      if (Number.isSafeInteger(distance) && distance > 0) completed.push(committedOffset + BigInt(distance))
    }
  }
  return { version, streamTime, completed }
}
