// Header names are bytes on the wire and strings in a record. Kafka expects UTF-8, but a producer
// may write anything; decoding with replacement characters would change the name, so a record
// forwarded or dead-lettered would no longer carry its original header. Each byte that is not
// part of valid UTF-8 becomes a lone surrogate U+DC80–U+DCFF instead (Python's
// "surrogateescape"), which valid UTF-8 never decodes to, and encoding turns it back into that byte.

const strict = new TextDecoder('utf-8', { fatal: true })
const encoder = new TextEncoder()

/** Length of the valid UTF-8 sequence at `index`, or 0 when the byte there starts none. */
function sequenceLength(bytes: Uint8Array, index: number): number {
  const lead = bytes[index]!
  if (lead < 0x80) return 1
  const continuation = (offset: number, low = 0x80, high = 0xbf) => {
    const byte = bytes[index + offset]
    return byte !== undefined && byte >= low && byte <= high
  }
  if (lead >= 0xc2 && lead <= 0xdf) return continuation(1) ? 2 : 0
  if (lead >= 0xe0 && lead <= 0xef) {
    const [low, high] = lead === 0xe0 ? [0xa0, 0xbf] : lead === 0xed ? [0x80, 0x9f] : [0x80, 0xbf]
    return continuation(1, low, high) && continuation(2) ? 3 : 0
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    const [low, high] = lead === 0xf0 ? [0x90, 0xbf] : lead === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf]
    return continuation(1, low, high) && continuation(2) && continuation(3) ? 4 : 0
  }
  return 0
}

/** A header name as a string: UTF-8, with each invalid byte kept as U+DC80 + (byte - 0x80). */
export function decodeHeaderName(bytes: Uint8Array): string {
  try {
    return strict.decode(bytes)
  } catch {
    let name = ''
    let index = 0
    while (index < bytes.length) {
      const length = sequenceLength(bytes, index)
      if (length === 0) {
        name += String.fromCharCode(0xdc00 + bytes[index]!)
        index += 1
      } else {
        name += strict.decode(bytes.subarray(index, index + length))
        index += length
      }
    }
    return name
  }
}

const escaped = /[\udc80-\udcff]/

/** The bytes of a header name: UTF-8, with the escapes of `decodeHeaderName` back as their bytes. */
export function encodeHeaderName(name: string): Uint8Array {
  if (!escaped.test(name)) return encoder.encode(name)
  const bytes: number[] = []
  let segment = ''
  for (let index = 0; index < name.length; index += 1) {
    const unit = name.charCodeAt(index)
    const previous = index > 0 ? name.charCodeAt(index - 1) : 0
    // A low surrogate after a high one is half of a real character, not an escape.
    if (unit >= 0xdc80 && unit <= 0xdcff && !(previous >= 0xd800 && previous <= 0xdbff)) {
      bytes.push(...encoder.encode(segment), unit - 0xdc00)
      segment = ''
    } else segment += name[index]
  }
  bytes.push(...encoder.encode(segment))
  return Uint8Array.from(bytes)
}
