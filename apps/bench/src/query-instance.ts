// One instance of the query benchmark (a child process): counts BENCH_INPUT, serves its stores,
// prints `serving <url>`, and once its tasks hold BENCH_KEYS keys in all (BENCH_LOCAL_GETS > 0),
// measures that many sequential local `app.store('counts').get` calls and prints them as JSON.
import { createApp } from '@kstreams/core'
import { percentile } from './measure.js'
import { queryTopology } from './query-topology.js'

const { BENCH_INPUT, BENCH_APP, BENCH_KEYS, BENCH_LOCAL_GETS, KAFKA_BOOTSTRAP_SERVERS } = process.env
const app = createApp(queryTopology(BENCH_INPUT!), {
  applicationId: BENCH_APP!,
  bootstrapServers: KAFKA_BOOTSTRAP_SERVERS ?? '127.0.0.1:9092',
  commitIntervalMs: 1000,
})
await app.start()
const server = await app.serveQueries({ heartbeatIntervalMs: 1000 })
process.stdout.write(`serving ${server.url}\n`)
const localGets = Number(BENCH_LOCAL_GETS ?? 0)
if (localGets > 0) {
  const keys = Number(BENCH_KEYS)
  const store = app.store('counts')
  for (;;) {
    const count = await store.approximateCount().catch(() => 0)
    if (count >= keys && app.state === 'running') break
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  const latencies: number[] = []
  const started = performance.now()
  for (let index = 0; index < localGets; index += 1) {
    const before = performance.now()
    await store.get(`key-${index % keys}`)
    latencies.push(performance.now() - before)
  }
  const seconds = (performance.now() - started) / 1000
  latencies.sort((left, right) => left - right)
  process.stdout.write(
    `local ${JSON.stringify({ gets: localGets, perSecond: localGets / seconds, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99) })}\n`,
  )
}
await app.done()
