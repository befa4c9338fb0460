// The stateless KStream operators, split/merge, process, repartition, to and toTable, on the test driver.
import { describe, expect, it } from 'vitest'
import { type KeyValueStore, type ProcessorContext, serdes, stores } from '../../src/index.js'
import { builder, number, string, withDriver } from './helpers.js'

describe('KStream', () => {
  it('filter, filterNot, mapValues, flatMapValues and peek keep keys (and null keys)', async () => {
    const { builder: b } = builder()
    const seen: Array<[string | null, string]> = []
    b.stream('in', { key: string, value: string })
      .filter((_key, value) => value !== 'drop')
      .filterNot((_key, value) => value.startsWith('x'))
      .peek((key, value) => seen.push([key, value]))
      .mapValues((value, key) => `${key}:${value}`)
      .flatMapValues((value) => [value, value.toUpperCase()])
      .to('out', { value: string })
    await withDriver(b.build(), async (driver) => {
      const input = driver.createInputTopic('in', string, string)
      const output = driver.createOutputTopic('out', string, string)
      await input.pipeInput('a', 'one')
      await input.pipeInput('b', 'drop')
      await input.pipeInput('c', 'xray')
      await input.pipeInput(null as unknown as string, 'nokey')
      expect(output.readKeyValues()).toEqual([
        ['a', 'a:one'],
        ['a', 'A:ONE'],
        [null, 'null:nokey'],
        [null, 'NULL:NOKEY'],
      ])
      expect(seen).toEqual([
        ['a', 'one'],
        [null, 'nokey'],
      ])
    })
  })

  it('map, selectKey and flatMap change keys; async mappers are awaited; timestamps stay', async () => {
    const { builder: b } = builder()
    const stream = b.stream('in', { key: string, value: number })
    stream.map((key, value) => ({ key: value, value: key })).to('mapped', { key: number, value: string })
    stream.selectKey(async (key) => key.toUpperCase()).to('selected', { key: string })
    stream
      .flatMap((key, value) =>
        Array.from({ length: value }, (_, index) => ({ key: `${key}${index}`, value: index })),
      )
      .to('flat', { key: string, value: number })
    await withDriver(b.build(), async (driver) => {
      await driver.createInputTopic('in', string, number).pipeInput('k', 2, 1234)
      expect(driver.createOutputTopic('mapped', number, string).readKeyValues()).toEqual([[2, 'k']])
      const selected = driver.createOutputTopic('selected', string, number).readRecords()
      expect(selected.map((record) => [record.key, record.value, record.timestamp])).toEqual([['K', 2, 1234]])
      expect(driver.createOutputTopic('flat', string, number).readKeyValues()).toEqual([
        ['k0', 0],
        ['k1', 1],
      ])
    })
  })

  it('split sends each record to its first matching branch, typed by type-guard predicates; merge joins streams', async () => {
    type Event = { kind: 'click'; x: number } | { kind: 'view'; page: string }
    const { builder: b } = builder()
    const events = b.stream('events', { key: string, value: serdes.json<Event>() })
    const branches = events
      .split({ named: 'by-kind' })
      .branch((_key, value): value is Extract<Event, { kind: 'click' }> => value.kind === 'click', {
        name: 'clicks',
      })
      .branch((_key, value) => value.kind === 'view' && value.page === 'home', { name: 'home' })
      .defaultBranch({ name: 'other' })
    branches.clicks.mapValues((click) => click.x).to('clicks', { value: number })
    branches.home
      .merge(branches.other)
      .mapValues((event): string => event.kind)
      .to('rest', { value: string })
    await withDriver(b.build(), async (driver) => {
      const input = driver.createInputTopic('events', string, serdes.json<Event>())
      await input.pipeInput('1', { kind: 'click', x: 5 })
      await input.pipeInput('2', { kind: 'view', page: 'home' })
      await input.pipeInput('3', { kind: 'view', page: 'faq' })
      expect(driver.createOutputTopic('clicks', string, number).readKeyValues()).toEqual([['1', 5]])
      expect(driver.createOutputTopic('rest', string, string).readKeyValues()).toEqual([
        ['2', 'view'],
        ['3', 'view'],
      ])
    })
    expect(b.build().describe().text).toContain('Processor: by-kind-clicks')
  })

  it('split without a default branch drops unmatched records; a branch name is used once', async () => {
    const { builder: b } = builder()
    const split = b.stream('in', { key: string, value: number }).split({ named: 's' })
    const { big } = split.branch((_key, value) => value > 10, { name: 'big' }).noDefaultBranch()
    big.to('big', { value: number })
    await withDriver(b.build(), async (driver) => {
      const input = driver.createInputTopic('in', string, number)
      await input.pipeInput('a', 5)
      await input.pipeInput('b', 50)
      expect(driver.createOutputTopic('big', string, number).readKeyValues()).toEqual([['b', 50]])
    })
    const other = builder().builder.stream('in', { key: string, value: number }).split()
    expect(() => other.branch(() => true, { name: 'x' }).branch(() => true, { name: 'x' })).toThrow(
      /branch "x" is named twice/,
    )
  })

  it('process runs a Processor API processor with its store and concurrency options, and repartitions a later aggregation', async () => {
    const { builder: b } = builder()
    const totals = stores.keyValue('totals', { keySerde: string, valueSerde: number })
    b.stream('in', { key: string, value: number })
      .process<string, number>(
        () => {
          let context: ProcessorContext<string, number>
          let store: KeyValueStore<string, number>
          return {
            init: (processorContext) => {
              context = processorContext
              store = context.getStore('totals')
            },
            process: async (record) => {
              const total = ((await store.get(record.key)) ?? 0) + record.value
              await store.put(record.key, total)
              context.forward({ ...record, value: total })
            },
          }
        },
        { named: 'running-total', stores: [totals], concurrency: 'key' },
      )
      .groupByKey({ named: 'totals-by-key', key: string, value: number })
      .count({ as: 'total-updates' })
      .toStream()
      .to('out', { value: number })
    const topology = b.build()
    expect(topology.subtopologies[0]!.concurrency.mode).toBe('key')
    expect([...topology.internalTopics.keys()]).toEqual(['totals-by-key-repartition'])
    await withDriver(topology, async (driver) => {
      const input = driver.createInputTopic('in', string, number)
      await input.pipeInput('a', 2)
      await input.pipeInput('a', 3)
      expect(driver.createOutputTopic('out', string, number).readKeyValues()).toEqual([
        ['a', 1],
        ['a', 2],
      ])
      const store = await driver.getStore<KeyValueStore<string, number>>('totals')
      expect(await store.get('a')).toBe(5)
    })
  })

  it('repartition writes through <applicationId>-<named>-repartition with a fixed partition count; to() takes a topic function', async () => {
    const { builder: b } = builder()
    b.stream('in', { key: string, value: string })
      .repartition({ named: 'shuffle', partitions: 4 })
      .to((record) => `out-${record.value}`)
    const topology = b.build()
    expect(topology.internalTopics.get('shuffle-repartition')?.partitions).toBe(4)
    await withDriver(topology, async (driver) => {
      await driver.createInputTopic('in', string, string).pipeInput('k', 'x')
      expect(driver.producedRecords('dsl-shuffle-repartition')).toHaveLength(1)
      expect(driver.createOutputTopic('out-x', string, string).readKeyValues()).toEqual([['k', 'x']])
    })
  })

  it('toTable materializes the latest value per key; a null value deletes it', async () => {
    const { builder: b } = builder()
    const table = b.stream('in', { key: string, value: string }).toTable({ as: 'latest' })
    table.toStream().to('out', { value: string })
    await withDriver(b.build(), async (driver) => {
      const input = driver.createInputTopic('in', string, string)
      await input.pipeInput('a', '1')
      await input.pipeInput('a', '2')
      await input.pipeInput('a', null as unknown as string)
      await input.pipeInput('b', null as unknown as string)
      expect(driver.createOutputTopic('out', string, string).readKeyValues()).toEqual([
        ['a', '1'],
        ['a', '2'],
        ['a', null],
      ])
      expect(await (await driver.getStore<KeyValueStore<string, string>>('latest')).get('a')).toBeUndefined()
    })
  })

  it('names what is missing: a serde after a key change, a stream of another builder', () => {
    const { builder: b } = builder()
    const mapped = b
      .stream('in', { key: string, value: string })
      .map((key, value) => ({ key: value, value: key }))
    expect(() => mapped.to('out')).toThrow(/to\("out"\) after "KSTREAM-MAP-0000000001" needs a key serde/)
    expect(() => mapped.groupByKey().count({ as: 'c' })).toThrow(/count after .* needs a key serde/)
    const other = builder().builder.stream('x', { key: string, value: string })
    expect(() => b.stream('y', { key: string, value: string }).merge(other)).toThrow(/same StreamsBuilder/)
    expect(() => b.stream('z', {} as never)).toThrow(/needs \{ key: <serde>, value: <serde> \}/)
  })
})
