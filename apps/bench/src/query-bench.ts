// Interactive-query benchmark: point reads through the typed client against one and three
// instances (child processes), with local `app.store('counts').get` in an instance as the peer.
// Each read goes straight to the key's owner (the client has the topology value).
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createQueryClient } from '@kstreams/core'
import { brokers, createTopics, deleteTopics, preload, runId } from './harness.js'
import { percentile } from './measure.js'
import { queryTopology } from './query-topology.js'

export interface QueryBenchResult {
  side: string
  reads: number
  readsPerSecond: number
  p50Ms: number
  p99Ms: number
}

const instanceScript = fileURLToPath(new URL('./query-instance.js', import.meta.url))
/** A bare node:http server answering every request with a fixed body the size of a get's answer. */
const bareServer = `require('node:http').createServer((request, response) => { request.resume(); response.writeHead(200, { 'content-type': 'application/json' }); response.end('{"found":true,"partition":0,"value":{"$bigint":"1"}}') }).listen(0, '127.0.0.1', function () { console.log('serving http://127.0.0.1:' + this.address().port) })`

interface Instance {
  url: string
  output: () => string
  /** SIGTERM, then waits for the exit (a clean close writes the instance's tombstone). */
  stop: () => Promise<void>
}

function startInstance(env: { [name: string]: string }, bare = false): Promise<Instance> {
  const child = spawn(process.execPath, bare ? ['-e', bareServer] : [instanceScript], {
    env: { ...process.env, ...env, KAFKA_BOOTSTRAP_SERVERS: brokers.join(',') },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let text = ''
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString()
      const match = /serving (\S+)/.exec(text)
      if (match) {
        resolve({
          url: match[1]!,
          output: () => text,
          stop: () => {
            if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
            const exited = new Promise<void>((done) => child.once('exit', () => done()))
            child.kill('SIGTERM')
            return exited
          },
        })
      }
    })
    child.once('exit', (code) => reject(new Error(`query instance exited with ${code}: ${text}`)))
  })
}

async function until(condition: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + 300_000
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

/** The same load as the client's, as plain fetch calls to a bare server: HTTP's own cost here. */
async function measureBareHttp(reads: number, concurrency: number): Promise<QueryBenchResult> {
  const server = await startInstance({}, true)
  try {
    const get = async () => (await fetch(`${server.url}/v1/stores/counts/get?key=%22key-1%22`)).json()
    for (let index = 0; index < 2000; index += 1) await get()
    const latencies: number[] = []
    let next = 0
    const started = performance.now()
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < reads) {
          next += 1
          const before = performance.now()
          await get()
          latencies.push(performance.now() - before)
        }
      }),
    )
    const seconds = (performance.now() - started) / 1000
    latencies.sort((left, right) => left - right)
    return {
      side: 'bare node:http + fetch (no store)',
      reads,
      readsPerSecond: reads / seconds,
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
    }
  } finally {
    await server.stop()
  }
}

/** `reads` point reads with `concurrency` in flight, through a client that knows the topology. */
async function measureClient(
  side: string,
  topic: string,
  urls: string[],
  keys: number,
  reads: number,
  concurrency: number,
): Promise<QueryBenchResult> {
  const topology = queryTopology(topic)
  const client = createQueryClient<typeof topology>({ endpoints: urls, topology })
  const store = client.store('counts')
  // Warm up (metadata, connections, JIT), and wait until every key is counted.
  await until(async () => (await store.approximateCount()) >= keys, 'every key counted')
  for (let index = 0; index < 2000; index += 1) await store.get(`key-${index % keys}`)
  const latencies: number[] = []
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < reads) {
        const index = next++
        const before = performance.now()
        const value = await store.get(`key-${index % keys}`)
        latencies.push(performance.now() - before)
        if (value === undefined) throw new Error(`key-${index % keys} has no count`)
      }
    }),
  )
  const seconds = (performance.now() - started) / 1000
  latencies.sort((left, right) => left - right)
  return {
    side,
    reads,
    readsPerSecond: reads / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
  }
}

export async function runQueryBench(options: {
  keys: number
  reads: number
  concurrency: number
  partitions: number
}): Promise<QueryBenchResult[]> {
  const results: QueryBenchResult[] = []
  for (const instances of [1, 3]) {
    if (instances === 3) results.push(await measureBareHttp(options.reads, options.concurrency))
    const id = runId()
    const topic = `bench-queries-${id}`
    const application = `bench-queries-${id}`
    await createTopics([topic], options.partitions)
    await preload(topic, options.keys, 16, options.keys)
    const env = {
      BENCH_INPUT: topic,
      BENCH_APP: application,
      BENCH_KEYS: String(options.keys),
    }
    const started: Instance[] = []
    try {
      // The peer runs in the single instance, once it holds every key.
      started.push(
        await startInstance({ ...env, BENCH_LOCAL_GETS: instances === 1 ? String(options.reads) : '0' }),
      )
      for (let index = 1; index < instances; index += 1) started.push(await startInstance(env))
      if (instances === 1) {
        await until(() => started[0]!.output().includes('local '), 'the local reads')
        const local = JSON.parse(/local (\{.*\})/.exec(started[0]!.output())![1]!) as {
          gets: number
          perSecond: number
          p50Ms: number
          p99Ms: number
        }
        results.push({
          side: 'local app.store().get (peer)',
          reads: local.gets,
          readsPerSecond: local.perSecond,
          p50Ms: local.p50Ms,
          p99Ms: local.p99Ms,
        })
      }
      const urls = started.map((instance) => instance.url)
      results.push(
        await measureClient(
          `client, ${instances} instance(s)`,
          topic,
          urls,
          options.keys,
          options.reads,
          options.concurrency,
        ),
      )
    } finally {
      await Promise.all(started.map((instance) => instance.stop()))
      await deleteTopics([topic, `${application}-counts-changelog`, `${application}-instances`]).catch(
        () => {},
      )
    }
  }
  return results
}
