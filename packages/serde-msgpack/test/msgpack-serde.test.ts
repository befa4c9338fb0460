import { KStreamsError, type SerdeContext, SerdeError } from '@kstreams/core'
import { Packr, Unpackr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { msgpackSerde } from '../src/index.js'

const valueContext: SerdeContext = { topic: 'readings', target: 'value', headers: [] }
const keyContext: SerdeContext = { topic: 'readings', target: 'key', headers: [] }
const hex = (bytes: Uint8Array | null) => Buffer.from(bytes!).toString('hex')

/** The error `fn` throws; fails when it throws nothing. */
function thrownBy(fn: () => unknown): Error {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(Error)
    return error as Error
  }
  return expect.fail('expected a throw')
}

describe('msgpackSerde', () => {
  it('writes standard MessagePack by default, which other decoders read', () => {
    const serde = msgpackSerde()
    // A map 16 header (de 0002) for objects, unless variableMapSize asks for the smallest header.
    expect(hex(serde.serialize({ a: 1, b: [true, null, 'x'] }, valueContext))).toBe(
      'de0002a16101a16293c3c0a178',
    )
    expect(hex(serde.serialize(-1, valueContext))).toBe('ff')
    expect(hex(serde.serialize(1.5, valueContext))).toBe('cb3ff8000000000000')
    // A decoder without msgpackr's extensions (useRecords false, no structured clone) reads it.
    const plain = new Unpackr({ useRecords: false })
    expect(plain.unpack(Buffer.from(serde.serialize({ nested: { list: [1, 2] } }, valueContext)!))).toEqual({
      nested: { list: [1, 2] },
    })
    // And it reads what another encoder wrote as standard MessagePack: fixmap {"id": uint64 2^63}.
    const foreign = Buffer.from('81a26964cf8000000000000000', 'hex')
    expect(serde.deserialize(foreign, valueContext)).toEqual({ id: 2n ** 63n })
  })

  it('returns bytes of exactly their size, not a view into msgpackr’s shared buffer', () => {
    const bytes = msgpackSerde().serialize({ id: 'a' }, valueContext)!
    expect(bytes.byteOffset).toBe(0)
    expect(bytes.buffer.byteLength).toBe(bytes.byteLength)
  })

  it('rejects bytes left over after the value, without quoting the value in the message', () => {
    const serde = msgpackSerde()
    const packed = serde.serialize({ secret: 'card-number' }, valueContext)!
    const error = thrownBy(() => serde.deserialize(Buffer.concat([packed, Buffer.of(0x00)]), valueContext))
    expect(error).toBeInstanceOf(SerdeError)
    expect(error.message).toBe(
      `cannot read value of topic "readings" as MessagePack (${packed.byteLength + 1} byte(s)): ` +
        'bytes are left over after the first value (a record holds one value)',
    )
    expect(error.cause).toBeUndefined()
    expect(JSON.stringify((error as SerdeError).context)).not.toContain('card-number')
  })

  it('rejects truncated bytes, naming the topic and the target', () => {
    const serde = msgpackSerde()
    const packed = serde.serialize({ id: 'a', values: [1, 2, 3] }, valueContext)!
    const error = thrownBy(() => serde.deserialize(packed.subarray(0, -1), keyContext))
    expect(error).toBeInstanceOf(SerdeError)
    expect(KStreamsError.isInstance(error) && error.code).toBe('KSTREAMS_SERDE')
    expect(error.message).toMatch(/^cannot read key of topic "readings" as MessagePack \(\d+ byte\(s\)\): .+/)
    expect((error as SerdeError).context).toEqual({ topic: 'readings', target: 'key' })
    expect(() => serde.deserialize(new Uint8Array(0), valueContext)).toThrow(/0 byte\(s\)/)
  })

  it('rejects the byte 0xc1 wherever it stands for a value, and only there', () => {
    const serde = msgpackSerde({ useRecords: true })
    for (const bytes of ['c1', '92c0c1', '81a161c1', '81c1a161']) {
      const error = thrownBy(() => serde.deserialize(Buffer.from(bytes, 'hex'), valueContext))
      expect(error).toBeInstanceOf(SerdeError)
      expect(error.message).toContain('it holds the byte 0xc1, which MessagePack never uses')
    }
    // 0xc1 inside binary data, a string, or a number is data, not a value.
    const value = { bin: Buffer.of(0xc1), text: 'Ác', number: 0xc1, float: -3.0000000000000004 }
    const bytes = serde.serialize(value, valueContext)!
    expect(bytes.includes(0xc1)).toBe(true)
    expect(serde.deserialize(bytes, valueContext)).toEqual(value)
    // A cyclic structured clone that holds 0xc1 as data is walked without looping.
    const cyclic: { data: Buffer; self?: unknown } = { data: Buffer.of(0xc1, 0xc1) }
    cyclic.self = cyclic
    const clone = msgpackSerde<typeof cyclic>({ structuredClone: true })
    const read = clone.deserialize(clone.serialize(cyclic, valueContext)!, valueContext)
    expect(read.self).toBe(read)
  })

  it('rejects extension types nobody registered', () => {
    expect(() => msgpackSerde().deserialize(Buffer.from('d40500', 'hex'), valueContext)).toThrow(
      'cannot read value of topic "readings" as MessagePack (3 byte(s)): Unknown extension 5',
    )
  })

  it('refuses to write values MessagePack cannot hold, unless an option allows them', () => {
    const serde = msgpackSerde()
    const tooLarge = thrownBy(() => serde.serialize(2n ** 64n, valueContext))
    expect(tooLarge).toBeInstanceOf(SerdeError)
    expect(tooLarge.message).toMatch(/^cannot write value for topic "readings" as MessagePack: .*too large/)
    expect(tooLarge.cause).toBeInstanceOf(RangeError)
    expect(() => serde.serialize(Symbol('x'), keyContext)).toThrow(
      /^cannot write key for topic "readings" as MessagePack: /,
    )
    const extended = msgpackSerde({ useBigIntExtension: true })
    expect(extended.deserialize(extended.serialize(2n ** 100n, valueContext)!, valueContext)).toBe(2n ** 100n)
  })

  it('reads Maps as objects by default, and keeps them with records or mapsAsObjects false', () => {
    const map = new Map<unknown, unknown>([['a', 1]])
    const plain = msgpackSerde()
    expect(plain.deserialize(plain.serialize(map, valueContext)!, valueContext)).toEqual({ a: 1 })
    const records = msgpackSerde({ useRecords: true })
    expect(records.deserialize(records.serialize({ m: map }, valueContext)!, valueContext)).toEqual({
      m: map,
    })
    const maps = msgpackSerde({ mapsAsObjects: false })
    expect(maps.deserialize(maps.serialize({ a: 1 }, valueContext)!, valueContext)).toEqual(map)
  })

  it('reads 64-bit integers as int64AsType says', () => {
    const big = Buffer.from('cf0000000000000005', 'hex')
    const huge = Buffer.from('cf0020000000000001', 'hex')
    expect(msgpackSerde().deserialize(big, valueContext)).toBe(5n)
    expect(msgpackSerde({ int64AsType: 'number' }).deserialize(big, valueContext)).toBe(5)
    expect(msgpackSerde({ int64AsType: 'string' }).deserialize(big, valueContext)).toBe('5')
    expect(msgpackSerde({ int64AsType: 'auto' }).deserialize(big, valueContext)).toBe(5)
    expect(msgpackSerde({ int64AsType: 'auto' }).deserialize(huge, valueContext)).toBe(2n ** 53n + 1n)
  })

  it('copies binary values out of the record by default', () => {
    const serde = msgpackSerde<{ bin: Buffer }>()
    const bytes = serde.serialize({ bin: Buffer.of(1, 2, 3) }, valueContext)!
    const copied = serde.deserialize(bytes, valueContext)
    expect(copied.bin).toBeInstanceOf(Buffer)
    expect(copied.bin.buffer).not.toBe(bytes.buffer)
    bytes.fill(0)
    expect([...copied.bin]).toEqual([1, 2, 3])

    const views = msgpackSerde<{ bin: Buffer }>({ copyBuffers: false })
    const viewBytes = views.serialize({ bin: Buffer.of(1, 2, 3) }, valueContext)!
    expect(views.deserialize(viewBytes, valueContext).bin.buffer).toBe(viewBytes.buffer)
  })

  it('does not attach anything to the bytes it reads', () => {
    const serde = msgpackSerde()
    const bytes = serde.serialize([1, 2], valueContext)!
    serde.deserialize(bytes, valueContext)
    expect(Object.keys(bytes)).toEqual(['0', '1', '2'])
    expect('dataView' in bytes).toBe(false)
  })

  it('passes through the other options', () => {
    const date = new Date('2024-01-01T00:00:00.123Z')
    const truncated = msgpackSerde({ useTimestamp32: true })
    expect(truncated.deserialize(truncated.serialize(date, valueContext)!, valueContext)).toEqual(
      new Date('2024-01-01T00:00:00.000Z'),
    )
    const nil = msgpackSerde({ encodeUndefinedAsNil: true })
    expect(nil.deserialize(nil.serialize([undefined], valueContext)!, valueContext)).toEqual([null])
    class Money {
      cents = 1250
      toJSON() {
        return `${this.cents / 100} EUR`
      }
    }
    const withToJSON = msgpackSerde()
    expect(withToJSON.deserialize(withToJSON.serialize(new Money(), valueContext)!, valueContext)).toBe(
      '12.5 EUR',
    )
    const own = msgpackSerde({ useToJSON: false })
    expect(own.deserialize(own.serialize(new Money(), valueContext)!, valueContext)).toEqual({ cents: 1250 })
    const compact = msgpackSerde({ variableMapSize: true })
    expect(hex(compact.serialize({ a: 1 }, valueContext))).toBe('81a16101')
    const typed = msgpackSerde({ moreTypes: true })
    expect(typed.deserialize(typed.serialize(new Set([1]), valueContext)!, valueContext)).toEqual(
      new Set([1]),
    )
  })

  it('offers no option that makes one record depend on another', () => {
    // An untyped caller's sequential mode would let one record refer to structures of an earlier one.
    const options = { sequential: true, structures: [] } as Record<string, unknown>
    const writer = msgpackSerde(options)
    writer.serialize({ a: 1, b: 2 }, valueContext)
    const second = writer.serialize({ a: 3, b: 4 }, valueContext)!
    expect(msgpackSerde().deserialize(second, valueContext)).toEqual({ a: 3, b: 4 })
  })

  it('reads -0 as 0, a limit of MessagePack integers', () => {
    const serde = msgpackSerde()
    expect(Object.is(serde.deserialize(serde.serialize(-0, valueContext)!, valueContext), 0)).toBe(true)
    // The same options object may be given to many serdes: msgpackr does not change it.
    const options = { useRecords: false }
    msgpackSerde(options)
    expect(options).toEqual({ useRecords: false })
  })

  it('writes values msgpackr’s own Packr reads with the same options', () => {
    const value = { id: 'r-1', at: new Date(1_700_000_000_123), samples: [1.5, -2, 3n] }
    const serde = msgpackSerde({ useRecords: true })
    expect(
      new Packr({ useRecords: true }).unpack(Buffer.from(serde.serialize(value, valueContext)!)),
    ).toEqual(value)
  })
})
