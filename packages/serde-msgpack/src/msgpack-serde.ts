// A MessagePack serde on msgpackr. By default it writes standard MessagePack that any library can
// read (msgpackr's record extension is off); the options of msgpackr that change what values
// survive a round trip are passed through. Options that need state shared between writer and
// reader (shared structures, sequential mode) are not offered: a Kafka record is read by other
// processes, in any order, so each one must stand alone.
import { type Serde, type SerdeContext, SerdeError } from '@kstreams/core'
import { C1, type Options, Packr, Unpackr } from 'msgpackr'

export interface MsgpackSerdeOptions {
  /**
   * Write objects as msgpackr records (its extension 0x72; each record carries its own field
   * names): smaller and faster, and plain objects and Maps stay apart, but only msgpackr reads it.
   * @default false: objects are standard MessagePack maps; true with `structuredClone` (whose
   *   output only msgpackr reads anyway), since without records msgpackr 2.1 reads Maps back as
   *   objects and fails to read cyclic objects back
   */
  useRecords?: boolean
  /**
   * msgpackr's structured clone extensions: shared and cyclic references keep their identity, and
   * Map, Set, Error, RegExp and typed arrays keep their types. Turns on `moreTypes`. Only msgpackr
   * reads them.
   * @default false
   */
  structuredClone?: boolean
  /**
   * msgpackr's extensions for typed arrays, Set, Map and Error, so they are read back as such.
   * @default false, true with `structuredClone`
   */
  moreTypes?: boolean
  /**
   * Read MessagePack maps as plain objects (true) or as Maps (false).
   * @default true without records (so objects round trip), false with `useRecords`
   */
  mapsAsObjects?: boolean
  /**
   * How 64-bit integers are read: `'bigint'` always, `'number'` always (loses precision above
   * 2^53), `'string'`, or `'auto'` (a number when it is exact, a bigint otherwise). Numbers are
   * written as the smallest integer or a float64 that holds them, bigints as 64-bit integers.
   * @default 'bigint'
   */
  int64AsType?: 'bigint' | 'number' | 'string' | 'auto'
  /**
   * Write bigints beyond 64 bits with msgpackr's bigint extension instead of throwing.
   * @default false: such a bigint is a SerdeError
   */
  useBigIntExtension?: boolean
  /**
   * Write Dates in the 32-bit timestamp format when they fit, dropping milliseconds.
   * @default false: milliseconds are kept
   */
  useTimestamp32?: boolean
  /**
   * Write each map with the smallest header for its size (fixmap up to 15 entries) instead of a
   * map 16 header: smaller records, slightly slower writes, and needed for objects of more than
   * 65 535 keys.
   * @default false
   */
  variableMapSize?: boolean
  /**
   * Write `undefined` as nil, read back as null.
   * @default false: undefined is msgpackr's undefined extension, read back as undefined
   */
  encodeUndefinedAsNil?: boolean
  /**
   * Copy binary values out of the record's bytes. Without a copy, a Buffer read from a record is a
   * view into the bytes the Kafka client fetched, keeping the whole fetched batch in memory as long
   * as the value lives (in a store cache, a window, an aggregate).
   * @default true
   */
  copyBuffers?: boolean
  /**
   * Write what `toJSON()` returns for class instances that have one, instead of their own
   * properties (plain objects are always written as they are).
   * @default true
   */
  useToJSON?: boolean
}

// Own message for msgpackr's error on bytes left after the value: that message quotes the start of
// the value as JSON, which has no place in logs of record errors.
const leftOver = /end of buffer not reached/

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function readError(context: SerdeContext, bytes: Uint8Array, problem: string, cause?: unknown): SerdeError {
  return new SerdeError(
    `cannot read ${context.target} of topic "${context.topic}" as MessagePack (${bytes.byteLength} byte(s)): ${problem}`,
    { cause, context: { topic: context.topic, target: context.target } },
  )
}

/**
 * Whether `value` holds msgpackr's marker for the byte 0xc1, which MessagePack never uses: msgpackr
 * reads it as a value instead of failing. Walks arrays, objects, Maps and Sets, once per object
 * (structured clones may be cyclic).
 */
