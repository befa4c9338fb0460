// Object-storage state stores on Google Cloud Storage: the engine of @kstreams/store-object over a GcsStorage.
import { ConfigError, type StoreBackendFactory } from '@kstreams/core'
import { createObjectStoreBackend, type ObjectStoreOptions } from '@kstreams/store-object'
import { GcsStorage, type GcsStorageOptions } from './gcs-storage.js'

export interface GcsBackendOptions extends ObjectStoreOptions, GcsStorageOptions {}

/**
 * Backends whose state lives in a GCS bucket (a local LMDB working copy serves reads). One client
 * is shared by every store the factory opens.
 *
 * @example
 * stores.keyValue('counts', {
 *   keySerde: serdes.string(),
 *   valueSerde: serdes.int64(),
 *   backend: createGcsBackend({ bucket: 'my-app-state' }),
 * })
 */
export function createGcsBackend(options: GcsBackendOptions): StoreBackendFactory {
  const { bucket, storage, storageOptions, ...engine } = options
  if (typeof bucket !== 'string' || bucket === '') {
    throw new ConfigError(`createGcsBackend: option bucket must be a bucket name, got ${String(bucket)}`, {
      context: { option: 'bucket' },
    })
  }
  const gcs = new GcsStorage({
    bucket,
    ...(storage === undefined ? {} : { storage }),
    ...(storageOptions === undefined ? {} : { storageOptions }),
  })
  return createObjectStoreBackend('gcs', gcs, engine)
}
