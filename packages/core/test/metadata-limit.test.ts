// The completed-offset map's limit comes from the broker's offset.metadata.max.bytes, read at start.
import { expect, it } from 'vitest'
import { createApp, type Processor, serdes, silentLogger, TopologyBuilder } from '../src/index.js'
import { SimulatedKafka } from '../src/testing/index.js'
import { until } from './until.js'

it("holds a partition back at 75% of the broker's offset.metadata.max.bytes, and commits stay under it", async () => {
  const kafka = new SimulatedKafka({ seed: 12, brokerConfigs: { 'offset.metadata.max.bytes': '150' } })
  kafka.createTopic('in', 1)
  kafka.produce(
    'in',
    Array.from({ length: 600 }, (_, index) => ({ key: `k${index}`, value: String(index) })),
  )
  const topology = new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor(
      'call',
      { parents: ['in'], concurrency: 'unordered', maxInFlight: 1000 },
      (): Processor<string, string> => ({
        // Even offsets are slow: the map becomes one run per odd offset.
        process: (record) =>
          new Promise((resolve) => setTimeout(resolve, Number(record.value) % 2 === 0 ? 700 : 1)),
      }),
    )
    .build()
  const app = createApp(topology, {
    applicationId: 'limit-app',
    bootstrapServers: ['sim:9092'],
    kafka: kafka.port('instance'),
    commitIntervalMs: 20,
    handleSignals: false,
    logger: silentLogger,
    onFatalError: () => {},
  })
  await app.start()
  expect(app.metadataMaxBytes).toBe(150)
  let longest = 0
  let heldBack = false
  await until(() => {
    longest = Math.max(longest, kafka.committed('limit-app', 'in', 0)?.metadata?.length ?? 0)
    heldBack ||= app.progress()[0]?.heldBack === true
    return kafka.committed('limit-app', 'in', 0)?.offset === 600n
  })
  expect(heldBack).toBe(true)
  expect(longest).toBeGreaterThan(80)
  expect(longest).toBeLessThanOrEqual(150)
  await app.close()
})
