// A remote backend on Cloud Bigtable: one row per key under the store partition's prefix, writes
// buffered per task and written at flush, the commit point and the owner in a meta row per
// partition, and zombie owners fenced by a conditional mutation of that meta row.
//
// Bigtable has no transactions over several rows. A flush therefore writes the data rows first and
// the meta row last: a crash in between leaves state ahead of the stored commit point (its records
// are processed again: at-least-once), never a commit point ahead of the state.
import { Bigtable } from '@google-cloud/bigtable'
import {
  type BackendCapabilities,
  type BackendContext,
  type BackendEntry,
  type BackendRangeOptions,
  type BackendWrite,
  type CommitPoint,
  FencedError,
  KStreamsError,
  type OwnershipToken,
  type StoreBackend,
  type StoreBackendFactory,
  StoreError,
} from '@kstreams/core'
import {
  type BigtableBackendOptions,
  type ResolvedBigtableBackendOptions,
  resolveOptions,
} from './bigtable-backend-options.js'
import {
  BigtableTable,
  grpcCode,
  isRetriable,
  type Mutation,
  MutationFailure,
  type ReadRow,
} from './bigtable-table.js'
import {
  commitColumn,
  decodeCommitPoint,
  decodeOwner,
  describeOwner,
  encodeCommitPoint,
  encodeOwner,
  mayClaim,
  mergeCommitPoint,
  ownerColumn,
  type StoredCommitPoint,
  valueColumn,
} from './meta-row.js'
import { bigtableMaxHeaderBytes, bigtableMaxKeyBytes, describeRowKey, RowKeys } from './row-keys.js'
import { type BufferedEntry, WriteBuffer } from './write-buffer.js'

/** The largest cell value Bigtable accepts (100 MB). */
export const bigtableMaxValueBytes = 100_000_000

const capabilities: BackendCapabilities = Object.freeze({
  persistent: true,
  reverseRange: true,
  maxKeyBytes: bigtableMaxKeyBytes,
  maxValueBytes: bigtableMaxValueBytes,
})

/** Rows per MutateRows request (Bigtable allows 100,000 mutations; a put is two). */
const mutationBatchRows = 10_000
/** Bytes of values per MutateRows request, well below the 256 MB request limit. */
const mutationBatchBytes = 16 * 1024 * 1024
/** Keys per ReadRows request of getMany. */
const readBatchKeys = 1000
/** Attempts of a claim whose conditional write lost a race with another writer. */
const claimAttempts = 5

type Operation = 'open' | 'get' | 'getMany' | 'range' | 'approximateCount' | 'write' | 'flush'

/** The meta row as read. */
interface MetaRow {
  ownerBytes: Buffer | undefined
  owner: OwnershipToken | undefined
  commitPoint: StoredCommitPoint | undefined
}

/** What the backends of one factory share: the client and the table, checked once. */
class SharedTable {
  readonly options: ResolvedBigtableBackendOptions
  #client: Bigtable | undefined
  #table: BigtableTable | undefined
  #users = 0
  #checked: Promise<void> | undefined

  constructor(options: ResolvedBigtableBackendOptions) {
    this.options = options
  }

