export {
  type BasicAuth,
  type BearerAuth,
  createSchemaRegistryClient,
  type RegisteredSchema,
  RegistryErrorCodes,
  type SchemaDefinition,
  type SchemaReference,
  type SchemaRegistryClient,
  type SchemaRegistryClientOptions,
  SchemaRegistryError,
  type SchemaType,
  type SubjectVersion,
} from './client.js'
export {
  type PreloadOptions,
  type RegistrySerde,
  type RegistrySerdeOptions,
  resolveSubject,
  resolveWriterSchemaId,
  type SubjectOptions,
  WriterSchemaCache,
} from './serde-support.js'
export { topicNameSubject } from './subjects.js'
export {
  decodeMessageIndexes,
  decodeWireFormat,
  encodeMessageIndexes,
  encodeWireFormat,
  type MessageIndexesRead,
  magicByte,
  maxSchemaId,
  type WireFormat,
  wireFormatHeaderBytes,
} from './wire-format.js'
