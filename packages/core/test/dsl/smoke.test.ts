import { expect, it } from 'vitest'
import { StreamsBuilder, serdes, silentLogger } from '../../src/index.js'
import { TopologyTestDriver } from '../../src/testing/index.js'

it('word count smoke', async () => {
  const builder = new StreamsBuilder({ logger: silentLogger })
  builder
    .stream('lines', { key: serdes.string(), value: serdes.string() })
    .flatMapValues((line) => line.toLowerCase().split(/\W+/).filter(Boolean))
    .groupBy((_key, word) => word, { named: 'words', key: serdes.string(), value: serdes.string() })
    .count({ as: 'counts' })
    .toStream()
    .to('out', { value: serdes.float64() })
  const topology = builder.build()
  console.log(topology.describe().text)
  const driver = new TopologyTestDriver(topology)
  const input = driver.createInputTopic('lines', serdes.string(), serdes.string())
  const output = driver.createOutputTopic('out', serdes.string(), serdes.float64())
  await input.pipeInput('a', 'Hello Kafka hello', 1)
  expect(output.readKeyValues()).toEqual([
    ['hello', 1],
    ['kafka', 1],
    ['hello', 2],
  ])
  await driver.close()
})
