// The values a join store holds under one key and time: a count (4 bytes, big-endian), then each
// value's length (4 bytes) and bytes. Several records of one key may share a timestamp, and each
// of them must join, as in Kafka Streams' join stores that retain duplicates.
import { SerdeError } from '../../errors.js'
import type { Serde, SerdeContext } from '../../serde.js'
import { readUint32, writeUint32 } from '../../state/key-bytes.js'

/** `serde.serialize`, for bytes a join needs (a key to look up, a value to store): null is an error. */
export function serializeNonNull<V>(
  serde: Serde<V>,
  value: V,
  context: SerdeContext,
  what: string,
): Uint8Array {
  const bytes = serde.serialize(value, context)
  if (bytes === null) {
    throw new SerdeError(`${what} serialized to null; a join needs its bytes (${context.topic})`, {
      context: { topic: context.topic },
    })
  }
  return bytes
}

export function listSerde<V>(inner: Serde<V>): Serde<V[]> {
  return {
    serialize(values, context) {
      const parts = values.map((value) => serializeNonNull(inner, value, context, 'a joined value'))
      const out = new Uint8Array(4 + parts.reduce((total, part) => total + 4 + part.byteLength, 0))
      writeUint32(out, 0, parts.length)
      let offset = 4
      for (const part of parts) {
        writeUint32(out, offset, part.byteLength)
        out.set(part, offset + 4)
        offset += 4 + part.byteLength
      }
      return out
    },
    deserialize(bytes, context) {
      if (bytes.byteLength < 4) {
        throw new SerdeError(`a join store entry needs at least 4 bytes, got ${bytes.byteLength}`, {
          context: { topic: context.topic },
        })
      }
      const count = readUint32(bytes, 0)
      const values: V[] = []
      let offset = 4
      for (let index = 0; index < count; index += 1) {
        const length = readUint32(bytes, offset)
        values.push(inner.deserialize(bytes.subarray(offset + 4, offset + 4 + length), context))
        offset += 4 + length
      }
      return values
    },
  }
}
