// Options of createBigtableBackend, their defaults, and the checks that turn a bad option into a
// ConfigError naming it.
import type { Bigtable, BigtableOptions } from '@google-cloud/bigtable'
import { ConfigError } from '@kstreams/core'

export interface BigtableBackendOptions {
  /** Google Cloud project of the instance. With the emulator, any name. */
  projectId: string
  /** Bigtable instance id. With the emulator, any name. */
  instanceId: string
  /** Table that holds the rows of every store using this factory (one table may serve many apps). */
  tableId: string
  /**
   * Column family the cells are written in.
   * @default 'kstreams'
   */
  columnFamily?: string
  /**
   * Create the table (and the column family, with a garbage-collection rule keeping one version)
   * when the first store opens and they do not exist. Needs the admin permission
   * `bigtable.tables.create` (`bigtable.tables.update` for a missing family). Without it, a missing
   * table or family fails the open with a StoreError naming them.
   * @default false
   */
  createTable?: boolean
  /**
   * Options of the `Bigtable` client the factory creates (credentials, `apiEndpoint`, `appProfileId`,
   * …). `projectId` is taken from above. With `BIGTABLE_EMULATOR_HOST` set, client-side metrics are
   * off unless `metricsEnabled` says otherwise (the emulator has no Cloud Monitoring).
   * @default Google's default credential chain, the production endpoint or BIGTABLE_EMULATOR_HOST
   */
  clientOptions?: Omit<BigtableOptions, 'projectId'>
  /**
   * A client of your own instead, e.g. shared with the rest of the application. The backends use it
   * and never close it; `clientOptions` is then ignored.
   * @default a client per factory, closed when its last backend closes
   */
  client?: Bigtable
  /**
   * Bytes of buffered writes (keys, values, tombstones) a store of a task holds before `write`
   * writes its data rows to Bigtable ahead of the next commit, so memory stays bounded.
   * @default 16777216 (16 MiB)
   */
  maxBufferedBytes?: number
  /**
   * How long an open, a read, or a `write` over `maxBufferedBytes` waits for an unreachable
   * Bigtable (trying again with backoff) before it fails with a retriable StoreError. Below the
   * app's `processingTimeoutMs`, so that a record waiting for Bigtable fails with this error. A
   * flush never waits: it fails at once, and the runtime flushes again at the next commit.
   * @default 30000
   */
  holdTimeoutMs?: number
  /**
   * Deadline of each Bigtable request.
   * @default 30000
   */
  requestTimeoutMs?: number
  /**
   * Rows read per ReadRows request of a scan.
   * @default 1000
   */
  scanPageSize?: number
}

export interface ResolvedBigtableBackendOptions {
  projectId: string
  instanceId: string
  tableId: string
  columnFamily: string
  createTable: boolean
  clientOptions: Omit<BigtableOptions, 'projectId'>
  client: Bigtable | undefined
  maxBufferedBytes: number
  holdTimeoutMs: number
  requestTimeoutMs: number
  scanPageSize: number
}

const known = new Set([
  'projectId',
  'instanceId',
  'tableId',
  'columnFamily',
  'createTable',
  'clientOptions',
  'client',
  'maxBufferedBytes',
  'holdTimeoutMs',
  'requestTimeoutMs',
  'scanPageSize',
])

/** Column family names Bigtable accepts. */
const familyPattern = /^[-_.a-zA-Z0-9]+$/
/** Table ids Bigtable accepts. */
const tablePattern = /^[-_.a-zA-Z0-9]+$/

export function resolveOptions(options: BigtableBackendOptions): ResolvedBigtableBackendOptions {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError(
      'createBigtableBackend() needs an options object with projectId, instanceId and tableId',
    )
  }
  for (const name of Object.keys(options)) {
    if (!known.has(name)) {
      throw new ConfigError(
        `createBigtableBackend(): unknown option "${name}" (known: ${[...known].join(', ')})`,
        { context: { option: name } },
      )
    }
  }
  const text = (name: 'projectId' | 'instanceId' | 'tableId'): string => {
    const value = options[name]
    if (typeof value !== 'string' || value.length === 0) {
      throw new ConfigError(`createBigtableBackend(): option "${name}" must be a non-empty string`, {
        context: { option: name },
      })
    }
    return value
  }
  const tableId = text('tableId')
  if (!tablePattern.test(tableId)) {
    throw new ConfigError(
      `createBigtableBackend(): option "tableId" is "${tableId}"; a Bigtable table id has only letters, digits, '-', '_' and '.'`,
      { context: { option: 'tableId' } },
    )
  }
  const columnFamily = options.columnFamily ?? 'kstreams'
  if (typeof columnFamily !== 'string' || !familyPattern.test(columnFamily)) {
    throw new ConfigError(
      `createBigtableBackend(): option "columnFamily" is "${String(columnFamily)}"; a column family name has only letters, digits, '-', '_' and '.'`,
      { context: { option: 'columnFamily' } },
    )
  }
  if (options.createTable !== undefined && typeof options.createTable !== 'boolean') {
    throw new ConfigError('createBigtableBackend(): option "createTable" must be a boolean', {
      context: { option: 'createTable' },
    })
  }
  const positive = (
    name: 'maxBufferedBytes' | 'holdTimeoutMs' | 'requestTimeoutMs' | 'scanPageSize',
    fallback: number,
  ): number => {
    const value = options[name] ?? fallback
    if (!Number.isInteger(value) || value <= 0) {
      throw new ConfigError(
        `createBigtableBackend(): option "${name}" must be a positive integer, got ${String(value)}`,
        { context: { option: name } },
      )
    }
    return value
  }
  const clientOptions = { ...(options.clientOptions ?? {}) }
  if (process.env.BIGTABLE_EMULATOR_HOST && clientOptions.metricsEnabled === undefined) {
    clientOptions.metricsEnabled = false
  }
  return {
    projectId: text('projectId'),
    instanceId: text('instanceId'),
    tableId,
    columnFamily,
    createTable: options.createTable ?? false,
    clientOptions,
    client: options.client,
    maxBufferedBytes: positive('maxBufferedBytes', 16 * 1024 * 1024),
    holdTimeoutMs: positive('holdTimeoutMs', 30_000),
    requestTimeoutMs: positive('requestTimeoutMs', 30_000),
    scanPageSize: positive('scanPageSize', 1000),
  }
}
