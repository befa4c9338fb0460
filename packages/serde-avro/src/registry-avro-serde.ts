// Avro in the Confluent wire format. The async factory does all the registry work (its own id,
// every writer schema it should expect); serialize and deserialize are synchronous and never wait
// for the network. A record written with a schema id the serde has not loaded fails with a
// SerdeError naming the id, rather than being read with a guessed schema.
import { type SerdeContext, SerdeError } from '@kstreams/core'
import {
  decodeWireFormat,
  encodeWireFormat,
  type PreloadOptions,
  type RegisteredSchema,
  type RegistrySerde,
  type RegistrySerdeOptions,
  resolveSubject,
  resolveWriterSchemaId,
  WriterSchemaCache,
} from '@kstreams/schema-registry'
import type { Type } from 'avsc'
import {
  type AvroSchema,
  type AvroTypeOptions,
  messageOf,
  parseAvroSchema,
  readAvro,
  typeForSchema,
  writeAvro,
} from './avro-schema.js'

export interface RegistryAvroSerdeOptions extends RegistrySerdeOptions {
  /**
   * The application's schema: values are written with it and read as it (records written with
   * other registered schemas are resolved to it, Avro schema evolution). JSON text, parsed JSON or
   * an avsc `Type`. Registered (or looked up) as given, so give the text other producers register
   * when the registry should find it.
   */
  schema: AvroSchema
  /**
   * Options for avsc's `Type.forSchema` (`logicalTypes`, `wrapUnions`…). Writer schemas from the
   * registry are parsed with them too; each parse gets its own copy of `registry`, so that two
   * versions of a record do not collide on its name.
   * @default {}
   */
  typeOptions?: AvroTypeOptions
}

/** A registry-aware Avro serde; see {@link createRegistryAvroSerde}. */
export type RegistryAvroSerde<T> = RegistrySerde<T>

type Resolver = ReturnType<Type['createResolver']>

// How to read one writer schema: through a resolver, or directly for the serde's own schema.
interface WriterReader {
  resolver: Resolver | undefined
}

/**
 * Creates an Avro serde that writes and reads the Confluent Schema Registry wire format (magic
 * byte 0x00, 4-byte schema id, Avro binary), compatible with Confluent's KafkaAvroSerializer.
 *
 * Before it resolves, the factory:
 * 1. resolves the subject (`subject`, or `<topic>-key` / `<topic>-value`);
 * 2. registers `schema` under it (`autoRegister: true`) or looks up its id (default), unless
 *    `readOnly`;
 * 3. fetches every version of `preloadSubjects` (default: the subject) and every id in
 *    `knownSchemaIds`: these are the writer schemas records may be read with.
 *
 * `serialize` then writes with the id from step 2 and `deserialize` reads any loaded writer schema
 * as `schema`, synchronously. A record written with an id that was not loaded throws a SerdeError
 * (context `schemaId`) saying how to load it: a synchronous serde cannot fetch it in time, and
 * guessing a schema could decode wrong values. Call `serde.preload()` to load more later.
 *
 * @throws ConfigError for invalid options or a schema that is not registered (without autoRegister)
 * @throws SchemaRegistryError when the registry refuses a request or cannot be reached
 *
 * @example
 * const registry = createSchemaRegistryClient({ url: 'http://localhost:8081' })
 * const orders = await createRegistryAvroSerde<Order>({
 *   registry,
 *   topic: 'orders',
 *   schema: orderSchema,
 *   autoRegister: true,
 * })
 */
export async function createRegistryAvroSerde<T>(
  options: RegistryAvroSerdeOptions,
): Promise<RegistryAvroSerde<T>> {
  const subject = resolveSubject(options)
  const typeOptions = options.typeOptions ?? {}
  const own = parseAvroSchema(options.schema, typeOptions, 'schema')
  const reader = own.type
  const compile = (schema: RegisteredSchema): WriterReader => {
    if (schema.schemaType !== 'AVRO') throw new Error(`its schema type is ${schema.schemaType}, not AVRO`)
    if (schema.references.length > 0) {
      throw new Error('it references other schemas, which this serde does not resolve yet')
    }
    const writer = typeForSchema(JSON.parse(schema.schema), typeOptions)
    return { resolver: reader.createResolver(writer) }
  }
  const cache = new WriterSchemaCache<WriterReader>(options.registry, compile)
  const schemaId = await resolveWriterSchemaId(options, subject, { schema: own.text, schemaType: 'AVRO' })
  // The serde's own schema needs no resolver.
  if (schemaId !== undefined) cache.add(schemaId, { resolver: undefined })
  const preloadSubjects = options.preloadSubjects ?? [subject]
  await cache.preload(
    { subjects: preloadSubjects, schemaIds: options.knownSchemaIds ?? [] },
    // The default subject may not exist yet (nothing written so far); explicit subjects must.
    options.preloadSubjects === undefined ? [subject] : [],
  )

  const resolverFor = (id: number, context: SerdeContext): Resolver | undefined => {
    let writer: WriterReader | undefined
    try {
      writer = cache.get(id)
    } catch (cause) {
      throw new SerdeError(
        `cannot read ${context.target} of topic "${context.topic}" written with schema id ${id} as Avro ${reader.name ?? reader.typeName}: ${messageOf(cause)}`,
        { cause, context: { topic: context.topic, target: context.target, schemaId: id } },
      )
    }
    if (writer === undefined) throw cache.unknownIdError(id, context)
    return writer.resolver
  }

  return {
    subject,
    schemaId,
    serialize(value, context) {
      if (schemaId === undefined) {
        throw new SerdeError(
          `cannot write ${context.target} for topic "${context.topic}": this Avro serde of subject "${subject}" was created with readOnly: true`,
          { context: { topic: context.topic, target: context.target } },
        )
      }
      return encodeWireFormat(schemaId, writeAvro(reader, value, context))
    },
    deserialize(bytes, context) {
      let framed: ReturnType<typeof decodeWireFormat>
      try {
        framed = decodeWireFormat(bytes)
      } catch (cause) {
        throw new SerdeError(
          `cannot read ${context.target} of topic "${context.topic}": ${messageOf(cause)}`,
          {
            cause,
            context: { topic: context.topic, target: context.target },
          },
        )
      }
      const resolver = resolverFor(framed.schemaId, context)
      return readAvro(reader, framed.payload, resolver, context, framed.schemaId) as T
    },
    preload: (more: PreloadOptions) => cache.preload(more),
    loadedSchemaIds: () => cache.ids(),
  }
}
