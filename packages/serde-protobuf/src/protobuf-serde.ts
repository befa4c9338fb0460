// Protobuf without a registry: the bytes are the bare Protobuf encoding of one message type.
//
// Values are plain objects both ways. protobufjs' own `verify` only accepts its runtime
// representation (numbers or Long for 64-bit fields, numbers for enums), while decoding gives
// bigints and enum names by default here; so before verifying, a value's bigints and decimal
// strings in 64-bit fields become Longs and its enum names become numbers. Everything else is
// verified as given, and nothing is coerced: a string in an int32 field is an error, not a 0.
import { ConfigError, type Serde, type SerdeContext, SerdeError } from '@kstreams/core'
import type { Enum, Field, IConversionOptions, Type } from 'protobufjs'
import protobuf from 'protobufjs'

/**
 * How decoded messages become plain objects: protobufjs' `toObject` options. The serde's defaults
 * are merged under what you pass.
 */
export type ConversionOptions = IConversionOptions

/**
 * The serde's `toObject` options: lossless, readable, and the same shape for every message.
 * - `longs: BigInt`: 64-bit integers as `bigint` (no precision loss; `String` gives decimal strings);
 * - `enums: String`: enum values as their names (unknown numbers stay numbers);
 * - `defaults: true`, `arrays: true`, `objects: true`: unset scalars, repeated and map fields read
 *   as their defaults (`0`, `''`, `[]`, `{}`), as proto3 defines them; unset message fields read as
 *   `null`, and unset oneof members and proto3 `optional` fields stay absent;
 * - bytes as `Uint8Array` (a Buffer under Node.js).
 */
export const defaultConversionOptions: Readonly<ConversionOptions> = Object.freeze({
  longs: BigInt,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
})

export interface ProtobufSerdeOptions {
  /**
   * The message type, from `.proto` files ({@link loadProtobufType}, `protobuf.loadSync`) or built
   * with protobufjs reflection.
   */
  type: Type
  /**
   * protobufjs `toObject` options for decoded messages, merged over {@link defaultConversionOptions}.
   * @default defaultConversionOptions
   * @example { longs: String } // 64-bit integers as decimal strings
   */
  toObject?: ConversionOptions
}

/**
 * A Protobuf serde without a schema registry: records are the bare encoding of `type`.
 *
 * `serialize` takes a plain object (or a protobufjs message), checks it with protobufjs' `verify`
 * (after turning bigints and decimal strings of 64-bit fields into Longs, and enum names into
 * numbers) and throws a SerdeError naming the field when it does not fit. `deserialize` decodes
 * and converts with `toObject` and {@link defaultConversionOptions}.
 *
 * Protobuf carries no type information: bytes of another message type, or garbage, may decode
 * without an error. Fields with an unexpected wire type are skipped like unknown fields (as protoc
 * does); truncated input and invalid wire types are refused. TypeScript types are not generated:
 * `T` is what you declare (with `bigint` for 64-bit fields under the default options).
 *
 * @throws ConfigError when `type` is not a protobufjs message type
 *
 * @example
 * const ping = loadProtobufType('protos/ping.proto', 'acme.Ping')
 * const pings = protobufSerde<{ id: bigint; note: string }>({ type: ping })
 */
export function protobufSerde<T>(options: ProtobufSerdeOptions): Serde<T> {
  const { type } = options
  checkType(type)
  const conversion = { ...defaultConversionOptions, ...options.toObject }
  return {
    serialize: (value, context) => encodeMessage(type, value, context),
    deserialize: (bytes, context) => decodeMessage(type, bytes, conversion, context) as T,
  }
}

/**
 * Loads `.proto` files and returns the message type `typeName`. Imports are resolved relative to the
 * importing file; Google's well-known types are built in.
 *
 * @param protoFiles - one or more `.proto` file paths
 * @param typeName - the full name of the message, with its package
 * @param options.keepCase - keep field names as written in the .proto file instead of protobufjs'
 *   lowerCamelCase (the proto3 JSON names); the wire format is the same either way
 * @throws ConfigError when a file cannot be read or parsed, or declares no message `typeName`
 *
 * @example
 * const order = loadProtobufType(['protos/order.proto'], 'shop.v1.Order')
 */
export function loadProtobufType(
  protoFiles: string | string[],
  typeName: string,
  options: { keepCase?: boolean } = {},
): Type {
  const files = Array.isArray(protoFiles) ? protoFiles : [protoFiles]
  let root: protobuf.Root
  try {
    root = new protobuf.Root().loadSync(files, { keepCase: options.keepCase ?? false })
    root.resolveAll()
  } catch (cause) {
    throw new ConfigError(`cannot load ${files.join(', ')}: ${messageOf(cause)}`, {
      cause,
      context: { option: 'protoFiles' },
    })
  }
  const found = root.lookup(typeName)
  if (found === null || !isType(found)) {
    const declared = allMessageNames(root)
    throw new ConfigError(
      `${files.join(', ')} declare${files.length === 1 ? 's' : ''} no message type "${typeName}" (declared: ${declared.join(', ') || 'none'})`,
      { context: { option: 'typeName' } },
    )
  }
  return found
}

