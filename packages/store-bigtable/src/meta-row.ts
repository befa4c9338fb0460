// The meta row of a store partition holds two cells: `owner`, the ownership token of the task that
// last claimed it, and `commit`, the commit point of its last flush. Both are JSON, so that a person
// reading the table with `cbt` sees what they mean; offsets are decimal strings (they are int64).
import type { CommitPoint, OwnershipToken } from '@kstreams/core'

/** Column qualifier of the data cell of a data row. */
export const valueColumn = 'v'
/** Column qualifier of the ownership token in the meta row. */
export const ownerColumn = 'owner'
/** Column qualifier of the commit point in the meta row. */
export const commitColumn = 'commit'

/** A commit point as the meta row stores it. */
export interface StoredCommitPoint {
  /** Format version of this cell. */
  v: 1
  taskId: string
  inputs: Array<{ topic: string; partition: number; offset: string; completed: string[]; streamTime: number }>
  changelogs: Array<{ topic: string; partition: number; offset: string }>
  ownership: OwnershipToken
  /** When the flush wrote it (ISO 8601), for people. */
  flushedAt: string
}

/**
 * The bytes of an ownership token in the `owner` cell. Always the same bytes for the same token
 * (fixed field order), because the conditional write at flush compares them exactly.
 */
export function encodeOwner(token: OwnershipToken): Buffer {
  return Buffer.from(
    JSON.stringify({ taskId: token.taskId, memberId: token.memberId, memberEpoch: token.memberEpoch }),
    'utf8',
  )
}

/** The token in an `owner` cell, or undefined when the bytes are not one. */
export function decodeOwner(bytes: Uint8Array): OwnershipToken | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as Partial<OwnershipToken>
    if (
      typeof parsed.taskId === 'string' &&
      typeof parsed.memberId === 'string' &&
      typeof parsed.memberEpoch === 'number'
    ) {
      return { taskId: parsed.taskId, memberId: parsed.memberId, memberEpoch: parsed.memberEpoch }
    }
  } catch {
    // Not JSON: reported as no token below.
  }
  return undefined
}

/**
 * Whether `ours` may take over a partition whose meta row holds `stored`: the same token (a reopen
 * by the same owner), or an older owner (a smaller member epoch). A newer epoch, or another member
 * with the same epoch, is someone else's claim.
 */
export function mayClaim(stored: OwnershipToken, ours: OwnershipToken): boolean {
  if (stored.memberEpoch < ours.memberEpoch) return true
  return stored.memberEpoch === ours.memberEpoch && stored.memberId === ours.memberId
}

/** A token as error messages name it. */
export function describeOwner(token: OwnershipToken | undefined): string {
  if (token === undefined) return 'no valid token'
  return `member "${token.memberId}" epoch ${token.memberEpoch} (task ${token.taskId})`
}

/**
 * The commit point to store: `commitPoint` over the stored one. A commit point lists only the
 * input partitions with progress since the previous commit (and the changelogs with an
 * acknowledged offset), so the entries it does not list keep their stored values.
 */
export function mergeCommitPoint(
  previous: StoredCommitPoint | undefined,
  commitPoint: CommitPoint,
  flushedAt: Date,
): StoredCommitPoint {
  const inputs = new Map<string, StoredCommitPoint['inputs'][number]>()
  for (const input of previous?.inputs ?? []) inputs.set(`${input.topic}\u0000${input.partition}`, input)
  for (const input of commitPoint.inputs) {
    inputs.set(`${input.topic}\u0000${input.partition}`, {
      topic: input.topic,
      partition: input.partition,
      offset: input.offset.toString(),
      completed: input.completed.map((offset) => offset.toString()),
      streamTime: input.streamTime,
    })
  }
  const changelogs = new Map<string, StoredCommitPoint['changelogs'][number]>()
  for (const changelog of previous?.changelogs ?? []) {
    changelogs.set(`${changelog.topic}\u0000${changelog.partition}`, changelog)
  }
  for (const changelog of commitPoint.changelogs) {
    changelogs.set(`${changelog.topic}\u0000${changelog.partition}`, {
      topic: changelog.topic,
      partition: changelog.partition,
      offset: changelog.offset.toString(),
    })
  }
  return {
    v: 1,
    taskId: commitPoint.taskId,
    inputs: [...inputs.values()],
    changelogs: [...changelogs.values()],
    ownership: {
      taskId: commitPoint.ownership.taskId,
      memberId: commitPoint.ownership.memberId,
      memberEpoch: commitPoint.ownership.memberEpoch,
    },
    flushedAt: flushedAt.toISOString(),
  }
}

export function encodeCommitPoint(stored: StoredCommitPoint): Buffer {
  return Buffer.from(JSON.stringify(stored), 'utf8')
}

/** The commit point in a `commit` cell, or undefined when the bytes are not one. */
export function decodeCommitPoint(bytes: Uint8Array): StoredCommitPoint | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as Partial<StoredCommitPoint>
    if (parsed.v === 1 && Array.isArray(parsed.inputs) && Array.isArray(parsed.changelogs)) {
      return parsed as StoredCommitPoint
    }
  } catch {
    // Not JSON: reported as no commit point.
  }
  return undefined
}
