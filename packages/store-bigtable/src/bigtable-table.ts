// Row reads, bulk mutations and conditional mutations on one table, through the Bigtable data API
// (the generated BigtableClient the @google-cloud/bigtable client configures, emulator included).
//
// The high-level Table methods are not used for data: they return row keys and values as strings
// or, for 8-byte values, as numbers, and cannot scan in reverse. Here keys and values stay bytes,
// a value split over several chunks is put back together, and reverse scans are requested with the
// `bigtable-features` header that tells the service this client reads them.
import type { Bigtable } from '@google-cloud/bigtable'

/** The FeatureFlags message with reverse_scans (field 1) true, base64url-encoded with padding. */
const featureFlagsHeader = Buffer.from([0x08, 0x01]).toString('base64url').padEnd(4, '=')

/** gRPC status codes worth trying again: the service is away, overloaded, or the call timed out. */
const retriableCodes = new Set([
  1, // CANCELLED (a connection cut mid-call)
  4, // DEADLINE_EXCEEDED
  8, // RESOURCE_EXHAUSTED
  10, // ABORTED
  13, // INTERNAL
  14, // UNAVAILABLE
])

/** A failed Bigtable call: the gRPC status code when there is one. */
export function grpcCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | undefined)?.code
  return typeof code === 'number' ? code : undefined
}

/** Whether a failed call may succeed when tried again. */
export function isRetriable(error: unknown): boolean {
  const code = grpcCode(error)
  if (code === undefined) return true
  return retriableCodes.has(code)
}

/** One row as read: its key and its cells (latest version), by column qualifier. */
export interface ReadRow {
  key: Buffer
  cells: Map<string, Buffer>
}

/** A row range: `start` included (excluded when `startOpen`), `end` excluded; undefined is open-ended. */
export interface RowRange {
  start?: Buffer
  startOpen?: boolean
  end?: Buffer
}

export interface ReadRequest {
  /** Read these rows. */
  rowKeys?: readonly Buffer[]
  /** Or read this range. */
  range?: RowRange
  /** At most this many rows. */
  limit?: number
  /** Largest row key first. */
  reversed?: boolean
  /** The qualifiers to read, in this family (the latest cell of each). */
  columns: readonly string[]
  /** Only the row keys: the values come back empty. */
  keysOnly?: boolean
}

/** A mutation of the Bigtable data API (setCell, deleteFromColumn, deleteFromRow). */
export type Mutation =
  | {
      setCell: { familyName: string; columnQualifier: Buffer; timestampMicros: number; value: Buffer }
    }
  | { deleteFromColumn: { familyName: string; columnQualifier: Buffer } }
  | { deleteFromRow: Record<string, never> }

/** An entry of a MutateRows call that the service refused, with the row it was for. */
export class MutationFailure extends Error {
  constructor(
    readonly rowKey: Buffer,
    readonly code: number,
    message: string,
  ) {
    super(message)
  }
}

type Filter = Record<string, unknown>

export class BigtableTable {
  readonly #bigtable: Bigtable
  readonly name: string
  readonly family: string
  readonly #timeoutMs: number

  constructor(bigtable: Bigtable, instanceId: string, tableId: string, family: string, timeoutMs: number) {
    this.#bigtable = bigtable
    this.name = bigtable.instance(instanceId).table(tableId).name
    this.family = family
    this.#timeoutMs = timeoutMs
  }

