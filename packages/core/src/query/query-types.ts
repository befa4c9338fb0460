// Store types from a topology's type, for `app.store(name)` and the typed query client.
import type { KeyValueStore } from '../state/key-value-store.js'
import type { Topology } from '../topology.js'
import type { SessionStore, WindowStore } from '../windows/window-store.js'
import type {
  ReadOnlyKeyValueView,
  ReadOnlySessionView,
  ReadOnlyStoreView,
  ReadOnlyWindowView,
} from './local-stores.js'

/** The store types of a topology by name. */
export type StoresOf<T> = T extends Topology<infer Stores> ? Stores : never

/** The names of a topology's stores. */
export type StoreNameOf<T> = keyof StoresOf<T> & string

/** The read-only view of a store type. */
export type StoreViewOf<S> =
  S extends SessionStore<infer K, infer V>
    ? ReadOnlySessionView<K, V>
    : S extends WindowStore<infer K, infer V>
      ? ReadOnlyWindowView<K, V>
      : S extends KeyValueStore<infer K, infer V>
        ? ReadOnlyKeyValueView<K, V>
        : ReadOnlyStoreView

/** The key type of a store type. */
export type StoreKeyOf<S> =
  S extends WindowStore<infer K, unknown> ? K : S extends KeyValueStore<infer K, unknown> ? K : unknown
