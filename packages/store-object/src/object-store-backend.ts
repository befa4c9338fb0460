// The object-storage engine: a local working copy serves every read and takes every write; a flush
// uploads what changed as an immutable segment and then replaces the manifest with a conditional
// write on the version read before, which is both the commit and the fence against a zombie owner.
// After enough segments a flush writes a full snapshot instead, and the objects it supersedes are
// deleted once a grace period passed.
import { randomUUID } from 'node:crypto'
import { channel } from 'node:diagnostics_channel'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import {
  type BackendCapabilities,
  type BackendContext,
  type BackendEntry,
  type BackendRangeOptions,
  type BackendWrite,
  type CommitPoint,
  ConfigError,
  FencedError,
  KStreamsError,
  type StoreBackend,
  type StoreBackendFactory,
  StoreError,
} from '@kstreams/core'
import { createLmdbBackend } from '@kstreams/store-lmdb'
import {
  decodeManifest,
  describeToken,
  encodeManifest,
  isNewerOwner,
  type Manifest,
  type ManifestObject,
  manifestFormatVersion,
  manifestName,
  mergeChangelogs,
  mergeInputs,
  namedObjects,
  planDeletion,
  segmentName,
  shouldCompact,
  snapshotName,
} from './manifest.js'
import {
  decodeObject,
  encodedSize,
  encodeObject,
  type ObjectKind,
  type ObjectRecord,
  recordSize,
} from './object-format.js'
import { type ObjectStorage, PreconditionFailedError, type PutCondition } from './object-storage.js'

export interface ObjectStoreOptions {
  /**
   * First part of every object name: objects live under `<prefix>/<applicationId>/<store>/<partition>/`.
   * @default 'kstreams'
   */
  prefix?: string
  /**
   * Backends of the local working copy, opened in `<store directory>/working-copy`.
   * @default createLmdbBackend() (from @kstreams/store-lmdb)
   */
  workingCopy?: StoreBackendFactory
  /** A flush writes a snapshot instead of a segment once the manifest would name this many segments. @default 32 */
  compactAfterSegments?: number
  /** ...or once its segments would hold this many bytes. @default 64 MiB */
  compactAfterBytes?: number
  /** The changes of one flush are split into segments of at most about this size, uploaded in parallel. @default 16 MiB */
  segmentMaxBytes?: number
  /** How long an object stays after a manifest stopped naming it (a new owner may be reading it). @default 600000 (10 min) */
  deleteGraceMs?: number
  /** Objects larger than this are downloaded in ranged parts of this size, in parallel. @default 8 MiB */
  downloadPartBytes?: number
  /** Downloads (objects or parts) running at once while a new owner opens the store. @default 8 */
  downloadConcurrency?: number
  /** Records per write batch into the working copy while restoring. @default 10000 */
  restoreBatchSize?: number
  /**
   * How long one storage request (a download part, an upload, the manifest write) may go
   * unanswered before the flush or open fails with a retriable StoreError. The request itself
   * may still complete later (a late manifest write then fences this owner at its next flush).
   * @default 60000
   */
  requestTimeoutMs?: number
}

interface ResolvedOptions {
  prefix: string
  workingCopy: StoreBackendFactory
  compactAfterSegments: number
  compactAfterBytes: number
  segmentMaxBytes: number
  deleteGraceMs: number
  downloadPartBytes: number
  downloadConcurrency: number
  restoreBatchSize: number
  requestTimeoutMs: number
}

const MiB = 1024 * 1024

/**
 * Events of object-storage stores on `node:diagnostics_channel`: `flush` (an upload and manifest
 * write: records, bytes, whether it compacted, duration), `restore` (a store opened: objects and
 * bytes downloaded, records applied, whether the local copy was reused, duration) and `fenced`
 * (a manifest write or open refused because a newer owner wrote the manifest).
 */
export const objectStoreChannel = channel('kstreams:object-store')
const markerFileName = 'object-store.json'
const workingCopyDirectoryName = 'working-copy'

