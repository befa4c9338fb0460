// Core publishes what happens on node:diagnostics_channel channels named `kstreams:*`. Plugins
// (metrics, tracing) subscribe; core imports no metrics library. Publishing costs nothing when
// nobody subscribes, which the hot path checks with `hasSubscribers` before building a message.
import { channel } from 'node:diagnostics_channel'

/**
 * Message shapes, one per channel. Fields are stable: plugins build metrics from them.
 */
export const channels = {
  /** { taskId, count } after a task processed a batch of records (one pass of the processing loop). */
  recordsProcessed: channel('kstreams:records:processed'),
  /** { topic, count } after records were acknowledged by the broker. */
  recordsProduced: channel('kstreams:records:produced'),
  /** { durationMs, partitions } after each commit. */
  commit: channel('kstreams:commit'),
  /**
   * `{ phase: 'start', brokers, error }` when no broker has answered for a while (the app is
   * `degraded`), `{ phase: 'end', brokers, durationMs }` when they answer again.
   */
  brokerOutage: channel('kstreams:broker:outage'),
  /** { kind: 'assigned' | 'revoked' | 'lost', partitions } on membership changes. */
  rebalance: channel('kstreams:rebalance'),
  /** { from, to } when the application changes state. */
  stateChange: channel('kstreams:state'),
  /** { stage, policy, error, taskId, topic, partition, offset } when a record error was handled. */
  recordError: channel('kstreams:record:error'),
  /** { topic, partition, lag } consumer lag after a fetch. */
  lag: channel('kstreams:lag'),
  /**
   * Restore of a store from its changelog:
   * `{ phase: 'start', taskId, store, topic, partition, startOffset, endOffset }`,
   * `{ phase: 'batch', taskId, store, records, skipped, offset }`,
   * `{ phase: 'end', taskId, store, records, skipped, durationMs, error? }` (`error` when it failed).
   * `records` and `skipped` are running totals of the store's restore; `skipped` counts the entries
   * caused by uncommitted input that were not applied (their key kept an older entry or a newer one).
   */
  restore: channel('kstreams:restore'),
  /**
   * `{ taskId, processor, durationMs }` after a processor handled one record (for an asynchronous
   * processor, when its Promise settled).
   */
  processed: channel('kstreams:processor:processed'),
  /** `{ taskId, processor, delta }`: +1 when an asynchronous process() starts, -1 when it settles. */
  inFlight: channel('kstreams:processor:in-flight'),
  /** `{ taskId, sink, topic, latencyMs }` for each record a sink sends: now minus the record timestamp. */
  sinkRecord: channel('kstreams:sink:record'),
  /**
   * `{ taskId, store, gets, puts, deletes, scans }`: operations of one store since its previous
   * flush, published at each flush.
   */
  storeOperations: channel('kstreams:store:operations'),
  /**
   * `{ taskId, store, topic, partition, offset, action }` for a record too late for all its windows
   * (`action`: `dropped` or `forwarded`); `store` is the aggregation's window store.
   */
  lateRecord: channel('kstreams:window:late'),
  /**
   * `{ brokers, leader, topic?, partition?, error, attempts, streakMs }` for each failed fetch
   * attempt, including the metadata lookups that find the leaders: `brokers` names where it
   * fetched from ("host:port", the bootstrap list for metadata), `leader` the node id (undefined for
   * metadata), `topic`/`partition` when the broker answered with an error for that partition,
   * `attempts` the failures so far in this streak and `streakMs` how long the streak has lasted.
   */
  fetchError: channel('kstreams:fetch-error'),
  /**
   * `{ taskId, processor, topic, partition, offset, key, attempt, delayMs, error }` when a processor
   * with a `retry` option failed on a record and the record waits `delayMs` before attempt
   * `attempt + 1` (`key`: the input record's key bytes, or null).
   */
  retry: channel('kstreams:processor:retry'),
  /**
   * `{ taskId, topic, partition, offset, newerOffset }` for each record conflation skipped (marked
   * done unprocessed) because a newer record of its key came first.
   */
  superseded: channel('kstreams:record:superseded'),
  /**
   * A `PartitionProgress` for every input partition of every task, once per `commitIntervalMs`:
   * records in flight, running, retrying and waiting, the completed-offset map's size, whether
   * the map holds the partition back, and the head-of-line record (offset, key, state, attempt,
   * age), so that a partition that does not move says why. `app.progress()` returns the same.
   */
  partitionProgress: channel('kstreams:partition:progress'),
} as const
