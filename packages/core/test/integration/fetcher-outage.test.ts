import { connect, createServer, type Server, type Socket } from 'node:net'
import { createTestTopics, endpoints, produceStrings, uniqueName } from '@kstreams/test-helpers'
import { expect, it, onTestFinished } from 'vitest'
import { channels } from '../../src/diagnostics.js'
import { topicPartitionKey } from '../../src/kafka/kafka-port.js'
import { Cluster } from '../../src/kafka/platformatic-cluster.js'
import { ConnectivityTracker } from '../../src/kafka/platformatic-connectivity.js'
import { PartitionFetcher } from '../../src/kafka/platformatic-fetcher.js'
import type { Logger } from '../../src/logger.js'

const decoder = new TextDecoder()

/** A TCP proxy to the test broker that can be cut (every socket dropped, nothing listening) and restored. */
class BrokerProxy {
  readonly #target: { host: string; port: number }
  readonly #sockets = new Set<Socket>()
  #server: Server | undefined
  port = 0

  constructor(target: string) {
    const index = target.lastIndexOf(':')
    this.#target = { host: target.slice(0, index), port: Number(target.slice(index + 1)) }
  }

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.#target.port, this.#target.host)
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket)
        socket.on('close', () => this.#sockets.delete(socket))
        socket.on('error', () => {})
      }
      client.pipe(upstream).pipe(client)
      client.on('close', () => upstream.destroy())
      upstream.on('close', () => client.destroy())
    })
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve))
    this.port = (server.address() as { port: number }).port
    this.#server = server
  }

  async cut(): Promise<void> {
    const server = this.#server
    this.#server = undefined
    for (const socket of this.#sockets) socket.destroy()
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
  }
}

it('resumes exactly at its position when the leader comes back after an outage, and logs the streak once', async () => {
  const [topic] = await createTestTopics({ prefix: 'fetcher-outage' })
  await produceStrings(
    topic!,
    ['a', 'b', 'c'].map((value) => ({ key: null, value })),
  )
  const proxy = new BrokerProxy(endpoints.kafkaBootstrapServers[0]!)
  await proxy.open()
  onTestFinished(() => proxy.cut())

  const cluster = new Cluster({
    bootstrapServers: endpoints.kafkaBootstrapServers,
    clientId: uniqueName('outage-fetcher'),
    connectTimeoutMs: 500,
    requestTimeoutMs: 2000,
  })
  onTestFinished(() => cluster.close())
  // Metadata names the broker itself; fetches go through the proxy, so that cutting it is an
  // outage of the leader as the fetcher sees it.
  cluster.connectionTo = (_nodeId, pool) => pool.get({ host: '127.0.0.1', port: proxy.port })
  const tracker = new ConnectivityTracker(endpoints.kafkaBootstrapServers)
  const logs: Array<{ level: string; message: string }> = []
  const logger: Logger = {
    debug: () => {},
    info: (message) => logs.push({ level: 'info', message }),
    warn: (message) => logs.push({ level: 'warn', message }),
    error: (message) => logs.push({ level: 'error', message }),
  }
  const fetcher = new PartitionFetcher(cluster, {
    topics: () => [topic!],
    offsetReset: 'earliest',
    fetchMinBytes: 1,
    fetchMaxBytes: 1024 * 1024,
    fetchMaxBytesPerPartition: 1024 * 1024,
    tracker,
    logger,
    brokerUnavailableTimeoutMs: 60_000,
  })
  const errors: Array<{ brokers: string; attempts: number }> = []
  const onFetchError = (message: unknown) => errors.push(message as { brokers: string; attempts: number })
  channels.fetchError.subscribe(onFetchError)
  onTestFinished(() => channels.fetchError.unsubscribe(onFetchError))
  await cluster.refresh([topic!])
  fetcher.add(topic!, 0, 0n)
  const key = topicPartitionKey(topic!, 0)

  const read = async (until: bigint): Promise<string[]> => {
    const values: string[] = []
    const deadline = Date.now() + 30_000
    while ((fetcher.partitions.get(key)!.position ?? 0n) < until) {
      if (Date.now() > deadline) throw new Error(`read only ${JSON.stringify(values)}`)
      for (const batch of await fetcher.fetch(200))
        for (const record of batch.records) values.push(decoder.decode(record.value!))
    }
    return values
  }
  expect(await read(3n)).toEqual(['a', 'b', 'c'])

  await proxy.cut()
  await produceStrings(
    topic!,
    ['d', 'e'].map((value) => ({ key: null, value })),
  )
  const outageEnds = Date.now() + 1500
  while (Date.now() < outageEnds) expect(await fetcher.fetch(200)).toEqual([])
  expect(errors.length).toBeGreaterThanOrEqual(3)
  expect(errors.every((error) => error.brokers === `127.0.0.1:${proxy.port}`)).toBe(true)
  expect(tracker.outage()).toBeDefined()
  expect(fetcher.partitions.get(key)!.position).toBe(3n)

  await proxy.open()
  expect(await read(5n)).toEqual(['d', 'e'])
  expect(tracker.outage()).toBeUndefined()
  // With a tracker the fetcher leaves the outage's warning to the app: one line when the streak
  // started and one when it ended, both info.
  expect(logs.filter((log) => log.level === 'warn')).toHaveLength(0)
  const lines = logs.filter((log) => log.level === 'info')
  expect(lines).toHaveLength(2)
  expect(lines[1]!.message).toContain(`${errors.length} failed attempt(s)`)
})
