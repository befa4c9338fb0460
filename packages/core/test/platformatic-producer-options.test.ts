import { expect, it } from 'vitest'
import type { ProduceRecord } from '../src/index.js'
import { ConnectivityTracker, retriesWithin, retryDelayMs } from '../src/kafka/platformatic-connectivity.js'
import { chunksOf, producerClientOptions } from '../src/kafka/platformatic-kafka-port.js'

const tracker = new ConnectivityTracker(['127.0.0.1:9092'])

it('hands compression and the delivery timeout to the @platformatic/kafka Producer options', () => {
  const options = producerClientOptions(
    { bootstrapServers: ['127.0.0.1:9092'], compression: 'lz4', requestTimeoutMs: 7000 },
    {
      clientId: 'options',
      compression: 'gzip',
      deliveryTimeoutMs: 30_000,
      lingerMs: 20,
      batchMaxBytes: 1000,
    },
    tracker,
  )
  expect(options).toMatchObject({ compression: 'gzip', idempotent: true, acks: -1, requestTimeout: 7000 })
  expect(options.retries).toBe(retriesWithin(30_000))
  const fromPort = producerClientOptions(
    { bootstrapServers: ['127.0.0.1:9092'], compression: 'lz4' },
    { clientId: 'options' },
    tracker,
  )
  expect(fromPort.compression).toBe('lz4')
  expect(fromPort.retries).toBe(retriesWithin(120_000))
})

it('retries often enough that the shortest backoffs alone cover the delivery timeout', () => {
  for (const budget of [1000, 3000, 30_000, 120_000]) {
    const retries = retriesWithin(budget)
    let shortest = 0
    for (let attempt = 1; attempt <= retries; attempt += 1) shortest += retryDelayMs(attempt, () => 0)
    expect(shortest).toBeGreaterThanOrEqual(budget)
    expect(shortest - retryDelayMs(retries, () => 0)).toBeLessThan(budget)
  }
})

it('backs off from 100 ms doubling to 5 s, within 20% either way', () => {
  expect([1, 2, 3, 4, 5, 6, 7, 12].map((attempt) => retryDelayMs(attempt, () => 0.5))).toEqual([
    100, 200, 400, 800, 1600, 3200, 5000, 5000,
  ])
  expect(retryDelayMs(1, () => 0)).toBe(80)
  expect(retryDelayMs(20, () => 0.999_999)).toBe(6000)
})

it('splits a send at batchMaxBytes as the record collector counts bytes, keeping the order', () => {
  const record = (index: number): ProduceRecord => ({
    topic: 't',
    key: null,
    value: new Uint8Array(index === 3 ? 5000 : 930),
  })
  const records = Array.from({ length: 6 }, (_, index) => record(index))
  // 1000 bytes each as counted (70 + 930); the 5070-byte one goes alone.
  expect(chunksOf(records, 2000).map((chunk) => chunk.map((item) => records.indexOf(item)))).toEqual([
    [0, 1],
    [2],
    [3],
    [4, 5],
  ])
  expect(chunksOf(records, 100_000)).toEqual([records])
})
