// The foreign-key join's results store (`<name>-results`) is restored from its changelog: a new
// instance still knows each result it replaces, so a re-grouped aggregation keeps retracting, on
// the real runtime over SimulatedKafka.
import { expect, it } from 'vitest'
import { StreamsBuilder, serdes, silentLogger } from '../../src/index.js'
import { SimulatedKafka } from '../../src/testing/index.js'
import { simulatedApp } from '../simulated-app.js'
import { until } from '../until.js'
import { ordersPerRegion } from './helpers.js'

/** Orders per customer region (see helpers.ts), their counts written to "counts". */
function topology() {
  const streams = new StreamsBuilder({ logger: silentLogger })
  ordersPerRegion(streams).toStream().to('counts', { value: serdes.float64() })
  return streams.build()
}

it('a new instance restores the results store, so a result it replaces is still retracted from its group', async () => {
  const kafka = new SimulatedKafka({ seed: 13 })
  for (const topic of ['orders', 'customers', 'counts']) kafka.createTopic(topic, 1)
  const json = (key: string, customer: string) => ({ key, value: JSON.stringify({ customer }) })
  const start = (name: string) => simulatedApp(topology(), kafka, name, 'fk-restore')
  const counts = () => {
    const last = new Map<string, number>()
    for (const record of kafka.records('counts', 0)) {
      last.set(
        new TextDecoder().decode(record.key!),
        serdes.float64().deserialize(record.value!, {} as never),
      )
    }
    return last
  }
  kafka.produce('customers', [
    { key: 'c1', value: 'eu' },
    { key: 'c2', value: 'us' },
  ])
  kafka.produce('orders', [json('o1', 'c1'), json('o2', 'c1')])
  const first = start('first')
  await first.start()
  await until(() => counts().get('eu') === 2)
  await first.close()
  expect(kafka.hasTopic('fk-restore-oc-results-changelog')).toBe(true)

  // The second instance's in-memory stores start empty and are restored from their changelogs.
  kafka.produce('orders', [json('o1', 'c2')])
  const second = start('second')
  await second.start()
  try {
    await until(() => counts().get('us') === 1)
    expect(Object.fromEntries(counts())).toEqual({ eu: 1, us: 1 })
  } finally {
    await second.close()
  }
})
