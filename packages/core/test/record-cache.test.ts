// The record cache's write-down: only dirty entries, in key order, and an entry replaced while the
// write was under way stays dirty for the next one.
import { expect, it } from 'vitest'
import { type CacheEntry, RecordCache } from '../src/state/record-cache.js'

const bytes = (text: string) => new TextEncoder().encode(text)

it('a flush writes the dirty entries in key order and keeps a newer value of a key written meanwhile dirty', async () => {
  const written: string[][] = []

  let during: (() => void) | undefined
  const cache = new RecordCache(1 << 20)
  const namespace = cache.namespace(async (dirty: Array<[string, CacheEntry]>) => {
    written.push(dirty.map(([key, entry]) => `${key}=${new TextDecoder().decode(entry.value!)}`))
    during?.()
  })
  namespace.putDirty('c', bytes('1'), 0, undefined)
  namespace.putClean('b', bytes('clean'))
  namespace.putDirty('a', bytes('1'), 0, undefined)
  namespace.putDirty('\u00ff', bytes('1'), 0, undefined) // byte 0xff sorts last
  namespace.putDirty('c', bytes('2'), 0, undefined)
  expect(namespace.dirtyCount).toBe(3)
  during = () => namespace.putDirty('a', bytes('3'), 0, undefined)
  await namespace.flush()
  expect(written).toEqual([['a=1', 'c=2', '\u00ff=1']])
  expect(namespace.dirtyCount).toBe(1)
  during = undefined
  namespace.evict('c')
  await namespace.flush()
  expect(written[1]).toEqual(['a=3'])
  expect(namespace.dirtyCount).toBe(0)
  await namespace.flush()
  expect(written).toHaveLength(2)
  namespace.putDirty('d', bytes('1'), 0, undefined)
  namespace.evict('d') // a dirty entry dropped (close) is no longer counted
  expect(namespace.dirtyCount).toBe(0)
})
