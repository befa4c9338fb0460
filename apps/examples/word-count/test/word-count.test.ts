import { serdes } from '@kstreams/core'
import { TopologyTestDriver } from '@kstreams/core/testing'
import { expect, it } from 'vitest'
import { buildDslWordCountTopology, buildWordCountTopology } from '../src/index.js'

it('counts words across lines', async () => {
  const driver = new TopologyTestDriver(
    buildWordCountTopology({ inputTopic: 'lines', wordsTopic: 'words', outputTopic: 'counts' }),
  )
  const lines = driver.createInputTopic('lines', serdes.string(), serdes.string())
  const counts = driver.createOutputTopic('counts', serdes.string(), serdes.int64())
  await lines.pipeInput('doc', 'The cat and the hat')
  await lines.pipeInput('doc', "the cat's hat")
  const latest = new Map(counts.readKeyValues())
  expect(Object.fromEntries(latest)).toEqual({ the: 3n, cat: 1n, and: 1n, hat: 2n, "cat's": 1n })
  await driver.close()
})

it('counts words the same in the DSL, through the words repartition topic', async () => {
  const topology = buildDslWordCountTopology({ inputTopic: 'lines', outputTopic: 'counts' })
  expect([...topology.internalTopics.keys()]).toEqual(['words-repartition'])
  const driver = new TopologyTestDriver(topology, { applicationId: 'wc' })
  const lines = driver.createInputTopic('lines', serdes.string(), serdes.string())
  const counts = driver.createOutputTopic('counts', serdes.string(), serdes.int64())
  await lines.pipeInput('doc', 'The cat and the hat')
  await lines.pipeInput('doc', "the cat's hat")
  const latest = new Map(counts.readKeyValues())
  expect(Object.fromEntries(latest)).toEqual({ the: 3n, cat: 1n, and: 1n, hat: 2n, "cat's": 1n })
  expect(driver.producedRecords('wc-words-repartition')).toHaveLength(8)
  await driver.close()
})
