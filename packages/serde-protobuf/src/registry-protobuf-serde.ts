// Protobuf in the Confluent wire format: magic byte, schema id, message indexes, message. As for
// Avro, the async factory does all the registry work and serialize/deserialize never wait for the
// network: a record written with a schema id the serde has not loaded fails with a SerdeError
// naming the id. A record whose indexes point to another message type than the serde's fails too,
// instead of being decoded as the wrong type.
import { readFileSync } from 'node:fs'
import { ConfigError, type SerdeContext, SerdeError } from '@kstreams/core'
import {
  decodeMessageIndexes,
  decodeWireFormat,
  encodeMessageIndexes,
  encodeWireFormat,
  type PreloadOptions,
  type RegisteredSchema,
  type RegistrySerde,
  type RegistrySerdeOptions,
  resolveSubject,
  resolveWriterSchemaId,
  type SchemaReference,
  WriterSchemaCache,
} from '@kstreams/schema-registry'
import type { Type } from 'protobufjs'
import { messagePath, type ProtoFile, parseProtoFile, type TypeAtResult, typeAt } from './message-indexes.js'
import {
  type ConversionOptions,
  checkType,
  decodeMessage,
  defaultConversionOptions,
  encodeMessage,
  messageOf,
  name,
} from './protobuf-serde.js'

export interface RegistryProtobufSerdeOptions extends RegistrySerdeOptions {
  /** The message type values are written and read as. */
  type: Type
  /**
   * The .proto source of the file that declares `type`, as registered. It is what gets registered
   * (or looked up), and the message indexes are computed from it.
   * @default the text of the file `type` was loaded from (`type.filename`), if any
   */
  schema?: string
  /**
   * References for the imports of `schema`, already registered under their own subjects. Imports
   * are not registered for you.
   * @default []
   * @example [{ name: 'shop/money.proto', subject: 'shop/money.proto', version: 1 }]
   */
  references?: SchemaReference[]
  /**
   * The message indexes of `type` in `schema`, when they cannot be computed: for a message nested
   * in a message that has map fields (protoc counts a hidden nested message per map field, in an
   * order protobufjs does not keep).
   * @default computed from schema
   * @example [0, 2]
   */
  messageIndexes?: number[]
  /**
   * protobufjs `toObject` options for decoded messages, merged over the serde's defaults.
   * @default defaultConversionOptions
   */
  toObject?: ConversionOptions
}

/** A registry-aware Protobuf serde; see {@link createRegistryProtobufSerde}. */
export type RegistryProtobufSerde<T> = RegistrySerde<T>

// What a writer schema says about message indexes: the message type each path names.
interface WriterFile {
  typeAt(indexes: readonly number[]): TypeAtResult
}

/**
 * Creates a Protobuf serde that writes and reads the Confluent Schema Registry wire format (magic
 * byte 0x00, 4-byte schema id, message indexes, Protobuf message), compatible with Confluent's
 * KafkaProtobufSerializer.
 *
 * Before it resolves, the factory resolves the subject (`subject`, or `<topic>-key` /
 * `<topic>-value`); registers `schema` under it (`autoRegister: true`) or looks up its id
 * (default), unless `readOnly`; computes the message indexes of `type` in `schema`; and fetches
 * every version of `preloadSubjects` (default: the subject) and every id in `knownSchemaIds`.
 *
 * `deserialize` reads the schema id and message indexes, finds the message type they name in that
 * writer schema, and decodes with `type` when the names match (Protobuf's own compatibility rules
 * then apply between writer and reader versions). A record written with a schema id that was not
 * loaded, or whose indexes name another message type, throws a SerdeError: the serde is
 * synchronous and cannot fetch a schema in time, and decoding as the wrong type would not fail
 * visibly. Call `serde.preload()` to load more writer schemas later.
 *
 * @throws ConfigError for invalid options, a `schema` that does not declare `type`, or a schema
 *   that is not registered (without autoRegister)
 * @throws SchemaRegistryError when the registry refuses a request or cannot be reached
 *
 * @example
 * const registry = createSchemaRegistryClient({ url: 'http://localhost:8081' })
 * const orders = await createRegistryProtobufSerde<Order>({
 *   registry,
 *   topic: 'orders',
 *   type: loadProtobufType('protos/order.proto', 'shop.v1.Order'),
 *   autoRegister: true,
 * })
 */
