import type { ProduceRecord } from '../kafka/kafka-port.js'
import type { Record } from '../record.js'

/** Computes a partition once the topic's partition count is known. */
export type Partitioner = (record: Record<unknown, unknown>, partitions: number) => number

/**
 * Where sinks hand their serialized records. The runtime's collector batches them to Kafka and
 * tracks acknowledgements; the test driver's keeps them in memory.
 */
export interface RecordCollector {
  /** `owner`: the id of the task the record belongs to, so the records of a lost task can be dropped. */
  send(
    record: ProduceRecord,
    partitioner?: Partitioner,
    source?: Record<unknown, unknown>,
    owner?: string,
  ): void
}
