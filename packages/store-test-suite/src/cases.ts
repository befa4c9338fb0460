// The conformance cases. Each one opens its own backends through a TestScope, states what it expects
// through an ExpectedStore or literal keys, and names in `skipReason` the capability it needs.
import assert from 'node:assert/strict'
import {
  type BackendCapabilities,
  type BackendContext,
  type BackendRangeOptions,
  type BackendWrite,
  prefixUpperBound,
  type StoreBackend,
  type StoreBackendFactory,
} from '@kstreams/core'
import {
  bytes,
  copyBytes,
  createRandom,
  entryPairs,
  firstDifference,
  hex,
  hexOrMissing,
  randomBytes,
  text,
} from './bytes.js'
import { assertSameContent, ExpectedStore, read, readMany, scan, scanKeys, type TestScope } from './scope.js'

export interface CaseEnvironment {
  factory: StoreBackendFactory
  /** The capabilities of the first backend the suite opened. */
  capabilities: BackendCapabilities
  largeValueBytes: number
  backdoor: StoreBackdoor | undefined
}

/** Reads persisted data straight from the storage, not through the backend. */
export interface StoreBackdoor {
  read(context: BackendContext, key: Uint8Array): Promise<Uint8Array | undefined>
}

export interface SuiteCase {
  name: string
  /** Why the case does not apply to this backend, or undefined when it does. */
  skipReason?: (environment: CaseEnvironment) => string | undefined
  run: (scope: TestScope, environment: CaseEnvironment) => Promise<void>
}

const noReverse = ({ capabilities }: CaseEnvironment) =>
  capabilities.reverseRange ? undefined : 'capabilities.reverseRange is false'
const notPersistent = ({ capabilities }: CaseEnvironment) =>
  capabilities.persistent ? undefined : 'capabilities.persistent is false'

/** A put of `value` (text) at `key` (text). */
function put(key: string, value: string): BackendWrite {
  return { key: text(key), value: text(value) }
}

function remove(key: string): BackendWrite {
  return { key: text(key), value: null }
}

/** Keys `key-00` … `key-NN` with values `value-NN`, in an order other than sorted. */
function numberedKeys(count: number): BackendWrite[] {
  const writes: BackendWrite[] = []
  for (let index = count - 1; index >= 0; index -= 1) {
    const number = String(index).padStart(2, '0')
    writes.push(put(`key-${number}`, `value-${number}`))
  }
  return writes
}

/** Hex of the text keys, for comparing with scanKeys. */
function keysOf(...keys: string[]): string[] {
  return keys.map((key) => hex(text(key)))
}

function numbered(...numbers: number[]): string[] {
  return keysOf(...numbers.map((number) => `key-${String(number).padStart(2, '0')}`))
}

/**
 * `count` distinct random binary keys of 1 to 12 bytes (at most maxKeyBytes), drawn mostly from the
 * bytes where order bugs hide (0x00, 0x7f, 0x80, 0xff) so that many keys share prefixes.
 */
function randomKeys(random: () => number, count: number, maxKeyBytes: number | undefined): Uint8Array[] {
  const edges = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff]
  const longest = Math.min(12, maxKeyBytes ?? 12)
  const keys = new Map<string, Uint8Array>()
  while (keys.size < count) {
    const length = 1 + Math.floor(random() * longest)
    const key = new Uint8Array(length)
    for (let index = 0; index < length; index += 1) {
      key[index] = random() < 0.6 ? edges[Math.floor(random() * edges.length)]! : Math.floor(random() * 256)
    }
    keys.set(hex(key), key)
  }
  return [...keys.values()]
}

/** Writes `writes` in batches of `size`, applying them to `expected` too. */
async function writeInBatches(
  backend: StoreBackend,
  expected: ExpectedStore,
  writes: readonly BackendWrite[],
  size: number,
): Promise<void> {
  for (let start = 0; start < writes.length; start += size) {
    const batch = writes.slice(start, start + size)
    await backend.write(batch)
    expected.apply(batch)
  }
}

