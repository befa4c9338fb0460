export type {
  BatchEntry,
  BatchOptions,
  BatchProcessor,
  BatchProcessorSupplier,
  BatchResult,
} from './batch-processor.js'
export type {
  ChangelogCommitPoint,
  CommitPoint,
  InputCommitPoint,
  OwnershipToken,
} from './commit-point.js'
export { channels } from './diagnostics.js'
export { BranchedKStream } from './dsl/branched-kstream.js'
export type { Change } from './dsl/changes.js'
export { GlobalKTable, type Joined, type StreamJoined, type TableJoined } from './dsl/joins/dsl-joins.js'
export {
  addForeignKeyJoin,
  type ForeignKeyJoin,
  type ForeignKeyJoinOptions,
  type ForeignKeyJoinTable,
} from './dsl/joins/foreign-key-join.js'
export { type JoinWindows, type JoinWindowsOptions, joinWindows } from './dsl/joins/join-windows.js'
export {
  type StreamStreamJoin,
  type StreamStreamJoinOptions,
  type StreamStreamJoinParts,
  streamStreamJoin,
} from './dsl/joins/stream-stream-join.js'
export {
  type StreamGlobalTableJoinOptions,
  type StreamTableJoin,
  type StreamTableJoinOptions,
  streamGlobalTableJoin,
  streamTableJoin,
} from './dsl/joins/stream-table-join.js'
export {
  type TableTableJoin,
  type TableTableJoinOptions,
  type TableTableJoinParts,
  tableTableJoin,
} from './dsl/joins/table-table-join.js'
export { KGroupedStream } from './dsl/kgrouped-stream.js'
export { KGroupedTable } from './dsl/kgrouped-table.js'
export { KStream } from './dsl/kstream.js'
export { KTable } from './dsl/ktable.js'
export type {
  Consumed,
  Grouped,
  Materialized,
  Named,
  OperatorOptions,
  ProcessOptions,
  Produced,
  Repartitioned,
} from './dsl/options.js'
export { StreamsBuilder, type StreamsBuilderOptions } from './dsl/streams-builder.js'
export { SessionWindowedKStream, TimeWindowedKStream } from './dsl/windowed-kstream.js'
export {
  ConfigError,
  type ErrorCode,
  ErrorCodes,
  type ErrorContext,
  FencedError,
  IllegalStateError,
  isFencedError,
  KafkaError,
  KStreamsError,
  type KStreamsErrorOptions,
  ProcessingError,
  ProductionError,
  QueryError,
  RetryExhaustedError,
  SerdeError,
  StoreError,
  TimeoutError,
  TopologyError,
} from './errors.js'
export type {
  InternalTopic,
  InternalTopicOptions,
  InternalTopicPartitions,
} from './internal-topics.js'
export type {
  ConnectionSecurity,
  Pem,
  SaslOAuthBearerOptions,
  SaslOptions,
  SaslPasswordOptions,
  SecretProvider,
  TlsOptions,
} from './kafka/connection-security.js'
export type {
  AdminPort,
  BrokerConnectivity,
  BrokerOutage,
  CommitRequest,
  FetchedBatch,
  FetchedRecord,
  GroupConsumer,
  GroupConsumerOptions,
  GroupListener,
  KafkaPort,
  OffsetAndMetadata,
  PartitionReader,
  ProducedOffset,
  ProduceRecord,
  ProducerOptions,
  ProducerPort,
  TopicDescription,
  TopicPartition,
} from './kafka/kafka-port.js'
export { defaultPartition, murmur2 } from './kafka/partitioner.js'
export {
  createPlatformaticKafkaPort,
  type PlatformaticKafkaPortOptions,
} from './kafka/platformatic-kafka-port.js'
export { consoleLogger, type Logger, silentLogger } from './logger.js'
export type {
  Cancellable,
  Processor,
  ProcessorContext,
  ProcessorSupplier,
  PunctuationType,
  Punctuator,
} from './processor.js'
export { filter, flatMap, map, mapValues } from './processors.js'
export type { AdvertisedTask, InstanceMetadata } from './query/instance-registry.js'
export type {
  OrderedEntry,
  ReadOnlyKeyValueView,
  ReadOnlySessionView,
  ReadOnlyStoreView,
  ReadOnlyWindowView,
  ReadOptions,
} from './query/local-stores.js'
export {
  type ClusterMetadata,
  createQueryClient,
  type KeyValueStoreClient,
  type QueryClient,
  type QueryClientOptions,
  type SessionStoreClient,
  type StoreClientOf,
  type WindowStoreClient,
} from './query/query-client.js'
export type { QueryRequestInfo, QueryServer, ServeQueriesOptions } from './query/query-server.js'
export type { AdvertiseOptions, KeyMetadata } from './query/query-service.js'
export type { StoreKeyOf, StoreNameOf, StoresOf, StoreViewOf } from './query/query-types.js'
export { fromWire, stringifyWire, toWire } from './query/wire-json.js'
export { type Headers, headerValue, type Record, type RecordMetadata } from './record.js'
export { type ResolvedConfig, resolveConfig, type StreamsConfig } from './runtime/config.js'
export {
  DeadLetterHeaders,
  type ErrorPolicies,
  type ProductionErrorPolicy,
  type RecordErrorPolicy,
} from './runtime/error-policy.js'
export type { PartitionProgress } from './runtime/input-scheduler.js'
export { type AppState, createApp, KStreamsApp, type KStreamsAppEvents } from './runtime/kstreams-app.js'
export type { RestoreProgress } from './runtime/state-restorer.js'
export type { Serde, SerdeContext, SerdeType } from './serde.js'
export { bytes, float64, int32, int64, json, serdes, string, voidSerde } from './serdes.js'
export {
  type KeyValue,
  type KeyValueStore,
  type KeyValueStoreOptions,
  keyValueStore,
  type ScanOptions,
  type StoreChange,
} from './state/key-value-store.js'
export { createMemoryBackend, MemoryBackend } from './state/memory-backend.js'
export type { CacheEntry, InputPosition, RecordCache } from './state/record-cache.js'
export {
  type Awaitable,
  type BackendCapabilities,
  type BackendContext,
  type BackendEntry,
  type BackendRangeOptions,
  type BackendWrite,
  compareBytes,
  prefixUpperBound,
  type StoreBackend,
  type StoreBackendFactory,
} from './state/store-backend.js'
export { stores } from './state/stores.js'
export type {
  ChangelogWriter,
  StateStore,
  StateStoreContext,
  StoreBuilder,
  StoreLogging,
  StoreQueryInfo,
} from './state-store.js'
export {
  type ConcurrencyMode,
  type ConflateOptions,
  type GlobalStoreNode,
  type GlobalStoreOptions,
  type OrderingKey,
  type ProcessorOptions,
  type RetryOptions,
  type SinkOptions,
  type SourceOptions,
  type StoreTypes,
  type Subtopology,
  type SubtopologyConcurrency,
  type TimestampExtractor,
  Topology,
  TopologyBuilder,
  UNORDERED,
} from './topology.js'
export type { TopologyDescription } from './topology-description.js'
export {
  type CalendarUnit,
  type CalendarWindowOptions,
  calendarWindows,
  type Weekday,
} from './windows/calendar-windows.js'
export {
  type SlidingAggregateOptions,
  type SlidingWindows,
  slidingAggregate,
  slidingWindows,
} from './windows/sliding-windows.js'
export {
  type SessionStore,
  sessionStore,
  type WindowedEntry,
  type WindowStore,
  type WindowStoreOptions,
  windowStore,
} from './windows/window-store.js'
export {
  type EmitMode,
  type SessionAggregateOptions,
  type SessionWindows,
  sessionAggregate,
  sessionCount,
  sessionWindows,
  type WindowedAggregateOptions,
  type WindowedKey,
  windowedAggregate,
  windowedCount,
  windowedKeySerde,
  windowedReduce,
} from './windows/windowed-aggregate.js'
export { hoppingWindows, type TimeWindows, tumblingWindows, type Window } from './windows/windows.js'
