import { createServer } from 'node:net'
import { expect, it, onTestFinished } from 'vitest'
import { channels } from '../src/diagnostics.js'
import { KafkaError } from '../src/errors.js'
import { topicPartitionKey } from '../src/kafka/kafka-port.js'
import { Cluster } from '../src/kafka/platformatic-cluster.js'
import { ConnectivityTracker } from '../src/kafka/platformatic-connectivity.js'
import { PartitionFetcher } from '../src/kafka/platformatic-fetcher.js'
import type { Logger } from '../src/logger.js'

/** A port nothing listens on: taken from the system, then released. */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

interface FetchErrorEvent {
  brokers: string
  error: unknown
  attempts: number
  streakMs: number
}

it('backs off while Kafka is unreachable, reports the outage, keeps positions, and gives up after brokerUnavailableTimeoutMs', async () => {
  const port = await freePort()
  const address = `127.0.0.1:${port}`
  const cluster = new Cluster({
    bootstrapServers: [address],
    clientId: 'backoff-test',
    connectTimeoutMs: 500,
    requestTimeoutMs: 1000,
  })
  onTestFinished(() => cluster.close())
  const tracker = new ConnectivityTracker([address])
  const logs: Array<{ level: string; message: string }> = []
  const logger: Logger = {
    debug: () => {},
    info: (message) => logs.push({ level: 'info', message }),
    warn: (message) => logs.push({ level: 'warn', message }),
    error: (message) => logs.push({ level: 'error', message }),
  }
  const fetcher = new PartitionFetcher(cluster, {
    topics: () => ['backoff-topic'],
    offsetReset: 'earliest',
    fetchMinBytes: 1,
    fetchMaxBytes: 1024,
    fetchMaxBytesPerPartition: 1024,
    tracker,
    logger,
    brokerUnavailableTimeoutMs: 1500,
  })
  fetcher.add('backoff-topic', 0, 42n)
  const events: Array<FetchErrorEvent & { at: number }> = []
  const onFetchError = (message: unknown) => events.push({ ...(message as FetchErrorEvent), at: Date.now() })
  channels.fetchError.subscribe(onFetchError)
  onTestFinished(() => channels.fetchError.unsubscribe(onFetchError))

  const started = Date.now()
  let calls = 0
  let failure: unknown
  while (failure === undefined) {
    if (Date.now() - started > 10_000) throw new Error('fetch never gave up')
    try {
      expect(await fetcher.fetch(50)).toEqual([])
      calls += 1
      expect(tracker.outage()?.brokers).toBe(address)
    } catch (error) {
      failure = error
    }
  }

  // Attempts are spaced 100 ms, 200 ms, 400 ms, 800 ms (±20%) apart, while fetch() itself keeps
  // returning within its wait (many more calls than attempts). The last attempt is moved to the
  // deadline, so its gap is left out.
  expect(events.map((event) => event.attempts)).toEqual(events.map((_, index) => index + 1))
  expect(events.length).toBeGreaterThanOrEqual(5)
  expect(calls).toBeGreaterThan(events.length)
  const gaps = events.slice(1, -1).map((event, index) => event.at - events[index]!.at)
  expect(gaps[0]).toBeGreaterThanOrEqual(75)
  for (let index = 1; index < gaps.length; index += 1) expect(gaps[index]).toBeGreaterThan(gaps[index - 1]!)
  expect(events.every((event) => event.brokers === address)).toBe(true)
  expect(events.at(-1)!.streakMs).toBeGreaterThanOrEqual(1500)

  expect(KafkaError.isInstance(failure)).toBe(true)
  const error = failure as KafkaError
  expect(error.code).toBe('KSTREAMS_KAFKA')
  expect(error.message).toContain(address)
  expect(error.message).toMatch(/unreachable for \d+(\.\d+)? s/)
  expect(tracker.outage()).toMatchObject({ brokers: address })
  // One line for the whole streak (info: with a tracker, the app logs the outage's one warning),
  // and no "works again" yet.
  expect(logs.filter((log) => log.level === 'warn')).toHaveLength(0)
  expect(logs.filter((log) => log.level === 'info')).toHaveLength(1)
  expect(logs[0]!.message).toContain('cannot fetch from Kafka at')
  expect(fetcher.partitions.get(topicPartitionKey('backoff-topic', 0))?.position).toBe(42n)
})
