import type { Headers } from './record.js'

/** What a serde knows about the bytes it handles. */
export interface SerdeContext {
  topic: string
  /** Whether the bytes are the record's key or its value. */
  target: 'key' | 'value'
  headers: Headers
}

/**
 * Turns values into bytes and back. Null bytes never reach `deserialize`: a record whose key or
 * value bytes are null carries `null` (a tombstone, for values), and `serialize` may return `null`
 * to write one.
 *
 * @example
 * const upper: Serde<string> = {
 *   serialize: (value) => Buffer.from(value.toUpperCase()),
 *   deserialize: (bytes) => Buffer.from(bytes).toString('utf8'),
 * }
 */
export interface Serde<T> {
  /** Bytes for `value`; `null` writes a null key or a tombstone. */
  serialize(value: T, context: SerdeContext): Uint8Array | null
  /** The value of `bytes`. Throw on bytes it cannot read; the runtime wraps it in a SerdeError. */
  deserialize(bytes: Uint8Array, context: SerdeContext): T
}

/** The type a serde handles. */
export type SerdeType<S> = S extends Serde<infer T> ? T : never
