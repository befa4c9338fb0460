import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type FetchedRecord,
  headerValue,
  type KeyValueStore,
  type Processor,
  type ProcessorContext,
  type ProduceRecord,
  type StoreBackendFactory,
  serdes,
  silentLogger,
  stores,
  TopologyBuilder,
} from '../src/index.js'
import { StreamTask } from '../src/runtime/task.js'
import { MemoryBackend } from '../src/state/memory-backend.js'
import { SortedKeyMap } from '../src/state/sorted-key-map.js'
import { TopologyTestDriver } from '../src/testing/index.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const directories: string[] = []

afterEach(async () => {
  for (const directory of directories.splice(0)) await rm(directory, { recursive: true, force: true })
})

async function temporaryDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'kstreams-store-test-'))
  directories.push(directory)
  return directory
}

/** A topology that counts words of its input values into store "counts" and forwards on flush. */
function countingTopology(backend?: StoreBackendFactory) {
  return new TopologyBuilder()
    .addSource('lines', { topics: ['lines'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int64(), backend }))
    .addProcessor(
      'count',
      { parents: ['lines'], stores: ['counts'] },
      (): Processor<string, string, string, bigint> => {
        let counts: KeyValueStore<string, bigint>
        return {
          init: (context) => {
            counts = context.getStore<KeyValueStore<string, bigint>>('counts')
            counts.setFlushListener(({ key, value, timestamp }) => {
              if (value !== undefined) context.forward({ key, value, timestamp, headers: [] })
            })
          },
          process: async (record) => {
            for (const word of record.value.split(' ')) {
              await counts.put(word, ((await counts.get(word)) ?? 0n) + 1n)
            }
          },
        }
      },
    )
    .addSink('out', {
      topic: 'counts',
      keySerde: serdes.string(),
      valueSerde: serdes.int64(),
      parents: ['count'],
    })
    .build()
}

function fetched(offset: number, value: string): FetchedRecord {
  return {
    topic: 'lines',
    partition: 0,
    offset: BigInt(offset),
    timestamp: 1000 + offset,
    key: null,
    value: encoder.encode(value),
    headers: [],
  }
}

function createTask(
  topology: ReturnType<typeof countingTopology>,
  produced: ProduceRecord[],
  options: { cacheMaxBytes: number; stateDir?: string },
) {
  return new StreamTask({
    applicationId: 'app',
    topology,
    subtopology: topology.subtopologies[0]!,
    partition: 0,
    collector: { send: (record) => produced.push(record) },
    errorPolicies: {
      deserialization: 'fail',
      processing: 'fail',
      production: 'fail',
      deadLetterTopic: 'dlq',
    },
    logger: silentLogger,
    stateDir: options.stateDir ?? '/tmp/kstreams-unused',
    cacheMaxBytes: options.cacheMaxBytes,
    now: () => 0,
  })
}

async function processAll(task: StreamTask): Promise<void> {
  await task.runUntilIdle(0)
}

describe('SortedKeyMap', () => {
  it('scans in byte order, forward and reverse, with bounds, like a sorted reference', () => {
    const key = fc.uint8Array({ maxLength: 4 }).map((bytes) => Buffer.from(bytes).toString('latin1'))
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), key), { maxLength: 3000 }),
        fc.option(key, { nil: undefined }),
        fc.option(key, { nil: undefined }),
        fc.boolean(),
        (operations, from, to, reverse) => {
          const map = new SortedKeyMap<number>()
          const reference = new Map<string, number>()
          operations.forEach(([remove, name], index) => {
            if (remove) {
              map.delete(name)
              reference.delete(name)
            } else {
              map.set(name, index)
              reference.set(name, index)
            }
          })
          const expected = [...reference]
            .filter(([name]) => (from === undefined || name >= from) && (to === undefined || name < to))
            .sort(([left], [right]) =>
              Buffer.compare(Buffer.from(left, 'latin1'), Buffer.from(right, 'latin1')),
            )
          if (reverse) expected.reverse()
          expect([...map.entries(from, to, reverse)]).toEqual(expected)
          expect(map.size).toBe(reference.size)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('keeps scanning correctly while keys are added and removed under it', () => {
    const map = new SortedKeyMap<number>()
    for (let index = 0; index < 5000; index += 1) map.set(String(index).padStart(5, '0'), index)
    const seen: string[] = []
    for (const [name, value] of map.entries()) {
      seen.push(name)
      map.delete(name)
      // Remove the next key before the scan reaches it, and add keys behind the scan.
      map.delete(String(value + 1).padStart(5, '0'))
      map.set(`-${name}`, 0)
    }
    expect(seen).toEqual(Array.from({ length: 2500 }, (_, index) => String(index * 2).padStart(5, '0')))
    expect(map.size).toBe(2500)
  })
})

