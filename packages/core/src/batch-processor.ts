// Batch processors: `processBatch` receives up to `maxBatchRecords` (and `maxBatchBytes`) records of
// one task, gathered for at most `lingerMs`, optionally grouped. It is an ordinary processor to the
// runtime: each record arrives in its own scope (key or unordered mode, so several are in flight),
// waits in the batch, and is done when the batch reports it done. Forwards made for an entry run in
// that entry's record scope, so they are attributed, ordered and committed with it. A record the
// batch reports for retry fails its call with a retriable error, so the processor's `retry` option
// parks it and hands it to a later batch.
import { ProcessingError, TopologyError } from './errors.js'
import type { Processor, ProcessorContext } from './processor.js'
import type { Record } from './record.js'
import { currentScope, type RecordScope, runInScope } from './runtime/record-scope.js'
import { toKey } from './state/sorted-key-map.js'

/** One record of a batch, with forwards that run in the record's own scope. */
export interface BatchEntry<K, V, KOut, VOut> {
  readonly record: Record<K, V>
  /** Sends a result of this record to every child. */
  forward(record: Record<KOut, VOut>): void
  /** Sends a result of this record to one named child. */
  forwardTo(child: string, record: Record<KOut, VOut>): void
}

/**
 * What became of one entry: `ok` (done), `retry` (again in a later batch, after the processor's
 * `retry` backoff; without a `retry` option it is a failure), or `fail` (the processing error
 * policy applies), optionally with the error.
 */
export type BatchResult = 'ok' | 'retry' | 'fail' | { status: 'retry' | 'fail'; error: unknown }

/**
 * Processes records in batches. `processBatch` may return nothing (every entry ok) or one result
 * per entry, in order; a throw or rejection fails (or, with a `retry` option, retries) all of them.
 */
export interface BatchProcessor<KIn, VIn, KOut = never, VOut = never> {
  init?: (context: ProcessorContext<KOut, VOut>) => void | Promise<void>
  processBatch: (
    entries: ReadonlyArray<BatchEntry<KIn, VIn, KOut, VOut>>,
  ) => void | ReadonlyArray<BatchResult> | Promise<void> | Promise<ReadonlyArray<BatchResult>>
  close?: () => void | Promise<void>
}

export type BatchProcessorSupplier<KIn, VIn, KOut = never, VOut = never> = () => BatchProcessor<
  KIn,
  VIn,
  KOut,
  VOut
>

/** How records are gathered into batches (see `addBatchProcessor`). */
export interface BatchOptions<K, V> {
  /** Records per batch, at most. At most the processor's `maxInFlight`. @default 100 */
  maxBatchRecords?: number
  /** Key and value bytes per batch, at most (a batch has at least one record). @default 1 MiB */
  maxBatchBytes?: number
  /** How long the first record of a batch waits for more. @default 5 */
  lingerMs?: number
  /**
   * Batches hold records of one group only, `'key'` (the record key) or a function's result, and
   * batches of one group run one after the other, never at once (so a read-modify-write per
   * group over a batch is safe, also in `unordered` mode). @default no groups: batches may run at once
   */
  groupBy?: 'key' | ((record: Record<K, V>) => string)
}

interface Waiting {
  entry: BatchEntry<unknown, unknown, unknown, unknown>
  scope: RecordScope | undefined
  bytes: number
  resolve: () => void
  reject: (error: unknown) => void
}

interface Batch {
  waiting: Waiting[]
  bytes: number
  timer: NodeJS.Timeout | undefined
}

/** Records per batch when `maxBatchRecords` is not given. */
export const DEFAULT_MAX_BATCH_RECORDS = 100

/** Marks an error the processor's `retry` option should not retry (a `fail` result). */
export const NO_RETRY: unique symbol = Symbol.for('kstreams.noRetry')

function resolvedOptions<K, V>(processor: string, options: BatchOptions<K, V> = {}) {
  const check = (name: keyof BatchOptions<K, V>, fallback: number, min: number) => {
    const value = options[name] ?? fallback
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
      throw new TopologyError(
        `batch processor "${processor}": "${name}" must be an integer of at least ${min}, got ${String(value)}`,
        { context: { processor, option: name } },
      )
    }
    return value
  }
  const groupBy = options.groupBy
  if (groupBy !== undefined && groupBy !== 'key' && typeof groupBy !== 'function') {
    throw new TopologyError(
      `batch processor "${processor}": "groupBy" must be 'key' or a function of the record`,
      {
        context: { processor, option: 'groupBy' },
      },
    )
  }
  return {
    maxBatchRecords: check('maxBatchRecords', DEFAULT_MAX_BATCH_RECORDS, 1),
    maxBatchBytes: check('maxBatchBytes', 1024 * 1024, 1),
    lingerMs: check('lingerMs', 5, 0),
    groupBy,
  }
}

/** Checks the batch options; returns the processor supplier the runtime runs. */
export function batchProcessorSupplier<KIn, VIn, KOut, VOut>(
  name: string,
  options: BatchOptions<KIn, VIn> | undefined,
  supplier: BatchProcessorSupplier<KIn, VIn, KOut, VOut>,
): () => Processor<KIn, VIn, KOut, VOut> {
  const resolved = resolvedOptions(name, options)
  return () => new BatchAdapter(name, resolved, supplier())
}

function keyText(key: unknown): string {
  if (key === null || key === undefined) return ''
  if (typeof key === 'string') return key
  if (key instanceof Uint8Array) return toKey(key)
  return JSON.stringify(key) ?? String(key)
}

