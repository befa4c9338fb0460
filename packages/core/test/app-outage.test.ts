import { expect, it } from 'vitest'
import {
  type AppState,
  createApp,
  type KafkaPort,
  type KStreamsError,
  serdes,
  silentLogger,
  TopologyBuilder,
} from '../src/index.js'
import { SimulatedKafka } from '../src/testing/index.js'

it('reports a produce failure during a broker outage as the outage: one KSTREAMS_KAFKA error naming the brokers and how long', async () => {
  const kafka = new SimulatedKafka({ seed: 3, failSends: [0] })
  kafka.createTopic('in', 1)
  kafka.createTopic('out', 1)
  kafka.produce('in', [{ key: 'a', value: 'one' }])
  const port = kafka.port('instance')
  const sinceMs = Date.now()
  // The simulated producer fails its first send; the port says no broker has answered meanwhile.
  const outageAware: KafkaPort = {
    createConsumer: (options) => port.createConsumer(options),
    createReader: (options) => port.createReader(options),
    createProducer: (options) => port.createProducer(options),
    createAdmin: (options) => port.createAdmin(options),
    connectivity: { outage: () => ({ sinceMs, brokers: 'sim:9092', lastError: 'connect ECONNREFUSED' }) },
  }
  const topology = new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addSink('out', { topic: 'out', keySerde: serdes.string(), valueSerde: serdes.string(), parents: ['in'] })
    .build()
  const states: AppState[] = []
  const app = createApp(topology, {
    applicationId: 'outage-app',
    bootstrapServers: ['sim:9092'],
    kafka: outageAware,
    commitIntervalMs: 30,
    handleSignals: false,
    logger: silentLogger,
    onFatalError: () => {},
  })
  app.on('stateChange', (state) => states.push(state))
  await app.start()
  const error = (await app.done().catch((failure: unknown) => failure)) as KStreamsError
  expect(error.code).toBe('KSTREAMS_KAFKA')
  expect(error.message).toMatch(/^Kafka at sim:9092 has been unreachable for \d+\.\d s: /)
  expect((error.cause as KStreamsError).code).toBe('KSTREAMS_PRODUCTION')
  expect(states.at(-1)).toBe('error')
  expect(app.state).toBe('error')
})