describe('key-value stores through the test driver', () => {
  it('supports get, put, delete, getMany, putIfAbsent and ordered scans', async () => {
    const driver = new TopologyTestDriver(countingTopology())
    const input = driver.createInputTopic('lines', serdes.string(), serdes.string())
    await input.pipeValues(['b a c', 'a b', 'a d'])
    const counts = await driver.getStore<KeyValueStore<string, bigint>>('counts')
    expect(await counts.get('a')).toBe(3n)
    expect(await counts.getMany(['d', 'missing', 'b'])).toEqual([1n, undefined, 2n])
    expect(await counts.putIfAbsent('a', 100n)).toBe(3n)
    expect(await counts.putIfAbsent('e', 5n)).toBeUndefined()
    expect(await counts.delete('c')).toBe(1n)
    expect(await counts.delete('c')).toBeUndefined()
    const collect = async (iterator: AsyncIterable<{ key: string; value: bigint }>) => {
      const entries: Array<[string, bigint]> = []
      for await (const { key, value } of iterator) entries.push([key, value])
      return entries
    }
    expect(await collect(counts.all())).toEqual([
      ['a', 3n],
      ['b', 2n],
      ['d', 1n],
      ['e', 5n],
    ])
    expect(await collect(counts.range('b', 'd'))).toEqual([
      ['b', 2n],
      ['d', 1n],
    ])
    expect(await collect(counts.range('a', 'd', { reverse: true }))).toEqual([
      ['d', 1n],
      ['b', 2n],
      ['a', 3n],
    ])
    await counts.putMany([
      ['ab', 7n],
      ['abc', 8n],
    ])
    expect(await collect(counts.prefixScan('ab', serdes.string()))).toEqual([
      ['ab', 7n],
      ['abc', 8n],
    ])
    expect(await counts.approximateCount()).toBe(6)
    await expect(counts.put('x', undefined as unknown as bigint)).rejects.toThrow(/use delete\(\)/)
    await driver.close()
  })

  it('logs every flushed change with the input offset that caused it', async () => {
    const driver = new TopologyTestDriver(countingTopology(), { applicationId: 'wc' })
    const input = driver.createInputTopic('lines', serdes.string(), serdes.string())
    await input.pipeValues(['x y', 'x'])
    const changelog = driver.producedRecords('wc-counts-changelog')
    expect(
      changelog.map((record) => [
        decoder.decode(record.key!),
        decoder.decode(headerValue(record.headers ?? [], 'kstreams.input.offset')!),
        decoder.decode(headerValue(record.headers ?? [], 'kstreams.input.topic')!),
        record.partition,
      ]),
    ).toEqual([
      ['x', '0', 'lines', 0],
      ['y', '0', 'lines', 0],
      ['x', '1', 'lines', 0],
    ])
    const output = driver.createOutputTopic('counts', serdes.string(), serdes.int64())
    expect(output.readKeyValues()).toEqual([
      ['x', 1n],
      ['y', 1n],
      ['x', 2n],
    ])
    await driver.close()
  })
})

describe('record cache', () => {
  it('merges repeated updates of a key before the changelog, the backend and flush listeners', async () => {
    const produced: ProduceRecord[] = []
    const topology = countingTopology()
    const task = createTask(topology, produced, { cacheMaxBytes: 1024 * 1024 })
    await task.init()
    task.enqueue('lines', [fetched(0, 'a b a'), fetched(1, 'a'), fetched(2, 'b c')])
    await processAll(task)
    expect(produced).toEqual([])
    const counts = task.getStore<KeyValueStore<string, bigint>>('counts')!
    // Reads see the cached values before anything was written down.
    expect(await counts.get('a')).toBe(3n)
    await task.prepareCommit()
    const changelog = produced.filter((record) => record.topic === 'app-counts-changelog')
    expect(
      changelog.map((record) => [
        decoder.decode(record.key!),
        record.value,
        decoder.decode(headerValue(record.headers!, 'kstreams.input.offset')!),
      ]),
    ).toEqual([
      ['a', serdes.int64().serialize(3n, { topic: '', target: 'value', headers: [] }), '1'],
      ['b', serdes.int64().serialize(2n, { topic: '', target: 'value', headers: [] }), '2'],
      ['c', serdes.int64().serialize(1n, { topic: '', target: 'value', headers: [] }), '2'],
    ])
    expect(produced.filter((record) => record.topic === 'counts')).toHaveLength(3)
    // A second flush without updates writes nothing more.
    await task.prepareCommit()
    expect(produced).toHaveLength(6)
    await task.close()
  })

  it('stays within its byte budget by writing down and evicting, without losing updates', async () => {
    const produced: ProduceRecord[] = []
    const topology = countingTopology()
    const task = createTask(topology, produced, { cacheMaxBytes: 2000 })
    await task.init()
    const words = Array.from({ length: 200 }, (_, index) => `word-${index % 50}`)
    task.enqueue(
      'lines',
      words.map((word, index) => fetched(index, word)),
    )
    await processAll(task)
    // Over budget long before the commit: changes were written down early.
    expect(produced.length).toBeGreaterThan(0)
    await task.prepareCommit()
    const counts = task.getStore<KeyValueStore<string, bigint>>('counts')!
    for (let index = 0; index < 50; index += 1) expect(await counts.get(`word-${index}`)).toBe(4n)
    // The last changelog record of every key holds its final count.
    const last = new Map<string, Uint8Array | null>()
    for (const record of produced.filter((record) => record.topic === 'app-counts-changelog'))
      last.set(decoder.decode(record.key!), record.value)
    expect(last.size).toBe(50)
    for (const value of last.values())
      expect(serdes.int64().deserialize(value!, { topic: '', target: 'value', headers: [] })).toBe(4n)
    await task.close()
  })
})

