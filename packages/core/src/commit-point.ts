// What a commit covers, as the runtime hands it to stores: per input partition of a task, the
// offset committed (everything below it is done), offsets done above it, and the stream time; plus
// who owns the task, so that remote and object-storage backends can fence a zombie owner.

/** One input partition of a task, at a commit. */
export interface InputCommitPoint {
  topic: string
  partition: number
  /** The next offset to read: every record below it is done, and its effects are being made durable. */
  offset: bigint
  /** Offsets above `offset` that are done too (out-of-order completion), ascending. */
  completed: bigint[]
  /** The task's stream time when the point was taken. */
  streamTime: number
}

/**
 * Who owns a task: the group member and its epoch when the task was created here. A newer owner
 * has a newer epoch (or another member id); a backend that stores the token with its data can
 * refuse writes from an older one (`FencedError`, code `KSTREAMS_FENCED`).
 *
 * @example { taskId: '0_3', memberId: 'Jx2…', memberEpoch: 14 }
 */
export interface OwnershipToken {
  taskId: string
  /** The consumer-group member id ('' in the test driver). */
  memberId: string
  /** The member epoch (KIP-848) when the task was assigned here. */
  memberEpoch: number
}

/** Where a changelog partition stood when a commit point was taken. */
export interface ChangelogCommitPoint {
  topic: string
  partition: number
  /**
   * The offset after the last changelog record acknowledged then. Every change below it is in the
   * backends flushed with this point, so a backend that keeps its data off the host (object
   * storage, a remote database) can store it, and a new owner restores only from there.
   */
  offset: bigint
}

/**
 * The commit a store flush belongs to. Stores flush with it before the input offsets are
 * committed; a store may record it (object storage writes it into its manifest).
 */
export interface CommitPoint {
  readonly taskId: string
  /** The input partitions with progress since the previous commit. */
  readonly inputs: readonly InputCommitPoint[]
  /** The task's changelog partitions that have an acknowledged offset (none without changelogs). */
  readonly changelogs: readonly ChangelogCommitPoint[]
  readonly ownership: OwnershipToken
}