/** A snapshot being taken in the background, and what it covers once uploaded. */
interface CompactionJob {
  aborted: boolean
  done: Promise<void>
  ready:
    | {
        snapshot: ManifestObject
        /** How many of the manifest's segments (from the first) the snapshot covers. */
        segmentsCovered: number
        /** The snapshot it replaces. */
        snapshotCovered: string | null
      }
    | undefined
}

/** What the local directory says its working copy matches. */
interface WorkingCopyMarker {
  root: string
  manifestId: string
}

export function resolveObjectStoreOptions(options: ObjectStoreOptions): ResolvedOptions {
  const positive = (
    name: keyof ObjectStoreOptions,
    value: number | undefined,
    fallback: number,
    minimum = 1,
  ) => {
    if (value === undefined) return fallback
    if (!Number.isSafeInteger(value) || value < minimum) {
      throw new ConfigError(
        `object store option ${name} must be an integer of at least ${minimum}, got ${String(value)}`,
        {
          context: { option: name },
        },
      )
    }
    return value
  }
  const prefix = options.prefix ?? 'kstreams'
  if (prefix.startsWith('/') || prefix.endsWith('/')) {
    throw new ConfigError(`object store option prefix must not start or end with "/", got "${prefix}"`, {
      context: { option: 'prefix' },
    })
  }
  return {
    prefix,
    workingCopy: options.workingCopy ?? createLmdbBackend(),
    compactAfterSegments: positive('compactAfterSegments', options.compactAfterSegments, 32),
    compactAfterBytes: positive('compactAfterBytes', options.compactAfterBytes, 64 * MiB),
    segmentMaxBytes: positive('segmentMaxBytes', options.segmentMaxBytes, 16 * MiB),
    deleteGraceMs: positive('deleteGraceMs', options.deleteGraceMs, 600_000, 0),
    downloadPartBytes: positive('downloadPartBytes', options.downloadPartBytes, 8 * MiB),
    downloadConcurrency: positive('downloadConcurrency', options.downloadConcurrency, 8),
    restoreBatchSize: positive('restoreBatchSize', options.restoreBatchSize, 10_000),
    requestTimeoutMs: positive('requestTimeoutMs', options.requestTimeoutMs, 60_000),
  }
}

/** The object-name root of one store of one task: `<prefix>/<applicationId>/<store>/<partition>`. */
export function storeRoot(
  prefix: string,
  context: Pick<BackendContext, 'applicationId' | 'storeName' | 'partition'>,
) {
  return `${prefix === '' ? '' : `${prefix}/`}${context.applicationId}/${context.storeName}/${context.partition}`
}