describe('string keys', () => {
  it('are keyed by their UTF-8 bytes whether ASCII or not: the cache, the changelog and scans agree', async () => {
    const produced: ProduceRecord[] = []
    const topology = countingTopology()
    // A small budget, so keys are written down, evicted and read back from the backend.
    const task = createTask(topology, produced, { cacheMaxBytes: 400 })
    await task.init()
    const words = ['zebra', 'äpfel', 'apfel', '日本', 'zebra', 'apfel', 'äpfel', 'Zürich', 'apfel']
    task.enqueue(
      'lines',
      words.map((word, index) => fetched(index, word)),
    )
    await processAll(task)
    await task.prepareCommit()
    const counts = task.getStore<KeyValueStore<string, bigint>>('counts')!
    const expected = new Map<string, bigint>()
    for (const word of words) expected.set(word, (expected.get(word) ?? 0n) + 1n)
    for (const [word, count] of expected) expect(await counts.get(word)).toBe(count)
    // Changelog keys are the UTF-8 bytes of each word.
    const logged = new Set(
      produced.filter((record) => record.topic === 'app-counts-changelog').map((record) => record.key!),
    )
    expect(new Set([...logged].map((key) => decoder.decode(key)))).toEqual(new Set(expected.keys()))
    for (const key of logged)
      expect(Buffer.from(key)).toEqual(Buffer.from(encoder.encode(decoder.decode(key))))
    // Scans follow unsigned byte order of the UTF-8 bytes (ASCII before multi-byte characters).
    const scanned: string[] = []
    for await (const { key } of counts.all()) scanned.push(key)
    const byBytes = [...expected.keys()].sort((left, right) =>
      Buffer.compare(Buffer.from(encoder.encode(left)), Buffer.from(encoder.encode(right))),
    )
    expect(scanned).toEqual(byBytes)
    expect(scanned).toEqual(['Zürich', 'apfel', 'zebra', 'äpfel', '日本'])
    await task.close()
  })
})

