// kstreams: source → mapValues (the same mapping as the raw loop) → sink, with default settings.
import { createApp, mapValues, serdes, silentLogger, TopologyBuilder } from '@kstreams/core'
import { reportOnTerminate } from './measure.js'

const { BENCH_INPUT, BENCH_OUTPUT, BENCH_GROUP, KAFKA_BOOTSTRAP_SERVERS } = process.env
const suffix = new Uint8Array([0x21])

const topology = new TopologyBuilder()
  .addSource('input', { topics: [BENCH_INPUT!], keySerde: serdes.bytes(), valueSerde: serdes.bytes() })
  .addProcessor('map', { parents: ['input'] }, () =>
    mapValues((value: Uint8Array): Uint8Array => {
      const out = new Uint8Array(value.byteLength + 1)
      out.set(value)
      out.set(suffix, value.byteLength)
      return out
    }),
  )
  .addSink('output', {
    topic: BENCH_OUTPUT!,
    keySerde: serdes.bytes(),
    valueSerde: serdes.bytes(),
    parents: ['map'],
  })
  .build()

const app = createApp(topology, {
  applicationId: BENCH_GROUP!,
  bootstrapServers: KAFKA_BOOTSTRAP_SERVERS ?? '127.0.0.1:9092',
  handleSignals: false,
  logger: silentLogger,
})
await app.start()
process.stdout.write('ready\n')
reportOnTerminate(() => app.close())
