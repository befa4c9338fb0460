import { expect, it } from 'vitest'
import { createApp, FencedError, type GroupConsumer, type KafkaPort, silentLogger } from '../src/index.js'
import { SimulatedKafka } from '../src/testing/index.js'
import { countingTopology } from './counting-topology.js'
import { until } from './until.js'

// Found by the chaos runner (apps/chaos, R3): a member whose session expired while one of its tasks
// restored got a FencedError from the restore's offset fetch, and the app stopped on it.
it('a member fenced while a task restores loses that task, not the app: it is rebuilt, restored again, and nothing is lost', async () => {
  const kafka = new SimulatedKafka({ seed: 11 })
  kafka.createTopic('words', 1)
  kafka.createTopic('counts', 1)
  kafka.produce(
    'words',
    Array.from({ length: 100 }, (_, index) => ({ key: `w${index % 5}`, value: 'x' })),
  )
  const port = kafka.port('instance')
  let committedCalls = 0
  // The group consumer hands its assignment's committed offsets to the app; the first fetch the
  // app makes itself is the restorer's, and that one finds the member fenced.
  const fencing: KafkaPort = {
    createConsumer: (options) => {
      const consumer = port.createConsumer(options)
      return new Proxy(consumer, {
        get(target, name) {
          if (name === 'committed') {
            return async (partitions: Parameters<GroupConsumer['committed']>[0]) => {
              committedCalls += 1
              if (committedCalls === 1) {
                throw new FencedError(
                  `could not fetch committed offsets for group "${options.groupId}": fenced`,
                  {
                    context: { groupId: options.groupId },
                  },
                )
              }
              return target.committed(partitions)
            }
          }
          const value = Reflect.get(target, name, target)
          return typeof value === 'function' ? value.bind(target) : value
        },
      })
    },
    createReader: (options) => port.createReader(options),
    createProducer: (options) => port.createProducer(options),
    createAdmin: (options) => port.createAdmin(options),
  }
  const topology = countingTopology()
  const errors: string[] = []
  let fatal: Error | undefined
  const app = createApp(topology, {
    applicationId: 'restore-fenced',
    bootstrapServers: ['sim:9092'],
    kafka: fencing,
    commitIntervalMs: 20,
    handleSignals: false,
    logger: { ...silentLogger, error: (message: string) => errors.push(message) },
    onFatalError: (error) => {
      fatal = error
    },
  })
  await app.start()
  await until(
    () => (kafka.committed('restore-fenced', 'words', 0)?.offset ?? 0n) === kafka.endOffset('words', 0),
  )
  expect(fatal).toBeUndefined()
  expect(app.state).toBe('running')
  expect(errors.some((message) => message.includes('were fenced'))).toBe(true)
  // The restorer fetched again for the rebuilt task.
  expect(committedCalls).toBeGreaterThanOrEqual(2)
  const last = new Map<string, bigint>()
  for (const record of kafka.records('counts', 0))
    last.set(new TextDecoder().decode(record.key!), Buffer.from(record.value!).readBigInt64BE())
  for (let index = 0; index < 5; index += 1) expect(last.get(`w${index}`)).toBe(20n)
  await app.close()
})
