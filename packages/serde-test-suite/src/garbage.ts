// The byte strings the garbage case feeds to deserialize. Without a `garbage` option the suite makes
// a generic set. It cannot know the format, so every generic input is built to be invalid in the
// common formats, and the README says when a format needs its own list.
import { createRandom, hex, randomBytes } from './bytes.js'

/** A byte string the serde must reject, with the words failure messages name it by. */
export interface LabelledBytes {
  label: string
  bytes: Uint8Array
}

// Lengths that are no multiple of 4 or 8, so fixed-width formats (int32, int64, float64) cannot read
// them; one of them is long enough that a length-prefixed format is unlikely to match it exactly.
const randomLengths = [3, 7, 13, 61]
const randomSeed = 0x5e7de

function labelledRandomGarbage(): LabelledBytes[] {
  const random = createRandom(randomSeed)
  return randomLengths.map((length) => {
    const bytes = randomBytes(random, length)
    bytes[0] = 0xff
    return { label: `${length} pseudo-random bytes starting with 0xff`, bytes }
  })
}

/**
 * The pseudo-random part of the default garbage: byte strings of 3, 7, 13 and 61 bytes from a fixed
 * seed (the same bytes on every run), each starting with 0xff, a byte that begins no UTF-8 text and
 * no JSON document, and that MessagePack reads as a whole value (-1), leaving the other bytes over.
 * Useful to add to a `garbage` option of your own.
 *
 * @example
 * serdeTestSuite(it, () => csvSerde(), {
 *   samples: [['a', 'b'], []],
 *   garbage: [...randomGarbage(), new TextEncoder().encode('"unclosed')],
 * })
 */
export function randomGarbage(): Uint8Array[] {
  return labelledRandomGarbage().map(({ bytes }) => bytes)
}

/**
 * The generic garbage: the random byte strings, every serialized sample of 2 bytes or more without
 * its last byte, and the empty byte string when no sample serialized to empty bytes (taken as a sign
 * that the format has no empty encoding). A truncation that equals the serialization of a sample is
 * left out, since it is valid by definition.
 */
export function defaultGarbage(serializedSamples: ReadonlyArray<Uint8Array | null>): LabelledBytes[] {
  const valid = new Set<string>()
  for (const bytes of serializedSamples) if (bytes !== null) valid.add(hex(bytes))
  const garbage = labelledRandomGarbage()
  const seen = new Set<string>()
  serializedSamples.forEach((bytes, index) => {
    if (bytes === null || bytes.byteLength < 2) return
    const truncated = bytes.slice(0, -1)
    const id = hex(truncated)
    if (valid.has(id) || seen.has(id)) return
    seen.add(id)
    garbage.push({ label: `the serialization of samples[${index}] without its last byte`, bytes: truncated })
  })
  if (!valid.has('')) garbage.push({ label: 'empty bytes', bytes: new Uint8Array(0) })
  return garbage
}