  /** The table, with a client created on first use. Pair with release(). */
  acquire(): BigtableTable {
    this.#users += 1
    if (this.#table === undefined) {
      const options = this.options
      this.#client =
        options.client ?? new Bigtable({ ...options.clientOptions, projectId: options.projectId })
      this.#table = new BigtableTable(
        this.#client,
        options.instanceId,
        options.tableId,
        options.columnFamily,
        options.requestTimeoutMs,
      )
    }
    return this.#table
  }

  async release(): Promise<void> {
    this.#users -= 1
    if (this.#users > 0 || this.#client === undefined) return
    const client = this.#client
    this.#client = undefined
    this.#table = undefined
    this.#checked = undefined
    // A client given by the user is theirs to close.
    if (this.options.client === undefined) await client.close()
  }

  /** Checks (once per client) that the table and the family exist, creating them if allowed. */
  ensureTable(): Promise<void> {
    this.#checked ??= this.#checkTable().catch((error: unknown) => {
      this.#checked = undefined
      throw error
    })
    return this.#checked
  }

  async #checkTable(): Promise<void> {
    const options = this.options
    const client = this.#client!
    const table = client.instance(options.instanceId).table(options.tableId)
    let families: string[]
    try {
      const [found] = await table.getFamilies({ timeout: options.requestTimeoutMs })
      families = found.map((family) => family.id)
    } catch (error) {
      if (grpcCode(error) !== 5) throw error
      if (!options.createTable) {
        throw new TableMissing(
          `table "${options.tableId}" does not exist in instance "${options.instanceId}" of project "${options.projectId}" (create it with column family "${options.columnFamily}", or pass createTable: true)`,
          error,
        )
      }
      try {
        await client.instance(options.instanceId).createTable(options.tableId, {
          families: [{ name: options.columnFamily, rule: { versions: 1 } }],
        })
      } catch (createError) {
        // Another instance created it first.
        if (grpcCode(createError) !== 6) throw createError
      }
      return this.#checkTable()
    }
    if (families.includes(options.columnFamily)) return
    if (!options.createTable) {
      throw new TableMissing(
        `table "${options.tableId}" of instance "${options.instanceId}" has no column family "${options.columnFamily}" (it has: ${families.join(', ') || 'none'}; create it, or pass createTable: true)`,
      )
    }
    try {
      await table.createFamily(options.columnFamily, { rule: { versions: 1 } })
    } catch (createError) {
      if (grpcCode(createError) !== 6) throw createError
    }
  }
}

/** The table or its family is missing: not retriable, the message says what to create. */
class TableMissing extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause })
  }
}

export class BigtableBackend implements StoreBackend {
  readonly contractVersion = 1 as const
  readonly capabilities = capabilities
  readonly #shared: SharedTable
  readonly #table: BigtableTable
  readonly #context: BackendContext
  readonly #rows: RowKeys
  readonly #ownerBytes: Buffer
  readonly #buffer = new WriteBuffer()
  #commitPoint: StoredCommitPoint | undefined
  /** The flush or spill running now: they run one at a time, in the order they were asked for. */
  #writing: Promise<void> = Promise.resolve()
  #spilling: Promise<void> | undefined
  #closed = false

  private constructor(
    shared: SharedTable,
    table: BigtableTable,
    context: BackendContext,
    rows: RowKeys,
    commitPoint: StoredCommitPoint | undefined,
  ) {
    this.#shared = shared
    this.#table = table
    this.#context = context
    this.#rows = rows
    this.#ownerBytes = encodeOwner(context.ownership)
    this.#commitPoint = commitPoint
  }

