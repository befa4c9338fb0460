// The JSON the query server and client exchange. Plain JSON, with three tags for what JSON lacks:
// `{"$bigint":"123"}` (int64 serdes give bigints), `{"$bytes":"<base64>"}` (byte keys and values)
// and `{"$object":{…}}` around a user object that has a single `$`-key of its own, so that it is
// never mistaken for a tag. Keys travel in query strings as this JSON, e.g. `key=%22hello%22`.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** A value as wire JSON (undefined becomes null). */
export function toWire(value: unknown): Json {
  if (value === undefined || value === null) return null
  if (typeof value === 'bigint') return { $bigint: value.toString() }
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('base64') }
  if (Array.isArray(value)) return value.map(toWire)
  if (value instanceof Date) return value.toISOString()
  if (typeof value === 'object') {
    const out: { [key: string]: Json } = {}
    const keys = Object.keys(value)
    for (const key of keys) out[key] = toWire((value as { [key: string]: unknown })[key])
    return keys.length === 1 && keys[0]!.startsWith('$') ? { $object: out } : out
  }
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value)
  return value as Json
}

/** The value that `toWire` encoded. */
export function fromWire(json: unknown): unknown {
  if (json === null || typeof json !== 'object') return json
  if (Array.isArray(json)) return json.map(fromWire)
  const record = json as { [key: string]: unknown }
  const keys = Object.keys(record)
  if (keys.length === 1) {
    const tag = keys[0]!
    const inner = record[tag]
    if (tag === '$bigint' && typeof inner === 'string') return BigInt(inner)
    if (tag === '$bytes' && typeof inner === 'string') return new Uint8Array(Buffer.from(inner, 'base64'))
    if (tag === '$object' && inner !== null && typeof inner === 'object') {
      const out: { [key: string]: unknown } = {}
      for (const [key, value] of Object.entries(inner)) out[key] = fromWire(value)
      return out
    }
  }
  const out: { [key: string]: unknown } = {}
  for (const key of keys) out[key] = fromWire(record[key])
  return out
}

/** Wire JSON text of a value. */
export function stringifyWire(value: unknown): string {
  return JSON.stringify(toWire(value))
}

/** Lowercase hex of bytes: its string order is the bytes' order, so entries merge without serdes. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/** The bytes of lowercase or uppercase hex; undefined when `text` is not hex. */
export function fromHex(text: string): Uint8Array | undefined {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return undefined
  return new Uint8Array(Buffer.from(text, 'hex'))
}