/** The entries written by the persistence cases: binary keys, an empty value, then deletes and overwrites. */
function persistenceWrites(): { initial: BackendWrite[]; changes: BackendWrite[] } {
  const initial: BackendWrite[] = []
  for (let index = 0; index < 40; index += 1) {
    initial.push({ key: bytes(0x00, index, 0xff), value: text(`value-${index}`) })
  }
  initial.push({ key: bytes(0xff), value: new Uint8Array(0) }, put('text-key', 'text value'))
  const changes: BackendWrite[] = []
  for (let index = 0; index < 40; index += 4) changes.push({ key: bytes(0x00, index, 0xff), value: null })
  for (let index = 1; index < 40; index += 8)
    changes.push({ key: bytes(0x00, index, 0xff), value: text('overwritten') })
  changes.push(put('put-then-deleted', 'gone'), remove('put-then-deleted'), remove('never-written'))
  return { initial, changes }
}

/** A scan that writes around its cursor at every step; checks what the contract promises about it. */
async function scanWhileWriting(scope: TestScope, reverse: boolean): Promise<void> {
  const backend = await scope.open()
  const expected = new ExpectedStore()
  // Even four-digit numbers: the keys written around the cursor (odd numbers with a suffix) are new
  // keys right behind or right ahead of it, and never collide with each other.
  const keyOf = (number: number, suffix = '') => text(`key-${number}${suffix}`)
  const original: BackendWrite[] = []
  for (let number = 1010; number < 1400; number += 2)
    original.push({ key: keyOf(number), value: text('original') })
  await writeInBatches(backend, expected, original, 100)

  const direction = reverse ? -1 : 1
  const deleted = new Set<string>()
  const seen: Uint8Array[] = []
  let writes = 0
  for await (const entry of backend.range({ reverse })) {
    seen.push(copyBytes(entry.key))
    // A backend that shows new keys to a running scan must still end it: bounded by the writes below.
    assert.ok(seen.length <= 2000, 'a scan during writes returned far more keys than were ever written')
    const match = /^key-(\d{4})$/.exec(new TextDecoder().decode(entry.key))
    if (match === null || writes >= 150) continue
    writes += 1
    const number = Number(match[1])
    const batch: BackendWrite[] = [
      // New keys right behind and right ahead of the cursor: where a scan that re-seeks goes wrong.
      { key: keyOf(number - direction, '-behind'), value: text('inserted behind') },
      { key: keyOf(number + direction, '-ahead'), value: text('inserted ahead') },
      { key: keyOf(number + 4 * direction), value: text('overwritten ahead') },
    ]
    if (writes % 3 === 0) batch.push({ key: keyOf(number + 6 * direction), value: null })
    await backend.write(batch)
    expected.apply(batch)
    for (const write of batch) if (write.value === null) deleted.add(hex(write.key))
  }
  assert.ok(writes >= 50, `the scan saw too few keys to write around (${writes})`)

  for (let index = 1; index < seen.length; index += 1) {
    const order = Buffer.compare(seen[index - 1]!, seen[index]!) * direction
    assert.ok(
      order < 0,
      `the scan returned ${hex(seen[index]!)} after ${hex(seen[index - 1]!)}: a key twice or out of order`,
    )
  }
  const seenKeys = new Set(seen.map(hex))
  for (const { key } of original) {
    const id = hex(key)
    if (!deleted.has(id)) assert.ok(seenKeys.has(id), `the scan skipped ${id}, a key no write touched`)
  }
  assert.deepEqual(entryPairs(await scan(backend)), expected.pairs(), 'the writes made during the scan')
}