class BatchAdapter<KIn, VIn, KOut, VOut> implements Processor<KIn, VIn, KOut, VOut> {
  readonly #name: string
  readonly #options: ReturnType<typeof resolvedOptions<KIn, VIn>>
  readonly #batcher: BatchProcessor<KIn, VIn, KOut, VOut>
  /** The open batch of each group, gathering records. */
  readonly #batches = new Map<string, Batch>()
  /** Groups with a batch running (with `groupBy`), and their full batches waiting for it, in order. */
  readonly #busy = new Map<string, Batch[]>()
  #context: ProcessorContext<KOut, VOut> | undefined
  #closed = false

  constructor(
    name: string,
    options: ReturnType<typeof resolvedOptions<KIn, VIn>>,
    batcher: BatchProcessor<KIn, VIn, KOut, VOut>,
  ) {
    this.#name = name
    this.#options = options
    this.#batcher = batcher
  }

  readonly init = (context: ProcessorContext<KOut, VOut>): void | Promise<void> => {
    this.#context = context
    return this.#batcher.init?.(context)
  }

  readonly process = (record: Record<KIn, VIn>): Promise<void> => {
    const scope = currentScope()
    const context = this.#context!
    const inScope = (work: () => void) => (scope ? runInScope(scope, work) : work())
    const entry: BatchEntry<KIn, VIn, KOut, VOut> = {
      record,
      forward: (out) => inScope(() => context.forward(out)),
      forwardTo: (child, out) => inScope(() => context.forwardTo(child, out)),
    }
    const { groupBy } = this.#options
    const group = groupBy === undefined ? '' : groupBy === 'key' ? keyText(record.key) : groupBy(record)
    return new Promise<void>((resolve, reject) => {
      const bytes = recordBytes(scope)
      let batch = this.#batches.get(group)
      if (batch && batch.waiting.length > 0 && batch.bytes + bytes > this.#options.maxBatchBytes) {
        this.#run(group, batch)
        batch = undefined
      }
      if (!batch) {
        batch = { waiting: [], bytes: 0, timer: undefined }
        this.#batches.set(group, batch)
      }
      batch.waiting.push({
        entry: entry as BatchEntry<unknown, unknown, unknown, unknown>,
        scope,
        bytes,
        resolve,
        reject,
      })
      batch.bytes += bytes
      if (batch.waiting.length >= this.#options.maxBatchRecords) {
        this.#run(group, batch)
      } else if (batch.timer === undefined) {
        const linger = batch
        batch.timer = setTimeout(() => this.#run(group, linger), this.#options.lingerMs)
      }
    })
  }

  readonly close = async (): Promise<void> => {
    this.#closed = true
    // The records still waiting belong to a task being closed: given up, their offsets uncommitted.
    for (const batch of [...this.#batches.values(), ...[...this.#busy.values()].flat()]) {
      clearTimeout(batch.timer)
      for (const waiting of batch.waiting) waiting.resolve()
    }
    this.#batches.clear()
    this.#busy.clear()
    await this.#batcher.close?.()
  }

  #run(group: string, batch: Batch): void {
    clearTimeout(batch.timer)
    if (this.#batches.get(group) === batch) this.#batches.delete(group)
    if (batch.waiting.length === 0 || this.#closed) return
    if (this.#options.groupBy === undefined) {
      void this.#call(batch.waiting)
      return
    }
    const queued = this.#busy.get(group)
    if (queued) {
      queued.push(batch)
      return
    }
    this.#busy.set(group, [])
    void this.#runGroup(group, batch)
  }

  /** Runs the batches of one group one after the other. */
  async #runGroup(group: string, first: Batch): Promise<void> {
    let batch: Batch | undefined = first
    while (batch && !this.#closed) {
      await this.#call(batch.waiting)
      batch = this.#busy.get(group)?.shift()
    }
    this.#busy.delete(group)
  }

  async #call(waiting: Waiting[]): Promise<void> {
    let results: ReadonlyArray<BatchResult> | undefined
    try {
      results =
        (await this.#batcher.processBatch(
          waiting.map(({ entry }) => entry as BatchEntry<KIn, VIn, KOut, VOut>),
        )) ?? undefined
    } catch (error) {
      for (const item of waiting) item.reject(error)
      return
    }
    if (results === undefined) {
      for (const item of waiting) item.resolve()
      return
    }
    if (!Array.isArray(results) || results.length !== waiting.length) {
      const error = new ProcessingError(
        `batch processor "${this.#name}" returned ${Array.isArray(results) ? `${results.length} results` : 'something else than an array'} for a batch of ${waiting.length} records: return nothing, or one result per entry, in order`,
        { context: { processor: this.#name } },
      )
      for (const item of waiting) item.reject(Object.assign(error, { [NO_RETRY]: true }))
      return
    }
    results.forEach((result, index) => {
      const item = waiting[index]!
      if (result === 'ok') {
        item.resolve()
        return
      }
      const status = typeof result === 'string' ? result : result.status
      const cause = typeof result === 'object' ? result.error : undefined
      const where = item.scope?.describe() ?? 'a record'
      const error = new ProcessingError(
        `batch processor "${this.#name}" reported ${status} for ${where}${cause instanceof Error ? `: ${cause.message}` : ''}`,
        { cause, context: { processor: this.#name }, retriable: status === 'retry' },
      )
      if (status !== 'retry') Object.assign(error, { [NO_RETRY]: true })
      item.reject(error)
    })
  }
}

/** The record's key and value bytes, as fetched. */
function recordBytes(scope: RecordScope | undefined): number {
  const fetched = scope?.fetched
  return (fetched?.key?.byteLength ?? 0) + (fetched?.value?.byteLength ?? 0)
}
