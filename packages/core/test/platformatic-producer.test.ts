// PlatformaticProducer over a scripted client: what it does with the client's answers, without a
// broker (the broker tests are test/integration/kafka-port.test.ts and broker-outage-producer.test.ts).
import type { Producer } from '@platformatic/kafka'
import { expect, it } from 'vitest'
import { ConnectivityTracker } from '../src/kafka/platformatic-connectivity.js'
import { PlatformaticProducer } from '../src/kafka/platformatic-kafka-port.js'
import { until } from './until.js'

interface Call {
  topic: string
  settle: { resolve: (value: unknown) => void; reject: (error: unknown) => void }
}

/** A client whose every send waits until the test settles it; metadata lookups answer at once. */
function scriptedClient() {
  const calls: Call[] = []
  const lookups: Array<{ topics: string[]; forceUpdate?: boolean }> = []
  const client = {
    send: ({ messages }: { messages: Array<{ topic: string }> }) =>
      new Promise((resolve, reject) =>
        calls.push({ topic: messages[0]!.topic, settle: { resolve, reject } }),
      ),
    metadata: async (options: { topics: string[]; forceUpdate?: boolean }) => {
      lookups.push(options)
      return {}
    },
    close: async () => {},
  }
  return { calls, lookups, client: client as unknown as Producer<Buffer, Buffer, Buffer, Buffer> }
}

function producerOver(client: Producer<Buffer, Buffer, Buffer, Buffer>, metadataRefreshMs = 60_000) {
  return new PlatformaticProducer(client, {
    servers: ['sim:9092'],
    deliveryTimeoutMs: 10_000,
    batchMaxBytes: 1_000_000,
    connectivity: new ConnectivityTracker(['sim:9092']),
    metadataRefreshMs,
  })
}

const record = (topic: string) => ({ topic, partition: 0, key: null, value: new Uint8Array([1]) })
const ack = (topic: string) => ({ offsets: [{ topic, partition: 0, offset: 7n }] })

it('sends a batch the broker refused as out of order again only once every earlier send has settled', async () => {
  const { calls, client } = scriptedClient()
  const producer = producerOver(client)
  const first = producer.send([record('a')])
  const second = producer.send([record('b')])
  await until(() => calls.length === 2)
  // The broker has not seen the first batch of the partition yet: the second is out of order
  // (the client's own recovery did not help), and was not written.
  calls[1]!.settle.reject(
    Object.assign(new Error('Producing messages failed.'), {
      errors: [{ apiId: 'OUT_OF_ORDER_SEQUENCE_NUMBER', canRetry: false }],
    }),
  )
  await new Promise((resolve) => setTimeout(resolve, 600))
  // Past the backoff, the second waits for the first.
  expect(calls).toHaveLength(2)
  calls[0]!.settle.resolve(ack('a'))
  await until(() => calls.length === 3)
  expect(calls[2]!.topic).toBe('b')
  calls[2]!.settle.resolve(ack('b'))
  expect(await first).toEqual([{ topic: 'a', partition: 0, baseOffset: 7n }])
  expect(await second).toEqual([{ topic: 'b', partition: 0, baseOffset: 7n }])
  await producer.close()
})

it('gives up at once on an error retrying cannot fix', async () => {
  const { calls, client } = scriptedClient()
  const producer = producerOver(client)
  const sent = producer.send([record('a')])
  await until(() => calls.length === 1)
  calls[0]!.settle.reject(
    Object.assign(new Error('Producing messages failed.'), {
      errors: [{ apiId: 'MESSAGE_TOO_LARGE', canRetry: false }],
    }),
  )
  await expect(sent).rejects.toThrow(/refused them .*MESSAGE_TOO_LARGE/)
  expect(calls).toHaveLength(1)
  await producer.close()
})

it('refreshes the metadata of every topic it sent to, ahead of the client’s expiry', async () => {
  const { calls, lookups, client } = scriptedClient()
  const producer = producerOver(client, 20)
  const sent = producer.send([record('a'), record('b')])
  await until(() => calls.length === 1)
  calls[0]!.settle.resolve(ack('a'))
  await sent
  await until(() => lookups.some((lookup) => lookup.forceUpdate === true))
  expect(lookups.find((lookup) => lookup.forceUpdate)?.topics.sort()).toEqual(['a', 'b'])
  await producer.close()
  const after = lookups.length
  await new Promise((resolve) => setTimeout(resolve, 60))
  expect(lookups.length).toBe(after)
})