/** Runs `tasks` with at most `limit` at once; results in order. */
async function bounded<T>(limit: number, tasks: ReadonlyArray<() => Promise<T>>): Promise<T[]> {
  const results: T[] = new Array(tasks.length)
  let next = 0
  const worker = async () => {
    while (next < tasks.length) {
      const index = next
      next += 1
      results[index] = await tasks[index]!()
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker))
  return results
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

export class ObjectStoreBackend implements StoreBackend {
  readonly contractVersion = 1 as const
  readonly capabilities: BackendCapabilities
  readonly #storage: ObjectStorage
  readonly #context: BackendContext
  readonly #options: ResolvedOptions
  readonly #root: string
  readonly #workingCopy: StoreBackend
  readonly #markerPath: string
  #manifest: Manifest
  #version: string
  /** Keys written since the last successful flush (latin1 string of the key bytes → key). */
  #changed = new Map<string, Uint8Array>()
  #writes = 0
  #markerPresent: boolean
  #fenced: FencedError | undefined
  #flushing: Promise<void> = Promise.resolve()
  readonly #background = new Set<Promise<void>>()
  #closing: Promise<void> | undefined
  /**
   * Snapshots are taken in the background when the working copy's scans read a snapshot taken at
   * their first step (LMDB); with another working copy, the flush that finds compaction due takes
   * it inline.
   */
  readonly #backgroundCompaction: boolean
  #compaction: CompactionJob | undefined

  private constructor(parts: {
    storage: ObjectStorage
    context: BackendContext
    options: ResolvedOptions
    root: string
    workingCopy: StoreBackend
    markerPath: string
    manifest: Manifest
    version: string
  }) {
    this.#storage = parts.storage
    this.#context = parts.context
    this.#options = parts.options
    this.#root = parts.root
    this.#workingCopy = parts.workingCopy
    this.#markerPath = parts.markerPath
    this.#manifest = parts.manifest
    this.#version = parts.version
    this.#markerPresent = true
    this.#backgroundCompaction = parts.options.workingCopy.name === 'lmdb'
    const local = parts.workingCopy.capabilities
    this.capabilities = Object.freeze({
      persistent: true,
      reverseRange: local.reverseRange,
      ...(local.maxKeyBytes === undefined ? {} : { maxKeyBytes: local.maxKeyBytes }),
      ...(local.maxValueBytes === undefined ? {} : { maxValueBytes: local.maxValueBytes }),
    })
  }

  /**
   * Opens the store of `context`: reads its manifest, reuses the local working copy when it matches
   * the manifest or downloads snapshot and segments into a fresh one, then claims ownership by
   * writing the manifest with `context.ownership` (conditional on the version read).
   * @throws FencedError when the manifest names a newer owner or changed while the store was opened
   * @throws StoreError (retriable) when the storage cannot be reached, (not retriable) when an object is damaged
   */
  static async open(
    storage: ObjectStorage,
    context: BackendContext,
    options: ResolvedOptions,
  ): Promise<ObjectStoreBackend> {
    const root = storeRoot(options.prefix, context)
    const where = describeStore(context)
    const manifestKey = `${root}/${manifestName}`
    const stored = await call(
      context,
      'open (read the manifest)',
      `${storage.description}/${manifestKey}`,
      () => storage.get(manifestKey),
    )
    let previous: Manifest | undefined
    if (stored !== undefined) {
      try {
        previous = decodeManifest(stored.bytes)
      } catch (cause) {
        throw new StoreError(
          `cannot open ${where}: the manifest ${storage.description}/${manifestKey} is damaged: ${messageOf(cause)}`,
          { cause, context: errorContext(context, 'open', `${storage.description}/${manifestKey}`) },
        )
      }
      if (isNewerOwner(previous.owner, context.ownership)) {
        throw fencedError(context, 'open', previous.owner, `${storage.description}/${manifestKey}`)
      }
    }

    const markerPath = join(context.directory, markerFileName)
    const workingDirectory = join(context.directory, workingCopyDirectoryName)
    const marker = readMarker(markerPath)
    const keep =
      options.workingCopy.persistent &&
      previous !== undefined &&
      marker !== undefined &&
      marker.root === `${storage.description}/${root}` &&
      marker.manifestId === previous.id
    if (!keep) {
      rmSync(markerPath, { force: true })
      await rm(workingDirectory, { recursive: true, force: true })
    }
    await mkdir(workingDirectory, { recursive: true })
    const workingCopy = await options.workingCopy.open({ ...context, directory: workingDirectory })
    try {
      const started = Date.now()
      const restored =
        !keep && previous !== undefined
          ? await restore(storage, context, options, root, previous, workingCopy)
          : { objects: 0, bytes: 0, records: 0 }
      if (objectStoreChannel.hasSubscribers) {
        objectStoreChannel.publish({
          event: 'restore',
          store: context.storeName,
          taskId: context.taskId,
          partition: context.partition,
          reused: keep,
          durationMs: Date.now() - started,
          ...restored,
        })
      }
      const now = Date.now()
      const claimed: Manifest = {
        ...(previous ?? {
          formatVersion: manifestFormatVersion,
          sequence: 0,
          snapshot: null,
          segments: [],
          inputs: [],
          changelogs: [],
          superseded: [],
        }),
        id: randomUUID(),
        sequence: (previous?.sequence ?? 0) + 1,
        owner: { ...context.ownership },
        writtenAt: now,
      }
      const condition: PutCondition =
        stored === undefined ? { ifNoneMatch: '*' } : { ifMatch: stored.version }
      const version = await writeManifest(
        storage,
        context,
        'open (claim ownership)',
        manifestKey,
        claimed,
        condition,
      )
      await workingCopy.flush()
      writeMarker(markerPath, { root: `${storage.description}/${root}`, manifestId: claimed.id })
      return new ObjectStoreBackend({
        storage,
        context,
        options,
        root,
        workingCopy,
        markerPath,
        manifest: claimed,
        version,
      })
    } catch (error) {
      await Promise.resolve(workingCopy.close()).catch(() => {})
      throw error
    }
  }

  /** The manifest this backend wrote last (for tests and diagnostics). */
  get manifest(): Readonly<Manifest> {
    return this.#manifest
  }

  get(key: Uint8Array) {
    return this.#workingCopy.get(key)
  }

  getMany(keys: readonly Uint8Array[]) {
    return this.#workingCopy.getMany(keys)
  }

  async write(batch: readonly BackendWrite[]): Promise<void> {
    if (batch.length === 0) return
    // The local copy is about to differ from the manifest: a restart must not trust it any more.
    if (this.#markerPresent) {
      rmSync(this.#markerPath, { force: true })
      this.#markerPresent = false
    }
    this.#writes += 1
    await this.#workingCopy.write(batch)
    const changed = this.#changed
    for (const { key } of batch) {
      const id = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1')
      if (!changed.has(id)) changed.set(id, Uint8Array.prototype.slice.call(key))
    }
  }

  range(options?: BackendRangeOptions): Iterable<BackendEntry> | AsyncIterable<BackendEntry> {
    return this.#workingCopy.range(options)
  }

  approximateCount() {
    return this.#workingCopy.approximateCount()
  }

  changelogCheckpoint(): bigint | undefined {
    const topic = this.#context.changelogTopic
    if (topic === undefined) return undefined
    const entry = this.#manifest.changelogs.find(
      (changelog) => changelog.topic === topic && changelog.partition === this.#context.partition,
    )
    return entry === undefined ? undefined : BigInt(entry.offset)
  }

  /**
   * Uploads the changes since the last flush (a segment, or a snapshot when compaction is due) and
   * writes the manifest with `commitPoint`, conditional on the version this backend wrote last.
   */
  flush(commitPoint?: CommitPoint): Promise<void> {
    const run = this.#flushing.then(() => this.#flush(commitPoint))
    this.#flushing = run.catch(() => {})
    return run
  }

  async #flush(commitPoint: CommitPoint | undefined): Promise<void> {
    if (this.#fenced !== undefined) throw this.#fenced
    if (this.#closing !== undefined) {
      // The runtime closes a lost task while a commit may still be flushing it; that commit leaves
      // the task's offsets out, so nothing must be claimed durable, and nothing may be uploaded.
      if (this.#changed.size === 0) return
      throw new StoreError(
        `${describeStore(this.#context)} was flushed after it was closed, with ${this.#changed.size} change(s) not uploaded`,
        { retriable: true, context: errorContext(this.#context, 'flush', undefined) },
      )
    }
    const writesBefore = this.#writes
    await this.#workingCopy.flush()
    if (this.#changed.size === 0) return
    const started = Date.now()
    const taken = this.#changed
    this.#changed = new Map()
    try {
      const uploaded = await this.#upload(taken, commitPoint)
      if (objectStoreChannel.hasSubscribers) {
        objectStoreChannel.publish({
          event: 'flush',
          store: this.#context.storeName,
          taskId: this.#context.taskId,
          partition: this.#context.partition,
          durationMs: Date.now() - started,
          ...uploaded,
        })
      }
    } catch (error) {
      // Kept for the next flush, which uploads them together with what is written meanwhile.
      for (const [id, key] of taken) if (!this.#changed.has(id)) this.#changed.set(id, key)
      throw error
    }
    if (this.#writes === writesBefore && this.#changed.size === 0) {
      writeMarker(this.#markerPath, {
        root: `${this.#storage.description}/${this.#root}`,
        manifestId: this.#manifest.id,
      })
      this.#markerPresent = true
    }
  }

  async #upload(
    taken: Map<string, Uint8Array>,
    commitPoint: CommitPoint | undefined,
  ): Promise<{ records: number; bytes: number; compacted: boolean }> {
    const storage = this.#storage
    const context = this.#context
    const options = this.#options
    const previous = this.#manifest
    const keys = [...taken.values()]
    const values = await this.#workingCopy.getMany(keys)
    const records: ObjectRecord[] = keys.map((key, index) => ({ key, value: values[index] ?? null }))
    const chunks = splitRecords(records, options.segmentMaxBytes)
    const pendingBytes = chunks.reduce((sum, chunk) => sum + chunk.bytes, 0)
    const sequence = previous.sequence + 1
    const id = randomUUID()
    const now = Date.now()
    let snapshot = previous.snapshot
    let segments: ManifestObject[]
    let replaced: string[] = []
    const due =
      this.#compaction === undefined &&
      shouldCompact(previous, chunks.length, pendingBytes, {
        afterSegments: options.compactAfterSegments,
        afterBytes: options.compactAfterBytes,
      })
    // A snapshot taken in the background since an earlier flush replaces what it covers.
    const ready = this.#compaction?.ready
    const compactInline = due && !this.#backgroundCompaction
    if (compactInline) {
      const entries: ObjectRecord[] = []
      for await (const entry of this.#workingCopy.range()) entries.push(entry)
      const name = snapshotName(sequence, id)
      snapshot = await this.#putObject('flush (upload the snapshot)', name, 'snapshot', entries)
      segments = []
      replaced = namedObjects(previous)
    } else {
      const uploaded = await Promise.all(
        chunks.map((chunk, part) =>
          this.#putObject(
            'flush (upload a segment)',
            segmentName(sequence, id, part),
            'segment',
            chunk.records,
          ),
        ),
      )
      segments = [...previous.segments, ...uploaded]
      if (ready !== undefined) {
        snapshot = ready.snapshot
        segments = [...previous.segments.slice(ready.segmentsCovered), ...uploaded]
        replaced = [
          ...(ready.snapshotCovered === null ? [] : [ready.snapshotCovered]),
          ...previous.segments.slice(0, ready.segmentsCovered).map((segment) => segment.name),
        ]
      }
    }
    const deletion = planDeletion(previous.superseded, replaced, now, options.deleteGraceMs)
    const next: Manifest = {
      formatVersion: manifestFormatVersion,
      id,
      sequence,
      snapshot,
      segments,
      inputs: mergeInputs(previous.inputs, commitPoint),
      changelogs: mergeChangelogs(previous.changelogs, commitPoint),
      owner: { ...context.ownership },
      superseded: deletion.keep,
      writtenAt: now,
    }
    try {
      this.#version = await writeManifest(
        storage,
        context,
        'flush (write the manifest)',
        `${this.#root}/${manifestName}`,
        next,
        { ifMatch: this.#version },
      )
    } catch (error) {
      if (error instanceof FencedError) {
        this.#fenced = error
        if (this.#compaction !== undefined) this.#compaction.aborted = true
      }
      throw error
    }
    this.#manifest = next
    if (ready !== undefined) this.#compaction = undefined
    if (deletion.due.length > 0) {
      this.#inBackground(() => storage.delete(deletion.due.map((name) => `${this.#root}/${name}`)))
    }
    if (compactInline || ready !== undefined) this.#inBackground(() => this.#sweepOrphans(next))
    if (due && this.#backgroundCompaction) this.#startCompaction(next)
    return compactInline
      ? { records: snapshot?.records ?? 0, bytes: snapshot?.bytes ?? 0, compacted: true }
      : { records: records.length, bytes: pendingBytes, compacted: ready !== undefined }
  }

  /**
   * Takes a snapshot of the working copy as `manifest` has it, in the background: the scan's first
   * step runs now, while the task is held for its commit, and LMDB scans read the snapshot taken
   * at their first step, so later writes are not in it (they are in the segments written after
   * `manifest`, which the manifest naming the snapshot keeps).
   */
  #startCompaction(manifest: Manifest): void {
    const iterator = (this.#workingCopy.range() as Iterable<BackendEntry>)[Symbol.iterator]()
    let step = iterator.next()
    const job: CompactionJob = { aborted: false, ready: undefined, done: Promise.resolve() }
    job.done = (async () => {
      const entries: ObjectRecord[] = []
      while (step.done !== true) {
        entries.push(step.value)
        if (entries.length % 20_000 === 0) {
          // Yields, so that a snapshot of a large store does not stall the task's processing.
          await new Promise((resolve) => setImmediate(resolve))
          if (job.aborted) {
            iterator.return?.()
            return
          }
        }
        step = iterator.next()
      }
      const name = snapshotName(manifest.sequence, randomUUID())
      const snapshot = await this.#putObject('compaction (upload the snapshot)', name, 'snapshot', entries)
      job.ready = {
        snapshot,
        segmentsCovered: manifest.segments.length,
        snapshotCovered: manifest.snapshot?.name ?? null,
      }
    })().catch(() => {
      // Tried again when the next flush finds compaction due; an uploaded part is swept later.
      if (this.#compaction === job) this.#compaction = undefined
    })
    this.#compaction = job
  }

  async #putObject(
    operation: string,
    name: string,
    kind: ObjectKind,
    records: ObjectRecord[],
  ): Promise<ManifestObject> {
    const bytes = encodeObject(kind, records)
    const key = `${this.#root}/${name}`
    await call(this.#context, operation, `${this.#storage.description}/${key}`, () =>
      this.#storage.put(key, bytes),
    )
    return { name, bytes: bytes.length, records: records.length }
  }

  /**
   * Deletes objects under the root that no manifest names and nothing will: uploads of flushes
   * whose manifest write failed, or of an earlier owner. Old enough ones only, so that an upload
   * in progress is never taken for one.
   */
  async #sweepOrphans(manifest: Manifest): Promise<void> {
    const known = new Set([
      manifestName,
      ...namedObjects(manifest),
      ...manifest.superseded.map((entry) => entry.name),
    ])
    const listed = await this.#storage.list(`${this.#root}/`)
    const cutoff = Date.now() - this.#options.deleteGraceMs
    const orphans = listed
      .filter(
        (object) => !known.has(object.name.slice(this.#root.length + 1)) && object.lastModified < cutoff,
      )
      .map((object) => object.name)
    if (orphans.length > 0) await this.#storage.delete(orphans)
  }

  #inBackground(work: () => Promise<void>): void {
    // Best effort: what is not deleted now is found again by the next sweep.
    const promise = work()
      .catch(() => {})
      .finally(() => this.#background.delete(promise))
    this.#background.add(promise)
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#flushing
      if (this.#compaction !== undefined) {
        this.#compaction.aborted = true
        await this.#compaction.done
      }
      await Promise.all([...this.#background])
      await this.#workingCopy.close()
    })()
    return this.#closing
  }
}

/** Splits records into chunks of at most about `maxBytes` encoded (a chunk holds at least one record). */
function splitRecords(
  records: ObjectRecord[],
  maxBytes: number,
): Array<{ records: ObjectRecord[]; bytes: number }> {
  const chunks: Array<{ records: ObjectRecord[]; bytes: number }> = []
  let current: ObjectRecord[] = []
  let bytes = encodedSize([])
  for (const record of records) {
    const size = recordSize(record.key, record.value)
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push({ records: current, bytes })
      current = []
      bytes = encodedSize([])
    }
    current.push(record)
    bytes += size
  }
  if (current.length > 0) chunks.push({ records: current, bytes })
  return chunks
}

/** Downloads the snapshot and segments in parallel and applies them in order into `workingCopy`. */
async function restore(
  storage: ObjectStorage,
  context: BackendContext,
  options: ResolvedOptions,
  root: string,
  manifest: Manifest,
  workingCopy: StoreBackend,
): Promise<{ objects: number; bytes: number; records: number }> {
  const objects: Array<{ object: ManifestObject; kind: ObjectKind }> = [
    ...(manifest.snapshot === null ? [] : [{ object: manifest.snapshot, kind: 'snapshot' as const }]),
    ...manifest.segments.map((object) => ({ object, kind: 'segment' as const })),
  ]
  // One download per part; the parts of one object are put together once all of them arrived.
  const parts: Array<{ index: number; start: number; end: number }> = []
  for (const [index, { object }] of objects.entries()) {
    const size = object.bytes
    if (size <= options.downloadPartBytes) parts.push({ index, start: 0, end: size - 1 })
    else {
      for (let start = 0; start < size; start += options.downloadPartBytes) {
        parts.push({ index, start, end: Math.min(size, start + options.downloadPartBytes) - 1 })
      }
    }
  }
  const downloads = bounded(
    options.downloadConcurrency,
    parts.map((part) => async () => {
      const { object } = objects[part.index]!
      const key = `${root}/${object.name}`
      const whole = part.start === 0 && part.end === object.bytes - 1
      const got = await call(context, 'open (download)', `${storage.description}/${key}`, () =>
        storage.get(key, whole ? {} : { range: { start: part.start, end: part.end } }),
      )
      if (got === undefined) {
        throw new StoreError(
          `cannot open ${describeStore(context)}: the manifest names ${storage.description}/${key}, which does not exist`,
          { context: errorContext(context, 'open (download)', `${storage.description}/${key}`) },
        )
      }
      return got.bytes
    }),
  )
  const downloaded = await downloads
  let cursor = 0
  let applied = 0
  for (const [index, { object, kind }] of objects.entries()) {
    const chunks: Uint8Array[] = []
    while (cursor < parts.length && parts[cursor]!.index === index) {
      chunks.push(downloaded[cursor]!)
      cursor += 1
    }
    const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
    const objectName = `${storage.description}/${root}/${object.name}`
    let records: ObjectRecord[]
    try {
      records = decodeObject(kind, bytes)
    } catch (cause) {
      throw new StoreError(
        `cannot open ${describeStore(context)}: ${objectName} is damaged: ${messageOf(cause)}`,
        {
          cause,
          context: errorContext(context, 'open (decode)', objectName),
        },
      )
    }
    for (let start = 0; start < records.length; start += options.restoreBatchSize) {
      await workingCopy.write(records.slice(start, start + options.restoreBatchSize))
    }
    applied += records.length
  }
  return {
    objects: objects.length,
    bytes: objects.reduce((sum, { object }) => sum + object.bytes, 0),
    records: applied,
  }
}

async function writeManifest(
  storage: ObjectStorage,
  context: BackendContext,
  operation: string,
  key: string,
  manifest: Manifest,
  condition: PutCondition,
): Promise<string> {
  const objectName = `${storage.description}/${key}`
  try {
    const { version } = await storage.put(key, encodeManifest(manifest), condition)
    return version
  } catch (error) {
    if (!(error instanceof PreconditionFailedError)) throw storageError(context, operation, objectName, error)
    // Someone else wrote the manifest since we read it: a newer owner. Read it to say who.
    const current = await storage.get(key).catch(() => undefined)
    let owner: Manifest['owner'] | undefined
    try {
      owner = current === undefined ? undefined : decodeManifest(current.bytes).owner
    } catch {
      owner = undefined
    }
    throw fencedError(context, operation, owner, objectName, error)
  }
}

function fencedError(
  context: BackendContext,
  operation: string,
  newer: Manifest['owner'] | undefined,
  objectName: string,
  cause?: unknown,
): FencedError {
  const theirs = newer === undefined ? 'another writer' : describeToken(newer)
  if (objectStoreChannel.hasSubscribers) {
    objectStoreChannel.publish({
      event: 'fenced',
      store: context.storeName,
      taskId: context.taskId,
      partition: context.partition,
      operation,
      object: objectName,
      ownership: context.ownership,
      newerOwnership: newer,
    })
  }
  return new FencedError(
    `${describeStore(context)} is fenced at ${operation}: ${objectName} was written by ${theirs}, newer than this owner (${describeToken(context.ownership)})`,
    {
      cause,
      context: {
        ...errorContext(context, operation, objectName),
        ownership: context.ownership,
        ...(newer === undefined ? {} : { newerOwnership: newer }),
      },
    },
  )
}

/** Runs a storage call; a failure becomes a retriable StoreError naming the operation and the object. */
async function call<T>(
  context: BackendContext,
  operation: string,
  objectName: string,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run()
  } catch (error) {
    throw storageError(context, operation, objectName, error)
  }
}

function storageError(
  context: BackendContext,
  operation: string,
  objectName: string,
  error: unknown,
): KStreamsError {
  if (KStreamsError.isInstance(error)) return error
  return new StoreError(
    `${describeStore(context)}: ${operation} of ${objectName} failed: ${messageOf(error)}`,
    {
      cause: error,
      retriable: true,
      context: errorContext(context, operation, objectName),
    },
  )
}

function describeStore(context: BackendContext): string {
  return `object store "${context.storeName}" of task ${context.taskId}`
}

function errorContext(context: BackendContext, operation: string, objectName: string | undefined) {
  return {
    store: context.storeName,
    taskId: context.taskId,
    partition: context.partition,
    operation,
    ...(objectName === undefined ? {} : { object: objectName }),
  }
}

function readMarker(path: string): WorkingCopyMarker | undefined {
  if (!existsSync(path)) return undefined
  try {
    const marker = JSON.parse(readFileSync(path, 'utf8')) as Partial<WorkingCopyMarker>
    if (typeof marker.root === 'string' && typeof marker.manifestId === 'string')
      return marker as WorkingCopyMarker
  } catch {
    // A damaged marker vouches for nothing: the working copy is downloaded again.
  }
  return undefined
}

function writeMarker(path: string, marker: WorkingCopyMarker): void {
  writeFileSync(path, JSON.stringify(marker))
}

/**
 * The factory a provider package wraps: backends of stores kept in `storage`.
 *
 * @example
 * createObjectStoreBackend('s3', storage, { prefix: 'prod' })
 */
export function createObjectStoreBackend(
  name: string,
  storage: ObjectStorage,
  options: ObjectStoreOptions = {},
): StoreBackendFactory {
  const resolved = resolveObjectStoreOptions(options)
  const timed = withRequestTimeout(storage, resolved.requestTimeoutMs)
  return {
    name,
    persistent: true,
    open: (context) => ObjectStoreBackend.open(timed, context, resolved),
  }
}

/** `storage` with every request failing after `timeoutMs` without an answer. */
function withRequestTimeout(storage: ObjectStorage, timeoutMs: number): ObjectStorage {
  const timed = <T>(run: () => Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${timeoutMs} ms (requestTimeoutMs)`)),
        timeoutMs,
      )
    })
    return Promise.race([run(), timeout]).finally(() => clearTimeout(timer))
  }
  return {
    description: storage.description,
    get: (name, options) => timed(() => storage.get(name, options)),
    put: (name, bytes, condition) => timed(() => storage.put(name, bytes, condition)),
    head: (name) => timed(() => storage.head(name)),
    list: (prefix) => timed(() => storage.list(prefix)),
    delete: (names) => timed(() => storage.delete(names)),
    ...(storage.close === undefined ? {} : { close: () => storage.close!() }),
  }
}