  /** The rows asked for, in row key order (or reverse). */
  async readRows(request: ReadRequest): Promise<ReadRow[]> {
    const rows: { rowKeys?: Buffer[]; rowRanges?: object[] } = {}
    if (request.rowKeys !== undefined) rows.rowKeys = [...request.rowKeys]
    else {
      const range = request.range ?? {}
      const rowRange: Record<string, Buffer> = {}
      if (range.start !== undefined)
        rowRange[range.startOpen ? 'startKeyOpen' : 'startKeyClosed'] = range.start
      if (range.end !== undefined) rowRange.endKeyOpen = range.end
      rows.rowRanges = [rowRange]
    }
    const filters: Filter[] = [this.#columnsFilter(request.columns), { cellsPerColumnLimitFilter: 1 }]
    if (request.keysOnly === true) filters.push({ stripValueTransformer: true })
    const responses = await this.#stream('readRows', {
      rows,
      filter: { chain: { filters } },
      ...(request.limit === undefined ? {} : { rowsLimit: request.limit }),
      ...(request.reversed === true ? { reversed: true } : {}),
    })
    return parseRows(responses as ReadRowsResponse[])
  }

  /** Applies the mutations of every entry (each entry atomically); throws the first failed entry. */
  async mutateRows(entries: ReadonlyArray<{ rowKey: Buffer; mutations: Mutation[] }>): Promise<void> {
    if (entries.length === 0) return
    const responses = (await this.#stream('mutateRows', { entries })) as Array<{
      entries?: Array<{ index?: number | string; status?: { code?: number; message?: string } }>
    }>
    const done = new Set<number>()
    for (const response of responses) {
      for (const entry of response.entries ?? []) {
        const index = Number(entry.index ?? 0)
        const code = entry.status?.code ?? 0
        if (code !== 0) {
          throw new MutationFailure(
            entries[index]!.rowKey,
            code,
            entry.status?.message ?? `gRPC status ${code}`,
          )
        }
        done.add(index)
      }
    }
    if (done.size !== entries.length) {
      const missing = entries.findIndex((_, index) => !done.has(index))
      throw new MutationFailure(entries[missing]!.rowKey, 2, 'the service reported no status for this entry')
    }
  }

  /**
   * Applies `onMatch` when `predicate` yields a cell in the row, else `onNoMatch`, atomically on the
   * server. Returns whether the predicate matched.
   */
  async checkAndMutateRow(
    rowKey: Buffer,
    predicate: Filter,
    onMatch: Mutation[],
    onNoMatch: Mutation[],
  ): Promise<boolean> {
    const response = (await this.#call('checkAndMutateRow', {
      rowKey,
      predicateFilter: predicate,
      trueMutations: onMatch,
      falseMutations: onNoMatch,
    })) as { predicateMatched?: boolean }
    return response.predicateMatched === true
  }

  /** A predicate that yields the latest `column` cell when it holds exactly `value`. */
  cellEquals(column: string, value: Buffer): Filter {
    return {
      chain: {
        filters: [
          this.#columnsFilter([column]),
          { cellsPerColumnLimitFilter: 1 },
          { valueRangeFilter: { startValueClosed: value, endValueClosed: value } },
        ],
      },
    }
  }

  /** A predicate that yields the latest `column` cell when there is one. */
  cellExists(column: string): Filter {
    return { chain: { filters: [this.#columnsFilter([column]), { cellsPerColumnLimitFilter: 1 }] } }
  }

  /** Mutations that replace the cell of `column` by `value` (older versions deleted, not just hidden). */
  replaceCell(column: string, value: Uint8Array, timestampMicros: number): Mutation[] {
    const columnQualifier = Buffer.from(column, 'utf8')
    return [
      { deleteFromColumn: { familyName: this.family, columnQualifier } },
      {
        setCell: {
          familyName: this.family,
          columnQualifier,
          timestampMicros,
          value: Buffer.from(value.buffer, value.byteOffset, value.byteLength),
        },
      },
    ]
  }

  #columnsFilter(columns: readonly string[]): Filter {
    const ranges = columns.map((column) => ({
      columnRangeFilter: {
        familyName: this.family,
        startQualifierClosed: Buffer.from(column, 'utf8'),
        endQualifierClosed: Buffer.from(column, 'utf8'),
      },
    }))
    return ranges.length === 1 ? ranges[0]! : { interleave: { filters: ranges } }
  }

  #gaxOptions() {
    return {
      timeout: this.#timeoutMs,
      otherArgs: { headers: { 'bigtable-features': featureFlagsHeader } },
    }
  }

  #call(method: string, reqOpts: object): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#bigtable.request(
        {
          client: 'BigtableClient',
          method,
          reqOpts: { tableName: this.name, appProfileId: this.#bigtable.appProfileId, ...reqOpts },
          gaxOpts: this.#gaxOptions(),
        },
        (error: unknown, response: unknown) => (error ? reject(error) : resolve(response)),
      )
    })
  }

  #stream(method: string, reqOpts: object): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      const responses: unknown[] = []
      this.#bigtable
        .request({
          client: 'BigtableClient',
          method,
          reqOpts: { tableName: this.name, appProfileId: this.#bigtable.appProfileId, ...reqOpts },
          gaxOpts: this.#gaxOptions(),
          // Retries are this package's business (flush is retried by the next commit): none here.
          retryOpts: { currentRetryAttempt: 0, noResponseRetries: 0, shouldRetryFn: () => false },
        })
        .on('error', reject)
        .on('data', (response: unknown) => responses.push(response))
        .on('end', () => resolve(responses))
    })
  }
}

interface CellChunk {
  rowKey?: Uint8Array | null
  familyName?: { value?: string } | null
  qualifier?: { value?: Uint8Array } | null
  value?: Uint8Array | null
  valueSize?: number | null
  resetRow?: boolean | null
  commitRow?: boolean | null
}

interface ReadRowsResponse {
  chunks?: CellChunk[] | null
}

/**
 * Rows from ReadRows responses. A row is a run of chunks ending in commitRow; its key is on the
 * first chunk; a cell starts at a chunk with a qualifier and goes on (valueSize > 0 on all but its
 * last chunk) until its value is complete; resetRow throws away the row in progress.
 */
export function parseRows(responses: readonly ReadRowsResponse[]): ReadRow[] {
  const rows: ReadRow[] = []
  let key: Buffer | undefined
  let cells = new Map<string, Buffer>()
  let qualifier: string | undefined
  let parts: Buffer[] = []
  const endCell = () => {
    if (qualifier !== undefined) cells.set(qualifier, Buffer.concat(parts))
    qualifier = undefined
    parts = []
  }
  for (const response of responses) {
    for (const chunk of response.chunks ?? []) {
      if (chunk.resetRow === true) {
        key = undefined
        cells = new Map()
        qualifier = undefined
        parts = []
        continue
      }
      if (chunk.rowKey !== undefined && chunk.rowKey !== null && chunk.rowKey.length > 0) {
        key = Buffer.from(chunk.rowKey)
      }
      if (chunk.qualifier?.value !== undefined) {
        endCell()
        qualifier = Buffer.from(chunk.qualifier.value).toString('utf8')
      }
      if (chunk.value !== undefined && chunk.value !== null && chunk.value.length > 0) {
        parts.push(Buffer.from(chunk.value))
      }
      if (!((chunk.valueSize ?? 0) > 0)) endCell()
      if (chunk.commitRow === true) {
        endCell()
        if (key !== undefined) rows.push({ key, cells })
        key = undefined
        cells = new Map()
      }
    }
  }
  return rows
}
