// The messages core publishes on its `kstreams:*` diagnostics channels, as this package reads them.
// Core types its channels as Channel<unknown, unknown> and exports no message types, so the shapes
// are restated here from packages/core/src/diagnostics.ts; only the fields the metrics use are listed.

/** Channel names, the public contract with core. Subscribing by name works before core is loaded. */
export const channelNames = {
  recordsProcessed: 'kstreams:records:processed',
  recordsProduced: 'kstreams:records:produced',
  commit: 'kstreams:commit',
  rebalance: 'kstreams:rebalance',
  stateChange: 'kstreams:state',
  recordError: 'kstreams:record:error',
  lag: 'kstreams:lag',
  restore: 'kstreams:restore',
  processed: 'kstreams:processor:processed',
  inFlight: 'kstreams:processor:in-flight',
  sinkRecord: 'kstreams:sink:record',
  storeOperations: 'kstreams:store:operations',
  lateRecord: 'kstreams:window:late',
  partitionProgress: 'kstreams:partition:progress',
  retry: 'kstreams:processor:retry',
  superseded: 'kstreams:record:superseded',
} as const

export interface RecordsProcessedMessage {
  taskId: string
  count: number
}

export interface RecordsProducedMessage {
  topic: string
  count: number
}

export interface CommitMessage {
  durationMs: number
  partitions: number
}

export interface RebalanceMessage {
  kind: 'assigned' | 'revoked' | 'lost'
  partitions: ReadonlyArray<{ topic: string; partition: number }>
}

export interface StateChangeMessage {
  from: string
  to: string
}

export interface RecordErrorMessage {
  stage: 'deserialization' | 'processing'
  policy: 'fail' | 'continue' | 'dead-letter'
  taskId: string
}

export interface LagMessage {
  topic: string
  partition: number
  lag: bigint
}

/**
 * `records` and `skipped` of the batch and end phases are running totals of the restore, not
 * the size of the batch (see StateRestorer in core).
 */
export type RestoreMessage =
  | { phase: 'start'; taskId: string; store: string }
  | { phase: 'batch'; taskId: string; store: string; records: number; skipped: number }
  | { phase: 'end'; taskId: string; store: string; records: number; skipped: number; durationMs: number }

export interface ProcessedMessage {
  taskId: string
  processor: string
  durationMs: number
}

export interface InFlightMessage {
  taskId: string
  processor: string
  delta: number
}

export interface SinkRecordMessage {
  taskId: string
  sink: string
  topic: string
  latencyMs: number
}

export interface StoreOperationsMessage {
  taskId: string
  store: string
  gets: number
  puts: number
  deletes: number
  scans: number
}

/** `action`: `dropped`, or `forwarded` to the aggregation's late child. */
export interface LateRecordMessage {
  taskId: string
  /** The window store of the aggregation. */
  store: string
  action: string
}

/** Where one input partition stands, once per commit interval (PartitionProgress in core). */
export interface PartitionProgressMessage {
  taskId: string
  topic: string
  partition: number
  inFlight: number
  running: number
  retrying: number
  waiting: number
  buffered: number
  completed: number
  mapCharacters: number
  heldBack: boolean
  headOfLine: { offset: bigint; state: string; attempt: number; ageMs: number | undefined } | undefined
}

export interface RetryMessage {
  taskId: string
  processor: string
  attempt: number
  delayMs: number
}

export interface SupersededMessage {
  taskId: string
  topic: string
  partition: number
}
