// The manifest: the one mutable object of a store partition. It names the snapshot and the segments
// that make up the state (applied in order), the commit point that state covers, and the owner that
// wrote it. It is only ever replaced by a conditional write on the version that was read, which is
// what fences an older owner.
import type { ChangelogCommitPoint, CommitPoint, InputCommitPoint, OwnershipToken } from '@kstreams/core'

export const manifestFormatVersion = 1

/** An immutable object the manifest names: a snapshot or a segment. */
export interface ManifestObject {
  /** Object name relative to the store partition's root, e.g. `segments/000000000007-<uuid>.seg`. */
  name: string
  bytes: number
  records: number
}

/** An object no longer named, deleted once `supersededAt + deleteGraceMs` passed. */
export interface SupersededObject {
  name: string
  /** Epoch milliseconds. */
  supersededAt: number
}

export interface ManifestInput {
  topic: string
  partition: number
  /** Decimal string: offsets are 64-bit. */
  offset: string
  completed: string[]
  streamTime: number
}

export interface ManifestChangelog {
  topic: string
  partition: number
  offset: string
}

export interface Manifest {
  formatVersion: number
  /** A fresh id for every manifest written; a local working copy records the id it matches. */
  id: string
  /** Counts every manifest written for this store partition; object names start with it. */
  sequence: number
  snapshot: ManifestObject | null
  segments: ManifestObject[]
  /** Per input partition, the last commit point that reached this store. */
  inputs: ManifestInput[]
  /** The store's changelog offset its state covers, when it is logged. */
  changelogs: ManifestChangelog[]
  owner: OwnershipToken
  superseded: SupersededObject[]
  /** Epoch milliseconds. */
  writtenAt: number
}

/** Why a manifest cannot be read. */
export class ManifestFormatError extends Error {}

export function encodeManifest(manifest: Manifest): Buffer {
  return Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`)
}

export function decodeManifest(bytes: Uint8Array): Manifest {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))
  } catch (error) {
    throw new ManifestFormatError(`it is not JSON (${(error as Error).message})`)
  }
  const manifest = parsed as Partial<Manifest>
  if (typeof manifest !== 'object' || manifest === null)
    throw new ManifestFormatError('it is not a JSON object')
  if (manifest.formatVersion !== manifestFormatVersion) {
    throw new ManifestFormatError(
      `format version ${String(manifest.formatVersion)}, this version reads ${manifestFormatVersion}`,
    )
  }
  const owner = manifest.owner
  if (
    typeof manifest.id !== 'string' ||
    typeof manifest.sequence !== 'number' ||
    !Array.isArray(manifest.segments) ||
    !Array.isArray(manifest.inputs) ||
    !Array.isArray(manifest.changelogs) ||
    !Array.isArray(manifest.superseded) ||
    typeof owner !== 'object' ||
    owner === null ||
    typeof owner.memberEpoch !== 'number' ||
    typeof owner.memberId !== 'string'
  ) {
    throw new ManifestFormatError('a required field is missing or has the wrong type')
  }
  return manifest as Manifest
}

/** True when `token` belongs to a newer owner than `than` (a larger member epoch). */
export function isNewerOwner(token: OwnershipToken, than: OwnershipToken): boolean {
  return token.memberEpoch > than.memberEpoch
}

export function describeToken(token: OwnershipToken): string {
  return `member ${token.memberId === '' ? '(none)' : token.memberId} epoch ${token.memberEpoch}`
}

/** The inputs of `previous` updated with the partitions of `commitPoint` (it carries only those that moved). */
export function mergeInputs(
  previous: readonly ManifestInput[],
  commitPoint: CommitPoint | undefined,
): ManifestInput[] {
  const merged = new Map(previous.map((input) => [`${input.topic}\u0000${input.partition}`, input]))
  for (const input of commitPoint?.inputs ?? [])
    merged.set(`${input.topic}\u0000${input.partition}`, toManifestInput(input))
  return [...merged.values()]
}

export function mergeChangelogs(
  previous: readonly ManifestChangelog[],
  commitPoint: CommitPoint | undefined,
): ManifestChangelog[] {
  const merged = new Map(previous.map((entry) => [`${entry.topic}\u0000${entry.partition}`, entry]))
  for (const entry of commitPoint?.changelogs ?? []) {
    merged.set(`${entry.topic}\u0000${entry.partition}`, toManifestChangelog(entry))
  }
  return [...merged.values()]
}

function toManifestInput(input: InputCommitPoint): ManifestInput {
  return {
    topic: input.topic,
    partition: input.partition,
    offset: input.offset.toString(),
    completed: input.completed.map((offset) => offset.toString()),
    streamTime: input.streamTime,
  }
}

function toManifestChangelog(entry: ChangelogCommitPoint): ManifestChangelog {
  return { topic: entry.topic, partition: entry.partition, offset: entry.offset.toString() }
}

/** When to replace the segments by a snapshot. */
export interface CompactionThresholds {
  afterSegments: number
  afterBytes: number
}

/**
 * Whether the flush about to add `pendingBytes` in new segments should write a snapshot instead:
 * when the segments would then number at least `afterSegments` or hold at least `afterBytes`.
 */
export function shouldCompact(
  manifest: Pick<Manifest, 'segments'>,
  pendingSegments: number,
  pendingBytes: number,
  thresholds: CompactionThresholds,
): boolean {
  const segments = manifest.segments.length + pendingSegments
  const bytes = manifest.segments.reduce((sum, segment) => sum + segment.bytes, 0) + pendingBytes
  return segments >= thresholds.afterSegments || bytes >= thresholds.afterBytes
}

/**
 * The superseded list after a manifest replaced `replaced` (the snapshot and segments it no
 * longer names): those are added with `now`, and those past the grace period are returned apart,
 * to be deleted once the manifest without them is written.
 */
export function planDeletion(
  superseded: readonly SupersededObject[],
  replaced: readonly string[],
  now: number,
  graceMs: number,
): { keep: SupersededObject[]; due: string[] } {
  const all = [...superseded, ...replaced.map((name) => ({ name, supersededAt: now }))]
  const keep: SupersededObject[] = []
  const due: string[] = []
  for (const entry of all) {
    if (now - entry.supersededAt >= graceMs) due.push(entry.name)
    else keep.push(entry)
  }
  return { keep, due }
}

/** Every object a manifest names. */
export function namedObjects(manifest: Pick<Manifest, 'snapshot' | 'segments'>): string[] {
  return [
    ...(manifest.snapshot === null ? [] : [manifest.snapshot.name]),
    ...manifest.segments.map((s) => s.name),
  ]
}

export function segmentName(sequence: number, id: string, part: number): string {
  return `segments/${String(sequence).padStart(12, '0')}-${id}-${part}.seg`
}

export function snapshotName(sequence: number, id: string): string {
  return `snapshots/${String(sequence).padStart(12, '0')}-${id}.snap`
}

export const manifestName = 'manifest.json'
