// What registry-aware serdes share. A Serde is synchronous and a registry is behind HTTP, so a serde
// cannot fetch a schema while it reads a record: everything it may need is fetched by its async
// factory (or a later explicit preload), and a record written with a schema id it has not loaded
// fails with a SerdeError naming the id and how to load it. It never guesses a schema.
import { ConfigError, type Serde, type SerdeContext, SerdeError } from '@kstreams/core'
import {
  type RegisteredSchema,
  RegistryErrorCodes,
  type SchemaDefinition,
  type SchemaRegistryClient,
  SchemaRegistryError,
} from './client.js'
import { topicNameSubject } from './subjects.js'

/** How a registry serde names its subject: explicitly, or from a topic (TopicNameStrategy). */
export interface SubjectOptions {
  /**
   * The subject the serde's schema is registered under. Give either this or `topic`.
   * @example 'com.example.Order' (RecordNameStrategy)
   */
  subject?: string
  /**
   * The topic whose subject is `<topic>-key` or `<topic>-value` (Confluent's default
   * TopicNameStrategy). Give either this or `subject`.
   * @example 'orders'
   */
  topic?: string
  /**
   * Whether the serde handles keys or values, for the topic-name subject.
   * @default 'value'
   */
  target?: 'key' | 'value'
}

/** Options every registry serde shares. */
export interface RegistrySerdeOptions extends SubjectOptions {
  /** The client the factory fetches schemas with. */
  registry: SchemaRegistryClient
  /**
   * Register the serde's schema under the subject when it is not there yet. When false, the schema
   * must already be registered (by a deployment step, or another producer): the factory looks its
   * id up and fails if it is missing.
   * @default false
   */
  autoRegister?: boolean
  /**
   * A serde that only reads: the factory neither registers nor looks up its own schema, so a reader
   * schema that was never registered works, and `serialize` throws.
   * @default false
   */
  readOnly?: boolean
  /**
   * Subjects whose every version the factory fetches, so that records written with any of them
   * can be read. Records written with a schema that is in none of these subjects and not in
   * `knownSchemaIds` fail to deserialize.
   * @default [the serde's subject]
   * @example ['orders-value', 'legacy-orders-value']
   */
  preloadSubjects?: string[]
  /**
   * Schema ids the factory fetches, for writers whose schemas are not (or no longer) under a
   * preloaded subject, such as soft-deleted versions.
   * @default []
   */
  knownSchemaIds?: number[]
}

/** What to fetch in {@link RegistrySerde.preload}. */
export interface PreloadOptions {
  /** Subjects whose every version to fetch. */
  subjects?: string[]
  /** Schema ids to fetch. */
  schemaIds?: number[]
}

/**
 * A serde that reads and writes the Confluent wire format. Serialization and deserialization are
 * synchronous and never touch the network.
 */
export interface RegistrySerde<T> extends Serde<T> {
  /** The subject the serde's schema was registered or looked up under. */
  readonly subject: string
  /** The id written in every serialized record; undefined for a `readOnly` serde. */
  readonly schemaId: number | undefined
  /**
   * Fetches more writer schemas, for example on a timer, so that records written with schemas
   * registered after the serde was created can be read. Resolves once they are loaded.
   * @example setInterval(() => void serde.preload({ subjects: [serde.subject] }), 60_000)
   */
  preload(options: PreloadOptions): Promise<void>
  /** The ids of the writer schemas the serde can read, ascending. */
  loadedSchemaIds(): number[]
}

/**
 * The subject named by `options`: `subject`, or `<topic>-<target>`.
 * @throws ConfigError when both or neither of `subject` and `topic` are given
 *
 * @example
 * resolveSubject({ topic: 'orders' }) // → 'orders-value'
 */
export function resolveSubject(options: SubjectOptions): string {
  const { subject, topic, target = 'value' } = options
  if ((subject === undefined) === (topic === undefined)) {
    throw new ConfigError(
      'give exactly one of subject and topic (for the subject <topic>-key or <topic>-value)',
      {
        context: { option: subject === undefined ? 'subject' : 'topic' },
      },
    )
  }
  if (target !== 'key' && target !== 'value') {
    throw new ConfigError(`target must be 'key' or 'value', got ${JSON.stringify(target)}`, {
      context: { option: 'target' },
    })
  }
  const resolved = subject ?? topicNameSubject(topic!, target)
  if (typeof resolved !== 'string' || resolved === '' || resolved.startsWith('-')) {
    throw new ConfigError(
      `subject and topic must be non-empty strings, got ${JSON.stringify(subject ?? topic)}`,
      {
        context: { option: subject === undefined ? 'topic' : 'subject' },
      },
    )
  }
  return resolved
}

/**
 * The id a serde writes: registers `schema` under `subject` (`autoRegister`) or looks it up.
 * Undefined for a read-only serde.
 * @throws ConfigError when `autoRegister` and `readOnly` are both set, or the schema is not
 *   registered under the subject and `autoRegister` is false
 * @throws SchemaRegistryError when the registry refuses the schema or cannot be reached
 */