export async function createRegistryProtobufSerde<T>(
  options: RegistryProtobufSerdeOptions,
): Promise<RegistryProtobufSerde<T>> {
  const subject = resolveSubject(options)
  const { type } = options
  checkType(type)
  const typeName = name(type)
  const conversion = { ...defaultConversionOptions, ...options.toObject }
  const source = options.schema ?? sourceOf(type)
  const readOnly = options.readOnly ?? false
  if (source === undefined && !readOnly) {
    throw new ConfigError(
      `schema (the .proto source declaring ${typeName}) is needed to register or look up the schema; pass readOnly: true for a serde that only reads`,
      { context: { option: 'schema' } },
    )
  }
  const own = source === undefined ? undefined : parseSchema(source, 'schema', typeName)
  const indexes = own === undefined ? undefined : ownIndexes(own, typeName, options.messageIndexes)
  const indexBytes = indexes === undefined ? undefined : encodeMessageIndexes(indexes)

  const compile = (schema: RegisteredSchema): WriterFile => {
    if (schema.schemaType !== 'PROTOBUF') {
      throw new Error(`its schema type is ${schema.schemaType}, not PROTOBUF`)
    }
    return writerFile(parseProtoFile(schema.schema))
  }
  const cache = new WriterSchemaCache<WriterFile>(options.registry, compile)
  const schemaId = await resolveWriterSchemaId(options, subject, {
    schema: source ?? '',
    schemaType: 'PROTOBUF',
    ...(options.references === undefined ? {} : { references: options.references }),
  })
  if (schemaId !== undefined && own !== undefined) cache.add(schemaId, writerFile(own))
  await cache.preload(
    { subjects: options.preloadSubjects ?? [subject], schemaIds: options.knownSchemaIds ?? [] },
    // The default subject may not exist yet (nothing written so far); explicit subjects must.
    options.preloadSubjects === undefined ? [subject] : [],
  )

  const readError = (id: number, context: SerdeContext, problem: string, cause?: unknown): SerdeError =>
    new SerdeError(
      `cannot read ${context.target} of topic "${context.topic}" written with schema id ${id} as protobuf ${typeName}: ${problem}`,
      { cause, context: { topic: context.topic, target: context.target, schemaId: id } },
    )

  // What is wrong with message indexes `written` in a writer schema, if anything.
  const indexProblem = (found: TypeAtResult, written: number[]): string | undefined => {
    if ('name' in found) {
      return found.name === typeName ? undefined : `its message indexes [${written}] name ${found.name}`
    }
    if ('missing' in found) return `its message indexes [${written}] name no message type in that schema`
    // Below a message with map fields a path cannot be checked by name; the serde's own explicit
    // indexes are trusted there, as they are when writing.
    if (options.messageIndexes !== undefined && sameIndexes(written, indexes)) return undefined
    return `its message indexes [${written}] go below ${found.ambiguousBelow}, which has map fields, so the message they name cannot be told (pass messageIndexes to accept this path)`
  }

  // Throws unless a record written with schema `id` at indexes `written` holds the serde's type.
  const checkWriter = (id: number, written: number[], context: SerdeContext): void => {
    let writer: WriterFile | undefined
    try {
      writer = cache.get(id)
    } catch (cause) {
      throw readError(id, context, messageOf(cause), cause)
    }
    if (writer === undefined) throw cache.unknownIdError(id, context)
    const problem = indexProblem(writer.typeAt(written), written)
    if (problem !== undefined) throw readError(id, context, problem)
  }

  return {
    subject,
    schemaId,
    serialize(value, context) {
      if (schemaId === undefined || indexBytes === undefined) {
        throw new SerdeError(
          `cannot write ${context.target} for topic "${context.topic}": this Protobuf serde of subject "${subject}" was created with readOnly: true`,
          { context: { topic: context.topic, target: context.target } },
        )
      }
      const message = encodeMessage(type, value, context)
      const payload = new Uint8Array(indexBytes.byteLength + message.byteLength)
      payload.set(indexBytes)
      payload.set(message, indexBytes.byteLength)
      return encodeWireFormat(schemaId, payload)
    },
    deserialize(bytes, context) {
      let framed: { schemaId: number; indexes: number[]; message: Uint8Array }
      try {
        const { schemaId: id, payload } = decodeWireFormat(bytes)
        const read = decodeMessageIndexes(payload)
        framed = { schemaId: id, indexes: read.indexes, message: payload.subarray(read.byteLength) }
      } catch (cause) {
        throw new SerdeError(
          `cannot read ${context.target} of topic "${context.topic}": ${messageOf(cause)}`,
          {
            cause,
            context: { topic: context.topic, target: context.target },
          },
        )
      }
      checkWriter(framed.schemaId, framed.indexes, context)
      return decodeMessage(type, framed.message, conversion, context, framed.schemaId) as T
    },
    preload: (more: PreloadOptions) => cache.preload(more),
    loadedSchemaIds: () => cache.ids(),
  }
}

