// Avro without a registry: the bytes are the bare Avro binary encoding, and both sides must agree
// on the schema out of band (or name the writer schema explicitly for evolution).
import { ConfigError, type Serde } from '@kstreams/core'
import type { Type } from 'avsc'
import {
  type AvroSchema,
  type AvroTypeOptions,
  messageOf,
  parseAvroSchema,
  readAvro,
  writeAvro,
} from './avro-schema.js'

/** A serde that reads and writes with one schema. */
export interface AvroSerdeOptions {
  /**
   * The schema values are written and read with: JSON text, parsed JSON, or an avsc `Type`.
   * @example { type: 'record', name: 'User', fields: [{ name: 'id', type: 'long' }] }
   */
  schema: AvroSchema
  /**
   * Options for avsc's `Type.forSchema`, such as `logicalTypes` or `wrapUnions`. Ignored for a
   * schema given as a `Type`.
   * @default {}
   */
  typeOptions?: AvroTypeOptions
}

/** A serde for records written with an older (or newer) schema than the one the application reads. */
export interface AvroEvolutionSerdeOptions {
  /** The schema the bytes were written with (and that `serialize` writes with). */
  writerSchema: AvroSchema
  /** The schema values are read as: fields missing from the writer get their defaults. */
  readerSchema: AvroSchema
  /**
   * Options for avsc's `Type.forSchema`, applied to both schemas (each gets its own copy of
   * `registry`, since both usually define the same record names).
   * @default {}
   */
  typeOptions?: AvroTypeOptions
}

/**
 * An Avro serde without a schema registry: records are the bare Avro binary encoding.
 *
 * avsc does not infer TypeScript types from schemas: `T` is what you declare, and nothing checks
 * it against the schema at compile time (values are checked against the schema at run time).
 *
 * - With `schema`, values are written and read with that schema.
 * - With `writerSchema` and `readerSchema` (schema evolution), bytes written with the writer schema
 *   are read as the reader schema through avsc's resolver: new reader fields get their defaults,
 *   fields the reader dropped are skipped. `serialize` writes with the writer schema, so that the
 *   serde reads its own output.
 *
 * Records decode to instances of avsc's generated record classes (plain fields, as with an object
 * literal). `long` values are numbers, exact up to ±(2⁵³−1) (the serde replaces avsc 5.7's long,
 * which loses negative values below −2⁵²); a long beyond that fails to decode rather than losing
 * precision. Unions whose branches JavaScript values can tell apart (null, one string-like, one
 * number, one record or map…) are plain values; others, such as a union of two records, are
 * `{ 'full.BranchName': value }` objects (avsc's default `wrapUnions: 'auto'`).
 *
 * Avro binary carries no markers: bytes written with another schema, or garbage, may decode into
 * wrong values without an error. Truncated input and trailing bytes are always refused.
 *
 * @throws ConfigError when a schema is invalid, when neither or both option forms are given, or when
 *   the reader schema cannot read what the writer schema wrote
 *
 * @example
 * interface User {
 *   id: number
 *   name: string
 * }
 * const users = avroSerde<User>({
 *   schema: {
 *     type: 'record',
 *     name: 'User',
 *     fields: [
 *       { name: 'id', type: 'long' },
 *       { name: 'name', type: 'string' },
 *     ],
 *   },
 * })
 */
export function avroSerde<T>(options: AvroSerdeOptions | AvroEvolutionSerdeOptions): Serde<T> {
  const typeOptions = options.typeOptions ?? {}
  const hasSchema = 'schema' in options && options.schema !== undefined
  const hasPair = 'writerSchema' in options || 'readerSchema' in options
  if (hasSchema === hasPair) {
    throw new ConfigError('give either schema, or writerSchema and readerSchema', {
      context: { option: 'schema' },
    })
  }
  if (hasSchema) {
    const { type } = parseAvroSchema((options as AvroSerdeOptions).schema, typeOptions, 'schema')
    return serdeFor<T>(type, type, undefined)
  }
  const { writerSchema, readerSchema } = options as AvroEvolutionSerdeOptions
  if (writerSchema === undefined || readerSchema === undefined) {
    throw new ConfigError('schema evolution needs both writerSchema and readerSchema', {
      context: { option: writerSchema === undefined ? 'writerSchema' : 'readerSchema' },
    })
  }
  const writer = parseAvroSchema(writerSchema, typeOptions, 'writerSchema').type
  const reader = parseAvroSchema(readerSchema, typeOptions, 'readerSchema').type
  let resolver: ReturnType<Type['createResolver']>
  try {
    resolver = reader.createResolver(writer)
  } catch (cause) {
    throw new ConfigError(`readerSchema cannot read what writerSchema writes: ${messageOf(cause)}`, {
      cause,
      context: { option: 'readerSchema' },
    })
  }
  return serdeFor<T>(writer, reader, resolver)
}

function serdeFor<T>(
  writer: Type,
  reader: Type,
  resolver: ReturnType<Type['createResolver']> | undefined,
): Serde<T> {
  return {
    serialize: (value, context) => writeAvro(writer, value, context),
    deserialize: (bytes, context) => readAvro(reader, bytes, resolver, context) as T,
  }
}
