import { describe, expect, it } from 'vitest'
import { joinWindows, serdes, streamStreamJoin, TopologyBuilder, TopologyError } from '../../src/index.js'
import { TopologyTestDriver } from '../../src/testing/index.js'

type JoinType = 'inner' | 'left' | 'outer'

/** left ⋈ right within 10 ms either way, 5 ms grace; results "left+right" ("null" for a missing side). */
function setup(type: JoinType, windows = joinWindows(10, { graceMs: 5 })) {
  const join = streamStreamJoin({
    name: 'j',
    type,
    windows,
    keySerde: serdes.string(),
    leftValueSerde: serdes.string(),
    rightValueSerde: serdes.string(),
    joiner: (left: string | null, right: string | null) => `${left}+${right}`,
  } as Parameters<typeof streamStreamJoin<string, string, string, string>>[0])
  const builder = new TopologyBuilder()
    .addSource('left', { topics: ['left'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addSource('right', { topics: ['right'], keySerde: serdes.string(), valueSerde: serdes.string() })
  for (const store of join.stores) builder.addStore(store)
  const topology = builder
    .addProcessor('join-left', { parents: ['left'], stores: join.storeNames }, join.left)
    .addProcessor('join-right', { parents: ['right'], stores: join.storeNames }, join.right)
    .addSink('out', {
      topic: 'out',
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['join-left', 'join-right'],
    })
    .build()
  const driver = new TopologyTestDriver(topology)
  const left = driver.createInputTopic('left', serdes.string(), serdes.string())
  const right = driver.createInputTopic('right', serdes.string(), serdes.string())
  const output = driver.createOutputTopic('out', serdes.string(), serdes.string())
  const read = () => output.readRecords().map((record) => [record.key, record.value, record.timestamp])
  return { driver, left, right, read }
}

describe('stream–stream join on the test driver', () => {
  it('inner: records of one key within the window join, with the larger timestamp; outside it they do not', async () => {
    const { driver, left, right, read } = setup('inner')
    await left.pipeInput('a', 'l1', 0)
    await right.pipeInput('a', 'r1', 5)
    await right.pipeInput('b', 'r2', 6)
    await right.pipeInput('a', 'r3', 11)
    await left.pipeInput('a', 'l2', 12)
    expect(read()).toEqual([
      ['a', 'l1+r1', 5],
      ['a', 'l2+r1', 12],
      ['a', 'l2+r3', 12],
    ])
    await driver.close()
  })

  it('inner: records of one key with the same timestamp each join (duplicates are kept)', async () => {
    const { driver, left, right, read } = setup('inner')
    await left.pipeInput('a', 'l1', 3)
    await left.pipeInput('a', 'l2', 3)
    await right.pipeInput('a', 'r1', 3)
    expect(read()).toEqual([
      ['a', 'l1+r1', 3],
      ['a', 'l2+r1', 3],
    ])
    await driver.close()
  })

  it('left: an unmatched left record is emitted with null only when its window closed (end + grace), not eagerly', async () => {
    const { driver, left, right, read } = setup('left')
    await left.pipeInput('a', 'l1', 0)
    await right.pipeInput('x', 'r-other-key', 5)
    // Window of l1: [0 - 10, 0 + 10], grace 5: it closes when stream time passes 15.
    await left.pipeInput('z', 'z1', 15)
    expect(read()).toEqual([])
    await left.pipeInput('z', 'z2', 16)
    expect(read()).toEqual([['a', 'l1+null', 0]])
    await driver.close()
  })

  it('left: a left record that found a match gets no result with null; an unmatched right record none either', async () => {
    const { driver, left, right, read } = setup('left')
    await left.pipeInput('a', 'l1', 0)
    await right.pipeInput('a', 'r1', 8)
    await right.pipeInput('b', 'r-alone', 9)
    // Both windows closed long before stream time 100; z1's own window is still open then.
    await left.pipeInput('z', 'z1', 100)
    expect(read()).toEqual([['a', 'l1+r1', 8]])
    await driver.close()
  })

  it('outer: unmatched records of either side are emitted with null when their windows close, in time order', async () => {
    const { driver, left, right, read } = setup('outer', joinWindows(10, { graceMs: 0, beforeMs: 2 }))
    await right.pipeInput('b', 'r1', 1)
    await left.pipeInput('a', 'l1', 2)
    // r1's window reaches back `before` (2 ms) from the left side's view: it closes after 1 + 2 = 3.
    await left.pipeInput('c', 'c1', 4)
    expect(read()).toEqual([['b', 'null+r1', 1]])
    // l1's window closes after 2 + 10 = 12.
    await right.pipeInput('d', 'd1', 12)
    expect(read()).toEqual([])
    await right.pipeInput('d', 'd2', 13)
    expect(read()).toEqual([['a', 'l1+null', 2]])
    await driver.close()
  })

  it('an out-of-order record within grace still joins; one after grace is late and dropped (no result with null either)', async () => {
    const { driver, left, right, read } = setup('left')
    await left.pipeInput('a', 'l1', 20)
    await right.pipeInput('a', 'r-late-ok', 12)
    expect(read()).toEqual([['a', 'l1+r-late-ok', 20]])
    await left.pipeInput('x', 'x1', 40)
    read()
    // A right record at 10 could join left records up to 10 + 10; its window closed at 10 + 10 + 5 < 40.
    await right.pipeInput('a', 'r-too-late', 10)
    // A left record at 12 closed at 12 + 10 + 5 < 40: dropped, and never emitted with null.
    await left.pipeInput('a', 'l-too-late', 12)
    await left.pipeInput('x', 'x2', 1000)
    expect(read().filter(([key]) => key === 'a')).toEqual([])
    await driver.close()
  })

  it('null keys and null values: dropped by an inner join; a left join emits its null-key left record at once with null', async () => {
    const inner = setup('inner')
    await inner.left.pipeInput(null as unknown as string, 'l1', 0)
    await inner.right.pipeInput(null as unknown as string, 'r1', 0)
    await inner.left.pipeInput('a', null as unknown as string, 0)
    await inner.right.pipeInput('a', 'r2', 1)
    expect(inner.read()).toEqual([])
    await inner.driver.close()
    const left = setup('left')
    await left.left.pipeInput(null as unknown as string, 'l1', 0)
    await left.right.pipeInput(null as unknown as string, 'r1', 0)
    expect(left.read()).toEqual([[null, 'l1+null', 0]])
    await left.driver.close()
  })

  it('bad join definitions are TopologyErrors naming the problem', () => {
    const base = {
      name: 'j',
      keySerde: serdes.string(),
      leftValueSerde: serdes.string(),
      rightValueSerde: serdes.string(),
      joiner: (left: string, right: string) => left + right,
    }
    expect(() => joinWindows(-1)).toThrow(/"timeDifferenceMs" must be an integer/)
    expect(() => joinWindows(10, { graceMs: 1.5 })).toThrow(/"graceMs"/)
    expect(() =>
      streamStreamJoin({ ...base, type: 'inner', windows: { beforeMs: -1, afterMs: 0, graceMs: 0 } }),
    ).toThrow(TopologyError)
    expect(() => streamStreamJoin({ ...base, type: 'sideways' as 'inner', windows: joinWindows(1) })).toThrow(
      /"type" must be 'inner', 'left' or 'outer'/,
    )
  })
})