  /**
   * Opens the store partition of `context`: checks the table, reads the meta row and claims it for
   * `context.ownership` with a conditional mutation.
   * @throws FencedError when the meta row holds a newer owner's token
   * @throws StoreError when Bigtable is unreachable (retriable), or the table or family is missing
   */
  static async open(shared: SharedTable, context: BackendContext): Promise<BigtableBackend> {
    const rows = new RowKeys(context.applicationId, context.storeName, context.partition)
    const where = describeStore(context, shared.options)
    if (rows.metaRowKey.length > bigtableMaxHeaderBytes) {
      throw new StoreError(
        `${where}: open: the row key header "${describeRowKey(rows.metaRowKey)}" takes ${rows.metaRowKey.length} bytes; application id and store name may take at most ${bigtableMaxHeaderBytes} together`,
        { context: errorContext(context, 'open', rows.metaRowKey) },
      )
    }
    const table = shared.acquire()
    try {
      // The claim reads the meta row again on every attempt, so trying it again is safe.
      const commitPoint = await holding(shared.options.holdTimeoutMs, async () => {
        try {
          await shared.ensureTable()
          return await claim(table, rows.metaRowKey, context, where)
        } catch (error) {
          if (KStreamsError.isInstance(error)) throw error
          throw storeError(context, shared.options, 'open', rows.metaRowKey, error)
        }
      })
      return new BigtableBackend(shared, table, context, rows, commitPoint)
    } catch (error) {
      await shared.release()
      throw error
    }
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    const buffered = this.#buffer.get(key)
    if (buffered !== undefined) return buffered.value === null ? undefined : copy(buffered.value)
    if (key.length > bigtableMaxKeyBytes) return undefined
    const rowKey = this.#rows.rowKey(key)
    const rows = await this.#read('get', rowKey, () =>
      this.#table.readRows({ rowKeys: [rowKey], columns: [valueColumn] }),
    )
    return rows[0]?.cells.get(valueColumn)
  }

  async getMany(keys: readonly Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    const values: Array<Uint8Array | undefined> = new Array(keys.length).fill(undefined)
    const remote = new Map<string, number[]>()
    keys.forEach((key, index) => {
      const buffered = this.#buffer.get(key)
      if (buffered !== undefined) {
        values[index] = buffered.value === null ? undefined : copy(buffered.value)
      } else if (key.length <= bigtableMaxKeyBytes) {
        const id = Buffer.from(key).toString('latin1')
        const indexes = remote.get(id)
        if (indexes === undefined) remote.set(id, [index])
        else indexes.push(index)
      }
    })
    const ids = [...remote.keys()]
    for (let start = 0; start < ids.length; start += readBatchKeys) {
      const rowKeys = ids
        .slice(start, start + readBatchKeys)
        .map((id) => this.#rows.rowKey(Buffer.from(id, 'latin1')))
      const rows = await this.#read('getMany', rowKeys[0]!, () =>
        this.#table.readRows({ rowKeys, columns: [valueColumn] }),
      )
      for (const row of rows) {
        const id = Buffer.from(this.#rows.keyOf(row.key)).toString('latin1')
        const value = row.cells.get(valueColumn)
        for (const index of remote.get(id) ?? [])
          values[index] = value === undefined ? undefined : copy(value)
      }
    }
    return values
  }

  write(batch: readonly BackendWrite[]): void | Promise<void> {
    if (batch.length === 0) return
    // Checked before anything is buffered, so that a bad write rejects the whole batch.
    for (const { key, value } of batch) {
      if (key.length > bigtableMaxKeyBytes) {
        throw new StoreError(
          `${this.#where()}: write: a key of ${key.length} bytes is longer than the ${bigtableMaxKeyBytes} bytes a row key leaves for it`,
          { context: errorContext(this.#context, 'write', this.#rows.dataPrefix) },
        )
      }
      if (value !== null && value.length > bigtableMaxValueBytes) {
        throw new StoreError(
          `${this.#where()}: write: a value of ${value.length} bytes is larger than a Bigtable cell holds (${bigtableMaxValueBytes})`,
          { context: errorContext(this.#context, 'write', this.#rows.rowKey(key)) },
        )
      }
    }
    for (const { key, value } of batch) this.#buffer.set(copy(key), value === null ? null : copy(value))
    if (this.#buffer.bytes > this.#shared.options.maxBufferedBytes) return this.#spill()
  }

  async *range(options: BackendRangeOptions = {}): AsyncGenerator<BackendEntry> {
    for await (const entry of this.#merged(options, false)) yield { key: entry.key, value: entry.value! }
  }

  async approximateCount(): Promise<number> {
    // Bigtable keeps no count of a key range: the keys are counted, without their values.
    let count = 0
    for await (const _ of this.#merged({}, true)) count += 1
    return count
  }

  /**
   * Writes the buffered data rows, then the meta row with `commitPoint` and our token, the latter
   * only if the meta row still names us as its owner.
   * @throws FencedError when another owner claimed the partition since we opened it
   * @throws StoreError with `retriable: true` when Bigtable is unreachable; the writes stay buffered
   */
  flush(commitPoint?: CommitPoint): Promise<void> {
    const run = this.#writing.then(() => this.#flushNow(commitPoint))
    this.#writing = run.catch(() => {})
    return run
  }

  /** The changelog offset the stored data covers, from the commit point of the last flush. */
  changelogCheckpoint(): bigint | undefined {
    const topic = this.#context.changelogTopic
    if (topic === undefined) return undefined
    const entry = this.#commitPoint?.changelogs.find(
      (changelog) => changelog.topic === topic && changelog.partition === this.#context.partition,
    )
    return entry === undefined ? undefined : BigInt(entry.offset)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    // A flush in progress finishes first; what was never flushed is dropped (the runtime flushes
    // at every commit, and a close without a commit is a task given up).
    await this.#writing
    await this.#shared.release()
  }

  async #flushNow(commitPoint: CommitPoint | undefined): Promise<void> {
    const written = this.#buffer.entries()
    if (written.length > 0) await this.#writeData('flush', written)
    if (written.length === 0 && commitPoint === undefined) return
    const metaRowKey = this.#rows.metaRowKey
    const now = new Date()
    const timestamp = now.getTime() * 1000
    const mutations: Mutation[] = this.#table.replaceCell(ownerColumn, this.#ownerBytes, timestamp)
    const stored =
      commitPoint === undefined ? undefined : mergeCommitPoint(this.#commitPoint, commitPoint, now)
    if (stored !== undefined) {
      mutations.push(...this.#table.replaceCell(commitColumn, encodeCommitPoint(stored), timestamp))
    }
    const matched = await this.#request('flush', metaRowKey, () =>
      this.#table.checkAndMutateRow(
        metaRowKey,
        this.#table.cellEquals(ownerColumn, this.#ownerBytes),
        mutations,
        [],
      ),
    )
    if (!matched) throw await this.#fenced('flush')
    if (stored !== undefined) this.#commitPoint = stored
  }

  /**
   * Writes `entries` as data rows, after checking that the meta row still names us: a zombie that
   * lost the partition is stopped here, before it writes, except in the moment between the check
   * and the write (see the README). Forgets the entries that were not written again meanwhile.
   */
  async #writeData(operation: Operation, entries: readonly BufferedEntry[]): Promise<void> {
    const meta = await this.#request(operation, this.#rows.metaRowKey, () =>
      readMeta(this.#table, this.#rows.metaRowKey),
    )
    if (meta.ownerBytes === undefined || !meta.ownerBytes.equals(this.#ownerBytes)) {
      throw this.#fencedBy(operation, meta.owner)
    }
    const timestamp = Date.now() * 1000
    let batch: Array<{ rowKey: Buffer; mutations: Mutation[] }> = []
    let batchBytes = 0
    const send = async () => {
      const entriesOfBatch = batch
      batch = []
      batchBytes = 0
      await this.#request(operation, entriesOfBatch[0]!.rowKey, () => this.#table.mutateRows(entriesOfBatch))
    }
    for (const { key, value } of entries) {
      const rowKey = this.#rows.rowKey(key)
      const mutations: Mutation[] =
        value === null ? [{ deleteFromRow: {} }] : this.#table.replaceCell(valueColumn, value, timestamp)
      const bytes = rowKey.length + (value?.length ?? 0)
      if (
        batch.length > 0 &&
        (batch.length >= mutationBatchRows || batchBytes + bytes > mutationBatchBytes)
      ) {
        await send()
      }
      batch.push({ rowKey, mutations })
      batchBytes += bytes
    }
    if (batch.length > 0) await send()
    this.#buffer.forget(entries)
  }

  /** Writes the data rows of a buffer over its bound, waiting out an unreachable Bigtable for a while. */
  #spill(): Promise<void> {
    this.#spilling ??= holding(this.#shared.options.holdTimeoutMs, () => {
      const attempt = this.#writing.then(() => this.#writeData('write', this.#buffer.entries()))
      this.#writing = attempt.catch(() => {})
      return attempt
    }).finally(() => {
      this.#spilling = undefined
    })
    return this.#spilling
  }

  /**
   * Buffered and stored entries of a range, merged: the buffer snapshot taken when the scan starts
   * wins over the table (a tombstone hides the row), and the table is read in pages.
   */
  async *#merged(options: BackendRangeOptions, keysOnly: boolean): AsyncGenerator<BufferedEntry> {
    const { from, to } = options
    const reverse = options.reverse === true
    if (to !== undefined && (to.length === 0 || (from !== undefined && Buffer.compare(from, to) >= 0))) return
    const buffered = this.#buffer.range(from, to, reverse)
    const direction = reverse ? -1 : 1
    let next = 0
    for await (const stored of this.#stored(options, keysOnly)) {
      while (next < buffered.length && Buffer.compare(buffered[next]!.key, stored.key) * direction < 0) {
        const entry = buffered[next++]!
        if (entry.value !== null) yield { key: copy(entry.key), value: copy(entry.value) }
      }
      if (next < buffered.length && Buffer.compare(buffered[next]!.key, stored.key) === 0) {
        const entry = buffered[next++]!
        if (entry.value !== null) yield { key: copy(entry.key), value: copy(entry.value) }
        continue
      }
      yield stored
    }
    for (; next < buffered.length; next += 1) {
      const entry = buffered[next]!
      if (entry.value !== null) yield { key: copy(entry.key), value: copy(entry.value) }
    }
  }

  /** The stored entries of a range, in pages of `scanPageSize` rows. */
  async *#stored(options: BackendRangeOptions, keysOnly: boolean): AsyncGenerator<BufferedEntry> {
    const rows = this.#rows
    const pageSize = this.#shared.options.scanPageSize
    let start = options.from === undefined ? rows.dataPrefix : rows.rowKey(options.from)
    let startOpen = false
    let end = options.to === undefined ? rows.dataEnd : rows.rowKey(options.to)
    const reversed = options.reverse === true
    const operation: Operation = keysOnly ? 'approximateCount' : 'range'
    for (;;) {
      if (Buffer.compare(start, end) >= 0) return
      const page: ReadRow[] = await this.#read(operation, start, () =>
        this.#table.readRows({
          range: { start, startOpen, end },
          limit: pageSize,
          reversed,
          columns: [valueColumn],
          keysOnly,
        }),
      )
      for (const row of page) {
        const value = row.cells.get(valueColumn)
        if (value !== undefined) yield { key: rows.keyOf(row.key), value }
      }
      if (page.length < pageSize) return
      const last = page[page.length - 1]!.key
      if (reversed) end = last
      else {
        start = last
        startOpen = true
      }
    }
  }

  /** A read: tried again while Bigtable is unreachable, for up to `holdTimeoutMs`. */
  #read<T>(operation: Operation, rowKey: Uint8Array, call: () => Promise<T>): Promise<T> {
    return holding(this.#shared.options.holdTimeoutMs, () => this.#request(operation, rowKey, call))
  }

  /** Runs one Bigtable request; a failure becomes a StoreError naming the operation and the row. */
  async #request<T>(operation: Operation, rowKey: Uint8Array, call: () => Promise<T>): Promise<T> {
    if (this.#closed) {
      throw new StoreError(`${this.#where()}: ${operation}: the backend is closed`, {
        context: errorContext(this.#context, operation, rowKey),
      })
    }
    try {
      return await call()
    } catch (error) {
      if (KStreamsError.isInstance(error)) throw error
      const failedRow = error instanceof MutationFailure ? error.rowKey : rowKey
      throw storeError(this.#context, this.#shared.options, operation, failedRow, error)
    }
  }

  /** The FencedError of a conditional write that found another owner's token. */
  async #fenced(operation: Operation): Promise<FencedError> {
    let current: OwnershipToken | undefined
    try {
      current = (await readMeta(this.#table, this.#rows.metaRowKey)).owner
    } catch {
      // The error names no current owner then; the refusal itself is certain.
    }
    return this.#fencedBy(operation, current)
  }

  #fencedBy(operation: Operation, current: OwnershipToken | undefined): FencedError {
    const context = this.#context
    return new FencedError(
      `${this.#where()}: ${operation} refused: the meta row "${describeRowKey(this.#rows.metaRowKey)}" is owned by ${describeOwner(current)}, not by us (${describeOwner(context.ownership)}); a newer owner has the task`,
      {
        context: {
          ...errorContext(context, operation, this.#rows.metaRowKey),
          ownership: context.ownership,
          currentOwnership: current,
        },
      },
    )
  }

  #where(): string {
    return describeStore(this.#context, this.#shared.options)
  }
}

/** Reads the meta row: the owner's token and the last commit point. */
async function readMeta(table: BigtableTable, metaRowKey: Buffer): Promise<MetaRow> {
  const [row] = await table.readRows({ rowKeys: [metaRowKey], columns: [commitColumn, ownerColumn] })
  const ownerBytes = row?.cells.get(ownerColumn)
  const commitBytes = row?.cells.get(commitColumn)
  return {
    ownerBytes,
    owner: ownerBytes === undefined ? undefined : decodeOwner(ownerBytes),
    commitPoint: commitBytes === undefined ? undefined : decodeCommitPoint(commitBytes),
  }
}

/**
 * Claims the meta row for `context.ownership`: only over no token, our own, or an older one, and
 * only if the row still holds what was read (a conditional mutation), so two owners opening at once
 * cannot both win. Returns the stored commit point.
 */
async function claim(
  table: BigtableTable,
  metaRowKey: Buffer,
  context: BackendContext,
  where: string,
): Promise<StoredCommitPoint | undefined> {
  const ours = encodeOwner(context.ownership)
  for (let attempt = 1; attempt <= claimAttempts; attempt += 1) {
    const meta = await readMeta(table, metaRowKey)
    if (meta.ownerBytes?.equals(ours)) return meta.commitPoint
    if (
      meta.ownerBytes !== undefined &&
      (meta.owner === undefined || !mayClaim(meta.owner, context.ownership))
    ) {
      throw new FencedError(
        `${where}: open refused: the meta row "${describeRowKey(metaRowKey)}" is owned by ${describeOwner(meta.owner)}, newer than us (${describeOwner(context.ownership)})`,
        {
          context: {
            ...errorContext(context, 'open', metaRowKey),
            ownership: context.ownership,
            currentOwnership: meta.owner,
          },
        },
      )
    }
    const write = table.replaceCell(ownerColumn, ours, Date.now() * 1000)
    if (meta.ownerBytes === undefined) {
      const someoneWrote = await table.checkAndMutateRow(metaRowKey, table.cellExists(ownerColumn), [], write)
      if (!someoneWrote) return meta.commitPoint
    } else {
      const unchanged = await table.checkAndMutateRow(
        metaRowKey,
        table.cellEquals(ownerColumn, meta.ownerBytes),
        write,
        [],
      )
      if (unchanged) return meta.commitPoint
    }
  }
  throw new StoreError(
    `${where}: open: the meta row "${describeRowKey(metaRowKey)}" changed under ${claimAttempts} claims in a row; another owner keeps claiming it`,
    { retriable: true, context: errorContext(context, 'open', metaRowKey) },
  )
}

/**
 * Runs `attempt` until it succeeds, fails for a reason that is not retriable, or `timeoutMs` has
 * passed; waits between attempts with backoff (100 ms doubling to 5 s).
 */
async function holding<T>(timeoutMs: number, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let delayMs = 100
  for (;;) {
    try {
      return await attempt()
    } catch (error) {
      const retriable = error instanceof StoreError && error.retriable
      if (!retriable || Date.now() + delayMs > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, delayMs))
      delayMs = Math.min(delayMs * 2, 5000)
    }
  }
}

