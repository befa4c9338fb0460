// The stores the DSL creates for tables and aggregations, named after the user's `Materialized.as`
// (or, with a build-time warning, after the node that uses them).
import type { Serde } from '../serde.js'
import { keyValueStore } from '../state/key-value-store.js'
import { windowStore } from '../windows/window-store.js'
import type { DslGraph } from './graph.js'
import type { Materialized } from './options.js'

const DAY_MS = 86_400_000

/** Adds the key-value store of `materialized` (or `<node>-STATE-STORE`) and returns its name. */
export function materializedStore<K, V>(
  graph: DslGraph,
  materialized: Materialized<K, V>,
  node: string,
  keySerde: Serde<K>,
  valueSerde: Serde<V>,
  sourceChangelog?: string,
): string {
  const name = graph.internalName('store', materialized.as, () => `${node}-STATE-STORE`)
  graph.addStore(
    keyValueStore(name, {
      keySerde,
      valueSerde,
      ...(materialized.backend ? { backend: materialized.backend } : {}),
      cache: materialized.cache ?? true,
      ...(sourceChangelog === undefined ? { logging: materialized.logging ?? true } : { sourceChangelog }),
    }),
  )
  return name
}

/** Adds a window store named `name` for an aggregation whose windows accept records `graceMs` late. */
export function windowedStore<K, V>(
  graph: DslGraph,
  name: string,
  materialized: Materialized<K, V>,
  keySerde: Serde<K>,
  valueSerde: Serde<V>,
  graceMs: number,
): string {
  graph.addStore(
    windowStore(name, {
      keySerde,
      valueSerde,
      retentionMs: materialized.retentionMs ?? Math.max(DAY_MS, graceMs),
      ...(materialized.backend ? { backend: materialized.backend } : {}),
      cache: materialized.cache ?? true,
      logging: materialized.logging ?? true,
    }),
  )
  return name
}
