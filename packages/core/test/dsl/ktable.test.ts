// KTable: a topic read as a table, tombstones end to end, filter and mapValues on changes, and
// grouped-table aggregations that retract a row from the group that counted it.
import { describe, expect, it } from 'vitest'
import { type KeyValueStore, serdes } from '../../src/index.js'
import { builder, number, string, withDriver } from './helpers.js'

type User = { region: string; score: number }
const user = serdes.json<User>()
const tombstone = null as unknown as User

describe('KTable', () => {
  it('reads a topic into a store; a tombstone deletes the row and reaches the output as a tombstone', async () => {
    const { builder: b } = builder()
    const users = b.table('users', { key: string, value: user, materialized: { as: 'users-store' } })
    users.toStream().to('users-out', { value: user })
    expect(users.storeName).toBe('users-store')
    await withDriver(b.build(), async (driver) => {
      const input = driver.createInputTopic('users', string, user)
      const output = driver.createOutputTopic('users-out', string, user)
      await input.pipeInput('alice', { region: 'eu', score: 1 })
      await input.pipeInput('alice', tombstone)
      await input.pipeInput('nobody', tombstone) // no row: nothing changes
      await input.pipeInput(null as unknown as string, { region: 'eu', score: 2 }) // no key: dropped
      expect(output.readKeyValues()).toEqual([
        ['alice', { region: 'eu', score: 1 }],
        ['alice', null],
      ])
      expect(driver.producedRecords('users-out')).toHaveLength(0) // read above
      const store = await driver.getStore<KeyValueStore<string, User>>('users-store')
      expect(await store.get('alice')).toBeUndefined()
    })
  })

  it('filter sends a delete when a row stops matching; mapValues maps new and old rows', async () => {
    const { builder: b } = builder()
    b.table('users', { key: string, value: user, materialized: { as: 'users-store' } })
      .filter((_key, value) => value.score >= 10)
      .mapValues((value) => value.score)
      .toStream()
      .to('high', { value: number })
    await withDriver(b.build(), async (driver) => {
      const input = driver.createInputTopic('users', string, user)
      await input.pipeInput('a', { region: 'eu', score: 5 }) // never matched: nothing
      await input.pipeInput('a', { region: 'eu', score: 12 })
      await input.pipeInput('a', { region: 'eu', score: 15 })
      await input.pipeInput('a', { region: 'eu', score: 3 }) // stops matching: delete
      expect(driver.createOutputTopic('high', string, number).readKeyValues()).toEqual([
        ['a', 12],
        ['a', 15],
        ['a', null],
      ])
    })
  })

  it('groupBy + count/aggregate retract a row from its old group when it moves, changes or is deleted', async () => {
    const { builder: b } = builder()
    const users = b.table('users', { key: string, value: user, materialized: { as: 'users-store' } })
    const byRegion = users.groupBy((_key, value) => ({ key: value.region, value: value.score }), {
      named: 'users-by-region',
      key: string,
      value: number,
    })
    byRegion.count({ as: 'users-per-region' }).toStream().to('counts', { value: number })
    byRegion
      .aggregate(
        () => 0,
        (_region, score, total) => total + score,
        (_region, score, total) => total - score,
        {
          as: 'score-per-region',
          value: number,
        },
      )
      .toStream()
      .to('scores', { value: number })
    const topology = b.build()
    expect([...topology.internalTopics.keys()]).toEqual(['users-by-region-repartition'])
    await withDriver(topology, async (driver) => {
      const input = driver.createInputTopic('users', string, user)
      await input.pipeInput('alice', { region: 'eu', score: 5 })
      await input.pipeInput('bob', { region: 'eu', score: 7 })
      await input.pipeInput('alice', { region: 'us', score: 5 }) // moves eu -> us
      await input.pipeInput('bob', { region: 'eu', score: 1 }) // changes within eu
      await input.pipeInput('bob', tombstone) // deleted
      const counts = driver.createOutputTopic('counts', string, number).readKeyValues()
      expect(counts).toEqual([
        ['eu', 1],
        ['eu', 2],
        ['eu', 1],
        ['us', 1],
        ['eu', 0],
        ['eu', 1],
        ['eu', 0],
      ])
      const scores = driver.createOutputTopic('scores', string, number).readKeyValues()
      expect(scores.at(-1)).toEqual(['eu', 0])
      const final = await driver.getStore<KeyValueStore<string, number>>('score-per-region')
      expect(await final.get('us')).toBe(5)
      expect(await final.get('eu')).toBe(0)
    })
  })

  it('groupBy + reduce(adder, subtractor) keeps the sum of the current rows', async () => {
    const { builder: b } = builder()
    b.table('scores', { key: string, value: number, materialized: { as: 'scores-store' } })
      .groupBy((_key, value) => ({ key: 'all', value }), { named: 'all-scores', key: string, value: number })
      .reduce(
        (sum, value) => sum + value,
        (sum, value) => sum - value,
        { as: 'total' },
      )
      .toStream()
      .to('total', { value: number })
    await withDriver(b.build(), async (driver) => {
      const input = driver.createInputTopic('scores', string, number)
      await input.pipeInput('a', 10)
      await input.pipeInput('b', 5)
      await input.pipeInput('a', 1)
      expect(driver.createOutputTopic('total', string, number).readValues()).toEqual([10, 15, 5, 6])
    })
  })
})
