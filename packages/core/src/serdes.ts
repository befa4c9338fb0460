// Built-in serdes. Wire formats match Kafka's own (Java) serializers, so topics can be shared with
// Kafka Streams and other clients: strings are UTF-8, integers big-endian two's complement,
// doubles IEEE 754 big-endian.
import { SerdeError } from './errors.js'
import type { Serde, SerdeContext } from './serde.js'

const decoder = new TextDecoder('utf-8', { fatal: true })

function fail(context: SerdeContext, expected: string, bytes: Uint8Array, cause?: unknown): never {
  throw new SerdeError(
    `cannot read ${context.target} of topic "${context.topic}" as ${expected}: got ${bytes.byteLength} byte(s)`,
    { cause, context: { topic: context.topic, target: context.target } },
  )
}

// Buffer's readers work on any Uint8Array (they only index it) and allocate nothing, unlike a DataView.
const readInt32 = Buffer.prototype.readInt32BE as (this: Uint8Array, offset: number) => number
const readBigInt64 = Buffer.prototype.readBigInt64BE as (this: Uint8Array, offset: number) => bigint
const readDouble = Buffer.prototype.readDoubleBE as (this: Uint8Array, offset: number) => number

/**
 * Marks the UTF-8 string serde: an ASCII string's bytes, read one char per byte (the stores'
 * binary-string keys), are the string itself, so a store can skip encoding such keys.
 */
export const utf8Text: unique symbol = Symbol('kstreams.utf8Text')

/** UTF-8 text. Invalid UTF-8 is an error, not replacement characters. */
export function string(): Serde<string> {
  const serde: Serde<string> & { [utf8Text]: true } = {
    [utf8Text]: true,
    // Buffer.from writes into Node's shared pool: for short strings ~10× faster than
    // TextEncoder.encode, which allocates an ArrayBuffer per call (same bytes, lone surrogates included).
    serialize: (value) => Buffer.from(value, 'utf8'),
    deserialize: (bytes, context) => {
      try {
        return decoder.decode(bytes)
      } catch (error) {
        return fail(context, 'UTF-8 text', bytes, error)
      }
    },
  }
  return serde
}

/** Raw bytes, passed through without a copy. */
export function bytes(): Serde<Uint8Array> {
  return {
    serialize: (value) => value,
    deserialize: (value) => value,
  }
}

/** Plain JSON (no schema, no validation). For validation use @kstreams/serde-json. */
export function json<T = unknown>(): Serde<T> {
  return {
    serialize: (value) => Buffer.from(JSON.stringify(value), 'utf8'),
    deserialize: (bytes, context) => {
      let text: string
      try {
        text = decoder.decode(bytes)
        return JSON.parse(text) as T
      } catch (error) {
        return fail(context, 'JSON', bytes, error)
      }
    },
  }
}

/** A 32-bit signed integer, 4 bytes big-endian (Kafka's IntegerSerializer). */
export function int32(): Serde<number> {
  return {
    serialize: (value, context) => {
      if (!Number.isInteger(value) || value < -2147483648 || value > 2147483647) {
        throw new SerdeError(
          `cannot write ${value} as int32 for topic "${context.topic}": not a 32-bit integer`,
          {
            context: { topic: context.topic, target: context.target },
          },
        )
      }
      const out = Buffer.allocUnsafe(4)
      out.writeInt32BE(value)
      return out
    },
    deserialize: (bytes, context) =>
      bytes.byteLength === 4 ? readInt32.call(bytes, 0) : fail(context, 'int32', bytes),
  }
}

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n
const int64ScratchBytes = new Uint8Array(8)
const int64Scratch = new DataView(int64ScratchBytes.buffer)

/** A 64-bit signed integer as bigint, 8 bytes big-endian (Kafka's LongSerializer). */
export function int64(): Serde<bigint> {
  return {
    serialize: (value, context) => {
      if (typeof value !== 'bigint' || value < INT64_MIN || value > INT64_MAX) {
        throw new SerdeError(
          `cannot write ${String(value)} as int64 for topic "${context.topic}": not a 64-bit bigint`,
          { context: { topic: context.topic, target: context.target } },
        )
      }
      // Through a DataView: Buffer's writeBigInt64BE builds four intermediate bigints per value.
      int64Scratch.setBigInt64(0, value)
      const out = Buffer.allocUnsafe(8)
      out.set(int64ScratchBytes)
      return out
    },
    deserialize: (bytes, context) =>
      bytes.byteLength === 8 ? readBigInt64.call(bytes, 0) : fail(context, 'int64', bytes),
  }
}

/** A double, 8 bytes IEEE 754 big-endian (Kafka's DoubleSerializer). */
export function float64(): Serde<number> {
  return {
    serialize: (value) => {
      const out = Buffer.allocUnsafe(8)
      out.writeDoubleBE(value)
      return out
    },
    deserialize: (bytes, context) =>
      bytes.byteLength === 8 ? readDouble.call(bytes, 0) : fail(context, 'float64', bytes),
  }
}

/** No data: writes null, reads nothing. Non-empty bytes are an error. */
export function voidSerde(): Serde<null> {
  return {
    serialize: () => null,
    deserialize: (bytes, context) =>
      bytes.byteLength === 0 ? null : fail(context, 'void (no bytes)', bytes),
  }
}

/** The built-in serdes, as `serdes.string()`, `serdes.int64()`… */
export const serdes = { string, bytes, json, int32, int64, float64, void: voidSerde } as const
