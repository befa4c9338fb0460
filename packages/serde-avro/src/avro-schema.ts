// Turning user schemas into avsc types, and avsc's failures into messages that name the topic and
// the failing field.
import { ConfigError, type SerdeContext, SerdeError } from '@kstreams/core'
import type { Type } from 'avsc'
import avro from 'avsc'
import { withExactLongs } from './long-type.js'

/** An Avro schema: its JSON text, the parsed JSON, or an avsc `Type`. */
export type AvroSchema = string | object | Type

/** avsc's `Type.forSchema` options (`logicalTypes`, `wrapUnions`, `registry`, `typeHook`…). */
export type AvroTypeOptions = NonNullable<Parameters<typeof avro.Type.forSchema>[1]>

/** A schema parsed once: the avsc type and the JSON text a registry gets. */
export interface ParsedSchema {
  type: Type
  text: string
}

/**
 * Parses `schema` with avsc. A string is JSON text, or the bare name of a primitive (`'string'`).
 * @throws ConfigError naming `option` when avsc refuses the schema
 */
export function parseAvroSchema(
  schema: AvroSchema,
  typeOptions: AvroTypeOptions,
  option: string,
): ParsedSchema {
  if (avro.Type.isType(schema)) {
    const type = schema as Type
    return { type, text: JSON.stringify(type.schema({ exportAttrs: true })) }
  }
  let json: unknown = schema
  let text: string | undefined
  if (typeof schema === 'string') {
    try {
      json = JSON.parse(schema)
      // Sent to a registry as given: a registry compares what it is sent with what it has.
      text = schema
    } catch {
      json = schema
    }
  }
  try {
    return { type: typeForSchema(json, typeOptions), text: text ?? JSON.stringify(json) }
  } catch (cause) {
    throw new ConfigError(`${option} is not a valid Avro schema: ${messageOf(cause)}`, {
      cause,
      context: { option },
    })
  }
}

/**
 * avsc's `Type.forSchema`, with exact longs (see long-type.ts), on a copy of the options: avsc adds
 * the named types it parses to `options.registry`, so sharing one registry between two versions of
 * a schema would make their records collide on their names. Types the caller put in the registry
 * are kept.
 */
export function typeForSchema(schema: unknown, typeOptions: AvroTypeOptions): Type {
  return avro.Type.forSchema(
    schema as Parameters<typeof avro.Type.forSchema>[0],
    withExactLongs({ ...typeOptions, registry: { ...typeOptions.registry } }),
  )
}

/** The name a person knows a type by: the record, enum or fixed name, or the primitive. */
export function describeType(type: Type): string {
  const union = (type as Type & { types?: Type[] }).types
  if (union !== undefined) return `one of ${union.map(describeType).join(', ')}`
  const symbols = (type as Type & { symbols?: string[] }).symbols
  if (symbols !== undefined) {
    const shown = symbols.length > 8 ? [...symbols.slice(0, 8), '…'] : symbols
    return `enum ${type.name} (${shown.join(', ')})`
  }
  return type.name ?? type.typeName
}

/**
 * Writes `value` with `type`, or throws a SerdeError naming the topic and each failing field path
 * (up to three) that avsc's validation reports.
 */
export function writeAvro(type: Type, value: unknown, context: SerdeContext): Uint8Array {
  try {
    return plainBytes(type.toBuffer(value))
  } catch (cause) {
    // Validation runs only after a failed write: checking every value first would double the cost
    // of the common case.
    const problems: Array<{ path: string; problem: string }> = []
    type.isValid(value, {
      errorHook: (path, invalid, expected) => {
        if (problems.length < 3) {
          const where = path.length === 0 ? 'the value itself' : path.join('.')
          problems.push({
            path: path.join('.'),
            problem: `${where}: expected ${describeType(expected)}, got ${describeValue(invalid, expected)}`,
          })
        }
      },
    })
    const detail =
      problems.length === 0 ? messageOf(cause) : problems.map(({ problem }) => problem).join('; ')
    const first = problems[0]
    throw new SerdeError(
      `cannot write ${context.target} for topic "${context.topic}" as Avro ${describeType(type)}: ${detail}`,
      {
        cause,
        context: {
          topic: context.topic,
          target: context.target,
          ...(first === undefined ? {} : { path: first.path }),
        },
      },
    )
  }
}

/**
 * Reads `payload` with `type` (through `resolver` when it was written with another schema). avsc
 * refuses truncated input and trailing bytes; both become a SerdeError naming the topic.
 */
export function readAvro(
  type: Type,
  payload: Uint8Array,
  resolver: ReturnType<Type['createResolver']> | undefined,
  context: SerdeContext,
  schemaId?: number,
): unknown {
  // avsc reads through Buffer methods, so a plain Uint8Array is wrapped (a view, not a copy).
  const buffer = Buffer.isBuffer(payload)
    ? payload
    : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
  try {
    return type.fromBuffer(buffer, resolver)
  } catch (cause) {
    const written = schemaId === undefined ? '' : ` written with schema id ${schemaId}`
    throw new SerdeError(
      `cannot read ${context.target} of topic "${context.topic}"${written} as Avro ${describeType(type)}: ${messageOf(cause)} (${payload.byteLength} byte(s))`,
      {
        cause,
        context: {
          topic: context.topic,
          target: context.target,
          ...(schemaId === undefined ? {} : { schemaId }),
        },
      },
    )
  }
}

// The JavaScript kind of a value, never the value itself: records may hold personal data, and
// error messages end up in logs and dead-letter headers.
function describeValue(value: unknown, expected: Type): string {
  if (value === undefined) return 'undefined (missing)'
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'number' && (expected.typeName === 'int' || expected.typeName === 'long')) {
    if (!Number.isFinite(value)) return String(value)
    return Number.isInteger(value)
      ? `an integer outside the range of ${expected.typeName}`
      : 'a number with a fraction'
  }
  if (typeof value === 'string' && expected.typeName === 'enum')
    return 'a string that is not one of its symbols'
  if (typeof value === 'object') return Buffer.isBuffer(value) ? 'a Buffer' : 'an object'
  return `a ${typeof value}`
}

/**
 * The same memory as a plain Uint8Array. A Buffer's `slice()` returns a view where a Uint8Array's
 * returns a copy; callers that copy serialized bytes that way would otherwise share them.
 */
export function plainBytes(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
