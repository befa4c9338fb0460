// lmdb-js bounds differ from the contract's (in reverse, start is the upper bound, and inclusion
// flags flip), so every kind of bound is compared with the memory backend, in both directions.
import {
  type BackendEntry,
  type BackendRangeOptions,
  createMemoryBackend,
  type StoreBackend,
} from '@kstreams/core'
import { describe, expect, it } from 'vitest'
import { createLmdbBackend, lmdbMaxKeyBytes } from '../src/index.js'
import { contextFor, temporaryDirectory } from './helpers.js'

/** Deterministic numbers in [0, 1), so that a failing case comes back on every run. */
function createRandom(seed: number): () => number {
  let state = seed
  return () => {
    state ^= state << 13
    state >>>= 0
    state ^= state >>> 17
    state ^= state << 5
    state >>>= 0
    return state / 0x1_0000_0000
  }
}

async function keysOf(entries: Iterable<BackendEntry> | AsyncIterable<BackendEntry>): Promise<string[]> {
  const keys: string[] = []
  for await (const { key } of entries) keys.push(Buffer.from(key).toString('hex'))
  return keys
}

function describeOptions(options: BackendRangeOptions): string {
  const show = (bound: Uint8Array | undefined) =>
    bound === undefined
      ? '-'
      : bound.length > 16
        ? `${bound.length} bytes`
        : Buffer.from(bound).toString('hex')
  return `from ${show(options.from)} to ${show(options.to)}${options.reverse ? ' reverse' : ''}`
}

describe('ranges match the memory backend', () => {
  it('for bounds on, next to, between, below and above the keys, and longer than any key', async () => {
    const random = createRandom(0x1dbe)
    const edges = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff]
    const keys = new Map<string, Uint8Array>()
    const add = (key: Uint8Array) => keys.set(Buffer.from(key).toString('hex'), key)
    add(Uint8Array.of(0x00))
    add(Uint8Array.of(0xff))
    add(new Uint8Array(lmdbMaxKeyBytes).fill(0x42))
    add(new Uint8Array(lmdbMaxKeyBytes).fill(0xff))
    while (keys.size < 200) {
      const key = new Uint8Array(1 + Math.floor(random() * 4))
      for (let index = 0; index < key.length; index += 1)
        key[index] = edges[Math.floor(random() * edges.length)]!
      add(key)
    }
    const stored = [...keys.values()]

    const lmdb = await createLmdbBackend().open(contextFor(await temporaryDirectory()))
    const memory: StoreBackend = await createMemoryBackend().open(contextFor('unused'))
    try {
      const batch = stored.map((key) => ({ key, value: key }))
      await lmdb.write(batch)
      await memory.write(batch)

      const bound = (): Uint8Array | undefined => {
        const key = stored[Math.floor(random() * stored.length)]!
        switch (Math.floor(random() * 7)) {
          case 0:
            return undefined
          case 1:
            return key
          case 2:
            // The next possible key after a stored one.
            return Uint8Array.from([...key, 0x00])
          case 3:
            // A prefix of a stored key, possibly empty.
            return key.subarray(0, Math.floor(random() * key.length))
          case 4:
            // Longer than LMDB can seek to, right after or right before a stored key.
            return Uint8Array.from([
              ...new Uint8Array(lmdbMaxKeyBytes).fill(random() < 0.5 ? 0x42 : 0xff),
              0x00,
            ])
          case 5:
            return Uint8Array.from([
              ...new Uint8Array(lmdbMaxKeyBytes).fill(0x42).subarray(0, lmdbMaxKeyBytes - 1),
              0x43,
              1,
            ])
          default:
            return Uint8Array.from({ length: 1 + Math.floor(random() * 3) }, () => Math.floor(random() * 256))
        }
      }

      for (let round = 0; round < 600; round += 1) {
        const from = bound()
        const to = bound()
        const options: BackendRangeOptions = {
          ...(from === undefined ? {} : { from }),
          ...(to === undefined ? {} : { to }),
          reverse: round % 2 === 1,
        }
        expect(await keysOf(lmdb.range(options)), describeOptions(options)).toEqual(
          await keysOf(memory.range(options)),
        )
      }
    } finally {
      await lmdb.close()
      await memory.close()
    }
  })

  it('a scan stopped early releases its snapshot: later writes are seen by new scans', async () => {
    const backend = await createLmdbBackend().open(contextFor(await temporaryDirectory()))
    try {
      await backend.write([1, 2, 3].map((byte) => ({ key: Uint8Array.of(byte), value: Uint8Array.of(byte) })))
      for await (const _entry of backend.range()) break
      await backend.write([{ key: Uint8Array.of(4), value: Uint8Array.of(4) }])
      expect(await keysOf(backend.range())).toEqual(['01', '02', '03', '04'])
      expect(await keysOf(backend.range({ reverse: true }))).toEqual(['04', '03', '02', '01'])
    } finally {
      await backend.close()
    }
  })
})
