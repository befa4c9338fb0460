export {
  decodeManifest,
  type Manifest,
  type ManifestChangelog,
  ManifestFormatError,
  type ManifestInput,
  type ManifestObject,
  manifestFormatVersion,
  manifestName,
  planDeletion,
  type SupersededObject,
  shouldCompact,
} from './manifest.js'
export {
  decodeObject,
  encodeObject,
  ObjectFormatError,
  type ObjectKind,
  type ObjectRecord,
  objectFormatVersion,
} from './object-format.js'
export {
  type ByteRange,
  type ListedObject,
  type ObjectStorage,
  PreconditionFailedError,
  type PutCondition,
  type StoredObject,
} from './object-storage.js'
export {
  createObjectStoreBackend,
  ObjectStoreBackend,
  type ObjectStoreOptions,
  objectStoreChannel,
  resolveObjectStoreOptions,
  storeRoot,
} from './object-store-backend.js'
