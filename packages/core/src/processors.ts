// Small ready-made processors for the common stateless steps. Each returns a fresh instance, so
// pass them as suppliers: `addProcessor('upper', { parents: ['in'] }, () => mapValues(toUpper))`.
// Each function may be asynchronous (return a Promise): the record is done when it settled, and
// the processor's `concurrency` option (`key`, `unordered`) lets such calls overlap, e.g.
// `addProcessor('enrich', { parents: ['in'], concurrency: 'key' }, () => mapValues(lookup))`.
import type { Processor, ProcessorContext } from './processor.js'
import type { Record } from './record.js'
import { currentScope, runInScope, synchronousScoped } from './runtime/record-scope.js'

type MaybePromise<T> = T | Promise<T>

function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | undefined)?.then === 'function'
}

/**
 * Calls `then` with the value, at once or when the Promise settles (no microtask for a plain
 * value). These processors run without an async context frame (`synchronousScope`), so a
 * continuation takes its record's scope along itself.
 */
function whenReady<T>(value: MaybePromise<T>, then: (resolved: T) => void): void | Promise<void> {
  if (isPromise(value)) {
    const scope = currentScope()
    return value.then((resolved) => (scope ? runInScope(scope, then, resolved) : then(resolved)))
  }
  then(value)
}

/** Replaces each value with `mapper(value, record)`; key, timestamp and headers stay. */
export function mapValues<K, VIn, VOut>(
  mapper: (value: VIn, record: Record<K, VIn>) => MaybePromise<VOut>,
): Processor<K, VIn, K, VOut> {
  let context: ProcessorContext<K, VOut>
  return synchronousScoped({
    init: (processorContext) => {
      context = processorContext
    },
    process: (record) =>
      whenReady(mapper(record.value, record), (value) => {
        context.forward({ key: record.key, value, timestamp: record.timestamp, headers: record.headers })
      }),
  })
}

/** Replaces each record with `mapper(record)` (a new key and value). */
export function map<KIn, VIn, KOut, VOut>(
  mapper: (record: Record<KIn, VIn>) => MaybePromise<{ key: KOut; value: VOut }>,
): Processor<KIn, VIn, KOut, VOut> {
  let context: ProcessorContext<KOut, VOut>
  return synchronousScoped({
    init: (processorContext) => {
      context = processorContext
    },
    process: (record) =>
      whenReady(mapper(record), ({ key, value }) => {
        context.forward({ key, value, timestamp: record.timestamp, headers: record.headers })
      }),
  })
}

/** Forwards only the records for which `predicate` is true. */
export function filter<K, V>(
  predicate: (record: Record<K, V>) => MaybePromise<boolean>,
): Processor<K, V, K, V> {
  let context: ProcessorContext<K, V>
  return synchronousScoped({
    init: (processorContext) => {
      context = processorContext
    },
    process: (record) =>
      whenReady(predicate(record), (keep) => {
        if (keep) context.forward(record)
      }),
  })
}

/** Forwards zero or more records for each input record. */
export function flatMap<KIn, VIn, KOut, VOut>(
  mapper: (record: Record<KIn, VIn>) => MaybePromise<Iterable<{ key: KOut; value: VOut }>>,
): Processor<KIn, VIn, KOut, VOut> {
  let context: ProcessorContext<KOut, VOut>
  return synchronousScoped({
    init: (processorContext) => {
      context = processorContext
    },
    process: (record) =>
      whenReady(mapper(record), (records) => {
        for (const { key, value } of records) {
          context.forward({ key, value, timestamp: record.timestamp, headers: record.headers })
        }
      }),
  })
}
