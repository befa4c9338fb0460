// avsc 5.7 reads and writes `long` zig-zag varints with floating-point arithmetic, which is exact
// only up to 2⁵²: a negative long from −2⁵³ to −2⁵² is written as another number, and such a long
// written by any other client is read back as a positive number, silently. This long type keeps
// avsc's fast path where it is exact and goes through a BigInt elsewhere, using avsc's own
// byte-exact 8-byte packing. Values stay JavaScript numbers; beyond ±(2⁵³−1) they are refused.

import type { Type } from 'avsc'
import avro from 'avsc'
import type { AvroTypeOptions } from './avro-schema.js'

// The parts of avsc's internal Tap (its read/write cursor) this type uses.
interface Tap {
  buf: Buffer
  pos: number
  isValid(): boolean
  readLong(): number
  writeLong(value: number): void
  unpackLongBytes(): Buffer
  packLongBytes(bytes: Buffer): void
}

// Where avsc's float arithmetic is exact: |2n + 1| stays below 2⁵³.
const exactLimit = 2 ** 52
const minimum = BigInt(Number.MIN_SAFE_INTEGER)
const maximum = BigInt(Number.MAX_SAFE_INTEGER)

const LongType = avro.types.LongType as unknown as new () => Type

class ExactLongType extends LongType {
  _check(value: unknown, _flags: unknown, hook?: (value: unknown, type: Type) => void): boolean {
    const valid = typeof value === 'number' && Number.isSafeInteger(value)
    if (!valid && hook !== undefined) hook(value, this)
    return valid
  }

  _read(tap: Tap): number | undefined {
    // A varint of up to 7 bytes holds less than 2⁴⁹: avsc reads it exactly, and fast.
    const { buf, pos } = tap
    let end = pos
    while (end - pos < 7 && (buf[end] ?? 0) & 0x80) end++
    if (end - pos < 7) return tap.readLong()
    const bytes = tap.unpackLongBytes()
    // Past the end of the input: avsc reports the truncation itself.
    if (!tap.isValid()) return undefined
    const value = bytes.readBigInt64LE()
    if (value < minimum || value > maximum) {
      throw new Error(`long ${value} does not fit in a JavaScript number without losing precision`)
    }
    return Number(value)
  }

  _write(tap: Tap, value: unknown): void {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      throw new Error(`invalid "long": ${String(value)}`)
    }
    if (value >= -exactLimit && value <= exactLimit) {
      tap.writeLong(value)
      return
    }
    const bytes = Buffer.alloc(8)
    bytes.writeBigInt64LE(BigInt(value))
    tap.packLongBytes(bytes)
  }
}

const exactLong = new ExactLongType()

/**
 * `typeOptions` with a `typeHook` that gives every `long` (other than the underlying type of a
 * registered logical type) the exact long type. A `typeHook` of the caller runs first, and a `long`
 * of the caller in `registry` (avsc's way to plug in a long type) turns the exact long off.
 */
export function withExactLongs(typeOptions: AvroTypeOptions): AvroTypeOptions {
  if (typeOptions.registry?.long !== undefined) return typeOptions
  const callerHook = typeOptions.typeHook
  return {
    ...typeOptions,
    typeHook: (schema, options) => {
      const own = callerHook?.(schema, options)
      if (own !== undefined) return own
      if (schema === 'long') return exactLong
      if (typeof schema !== 'object' || schema === null || (schema as { type?: unknown }).type !== 'long') {
        return undefined
      }
      const { logicalType } = schema as { logicalType?: unknown }
      // A registered logical type is built by avsc around its own long.
      if (typeof logicalType === 'string' && options.logicalTypes?.[logicalType] !== undefined)
        return undefined
      return exactLong
    },
  }
}
