// Object-storage state stores on S3: the engine of @kstreams/store-object over an S3Storage.
import { ConfigError, type StoreBackendFactory } from '@kstreams/core'
import { createObjectStoreBackend, type ObjectStoreOptions } from '@kstreams/store-object'
import { S3Storage, type S3StorageOptions } from './s3-storage.js'

export interface S3BackendOptions extends ObjectStoreOptions, S3StorageOptions {}

/**
 * Backends whose state lives in an S3 bucket (a local LMDB working copy serves reads). One S3
 * client is shared by every store the factory opens.
 *
 * @example
 * stores.keyValue('counts', {
 *   keySerde: serdes.string(),
 *   valueSerde: serdes.int64(),
 *   backend: createS3Backend({ bucket: 'my-app-state', clientConfig: { region: 'eu-west-1' } }),
 * })
 */
export function createS3Backend(options: S3BackendOptions): StoreBackendFactory {
  const { bucket, client, clientConfig, ...engine } = options
  if (typeof bucket !== 'string' || bucket === '') {
    throw new ConfigError(`createS3Backend: option bucket must be a bucket name, got ${String(bucket)}`, {
      context: { option: 'bucket' },
    })
  }
  const storage = new S3Storage({
    bucket,
    ...(client === undefined ? {} : { client }),
    ...(clientConfig === undefined ? {} : { clientConfig }),
  })
  return createObjectStoreBackend('s3', storage, engine)
}