/** Checks `value` against `type` and encodes it; a SerdeError names the topic and the problem. */
export function encodeMessage(type: Type, value: unknown, context: SerdeContext): Uint8Array {
  const fail = (problem: string, cause?: unknown): never => {
    throw new SerdeError(
      `cannot write ${context.target} for topic "${context.topic}" as protobuf ${name(type)}: ${problem}`,
      { cause, context: { topic: context.topic, target: context.target } },
    )
  }
  let runtime: unknown
  try {
    // A message object built by protobufjs is already in its runtime form.
    runtime = value instanceof type.ctor ? value : toRuntime(type, value, '')
  } catch (cause) {
    if (cause instanceof OutOfRange) return fail(cause.message)
    throw cause
  }
  const problem = type.verify(runtime as Record<string, unknown>)
  if (problem !== null) return fail(problem)
  try {
    const bytes = type.encode(type.fromObject(runtime as Record<string, unknown>)).finish()
    // A plain Uint8Array over the same memory: protobufjs gives a Buffer under Node.js, whose
    // `slice()` is a view where a Uint8Array's is a copy.
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  } catch (cause) {
    return fail(messageOf(cause), cause)
  }
}

/** Decodes `bytes` as `type` and converts the message to a plain object. */
export function decodeMessage(
  type: Type,
  bytes: Uint8Array,
  conversion: ConversionOptions,
  context: SerdeContext,
  schemaId?: number,
): unknown {
  // Decoding from a Buffer makes bytes fields Buffers whatever the caller passed (protobufjs gives
  // plain Uint8Arrays for a Uint8Array input): one type, and a view rather than a copy.
  const input = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  try {
    return type.toObject(type.decode(input), conversion)
  } catch (cause) {
    const written = schemaId === undefined ? '' : ` written with schema id ${schemaId}`
    throw new SerdeError(
      `cannot read ${context.target} of topic "${context.topic}"${written} as protobuf ${name(type)}: ${messageOf(cause)} (${bytes.byteLength} byte(s))`,
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

/** @throws ConfigError when `type` is not a protobufjs message type */
export function checkType(type: unknown): asserts type is Type {
  if (typeof type !== 'object' || type === null || !isType(type as protobuf.ReflectionObject)) {
    throw new ConfigError(
      'type must be a protobufjs message Type (from loadProtobufType or root.lookupType)',
      {
        context: { option: 'type' },
      },
    )
  }
  // Resolves field types once now, so a missing import fails here and not on the first record.
  try {
    ;(type as Type).root.resolveAll()
  } catch (cause) {
    throw new ConfigError(`type ${name(type as Type)} cannot be resolved: ${messageOf(cause)}`, {
      cause,
      context: { option: 'type' },
    })
  }
}

export function name(type: Type): string {
  return type.fullName.startsWith('.') ? type.fullName.slice(1) : type.fullName
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

// The value with its bigints, decimal strings (64-bit fields) and enum names (enum fields) in the
// forms protobufjs' verify accepts. Copies only the objects it changes.
function toRuntime(type: Type, value: unknown, path: string): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value))
    return value
  const source = value as Record<string, unknown>
  let copy: Record<string, unknown> | undefined
  for (const field of type.fieldsArray) {
    const current = source[field.name]
    if (current === undefined || current === null) continue
    const converted = convertField(field, current, `${path}${field.name}`)
    if (converted !== current) {
      copy ??= { ...source }
      copy[field.name] = converted
    }
  }
  return copy ?? value
}

function convertField(field: Field, value: unknown, path: string): unknown {
  if (field.map) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return value
    let copy: Record<string, unknown> | undefined
    for (const [key, item] of Object.entries(value)) {
      const converted = convertValue(field, item, `${path}.${key}`)
      if (converted !== item) {
        copy ??= { ...(value as Record<string, unknown>) }
        copy[key] = converted
      }
    }
    return copy ?? value
  }
  if (field.repeated && Array.isArray(value)) {
    let changed = false
    const converted = value.map((item, index) => {
      const next = convertValue(field, item, `${path}.${index}`)
      changed ||= next !== item
      return next
    })
    return changed ? converted : value
  }
  return convertValue(field, value, path)
}

function convertValue(field: Field, value: unknown, path: string): unknown {
  const resolved = field.resolvedType
  if (resolved !== null && isType(resolved)) return toRuntime(resolved, value, `${path}.`)
  if (resolved !== null && typeof value === 'string') {
    // An enum name becomes its number; an unknown name is left for verify to report.
    const number = (resolved as Enum).values[value]
    return number ?? value
  }
  if (field.long && (typeof value === 'bigint' || (typeof value === 'string' && /^-?\d+$/.test(value)))) {
    return toLong(field, BigInt(value), path)
  }
  return value
}

// A verify-style problem found while converting, reported by encodeMessage like verify's own.
class OutOfRange extends Error {}

const int64Range = [-(2n ** 63n), 2n ** 63n - 1n] as const
const uint64Range = [0n, 2n ** 64n - 1n] as const

// The {low, high} form that verify and fromObject accept for 64-bit fields, with or without long.js.
function toLong(field: Field, value: bigint, path: string): { low: number; high: number; unsigned: boolean } {
  const unsigned = field.type === 'uint64' || field.type === 'fixed64'
  const [min, max] = unsigned ? uint64Range : int64Range
  if (value < min || value > max) throw new OutOfRange(`${path}: ${value} is out of range for ${field.type}`)
  return { low: Number(BigInt.asIntN(32, value)), high: Number(BigInt.asIntN(32, value >> 32n)), unsigned }
}

function isType(object: protobuf.ReflectionObject): object is Type {
  return 'fieldsArray' in object && 'ctor' in object
}

function allMessageNames(root: protobuf.Namespace): string[] {
  const names: string[] = []
  const visit = (scope: protobuf.NamespaceBase): void => {
    for (const nested of scope.nestedArray) {
      if (isType(nested)) names.push(name(nested))
      if ('nestedArray' in nested) visit(nested as protobuf.NamespaceBase)
    }
  }
  visit(root)
  return names.filter((found) => !found.startsWith('google.protobuf.'))
}
