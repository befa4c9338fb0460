import { describe, expect, it } from 'vitest'
import { materialize } from '../../src/dsl/changes.js'
import { type Change, serdes, stores, TopologyBuilder, tableTableJoin } from '../../src/index.js'
import { TopologyTestDriver } from '../../src/testing/index.js'
import { changeRows } from './helpers.js'

type JoinType = 'inner' | 'left' | 'outer'

function setup(type: JoinType) {
  const join = tableTableJoin({
    name: 'j',
    type,
    leftStore: 'left-store',
    rightStore: 'right-store',
    keySerde: serdes.string(),
    joiner: (left: string | null, right: string | null) => `${left}+${right}`,
  } as Parameters<typeof tableTableJoin<string, string, string, string>>[0])
  const builder = new TopologyBuilder()
    .addSource('left', { topics: ['left'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addSource('right', { topics: ['right'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.keyValue('left-store', { keySerde: serdes.string(), valueSerde: serdes.string() }))
    .addStore(stores.keyValue('right-store', { keySerde: serdes.string(), valueSerde: serdes.string() }))
  for (const store of join.stores) builder.addStore(store)
  const changes = serdes.json<Change<string>>()
  const topology = builder
    .addProcessor(
      'left-table',
      { parents: ['left'], stores: ['left-store'] },
      materialize<string, string>('left-store'),
    )
    .addProcessor(
      'right-table',
      { parents: ['right'], stores: ['right-store'] },
      materialize<string, string>('right-store'),
    )
    .addProcessor('join-left', { parents: ['left-table'], stores: join.storeNames }, join.left)
    .addProcessor('join-right', { parents: ['right-table'], stores: join.storeNames }, join.right)
    .addSink('out', {
      topic: 'out',
      keySerde: serdes.string(),
      valueSerde: changes,
      parents: ['join-left', 'join-right'],
    })
    .build()
  const driver = new TopologyTestDriver(topology)
  const output = driver.createOutputTopic('out', serdes.string(), changes)
  return {
    driver,
    left: driver.createInputTopic('left', serdes.string(), serdes.string()),
    right: driver.createInputTopic('right', serdes.string(), serdes.string()),
    /** [key, new, old, timestamp]; a missing value reads as '-'. */
    read: () => changeRows(output.readRecords()),
  }
}

const NULL = null as unknown as string

describe('table–table join', () => {
  it('inner: results only where both rows exist, with old values for retraction, a tombstone when a row goes, and the larger timestamp', async () => {
    const { driver, left, right, read } = setup('inner')
    await left.pipeInput('k', 'a', 10)
    await right.pipeInput('k', 'x', 5)
    await left.pipeInput('k', 'b', 7)
    await right.pipeInput('k', NULL, 20)
    await right.pipeInput('k', 'y', 21)
    expect(read()).toEqual([
      ['k', 'a+x', '-', 10],
      ['k', 'b+x', 'a+x', 7],
      ['k', '-', 'b+x', 20],
      ['k', 'b+y', '-', 21],
    ])
    await driver.close()
  })

  it('left: every left row has a result (null without a right row); right rows alone have none', async () => {
    const { driver, left, right, read } = setup('left')
    await right.pipeInput('k', 'x', 1)
    await left.pipeInput('k', 'a', 2)
    await right.pipeInput('k', NULL, 3)
    await right.pipeInput('other', 'z', 4)
    await left.pipeInput('k', NULL, 5)
    expect(read()).toEqual([
      ['k', 'a+x', '-', 2],
      ['k', 'a+null', 'a+x', 3],
      ['k', '-', 'a+null', 5],
    ])
    await driver.close()
  })

  it('outer: rows of either side have a result; it is deleted only when both rows are gone', async () => {
    const { driver, left, right, read } = setup('outer')
    await right.pipeInput('k', 'x', 1)
    await left.pipeInput('k', 'a', 2)
    await left.pipeInput('k', NULL, 3)
    await right.pipeInput('k', NULL, 4)
    expect(read()).toEqual([
      ['k', 'null+x', '-', 1],
      ['k', 'a+x', 'null+x', 2],
      ['k', 'null+x', 'a+x', 3],
      ['k', '-', 'null+x', 4],
    ])
    await driver.close()
  })

  it('a delete of a key without a row changes nothing; a null key is dropped', async () => {
    const { driver, left, read } = setup('outer')
    await left.pipeInput('ghost', NULL, 1)
    await left.pipeInput(NULL, 'v', 2)
    expect(read()).toEqual([])
    await driver.close()
  })
})