export async function resolveWriterSchemaId(
  options: Pick<RegistrySerdeOptions, 'registry' | 'autoRegister' | 'readOnly'>,
  subject: string,
  schema: SchemaDefinition,
): Promise<number | undefined> {
  const { registry, autoRegister = false, readOnly = false } = options
  if (autoRegister && readOnly) {
    throw new ConfigError(
      'autoRegister and readOnly exclude each other: a read-only serde registers nothing',
      {
        context: { option: 'autoRegister' },
      },
    )
  }
  if (readOnly) return undefined
  if (autoRegister) return registry.register(subject, schema)
  try {
    return (await registry.lookup(subject, schema)).id
  } catch (error) {
    const code = error instanceof SchemaRegistryError ? error.errorCode : undefined
    if (code !== RegistryErrorCodes.subjectNotFound && code !== RegistryErrorCodes.schemaNotFound) throw error
    throw new ConfigError(
      `the schema is not registered under subject "${subject}" in the schema registry at ${registry.url} (${(error as Error).message}): register it first, pass autoRegister: true, or readOnly: true for a serde that only reads`,
      { cause: error, context: { option: 'autoRegister', subject } },
    )
  }
}

type Compiled<C> = { value: C } | { error: unknown }

/**
 * Writer schemas a serde has loaded, by id, each compiled on first use (and the compile error kept,
 * so a bad schema costs one attempt, not one per record). Loading is async; reading is sync.
 */
export class WriterSchemaCache<C> {
  readonly #registry: SchemaRegistryClient
  readonly #compile: (schema: RegisteredSchema) => C
  readonly #schemas = new Map<number, RegisteredSchema>()
  readonly #compiled = new Map<number, Compiled<C>>()

  /**
   * @param registry - where schemas are fetched from
   * @param compile - turns a registry schema into what the serde reads with; may throw
   */
  constructor(registry: SchemaRegistryClient, compile: (schema: RegisteredSchema) => C) {
    this.#registry = registry
    this.#compile = compile
  }

  /** Adds a schema the serde already compiled (its own). */
  add(id: number, compiled: C): void {
    this.#compiled.set(id, { value: compiled })
  }

  /**
   * Fetches every version of `subjects` and every id in `schemaIds`.
   * @param missingSubjectsAllowed - subjects that may not exist yet (they are skipped)
   */
  async preload(options: PreloadOptions, missingSubjectsAllowed: readonly string[] = []): Promise<void> {
    const { subjects = [], schemaIds = [] } = options
    const bySubject = subjects.map(async (subject) => {
      let versions: number[]
      try {
        versions = await this.#registry.getVersions(subject)
      } catch (error) {
        const missing =
          error instanceof SchemaRegistryError && error.errorCode === RegistryErrorCodes.subjectNotFound
        if (missing && missingSubjectsAllowed.includes(subject)) return []
        throw error
      }
      return Promise.all(versions.map((version) => this.#registry.getVersion(subject, version)))
    })
    const byId = schemaIds.map((id) => this.#registry.getSchemaById(id))
    const [fromSubjects, fromIds] = await Promise.all([Promise.all(bySubject), Promise.all(byId)])
    for (const schema of [...fromSubjects.flat(), ...fromIds]) {
      this.#schemas.set(schema.id, { id: schema.id, ...definitionOf(schema) })
    }
  }

  /** The ids that can be read, ascending. */
  ids(): number[] {
    return [...new Set([...this.#schemas.keys(), ...this.#compiled.keys()])].sort(
      (left, right) => left - right,
    )
  }

  /** The registry schema of `id`, if it was fetched. */
  schema(id: number): RegisteredSchema | undefined {
    return this.#schemas.get(id)
  }

  /**
   * What to read `id` with: compiled now if it was not yet, undefined when `id` was never loaded.
   * @throws whatever `compile` threw for this id
   */
  get(id: number): C | undefined {
    const compiled = this.#compiled.get(id)
    if (compiled !== undefined) {
      if ('error' in compiled) throw compiled.error
      return compiled.value
    }
    const schema = this.#schemas.get(id)
    if (schema === undefined) return undefined
    try {
      const value = this.#compile(schema)
      this.#compiled.set(id, { value })
      return value
    } catch (error) {
      this.#compiled.set(id, { error })
      throw error
    }
  }

  /** A SerdeError for a record written with a schema id that was never loaded. */
  unknownIdError(id: number, context: SerdeContext): SerdeError {
    const known = this.ids()
    return new SerdeError(
      `cannot read ${context.target} of topic "${context.topic}": it was written with schema id ${id}, which this serde has not loaded (loaded: ${known.length === 0 ? 'none' : known.join(', ')}). A serde is synchronous and cannot fetch a schema while it reads a record: add the id to knownSchemaIds or its subject to preloadSubjects, or await serde.preload({ schemaIds: [${id}] }) before such records arrive`,
      { context: { topic: context.topic, target: context.target, schemaId: id } },
    )
  }
}

function definitionOf(schema: RegisteredSchema): Omit<RegisteredSchema, 'id'> {
  return { schema: schema.schema, schemaType: schema.schemaType, references: schema.references }
}