function holdsNeverUsed(value: unknown): boolean {
  const pending: unknown[] = [value]
  const seen = new Set<object>()
  while (pending.length > 0) {
    const current = pending.pop()
    if (current === C1) return true
    if (typeof current !== 'object' || current === null || seen.has(current)) continue
    seen.add(current)
    if (ArrayBuffer.isView(current) || current instanceof Date) continue
    if (current instanceof Map) {
      for (const [key, entry] of current) pending.push(key, entry)
    } else if (current instanceof Set || Array.isArray(current)) {
      for (const entry of current) pending.push(entry)
    } else {
      for (const entry of Object.values(current)) pending.push(entry)
    }
  }
  return false
}

const passedThrough = [
  'useRecords',
  'structuredClone',
  'moreTypes',
  'mapsAsObjects',
  'int64AsType',
  'useBigIntExtension',
  'useTimestamp32',
  'variableMapSize',
  'encodeUndefinedAsNil',
  'copyBuffers',
  'useToJSON',
] as const satisfies ReadonlyArray<keyof MsgpackSerdeOptions>

function msgpackrOptions(options: MsgpackSerdeOptions): Options {
  const result: Record<string, unknown> = {}
  // Only the options above reach msgpackr (not, say, `sequential` from an untyped caller), and only
  // when defined: msgpackr copies every property onto its instance, and an undefined one would hide
  // msgpackr's default.
  for (const name of passedThrough) if (options[name] !== undefined) result[name] = options[name]
  result.useRecords = options.useRecords ?? options.structuredClone === true
  result.copyBuffers = options.copyBuffers ?? true
  // A cast, since msgpackr's types lack int64AsType 'auto', which its decoder supports.
  return result as Options
}

/**
 * A serde of values as MessagePack, with msgpackr. One record is exactly one MessagePack value:
 * bytes that end inside a value, bytes left over after it, the byte 0xc1 (never used in
 * MessagePack) and unknown extension types are SerdeErrors naming the topic and whether the key or
 * the value failed. Values MessagePack cannot hold (symbols, bigints beyond 64 bits) are
 * SerdeErrors on serialize. There is no validation: `T` is what the caller says the bytes hold.
 *
 * Round trips by default: null, booleans, numbers (NaN and ±Infinity included, -0 is read as 0),
 * strings, bigints within 64 bits, Dates, Uint8Arrays (read back as Buffers), arrays and plain
 * objects. Maps are written as maps and read back as objects; keep them with `useRecords` or
 * `structuredClone`. Strings with invalid UTF-8 are read with replacement characters (msgpackr does
 * not check them).
 *
 * @example
 * import { serdes } from '@kstreams/core'
 * import { msgpackSerde } from '@kstreams/serde-msgpack'
 *
 * interface Reading {
 *   sensor: string
 *   at: Date
 *   values: number[]
 * }
 * builder.addSource('readings', {
 *   topics: ['readings'],
 *   keySerde: serdes.string(),
 *   valueSerde: msgpackSerde<Reading>(),
 * })
 */
export function msgpackSerde<T = unknown>(options: MsgpackSerdeOptions = {}): Serde<T> {
  // Each constructor gets its own options object: Unpackr's writes defaults into the one it gets.
  const packr = new Packr(msgpackrOptions(options))
  const unpackr = new Unpackr(msgpackrOptions(options))
  return {
    serialize(value, context) {
      let packed: Uint8Array
      try {
        packed = packr.pack(value)
      } catch (error) {
        throw new SerdeError(
          `cannot write ${context.target} for topic "${context.topic}" as MessagePack: ${errorMessage(error)}`,
          { cause: error, context: { topic: context.topic, target: context.target } },
        )
      }
      // msgpackr returns a view into a buffer of 8 KiB or more that every Packr of the process
      // writes its next values into: a copy of exactly the value's size does not keep it alive.
      return new Uint8Array(packed)
    },
    deserialize(bytes, context) {
      let value: unknown
      try {
        // A Buffer view of the same memory (no copy): binary values are then read as Buffers
        // whatever the caller passed, and msgpackr caches its DataView on this view, not on the
        // caller's array.
        value = unpackr.unpack(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
      } catch (error) {
        if (leftOver.test(errorMessage(error))) {
          throw readError(
            context,
            bytes,
            'bytes are left over after the first value (a record holds one value)',
          )
        }
        throw readError(context, bytes, errorMessage(error), error)
      }
      // Only a 0xc1 byte can produce the marker, so bytes without one skip the walk.
      if (bytes.includes(0xc1) && holdsNeverUsed(value)) {
        throw readError(context, bytes, 'it holds the byte 0xc1, which MessagePack never uses')
      }
      return value as T
    },
  }
}