function sourceOf(type: Type): string | undefined {
  // Types built with reflection, or parsed from strings, have no file.
  if (type.filename === null || type.filename === undefined) return undefined
  try {
    return readFileSync(type.filename, 'utf8')
  } catch {
    return undefined
  }
}

function parseSchema(source: string, option: string, typeName: string): ProtoFile {
  try {
    return parseProtoFile(source)
  } catch (cause) {
    throw new ConfigError(
      `${option} is not valid .proto source (declaring ${typeName}): ${messageOf(cause)}`,
      {
        cause,
        context: { option },
      },
    )
  }
}

function ownIndexes(file: ProtoFile, typeName: string, explicit: number[] | undefined): number[] {
  const path = messagePath(file, typeName)
  if ('missing' in path) {
    throw new ConfigError(`schema does not declare the message type ${typeName}`, {
      context: { option: 'schema' },
    })
  }
  if (explicit !== undefined) {
    encodeMessageIndexes(explicit)
    // Where the path can be computed, an explicit one that disagrees is a mistake, not an override.
    if ('indexes' in path && !sameIndexes(explicit, path.indexes)) {
      throw new ConfigError(
        `messageIndexes [${explicit}] disagree with the position of ${typeName} in schema, [${path.indexes}]`,
        { context: { option: 'messageIndexes' } },
      )
    }
    return explicit
  }
  if ('ambiguousBelow' in path) {
    throw new ConfigError(
      `the message indexes of ${typeName} cannot be computed: it is nested in ${path.ambiguousBelow}, which has map fields, and protoc counts a hidden nested message per map field in declaration order, which protobufjs does not keep. Pass messageIndexes`,
      { context: { option: 'messageIndexes' } },
    )
  }
  return path.indexes
}

function writerFile(file: ProtoFile): WriterFile {
  // Records of one topic nearly always share one path: remember the answers, but only a few, so
  // that garbage indexes cannot grow the map without bound.
  const answers = new Map<string, TypeAtResult>()
  return {
    typeAt(indexes) {
      const key = indexes.join(',')
      let answer = answers.get(key)
      if (answer === undefined) {
        answer = typeAt(file, indexes)
        if (answers.size < 64) answers.set(key, answer)
      }
      return answer
    },
  }
}

function sameIndexes(left: readonly number[], right: readonly number[] | undefined): boolean {
  return right !== undefined && left.length === right.length && left.every((index, i) => index === right[i])
}