export const cases: SuiteCase[] = [
  {
    name: 'declares contract version 1 and the same capabilities on every open',
    async run(scope, { capabilities, factory }) {
      const backend = await scope.open()
      assert.equal(backend.contractVersion, 1)
      // Store builders read factory.persistent before any backend is opened.
      assert.equal(factory.persistent, backend.capabilities.persistent, 'factory.persistent')
      assert.equal(typeof backend.capabilities.persistent, 'boolean', 'capabilities.persistent')
      assert.equal(typeof backend.capabilities.reverseRange, 'boolean', 'capabilities.reverseRange')
      for (const limit of ['maxKeyBytes', 'maxValueBytes'] as const) {
        const value = backend.capabilities[limit]
        if (value !== undefined) {
          assert.ok(Number.isInteger(value) && value > 0, `capabilities.${limit} must be a positive integer`)
        }
      }
      // The suite chose which cases to skip from the capabilities of the first backend it opened.
      assert.deepEqual({ ...backend.capabilities }, { ...capabilities })
    },
  },
  {
    name: 'get of a missing key returns undefined',
    async run(scope) {
      const backend = await scope.open()
      assert.equal(await read(backend, text('missing')), 'missing', 'empty store')
      assert.deepEqual(await readMany(backend, [text('missing')]), ['missing'])
      await backend.write([put('present', 'value')])
      assert.equal(await read(backend, text('missing')), 'missing', 'store with another key')
      assert.equal(await read(backend, text('presen')), 'missing', 'a prefix of a present key')
      assert.equal(await read(backend, text('present!')), 'missing', 'a present key plus a byte')
    },
  },
  {
    name: 'put, get and overwrite',
    async run(scope) {
      const backend = await scope.open()
      await backend.write([put('a', 'first')])
      assert.equal(await read(backend, text('a')), hexOrMissing(text('first')))
      await backend.write([put('b', 'other')])
      await backend.write([put('a', 'second, longer than the first')])
      assert.equal(await read(backend, text('a')), hexOrMissing(text('second, longer than the first')))
      await backend.write([put('a', '3')])
      assert.equal(await read(backend, text('a')), hexOrMissing(text('3')), 'overwrite with a shorter value')
      assert.equal(await read(backend, text('b')), hexOrMissing(text('other')), 'the other key')
    },
  },
  {
    name: 'getMany returns values in the order of the keys, undefined for missing ones',
    async run(scope) {
      const backend = await scope.open()
      await backend.write([put('a', '1'), put('c', '3'), put('b', '2')])
      assert.deepEqual(
        await readMany(backend, [text('c'), text('missing'), text('a'), text('a'), text('b')]),
        [
          hexOrMissing(text('3')),
          'missing',
          hexOrMissing(text('1')),
          hexOrMissing(text('1')),
          hexOrMissing(text('2')),
        ],
      )
      assert.deepEqual(await readMany(backend, []), [])
    },
  },
  {
    name: 'a batch applies its puts and deletes in order',
    async run(scope) {
      const backend = await scope.open()
      const expected = new ExpectedStore()
      const setup = [put('existing', 'old'), put('deleted-later', 'old')]
      await backend.write(setup)
      expected.apply(setup)
      const batch = [
        put('a', '1'),
        put('a', '2'),
        put('put-then-delete', 'x'),
        remove('put-then-delete'),
        remove('delete-then-put'),
        put('delete-then-put', 'back'),
        remove('existing'),
        put('existing', 'new'),
        remove('deleted-later'),
        put('b', 'kept'),
      ]
      await backend.write(batch)
      expected.apply(batch)
      assert.equal(await read(backend, text('a')), hexOrMissing(text('2')), 'the last put of a key wins')
      assert.equal(await read(backend, text('put-then-delete')), 'missing', 'put then delete in one batch')
      assert.equal(
        await read(backend, text('delete-then-put')),
        hexOrMissing(text('back')),
        'delete then put',
      )
      assert.equal(await read(backend, text('existing')), hexOrMissing(text('new')))
      assert.equal(await read(backend, text('deleted-later')), 'missing')
      await assertSameContent(backend, expected, 'after the batch')
      await backend.write([])
      await assertSameContent(backend, expected, 'after an empty batch')
    },
  },
  {
    name: 'deleting a missing key is not an error',
    async run(scope) {
      const backend = await scope.open()
      await backend.write([remove('never-written')])
      assert.equal(await read(backend, text('never-written')), 'missing')
      assert.equal(await backend.approximateCount(), 0)
      await backend.write([put('a', '1'), remove('a'), remove('a')])
      await backend.write([remove('a')])
      assert.equal(await read(backend, text('a')), 'missing')
      assert.deepEqual(await scan(backend), [])
    },
  },
  {
    name: 'an empty value is stored and returned as empty, distinct from a missing key',
    async run(scope) {
      const backend = await scope.open()
      await backend.write([{ key: text('empty'), value: new Uint8Array(0) }, put('full', 'x')])
      const value = await backend.get(text('empty'))
      assert.ok(value instanceof Uint8Array, 'get() of a key with an empty value must not be undefined')
      assert.equal(value.length, 0)
      assert.deepEqual(await readMany(backend, [text('empty'), text('missing')]), ['0x', 'missing'])
      assert.deepEqual(entryPairs(await scan(backend)), [
        `${hex(text('empty'))}=0x`,
        `${hex(text('full'))}=0x78`,
      ])
      assert.equal(await backend.approximateCount(), 2)
      await backend.write([{ key: text('full'), value: new Uint8Array(0) }])
      assert.equal(await read(backend, text('full')), '0x', 'overwritten with an empty value')
    },
  },
  {
    name: 'a large value round trips byte for byte',
    skipReason({ capabilities, largeValueBytes }) {
      const limit = capabilities.maxValueBytes
      return limit !== undefined && limit < largeValueBytes
        ? `capabilities.maxValueBytes ${limit} is below largeValueBytes ${largeValueBytes}`
        : undefined
    },
    async run(scope, { largeValueBytes }) {
      const backend = await scope.open()
      const large = randomBytes(createRandom(0x5eed), largeValueBytes)
      const original = copyBytes(large)
      await backend.write([{ key: text('large'), value: large }, put('small', 'x')])
      const check = (actual: Uint8Array | undefined, where: string) => {
        assert.ok(actual instanceof Uint8Array, `${where}: the large value is missing`)
        const difference = firstDifference(actual, original)
        assert.equal(
          difference,
          -1,
          `${where}: ${actual.length} bytes read for ${original.length} written, first difference at byte ${difference}`,
        )
      }
      check(await backend.get(text('large')), 'get()')
      check((await backend.getMany([text('large')]))[0], 'getMany()')
      check((await scan(backend, { from: text('large'), to: text('larger') }))[0]?.value, 'range()')
      await backend.write([put('large', 'now small')])
      assert.equal(
        await read(backend, text('large')),
        hexOrMissing(text('now small')),
        'overwritten by a small value',
      )
    },
  },
  {
    name: 'binary keys (0x00, 0xff, keys that are prefixes of each other) round trip',
    async run(scope) {
      const backend = await scope.open()
      const keys = [
        bytes(0x00),
        bytes(0x00, 0x00),
        bytes(0x00, 0x01),
        bytes(0x01),
        bytes(0x61),
        bytes(0x61, 0x00),
        bytes(0x61, 0x62),
        bytes(0x61, 0x62, 0x00),
        bytes(0x61, 0x62, 0x00, 0x00),
        bytes(0x7f),
        bytes(0x80),
        bytes(0xfe, 0xff),
        bytes(0xff),
        bytes(0xff, 0x00),
        bytes(0xff, 0xff),
        bytes(0xff, 0xff, 0xff),
        bytes(0xc3, 0x28),
      ]
      const writes = keys.map((key, index) => ({ key, value: bytes(index, 0x00, 0xff) }))
      await backend.write(writes)
      for (const { key, value } of writes)
        assert.equal(await read(backend, key), hexOrMissing(value), hex(key))
      assert.deepEqual(
        await readMany(backend, keys),
        writes.map(({ value }) => hexOrMissing(value)),
      )
      const expected = new ExpectedStore()
      expected.apply(writes)
      assert.deepEqual(entryPairs(await scan(backend)), expected.pairs())
    },
  },
  {
    name: 'a full scan returns keys in unsigned byte order (300 random binary keys)',
    async run(scope, { capabilities }) {
      const backend = await scope.open()
      const random = createRandom(300)
      const writes = randomKeys(random, 300, capabilities.maxKeyBytes).map((key, index) => ({
        key,
        value: text(`value-${index}`),
      }))
      const expected = new ExpectedStore()
      await writeInBatches(backend, expected, writes, 64)
      const sorted = writes.map(({ key }) => key).sort(Buffer.compare)
      assert.deepEqual(await scanKeys(backend), sorted.map(hex), 'keys sorted by Buffer.compare')
      assert.deepEqual(entryPairs(await scan(backend)), expected.pairs(), 'entries with their values')
    },
  },
  {
    name: 'a scan puts a shorter key before the longer keys it is a prefix of',
    async run(scope) {
      const backend = await scope.open()
      await backend.write([put('ab', '4'), put('b', '5'), put('a\u0000', '2'), put('aa', '3'), put('a', '1')])
      assert.deepEqual(await scanKeys(backend), keysOf('a', 'a\u0000', 'aa', 'ab', 'b'))
    },
  },
  {
    name: 'range includes from and excludes to',
    async run(scope) {
      const backend = await scope.open()
      await backend.write(numberedKeys(10))
      const range = (from: string, to: string) => scanKeys(backend, { from: text(from), to: text(to) })
      assert.deepEqual(await range('key-03', 'key-07'), numbered(3, 4, 5, 6), 'both bounds present')
      assert.deepEqual(await range('key-03a', 'key-07'), numbered(4, 5, 6), 'from between two keys')
      assert.deepEqual(await range('key-03', 'key-06a'), numbered(3, 4, 5, 6), 'to between two keys')
      assert.deepEqual(await range('key-03', 'key-04'), numbered(3), 'one key')
      assert.deepEqual(await range('key-03', 'key-03\u0000'), numbered(3), 'to is the next possible key')
      assert.deepEqual(await range('', 'key-02'), numbered(0, 1), 'from below every key')
      const values = await scan(backend, { from: text('key-08'), to: text('key-10') })
      assert.deepEqual(entryPairs(values), [
        `${hex(text('key-08'))}=${hexOrMissing(text('value-08'))}`,
        `${hex(text('key-09'))}=${hexOrMissing(text('value-09'))}`,
      ])
    },
  },
  {
    name: 'range with only from or only to',
    async run(scope) {
      const backend = await scope.open()
      await backend.write(numberedKeys(10))
      assert.deepEqual(await scanKeys(backend, { from: text('key-07') }), numbered(7, 8, 9), 'only from')
      assert.deepEqual(await scanKeys(backend, { from: text('key-09') }), numbered(9), 'from the last key')
      assert.deepEqual(await scanKeys(backend, { from: text('key-1') }), [], 'from after the last key')
      assert.deepEqual(await scanKeys(backend, { to: text('key-02') }), numbered(0, 1), 'only to')
      assert.deepEqual(await scanKeys(backend, { to: text('key-00') }), [], 'to the first key')
      assert.deepEqual(await scanKeys(backend, { to: text('z') }), numbered(0, 1, 2, 3, 4, 5, 6, 7, 8, 9))
      assert.deepEqual(await scanKeys(backend, {}), await scanKeys(backend), 'empty options')
    },
  },
  {
    name: 'an empty range returns nothing',
    async run(scope) {
      const backend = await scope.open()
      assert.deepEqual(await scan(backend), [], 'a full scan of an empty store')
      assert.deepEqual(
        await scan(backend, { from: text('a'), to: text('z') }),
        [],
        'a range of an empty store',
      )
      await backend.write(numberedKeys(10))
      const empty = async (options: BackendRangeOptions, where: string) =>
        assert.deepEqual(await scanKeys(backend, options), [], where)
      await empty({ from: text('key-04'), to: text('key-04') }, 'from equals to, a present key')
      await empty({ from: text('key-04a'), to: text('key-04a') }, 'from equals to, a missing key')
      await empty({ from: text('key-04a'), to: text('key-04b') }, 'between two keys')
      await empty({ from: text('key-06'), to: text('key-03') }, 'from after to')
    },
  },
  {
    name: 'reverse scans return exactly the reverse order',
    skipReason: noReverse,
    async run(scope, { capabilities }) {
      const backend = await scope.open()
      assert.deepEqual(await scan(backend, { reverse: true }), [], 'an empty store')
      // The smallest and largest keys there are, then random ones: an unbounded reverse scan must
      // reach both ends.
      const edges = [bytes(0x00), bytes(0x00, 0x00), bytes(0xff), bytes(0xff, 0xff)]
      const writes = [...edges, ...randomKeys(createRandom(77), 120, capabilities.maxKeyBytes)].map(
        (key, index) => ({
          key,
          value: text(`value-${index}`),
        }),
      )
      const expected = new ExpectedStore()
      await writeInBatches(backend, expected, writes, 50)
      assert.deepEqual(entryPairs(await scan(backend, { reverse: true })), expected.pairs({ reverse: true }))
      assert.deepEqual(
        await scanKeys(backend, { to: bytes(0x00, 0x00), reverse: true }),
        ['00'],
        'only to, just above the smallest key',
      )
      await backend.write([put('a', '1'), put('a\u0000', '2'), put('aa', '3')])
      assert.deepEqual(
        await scanKeys(backend, { from: text('a'), to: text('ab'), reverse: true }),
        keysOf('aa', 'a\u0000', 'a'),
        'a longer key before the shorter key it starts with',
      )
    },
  },
  {
    name: 'bounded reverse scans include from and exclude to',
    skipReason: noReverse,
    async run(scope) {
      const backend = await scope.open()
      await backend.write(numberedKeys(10))
      const reverse = (from: string | undefined, to: string | undefined) =>
        scanKeys(backend, {
          ...(from === undefined ? {} : { from: text(from) }),
          ...(to === undefined ? {} : { to: text(to) }),
          reverse: true,
        })
      assert.deepEqual(await reverse('key-03', 'key-07'), numbered(6, 5, 4, 3), 'both bounds present')
      assert.deepEqual(await reverse('key-03a', 'key-07'), numbered(6, 5, 4), 'from between two keys')
      assert.deepEqual(await reverse('key-03', 'key-06a'), numbered(6, 5, 4, 3), 'to between two keys')
      assert.deepEqual(await reverse('key-03', 'key-03\u0000'), numbered(3), 'to is the next possible key')
      assert.deepEqual(await reverse('key-07', undefined), numbered(9, 8, 7), 'only from')
      assert.deepEqual(await reverse(undefined, 'key-02'), numbered(1, 0), 'only to')
      assert.deepEqual(await reverse(undefined, 'key-00'), [], 'to the first key')
      assert.deepEqual(await reverse('key-1', undefined), [], 'from after the last key')
      assert.deepEqual(
        await reverse(undefined, 'z'),
        numbered(9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
        'to after the last key',
      )
      assert.deepEqual(await reverse('key-04', 'key-04'), [], 'from equals to')
      assert.deepEqual(await reverse('key-06', 'key-03'), [], 'from after to')
      const prefix = bytes(0x01, 0xff)
      await backend.write([
        { key: bytes(0x01, 0xfe), value: bytes(1) },
        { key: bytes(0x01, 0xff), value: bytes(2) },
        { key: bytes(0x01, 0xff, 0x00), value: bytes(3) },
        { key: bytes(0x01, 0xff, 0xff), value: bytes(4) },
        { key: bytes(0x02), value: bytes(5) },
      ])
      assert.deepEqual(
        await scanKeys(backend, { from: prefix, to: prefixUpperBound(prefix), reverse: true }),
        ['01ffff', '01ff00', '01ff'],
        'a reverse prefix scan',
      )
    },
  },
  {
    name: 'prefix scans with prefixUpperBound, including prefixes that end in 0xff',
    async run(scope) {
      const backend = await scope.open()
      const keys = [
        bytes(0x00, 0xff),
        bytes(0x01),
        bytes(0x01, 0x00),
        bytes(0x01, 0x41),
        bytes(0x01, 0xfe, 0xff),
        bytes(0x01, 0xff),
        bytes(0x01, 0xff, 0x00),
        bytes(0x01, 0xff, 0xff),
        bytes(0x02),
        bytes(0x02, 0x00),
        bytes(0xff),
        bytes(0xff, 0x01),
        bytes(0xff, 0xff),
        bytes(0xff, 0xff, 0x10),
      ]
      await backend.write(keys.map((key) => ({ key, value: key })))
      const prefixScan = (...prefix: number[]) => {
        const from = bytes(...prefix)
        const to = prefixUpperBound(from)
        return scanKeys(backend, to === undefined ? { from } : { from, to })
      }
      assert.equal(hexOrMissing(prefixUpperBound(bytes(0x01, 0xff))), '0x02')
      assert.equal(prefixUpperBound(bytes(0xff, 0xff)), undefined)
      assert.deepEqual(await prefixScan(0x01), ['01', '0100', '0141', '01feff', '01ff', '01ff00', '01ffff'])
      assert.deepEqual(await prefixScan(0x01, 0xff), ['01ff', '01ff00', '01ffff'], 'a prefix ending in 0xff')
      assert.deepEqual(await prefixScan(0xff), ['ff', 'ff01', 'ffff', 'ffff10'], 'the prefix 0xff')
      assert.deepEqual(
        await prefixScan(0xff, 0xff),
        ['ffff', 'ffff10'],
        'a prefix of only 0xff: no upper bound',
      )
      assert.deepEqual(await prefixScan(0x03), [], 'a prefix no key has')
      assert.deepEqual(await prefixScan(0x01, 0x41), ['0141'], 'a whole key as prefix')
    },
  },
  {
    name: 'approximateCount equals the number of keys after puts and deletes',
    async run(scope) {
      const backend = await scope.open()
      assert.equal(await backend.approximateCount(), 0, 'an empty store')
      await backend.write(numberedKeys(10))
      assert.equal(await backend.approximateCount(), 10, 'after 10 puts')
      await backend.write([put('key-01', 'again'), put('key-02', 'again'), put('key-02', 'and again')])
      assert.equal(await backend.approximateCount(), 10, 'overwrites do not count')
      await backend.write([remove('key-03'), remove('key-04'), remove('missing'), remove('key-03')])
      assert.equal(await backend.approximateCount(), 8, 'after deletes, one of a missing key, one twice')
      await backend.write([put('new', 'x'), remove('new'), remove('key-05'), put('key-05', 'back')])
      assert.equal(await backend.approximateCount(), 8, 'put then delete, delete then put')
    },
  },
  {
    name: 'thousands of keys written and deleted in batches: scans, ranges and counts stay exact',
    async run(scope, { capabilities }) {
      const backend = await scope.open()
      const random = createRandom(3000)
      const expected = new ExpectedStore()
      const keys = randomKeys(random, 3000, capabilities.maxKeyBytes)
      const writes = keys.map((key, index) => ({ key, value: text(`value-${index}`) }))
      await writeInBatches(backend, expected, writes, 500)
      // Deletes and rewrites spread over the whole key space, where structures split and merge.
      const changes = keys.map((key, index) => ({
        key,
        value: index % 3 === 0 ? null : text(`changed-${index}`),
      }))
      await writeInBatches(
        backend,
        expected,
        changes.filter((_, index) => index % 2 === 0),
        250,
      )
      await assertSameContent(backend, expected, 'after 3000 puts, 500 deletes and 1000 rewrites')
      for (let round = 0; round < 40; round += 1) {
        const [from, to] = [
          keys[Math.floor(random() * keys.length)]!,
          keys[Math.floor(random() * keys.length)]!,
        ].sort(Buffer.compare)
        const reverse = capabilities.reverseRange && round % 2 === 1
        assert.deepEqual(
          entryPairs(await scan(backend, { from, to, reverse })),
          expected.pairs({ from, to, reverse }),
          `range from ${hex(from!)} to ${hex(to!)}${reverse ? ' reverse' : ''}`,
        )
      }
    },
  },
  {
    name: 'a scan while writes happen does not fail or return a key twice',
    async run(scope) {
      await scanWhileWriting(scope, false)
    },
  },
  {
    name: 'a reverse scan while writes happen does not fail or return a key twice',
    skipReason: noReverse,
    async run(scope) {
      await scanWhileWriting(scope, true)
    },
  },
  {
    name: 'concurrent writes and reads started without awaiting end in the order they were issued',
    async run(scope) {
      const backend = await scope.open()
      const random = createRandom(2024)
      const keys = Array.from({ length: 8 }, (_, index) => text(`key-${index}`))
      const pick = () => keys[Math.floor(random() * keys.length)]!
      const expected = new ExpectedStore()
      const pending: Array<Promise<unknown>> = []
      for (let operation = 0; operation < 300; operation += 1) {
        const draw = random()
        if (draw < 0.2) {
          pending.push(Promise.resolve(backend.get(pick())))
        } else if (draw < 0.3) {
          pending.push(Promise.resolve(backend.getMany([pick(), pick()])))
        } else {
          const batch: BackendWrite[] = []
          const size = 1 + Math.floor(random() * 3)
          for (let index = 0; index < size; index += 1) {
            batch.push({ key: pick(), value: random() < 0.25 ? null : text(`value-${operation}-${index}`) })
          }
          expected.apply(batch)
          pending.push(Promise.resolve(backend.write(batch)))
        }
      }
      await Promise.all(pending)
      await assertSameContent(backend, expected, 'after 300 operations issued together')
    },
  },
  {
    name: 'the backend keeps its own copy of written bytes, and bytes it returned stay unchanged',
    async run(scope) {
      const backend = await scope.open()
      const key = text('reused-key')
      const value = text('first value')
      const written = backend.write([{ key, value }])
      // Callers (a cache flushing a batch, a serde with a scratch buffer) reuse their arrays as soon
      // as write() has returned.
      key.fill(0x21)
      value.fill(0x21)
      await written
      assert.equal(
        await read(backend, text('reused-key')),
        hexOrMissing(text('first value')),
        'the stored value, after the caller reused its arrays',
      )
      assert.equal(await read(backend, key), 'missing', 'the mutated key was not written')

      const got = await backend.get(text('reused-key'))
      const [many] = await backend.getMany([text('reused-key')])
      const scanned = await scan(backend)
      await backend.write([put('reused-key', 'second value')])
      await backend.write([remove('reused-key')])
      await backend.write([put('other', 'bytes that could land in a reused buffer')])
      assert.equal(hexOrMissing(got), hexOrMissing(text('first value')), 'a get() result after later writes')
      assert.equal(
        hexOrMissing(many),
        hexOrMissing(text('first value')),
        'a getMany() result after later writes',
      )
      assert.deepEqual(entryPairs(scanned), [
        `${hex(text('reused-key'))}=${hexOrMissing(text('first value'))}`,
      ])
    },
  },
  {
    name: 'a key longer than capabilities.maxKeyBytes is rejected, not truncated',
    skipReason: ({ capabilities }) =>
      capabilities.maxKeyBytes === undefined ? 'capabilities.maxKeyBytes is not declared' : undefined,
    async run(scope, { capabilities }) {
      const limit = capabilities.maxKeyBytes!
      const backend = await scope.open()
      const longest = new Uint8Array(limit).fill(0x01)
      await backend.write([{ key: longest, value: text('fits') }])
      assert.equal(await read(backend, longest), hexOrMissing(text('fits')), `a key of ${limit} bytes`)
      assert.deepEqual(await scanKeys(backend), [hex(longest)])
      const tooLong = new Uint8Array(limit + 1).fill(0x02)
      await assert.rejects(
        async () => backend.write([{ key: tooLong, value: text('too long') }]),
        Error,
        `a key of ${limit + 1} bytes must be rejected with an Error`,
      )
      assert.equal(await read(backend, tooLong.subarray(0, limit)), 'missing', 'the key was not truncated')
      assert.equal(await backend.approximateCount(), 1)
      await backend.write([put('after', 'still works')])
      assert.equal(
        await read(backend, text('after')),
        hexOrMissing(text('still works')),
        'the backend still works',
      )
    },
  },
  {
    name: 'a value longer than capabilities.maxValueBytes is rejected, not truncated',
    skipReason: ({ capabilities }) =>
      capabilities.maxValueBytes === undefined ? 'capabilities.maxValueBytes is not declared' : undefined,
    async run(scope, { capabilities }) {
      const limit = capabilities.maxValueBytes!
      const backend = await scope.open()
      const largest = new Uint8Array(limit).fill(0x01)
      await backend.write([{ key: text('largest'), value: largest }])
      assert.equal((await backend.get(text('largest')))?.length, limit, `a value of ${limit} bytes`)
      await assert.rejects(
        async () => backend.write([{ key: text('too-large'), value: new Uint8Array(limit + 1) }]),
        Error,
        `a value of ${limit + 1} bytes must be rejected with an Error`,
      )
      assert.equal(await read(backend, text('too-large')), 'missing', 'the value was not truncated')
      await backend.write([put('after', 'still works')])
      assert.equal(
        await read(backend, text('after')),
        hexOrMissing(text('still works')),
        'the backend still works',
      )
    },
  },
  {
    name: 'data survives flush, close and reopen on the same directory, deletes included',
    skipReason: notPersistent,
    async run(scope) {
      const context = await scope.context()
      const expected = new ExpectedStore()
      const { initial, changes } = persistenceWrites()
      const first = await scope.open(context)
      await first.write(initial)
      expected.apply(initial)
      await first.write(changes)
      expected.apply(changes)
      await first.flush()
      await scope.close(first)

      const second = await scope.open(context)
      await assertSameContent(second, expected, 'reopened')
      const more = [put('written-after-reopen', 'x'), { key: bytes(0x00, 1, 0xff), value: null }]
      await second.write(more)
      expected.apply(more)
      await second.flush()
      await scope.close(second)

      const third = await scope.open(context)
      await assertSameContent(third, expected, 'reopened a second time')
    },
  },
  {
    name: 'flushed data is in the storage itself (read through the backdoor)',
    skipReason(environment) {
      return (
        notPersistent(environment) ??
        (environment.backdoor === undefined ? 'no backdoor option given' : undefined)
      )
    },
    async run(scope, { backdoor }) {
      const context = await scope.context()
      const expected = new ExpectedStore()
      const { initial, changes } = persistenceWrites()
      const backend = await scope.open(context)
      await backend.write(initial)
      expected.apply(initial)
      await backend.write(changes)
      expected.apply(changes)
      await backend.flush()
      await scope.close(backend)
      const keys = expected.keysEverWritten
      const stored: string[] = []
      for (const key of keys) stored.push(hexOrMissing(await backdoor!.read(context, key)))
      assert.deepEqual(
        stored,
        keys.map((key) => expected.read(key)),
        'every key read through the backdoor',
      )
    },
  },
]
