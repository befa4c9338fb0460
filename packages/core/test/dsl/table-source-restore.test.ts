// A table restored from its own source topic (reuseSourceTopic): no changelog topic, and a new
// instance rebuilds the rows from the topic up to the committed input, on the real runtime over
// SimulatedKafka.
import { expect, it } from 'vitest'
import {
  type KeyValueStore,
  type ProcessorContext,
  StreamsBuilder,
  serdes,
  silentLogger,
} from '../../src/index.js'
import { SimulatedKafka } from '../../src/testing/index.js'
import { simulatedApp } from '../simulated-app.js'
import { until } from '../until.js'

/** Users as a table restored from "users"; each lookup of a user id answers with the user's row. */
function topology() {
  const builder = new StreamsBuilder({ logger: silentLogger })
  builder.table('users', {
    key: serdes.string(),
    value: serdes.string(),
    materialized: { as: 'users-store' },
    reuseSourceTopic: true,
  })
  builder
    .stream('lookups', { key: serdes.string(), value: serdes.string() })
    .process<string, string>(
      () => {
        let context: ProcessorContext<string, string>
        let users: KeyValueStore<string, string>
        return {
          init: (processorContext) => {
            context = processorContext
            users = context.getStore('users-store')
          },
          process: async (record) => {
            context.forward({ ...record, value: (await users.get(record.key)) ?? 'unknown' })
          },
        }
      },
      { named: 'lookup', stores: ['users-store'] },
    )
    .to('answers', { key: serdes.string(), value: serdes.string() })
  return builder.build()
}

const decoder = new TextDecoder()
const answers = (kafka: SimulatedKafka) =>
  kafka
    .records('answers', 0)
    .map((record) => `${decoder.decode(record.key!)}=${decoder.decode(record.value!)}`)

it('restores a table from its source topic, up to the committed input, with no changelog topic', async () => {
  const kafka = new SimulatedKafka({ seed: 5 })
  for (const topic of ['users', 'lookups', 'answers']) kafka.createTopic(topic, 1)
  const text = (key: string, value: string | null) => ({ key, value })
  kafka.produce('users', [text('u1', 'alice'), text('u2', 'bob'), text('u1', 'alice-2'), text('u2', null)])
  const start = (name: string) => simulatedApp(topology(), kafka, name, 'users-app')
  expect(topology().describe().text).toContain('users-store (in memory, restored from source topic users')
  const first = start('first')
  await first.start()
  await until(() => kafka.committed('users-app', 'users', 0)?.offset === 4n)
  await first.close()
  expect(kafka.hasTopic('users-app-users-store-changelog')).toBe(false)

  // The in-memory store is gone with the first instance; the second rebuilds it from "users".
  kafka.produce('lookups', [text('u1', '?'), text('u2', '?')])
  const second = start('second')
  await second.start()
  try {
    await until(() => answers(kafka).length === 2)
    expect(answers(kafka)).toEqual(['u1=alice-2', 'u2=unknown'])
    // Rows after the restore arrive as input, as usual.
    kafka.produce('users', [text('u2', 'carol')])
    await until(() => kafka.committed('users-app', 'users', 0)?.offset === 5n)
    kafka.produce('lookups', [text('u2', '?')])
    await until(() => answers(kafka).length === 3)
    expect(answers(kafka)[2]).toBe('u2=carol')
  } finally {
    await second.close()
  }
})

it('reuseSourceTopic takes no logging option', () => {
  const builder = new StreamsBuilder({ logger: silentLogger })
  expect(() =>
    builder.table('t', {
      key: serdes.string(),
      value: serdes.string(),
      materialized: { as: 's', logging: true },
      reuseSourceTopic: true,
    }),
  ).toThrow(/takes no "materialized.logging"/)
})
