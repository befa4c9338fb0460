// Small ready-made processors for the common stateless steps. Each returns a fresh instance, so
// pass them as suppliers: `addProcessor('upper', { parents: ['in'] }, () => mapValues(toUpper))`.
import type { Processor, ProcessorContext } from './processor.js'
import type { Record } from './record.js'

/** Replaces each value with `mapper(value, record)`; key, timestamp and headers stay. */
export function mapValues<K, VIn, VOut>(
  mapper: (value: VIn, record: Record<K, VIn>) => VOut,
): Processor<K, VIn, K, VOut> {
  let context: ProcessorContext<K, VOut>
  return {
    init: (processorContext) => {
      context = processorContext
    },
    process: (record) => {
      context.forward({
        key: record.key,
        value: mapper(record.value, record),
        timestamp: record.timestamp,
        headers: record.headers,
      })
    },
  }
}

/** Replaces each record with `mapper(record)` (a new key and value). */
export function map<KIn, VIn, KOut, VOut>(
  mapper: (record: Record<KIn, VIn>) => { key: KOut; value: VOut },
): Processor<KIn, VIn, KOut, VOut> {
  let context: ProcessorContext<KOut, VOut>
  return {
    init: (processorContext) => {
      context = processorContext
    },
    process: (record) => {
      const { key, value } = mapper(record)
      context.forward({ key, value, timestamp: record.timestamp, headers: record.headers })
    },
  }
}

/** Forwards only the records for which `predicate` is true. */
export function filter<K, V>(predicate: (record: Record<K, V>) => boolean): Processor<K, V, K, V> {
  let context: ProcessorContext<K, V>
  return {
    init: (processorContext) => {
      context = processorContext
    },
    process: (record) => {
      if (predicate(record)) context.forward(record)
    },
  }
}

/** Forwards zero or more records for each input record. */
export function flatMap<KIn, VIn, KOut, VOut>(
  mapper: (record: Record<KIn, VIn>) => Iterable<{ key: KOut; value: VOut }>,
): Processor<KIn, VIn, KOut, VOut> {
  let context: ProcessorContext<KOut, VOut>
  return {
    init: (processorContext) => {
      context = processorContext
    },
    process: (record) => {
      for (const { key, value } of mapper(record)) {
        context.forward({ key, value, timestamp: record.timestamp, headers: record.headers })
      }
    },
  }
}