function describeStore(context: BackendContext, options: ResolvedBigtableBackendOptions): string {
  return `Bigtable store "${context.storeName}" of task ${context.taskId} (table "${options.tableId}" of instance "${options.instanceId}")`
}

function errorContext(context: BackendContext, operation: Operation, rowKey: Uint8Array) {
  return { store: context.storeName, taskId: context.taskId, operation, rowKey: describeRowKey(rowKey) }
}

function storeError(
  context: BackendContext,
  options: ResolvedBigtableBackendOptions,
  operation: Operation,
  rowKey: Uint8Array,
  error: unknown,
): StoreError {
  const where = describeStore(context, options)
  if (error instanceof TableMissing) {
    return new StoreError(`${where}: ${operation}: ${error.message}`, {
      cause: error,
      context: {
        ...errorContext(context, operation, rowKey),
        table: options.tableId,
        family: options.columnFamily,
      },
    })
  }
  const retriable = isRetriable(error)
  const reason = error instanceof Error ? error.message : String(error)
  return new StoreError(
    `${where}: ${operation} of row "${describeRowKey(rowKey)}" failed${retriable ? ' (Bigtable unreachable or busy; retriable)' : ''}: ${reason}`,
    { cause: error, retriable, context: errorContext(context, operation, rowKey) },
  )
}

function copy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes)
}

/**
 * Bigtable backends: every store partition keeps its rows in one table, under
 * `<applicationId>/<store>/<partition>/`, with a meta row holding its commit point and owner.
 *
 * @example
 * stores.keyValue('counts', {
 *   keySerde: serdes.string(),
 *   valueSerde: serdes.int64(),
 *   logging: false,
 *   backend: createBigtableBackend({ projectId: 'my-project', instanceId: 'my-instance', tableId: 'kstreams-state' }),
 * })
 */
export function createBigtableBackend(options: BigtableBackendOptions): StoreBackendFactory {
  const shared = new SharedTable(resolveOptions(options))
  return {
    name: 'bigtable',
    persistent: true,
    open: (context) => BigtableBackend.open(shared, context),
  }
}
