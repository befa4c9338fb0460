// The record cache's write-down: only dirty entries, in key order, and an entry replaced while the
// write was under way stays dirty for the next one.
import { expect, it } from 'vitest'
import { CACHE_ENTRY_OVERHEAD, type CacheEntry, RecordCache } from '../src/state/record-cache.js'

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

it('evicts the least recently used entry: one read since it was last at the front saves it once', async () => {
  // Each entry: 1-char key + 1-byte value + the overhead; three fit, a fourth goes over.
  const cache = new RecordCache(3 * (2 + CACHE_ENTRY_OVERHEAD) + 10)
  const namespace = cache.namespace(async () => {})
  namespace.putClean('a', bytes('1'))
  namespace.putClean('b', bytes('1'))
  namespace.putClean('c', bytes('1'))
  expect(namespace.get('a')).toBeDefined()
  namespace.putClean('d', bytes('1'))
  expect(cache.overBudget).toBe(true)
  await cache.makeRoom()
  // "a" was read after it went in, so "b" (the oldest not used since) goes instead.
  expect([...namespace.entries.entries()].map(([key]) => key)).toEqual(['a', 'c', 'd'])
  const keys = () => [...namespace.entries.entries()].map(([key]) => key)
  namespace.putClean('e', bytes('1'))
  await cache.makeRoom()
  expect(keys()).toEqual(['a', 'd', 'e'])
  namespace.putClean('f', bytes('1'))
  await cache.makeRoom()
  expect(keys()).toEqual(['a', 'e', 'f'])
  // "a" had its second chance and was not read since: at the front again, it goes.
  namespace.putClean('g', bytes('1'))
  await cache.makeRoom()
  expect(keys()).toEqual(['e', 'f', 'g'])
})

it('does not evict an entry updated while its write-down for room ran, and a read never replaces a newer write', async () => {
  const written: string[] = []
  let during: (() => void) | undefined
  // Two entries fit, a third goes over.
  const cache = new RecordCache(2 * (2 + CACHE_ENTRY_OVERHEAD) + 10)
  const namespace = cache.namespace(async (dirty: Array<[string, CacheEntry]>) => {
    written.push(...dirty.map(([key, entry]) => `${key}=${new TextDecoder().decode(entry.value!)}`))
    await Promise.resolve()
    during?.()
  })
  namespace.putDirty('a', bytes('1'), 0, undefined)
  namespace.putDirty('b', bytes('1'), 0, undefined)
  // A read from the backend that answers after a write of the same key keeps the write.
  namespace.putClean('b', bytes('stale'))
  expect(new TextDecoder().decode(namespace.entries.get('b')!.value!)).toBe('1')
  during = () => {
    during = undefined
    namespace.putDirty('a', bytes('2'), 0, undefined)
  }
  namespace.putDirty('c', bytes('1'), 0, undefined)
  await cache.makeRoom()
  expect(written).toEqual(['a=1', 'b=1', 'c=1'])
  // "a" changed during the write-down: it stays, dirty, with its new value; "b" went instead.
  expect(namespace.get('a')?.dirty).toBe(true)
  expect(new TextDecoder().decode(namespace.get('a')!.value!)).toBe('2')
  expect(namespace.get('b')).toBeUndefined()
  await namespace.flush()
  expect(written.at(-1)).toBe('a=2')
})

it('a partial write-down writes the longest-dirty entries first, across namespaces, and no more than asked', async () => {
  const written: string[] = []
  const cache = new RecordCache(1 << 20)
  const record = (name: string) => async (dirty: Array<[string, CacheEntry]>) => {
    written.push(`${name}:${dirty.map(([key]) => key).join(',')}`)
  }
  const first = cache.namespace(record('first'))
  const second = cache.namespace(record('second'))
  first.putDirty('z', bytes('1'), 0, undefined)
  first.putDirty('a', bytes('1'), 0, undefined)
  first.putDirty('m', bytes('1'), 0, undefined)
  first.putDirty('z', bytes('2'), 0, undefined) // still dirty since the first write: stays first
  second.putDirty('b', bytes('1'), 0, undefined)
  expect(cache.dirtyCount).toBe(4)
  // The two longest-dirty of `first` (z, a), written in key order.
  expect(await cache.writeDown(2)).toBe(2)
  expect(written).toEqual(['first:a,z'])
  expect(cache.dirtyCount).toBe(2)
  // What is left of `first`, then `second`, within the limit.
  expect(await cache.writeDown(5)).toBe(2)
  expect(written).toEqual(['first:a,z', 'first:m', 'second:b'])
  expect(cache.dirtyCount).toBe(0)
  expect(await cache.writeDown(5)).toBe(0)
  expect(written).toHaveLength(3)
})

it('a write-down ahead of the commit takes only entries dirty since the given time or longer', async () => {
  const written: string[] = []
  const cache = new RecordCache(1 << 20)
  const namespace = cache.namespace(async (dirty) => {
    written.push(dirty.map(([key]) => key).join(','))
  })
  namespace.putDirty('old', bytes('1'), 0, undefined)
  const oldAt = cache.oldestDirtyAt!
  while (performance.now() === oldAt) {}
  const between = performance.now()
  while (performance.now() === between) {}
  namespace.putDirty('new', bytes('1'), 0, undefined)
  namespace.putDirty('old', bytes('2'), 0, undefined) // an update keeps the time it became dirty
  expect(cache.oldestDirtyAt).toBe(oldAt)
  expect(await cache.writeDown(10, between)).toBe(1)
  expect(written).toEqual(['old'])
  expect(cache.oldestDirtyAt).toBeGreaterThan(between)
  expect(await cache.writeDown(10, between)).toBe(0)
  expect(await cache.writeDown(10)).toBe(1)
  expect(written).toEqual(['old', 'new'])
  expect(cache.oldestDirtyAt).toBeUndefined()
})