describe('persistent stores on disk', () => {
  /** A persistent backend: the memory backend, saved as JSON in the store's directory on flush. */
  function fileBackend(): StoreBackendFactory {
    return {
      name: 'file',
      persistent: true,
      open: async ({ directory }) => {
        const memory = new MemoryBackend()
        const path = join(directory, 'data.json')
        const saved = await readFile(path, 'utf8').then(
          (text) => JSON.parse(text) as string[][],
          () => [],
        )
        memory.write(
          saved.map(([key, value]) => ({ key: Buffer.from(key!, 'hex'), value: Buffer.from(value!, 'hex') })),
        )
        return {
          contractVersion: 1 as const,
          capabilities: { persistent: true, reverseRange: true },
          get: (key) => memory.get(key),
          getMany: (keys) => memory.getMany(keys),
          write: (batch) => memory.write(batch),
          range: (options) => memory.range(options),
          approximateCount: () => memory.approximateCount(),
          flush: async () => {
            const entries = [...memory.range()].map(({ key, value }) => [
              Buffer.from(key).toString('hex'),
              Buffer.from(value).toString('hex'),
            ])
            await writeFile(path, JSON.stringify(entries))
          },
          close: () => memory.close(),
        }
      },
    }
  }

  it('keeps local state that a checkpoint vouches for, and wipes it when none does', async () => {
    const stateDir = await temporaryDirectory()
    const topology = countingTopology(fileBackend())
    const produced: ProduceRecord[] = []
    const first = createTask(topology, produced, { cacheMaxBytes: 1024, stateDir })
    await first.init()
    expect(first.loggedStores[0]!.checkpoint).toBeUndefined()
    first.enqueue('lines', [fetched(0, 'a a b')])
    await processAll(first)
    await first.prepareCommit()
    first.checkpoint(() => 3n)
    await first.close()
    expect(await readdir(join(stateDir, 'app', '0_0'))).toEqual(
      expect.arrayContaining(['.checkpoint', 'counts']),
    )

    const second = createTask(topology, produced, { cacheMaxBytes: 1024, stateDir })
    await second.init()
    expect(second.loggedStores[0]!.checkpoint).toBe(3n)
    const counts = second.getStore<KeyValueStore<string, bigint>>('counts')!
    expect(await counts.get('a')).toBe(2n)
    // Writing to the backend after the checkpoint withdraws it until the next commit.
    second.enqueue('lines', [fetched(1, 'c')])
    await processAll(second)
    await second.prepareCommit()
    await second.close()

    const third = createTask(topology, produced, { cacheMaxBytes: 1024, stateDir })
    await third.init()
    expect(third.loggedStores[0]!.checkpoint).toBeUndefined()
    expect(await third.getStore<KeyValueStore<string, bigint>>('counts')!.get('a')).toBeUndefined()
    await third.close()
  })

  it('refuses a task directory locked by another live process, naming the store and the task', async () => {
    const stateDir = await temporaryDirectory()
    const { spawn } = await import('node:child_process')
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'])
    try {
      const { hostname } = await import('node:os')
      const { mkdir } = await import('node:fs/promises')
      await mkdir(join(stateDir, 'app', '0_0'), { recursive: true })
      await writeFile(
        join(stateDir, 'app', '0_0', '.lock'),
        JSON.stringify({ pid: other.pid, host: hostname() }),
      )
      const task = createTask(countingTopology(fileBackend()), [], { cacheMaxBytes: 0, stateDir })
      const error = await task.init().then(
        () => undefined,
        (caught: unknown) => caught as Error & { code: string; context: object },
      )
      expect(error?.code).toBe('KSTREAMS_STORE')
      expect(error?.message).toContain('store "counts" of task 0_0')
      expect(error?.message).toContain(`locked by process ${other.pid}`)
      expect(error?.context).toMatchObject({ store: 'counts', taskId: '0_0' })
    } finally {
      other.kill()
    }
    // A lock left by a process that is gone is taken over.
    const task = createTask(countingTopology(fileBackend()), [], { cacheMaxBytes: 0, stateDir })
    await new Promise((resolve) => setTimeout(resolve, 100))
    await task.init()
    await task.close()
  })

  it('stops two tasks in this process from sharing a directory', async () => {
    const stateDir = await temporaryDirectory()
    const first = createTask(countingTopology(fileBackend()), [], { cacheMaxBytes: 0, stateDir })
    await first.init()
    const second = createTask(countingTopology(fileBackend()), [], { cacheMaxBytes: 0, stateDir })
    await expect(second.init()).rejects.toThrow(/locked by another application in this process/)
    await first.close()
    await second.init()
    await second.close()
  })
})

describe('state directory cleanup', () => {
  it('removes directories of tasks not owned here once they are old enough', async () => {
    const { cleanTaskDirectories } = await import('../src/state/task-directory.js')
    const { mkdir } = await import('node:fs/promises')
    const stateDir = await temporaryDirectory()
    for (const task of ['0_0', '0_1', '0_2'])
      await mkdir(join(stateDir, 'app', task, 'counts'), { recursive: true })
    expect(await cleanTaskDirectories(stateDir, 'app', new Set(['0_1']), 60_000, silentLogger)).toEqual([])
    expect((await cleanTaskDirectories(stateDir, 'app', new Set(['0_1']), 0, silentLogger)).sort()).toEqual([
      '0_0',
      '0_2',
    ])
    expect(await readdir(join(stateDir, 'app'))).toEqual(['0_1'])
  })
})

it('processor contexts give typed store access', () => {
  const check = (context: ProcessorContext<string, number>) => {
    const store = context.getStore<KeyValueStore<string, number>>('s')
    const value: Promise<number | undefined> = store.get('k')
    return value
  }
  expect(typeof check).toBe('function')
})

it('prefixUpperBound copies: a Buffer prefix (a view of a shared pool) is left as it was', async () => {
  const { prefixUpperBound } = await import('../src/state/store-backend.js')
  const prefix = Buffer.from('ab\u00ff', 'latin1')
  expect(Buffer.from(prefixUpperBound(prefix)!)).toEqual(Buffer.from('ac', 'latin1'))
  expect(prefix).toEqual(Buffer.from('ab\u00ff', 'latin1'))
  expect(prefixUpperBound(Buffer.from([0xff, 0xff]))).toBeUndefined()
})
